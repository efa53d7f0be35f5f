"""voice.speakable: chat replies as a phone voice says them, and transcripts with their digits back."""

from __future__ import annotations

import pytest

from voice.speakable import for_speech, sentences, shorten, spoken_digits


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # markdown
        ("**Good news**: your *refund* is __approved__.", "Good news: your refund is approved."),
        ("Use the code `SAVE10` at checkout.", "Use the code SAVE10 at checkout."),
        ("# Returns\nYou have 30 days.", "Returns. You have 30 days."),
        ("You can:\n- return it\n- exchange it!\n* keep it", "You can: return it. exchange it! keep it."),
        ("Steps:\n1. Open the app\n2. Tap Orders", "Steps: Open the app. Tap Orders."),
        ("Read [our returns policy](https://shop.example.com/returns) first.", "Read our returns policy first."),
        ("| Item | Price |\n|---|---|\n| Shoes | $50 |", "Item, Price. Shoes, 50 dollars."),
        ("> Quoted line\n---\nDone", "Quoted line. Done"),
        ("First paragraph\n\nSecond paragraph", "First paragraph. Second paragraph"),
        # URLs and e-mail
        ("see https://shop.example.com/returns for details", "see our website for details"),
        ("It is on our website: https://shop.example.com/faq", "It is on our website"),
        ("Check the returns page (https://shop.example.com/returns).", "Check the returns page."),
        ("Write to help@shop.example.com today.", "Write to help at shop dot example dot com today."),
        # ids
        ("order A10234", "order A, 1 0 2 3 4"),
        ("Order #A10234 has shipped.", "Order A, 1 0 2 3 4 has shipped."),
        ("A102345 is not an order id", "A102345 is not an order id"),
        ("Item SKU-4471 is back.", "Item SKU 4 4 7 1 is back."),
        # money
        ("$12.50", "12 dollars and 50 cents"),
        ("$12.00", "12 dollars"),
        ("$1", "1 dollar"),
        ("$0.99", "99 cents"),
        ("€30", "30 euros"),
        ("£5.10", "5 pounds and 10 pence"),
        ("$1,299.00", "1299 dollars"),
        # dates
        ("Arrives 2026-11-27.", "Arrives November 27, 2026."),
        ("Reference 2026-13-40 stays", "Reference 2026-13-40 stays"),
        # placeholders
        ("We wrote to <EMAIL_1>.", "We wrote to your email address."),
        ("Shipping to <HOME_ADDRESS_3>.", "Shipping to that detail."),
        ("We wrote to [EMAIL-3f9a].", "We wrote to your email address."),
        # cleanup
        ("Great 🎉\n- item one 👍", "Great. item one."),
        ("a  b\n\n\n   c | d # e > f", "a b. c d e f"),
        ("", ""),
    ],
)
def test_for_speech(text: str, spoken: str) -> None:
    assert for_speech(text) == spoken


def test_for_speech_whole_reply() -> None:
    reply = (
        "## Your order\n"
        "Order **A10234** (placed 2026-11-20) will arrive on **2026-11-27**.\n\n"
        "- Total: $1,299.00\n"
        "- Tracking: https://track.example.com/A10234\n\n"
        "Questions? Mail <EMAIL_1> 🙂"
    )
    assert for_speech(reply) == (
        "Your order. Order A, 1 0 2 3 4 (placed November 20, 2026) will arrive on November 27, 2026. "
        "Total: 1299 dollars. Tracking: our website. Questions? Mail your email address"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two? Three!", ["One.", "Two?", "Three!"]),
        ("Small items, e.g. socks, ship free. Done.", ["Small items, e.g. socks, ship free.", "Done."]),
        ("It weighs 2.5 kg. Light.", ["It weighs 2.5 kg.", "Light."]),
        ("Dr. Lee and Mrs. Park met Mr. Cho and Ms. Ito on Main St. today. Bye.",
         ["Dr. Lee and Mrs. Park met Mr. Cho and Ms. Ito on Main St. today.", "Bye."]),
        ("  no final stop  ", ["no final stop"]),
        ("", []),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_shorten_keeps_whole_sentences_up_to_the_count() -> None:
    assert shorten("One. Two. Three. Four.") == "One. Two. Three."
    assert shorten("One. Two. Three.", max_sentences=1) == "One."
    assert shorten("") == ""


def test_shorten_stops_at_the_first_sentence_that_does_not_fit() -> None:
    text = "First sentence here. " + "b" * 30 + ". Short."
    assert shorten(text, max_chars=40) == "First sentence here."


def test_shorten_cuts_an_overlong_first_sentence_at_a_word_boundary() -> None:
    text = "The quick brown fox jumps over the lazy dog. Second."
    assert shorten(text, max_chars=22) == "The quick brown fox."
    assert len(shorten(text, max_chars=22)) <= 22
    assert shorten("Supercalifragilistic", max_chars=10) == "Supercali."


@pytest.mark.parametrize(
    ("transcript", "expected"),
    [
        ("my order is a one zero two three four", "my order is A10234"),
        ("order number one zero two three four", "order number 10234"),
        ("ay one zero two three four please", "A10234 please"),
        ("I want one of those", "I want one of those"),
        ("oh no", "oh no"),
        ("oh oh", "oh oh"),
        ("it is oh one two", "it is 012"),
        ("double five", "55"),
        ("triple zero", "000"),
        ("double oh seven", "007"),
        ("call five five five-one two three four", "call 5551234"),
        ("a one two three", "a 123"),
        ("I need to go for it", "I need to go for it"),
        ("the code is one two, three four.", "the code is 12, 34."),
    ],
)
def test_spoken_digits(transcript: str, expected: str) -> None:
    assert spoken_digits(transcript) == expected
