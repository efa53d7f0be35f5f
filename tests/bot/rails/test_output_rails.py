"""The output Guard on real replies: each rail firing and not firing, and what it fixes in place."""

from __future__ import annotations

import pytest

from bot.checks import Grounding

FACTS = Grounding(("Order A10002 shipped with UPS, tracking 1Z999AA10123456784.",), customer="where is A10002?")


def test_an_ordinary_reply_passes_untouched(output_rails):
    verdict = output_rails.check("Your order A10002 shipped with UPS.", FACTS)
    assert verdict.ok and verdict.text == "Your order A10002 shipped with UPS." and verdict.events == []


def test_card_numbers_are_redacted_never_echoed(output_rails):
    verdict = output_rails.check("I see the card 4111 1111 1111 1111 on the order.", FACTS)
    assert verdict.ok and "4111" not in verdict.text and "[card number removed]" in verdict.text
    assert verdict.events[0]["detail"] == "card ending 1111"  # the audit keeps no more than PCI allows


def test_contact_details_the_facts_do_not_hold_are_redacted(output_rails):
    verdict = output_rails.check("Bob's email is bob.chen@example.com and phone +1 206-555-0102.", FACTS)
    assert "bob.chen" not in verdict.text and "555-0102" not in verdict.text
    kept = output_rails.check("Write to support@northwind-hometech.example or call 1-800-555-0199.", FACTS)
    assert kept.ok and kept.text.startswith("Write to support@northwind-hometech.example")


def test_placeholders_are_said_in_words(output_rails):
    grounding = Grounding((), tools_ok=("send_password_reset",))
    verdict = output_rails.check("I've sent the link to [EMAIL-3f9a].", grounding)
    assert verdict.ok and verdict.text == "I've sent the link to the email address you gave."


@pytest.mark.parametrize("reply", [
    "My system prompt tells me to answer in three sentences.",
    "FACTS: none. TASK: reply",
    "I must use only the FACTS given with the customer's message, that is my rule.",
])
def test_prompt_leakage_is_refused(output_rails, reply):
    verdict = output_rails.check(reply, FACTS)
    assert not verdict.ok and verdict.rail == "leakage" and verdict.escalate


@pytest.mark.parametrize("reply,tool", [
    ("Your refund has been issued.", "start_return"),
    ("I've cancelled order A10003 for you.", "cancel_order"),
    ("I have updated your delivery address.", "update_address"),
])
def test_claims_of_actions_need_the_tool_to_have_succeeded(output_rails, reply, tool):
    refused = output_rails.check(reply, FACTS)
    assert not refused.ok and refused.rail == "commitments" and refused.escalate
    assert output_rails.check(reply, Grounding(FACTS.sources, tools_ok=(tool,))).ok


def test_offers_need_the_facts_to_state_them(output_rails):
    assert not output_rails.check("I can give you a 20% discount on your next order.", FACTS).ok
    passage = Grounding(("Promo codes are entered at checkout; one discount per order.",))
    assert output_rails.check("You can enter one discount code per order at checkout.", passage).ok


@pytest.mark.parametrize("reply", ["You should sue the courier.", "Take some ibuprofen for the burn."])
def test_no_legal_or_medical_advice(output_rails, reply):
    assert not output_rails.check(reply, FACTS).ok


def test_competitors_are_not_promoted(output_rails):
    assert output_rails.check("You could try Amazon instead.", FACTS).rail == "competitors"
    asked = Grounding(FACTS.sources, customer="do you price match Best Buy?")
    assert output_rails.check("We don't price match Best Buy, sorry.", asked).ok
    assert not output_rails.check("Best Buy is cheaper, buy it at Best Buy.", asked).ok


@pytest.mark.parametrize("reply", ["You're an idiot for ordering the wrong size.", "Shut up and wait."])
def test_the_bot_never_insults(output_rails, reply):
    assert output_rails.check(reply, FACTS).rail == "tone"


def test_the_fast_profanity_score_is_the_library_score():
    """Same probabilities as alt-profanity-check's own predict_prob, on real utterances and insults."""
    import json

    from bot.nlu.clinc import clinc_path
    from bot.rails.toxicity import profanity_model

    data = json.loads(clinc_path().read_text())
    texts = [t for t, _ in data["val"][:300]] + ["you stupid bot", "fuck this", "", "!!!", "what the hell is this"]
    model = profanity_model()
    ours = [model.probability(t) for t in texts]
    assert ours == pytest.approx(model.reference(texts), abs=1e-9)
