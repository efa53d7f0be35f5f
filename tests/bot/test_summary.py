"""The LLM's handoff summary and draft reply: kept only when the transcript supports them (fake LLM)."""

from __future__ import annotations

import pytest

from bot.summary import check_against_transcript, draft_reply, summarize
from tests.fakes import FakeLLM


@pytest.fixture
def package():
    return {
        "conversation_id": "c-1", "reason": "customer_request", "evidence": 'asked for a person: "a human please"',
        "customer": {"id": "cust-1", "name": "Alice Martin", "tier": "standard", "language": "en", "known": True},
        "summary": "Alice Martin (standard) contacted us about order status. Orders mentioned: A10002.",
        "suggested_reply": "Hi Alice, I'm from the support team and I'll take it from here.",
        "transcript": [
            {"role": "customer", "text": "where is my order A10002? my email is [EMAIL-3f9a]"},
            {"role": "bot", "text": "Order A10002 shipped with UPS, tracking 1Z999AA10123456784."},
            {"role": "customer", "text": "a human please"},
        ],
        "facts": {"order_ids": ["A10002"]},
        "actions_taken": [{"tool": "get_order", "args": {"order_id": "A10002"}, "ok": True,
                           "result": "Order A10002 shipped with UPS."}],
    }


def test_a_grounded_summary_is_kept(package, policies):
    llm = FakeLLM(summary="Alice asked where order A10002 is; it shipped with UPS. She wants a person.")
    written = summarize(llm.client(), package, policies.rails.output)
    assert written.source == "llm" and "A10002" in written.text and not written.problems
    request = llm.requests[-1]
    assert "a human please" in request["messages"][-1]["content"]


@pytest.mark.parametrize("invented, why", [
    ("Alice wants a refund of $45 for order A10002.", "45"),
    ("Alice asked about order A10099.", "a10099"),
    ("Alice (alice@evil.example) wants a person.", "alice@evil.example"),
    ("Alice gave [PHONE-0000] as her number.", "[PHONE-0000]"),
    ("Dear Bob, your order shipped.", "Bob"),
])
def test_invented_facts_fall_back_to_the_fact_made_summary(package, policies, invented, why):
    written = summarize(FakeLLM(summary=invented).client(), package, policies.rails.output)
    assert written.source == "facts" and written.text == package["summary"]
    assert any(why.lower() in p.lower() for p in written.problems), written.problems


def test_a_claimed_action_needs_a_successful_tool(package, policies):
    claim = "Alice's refund has been issued for order A10002."
    assert check_against_transcript(claim, package, policies.rails.output)
    package["actions_taken"].append({"tool": "start_return", "args": {"order_id": "A10002"}, "ok": True,
                                     "result": "Return started for A10002."})
    assert not check_against_transcript(claim, package, policies.rails.output)


def test_placeholders_from_the_transcript_are_fine(package):
    assert not check_against_transcript("Alice gave [EMAIL-3f9a] and asked about A10002.", package)


@pytest.mark.parametrize("llm", [None, FakeLLM(fail_status=500), FakeLLM(malformed_json=True), FakeLLM(summary="")])
def test_no_llm_or_a_broken_one_gives_the_facts(package, llm):
    written = summarize(llm.client() if llm else None, package)
    assert written.source == "facts" and written.text == package["summary"]


def test_draft_follows_the_agent_instruction_and_refuses_unauthorised_offers(package, policies):
    llm = FakeLLM(draft="Hi Alice, order A10002 is on its way with UPS.")
    written = draft_reply(llm.client(), package, "tell her it is with UPS", policies.rails.output)
    assert written.source == "llm" and "UPS" in written.text
    assert "THE AGENT WANTS: tell her it is with UPS" in llm.requests[-1]["messages"][-1]["content"]
    greedy = FakeLLM(draft="Hi Alice, I've added a 20% discount to your next order.")
    refused = draft_reply(greedy.client(), package, None, policies.rails.output)
    assert refused.source == "facts" and refused.text == package["suggested_reply"] and refused.problems


def test_a_draft_for_a_german_customer_asks_for_german(package):
    package["customer"]["language"] = "de"
    llm = FakeLLM(draft="Hallo Alice, Ihre Bestellung A10002 ist unterwegs.")
    assert draft_reply(llm.client(), package).source == "llm"
    assert "(de)" in llm.requests[-1]["messages"][0]["content"]
