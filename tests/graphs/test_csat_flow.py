"""The CSAT question and its answer through the real graph and engine (fake LLM, real NLU, real SQLite): asked after
a goodbye to the AI or an agent's resolve, the next message read as the rating when it is one, the proxy otherwise
or when the customer leaves, and which of the two wins in the conversations row."""

from __future__ import annotations

import pytest

from bot import csat
from bot.desk import Desk
from tests.graphs.test_flow import _handoff


@pytest.fixture
def messages(engine):
    return engine.deps.policies.messages


def row(engine, conv):
    record = engine.db.conversation(conv)
    return record["csat"], record["csat_source"]


def said_goodbye(engine, *before):
    conv = engine.start("cust-1")
    for text in before:
        assert not engine.turn(conv, text).csat_asked
    result = engine.turn(conv, "thanks, bye")
    assert result.intent == "goodbye" and result.csat_asked, result
    return conv, result


def resolved(engine):
    conv, result = _handoff(engine, "cust-1", "I want to talk to a human")
    assert result.handoff
    desk = Desk(engine)
    desk.claim(conv, "sam")
    desk.reply(conv, "sam", "Hi, Sam here. Your refund went out today.")
    return conv, desk.resolve(conv, "sam", "refund sent")


def test_goodbye_asks_and_a_4_is_stored_as_the_customers_rating(engine, messages):
    conv, result = said_goodbye(engine, "where is my order A10002")
    assert result.reply.endswith(messages.get("csat.ask"))
    assert engine.state(conv)["csat"] == {"asked": 2, "after": "goodbye", "score": None, "source": None}
    assert row(engine, conv) == (None, None)  # asked, not answered: nothing stored yet

    thanks = engine.turn(conv, "4")
    assert thanks.reply == messages.get("csat.thanks", score=4)
    assert not thanks.csat_asked and thanks.mode == "ai" and not thanks.handoff
    assert row(engine, conv) == (4.0, "customer")
    assert engine.state(conv)["csat"]["source"] == "customer"
    transcript = engine.db.transcript(conv)
    assert [(m["role"], m["text"]) for m in transcript[-2:]] == [("customer", "4"), ("bot", thanks.reply)]
    assert any(e["rail"] == "csat" and e["action"] == "rated" and e["detail"] == "4"
               for e in engine.state(conv)["events"])


def test_resolve_asks_and_five_is_stored_and_the_conversation_stays_closed(engine, messages):
    conv, result = resolved(engine)
    assert result.csat_asked and result.mode == "closed"
    notice = engine.db.transcript(conv)[-1]
    assert notice["role"] == "system" and notice["text"].endswith(messages.get("csat.ask"))
    assert csat.awaiting(engine.state(conv))

    thanks = engine.turn(conv, "five")
    assert thanks.reply == messages.get("csat.thanks", score=5)
    assert thanks.mode == "closed" and not thanks.handoff
    assert engine.state(conv)["mode"] == "closed"
    assert engine.db.conversation(conv)["status"] == "closed"
    assert row(engine, conv) == (5.0, "customer")
    assert engine.queue.get(conv).status == "resolved"  # not queued again
    assert not csat.awaiting(engine.state(conv))


def test_an_answer_that_is_not_a_rating_stores_the_proxy_and_is_handled_normally(engine, fake_llm):
    conv, _ = said_goodbye(engine, "where is my order A10002")
    result = engine.turn(conv, "actually, where is my order A10002?")
    assert result.intent == "order_status" and "A10002" in result.reply  # answered, not thanked
    assert "rating" not in result.reply.lower() and not result.csat_asked
    values = engine.state(conv)
    # taken before this message is understood: the trail up to the question
    expected = csat.proxy(values["sentiment_trail"][:-1], engine.deps.mode_policy().csat.proxy_turns)
    assert expected is not None
    assert values["csat"]["source"] == "proxy" and values["csat"]["score"] == expected
    assert row(engine, conv) == (expected, "proxy")


def test_the_question_is_asked_once(engine, messages):
    conv, _ = said_goodbye(engine)
    engine.turn(conv, "one more thing: how long do refunds take?")
    again = engine.turn(conv, "ok bye")
    assert again.intent == "goodbye" and not again.csat_asked
    assert messages.get("csat.ask") not in again.reply


def test_a_number_before_any_question_is_not_a_rating(engine):
    conv = engine.start("cust-1")
    result = engine.turn(conv, "4")
    assert "rating" not in result.reply.lower()
    assert row(engine, conv) == (None, None) and not (engine.state(conv).get("csat") or {}).get("source")


def test_leaving_without_a_rating_records_the_proxy(engine):
    conv, _ = said_goodbye(engine, "where is my order A10002")
    stored = engine.end(conv)
    values = engine.state(conv)
    assert stored == csat.proxy(values["sentiment_trail"], engine.deps.mode_policy().csat.proxy_turns)
    assert stored is not None and row(engine, conv) == (stored, "proxy")

    asked_never = engine.start("cust-1")
    engine.turn(asked_never, "where is my order A10002")
    assert engine.end(asked_never) is not None and row(engine, asked_never)[1] == "proxy"  # left mid-conversation

    assert engine.end(engine.start("cust-1")) is None  # nothing said: nothing to estimate
    assert row(engine, engine.start("cust-1")) == (None, None)


def test_a_customer_rating_replaces_a_proxy_but_a_proxy_never_replaces_a_rating(engine):
    conv, _ = said_goodbye(engine, "where is my order A10002")
    assert engine.end(conv) is not None and row(engine, conv)[1] == "proxy"  # the page was left open, then...
    engine.turn(conv, "4")
    assert row(engine, conv) == (4.0, "customer")

    assert engine.end(conv) is None  # rated: leaving changes nothing
    assert row(engine, conv) == (4.0, "customer")
    engine.turn(conv, "where is my order A10002")  # later messages keep the rating, and are not ratings themselves
    engine.turn(conv, "2")
    assert row(engine, conv) == (4.0, "customer")
    assert engine.db.rate(conv, 1.5, "proxy") is False and row(engine, conv) == (4.0, "customer")


def test_after_resolve_leaving_without_a_rating_records_the_proxy(engine):
    conv, _ = resolved(engine)
    stored = engine.end(conv)
    assert stored is not None and row(engine, conv) == (stored, "proxy")
    engine.turn(conv, "4")  # a late answer is still the customer's
    assert row(engine, conv) == (4.0, "customer") and engine.state(conv)["mode"] == "closed"


def test_a_number_written_after_the_question_was_skipped_is_not_a_rating(engine, messages):
    conv, _ = said_goodbye(engine)
    engine.turn(conv, "how long do refunds take?")  # skipped: the proxy is stored
    skipped = row(engine, conv)
    assert skipped[1] == "proxy"
    later = engine.turn(conv, "2")
    assert later.reply != messages.get("csat.thanks", score=2)
    assert row(engine, conv) == skipped and engine.state(conv)["csat"]["source"] == "proxy"


def test_an_unclear_spoken_rating_is_asked_again_and_never_handed_to_a_person(engine, messages):
    conv = engine.start("cust-1", channel="voice")
    heard = {"confidence": 0.95, "engine": "test"}
    assert engine.turn(conv, "thanks, bye", heard=heard).csat_asked
    for _ in range(4):  # more unclear answers than `repeats_before_handoff` would allow in a normal turn
        again = engine.turn(conv, "fire", heard={"confidence": 0.2, "engine": "test"})
        assert again.reply == messages.get("voice.repeat") and not again.handoff
    assert engine.turn(conv, "four", heard=heard).reply == messages.get("csat.thanks", score=4)
    assert row(engine, conv) == (4.0, "customer")
