"""The two Guards (input, output), built once per process, behind the engine's input- and output-check hooks.

guardrails-ai is configured here, before it is imported anywhere else in the bot:

* `GUARDRAILS_RUN_SYNC=true` — validators run one after another in this thread (the async mode keeps only one FIX).
* No telemetry: `OTEL_SDK_DISABLED=true`, guardrails' own tracing off, and every Guard configured with
  `allow_metrics_collection=False`, whatever `~/.guardrailsrc` says (without that file guardrails-ai 0.11 sends
  anonymous metrics to its Hub by default). Set `BOT_GUARDRAILS_TELEMETRY=true` to leave guardrails' defaults alone.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from bot.checks import Grounding, InputVerdict, OutputVerdict
from bot.policy import Policies

log = logging.getLogger(__name__)

_TELEMETRY = os.environ.get("BOT_GUARDRAILS_TELEMETRY", "").lower() in ("1", "true", "yes")
os.environ.setdefault("GUARDRAILS_RUN_SYNC", "true")
if not _TELEMETRY:
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from guardrails.settings import settings as _gr_settings  # noqa: E402

from bot.rails import validators as v  # noqa: E402
from bot.rails.attack_model import AttackModel  # noqa: E402
from bot.rails import detectors  # noqa: E402
from bot.rails.detectors import Finding, ReplyContext, _shingles  # noqa: E402
from bot.rails.normalize import views  # noqa: E402
from bot.rails.pii import Redactor  # noqa: E402
from bot.rails.toxicity import profanity_model  # noqa: E402
from guardrails import Guard, OnFailAction  # noqa: E402

BLOCKING = ("injection", "dangerous")


def _quiet_guardrails() -> None:
    if not _TELEMETRY:
        _gr_settings.disable_tracing = True  # guardrails' OpenTelemetry spans (also ~1 ms per call)


def _guard(name: str, *validators: Any) -> Guard:
    guard = Guard(name=name, history_max_length=1).use(*validators)  # history: the last call only, in memory
    if not _TELEMETRY:
        guard.configure(allow_metrics_collection=False)
    return guard


class InputRails:
    """PII redaction, injection, dangerous requests and abuse, in one Guard call per customer message."""

    name = "input_rails"

    def __init__(self, policies: Policies, redactor: Redactor, model: AttackModel | None = None) -> None:
        _quiet_guardrails()
        rails = policies.rails.input
        self.policy = rails
        self._redactor, self._model, self._profanity = redactor, model, profanity_model()
        self.guard = _guard(
            "csbot-input",
            v.PiiRedaction(redactor=redactor, on_fail=OnFailAction.FIX),
            v.PromptInjection(policy=rails, model=model, on_fail=OnFailAction.NOOP),
            v.DangerousRequest(policy=rails, on_fail=OnFailAction.NOOP),
            v.Abuse(policy=rails, model=profanity_model(), on_fail=OnFailAction.NOOP),
        )

    def check(self, text: str) -> InputVerdict:
        if self._clean(text):
            # No validator would find anything (no possible PII, no pattern, classifier below threshold, no abuse):
            # the Guard would pass the message unchanged, so its bookkeeping (~1 ms) is skipped. Tested equivalent.
            return InputVerdict(text=text)
        metadata: dict[str, Any] = {"findings": [], "secrets": {}}
        try:
            self.guard.validate(text, metadata=metadata)
        except Exception as exc:  # a rail that crashes fails closed: nothing unchecked goes further
            log.error("input rails failed (%s); message refused", type(exc).__name__)
            return InputVerdict(text="", refuse="fallback.generic", blocked=True,
                                events=[{"rail": "input_rails", "action": "block", "reason": "error",
                                         "detail": type(exc).__name__}])
        findings: list[Finding] = metadata["findings"]
        secrets: dict[str, str] = metadata["secrets"]
        redacted = metadata.get("redacted", text)
        verdict = InputVerdict(text=redacted, events=[f.event() for f in findings], secrets=secrets)
        # The most specific block speaks: a dangerous-request category (self-harm escalates) before an injection
        # pattern, before the classifier's opinion.
        blocks = sorted((f for f in findings if f.rail in BLOCKING and f.action == "block"),
                        key=lambda f: (f.rail != "dangerous", f.reason.startswith("classifier")))
        block = blocks[0] if blocks else None
        if block is not None:
            verdict.blocked = True
            verdict.refuse = f"rails.{block.reason}" if block.reason == "self_harm" else f"rails.{block.rail}"
            verdict.escalate = block.escalate
        if any(f.rail == "toxicity" for f in findings):
            verdict.flags["abusive"] = True
        return verdict


    def redact(self, text: str) -> str:
        """`text` with personal data replaced by placeholders and nothing else checked (an agent's reply is stored
        this way: agents may write anything, but the store, logs and packages never hold raw personal data)."""
        return self._redactor.redact(text).text if self._redactor.may_contain_pii(text) else text

    def _clean(self, text: str) -> bool:
        if self._redactor.may_contain_pii(text):
            return False
        message_views = views(text)
        return not (detectors.injection(text, self.policy, message_views, self._model)
                    or detectors.dangerous(text, self.policy, message_views)
                    or detectors.abuse(text, self.policy, self._profanity))


class OutputRails:
    """Redaction (fixed in place) and the rails that refuse a reply (leakage, commitments, competitors, tone)."""

    name = "output_rails"

    def __init__(self, policies: Policies, prompts: tuple[str, ...]) -> None:
        _quiet_guardrails()
        rails = policies.rails.output
        self.policy = rails
        shingles: set[tuple[str, ...]] = set()
        for prompt in prompts:
            shingles |= _shingles(prompt, rails.leakage.prompt_overlap_words)
        model = profanity_model()
        self._pii, self._shingles, self._model = policies.rails.pii, shingles, model
        self.guard = _guard(
            "csbot-output",
            v.PiiOutput(policy=policies.rails.pii, on_fail=OnFailAction.FIX),
            v.PromptLeakage(policy=rails, shingles=shingles, on_fail=OnFailAction.NOOP),
            v.Commitments(policy=rails, on_fail=OnFailAction.NOOP),
            v.Competitors(policy=rails, on_fail=OnFailAction.NOOP),
            v.Tone(policy=rails, model=model, on_fail=OnFailAction.NOOP),
        )

    def check(self, text: str, grounding: Grounding) -> OutputVerdict:
        ctx = ReplyContext(facts=grounding.text, customer=grounding.customer, tools_ok=grounding.tools_ok)
        if self._clean(text, ctx):
            # Nothing any validator looks for is in this sentence, so the Guard would return it unchanged; skipping
            # its bookkeeping (~1 ms) matters because a streamed reply is checked sentence by sentence. The
            # equivalence is tested on every reply of the eval sets.
            return OutputVerdict(text=text)
        metadata: dict[str, Any] = {"findings": [], "reply_context": ctx}
        try:
            outcome = self.guard.validate(text, metadata=metadata)
        except Exception as exc:
            log.error("output rails failed (%s); reply withheld", type(exc).__name__)
            return OutputVerdict(text=text, ok=False, reason="the output rails failed",
                                 events=[{"rail": "output_rails", "action": "fallback", "reason": "error",
                                          "detail": type(exc).__name__}])
        findings: list[Finding] = metadata["findings"]
        fixed = text
        for f in findings:
            if f.rail == "pii":
                fixed = self._fixed(outcome, text)
                break
        refused = next((f for f in findings if f.action == "reask"), None)
        events = [f.event() for f in findings]
        if refused is None:
            return OutputVerdict(text=fixed, events=events)
        return OutputVerdict(text=fixed, ok=False, reason=f"{refused.rail}: {refused.reason} ('{refused.excerpt}')",
                             events=events, rail=refused.rail, escalate=refused.rail in self.policy.escalate)

    def _clean(self, text: str, ctx: ReplyContext) -> bool:
        """True when no output validator could fail on `text` (the same detectors the validators run)."""
        _, found = detectors.pii_out(text, ctx, self._pii)
        return not found and not any(
            (detectors.leakage(text, ctx, self.policy, self._shingles), detectors.commitments(text, ctx, self.policy),
             detectors.competitors(text, ctx, self.policy), detectors.tone(text, self.policy, self._model)))

    @staticmethod
    def _fixed(outcome: Any, text: str) -> str:
        """The text after the FIX validators: guardrails returns it when every other validator passed."""
        output = getattr(outcome, "validated_output", None)
        if isinstance(output, str):
            return output
        # Another rail failed too (NOOP leaves validated_output empty): the reply is refused anyway.
        return text


def build_rails(policies: Policies, prompts: tuple[str, ...], *, cache_dir: Path | None = None,
                pii_key: bytes | None = None) -> tuple[InputRails, OutputRails]:
    """Both Guards, built once at engine start-up (guardrails-ai, presidio and the models load here).

    `cache_dir` holds the attack classifier (trained there on first use); None leaves the classifier out.
    """
    redactor = Redactor(policies.rails.pii, key=pii_key)
    model = None
    if cache_dir is not None and policies.rails.input.classifier.enabled:
        model = AttackModel.load_or_train(cache_dir)
    redactor.redact("warm up: someone@example.com +1 415 555 0132")  # first e-mail/phone lookups load tables
    return InputRails(policies, redactor, model), OutputRails(policies, prompts)
