"""Policies as data: the YAML files in `guardrails/` loaded into validated, compiled objects.

A compliance person edits the YAML; this module is the only code that reads it. Loading validates every field (a
typo in a threshold fails at start-up with the file and key named, never mid-conversation) and compiles the phrase
lists into regular expressions once.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.modes import ModesPolicy
from bot.monitor_policy import MonitorPolicy
from bot.phrases import PhraseSet, normalize  # noqa: F401  (re-exported: matchers are part of the policy API)
from bot.rails.policy import InputRails, OutputRails, PiiPolicy, RailsPolicy
from bot.taxonomy import HANDOFF_REASONS, INTENTS, only_known


class PolicyError(ValueError):
    """A policy file is missing or invalid; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class CustomerRequest(_Model):
    enabled: bool = True
    phrases: list[str] = Field(default_factory=list)  # count anywhere
    words: list[str] = Field(default_factory=list)  # count only in a short message
    short_message_words: int = Field(6, ge=1)

    @cached_property
    def anywhere(self) -> PhraseSet:
        return PhraseSet(self.phrases)

    @cached_property
    def in_short_message(self) -> PhraseSet:
        return PhraseSet(self.words)


class NegativeSentiment(_Model):
    enabled: bool = True
    single_turn_threshold: float = Field(-0.75, ge=-1, le=1)
    rolling_turns: int = Field(3, ge=1)
    rolling_threshold: float = Field(-0.45, ge=-1, le=1)
    abuse_floor: float = Field(-0.8, ge=-1, le=1)


class RepeatedFailure(_Model):
    enabled: bool = True
    max_failures: int = Field(2, ge=1)
    phrases: list[str] = Field(default_factory=list)

    @cached_property
    def matcher(self) -> PhraseSet:
        return PhraseSet(self.phrases)


class HighStakes(_Model):
    enabled: bool = True
    topics: dict[str, list[str]] = Field(default_factory=dict)

    @cached_property
    def matchers(self) -> dict[str, PhraseSet]:
        return {topic: PhraseSet(phrases) for topic, phrases in self.topics.items()}

    def find(self, text: str) -> tuple[str, str] | None:
        """(topic, excerpt) of the first high-stakes topic mentioned, or None."""
        for topic, matcher in self.matchers.items():
            hit = matcher.find(text)
            if hit:
                return topic, hit
        return None


class VipCustomer(_Model):
    enabled: bool = True
    tiers: list[str] = Field(default_factory=lambda: ["vip"])


class LowConfidence(_Model):
    enabled: bool = True
    threshold: float = Field(0.45, ge=0, le=1)
    out_of_scope_threshold: float = Field(0.6, ge=0, le=1)

    def uncertain(self, intent: str, confidence: float) -> bool:
        limit = self.out_of_scope_threshold if intent == "out_of_scope" else self.threshold
        return confidence < limit
    max_consecutive: int = Field(2, ge=1)


class LanguagePolicy(_Model):
    min_confidence: float = Field(0.8, ge=0, le=1)
    unsupported_reason: str = "low_confidence"

    @field_validator("unsupported_reason")
    @classmethod
    def _known_reason(cls, value: str) -> str:
        if value not in HANDOFF_REASONS:
            raise ValueError(f"unknown handoff reason {value!r}; use one of {', '.join(HANDOFF_REASONS)}")
        return value


class SystemErrorPolicy(_Model):
    """The LLM failed to write the reply the customer is waiting for (after its retries, `bot/llm/client.py`)."""

    enabled: bool = True
    after_llm_failures: int = Field(1, ge=1)  # failed replies in a row that hand off, in the turn of the last one


TRIGGERS = ("high_stakes", "customer_request", "vip_customer", "negative_sentiment", "repeated_failure", "low_confidence")


class EscalationPolicy(_Model):
    precedence: list[str] = Field(default_factory=lambda: list(TRIGGERS))
    customer_request: CustomerRequest = CustomerRequest()
    negative_sentiment: NegativeSentiment = NegativeSentiment()
    repeated_failure: RepeatedFailure = RepeatedFailure()
    high_stakes: HighStakes = HighStakes()
    vip_customer: VipCustomer = VipCustomer()
    low_confidence: LowConfidence = LowConfidence()
    language: LanguagePolicy = LanguagePolicy()
    system_error: SystemErrorPolicy = SystemErrorPolicy()

    @field_validator("precedence")
    @classmethod
    def _known_triggers(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(TRIGGERS))
        if unknown:
            raise ValueError(f"unknown trigger(s) {unknown}; known: {', '.join(TRIGGERS)}")
        return value + [t for t in TRIGGERS if t not in value]


class InputPolicy(_Model):
    max_chars: int = Field(4000, ge=1)
    max_lines: int = Field(200, ge=1)
    normalize: str = "NFKC"
    strip_control_chars: bool = True
    max_replacement_ratio: float = Field(0.2, ge=0, le=1)

    @field_validator("normalize")
    @classmethod
    def _form(cls, value: str) -> str:
        if value not in ("NFC", "NFKC", "NFD", "NFKD", "none"):
            raise ValueError("normalize must be NFC, NFKC, NFD, NFKD or none")
        return value


Priority = Literal["urgent", "high", "normal"]
PRIORITY_RANK: dict[str, int] = {"urgent": 0, "high": 1, "normal": 2}


class HandoffPolicy(_Model):
    """guardrails/handoff.yaml: how a handoff is prioritised, routed, summarised and returned."""

    priority_by_reason: dict[str, Priority] = Field(default_factory=dict)
    raise_for_tiers: list[str] = Field(default_factory=lambda: ["vip", "gold"])
    raise_below_sentiment: float = Field(-0.6, ge=-1, le=1)
    aging_minutes: float = Field(10, gt=0)
    skill_by_reason: dict[str, str] = Field(default_factory=dict)
    skill_by_intent: dict[str, str] = Field(default_factory=dict)
    default_skill: str = "general"
    suggested_by_reason: dict[str, str] = Field(default_factory=dict)
    suggested_by_intent: dict[str, str] = Field(default_factory=dict)
    suggested_default: str = "Read the summary, greet the customer by name and ask how you can help."
    tools_by_intent: dict[str, list[str]] = Field(default_factory=dict)
    wait_history: int = Field(20, ge=1)
    wait_window_hours: float = Field(24, gt=0)
    max_handbacks: int = Field(1, ge=0)
    llm_summary: bool = True

    @field_validator("priority_by_reason", "skill_by_reason", "suggested_by_reason")
    @classmethod
    def _known_reasons(cls, value: dict[str, Any]) -> dict[str, Any]:
        only_known(value, HANDOFF_REASONS, "handoff reason")
        return value

    @field_validator("skill_by_intent", "suggested_by_intent", "tools_by_intent")
    @classmethod
    def _known_intents(cls, value: dict[str, Any]) -> dict[str, Any]:
        only_known(value, INTENTS, "intent")
        return value

    @field_validator("tools_by_intent")
    @classmethod
    def _known_tools(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from bot.tools import TOOLS

        only_known({t for tools in value.values() for t in tools}, tuple(TOOLS), "tool")
        return value


class VoicePolicy(_Model):
    """guardrails/voice.yaml: phone calls."""

    min_stt_confidence: float = Field(0.5, ge=0, le=1)
    repeats_before_handoff: int = Field(1, ge=0)
    max_spoken_sentences: int = Field(3, ge=1)
    max_spoken_chars: int = Field(320, ge=40)
    words_per_minute: int = Field(170, ge=80, le=400)
    end_of_turn_silence_ms: int = Field(700, ge=150, le=5000)
    barge_in_ms: int = Field(150, ge=30, le=2000)
    max_utterance_s: float = Field(20, ge=2, le=300)
    filler_after_ms: int = Field(900, ge=0, le=10_000)  # 0: never


class WebRateLimits(_Model):
    requests_per_minute: int = Field(240, ge=1)
    new_conversations_per_hour: int = Field(30, ge=1)
    messages_per_minute: int = Field(20, ge=1)
    login_attempts_per_15_minutes: int = Field(10, ge=1)


def _check_networks(value: list[str]) -> list[str]:
    import ipaddress

    for network in value:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"{network!r} is not an address or network like 10.0.0.0/8") from None
    return value


class WebMetrics(_Model):
    """`/metrics`: who may read it without a token, and the window and cache of its database figures."""

    allow_from: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    window_minutes: float = Field(60, gt=0, le=7 * 24 * 60)
    cache_seconds: float = Field(10, ge=0, le=600)

    @field_validator("allow_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)


class WebPolicy(_Model):
    """guardrails/web.yaml: the HTTP API and web pages (`bot serve`)."""

    max_body_bytes: int = Field(16384, ge=1024, le=10 * 2**20)
    max_message_chars: int = Field(2000, ge=50, le=100_000)
    rate_limits: WebRateLimits = WebRateLimits()
    agent_session_hours: float = Field(12, gt=0, le=24 * 30)
    conversation_token_days: float = Field(7, gt=0, le=365)
    cors_origins: list[str] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    long_poll_max_s: float = Field(25, ge=1, le=120)
    metrics: WebMetrics = WebMetrics()

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        bad = [o for o in value if o == "*" or not re.match(r"^https?://[^/\s]+$", o)]
        if bad:
            raise ValueError(f"{bad}: list exact origins like https://shop.example.com ('*' is not allowed)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)


VOICE_MESSAGES = ("voice.greeting", "voice.repeat", "voice.order_heard", "voice.filler")
LLM_FAILED_MESSAGES = ("fallback.llm_failed", "fallback.llm_cut")
MODE_MESSAGES = ("handoff.human_led", "handoff.hold", "handoff.hold_noted", "handoff.delegation_done", "csat.ask",
                 "csat.thanks")  # said before the notice when the LLM fails


class Messages:
    """Canned customer-facing sentences (guardrails/messages.yaml), looked up by dotted key and formatted."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def get(self, key: str, **values: Any) -> str:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise PolicyError(f"messages.yaml has no message {key!r}")
            node = node[part]
        if not isinstance(node, str):
            raise PolicyError(f"messages.yaml entry {key!r} is not a sentence")
        values.setdefault("store_name", self._data.get("store_name", "our store"))
        try:
            return node.format(**values).strip()
        except (KeyError, IndexError) as exc:
            raise PolicyError(f"messages.yaml entry {key!r} needs a value for {exc}") from None

    @property
    def store_name(self) -> str:
        return str(self._data.get("store_name", "our store"))


class Policies(BaseModel):
    """All policy files of one directory."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)
    directory: Path
    escalation: EscalationPolicy
    input: InputPolicy
    messages: Messages
    rails: RailsPolicy = RailsPolicy()
    handoff: HandoffPolicy = HandoffPolicy()
    voice: VoicePolicy = VoicePolicy()
    web: WebPolicy = WebPolicy()
    modes: ModesPolicy = ModesPolicy()  # as at start-up; `bot.modes.LiveModes` follows later edits
    monitor: MonitorPolicy = MonitorPolicy()  # guardrails/monitor.yaml (`bot monitor`, /metrics)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} is missing") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"{path} must contain a mapping at the top level")
    return data


def _validate(model: type[_Model], path: Path) -> Any:
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{path}: {problems}") from None


def load_policies(directory: Path) -> Policies:
    """Load and validate every policy file in `directory` (default layout: the repository's guardrails/)."""
    if not directory.is_dir():
        raise PolicyError(f"policy directory {directory} does not exist (set BOT_POLICY_DIR)")
    escalation = _validate(EscalationPolicy, directory / "escalation.yaml")
    # Compile every matcher now so that a bad regular expression fails at start-up.
    try:
        escalation.customer_request.anywhere, escalation.customer_request.in_short_message
        escalation.repeated_failure.matcher, escalation.high_stakes.matchers
    except re.error as exc:
        raise PolicyError(f"{directory / 'escalation.yaml'}: bad regular expression: {exc}") from None
    rails = RailsPolicy(
        input=_validate(InputRails, directory / "input_rails.yaml"),
        pii=_validate(PiiPolicy, directory / "pii.yaml"),
        output=_validate(OutputRails, directory / "output_rails.yaml"),
    )
    try:
        rails.compile()
    except re.error as exc:
        raise PolicyError(f"{directory}: bad regular expression in a rail policy: {exc}") from None
    messages = Messages(_read_yaml(directory / "messages.yaml"))
    for key in VOICE_MESSAGES:  # said on phone calls only: a missing one must fail here, not mid-call
        messages.get(key, order_id="A10000")
    for key in LLM_FAILED_MESSAGES:  # said exactly when the LLM is down: they must not be what is missing too
        messages.get(key)
    for key in MODE_MESSAGES:  # said by the modes (guardrails/modes.yaml) and the CSAT question
        messages.get(key, wait="", agent="a colleague", ask="", score=5)
    return Policies(
        directory=directory,
        escalation=escalation,
        input=_validate(InputPolicy, directory / "input.yaml"),
        messages=messages,
        rails=rails,
        handoff=_validate(HandoffPolicy, directory / "handoff.yaml"),
        voice=_validate(VoicePolicy, directory / "voice.yaml"),
        web=_validate(WebPolicy, directory / "web.yaml"),
        modes=load_modes(directory / "modes.yaml"),
        monitor=load_monitor(directory / "monitor.yaml"),
    )


def load_monitor(path: Path, required: bool = False) -> MonitorPolicy:
    """guardrails/monitor.yaml, validated; a policy directory from before it existed gets the defaults."""
    return _validate(MonitorPolicy, path) if required or path.exists() else MonitorPolicy()


def load_modes(path: Path) -> ModesPolicy:
    """guardrails/modes.yaml, validated (also called on every change of the file by `bot.modes.LiveModes`)."""
    return _validate(ModesPolicy, path)
