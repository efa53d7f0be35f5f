"""The guardrail layer: input rails, PII redaction and output rails, as guardrails-ai validators.

Importing this package is cheap; the validators (guardrails-ai, presidio, alt-profanity-check) load when
:func:`bot.rails.guards.build_rails` builds the Guards, once per process at engine start-up.
"""
