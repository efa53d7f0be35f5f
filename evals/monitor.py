"""`bot eval --from-db`: the same metrics over stored production conversations, so drift shows up.

Nothing is replayed: the conversation log (`conversations` and `messages` in `BOT_DB_URL`) already says what the bot
did each turn. Stored conversations carry no expectations, so the graded metrics (escalation precision, intent
accuracy, block rate) are null; containment, handoffs by reason, intents seen, blocks, PII leaks and latency are
measured.
"""

from __future__ import annotations

import time

from bot.persistence import Database
from evals.dataset import Conversation, Expect
from evals.metrics import ConversationResult


def load_from_db(db: Database, since_hours: float | None = None) -> tuple[list[Conversation], list[ConversationResult]]:
    since = time.time() - since_hours * 3600 if since_hours else 0.0
    conversations, results = [], []
    for line, stored in enumerate(db.conversations_since(since), start=1):
        transcript = stored["transcript"]
        if not any(t["role"] == "customer" for t in transcript):
            continue
        turns = tuple({"role": t["role"], "text": t["text"]} for t in transcript if t["role"] in ("customer", "bot", "agent"))
        conversations.append(Conversation(stored["id"], line, stored["channel"], stored["customer"], turns, Expect()))
        bot_rows = [t for t in transcript if t["role"] == "bot"]
        result = ConversationResult(
            id=stored["id"],
            handoff=stored["handoff_turn"] is not None or stored["status"] == "human" or bool(stored["handoff_reason"]),
            handoff_turn=stored["handoff_turn"],
            handoff_reason=stored["handoff_reason"],
            intents=[t["intent"] for t in bot_rows],
            blocked_turns=[t["turn"] for t in bot_rows if t["blocked"]],
            replies=[t["text"] for t in bot_rows],
            latencies_ms=[t["latency_ms"] for t in bot_rows if t["latency_ms"] is not None],
            transcript=[{k: t[k] for k in ("role", "text", "turn", "intent")} for t in transcript],
        )
        results.append(result)
    return conversations, results
