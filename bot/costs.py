"""What a conversation costs (guardrails/costs.yaml), validated: the prices `bot roi` turns stored traffic into money.

Finance owns these numbers, not the bot: nothing the bot does depends on them, so they are read by `bot roi` and
`bot policy check` only, never at start-up. The same rules as every policy file apply (bot/policy.py): an unknown
key or a negative price is refused with the file and the key named, because a typo in a price would otherwise
become a wrong saving that nobody notices.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bot.policy import PolicyError, _validate

__all__ = ["CostsPolicy", "LlmPrices", "PolicyError", "load_costs"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _amount(value: object) -> object:
    """A price is a plain number: YAML's `yes`, `.inf` or `.nan` would pass as floats and make nonsense money."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


class LlmPrices(_Model):
    """The endpoint's price list; 0 for the embedded local model (no per-token price)."""

    prompt_per_1k_tokens: float = Field(0.0, ge=0)
    completion_per_1k_tokens: float = Field(0.0, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers(cls, value: object) -> object:
        return _amount(value)


class CostsPolicy(_Model):
    """guardrails/costs.yaml. Every price is required except `llm` (absent: 0, the embedded model)."""

    currency: str = Field(min_length=1, max_length=8)
    human_conversation: float = Field(ge=0)
    ai_conversation: float = Field(ge=0)
    agent_minute: float = Field(ge=0)
    baseline_handle_minutes: float = Field(ge=0)
    llm: LlmPrices = LlmPrices()

    @field_validator("human_conversation", "ai_conversation", "agent_minute", "baseline_handle_minutes",
                     mode="before")
    @classmethod
    def _numbers(cls, value: object) -> object:
        return _amount(value)

    @field_validator("baseline_handle_minutes")
    @classmethod
    def _agent_time_inside_the_full_cost(cls, minutes: float, info: ValidationInfo) -> float:
        # An escalated conversation costs human_conversation + (measured − baseline minutes) × agent_minute: if the
        # baseline minutes alone cost more than the whole conversation, a quick handoff would cost less than nothing.
        full, per_minute = info.data.get("human_conversation"), info.data.get("agent_minute")
        if full is not None and per_minute is not None and minutes * per_minute > full + 1e-9:
            raise ValueError(
                f"{minutes:g} minutes x agent_minute {per_minute:g} = {minutes * per_minute:g} exceeds"
                f" human_conversation {full:g}: the fully loaded cost of a conversation includes the agent's minutes")
        return minutes


def load_costs(path: Path) -> CostsPolicy:
    """guardrails/costs.yaml (or `bot roi --costs PATH`), validated; PolicyError names the file and the key."""
    if path.is_dir():
        raise PolicyError(f"{path} is a directory, not a costs file")
    return _validate(CostsPolicy, path)
