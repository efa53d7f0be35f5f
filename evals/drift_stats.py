"""Is a moved figure drift or noise? The comparison behind every `bot monitor` alert.

A fixed band alone raises false alarms at low traffic: 3 blocked turns out of 100 against a baseline of 1 % is a
tripled rate, and chance. So an alert needs two things (guardrails/monitor.yaml):

* the figure is beyond its band (the operational question: is the move large enough to matter?), and
* the move is unlikely to be chance at these counts (the statistical one): a one-sided test against the baseline,
  with the run's false-alarm budget split over every check of the run (Bonferroni), so adding metrics or topics does
  not add false alarms.

The tests are scipy's, chosen for what each figure counts: Fisher's exact test for shares (exact at any count, no
normal approximation to go wrong at 3 of 100), Welch's t-test for mean ratings, and the Poisson E-test for counts
per conversation (flags, a topic's conversations). A figure that is beyond its band but within noise is `watch`,
shown and never alerted.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

from bot.monitor_policy import Band

Unit = Literal["share", "rating", "per_conversation"]
Status = Literal["alert", "watch", "ok", "not_enough_data"]


@dataclass
class Sample:
    """One window's side of a figure: `events` of `of` (a share or a count per conversation), or `values` (ratings)."""

    of: int
    events: int = 0
    values: Sequence[float] | None = None

    @property
    def value(self) -> float | None:
        if self.values is not None:
            return sum(self.values) / len(self.values) if self.values else None
        return self.events / self.of if self.of else None

    def counts(self) -> dict[str, Any]:
        if self.values is not None:
            return {"n": self.of}
        return {"events": self.events, "of": self.of}


@dataclass
class Check:
    """One metric judged: the JSON of `bot monitor --json` (`metrics[]`, `alerts[]`) and one line for people."""

    metric: str
    unit: Unit
    direction: str
    noun: str  # what the denominator counts, for the message ("bot turns", "ratings")
    current: float | None
    baseline: float | None
    limit: float | None
    band: dict[str, Any]
    counts: dict[str, Any]
    p_value: float | None = None
    status: Status = "ok"
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def judged(self) -> bool:
        return self.status != "not_enough_data"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("noun")
        data.update(data.pop("extra"))
        return data


def check(metric: str, unit: Unit, band: Band, current: Sample, baseline: Sample, noun: str) -> Check:
    """The figure for both windows, its limit and its p-value; the status is settled later by :func:`settle`."""
    base_value, value = baseline.value, current.value
    result = Check(metric, unit, band.direction, noun, _round(value, unit), _round(base_value, unit), None,
                   {"absolute": band.absolute, "relative": band.relative, "min_count": band.min_count},
                   {"current": current.counts(), "baseline": baseline.counts()})
    short = [f"{side.of:,} {noun} in the {name} window" for name, side in (("current", current),
             ("baseline", baseline)) if side.of < band.min_count]
    if short or value is None or base_value is None:  # min_count >= 1, so a value is missing only when short
        result.status = "not_enough_data"
        result.message = f"{metric}: not enough data ({' and '.join(short)}; {band.min_count:,} needed in each)"
        return result
    result.limit = _round(band.limit(base_value), unit)
    result.band["width"] = _round(band.width(base_value), unit)
    result.p_value = _p_value(unit, band.direction, current, baseline)
    return result


def settle(checks: list[Check], false_alarm_rate: float, extra_tests: int = 0) -> float:
    """Set each judged check's status and message; returns the significance level each test was held to (the
    run's budget over the judged checks and `extra_tests` other tests of the run, the new-topic ones)."""
    judged = [c for c in checks if c.judged]
    alpha = false_alarm_rate / max(1, len(judged) + extra_tests)
    for c in judged:
        assert c.current is not None and c.baseline is not None and c.limit is not None and c.p_value is not None
        beyond = c.current > c.limit if c.direction == "rise" else c.current < c.limit
        significant = c.p_value < alpha
        c.status = "alert" if beyond and significant else "watch" if beyond else "ok"
        c.message = _message(c, alpha)
    return alpha


def _message(c: Check, alpha: float) -> str:
    moved = {"rise": "rose to", "drop": "fell to"}[c.direction] if c.status != "ok" else "at"
    side = "above" if c.direction == "rise" else "below"
    cur, base = c.counts["current"], c.counts["baseline"]
    if c.unit == "per_conversation":
        counts = f"{cur['events']:,} in {cur['of']:,} {c.noun} vs {base['events']:,} in {base['of']:,}"
    elif "events" in cur:
        counts = f"{cur['events']:,} of {cur['of']:,} {c.noun} vs {base['events']:,} of {base['of']:,}"
    else:
        counts = f"{cur['n']:,} vs {base['n']:,} {c.noun}"
    text = (f"{c.metric} {moved} {show(c.current, c.unit)} (baseline {show(c.baseline, c.unit)}, alerts {side} "
            f"{show(c.limit, c.unit)}; {counts}")
    if c.status == "watch":
        return f"{text}; beyond the band but within noise, p={c.p_value:.2g} >= {alpha:.2g})"
    if c.status == "alert":
        return f"{text}; p={c.p_value:.2g})"
    return f"{text})"


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{100 * value:.1f}%"
    return f"{value:.2f}" if unit == "rating" else f"{value:.3f}"


def _round(value: float | None, unit: str) -> float | None:
    return None if value is None else round(value, 2 if unit == "rating" else 4)


def _p_value(unit: Unit, direction: str, current: Sample, baseline: Sample) -> float:
    """One-sided p-value of "current is worse than baseline", worse meaning `direction`."""
    from scipy import stats

    if unit == "share":
        table = [[current.events, current.of - current.events], [baseline.events, baseline.of - baseline.events]]
        return float(stats.fisher_exact(table, alternative="greater" if direction == "rise" else "less").pvalue)
    if unit == "per_conversation":
        return poisson_p(current.events, current.of, baseline.events, baseline.of, direction)
    with warnings.catch_warnings():  # identical ratings: scipy warns, then returns nan (handled below)
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(list(current.values or ()), list(baseline.values or ()), equal_var=False,
                                  alternative="greater" if direction == "rise" else "less").pvalue)
    if math.isnan(p):  # no spread in either window: any difference in the bad direction is certain
        cur, base = current.value or 0.0, baseline.value or 0.0
        return 0.0 if (cur > base if direction == "rise" else cur < base) else 1.0
    return p


def poisson_p(count: int, exposure: int, base_count: int, base_exposure: int, direction: str = "rise") -> float:
    """One-sided Poisson E-test (Krishnamoorthy & Thomson) of count/exposure against base_count/base_exposure."""
    from scipy import stats

    result = stats.poisson_means_test(count, exposure, base_count, base_exposure,
                                      alternative="greater" if direction == "rise" else "less")
    return float(result.pvalue)
