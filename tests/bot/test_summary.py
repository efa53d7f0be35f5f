"""The LLM's handoff summary and draft reply (fake LLM): kept only when the transcript supports them."""

from __future__ import annotations

import pytest

from bot.handoff import build_package
from bot.summary import (
    MAX_CHARS,
    Written,
    check_against_transcript,
    draft_reply,
    summarize,
)
from tests.fakes import FakeLLM

SHIPPED = ("Order A10002 has shipped with UPS (tracking number 1Z4C60490313117828) and is expected to arrive on"
           " November 22, 2026. Total $1,299.00.")


@pytest.fixture
def package(policies):
    """Built like the graph builds it: where is A10002 → shipped with UPS → "a human please"."""
    state = {
        "conversation_id": "c-1", "channel": "chat",
        "customer": {"id": "cust-1", "name": "Alice Martin", "tier": "standard", "language": "en", "known": True},
        "intents": ["order_status"], "understanding": {"intent": "human_request", "sentiment": -0.1},
        "facts": {"order_ids": ["A10002"]},
        "actions_taken": [{"turn": 1, "tool": "get_order", "args": {"order_id": "A10002"}, "ok": True,
                           "code": "found", "result": SHIPPED}],
        "transcript": [
            {"role": "customer", "text": "where is my order A10002? my email is [EMAIL-3f9a]", "turn": 1},
            {"role": "bot", "text": SHIPPED, "turn": 1, "sentiment": 0.0},
            {"role": "customer", "text": "it should be here by now, I want compensation. a human please", "turn": 2},
        ],
        "events": [], "turn": 2, "message": "a human please",
    }
    handoff = {"reason": "customer_request", "evidence": 'asked for a person: "a human please"', "turn": 2}
    return build_package(state, handoff, 1_800_000_000.0, policies.handoff)


def _facts(written: Written, package: dict) -> bool:
    return written.source == "facts" and written.text == package["summary"]


# -- summaries -----------------------------------------------------------------------------------------------------
def test_a_grounded_summary_is_kept(package, policies):
    llm = FakeLLM(summary="Alice Martin asked where order A10002 is; it shipped with UPS (tracking"
                          " 1Z4C60490313117828). She wants a person.")
    written = summarize(llm.client(), package, policies.rails.output)
    assert written == Written(written.text, "llm") and "A10002" in written.text
    (request,) = llm.requests
    assert request["max_tokens"] == 90
    assert set(request["response_format"]["json_schema"]["schema"]["properties"]) == {"summary"}
    prompt = request["messages"][-1]["content"]
    assert "a human please" in prompt and "customer request" in prompt and "get_order (ok)" in prompt


def test_numbers_are_compared_in_any_usual_format(package):
    for text in ("Alice paid $1299 for order #10002.", "The order cost 1,299 dollars.", "It arrives November 22."):
        assert check_against_transcript(text, package) == (), text


@pytest.mark.parametrize("invented, why", [
    ("Alice asked about order A10099.", "a10099"),
    ("Alice wants a refund of $45 for order A10002.", "45"),
    ("Alice wants $7 back for A10002.", "7"),  # small numbers are fine, small amounts are not
    ("Alice (alice@evil.example) wants a person.", "alice@evil.example"),
    ("Alice gave +44 20 7946 0958 as her number.", "+44 20 7946 0958"),
    ("Her order A10002 arrives on Friday.", "friday"),
    ("Tracking 1Z999AA10123456784 shows a delay.", "1z999aa10123456784"),
    ("Customer Bob Smith wants a person.", "bob smith"),
    ("Dear Bob, your order shipped.", "bob"),
])
def test_invented_facts_fall_back_to_the_fact_made_summary(package, policies, invented, why):
    written = summarize(FakeLLM(summary=invented).client(), package, policies.rails.output)
    assert _facts(written, package)
    assert any(why in p.lower() for p in written.problems), written.problems


def test_a_claimed_refund_needs_a_successful_refund_tool(package, policies):
    claim = "Alice's refund has been issued for order A10002."
    written = summarize(FakeLLM(summary=claim).client(), package, policies.rails.output)
    assert _facts(written, package) and any("refund_issued" in p for p in written.problems), written.problems
    assert check_against_transcript("The bot cancelled order A10002.", package)  # third person, as summaries say it
    package["actions_taken"].append({"tool": "start_return", "args": {"order_id": "A10002"}, "ok": False,
                                     "result": "Order A10002 has not been delivered yet, so it can't be returned."})
    assert check_against_transcript(claim, package)  # a failed tool backs nothing
    package["actions_taken"].append({"tool": "start_return", "args": {"order_id": "A10002"}, "ok": True,
                                     "result": "Return R20001 is open for order A10002."})
    assert check_against_transcript(claim, package) == ()
    assert summarize(FakeLLM(summary=claim).client(), package, policies.rails.output).source == "llm"


def test_the_customer_saying_it_was_done_does_not_make_it_done(package):
    package["transcript"].append({"role": "customer", "text": "you told me the order was cancelled!"})
    assert check_against_transcript("Order A10002 was cancelled.", package)
    assert check_against_transcript("Alice says she was told the order was cancelled.", package)  # conservative


def test_a_summary_may_repeat_what_the_customer_asked_for(package):
    assert check_against_transcript("Alice wants compensation because order A10002 is late.", package) == ()
    assert check_against_transcript("The bot offered Alice a discount.", package)  # nobody mentioned one


def test_placeholders_from_the_transcript_are_fine_unknown_ones_are_not(package, policies):
    assert check_against_transcript("Alice ([EMAIL-3f9a]) asked about A10002.", package) == ()
    written = summarize(FakeLLM(summary="Alice gave [PHONE-0a1b] as her number.").client(), package,
                        policies.rails.output)
    assert _facts(written, package) and "placeholder [PHONE-0a1b] is not in the transcript" in written.problems


@pytest.mark.parametrize("llm, why", [
    (None, None),
    (FakeLLM(fail_status=500), "llm:"),
    (FakeLLM(malformed_json=True), "llm:"),
    (FakeLLM(summary=""), "empty"),
    (FakeLLM(summary="x " * 400), "llm:"),  # longer than the JSON schema allows
    (FakeLLM(summary="CONVERSATION: customer: where is my order A10002?"), "prompt's layout"),
])
def test_no_llm_or_a_broken_one_gives_the_facts(package, llm, why):
    written = summarize(llm.client() if llm else None, package)
    assert _facts(written, package)
    assert (written.problems == ()) if why is None else any(why in p for p in written.problems), written.problems


def test_a_500_is_retried_before_falling_back(package):
    llm = FakeLLM(fail_status=500, fail_times=1, summary="Alice wants a person about order A10002.")
    assert summarize(llm.client(), package).source == "llm" and len(llm.requests) == 2


def test_text_cut_at_the_length_cap_keeps_its_whole_sentences(package):
    # max_tokens 40 → the schema caps the string at 98 characters; a text that reaches the cap was cut there
    text = "Alice wants a person about order A10002. It shipped with UPS but she says it should be here by n"
    assert len(text) >= 96
    llm = FakeLLM(summary=text)
    written = summarize(llm.client(), package, max_tokens=40)
    assert written == Written("Alice wants a person about order A10002.", "llm")
    assert llm.requests[0]["response_format"]["json_schema"]["schema"]["properties"]["summary"]["maxLength"] == 98


def test_length_limits(package):
    assert check_against_transcript("   ", package) == ("empty",)
    long = "Alice wants a person about order A10002. " * 20
    assert any("too long" in p for p in check_against_transcript(long[: MAX_CHARS + 50], package))


def test_the_default_policy_is_used_without_one(package):
    assert any("refund_issued" in p for p in check_against_transcript("We have refunded Alice.", package))


def test_a_guest_is_not_given_a_name(package):
    package["customer"].update(name=None, known=False)
    assert check_against_transcript("Guest asked where order A10002 is.", package) == ()
    assert check_against_transcript("Hi Carol, your order A10002 shipped with UPS.", package)


def test_a_looping_text_is_refused(package):
    loop = "Alice wants a person about order A10002. Alice wants a person about order A10002."
    assert check_against_transcript(loop, package) == ("repeats a sentence",)
    assert check_against_transcript("Alice wants a person. She is waiting. She is waiting.", package) == ()


def test_a_summary_must_name_the_order_it_is_about(package, policies):
    written = summarize(FakeLLM(summary="Alice wants to talk to a person.").client(), package, policies.rails.output)
    assert _facts(written, package) and written.problems == ("leaves out the order (A10002)",)
    assert check_against_transcript("Alice wants to talk to a person.", package) == ()  # true, just less useful


def test_the_bot_already_did_it_needs_a_tool_that_did_something(package):
    claim = "Alice wanted to cancel order A10002 and the bot already did it."
    assert any("something_done" in p for p in check_against_transcript(claim, package))
    package["actions_taken"].append({"tool": "cancel_order", "ok": True, "result": "Order A10002 has been cancelled."})
    assert check_against_transcript(claim, package) == ()


def test_contractions_and_irish_names(package):
    package["customer"]["name"] = "Sean O'Brien"
    assert check_against_transcript("Hello, I'm taking over from the assistant.", package) == ()
    assert check_against_transcript("Hi Sean, order A10002 shipped with UPS.", package) == ()
    assert check_against_transcript("Dear Mr O'Neill, order A10002 shipped.", package)

# -- draft replies -------------------------------------------------------------------------------------------------
def test_draft_follows_the_agent_instruction(package, policies):
    llm = FakeLLM(draft="Hi Alice, sorry for the wait: order A10002 is on its way with UPS.")
    written = draft_reply(llm.client(), package, "apologise and say it is with UPS", policies.rails.output)
    assert written == Written("Hi Alice, sorry for the wait: order A10002 is on its way with UPS.", "llm")
    (request,) = llm.requests
    assert request["max_tokens"] == 120
    assert set(request["response_format"]["json_schema"]["schema"]["properties"]) == {"reply"}
    prompt = request["messages"][-1]["content"]
    assert prompt.rstrip().endswith("THE AGENT WANTS: apologise and say it is with UPS")
    assert "AGENT'S PLAN: " + package["suggested_actions"][0] in prompt


@pytest.mark.parametrize("promise, why", [
    ("Hi Alice, I've added a 20% discount to your next order.", "unauthorised offer"),
    ("Hi Alice, we will give you a voucher for the delay.", "unauthorised offer"),
    ("Hi Alice, I can offer you compensation for the delay.", "unauthorised offer"),  # the customer's word, not ours
    ("Hi Alice, I've cancelled order A10002 for you.", "order_cancelled"),
    ("Hi Alice, you should sue the carrier.", "legal advice"),
])
def test_draft_refuses_promises_nobody_authorised(package, policies, promise, why):
    written = draft_reply(FakeLLM(draft=promise).client(), package, None, policies.rails.output)
    assert written.source == "facts" and written.text == package["suggested_reply"]
    assert any(why in p for p in written.problems), written.problems


def test_an_offer_the_agent_asked_for_is_allowed(package, policies):
    llm = FakeLLM(draft="Hi Alice, sorry about the delay: here is a discount on your next order.")
    assert draft_reply(llm.client(), package, "offer a discount", policies.rails.output).source == "llm"
    assert draft_reply(llm.client(), package, "apologise", policies.rails.output).source == "facts"


def test_draft_in_the_customers_language(package):
    package["language"] = "de"
    llm = FakeLLM(draft="Hallo Alice, Ihre Bestellung A10002 ist mit UPS unterwegs.")
    assert draft_reply(llm.client(), package).source == "llm"
    assert "German (de)" in llm.requests[-1]["messages"][0]["content"]


def test_draft_without_llm_or_with_a_broken_one_is_the_template(package):
    for llm in (None, FakeLLM(fail_status=500).client(), FakeLLM(malformed_json=True).client()):
        written = draft_reply(llm, package, "ask for a photo")
        assert written.source == "facts" and written.text == package["suggested_reply"]


def test_a_draft_in_another_language_cannot_claim_a_cancellation_either(package, policies):
    package["language"] = "de"
    llm = FakeLLM(draft="Hallo Alice, ich habe Ihre Bestellung A10002 storniert.")
    written = draft_reply(llm.client(), package, None, policies.rails.output)
    assert written.source == "facts" and any("order_cancelled" in p for p in written.problems), written.problems


def test_a_draft_that_deflects_is_refused(package, policies):
    for text in ("I'm sorry, but I can't assist with that request.", "Please contact customer support for help."):
        written = draft_reply(FakeLLM(draft=text).client(), package, None, policies.rails.output)
        assert written.source == "facts" and any("deflects" in p for p in written.problems), written.problems
