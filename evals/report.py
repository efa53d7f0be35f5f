"""The HTML report of `bot eval --report`: one self-contained file (charts are embedded PNGs, no scripts, no CDN).

Sections, in the order a QA lead reads them: summary table (with the thresholds), escalation outcomes with reasons,
intent confusion matrix, latency histogram, guardrail events, then a drill-down per conversation — failing ones
first, open by default — with the transcript and what failed.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from evals.dataset import Conversation

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1a1a1a}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#0a6b2b}.bad{color:#b00020;font-weight:600}.muted{color:#666}
details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.3rem .7rem}
details.fail{border-color:#b00020}summary{cursor:pointer}
.turn{margin:.2rem 0;padding:.25rem .5rem;border-radius:4px}.customer{background:#eef4ff}.bot{background:#f4f4f4}
.agent{background:#fff6e0}.tag{font-size:.8em;color:#555;margin-left:.4rem}img{max-width:100%}
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _fmt(value: Any) -> str:
    if value is None:
        return '<span class="muted">null</span>'
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def _confusion_chart(confusion: list[dict[str, Any]]) -> str | None:
    if not confusion:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    expected = sorted({c["expected"] for c in confusion})
    predicted = sorted({c["predicted"] for c in confusion} | set(expected))
    grid = np.zeros((len(expected), len(predicted)), dtype=int)
    for c in confusion:
        grid[expected.index(c["expected"]), predicted.index(c["predicted"])] += c["count"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(predicted), 1.0 + 0.45 * len(expected)))
    ax.imshow(np.log1p(grid), cmap="Blues")
    ax.set_xticks(range(len(predicted)), predicted, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(expected)), expected, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    for i in range(len(expected)):
        for j in range(len(predicted)):
            if grid[i, j]:
                ax.text(j, i, str(grid[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] > grid.max() / 2 else "black")
    ax.set_title("Intent confusion (counts)")
    return _png(fig)


def _latency_chart(latencies: list[float]) -> str | None:
    if not latencies:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(latencies, bins=min(40, max(5, len(latencies) // 5)), color="#3b6fb6")
    ax.set_xlabel("turn latency (ms)")
    ax.set_ylabel("turns")
    ax.set_title("Latency per customer turn")
    return _png(fig)


def _escalation_chart(esc: dict[str, Any]) -> str | None:
    counts = [esc.get(k, 0) for k in ("tp", "fp", "fn", "tn")]
    if not any(counts):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar(["true pos.", "false pos.", "false neg.", "true neg."], counts,
           color=["#2e7d32", "#c62828", "#ef6c00", "#90a4ae"])
    ax.set_title("Escalation outcomes")
    for i, value in enumerate(counts):
        ax.text(i, value, str(value), ha="center", va="bottom", fontsize=8)
    return _png(fig)


def _img(src: str | None, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">' if src else f'<p class="muted">No data for: {alt}.</p>'


def render(summary: dict[str, Any], conversations: list[Conversation]) -> str:
    esc = summary["escalation"]
    required = summary.get("thresholds", {}).get("required", {})
    missed = summary.get("thresholds", {}).get("missed", [])
    rows = [
        ("conversations", summary["conversations"]), ("customer turns", summary["turns"]),
        ("containment_rate", summary["containment_rate"]),
        ("escalation precision", esc["precision"]), ("escalation recall", esc["recall"]),
        ("escalation f1", esc["f1"]), ("escalation timeliness", esc["timeliness"]),
        ("handoff reason accuracy", esc.get("reason_accuracy")),
        ("intent_accuracy", summary["intent_accuracy"]),
        ("block_rate", summary["block_rate"]), ("false_block_rate", summary["false_block_rate"]),
        ("must_not_contain_violations", summary["must_not_contain_violations"]),
        ("guardrail_violations", summary.get("guardrail_violations")),
        ("pii_leaks", summary["pii_leaks"]),
        ("latency p50 (ms)", summary["latency_ms"]["p50"]), ("latency p95 (ms)", summary["latency_ms"]["p95"]),
        ("replay errors", summary.get("errors", 0)),
    ]
    threshold_of = {k.replace("escalation.", "escalation "): v for k, v in required.items()}
    table = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=num>{_fmt(value)}</td>"
        f"<td class=num>{_fmt(threshold_of.get(name))}</td></tr>"
        for name, value in rows
    )
    verdict = (
        f'<p class="bad">Thresholds missed: {html.escape("; ".join(missed))}</p>' if missed
        else ('<p class="ok">All thresholds met.</p>' if required else "")
    )
    outcome_rows = []
    for kind in ("false_negative", "false_positive", "true_positive"):
        for item in summary.get("escalation_outcomes", {}).get(kind, []):
            outcome_rows.append(
                f"<tr><td>{kind.replace('_', ' ')}</td><td>{html.escape(item['id'])}</td>"
                f"<td>{_fmt(item.get('expected_reason'))}</td><td>{_fmt(item.get('reason'))}</td>"
                f"<td class=num>{_fmt(item.get('turn'))}</td></tr>"
            )
    events = summary.get("guardrail_events", {})
    event_rows = "".join(f"<tr><td>{html.escape(k)}</td><td class=num>{v}</td></tr>" for k, v in events.items())
    latencies = [ms for c in summary["per_conversation"] for ms in c.get("latency_ms", [])]
    by_id = {c.id: c for c in conversations}
    drill = []
    ordered = sorted(summary["per_conversation"], key=lambda c: (not c["failures"], c["id"]))
    for item in ordered:
        conv = by_id.get(item["id"])
        failed = bool(item["failures"])
        turns_html = []
        for t in item.get("transcript") or []:
            tags = []
            if t.get("intent"):
                tags.append(f"intent {t['intent']}")
            if t.get("handoff"):
                tags.append("handed off")
            if t.get("blocked"):
                tags.append("blocked")
            if t.get("ms") is not None:
                tags.append(f"{t['ms']:.0f} ms")
            tag = f'<span class="tag">{html.escape(", ".join(tags))}</span>' if tags else ""
            turns_html.append(
                f'<div class="turn {html.escape(t["role"])}"><b>{html.escape(t["role"])}</b> '
                f"{html.escape(t['text'])}{tag}</div>"
            )
        expect = conv.expect if conv else None
        expected = (
            f"<p class=muted>expected: intents {html.escape(str(list(expect.intents) if expect.intents else None))},"
            f" handoff {expect.handoff} by turn {expect.handoff_by_turn} ({expect.handoff_reason})</p>"
            if expect else ""
        )
        failures = "".join(f"<li>{html.escape(f)}</li>" for f in item["failures"])
        drill.append(
            f'<details class="{"fail" if failed else ""}"{" open" if failed else ""}>'
            f"<summary>{'✗' if failed else '✓'} {html.escape(item['id'])}"
            f"{' — ' + html.escape(item['failures'][0]) if failed else ''}</summary>"
            f"{expected}{'<ul>' + failures + '</ul>' if failures else ''}{''.join(turns_html)}</details>"
        )
    title = f"bot eval — {', '.join(Path(f).name for f in summary.get('files', []))}"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class=muted>mode {html.escape(str(summary.get('mode')))} · LLM {html.escape(str(summary.get('llm')))} ·
{summary.get('elapsed_s')} s · {summary.get('turns_per_s')} turns/s</p>
<h2>Summary</h2>{verdict}
<table><tr><th>metric</th><th>value</th><th>threshold</th></tr>{table}</table>
<h2>Escalation outcomes</h2>{_img(_escalation_chart(esc), "escalation outcomes")}
<table><tr><th>outcome</th><th>conversation</th><th>expected reason</th><th>reason</th><th>turn</th></tr>
{''.join(outcome_rows)}</table>
<h2>Intent confusion</h2>{_img(_confusion_chart(summary.get('intent_confusion', [])), "intent confusion matrix")}
<h2>Latency</h2>{_img(_latency_chart(latencies), "latency histogram")}
<h2>Guardrail events</h2>
{'<table><tr><th>rail:reason</th><th>count</th></tr>' + event_rows + '</table>' if event_rows else '<p class=muted>None.</p>'}
<h2>Conversations ({sum(1 for c in summary['per_conversation'] if c['failures'])} with failures)</h2>
{''.join(drill)}
</body></html>"""


def write_report(summary: dict[str, Any], conversations: list[Conversation], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(summary, conversations), encoding="utf-8")
