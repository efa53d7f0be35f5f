"""The drift monitor on /metrics (evals/drift_metrics.py through bot/web/ops.py): the csbot_monitor_* gauges agree
with `bot monitor`'s result, are computed in the background at most once per `refresh_seconds` however often
Prometheus scrapes, and a failing monitor never breaks /metrics. Alerts are logged when they start, not every run."""

from __future__ import annotations

import logging
import time

from fastapi.testclient import TestClient

import evals.drift
from evals.drift_metrics import MonitorCollector
from tests.evals.traffic import CRYPTO, Drift, build
from tests.web.test_ops import LOOPBACK, app_for, scrape


def monitored_app(engine, settings, accounts, **endpoint):
    policies = engine.deps.policies
    monitor = policies.monitor.model_copy(update={"endpoint": policies.monitor.endpoint.model_copy(update=endpoint)})
    engine.deps.policies = policies.model_copy(update={"monitor": monitor})
    return app_for(engine, settings, accounts)


def test_gauges_follow_the_monitor_and_run_once_per_refresh(engine, settings, accounts, monkeypatch):
    build(engine.db, 31, time.time(), drift=Drift(topic=CRYPTO, topic_conversations=30))
    runs: list[float] = []
    real = evals.drift.run

    def counted(*args, **kwargs):
        runs.append(time.time())
        return real(*args, **kwargs)

    monkeypatch.setattr(evals.drift, "run", counted)
    app = monitored_app(engine, settings, accounts, refresh_seconds=300)
    with TestClient(app, client=LOOPBACK) as client:
        scrape(client)  # starts the first run in the background; the scrape does not wait for it
        app.state.ops.monitor.wait(120)
        scrapes = [scrape(client) for _ in range(5)]
    assert len(runs) == 1  # six scrapes, one run
    m = scrapes[-1]
    expected = real(engine.db, engine.deps.policies.monitor, now=m[("csbot_monitor_last_run_timestamp_seconds", ())])
    assert m[("csbot_monitor_up", ())] == 1 and m[("csbot_monitor_judged", ())] == 1
    assert m[("csbot_monitor_alerts", ())] == 2 and m[("csbot_monitor_new_topics", ())] == 1
    assert m[("csbot_monitor_alert", (("metric", "out_of_scope_rate"),))] == 1
    assert m[("csbot_monitor_alert", (("metric", "new_topic"),))] == 1
    assert m[("csbot_monitor_alert", (("metric", "containment"),))] == 0
    for metric in expected["metrics"]:
        for window in ("current", "baseline"):
            assert m[("csbot_monitor_value", (("metric", metric["metric"]), ("window", window)))] == metric[window]
    assert m[("csbot_monitor_conversations", (("window", "current"),))] == expected["windows"]["current"][
        "conversations"]
    assert m[("csbot_database_up", ())] == 1  # the store's own figures are still there
    assert not any("crypto" in value or "c-" in value for _, labels in m for _, value in labels)  # bounded labels


def test_a_failing_monitor_never_breaks_metrics(engine, settings, accounts, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the monitor fell over")

    monkeypatch.setattr(evals.drift, "run", broken)
    app = monitored_app(engine, settings, accounts)
    with caplog.at_level(logging.WARNING, logger="evals.drift_metrics"):
        with TestClient(app, client=LOOPBACK) as client:
            scrape(client)
            app.state.ops.monitor.wait(60)
            m = scrape(client)
    assert m[("csbot_monitor_up", ())] == 0 and m[("csbot_database_up", ())] == 1
    assert not any(name.startswith("csbot_monitor_alert") for name, _ in m)
    assert any("drift monitor for /metrics failed: RuntimeError" in r.getMessage() for r in caplog.records)


def test_alerts_are_logged_when_they_start_not_on_every_run(engine, caplog):
    build(engine.db, 32, time.time(), drift=Drift(topic=CRYPTO, topic_conversations=30))
    collector = MonitorCollector(engine.db, engine.deps.policies.monitor)
    with caplog.at_level(logging.INFO, logger="evals.drift_metrics"):
        collector.refresh()
        first = [r for r in caplog.records if r.levelno == logging.WARNING]
        collector.refresh()
    assert {r.fields["metric"] for r in first} == {"out_of_scope_rate", "new_topic"}
    assert all(r.getMessage().startswith("monitor alert: ") for r in first)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2  # the second run: same alerts, quiet
