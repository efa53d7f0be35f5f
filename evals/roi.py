"""`bot roi`: what the bot saves, in money, per operating mode and cohort — every figure with its formula beside it.

The guide behind the modes measures ROI as cost savings from automated interactions and shorter handle times, and
warns: "be careful not to overestimate savings — factor in the cost of handling escalations". So the report prices
the same stored conversations `bot report` counts (evals/cohorts.py: same window, same (cohort, mode) groups, same
loader) with guardrails/costs.yaml, and compares them with a world without the bot in which a person handles every
conversation:

    baseline_cost     = conversations x human_conversation
    actual_cost       = ai_cost + cost_escalations + llm_cost
      ai_cost         = conversations x ai_conversation
      cost_escalations= escalated x human_conversation + (measured agent minutes - measured x baseline_handle_minutes)
                        x agent_minute
      llm_cost        = prompt tokens / 1000 x price + completion tokens / 1000 x price
    net_savings       = baseline_cost - actual_cost
                      = savings_containment + savings_handle_time - llm_cost, where
      savings_containment = contained x human_conversation - conversations x ai_conversation
      savings_handle_time = (measured x baseline_handle_minutes - measured agent minutes) x agent_minute

An escalated conversation is priced as a whole human conversation, corrected by the agent minutes it measurably
took more or fewer than without the bot (the handoff package is what should save them); one whose agent time is
not measured (a handoff still open, or closed without a claim) costs a whole human conversation — never a guess in
the bot's favour. A figure without data is None (JSON null), never a 0 that reads as a result. Money is computed
unrounded and rounded only at the end (see ROUNDING); the formula strings show the numbers that went in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.costs import CostsPolicy
from bot.persistence import Database
from evals.cohorts import _Conversation, group_conversations, load_conversations

ROUNDING = ("money is computed from unrounded inputs and rounded to 2 decimals (half away from zero) only at the"
            " end, figure by figure; minutes to 2 decimals; so shown parts may differ from a shown total by 0.01")

DEFINITIONS = {
    "conversations": "conversations started in the window with at least one customer message (as `bot report`)",
    "contained": "conversations with no handoff row at all; escalated = conversations - contained",
    "measured": "escalated conversations whose every handoff was claimed and closed; their agent minutes = sum of"
                " (closed_at - claimed_at) over their handoffs; the others are priced at human_conversation",
    "tokens": "sum of messages.prompt_tokens / completion_tokens over the conversations' rows (NULL = no LLM call in"
              " that turn; rows stored before token counting read as none: see bot_turns_with_llm)",
    "baseline_cost": "conversations x human_conversation (a person handles every conversation, no bot)",
    "ai_cost": "conversations x ai_conversation",
    "llm_cost": "prompt_tokens / 1000 x prompt_per_1k_tokens + completion_tokens / 1000 x completion_per_1k_tokens",
    "cost_escalations": "escalated x human_conversation + (measured agent minutes - measured x"
                        " baseline_handle_minutes) x agent_minute",
    "actual_cost": "ai_cost + cost_escalations + llm_cost",
    "savings_containment": "contained x human_conversation - conversations x ai_conversation",
    "savings_handle_time": "(measured x baseline_handle_minutes - measured agent minutes) x agent_minute; null"
                           " without a measured conversation",
    "net_savings": "baseline_cost - actual_cost (= savings_containment + savings_handle_time - llm_cost)",
    "savings_per_conversation": "net_savings / conversations",
    "handle_time": "agent_minutes_per_conversation = measured agent minutes / measured; change_minutes ="
                   " agent_minutes_per_conversation - baseline_handle_minutes (negative: faster than without the"
                   " bot). Per escalated conversation, so it differs from `bot report`'s per-handoff agent minutes"
                   " only where a conversation had several handoffs",
}

MONEY = ("baseline_cost", "ai_cost", "llm_cost", "cost_escalations", "actual_cost", "savings_containment",
         "savings_handle_time", "net_savings", "savings_per_conversation")


@dataclass
class _Tokens:
    prompt: int = 0
    completion: int = 0
    bot_turns: int = 0
    with_llm: int = 0  # rows that recorded a token count


def roi_report(db: Database, costs: CostsPolicy, since: float = 0.0, until: float | None = None) -> dict[str, Any]:
    """The ROI over conversations created in [since, until) (epoch seconds; until None = open-ended).

    Returns {window, currency, costs, rounding, excluded, definitions, cohorts: [group, ...], modes: {mode: group}}:
    one group per (cohort, mode) and one per mode over all its cohorts, in `bot report`'s order.
    """
    conversations = load_conversations(db, since, until)
    tokens = _tokens(db, since, until)
    grouped = group_conversations(conversations)

    def priced(ids: list[str]) -> dict[str, Any]:
        return _group([conversations[cid] for cid in ids], [tokens.get(cid, _Tokens()) for cid in ids], costs)

    return {
        "window": {"since": since, "until": until},
        "currency": costs.currency,
        "costs": costs.model_dump(),
        "rounding": ROUNDING,
        "excluded": {"no_customer_message": len(grouped.excluded)},
        "definitions": DEFINITIONS,
        "cohorts": [{"cohort": cohort, "mode": mode, **priced(ids)} for (cohort, mode), ids in grouped.cohorts.items()],
        "modes": {mode: priced(ids) for mode, ids in grouped.modes.items()},
    }


def _tokens(db: Database, since: float, until: float | None) -> dict[str, _Tokens]:
    """LLM tokens per conversation (a read of its own: `bot report` has no use for them)."""
    window = "c.created_at >= ?" + (" AND c.created_at < ?" if until is not None else "")
    args = (since,) if until is None else (since, until)
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT m.conversation_id, SUM(COALESCE(m.prompt_tokens, 0)), SUM(COALESCE(m.completion_tokens, 0)),"
            " SUM(CASE WHEN m.role = 'bot' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN m.prompt_tokens IS NOT NULL OR m.completion_tokens IS NOT NULL THEN 1 ELSE 0 END)"
            f" FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE {window}"
            " GROUP BY m.conversation_id", args).fetchall()
    return {cid: _Tokens(int(p or 0), int(k or 0), int(b or 0), int(w or 0)) for cid, p, k, b, w in rows}


def _agent_minutes(c: _Conversation) -> float | None:
    """Minutes agents worked on an escalated conversation; None when any of its handoffs was not claimed and closed."""
    if not c.handoffs or any(claimed is None or closed is None for *_, claimed, closed in c.handoffs):
        return None
    return sum((closed - claimed) / 60 for *_, claimed, closed in c.handoffs)


def _group(group: list[_Conversation], tokens: list[_Tokens], costs: CostsPolicy) -> dict[str, Any]:
    n = len(group)
    escalated = sum(1 for c in group if c.handoffs)
    contained = n - escalated
    measured_minutes = [m for m in (_agent_minutes(c) for c in group) if m is not None]
    measured, minutes = len(measured_minutes), sum(measured_minutes)
    prompt, completion = sum(t.prompt for t in tokens), sum(t.completion for t in tokens)
    h, a, per_minute, base = (costs.human_conversation, costs.ai_conversation, costs.agent_minute,
                              costs.baseline_handle_minutes)
    pp, cp = costs.llm.prompt_per_1k_tokens, costs.llm.completion_per_1k_tokens

    baseline = n * h
    ai = n * a
    llm = prompt / 1000 * pp + completion / 1000 * cp
    handle = (measured * base - minutes) * per_minute if measured else None
    escalations = escalated * h - (handle or 0.0)
    actual = ai + escalations + llm
    containment = contained * h - n * a
    net = baseline - actual
    money = {
        "baseline_cost": (baseline, f"conversations x human_conversation = {n} x {_p(h)}"),
        "ai_cost": (ai, f"conversations x ai_conversation = {n} x {_p(a)}"),
        "llm_cost": (llm, f"prompt_tokens / 1000 x prompt_per_1k_tokens + completion_tokens / 1000 x"
                          f" completion_per_1k_tokens = {prompt} / 1000 x {_p(pp)} + {completion} / 1000 x {_p(cp)}"),
        "cost_escalations": (escalations, (
            f"escalated x human_conversation + (measured agent minutes - measured x baseline_handle_minutes) x"
            f" agent_minute = {escalated} x {_p(h)} + ({_m(minutes)} - {measured} x {_p(base)}) x {_p(per_minute)}"
        ) if measured else f"escalated x human_conversation = {escalated} x {_p(h)}"),
        "actual_cost": (actual, f"ai_cost + cost_escalations + llm_cost = {_money(ai)} + {_money(escalations)} +"
                                f" {_money(llm)}"),
        "savings_containment": (containment, f"contained x human_conversation - conversations x ai_conversation"
                                             f" = {contained} x {_p(h)} - {n} x {_p(a)}"),
        "savings_handle_time": (handle, (
            f"(measured x baseline_handle_minutes - measured agent minutes) x agent_minute = ({measured} x {_p(base)}"
            f" - {_m(minutes)}) x {_p(per_minute)}") if measured else
            "(measured x baseline_handle_minutes - measured agent minutes) x agent_minute: no data (no escalated"
            " conversation whose every handoff was claimed and closed)"),
        "net_savings": (net, f"baseline_cost - actual_cost = {_money(baseline)} - {_money(actual)}"),
        "savings_per_conversation": (net / n, f"net_savings / conversations = {_money(net)} / {n}"),
    }
    figures = {}
    for name, (value, formula) in money.items():
        shown = f"{name} = {formula}" + (f" = {_money(value)}" if value is not None else "")
        if name == "cost_escalations" and escalated and not measured:
            shown += " (no escalated conversation with measured agent time: each costs a human conversation)"
        if name == "net_savings":
            parts = [_money(containment)] + ([_money(handle)] if handle is not None else [])
            labels = ["savings_containment"] + (["savings_handle_time"] if handle is not None else [])
            shown += f" (= {' + '.join(labels)} - llm_cost = {' + '.join(parts)} - {_money(llm)})"
        figures[name] = {"value": _round(value), "formula": shown}
    per_conversation = minutes / measured if measured else None
    return {
        "conversations": n,
        "contained": contained,
        "escalated": escalated,
        "handle_time": {
            "measured": measured, "unmeasured": escalated - measured,
            "agent_minutes": _round(minutes) if measured else None,
            "agent_minutes_per_conversation": _round(per_conversation),
            "baseline_minutes": base,
            "change_minutes": _round(per_conversation - base) if per_conversation is not None else None,
        },
        "tokens": {"prompt": prompt, "completion": completion, "bot_turns": sum(t.bot_turns for t in tokens),
                   "bot_turns_with_llm": sum(t.with_llm for t in tokens)},
        "money": figures,
        "notes": _notes(escalated - measured, sum(t.with_llm for t in tokens), pp + cp > 0),
    }


def _notes(unmeasured: int, with_llm: int, priced_tokens: bool) -> list[str]:
    notes = []
    if unmeasured:
        notes.append(f"{unmeasured} escalated conversation(s) without measured agent time (a handoff open, or closed"
                     " without a claim) are priced at human_conversation")
    if priced_tokens and not with_llm:
        notes.append("no row of these conversations recorded LLM tokens: llm_cost assumes no LLM call (conversations"
                     " stored before token counting read the same)")
    return notes


def _round(value: float | None) -> float | None:
    """2 decimals, half away from zero (as by hand; Python's round() goes half to even on binary floats)."""
    if value is None:
        return None
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0  # no -0.0


def _money(value: float | None) -> str:
    return "-" if value is None else f"{_round(value):.2f}"


def _m(minutes: float) -> str:
    return f"{_round(minutes):.2f}"


def _p(price: float) -> str:
    """A price as written in costs.yaml, at least 2 decimals: 6.00, 0.15, 0.0005."""
    text = f"{price:.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def tables(report: dict[str, Any]) -> list[Any]:
    """The report for the terminal: a summary row per cohort and a total per mode, then each group's figures with
    their formulas ("-" where there is no data); a mode with one cohort gets no second, identical figures table."""
    from rich.table import Table

    cur = report["currency"]
    summary = Table("mode", "cohort", "conv.", "contained", "escalated", "baseline", "actual", "net savings",
                    "per conv.", "agent min (vs base)", title=f"ROI, {cur} (agent minutes per measured escalated"
                    " conversation, and the change against baseline_handle_minutes)", title_justify="left")
    summary.columns[1].overflow = "fold"
    rows = [(g["mode"], g["cohort"], g) for g in report["cohorts"]] + \
        [(mode, "all", g) for mode, g in report["modes"].items()]
    for i, (mode, cohort, g) in enumerate(rows):
        money, ht = g["money"], g["handle_time"]
        minutes = "-" if ht["agent_minutes_per_conversation"] is None else \
            f"{ht['agent_minutes_per_conversation']:.2f} ({ht['change_minutes']:+.2f})"
        summary.add_row(mode, cohort, str(g["conversations"]), str(g["contained"]), str(g["escalated"]),
                        *(_money(money[k]["value"]) for k in ("baseline_cost", "actual_cost", "net_savings",
                                                              "savings_per_conversation")),
                        minutes, style="bold" if i >= len(report["cohorts"]) else None,
                        end_section=i == len(report["cohorts"]) - 1)
    out: list[Any] = [summary]
    single = {mode for mode in report["modes"] if sum(g["mode"] == mode for g in report["cohorts"]) == 1}
    for mode, cohort, g in rows:
        if cohort == "all" and mode in single:
            continue  # the same figures as its only cohort, just above
        detail = Table("figure", cur, "formula", title=f"{mode} / {cohort}: {_count(g['conversations'])},"
                       f" {g['contained']} contained, {g['escalated']} escalated ({g['handle_time']['measured']}"
                       f" with measured agent time); LLM tokens {g['tokens']['prompt']} prompt +"
                       f" {g['tokens']['completion']} completion", title_justify="left")
        for name in MONEY:
            figure = g["money"][name]
            detail.add_row(name, _money(figure["value"]), figure["formula"].split(" = ", 1)[1],
                           style="bold" if name == "net_savings" else None)
        for note in g["notes"]:
            detail.add_row("note", "", note, style="dim")
        out.append(detail)
    return out


def _count(n: int) -> str:
    return f"{n} conversation{'' if n == 1 else 's'}"
