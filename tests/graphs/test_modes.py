"""The three operating modes (guardrails/modes.yaml) with the same scripted customers: who answers, when the package
is made, what the agent sees; the hybrid orchestrator under changing agent capacity; delegation and take-back;
cohorts that stay put; a policy edit that applies without a restart."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest
import yaml

from bot.desk import Desk
from bot.modes import ModesPolicy, assign, draw
from bot.queue import QueueError
from tests.fakes import FakeLLM

PROJECT = Path(__file__).resolve().parents[2]
SIMPLE = ("where is my order A10002", "thanks", "bye")
COMPLEX = ("where is my order A10002", "my lamp arrived broken and I am really annoyed",
           "can you cancel order A10003?")
ORDER_FACT = "UPS"  # what the AI's answer to "where is my order A10002" says (the demo store's carrier)


def _policies(tmp_path: Path, **modes) -> Path:
    target = tmp_path / f"policies-{time.monotonic_ns()}"
    shutil.copytree(PROJECT / "guardrails", target)
    data = yaml.safe_load((target / "modes.yaml").read_text())
    data.update(modes)
    (target / "modes.yaml").write_text(yaml.safe_dump(data))
    return target


@pytest.fixture
def mode_engine(make_engine, settings, tmp_path):
    """An engine whose modes.yaml says `default: <mode>` (plus any other keys given)."""

    def make(mode: str, **modes):
        policy_dir = _policies(tmp_path, default=mode, **modes)
        return make_engine(FakeLLM(), dataclasses.replace(settings, policy_dir=policy_dir))

    return make


def load_modes_text(text: str) -> ModesPolicy:
    return ModesPolicy.model_validate(yaml.safe_load(text))


def _run(engine, customer, messages):
    conv = engine.start(customer)
    return conv, [engine.turn(conv, text) for text in messages]


# -- the same customers through all three modes -------------------------------------------------------------------
def test_the_same_customers_in_the_three_modes(mode_engine):
    seen = {}
    for mode in ("ai_first", "human_led", "hybrid"):
        engine = mode_engine(mode)
        simple, simple_results = _run(engine, "cust-1", SIMPLE)
        hard, hard_results = _run(engine, "cust-1", COMPLEX)
        seen[mode] = (engine, simple, simple_results, hard, hard_results)
        assert {r.operating_mode for r in simple_results + hard_results} == {mode}
        assert engine.db.conversation(simple)["operating_mode"] == mode

    # ai_first: the AI answers everything it can; nothing here trips an escalation trigger
    engine, simple, results, hard, hard_results = seen["ai_first"]
    assert not any(r.handoff for r in results + hard_results)
    assert ORDER_FACT in results[0].reply
    assert engine.queue.get(simple) is None and engine.queue.get(hard) is None

    # human_led: the first message goes to a person, the AI never answers, the package is made at turn 1
    engine, simple, results, hard, _ = seen["human_led"]
    assert all(r.handoff and r.handoff_reason == "human_led" for r in results)
    assert ORDER_FACT not in " ".join(r.reply for r in results)
    assert results[0].reply.startswith("Thanks for your message. A member of our support team")
    package = engine.queue.get(simple).package
    assert package["turn"] == 1 and package["reason"] == "human_led"
    view = Desk(engine).show(simple)
    assert view.package["suggested_reply"] and view.package["suggested_actions"] and view.package["summary"]
    assert [t["text"] for t in view.package["transcript"] if t["role"] == "customer"] == list(SIMPLE)

    # hybrid: the simple customer stays with the AI; the complex one goes to a person when the score reaches 3
    engine, simple, results, hard, hard_results = seen["hybrid"]
    assert not any(r.handoff for r in results) and ORDER_FACT in results[0].reply
    assert [r.handoff for r in hard_results] == [False, True, True]
    assert hard_results[1].handoff_reason == "complexity"
    state = engine.state(hard)
    assert state["handoff"]["turn"] == 2 and engine.queue.get(hard).package["turn"] == 2
    orchestration = [e for e in state["events"] if e["rail"] == "orchestrator"]
    assert orchestration and "damaged_item" in orchestration[0]["detail"] and "mood" in orchestration[0]["detail"]


# -- hybrid: capacity ----------------------------------------------------------------------------------------------
def test_hybrid_with_no_free_agent_the_ai_keeps_collecting_until_one_takes_over(mode_engine):
    engine = mode_engine("hybrid")
    desk = Desk(engine)
    engine.presence.sign_in("sam", skills=["orders"], max_concurrent=1)
    busy, _ = _run(engine, "cust-2", ("I want to talk to a human",))  # takes sam's only slot
    desk.claim(busy, "sam")

    conv, results = _run(engine, "cust-1", ("my lamp arrived broken and I am really annoyed",))
    first = results[0]
    assert first.handoff and first.reply.startswith("I've asked a specialist")  # told honestly, not left in silence
    assert engine.state(conv)["handoff"]["holding"] is True
    assert engine.queue.get(conv).status == "waiting"

    # the AI keeps helping while nobody is free: it answers what it may (a read-only lookup) ...
    answered = engine.turn(conv, "how long do refunds take?")
    assert answered.intent == "return_refund" and not answered.reply.startswith("I've noted")
    assert answered.source.startswith("llm")  # answered from the refund policy (the fake LLM writes the words)
    # ... and notes what only a person may do without doing it, looking the order up for them
    noted = engine.turn(conv, "the broken lamp was in order A10002, I want a refund")
    assert noted.reply.startswith("I've noted that for the specialist")
    actions = engine.state(conv)["actions_taken"]
    assert [(a["tool"], a["args"]["order_id"]) for a in actions] == [("get_order", "A10002")]
    assert Desk(engine).show(conv).package["facts"]["order_ids"] == ["A10002"]

    # sam frees up and takes it: from now on the AI does not answer
    desk.resolve(busy, "sam")
    assert engine.presence.capacity("orders", "en")["free"] == 1
    desk.claim(conv, "sam")
    after = engine.turn(conv, "where is my order A10002?")
    assert ORDER_FACT not in after.reply and after.reply.startswith("Thanks, I've added that to your case")


def test_hybrid_with_a_free_agent_hands_over_at_once(mode_engine):
    engine = mode_engine("hybrid")
    engine.presence.sign_in("sam", skills=["orders"], max_concurrent=2)
    conv, (result,) = _run(engine, "cust-1", ("my lamp arrived broken and I am really annoyed",))
    assert result.handoff and result.reply.startswith("I'm connecting you with a member of our support team")
    assert engine.state(conv)["handoff"]["holding"] is False
    assert engine.turn(conv, "the order is A10002").reply.startswith("Thanks, I've added that to your case")


def test_hybrid_counts_the_queue_ahead_against_the_free_slots(mode_engine):
    engine = mode_engine("hybrid")
    engine.presence.sign_in("sam", skills=["orders"], max_concurrent=1)  # one free slot ...
    _run(engine, "cust-2", ("my parcel arrived damaged and I am really annoyed",))  # ... which this one will take
    assert engine.queue.get(engine.queue.entries()[0].package["conversation_id"]).status == "waiting"
    conv, (result,) = _run(engine, "cust-1", ("my lamp arrived broken and I am really annoyed",))
    assert result.reply.startswith("I've asked a specialist")  # one slot, one waiting ahead: the AI holds
    assert "1 free slot(s), 1 waiting ahead" in engine.state(conv)["orchestration"]["capacity"]


def test_hybrid_an_agent_without_the_skill_does_not_count(mode_engine):
    engine = mode_engine("hybrid")
    engine.presence.sign_in("bea", skills=["billing"], max_concurrent=5)
    conv, (result,) = _run(engine, "cust-1", ("my lamp arrived broken and I am really annoyed",))
    assert result.reply.startswith("I've asked a specialist")  # bea is free, but damaged items need `orders`
    # ... and nobody online can take it, so the customer is not given a time (presence-aware wait)
    assert engine.deps.policies.messages.get("handoff.wait_unknown") in result.reply


def test_hybrid_a_vip_simple_question_stays_with_the_ai_but_a_complaint_does_not(mode_engine, make_engine):
    engine = mode_engine("hybrid")
    conv, (result,) = _run(engine, "cust-3", ("where is my order?",))  # cust-3 is a VIP
    assert not result.handoff  # ai_first hands every VIP over at once (vip_customer); hybrid scores it: 2 < 3
    assert engine.state(conv)["orchestration"]["score"] == 2
    conv, results = _run(engine, "cust-3", ("I have a complaint about your service",))
    assert results[0].handoff and results[0].handoff_reason == "vip_customer"


def test_hybrid_counts_the_customers_history(mode_engine):
    engine = mode_engine("hybrid")
    _run(engine, "cust-1", ("I want to talk to a human",))  # an earlier handoff
    conv, (result,) = _run(engine, "cust-1", ("I need to cancel order A10002",))
    points = dict((name, value) for name, value, _ in engine.state(conv)["orchestration"]["points"])
    assert points == {"topic": 1, "history": 1}
    assert not result.handoff


def test_hard_triggers_hand_off_in_every_mode(mode_engine):
    for mode in ("ai_first", "human_led", "hybrid"):
        engine = mode_engine(mode)
        _, (result,) = _run(engine, "cust-1", ("there are charges on my card I never made, this is fraud",))
        assert result.handoff and result.handoff_reason == "high_stakes", mode


def test_human_led_after_a_hand_back_the_ai_answers(mode_engine):
    engine = mode_engine("human_led")
    desk = Desk(engine)
    conv, _ = _run(engine, "cust-1", ("hello",))
    desk.hand_back(conv, "sam", "order questions are fine for the assistant")
    result = engine.turn(conv, "where is my order A10002")
    assert not result.handoff and ORDER_FACT in result.reply


# -- delegation and take-back --------------------------------------------------------------------------------------
def test_an_agent_delegates_collecting_the_order_and_takes_the_conversation_back_with_the_result(mode_engine):
    engine = mode_engine("human_led")
    desk = Desk(engine)
    conv, _ = _run(engine, "cust-4", ("hi, something is wrong with my delivery",))  # a guest: the AI must ask
    asked = desk.delegate(conv, "sam", "order_details")
    assert asked.reply == engine.deps.policies.messages.get("clarify.order_id")
    assert engine.state(conv)["delegation"]["agent"] == "sam"

    done = engine.turn(conv, "it's A10002")
    assert done.reply.startswith("Thank you, that's everything I needed")
    state = engine.state(conv)
    assert state["delegation"] is None and state["mode"] == "human" and engine.waiting_for_human(conv)
    assert [a["tool"] for a in state["actions_taken"]] == ["get_order"]
    view = desk.show(conv)
    assert view.entry.claimed_by == "sam"
    assert any(e["action"] == "delegation_done" and "A10002" in e["detail"] for e in state["events"])
    assert any(a["tool"] == "get_order" for a in view.package["actions_taken"])
    # the agent is back in charge: the AI does not answer the next message
    assert engine.turn(conv, "thanks").reply.startswith("Thanks, I've added that to your case")


def test_a_delegated_order_lookup_for_a_guest_also_collects_the_email_it_needs(mode_engine):
    engine = mode_engine("human_led")
    desk = Desk(engine)
    conv, _ = _run(engine, None, ("hello, my delivery is late",))
    messages = engine.deps.policies.messages
    assert desk.delegate(conv, "sam", "order_details").reply == messages.get("clarify.order_id")
    assert engine.turn(conv, "A10038").reply == messages.get("clarify.order_email", order_id="A10038")
    assert engine.turn(conv, "jordan.lee@example.net").reply.startswith("Thank you, that's everything I needed")
    (action,) = engine.state(conv)["actions_taken"]
    assert action["tool"] == "get_order" and action["ok"]


def test_take_back_stops_the_task_and_replying_does_too(mode_engine):
    engine = mode_engine("human_led")
    desk = Desk(engine)
    conv, _ = _run(engine, None, ("hello",))  # a guest: nothing on file
    desk.delegate(conv, "sam", "order_details")
    desk.take_back(conv, "sam")
    assert engine.state(conv)["delegation"] is None
    assert engine.turn(conv, "A10002").reply.startswith("Thanks, I've added that to your case")
    with pytest.raises(QueueError, match="no task"):
        desk.take_back(conv, "sam")
    desk.delegate(conv, "sam", "contact_email")
    desk.reply(conv, "sam", "Actually, I found it myself.")
    assert engine.state(conv)["delegation"] is None


def test_delegation_errors_are_clear(mode_engine):
    engine = mode_engine("human_led")
    desk = Desk(engine)
    conv, _ = _run(engine, "cust-1", ("hello",))
    with pytest.raises(QueueError, match="unknown task 'fetch'; guardrails/modes.yaml delegation has"):
        desk.delegate(conv, "sam", "fetch")
    with pytest.raises(QueueError, match="already has email"):  # a signed-in customer's e-mail is on file
        desk.delegate(conv, "sam", "contact_email")
    desk.claim(conv, "sam")
    with pytest.raises(QueueError, match="claimed by sam"):
        desk.delegate(conv, "ann", "order_details")


def test_the_desk_looks_up_the_knowledge_base_for_the_agent(mode_engine):
    engine = mode_engine("human_led")
    conv, _ = _run(engine, "cust-1", ("how long do refunds take?",))
    found = Desk(engine).lookup(conv, "")
    assert found and "refund" in found[0]["text"].lower() and found[0]["score"] > 0


# -- cohorts ---------------------------------------------------------------------------------------------------------
def test_cohort_assignment_is_stable_independent_and_close_to_the_share():
    policy = load_modes_text("""
salt: s1
cohorts:
  - {name: pilot, mode: hybrid, share: 0.3}
""")
    customers = [{"id": f"cust-{i}", "tier": "standard", "known": True} for i in range(4000)]
    first = [assign(policy, c, "chat", "c-x")["name"] for c in customers]
    assert first == [assign(policy, c, "chat", "c-y")["name"] for c in customers]  # same customer, same cohort
    share = first.count("pilot") / len(first)
    assert 0.27 < share < 0.33
    resalted = load_modes_text("salt: s2\ncohorts:\n  - {name: pilot, mode: hybrid, share: 0.3}\n")
    moved = sum(a != assign(resalted, c, "chat", "c-x")["name"] for a, c in zip(first, customers))
    assert moved > 1000  # a new salt draws a new sample
    assert draw("s1", "pilot", "cust-1") == draw("s1", "pilot", "cust-1") != draw("s1", "other", "cust-1")


def test_cohorts_match_channel_and_segment_in_order():
    policy = load_modes_text("""
default: ai_first
cohorts:
  - {name: vips, mode: human_led, tiers: [vip]}
  - {name: voice-pilot, mode: hybrid, channels: [voice]}
  - {name: guests, mode: hybrid, known: false, share: 0}
""")
    vip = {"id": "cust-3", "tier": "vip", "known": True}
    standard = {"id": "cust-1", "tier": "standard", "known": True}
    assert assign(policy, vip, "voice", "c1")["name"] == "vips"
    assert assign(policy, standard, "voice", "c1") == {"name": "voice-pilot", "mode": "hybrid",
                                                      "draw": assign(policy, standard, "voice", "c1")["draw"]}
    assert assign(policy, standard, "chat", "c1") == {"name": "default", "mode": "ai_first", "draw": None}
    assert assign(policy, {"id": None, "known": False}, "chat", "c1")["name"] == "default"  # share 0: nobody


def test_a_modes_edit_applies_to_new_conversations_without_a_restart(mode_engine, caplog):
    engine = mode_engine("ai_first")
    before = engine.start("cust-1")
    path = engine.deps.policies.directory / "modes.yaml"
    data = yaml.safe_load(path.read_text())
    data["cohorts"] = [{"name": "everyone-human", "mode": "human_led", "share": 1.0}]
    path.write_text(yaml.safe_dump(data))
    after = engine.start("cust-1")
    assert engine.db.conversation(after)["cohort"] == "everyone-human"
    assert engine.turn(after, "where is my order A10002").handoff_reason == "human_led"
    assert not engine.turn(before, "where is my order A10002").handoff  # started before the edit: stays ai_first

    path.write_text("default: humans_only\n")  # invalid: refused, the last valid policy stays
    assert engine.db.conversation(engine.start("cust-2"))["cohort"] == "everyone-human"
    assert "modes policy edit refused" in caplog.text and "default: Input should be" in caplog.text


def test_an_invalid_modes_file_names_the_problem(tmp_path):
    from bot.policy import PolicyError, load_modes

    bad = tmp_path / "modes.yaml"
    bad.write_text("cohorts:\n  - {name: p, mode: hybrid, share: 1.5}\n")
    with pytest.raises(PolicyError, match=r"cohorts\.0\.share"):
        load_modes(bad)
    bad.write_text("delegation:\n  x: {collect: [phone]}\n")
    with pytest.raises(PolicyError, match="delegation"):
        load_modes(bad)
