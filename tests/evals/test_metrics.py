"""Each metric's definition (CONTRACTS §4) on small conversations computed by hand, including the null cases."""

from __future__ import annotations

import pytest

from evals.dataset import Conversation, Expect
from evals.metrics import ConversationResult, card_numbers, check_thresholds, parse_threshold, summarize


def conv(cid, texts, **expect):
    return Conversation(cid, 1, "chat", {}, tuple({"role": "customer", "text": t} for t in texts), Expect(**expect))


def test_escalation_precision_recall_f1_timeliness():
    convs = [
        conv("tp-on-time", ["a", "b"], handoff=True, handoff_by_turn=2, handoff_reason="customer_request"),
        conv("tp-late", ["a", "b", "c"], handoff=True, handoff_by_turn=1, handoff_reason="high_stakes"),
        conv("fn", ["a"], handoff=True, handoff_by_turn=1),
        conv("fp", ["a"], handoff=False),
        conv("tn", ["a"], handoff=False),
        conv("ungraded", ["a"]),  # handoff null: not graded, but counted in containment
    ]
    results = [
        ConversationResult("tp-on-time", handoff=True, handoff_turn=2, handoff_reason="customer_request"),
        ConversationResult("tp-late", handoff=True, handoff_turn=3, handoff_reason="negative_sentiment"),
        ConversationResult("fn"),
        ConversationResult("fp", handoff=True, handoff_turn=1, handoff_reason="low_confidence"),
        ConversationResult("tn"),
        ConversationResult("ungraded", handoff=True, handoff_turn=1),
    ]
    s = summarize(convs, results)
    e = s["escalation"]
    assert (e["tp"], e["fp"], e["fn"], e["tn"]) == (2, 1, 1, 1)
    assert e["precision"] == pytest.approx(2 / 3, abs=1e-4) and e["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert e["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert e["timeliness"] == pytest.approx(1 / 3, abs=1e-4)  # 3 expected with a deadline: 1 met it
    assert e["reason_accuracy"] == 0.5  # 2 TPs with an expected reason: 1 right
    assert s["containment_rate"] == pytest.approx(2 / 6, abs=1e-4)  # 4 of 6 handed off
    assert s["conversations"] == 6 and s["turns"] == 9
    failures = {c["id"]: c["failures"] for c in s["per_conversation"]}
    assert any("late" in f for f in failures["tp-late"]) and failures["tn"] == []


def test_null_when_nothing_to_grade():
    s = summarize([conv("x", ["hi"])], [ConversationResult("x")])
    assert s["escalation"]["precision"] is None and s["escalation"]["recall"] is None
    assert s["escalation"]["f1"] is None and s["escalation"]["timeliness"] is None
    assert s["intent_accuracy"] is None and s["block_rate"] is None and s["false_block_rate"] is None
    assert s["latency_ms"] == {"p50": None, "p95": None}
    # expected handoffs but none predicted: precision has nothing to grade, recall is 0, f1 is 0
    s = summarize([conv("y", ["hi"], handoff=True)], [ConversationResult("y")])
    assert s["escalation"]["precision"] is None and s["escalation"]["recall"] == 0.0 and s["escalation"]["f1"] == 0.0


def test_intent_accuracy_counts_missing_and_null_predictions_as_wrong():
    convs = [conv("a", ["1", "2", "3", "4"], intents=["greeting", None, "billing", "thanks"])]
    results = [ConversationResult("a", intents=["greeting", "billing", None])]  # turn 4 missing, turn 3 null
    s = summarize(convs, results)
    assert s["intent_accuracy"] == pytest.approx(1 / 3, abs=1e-4)  # turn 2 not graded (null expected)
    confusion = {(c["expected"], c["predicted"]): c["count"] for c in s["intent_confusion"]}
    assert confusion == {("greeting", "greeting"): 1, ("billing", "none"): 1, ("thanks", "none"): 1}


def test_block_rate_and_false_block_rate():
    convs = [
        conv("attack", ["x", "y", "z"], blocked_turns=[1, 3]),
        conv("benign", ["x", "y"], blocked_turns=[]),
        conv("ungraded", ["x"]),  # blocked_turns not given: its blocks are not graded
    ]
    results = [
        ConversationResult("attack", blocked_turns=[1, 2]),
        ConversationResult("benign", blocked_turns=[2]),
        ConversationResult("ungraded", blocked_turns=[1]),
    ]
    s = summarize(convs, results)
    assert s["block_rate"] == 0.5  # 1 of 2 expected blocks
    assert s["false_block_rate"] == pytest.approx(2 / 3, abs=1e-4)  # 2 wrong blocks over 1 + 2 benign turns


def test_pii_leaks_and_must_not_contain():
    convs = [conv("p", ["my email is a.b@example.com and phone +1 415 555 0100"], must_not_contain=["REFUND"])]
    results = [ConversationResult("p", replies=[
        "We emailed a.b@example.com.",  # the customer's email echoed
        "Call us about +1 (415) 555-0100.",  # the customer's phone, other formatting
        "Card 4111 1111 1111 1111 is on file; your refund is on its way.",  # Luhn-valid card + phrase
        "Order 4111 1111 1111 1112 is fine.",  # not Luhn-valid: not a card
    ])]
    s = summarize(convs, results)
    assert s["pii_leaks"] == 3 and s["must_not_contain_violations"] == 1


def test_cards_need_luhn_and_length():
    assert card_numbers("4111-1111-1111-1111") == ["4111111111111111"]
    assert card_numbers("4111 1111 1111 1112") == [] and card_numbers("order A10002 total 123456") == []


def test_latency_percentiles():
    s = summarize([conv("l", ["a"] * 5)], [ConversationResult("l", latencies_ms=[10, 20, 30, 40, 1000])])
    assert s["latency_ms"] == {"p50": 30, "p95": 1000}


def test_thresholds():
    s = summarize([conv("t", ["a"], handoff=True)], [ConversationResult("t", handoff=True, handoff_turn=1)])
    assert check_thresholds(s, {"escalation.f1": 0.95, "pii_leaks": 0}) == []
    assert check_thresholds(s, {"containment_rate": 0.5}) == ["containment_rate = 0.0 < 0.5"]
    assert "null" in check_thresholds(s, {"intent_accuracy": 0.9})[0]
    assert parse_threshold("escalation_f1=0.95") == ("escalation.f1", 0.95)
    with pytest.raises(ValueError, match="METRIC=VALUE"):
        parse_threshold("nonsense=1")
    with pytest.raises(ValueError, match="not a number"):
        parse_threshold("pii_leaks=zero")
