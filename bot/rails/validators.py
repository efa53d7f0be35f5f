"""The rails as guardrails-ai validators (custom, registered under `csbot/...`), composed into Guards by
:mod:`bot.rails.guards`.

Every validator wraps one detector of :mod:`bot.rails.detectors`. guardrails-ai decides what a failure does (`FIX`
replaces the text with the redacted one and later validators see that; `NOOP` records the failure) and the Guard
keeps per-validator summaries; the detailed findings (rail, reason, excerpt) go into the `findings` list passed in
the call's metadata, which the Guard hands to every validator.
"""

from __future__ import annotations

from typing import Any

from guardrails.validators import FailResult, PassResult, ValidationResult, Validator, register_validator

from bot.rails import detectors
from bot.rails.attack_model import AttackModel
from bot.rails.detectors import Finding, ReplyContext
from bot.rails.normalize import views
from bot.rails.pii import Redactor
from bot.rails.policy import InputRails, OutputRails, PiiPolicy
from bot.rails.toxicity import ProfanityModel


def _fail(finding: Finding, metadata: dict[str, Any], fix: str | None = None) -> ValidationResult:
    metadata.setdefault("findings", []).append(finding)
    if fix is None:
        return FailResult(error_message=f"{finding.rail}: {finding.reason}")
    return FailResult(error_message=f"{finding.rail}: {finding.reason}", fix_value=fix)


def _views(value: str, metadata: dict[str, Any]) -> list[str]:
    """The normalised views of this message, computed once per Guard call and shared by the validators."""
    if metadata.get("views_of") != value:
        metadata["views"], metadata["views_of"] = views(value), value
    return metadata["views"]


class _RailValidator(Validator):
    """A validator built with live policy objects (kept out of guardrails' serialisable kwargs)."""

    def __init__(self, *, on_fail: Any = None, **deps: Any) -> None:
        super().__init__(on_fail=on_fail)
        for name, value in deps.items():
            setattr(self, f"_{name}", value)


@register_validator(name="csbot/pii_redaction", data_type="string")
class PiiRedaction(_RailValidator):
    """Replaces personal data with placeholders (on_fail FIX); the raw values go to metadata["secrets"]."""

    _redactor: Redactor

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        redaction = self._redactor.redact(str(value))
        if not redaction.found:
            return PassResult()
        metadata.setdefault("secrets", {}).update(redaction.values)
        metadata["redacted"] = redaction.text
        kinds = sorted({f.kind for f in redaction.found})
        finding = Finding("pii", "redacted " + ", ".join(k.lower() for k in kinds), "fix",
                          ", ".join(f.placeholder for f in redaction.found))
        return _fail(finding, metadata, fix=redaction.text)


@register_validator(name="csbot/prompt_injection", data_type="string")
class PromptInjection(_RailValidator):
    """Instruction override, role-play jailbreaks, prompt extraction, fake system tags, translation tricks."""

    _policy: InputRails
    _model: AttackModel | None

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        finding = detectors.injection(str(value), self._policy, _views(str(value), metadata), self._model)
        return _fail(finding, metadata) if finding else PassResult()


@register_validator(name="csbot/dangerous_request", data_type="string")
class DangerousRequest(_RailValidator):
    """Weapons, poisons, hacking others, violence, self-harm, requests for hateful content."""

    _policy: InputRails

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        finding = detectors.dangerous(str(value), self._policy, _views(str(value), metadata))
        return _fail(finding, metadata) if finding else PassResult()


@register_validator(name="csbot/abuse", data_type="string")
class Abuse(_RailValidator):
    """Offensive language aimed at the bot: a signal for escalation, never a block."""

    _policy: InputRails
    _model: ProfanityModel

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        finding = detectors.abuse(str(value), self._policy, self._model)
        return _fail(finding, metadata) if finding else PassResult()


@register_validator(name="csbot/pii_output", data_type="string")
class PiiOutput(_RailValidator):
    """No card numbers, no contact details the facts do not hold, no placeholders in a reply (on_fail FIX)."""

    _policy: PiiPolicy

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        fixed, found = detectors.pii_out(str(value), metadata["reply_context"], self._policy)
        if not found:
            return PassResult()
        metadata.setdefault("findings", []).extend(found[:-1])
        return _fail(found[-1], metadata, fix=fixed)


@register_validator(name="csbot/prompt_leakage", data_type="string")
class PromptLeakage(_RailValidator):
    _policy: OutputRails
    _shingles: set[tuple[str, ...]]

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        ctx: ReplyContext = metadata["reply_context"]
        finding = detectors.leakage(str(value), ctx, self._policy, self._shingles)
        return _fail(finding, metadata) if finding else PassResult()


@register_validator(name="csbot/commitments", data_type="string")
class Commitments(_RailValidator):
    """Claims of actions no tool performed, offers nobody authorised, legal or medical advice."""

    _policy: OutputRails

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        finding = detectors.commitments(str(value), metadata["reply_context"], self._policy)
        return _fail(finding, metadata) if finding else PassResult()


@register_validator(name="csbot/competitors", data_type="string")
class Competitors(_RailValidator):
    _policy: OutputRails

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        finding = detectors.competitors(str(value), metadata["reply_context"], self._policy)
        return _fail(finding, metadata) if finding else PassResult()


@register_validator(name="csbot/tone", data_type="string")
class Tone(_RailValidator):
    _policy: OutputRails
    _model: ProfanityModel

    def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        finding = detectors.tone(str(value), self._policy, self._model)
        return _fail(finding, metadata) if finding else PassResult()
