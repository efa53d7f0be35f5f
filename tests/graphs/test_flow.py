"""The graph end to end with a fake LLM: every node's behaviour, seen from the turns a customer would see."""

from __future__ import annotations

import re

from tests.fakes import FakeLLM, facts_of


def echo_facts(messages):
    """A well-behaved LLM: repeats the first fact it was given (or greets when there is none)."""
    facts = facts_of(messages)
    lines = [line[2:] for line in facts.splitlines() if line.startswith("- ")]
    return lines[0] if lines else "Hello! How can I help you today?"


# -- receive / input_checks ----------------------------------------------------------------------------------------
def test_empty_message_gets_a_clear_reply_and_no_llm_call(engine, fake_llm):
    conv = engine.start("cust-1")
    result = engine.turn(conv, "   \t ")
    assert "empty" in result.reply
    assert result.blocked is False and result.handoff is False
    assert fake_llm.requests == []
    assert engine.state(conv)["turn"] == 1


def test_oversized_message_is_refused_and_state_stays_intact(engine):
    conv = engine.start("cust-1")
    engine.turn(conv, "where is my order A10002")
    before = engine.state(conv)
    result = engine.turn(conv, "x" * 100_000)
    assert "too long" in result.reply and "100000" in result.reply
    after = engine.state(conv)
    assert after["facts"] == before["facts"]
    assert after["turn"] == before["turn"] + 1
    # the conversation carries on normally
    assert engine.turn(conv, "thanks").intent == "thanks"


def test_control_characters_are_stripped_before_understanding(engine):
    conv = engine.start("cust-1")
    result = engine.turn(conv, "where\x00 is my\x1b order\u200b A10002")
    assert result.intent == "order_status"
    assert engine.state(conv)["transcript"][0]["text"] == "where is my order A10002"


def test_undecodable_input_is_refused_clearly(engine):
    conv = engine.start("cust-1")
    result = engine.turn(conv, "\ufffd\ufffd\ufffd\ufffd hi")
    assert "could not be read" in result.reply


# -- understand -------------------------------------------------------------------------------------------------------
def test_understanding_records_intent_entities_sentiment_language(engine):
    conv = engine.start("cust-1")
    engine.turn(conv, "Where is my order A10002? Email me at alice@example.com")
    u = engine.state(conv)["understanding"]
    assert u["intent"] == "order_status"
    assert u["entities"]["order_ids"] == ["A10002"]
    [email] = u["entities"]["emails"]  # redacted at the door: the state only ever holds the placeholder
    assert re.fullmatch(r"\[EMAIL-[0-9a-f]{4}\]", email)
    assert u["language"] == "en"
    assert -1 <= u["sentiment"] <= 1


def test_llm_votes_only_when_the_classifier_is_unsure(make_engine):
    llm = FakeLLM(reply=echo_facts)
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    engine.turn(conv, "where is my order A10002")  # clear: no vote
    assert llm.vote_requests == []
    engine.turn(conv, "hmm the thing from last week")  # vague: the LLM is asked among the classifier's candidates
    assert len(llm.vote_requests) == 1
    enum = llm.vote_requests[0]["response_format"]["json_schema"]["schema"]["properties"]["intent"]["enum"]
    assert "out_of_scope" in enum and len(enum) <= 4


# -- decide / act / answer ------------------------------------------------------------------------------------------
def test_known_customer_order_status_is_answered_from_the_tool_at_once(make_engine):
    llm = FakeLLM(reply=echo_facts)
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    streamed: list[str] = []
    result = engine.turn(conv, "where is my order A10002?", on_text=streamed.append)
    assert result.intent == "order_status" and not result.handoff
    assert "A10002" in result.reply and "UPS" in result.reply and "November 22, 2026" in result.reply
    assert llm.stream_requests == []  # the tool's words are the answer: no LLM paraphrase to get wrong
    assert "".join(streamed).strip() == result.reply
    assert result.first_text_s is not None and result.first_text_s < result.total_s + 1e-9
    actions = engine.state(conv)["actions_taken"]
    assert actions[-1]["tool"] == "get_order" and actions[-1]["ok"]


def test_another_customers_order_is_not_revealed(make_engine):
    engine = make_engine(FakeLLM(reply=echo_facts))
    conv = engine.start("cust-2")
    result = engine.turn(conv, "where is order A10002")
    assert "UPS" not in result.reply and "1Z" not in result.reply
    assert engine.state(conv)["actions_taken"][-1]["ok"] is False


def test_product_question_leads_with_the_catalogue_then_the_llm(make_engine):
    llm = FakeLLM(reply="I don't have that detail.")
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    result = engine.turn(conv, "is the personal blender dishwasher safe?")
    assert result.intent == "product_question"
    assert result.reply.startswith("Personal Blender (HM-2009): $59.00")
    assert result.reply.endswith("I don't have that detail.")
    assert "Personal Blender" in facts_of(llm.stream_requests[-1]["messages"])


def test_guest_is_asked_for_order_id_then_email_then_answered(make_engine):
    llm = FakeLLM(reply=echo_facts)
    engine = make_engine(llm)
    conv = engine.start(None)
    first = engine.turn(conv, "where is my order?")
    assert "order number" in first.reply
    second = engine.turn(conv, "it's A10038")
    assert second.intent == "order_status" and "email" in second.reply
    third = engine.turn(conv, "jordan.lee@example.net")
    assert third.intent == "order_status" and "A10038" in third.reply
    assert engine.state(conv)["actions_taken"][-1]["ok"] is True


def test_known_customer_without_order_id_gets_the_only_fitting_order(make_engine):
    llm = FakeLLM(reply=echo_facts)
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    engine.turn(conv, "I want to cancel my order")  # cust-1 has exactly one processing order: A10003
    assert "A10003" in engine.state(conv)["reply"]
    assert engine.state(conv)["pending"]["kind"] == "confirm"


def test_cancel_needs_confirmation_then_cancels(make_engine):
    engine = make_engine(FakeLLM(reply=echo_facts))
    conv = engine.start("cust-1")
    ask = engine.turn(conv, "please cancel order A10003")
    assert "confirm" in ask.reply.lower() and "A10003" in ask.reply
    assert engine.deps.store.get_order("A10003", customer_id="cust-1").data["order"].status == "processing"
    done = engine.turn(conv, "yes")
    assert done.intent == "cancel_order"
    assert engine.deps.store.get_order("A10003", customer_id="cust-1").data["order"].status == "cancelled"
    assert engine.state(conv)["actions_taken"][-1]["code"] == "cancelled"


def test_cancel_declined_leaves_the_order(make_engine):
    engine = make_engine(FakeLLM(reply=echo_facts))
    conv = engine.start("cust-1")
    engine.turn(conv, "cancel order A10003")
    reply = engine.turn(conv, "no").reply
    assert "left order A10003" in reply
    assert engine.deps.store.get_order("A10003", customer_id="cust-1").data["order"].status == "processing"


def test_shipped_order_cannot_be_cancelled_and_no_confirmation_is_asked(make_engine):
    llm = FakeLLM(reply=echo_facts)
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    engine.turn(conv, "cancel order A10002")
    assert engine.state(conv)["pending"] is None
    assert engine.state(conv)["actions_taken"][-1]["code"] == "not_cancellable"


def test_policy_question_is_answered_from_the_knowledge_base(make_engine):
    llm = FakeLLM(reply=echo_facts)
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    result = engine.turn(conv, "how long does a refund take?")
    facts = facts_of(llm.stream_requests[-1]["messages"]).lower()
    assert "refund" in facts
    assert result.reply and not result.handoff


def test_out_of_scope_gets_the_scope_message_without_the_llm(engine, fake_llm):
    conv = engine.start("cust-1")
    result = engine.turn(conv, "what's the weather going to be like in Paris tomorrow?")
    assert result.intent == "out_of_scope"
    assert "can't help with that" in result.reply
    assert fake_llm.stream_requests == []


def test_invented_numbers_never_reach_the_customer(make_engine):
    llm = FakeLLM(reply="Refunds are fast. They take 45 days and we add a $20 bonus. Thanks!")
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    streamed: list[str] = []
    result = engine.turn(conv, "how long do refunds take?", on_text=streamed.append)
    said = "".join(streamed)
    assert "45" not in said and "$20" not in said and "45" not in result.reply
    assert said.startswith("Refunds are fast.")  # the sentence before the violation had passed and was sent
    assert "original payment method" in result.reply  # then the policy itself, instead of the invention
    assert any(e["reason"] == "ungrounded_fact" for e in result.events)


def test_llm_scaffolding_is_tidied(make_engine):
    engine = make_engine(FakeLLM(reply="Fact 1: Refunds go back to the original payment method."))
    conv = engine.start("cust-1")
    assert engine.turn(conv, "how long do refunds take?").reply == "Refunds go back to the original payment method."


def test_llm_failure_apologises_and_hands_off_in_the_same_turn(make_engine):
    llm = FakeLLM(fail_status=500)
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    assert engine.turn(conv, "where is my order A10002").reply.startswith("Order A10002")  # tools need no LLM
    failed = engine.turn(conv, "how long do refunds take?")
    assert failed.handoff and failed.handoff_reason == "system_error" and "technical problem" in failed.reply
    # every fault, the policy threshold and what the customer sees: tests/graphs/test_llm_faults.py


def test_password_reset_never_asks_for_the_password(make_engine):
    llm = FakeLLM(reply=echo_facts)
    engine = make_engine(llm)
    conv = engine.start(None)
    ask = engine.turn(conv, "I forgot my password")
    assert "email" in ask.reply.lower() and "password?" not in ask.reply.lower()
    engine.turn(conv, "it's jordan.lee@example.net")
    assert engine.state(conv)["actions_taken"][-1]["tool"] == "send_password_reset"


# -- escalation triggers -------------------------------------------------------------------------------------------
def _handoff(engine, customer, *messages):
    conv = engine.start(customer)
    result = None
    for text in messages:
        result = engine.turn(conv, text)
        if result.handoff:
            break
    return conv, result


def test_trigger_customer_request_any_wording(engine):
    for text in ("I want to talk to a human", "agent", "can I speak with a real person please",
                 "get me your supervisor now", "Ich möchte mit einem Menschen sprechen"):
        _, result = _handoff(engine, "cust-1", text)
        assert result.handoff and result.handoff_reason == "customer_request", text


def test_trigger_negative_sentiment_but_not_mild_annoyance(engine):
    _, angry = _handoff(engine, "cust-1", "This is absolutely terrible, the worst service ever, I am furious and disgusted")
    assert angry.handoff and angry.handoff_reason == "negative_sentiment"
    _, mild = _handoff(engine, "cust-1", "a bit annoying that it's late, where is my order A10002?")
    assert not mild.handoff


def test_trigger_repeated_failure_on_the_second_time(engine):
    conv = engine.start("cust-1")
    engine.turn(conv, "how long do refunds take?")
    once = engine.turn(conv, "that didn't help")
    assert not once.handoff
    twice = engine.turn(conv, "that still didn't help")
    assert twice.handoff and twice.handoff_reason == "repeated_failure"


def test_trigger_high_stakes(engine):
    for text in ("someone hacked my account and placed orders", "I will contact my lawyer about this",
                 "there is a charge I did not authorize on my card", "the heater caught fire"):
        _, result = _handoff(engine, "cust-1", text)
        assert result.handoff and result.handoff_reason == "high_stakes", text


def test_trigger_vip_customer_at_once(engine):
    _, result = _handoff(engine, "cust-3", "hi")
    assert result.handoff and result.handoff_reason == "vip_customer"


def test_trigger_low_confidence_after_a_clarifying_question(make_engine, policies):
    strict = policies.escalation.model_copy(
        update={"low_confidence": policies.escalation.low_confidence.model_copy(update={"threshold": 0.999})}
    )
    engine = make_engine(FakeLLM(vote=lambda m, c: c[0]),
                         policies=policies.model_copy(update={"escalation": strict}))
    conv = engine.start("cust-1")
    first = engine.turn(conv, "hmm the thing")
    assert not first.handoff and "not sure I understood" in first.reply
    second = engine.turn(conv, "the other thing")
    assert second.handoff and second.handoff_reason == "low_confidence"


def test_unsupported_language_is_handed_off_with_the_language(engine):
    conv, result = _handoff(engine, "cust-1", "Hola, quiero saber dónde está mi pedido, por favor")
    assert result.handoff and result.language == "es"
    package = engine.queue.entries()[0].package
    assert package["customer"]["language"] == "es"


def test_triggers_are_configuration(make_engine, policies):
    off = policies.escalation.model_copy(
        update={"vip_customer": policies.escalation.vip_customer.model_copy(update={"enabled": False})}
    )
    engine = make_engine(FakeLLM(reply=echo_facts), policies=policies.model_copy(update={"escalation": off}))
    _, result = _handoff(engine, "cust-3", "hi")
    assert not result.handoff


# -- handoff, waiting, resume ----------------------------------------------------------------------------------------
def test_handoff_package_is_queued_and_later_messages_join_it(engine, fake_llm):
    conv, result = _handoff(engine, "cust-1", "where is my order A10002", "I want to talk to a human")
    assert result.handoff and "connecting you" in result.reply
    package = engine.queue.entries()[0].package
    for key in ("conversation_id", "reason", "priority", "customer", "intent", "sentiment", "summary",
                "transcript", "facts", "actions_taken", "suggested_actions", "suggested_reply", "created_at"):
        assert key in package, key
    assert package["reason"] == "customer_request"
    assert package["facts"]["order_ids"] == ["A10002"]
    assert package["actions_taken"][0]["tool"] == "get_order"
    calls = len(fake_llm.requests)
    later = engine.turn(conv, "also my address changed")
    assert later.handoff and "added that to your case" in later.reply
    assert len(fake_llm.requests) == calls  # the bot does not answer while a person owns the conversation
    assert engine.waiting_for_human(conv)
    assert engine.state(conv)["transcript"][-2]["text"] == "also my address changed"


def test_agent_reply_then_hand_back_resumes_the_ai(engine):
    conv, _ = _handoff(engine, "cust-1", "I want to talk to a human")
    reply = engine.agent_event(conv, {"kind": "agent_reply", "text": "Hi Alice, Sam here.", "agent": "sam"})
    assert reply.reply == "Hi Alice, Sam here." and reply.handoff
    back = engine.agent_event(conv, {"kind": "hand_back", "note": "customer only wanted to say hi", "agent": "sam"})
    assert not back.handoff and engine.state(conv)["agent_note"] == "customer only wanted to say hi"
    assert not engine.waiting_for_human(conv)
    again = engine.turn(conv, "where is my order A10002")
    assert again.intent == "order_status" and not again.handoff
    roles = [t["role"] for t in engine.state(conv)["transcript"]]
    assert "agent" in roles


def test_resolve_closes_and_a_new_message_reopens_with_the_ai(engine):
    conv, _ = _handoff(engine, "cust-1", "human please")
    closed = engine.agent_event(conv, {"kind": "resolve", "agent": "sam"})
    assert closed.mode == "closed" and not closed.handoff
    assert engine.turn(conv, "hello again").mode == "ai"


def test_restart_mid_conversation_resumes_it(make_engine, settings):
    first = make_engine(FakeLLM(reply=echo_facts))
    conv = first.start("cust-1")
    first.turn(conv, "where is my order A10003?")
    first.close()
    second = make_engine(FakeLLM(reply=echo_facts))
    result = second.turn(conv, "please cancel it")
    assert "A10003" in result.reply  # the order id came from the turn before the restart
    state = second.state(conv)
    assert state["turn"] == 2 and len(state["transcript"]) == 4
    assert [m["role"] for m in second.db.transcript(conv)] == ["customer", "bot", "customer", "bot"]


def test_other_language_is_answered_in_it_when_the_llm_can(make_engine):
    llm = FakeLLM(reply="Ihre Bestellung A10002 wurde mit UPS versandt.")
    engine = make_engine(llm, llm_languages=("en", "de"))
    conv = engine.start("cust-1")
    result = engine.turn(conv, "Wo ist meine Bestellung A10002? Ich warte schon lange darauf.")
    assert not result.handoff and result.language == "de"
    assert result.reply == "Ihre Bestellung A10002 wurde mit UPS versandt."
    prompt = llm.stream_requests[-1]["messages"][-1]["content"]
    assert "in German" in prompt and "UPS" in prompt  # the store's facts, to be said in German


# -- understanding in context -----------------------------------------------------------------------------------------
def test_keyboard_mash_is_not_understood_even_when_the_classifier_is_sure(make_engine):
    llm = FakeLLM()
    engine = make_engine(llm)
    conv = engine.start("cust-1")
    first = engine.turn(conv, "flooble the wozzle")  # the classifier alone says damaged_item 0.99
    assert "not sure I understood" in first.reply and first.confidence <= 0.2
    assert llm.vote_requests == []  # nonsense is not worth an LLM call
    second = engine.turn(conv, "asdkjh qwe")
    assert second.handoff and second.handoff_reason == "low_confidence"


def test_unsure_out_of_scope_counts_as_not_understood(make_engine):
    engine = make_engine(FakeLLM(vote=lambda m, c: c[0]))
    conv = engine.start("cust-1")
    assert "not sure I understood" in engine.turn(conv, "banana purple seventeen").reply
    sure = engine.start("cust-1")
    assert "can't help with that" in engine.turn(sure, "what is the capital of france").reply


def test_feedback_about_an_answer_is_a_complaint_only_after_an_answer(engine):
    conv = engine.start("cust-1")
    engine.turn(conv, "how long do refunds take?")
    feedback = engine.turn(conv, "still not what I asked")
    assert feedback.intent == "complaint" and "didn't help" in feedback.reply
    fresh = engine.start("cust-1")
    opening = engine.turn(fresh, "my refund still not resolved after 3 weeks")
    assert "didn't help" not in opening.reply  # nothing was answered yet: a status question, not feedback


def test_a_bare_order_id_continues_the_previous_topic(make_engine):
    engine = make_engine(FakeLLM(reply=echo_facts))
    conv = engine.start("cust-1")
    engine.turn(conv, "can I return the headphones I bought? how does it work")
    follow = engine.turn(conv, "yes it's order A10001")
    assert follow.intent == "return_refund"
    assert engine.state(conv)["actions_taken"][-1]["tool"] == "start_return"


def test_a_short_question_referring_back_keeps_the_topic(engine):
    conv = engine.start("cust-1")
    engine.turn(conv, "do you ship to Germany")
    assert engine.turn(conv, "how long does that take").intent == "shipping_info"
    other = engine.start("cust-1")
    engine.turn(other, "do you ship to Germany")
    assert engine.turn(other, "what's the weather tomorrow").intent == "out_of_scope"


def test_person_words_in_long_sentences_are_not_requests(engine):
    for text in ("Is the Orbit smartwatch a good gift for a person who runs a lot?",
                 "the customer service person I spoke with yesterday said my refund was processed, how long?",
                 "Can a person other than me sign for the delivery, like my neighbour?"):
        _, result = _handoff(engine, "cust-1", text)
        assert not result.handoff, text
    for text in ("a person please", "Quiero hablar con una persona, por favor", "Posso parlare con un operatore?"):
        _, result = _handoff(engine, "cust-1", text)
        assert result.handoff and result.handoff_reason == "customer_request", text
