"""The engine's own checks: input limits and grounded facts."""

from __future__ import annotations

from bot.checks import Grounding, GroundedFacts, InputLimits, ReplyLength


def test_input_limits(policies):
    check = InputLimits(policies.input)
    assert check.check("  hello\x00 there\u200b ").text == "hello there"
    assert check.check("").refuse == "input.empty"
    assert check.check("\x00\x01 \n").refuse == "input.empty"
    long = check.check("a" * 4001)
    assert long.refuse == "input.too_long" and long.values == {"chars": 4001, "limit": 4000}
    assert check.check("b" * 100_000).refuse == "input.too_long"
    assert check.check("\ufffd" * 5 + "ab").refuse == "input.invalid_encoding"
    assert check.check("caf\ufffd au lait, where is my order please").refuse is None
    assert check.check("ｈｅｌｌｏ").text == "hello"  # NFKC
    assert not check.check("x").blocked


def test_grounded_facts():
    check = GroundedFacts()
    g = Grounding(("Order A10002 shipped with UPS, tracking 1Z999AA10123456784, eta 2026-11-22, total 168.00.",))
    assert check.check("Your order A10002 is on its way with UPS.", g).ok
    assert check.check("It should arrive on 2026-11-22 (tracking 1Z999AA10123456784).", g).ok
    assert check.check("The total was $168.00.", g).ok
    assert check.check("It takes 2 or 3 days.", g).ok  # small counting numbers
    bad = check.check("It will arrive on 2026-12-01.", g)
    assert not bad.ok and "2026-12-01" in bad.reason
    assert not check.check("Your refund of $500 is on its way.", g).ok
    assert not check.check("Order A99999 is fine.", g).ok


def test_reply_length_cuts_at_a_sentence():
    check = ReplyLength(max_chars=40)
    out = check.check("First sentence here. Second sentence is long enough to cut.", Grounding())
    assert out.text == "First sentence here." and out.ok
