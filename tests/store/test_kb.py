"""The policy KB: sections, retrieval quality on typical questions, the no-answer threshold, speed, and agreement
between the KB's numbers and the demo backend's behaviour."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bot.store import demo
from bot.store.kb import KB_DIR, SCORE_THRESHOLD, KnowledgeBase, analyze, split_sections

QUESTIONS = [
    ("how long do refunds take", "returns.md#how-refunds-work-and-how-long-they-take"),
    ("when will I get my money back", "returns.md#how-refunds-work-and-how-long-they-take"),
    ("do you ship to Canada", "shipping.md#countries-we-ship-to-united-states-canada-uk-and-europe"),
    ("can I return opened electronics", "returns.md#condition-of-returned-items-and-opened-electronics"),
    ("I forgot my password", "account.md#forgot-your-password-how-to-reset-your-password"),
    ("how much does shipping cost", "shipping.md#shipping-costs-and-free-shipping-in-the-united-states"),
    ("my package arrived broken", "damaged.md#item-arrived-damaged-or-broken"),
    ("can I cancel my order", "cancellations.md#how-to-cancel-an-order"),
    ("what payment methods do you accept", "payments.md#accepted-payment-methods"),
    ("I was charged twice", "payments.md#charged-twice-duplicate-charges-and-pending-authorisations"),
    ("how can I track my order", "shipping.md#carriers-and-tracking-your-order"),
    ("do you price match", "price_matching.md#price-match-policy"),
    ("what are your opening hours", "contact.md#customer-service-hours-and-opening-hours"),
    ("can I talk to a human", "contact.md#talking-to-a-human-agent"),
    ("do gift cards expire", "gift_cards.md#gift-card-expiry-and-fees"),
    ("is there a warranty on headphones", "warranty.md#the-northwind-1-year-warranty"),
    ("who pays for return shipping", "returns.md#who-pays-for-return-shipping"),
    ("can I use two promo codes", "payments.md#promo-codes-and-discount-codes"),
    ("do you sell my data", "privacy.md#what-personal-data-we-collect-and-why"),
    ("I need an invoice", "payments.md#invoices-and-receipts"),
    ("what items can't be returned", "returns.md#items-that-cannot-be-returned"),
    ("my order is late", "shipping.md#late-delayed-or-lost-packages"),
    ("someone hacked my account", "account.md#locked-or-compromised-account"),
    ("the charger is overheating and smells of burning", "damaged.md#safety-issues-with-a-product"),
]

OFF_TOPIC = [
    "what's the capital of France",
    "book me a flight to Paris",
    "what's the weather tomorrow",
    "tell me a joke",
    "set an alarm for 7am",
    "what is my credit score",
    "how tall is the eiffel tower",
    "who won the football game last night",
]


def test_sections_are_loaded(kb):
    files = {p.source.split("#")[0] for p in kb.passages}
    assert files == {"account.md", "cancellations.md", "contact.md", "damaged.md", "gift_cards.md", "payments.md",
                     "price_matching.md", "privacy.md", "products.md", "returns.md", "shipping.md", "warranty.md"}
    assert len({p.source for p in kb.passages}) == len(kb) >= 40
    for p in kb.passages:
        assert p.title and p.text and "**" not in p.text and not p.text.startswith("#")
        assert len(p.title) + len(p.text) < 700  # the answer node quotes at most 700 characters


@pytest.mark.parametrize("question,source", QUESTIONS)
def test_typical_questions_find_their_section(kb, question, source):
    hits = kb.search(question, k=2)
    assert hits[0].source == source, [(h.source, h.score) for h in hits]
    assert hits[0].score >= SCORE_THRESHOLD
    assert kb.answer(question)[0].source == source


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_scores_low(kb, question):
    hits = kb.search(question, k=2)
    assert all(h.score < SCORE_THRESHOLD for h in hits)
    assert kb.answer(question) == []


def test_search_edges(kb):
    assert kb.search("", k=2) == [] and kb.search("the and of", k=2) == [] and kb.search("refund", k=0) == []
    hits = kb.search("refund", k=3)
    assert len(hits) == 3 and hits[0].score >= hits[1].score >= hits[2].score > 0
    assert kb.min_score == kb.threshold == SCORE_THRESHOLD


def test_scores_match_sklearn_cosine_for_known_words(kb):
    for question, _ in QUESTIONS[:8]:
        vector = kb._vectorizer.transform([question])
        expected = (kb._columns.tocsr() @ vector.T).toarray().ravel()
        assert np.allclose(kb.scores(question), expected)
    # Words the KB never uses lower the score instead of being ignored.
    assert kb.scores("toyota cannabis refund").max() < kb.scores("refund").max()


def test_stemming_merges_forms():
    assert analyze("refunds refunded refunding") == ["refund"] * 3
    assert analyze("shipped shipping ships") == ["ship"] * 3
    assert analyze("cancelled cancellation canceled") == ["cancel"] * 3
    assert analyze("I forgot my password") == ["forget", "password"]


def test_search_is_fast(kb):
    questions = [q for q, _ in QUESTIONS] + OFF_TOPIC
    kb.search(questions[0])
    n = 500
    start = time.perf_counter()
    for i in range(n):
        kb.search(questions[i % len(questions)], k=2)
    per_search_ms = (time.perf_counter() - start) / n * 1000
    assert per_search_ms < 2.0, per_search_ms


def test_load_custom_directory(tmp_path):
    (tmp_path / "a.md").write_text("# Doc\n\nintro ignored\n\n## Parking\nFree parking behind the store.\n\n"
                                   "## Empty\n\n## Pets\nDogs are welcome on a **leash**.\n")
    kb = KnowledgeBase.load(tmp_path)
    assert [(p.title, p.source) for p in kb.passages] == [("Parking", "a.md#parking"), ("Pets", "a.md#pets")]
    assert kb.search("can I bring my dog", k=1)[0].title == "Pets"
    assert kb.passages[1].text == "Dogs are welcome on a leash."
    with pytest.raises(ValueError):
        KnowledgeBase.load(tmp_path / "missing")


def _section(title_start: str) -> str:
    for path in sorted(KB_DIR.glob("*.md")):
        for _, title, body, _ in split_sections(path.read_text(encoding="utf-8"), path.name):
            if title.startswith(title_start):
                return body
    raise AssertionError(f"no KB section starting with {title_start!r}")


def test_kb_numbers_agree_with_the_backend():
    assert f"{demo.RETURN_WINDOW_DAYS} days of delivery" in _section("Return policy")
    assert f"{demo.DAMAGED_WINDOW_DAYS} days of delivery" in _section("Item arrived damaged")
    assert f"within {demo.RETURN_SHIP_BY_DAYS} days" in _section("How to start a return")
    assert f"expires after {demo.RESET_LINK_MINUTES} minutes" in _section("Forgot your password")
    assert demo.HOLD_RELEASE in _section("Will I be charged after cancelling")
    assert "1-year warranty" in _section("Defective items")
    us = _section("Shipping costs and free shipping in the United States")
    intl = _section("Shipping costs to Canada")
    free, fee = demo.SHIPPING_RATES["US"]
    assert f"${fee:.2f}, free on orders of ${free:.0f} or more" in us
    free, fee = demo.SHIPPING_RATES["CA"]
    assert f"${fee:.2f}, free on orders of ${free:.0f} or more" in intl
    free, fee = demo.INTL_RATE
    assert f"${fee:.2f}, free on orders of ${free:.0f} or more" in intl
    assert "gift cards" in _section("Items that cannot be returned")
