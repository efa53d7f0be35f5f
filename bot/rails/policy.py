"""The rail policies (guardrails/input_rails.yaml, pii.yaml, output_rails.yaml) as validated, compiled objects.

Loaded by :func:`bot.policy.load_policies` with the other policy files, so a bad pattern fails at start-up with the
file and key named. Every matcher is a :class:`~bot.phrases.PhraseSet`: phrases or `re:` expressions, compiled once.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.phrases import PhraseSet


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class RuleSet(_Model):
    """Categories of patterns that share one action (injection, dangerous requests)."""

    action: Literal["block", "signal"] = "block"
    categories: dict[str, list[str]] = Field(default_factory=dict)
    escalate: list[str] = Field(default_factory=list)  # categories whose block also hands off (reason guardrail)
    letters_only: list[str] = Field(default_factory=list)  # categories matched with every non-letter removed

    @cached_property
    def matchers(self) -> dict[str, PhraseSet]:
        return {name: PhraseSet(patterns) for name, patterns in self.categories.items()}

    def find(self, views: list[str]) -> tuple[str, str] | None:
        """(category, excerpt) of the first category matching any view of the message, or None."""
        squeezed: list[str] | None = None
        for name, matcher in self.matchers.items():
            if name in self.letters_only:
                squeezed = squeezed or [re.sub(r"[^a-z]", "", v) for v in views]
                candidates = squeezed
            else:
                candidates = views
            for view in candidates:
                hit = matcher.find(view)
                if hit:
                    return name, hit
        return None


class Toxicity(_Model):
    action: Literal["signal", "block"] = "signal"
    threshold: float = Field(0.8, ge=0, le=1)
    aimed_at_bot: list[str] = Field(default_factory=list)
    insults: list[str] = Field(default_factory=list)

    @cached_property
    def target(self) -> PhraseSet:
        return PhraseSet(self.aimed_at_bot)

    @cached_property
    def insult(self) -> PhraseSet:
        return PhraseSet(self.insults)


class Classifier(_Model):
    """The learned second opinion of the injection rail (bot/rails/attack_model.py)."""

    enabled: bool = True
    threshold: float = Field(0.9, ge=0.5, le=1)  # P(attack) at or above which a message is blocked


class InputRails(_Model):
    injection: RuleSet = RuleSet()
    classifier: Classifier = Classifier()
    dangerous: RuleSet = RuleSet()
    toxicity: Toxicity = Toxicity()
    escalate_after_blocks: int = Field(3, ge=0)


class PiiKind(_Model):
    placeholder: str
    spoken_as: str
    min_score: float = Field(0.5, ge=0, le=1)
    patterns: list[str] = Field(default_factory=list)  # extra regular expressions (case-sensitive)

    @field_validator("placeholder")
    @classmethod
    def _word(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]+", value):
            raise ValueError("placeholder must be capital letters only (it is written [KIND-1a2b])")
        return value


class PiiPolicy(_Model):
    kinds: dict[str, PiiKind] = Field(default_factory=dict)
    phone_regions: list[str] = Field(default_factory=lambda: ["US", "GB"])
    allowed_contacts: list[str] = Field(default_factory=list)


class Leakage(_Model):
    markers: list[str] = Field(default_factory=list)
    prompt_overlap_words: int = Field(7, ge=3)

    @cached_property
    def matcher(self) -> PhraseSet:
        return PhraseSet(self.markers)


class DoneClaim(_Model):
    tools: list[str]
    phrases: list[str]

    @cached_property
    def matcher(self) -> PhraseSet:
        return PhraseSet(self.phrases)


class Commitments(_Model):
    done_claims: dict[str, DoneClaim] = Field(default_factory=dict)
    offers: list[str] = Field(default_factory=list)
    advice: dict[str, list[str]] = Field(default_factory=dict)

    @cached_property
    def offer(self) -> PhraseSet:
        return PhraseSet(self.offers)

    @cached_property
    def advice_matchers(self) -> dict[str, PhraseSet]:
        return {kind: PhraseSet(patterns) for kind, patterns in self.advice.items()}


class Competitors(_Model):
    names: list[str] = Field(default_factory=list)
    recommend: list[str] = Field(default_factory=list)

    @cached_property
    def name(self) -> PhraseSet:
        return PhraseSet(self.names)

    @cached_property
    def recommending(self) -> PhraseSet:
        return PhraseSet(self.recommend)


class Tone(_Model):
    threshold: float = Field(0.85, ge=0, le=1)
    insults: list[str] = Field(default_factory=list)

    @cached_property
    def insult(self) -> PhraseSet:
        return PhraseSet(self.insults)


OUTPUT_RAILS = ("leakage", "commitments", "competitors", "tone")


class OutputRails(_Model):
    leakage: Leakage = Leakage()
    commitments: Commitments = Commitments()
    competitors: Competitors = Competitors()
    tone: Tone = Tone()
    escalate: list[str] = Field(default_factory=list)
    reask: int = Field(1, ge=0, le=3)

    @field_validator("escalate")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(OUTPUT_RAILS))
        if unknown:
            raise ValueError(f"unknown output rail(s) {unknown}; known: {', '.join(OUTPUT_RAILS)}")
        return value


class RailsPolicy(_Model):
    input: InputRails = InputRails()
    pii: PiiPolicy = PiiPolicy()
    output: OutputRails = OutputRails()

    def compile(self) -> None:
        """Compile every matcher now (raises re.error on a bad pattern)."""
        for rules in (self.input.injection, self.input.dangerous):
            rules.matchers  # noqa: B018
        self.input.toxicity.target, self.input.toxicity.insult  # noqa: B018
        out = self.output
        out.leakage.matcher, out.commitments.offer, out.commitments.advice_matchers  # noqa: B018
        out.competitors.name, out.competitors.recommending, out.tone.insult  # noqa: B018
        for claim in out.commitments.done_claims.values():
            claim.matcher  # noqa: B018
        for kind in self.pii.kinds.values():
            for pattern in kind.patterns:
                re.compile(pattern)
