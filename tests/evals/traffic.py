"""Synthetic stored traffic for the monitor's tests (and the README's worked example): conversations written through
`Database.create_conversation` / `sync_transcript` / `rate` as the engine writes them, plus handoff and flag rows.

Normal traffic is random but stable: per conversation 1-4 customer turns, intents from a fixed mix, out-of-scope
messages drawn from evals/oos_clinc.jsonl (real CLINC150 utterances: a long tail of ~220 different topics, a few of
them about crypto), sentiment, intent confidence, rail blocks, handoffs by reason, ratings, stored proxies and agents'
flags each with a fixed probability — and every day its own small swing of those probabilities (real traffic varies
from day to day more than coin flips do). `Drift` changes some of them for the current window.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from bot.persistence import Database

HOUR, DAY = 3600.0, 86400.0
OOS_FILE = Path(__file__).resolve().parents[2] / "evals" / "oos_clinc.jsonl"
MIX = {"order_status": 30, "return_refund": 12, "cancel_order": 6, "shipping_info": 8, "product_question": 12,
       "password_reset": 6, "billing": 5, "account_update": 4, "damaged_item": 3, "complaint": 3, "greeting": 4,
       "thanks": 3, "out_of_scope": 4}
TEXTS = {
    "order_status": ["where is my order A1000{n}?", "has my package shipped yet", "when will order A1001{n} arrive"],
    "return_refund": ["how do I return the blender", "I want a refund for order A1002{n}", "return label please"],
    "cancel_order": ["cancel my order A1003{n}", "please cancel the last order"],
    "shipping_info": ["how much is shipping to Canada", "do you ship on weekends"],
    "product_question": ["is the merino sweater available in navy?", "does the kettle have auto shut-off"],
    "password_reset": ["I forgot my password", "can't log in, reset my password"],
    "billing": ["I was charged twice", "why is there a fee on my invoice"],
    "account_update": ["change my address to [ADDRESS-3f9a]", "update my email to [EMAIL-07c1]"],
    "damaged_item": ["the lamp arrived broken", "my mug came cracked"],
    "complaint": ["this is the third time I ask", "your delivery service is terrible"],
    "greeting": ["hi", "hello there"], "thanks": ["thanks!", "great, thank you"],
}
REASONS = {"customer_request": 50, "negative_sentiment": 18, "high_stakes": 8, "repeated_failure": 10,
           "low_confidence": 8, "vip_customer": 6}
CRYPTO = ["can I pay with my crypto wallet?", "do you accept bitcoin from a crypto wallet",
          "how do I link my crypto wallet at checkout", "is my crypto wallet supported for payment",
          "can I connect a crypto wallet to my account", "crypto wallet payment not working",
          "which crypto wallets do you accept", "my crypto wallet won't connect at checkout, help",
          "pay for order A1004{n} with a crypto wallet?", "does the store take crypto wallet payments"]


def out_of_scope_texts() -> list[str]:
    texts = []
    for line in OOS_FILE.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["expect"]["intents"] == ["out_of_scope"]:
            texts.append(record["turns"][0]["text"])
    return texts


@dataclass
class Rates:
    """Per-conversation and per-turn probabilities of normal traffic."""

    handoff: float = 0.15
    negative: float = 0.08  # a customer turn is clearly negative (sentiment <= -0.5)
    unsure: float = 0.07  # the intent confidence is below 0.5
    blocked: float = 0.01
    rated: float = 0.3
    proxy: float = 0.3
    flagged: float = 0.03
    day_swing: float = 0.1  # each day multiplies every probability by a factor in [1 - swing, 1 + swing]


@dataclass
class Drift:
    """Changes for the current window: a batch of one new out-of-scope topic, and/or other probabilities."""

    topic: list[str] = field(default_factory=list)
    topic_conversations: int = 0
    rates: Rates | None = None


@dataclass
class Traffic:
    db: Database
    seed: int
    now: float
    oos: list[str] = field(default_factory=out_of_scope_texts)
    made: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def window(self, start: float, days: float, per_day: int, rates: Rates | None = None) -> None:
        """`per_day` conversations a day (± 15 %) over `days` days from `start` (a fraction of a day: pro rata)."""
        rates = rates or Rates()
        day = 0.0
        while day < days:
            length = min(1.0, days - day)
            swing = 1 + self.rng.uniform(-rates.day_swing, rates.day_swing)
            for _ in range(round(per_day * length * self.rng.uniform(0.85, 1.15))):
                self.conversation(start + (day + self.rng.random() * length) * DAY, rates, swing)
            day += 1.0

    def batch(self, start: float, hours: float, texts: list[str], conversations: int) -> None:
        """`conversations` customers asking about one out-of-scope topic (1-2 messages each) within `hours`."""
        for _ in range(conversations):
            turns = [("out_of_scope", self.rng.choice(texts)) for _ in range(self.rng.choice((1, 1, 2)))]
            self.conversation(start + self.rng.random() * hours * HOUR, Rates(), 1.0, turns)

    def conversation(self, start: float, rates: Rates, swing: float,
                     turns: list[tuple[str, str]] | None = None) -> None:
        rng, p = self.rng, (lambda value: min(1.0, value * swing))
        self.made += 1
        cid = f"c-{self.seed}-{self.made:05d}"
        if turns is None:
            turns = [self._turn() for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4)))]
        self.db.create_conversation(cid, {"id": None, "tier": "standard", "language": "en", "known": False}, "chat")
        transcript: list[dict] = []
        for number, (intent, text) in enumerate(turns, start=1):
            at = start + 40 * number
            negative = rng.random() < p(rates.negative)
            sentiment = rng.uniform(-0.95, -0.5) if negative else rng.uniform(-0.45, 0.8)
            confidence = rng.uniform(0.2, 0.49) if rng.random() < p(rates.unsure) else rng.uniform(0.5, 0.99)
            transcript += [
                {"role": "customer", "text": text.format(n=rng.randrange(10)), "ts": at, "turn": number},
                {"role": "bot", "text": "(reply)", "ts": at + 2, "turn": number, "intent": intent,
                 "sentiment": round(sentiment, 4), "confidence": round(confidence, 4)},
            ]
            blocked = rng.random() < p(rates.blocked)
            if blocked or number == len(turns):
                self.db.sync_transcript(cid, transcript, "ai", None, latency_ms=120.0, blocked=blocked)
        with self.db.transaction() as conn:
            conn.execute("UPDATE conversations SET created_at = ?, updated_at = ? WHERE id = ?",
                         (start, start + 40 * len(turns) + 2, cid))
        if rng.random() < p(rates.handoff):
            reason = rng.choices(list(REASONS), weights=list(REASONS.values()))[0]
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO handoffs (conversation_id, turn, status, reason, priority, package, created_at,"
                    " updated_at) VALUES (?, ?, 'waiting', ?, 'normal', '{}', ?, ?)",
                    (cid, len(turns), reason, start + 60, start + 60))
        if rng.random() < rates.rated:
            self.db.rate(cid, float(rng.choices((1, 2, 3, 4, 5), weights=(5, 5, 10, 35, 45))[0]), "customer")
        elif rng.random() < rates.proxy:
            self.db.rate(cid, round(rng.uniform(2.2, 4.6), 1), "proxy")
        if rng.random() < p(rates.flagged):
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT INTO flags (id, conversation_id, turn, kind, agent, correction, observed, note,"
                    " created_at) VALUES (?, ?, 1, 'wrong_intent', 'sam', '{}', '{}', NULL, ?)",
                    (f"f-{cid}", cid, start + 600))

    def _turn(self) -> tuple[str, str]:
        intent = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if intent == "out_of_scope":
            return intent, self.rng.choice(self.oos)
        return intent, self.rng.choice(TEXTS[intent])


def build(db: Database, seed: int, now: float, *, current_per_day: int = 150, baseline_per_day: int = 60,
          baseline_days: float = 7, drift: Drift | None = None, settle_hours: float = 0.5) -> Traffic:
    """A baseline of `baseline_days` and a current day of traffic, ending `settle_hours` before `now`, as the
    shipped guardrails/monitor.yaml sees them (24 h current window ending 15 min ago, 7 days before it)."""
    traffic = Traffic(db, seed, now)
    current_start = now - settle_hours * HOUR - 24 * HOUR + 0.25 * HOUR
    traffic.window(current_start - baseline_days * DAY, baseline_days, baseline_per_day)
    rates = drift.rates if drift and drift.rates else None
    traffic.window(current_start, 23.5 / 24, current_per_day, rates)
    if drift and drift.topic_conversations:
        traffic.batch(current_start + 12 * HOUR, 6, drift.topic, drift.topic_conversations)
    return traffic
