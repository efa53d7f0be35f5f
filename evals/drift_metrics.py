"""The drift monitor on `bot serve`'s /metrics: csbot_monitor_* gauges from a result computed in the background.

A monitor run reads a week of stored conversations and groups texts: far too slow for a scrape, and pointless to
repeat for every scrape of every worker. So each worker runs it at most every `endpoint.refresh_seconds`
(guardrails/monitor.yaml) in a background thread, started by a scrape that finds the result stale; scrapes never
wait for it and are served the last result. A run that fails is logged and leaves the last result in place, with
`csbot_monitor_up 0`; /metrics itself never fails because of the monitor.

Alerts are logged (WARNING, the metric in structured fields) when they start and when they clear, not on every run,
so a log-based alert fires once per incident and worker. Label values are bounded: metric names (handoff reasons
included) and the two windows; never topic words or conversation ids.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.monitor_policy import MonitorPolicy

log = logging.getLogger(__name__)


class MonitorCollector(Collector):
    """csbot_monitor_* from the last background run (see the module docstring)."""

    def __init__(self, db: Any, policy: MonitorPolicy, proxy_turns: int = 3,
                 run: Callable[..., dict[str, Any]] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.db, self.policy, self.proxy_turns, self.clock = db, policy, proxy_turns, clock
        self._run = run
        self._lock = threading.Lock()
        self._started: float | None = None  # when the last run began (clock)
        self._thread: threading.Thread | None = None
        self._report: dict[str, Any] | None = None
        self._up = False
        self._firing: set[str] = set()
        self._judged = True

    def collect(self) -> Iterable[Metric]:
        if not self.policy.endpoint.enabled:
            return []
        self.refresh_if_stale()
        with self._lock:
            report, up = self._report, self._up
        return _families(report, up)

    def refresh_if_stale(self) -> threading.Thread | None:
        """Start a background run when the last one began `refresh_seconds` ago or more and none is running; returns
        its thread (tests join it), or None."""
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            fresh = self._started is not None and self.clock() - self._started < self.policy.endpoint.refresh_seconds
            if running or fresh:
                return None
            self._started = self.clock()
            self._thread = threading.Thread(target=self.refresh, name="monitor-metrics", daemon=True)
            self._thread.start()
            return self._thread

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background run in progress to finish (tests; a clean shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def refresh(self) -> None:
        """One monitor run now, in the calling thread; failures are logged, never raised."""
        try:
            run = self._run
            if run is None:
                from evals.drift import run
            report = run(self.db, self.policy, proxy_turns=self.proxy_turns)
        except Exception as exc:  # noqa: BLE001 - the database is away, a bug: /metrics must still answer
            log.warning("drift monitor for /metrics failed: %s: %s", type(exc).__name__, exc)
            with self._lock:
                self._up = False
            return
        self._log_changes(report)
        with self._lock:
            self._report, self._up = report, True

    def _log_changes(self, report: dict[str, Any]) -> None:
        from evals.drift import log_report

        firing = {_key(a): a for a in report["alerts"]}
        started = [a for key, a in firing.items() if key not in self._firing]
        if started or (not report["judged"] and self._judged):
            log_report({**report, "alerts": started}, log)
        for key in sorted(set(self._firing) - set(firing)):
            log.info("monitor alert cleared: %s", key, extra={"fields": {"monitor_status": "cleared",
                                                                          "metric": key.split("|")[0]}})
        self._firing, self._judged = set(firing), report["judged"]


def _key(alert: dict[str, Any]) -> str:
    return "|".join([alert["metric"], *alert.get("terms", [])])


def _families(report: dict[str, Any] | None, up: bool) -> list[Metric]:
    families: list[Metric] = []

    def gauge(name: str, text: str, value: float) -> None:
        family = GaugeMetricFamily(name, text)
        family.add_metric([], value)
        families.append(family)

    gauge("csbot_monitor_up", "1 when the last drift-monitor run succeeded (the figures below are from the last"
          " run that did)", 1 if up else 0)
    if report is None:
        return families
    gauge("csbot_monitor_last_run_timestamp_seconds", "When the drift figures below were computed (Unix time)",
          report["generated_at"])
    gauge("csbot_monitor_judged", "1 when both windows had enough conversations to judge (guardrails/monitor.yaml"
          " min_conversations); 0: not enough data, no alert possible", 1 if report["judged"] else 0)
    gauge("csbot_monitor_alerts", "Drift alerts firing now (metrics beyond their band, new out-of-scope topics)",
          len(report["alerts"]))
    gauge("csbot_monitor_new_topics", "Out-of-scope topics new since the baseline that are alerting",
          sum(1 for a in report["alerts"] if a["metric"] == "new_topic"))
    windows = GaugeMetricFamily("csbot_monitor_conversations", "Conversations in the monitor's windows",
                                labels=["window"])
    for name in ("current", "baseline"):
        windows.add_metric([name], report["windows"][name]["conversations"])
    alert = GaugeMetricFamily("csbot_monitor_alert", "1 when the metric is alerting (beyond its band and not chance)",
                              labels=["metric"])
    value = GaugeMetricFamily("csbot_monitor_value", "The metric in the current window and in the baseline (shares"
                              " as 0-1, CSAT 1-5, flags per conversation)", labels=["metric", "window"])
    limit = GaugeMetricFamily("csbot_monitor_limit", "Where the metric alerts (the baseline moved by its band)",
                              labels=["metric"])
    alerting = {a["metric"] for a in report["alerts"]}
    for m in report["metrics"]:
        alert.add_metric([m["metric"]], 1 if m["metric"] in alerting else 0)
        for window in ("current", "baseline"):
            if m[window] is not None:
                value.add_metric([m["metric"], window], m[window])
        if m["limit"] is not None:
            limit.add_metric([m["metric"]], m["limit"])
    alert.add_metric(["new_topic"], 1 if "new_topic" in alerting else 0)
    return [*families, windows, alert, value, limit]
