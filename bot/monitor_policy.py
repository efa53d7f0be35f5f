"""guardrails/monitor.yaml as a validated model: what `bot monitor` and /metrics watch, and when they alert.

Operations reviews the numbers, so they live in a YAML file beside the other policies and are checked when the
policies load (`bot policy check`, every start): a typo in a band fails with the file and the field named, instead of
a monitor that silently never alerts. The meaning of each number is written in the shipped file; this module only
says which values are possible.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.modes import MODES
from bot.taxonomy import only_known

Direction = Literal["rise", "drop"]

# Every metric the monitor computes, in the order it reports them; `escalation_by_reason` is one band applied to
# each handoff reason seen in either window.
METRICS = ("containment", "escalation_rate", "escalation_by_reason", "rail_block_rate", "low_confidence_rate",
           "out_of_scope_rate", "negative_sentiment_rate", "csat", "csat_proxy", "flag_rate")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Model):
    """How far a metric may move from its baseline, in the direction that is bad, before it alerts."""

    direction: Direction
    absolute: float | None = Field(None, gt=0)  # in the metric's unit: a share (0.05 = 5 points), CSAT points, ...
    relative: float | None = Field(None, gt=0)  # a share of the baseline value (0.2 = 20 % of it)
    min_count: int = Field(30, ge=1)  # the metric's denominator, in each window, below which it is not judged
    enabled: bool = True

    @model_validator(mode="after")
    def _some_width(self) -> "Band":
        if self.absolute is None and self.relative is None:
            raise ValueError("a band needs `absolute`, `relative` or both")
        return self

    def width(self, baseline: float) -> float:
        """The allowed move: the larger of the two, so that both must be exceeded (a relative band alone would
        fire on 1 % → 2 %, an absolute one alone would ignore a rate that doubled from a small base)."""
        return max(self.absolute or 0.0, (self.relative or 0.0) * abs(baseline))

    def limit(self, baseline: float) -> float:
        return baseline + self.width(baseline) if self.direction == "rise" else baseline - self.width(baseline)


class Metrics(_Model):
    containment: Band = Band(direction="drop", absolute=0.05, relative=0.1, min_count=50)
    escalation_rate: Band = Band(direction="rise", absolute=0.05, relative=0.2, min_count=50)
    escalation_by_reason: Band = Band(direction="rise", absolute=0.03, relative=0.5, min_count=50)
    rail_block_rate: Band = Band(direction="rise", absolute=0.02, relative=0.5, min_count=100)
    low_confidence_rate: Band = Band(direction="rise", absolute=0.05, relative=0.3, min_count=100)
    out_of_scope_rate: Band = Band(direction="rise", absolute=0.03, relative=0.5, min_count=100)
    negative_sentiment_rate: Band = Band(direction="rise", absolute=0.05, relative=0.3, min_count=100)
    csat: Band = Band(direction="drop", absolute=0.3, min_count=20)
    csat_proxy: Band = Band(direction="drop", absolute=0.25, min_count=30)
    flag_rate: Band = Band(direction="rise", absolute=0.02, relative=0.5, min_count=50)


class Pinned(_Model):
    """A fixed reference period instead of the rolling baseline (ISO dates or date-times; UTC unless an offset)."""

    since: datetime
    until: datetime

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    @model_validator(mode="after")
    def _ordered(self) -> "Pinned":
        if self.until <= self.since:
            raise ValueError("pinned_baseline.until must be after since")
        return self


class Window(_Model):
    current_hours: float = Field(24, gt=0, le=24 * 31)
    baseline_days: float = Field(7, gt=0, le=366)
    settle_minutes: float = Field(15, ge=0, le=24 * 60)
    pinned_baseline: Pinned | None = None


class MinConversations(_Model):
    current: int = Field(100, ge=1)
    baseline: int = Field(300, ge=1)


class Topics(_Model):
    enabled: bool = True
    min_conversations: int = Field(8, ge=2)
    similarity: float = Field(0.2, gt=0, lt=1)
    new_ratio: float = Field(4.0, gt=1)
    alert: bool = True
    max_messages: int = Field(1500, ge=50, le=10_000)
    top_terms: int = Field(5, ge=1, le=20)
    examples: int = Field(3, ge=0, le=10)


class Endpoint(_Model):
    enabled: bool = True
    refresh_seconds: float = Field(300, ge=5, le=86_400)


class MonitorPolicy(_Model):
    window: Window = Window()
    modes: list[str] = Field(default_factory=lambda: ["ai_first"])
    min_conversations: MinConversations = MinConversations()
    false_alarm_rate: float = Field(0.01, gt=0, lt=0.5)
    negative_sentiment_at_or_below: float = Field(-0.5, ge=-1, le=1)
    low_confidence_below: float = Field(0.5, gt=0, le=1)
    metrics: Metrics = Metrics()
    topics: Topics = Topics()
    endpoint: Endpoint = Endpoint()

    @field_validator("modes")
    @classmethod
    def _modes(cls, value: list[str]) -> list[str]:
        only_known(value, tuple(MODES), "operating mode")  # [] watches them all
        return value

    def band(self, metric: str) -> Band:
        return getattr(self.metrics, metric)
