"""Entity extraction: order ids, emails, phones, amounts, SKUs; positive and negative cases."""

from __future__ import annotations

import pytest

from bot.nlu.entities import extract


@pytest.mark.parametrize(
    "text",
    ["where is A10234", "where is a10234", "#A10234 is late", "order #10234", "order 10234", "Order number 10234",
     "my order number is 10234", "order no. 10234", "#10234 never came", "ORDER: 10234", "(A10234)"],
)
def test_order_id_forms(text):
    assert extract(text)["order_ids"] == ["A10234"]


@pytest.mark.parametrize(
    "text",
    ["in 2024 I bought a lamp", "my zip code is 90210", "I live at 10234 Main Street", "A102345", "BA10234",
     "call 555 0199", "order 1234", "size 10", "the 55 inch tv", "it took 12345 years"],
)
def test_no_false_order_ids(text):
    assert extract(text)["order_ids"] == [], text


def test_order_ids_deduplicated_in_order():
    got = extract("A20000 and #A10234, also order 10234 and a20000, then order #55555")
    assert got["order_ids"] == ["A20000", "A10234", "A55555"]


def test_emails():
    got = extract("email Jane.Doe+shop@Example.COM. or jane.doe+shop@example.com, or bob@mail.co.uk")
    assert got["emails"] == ["jane.doe+shop@example.com", "bob@mail.co.uk"]
    assert extract("contact us @ the store")["emails"] == []


@pytest.mark.parametrize(
    ("text", "phone"),
    [("call me on +1 415 555 0199", "+1 415 555 0199"), ("my number is 555-123-4567", "555-123-4567"),
     ("(415) 555-0199 please", "(415) 555-0199"), ("it's 07700 900123", "07700 900123"),
     ("ring 4155550199", "4155550199")],
)
def test_phones(text, phone):
    assert extract(text)["phones"] == [phone]


@pytest.mark.parametrize(
    "text",
    ["order A10234", "on 2024-05-12 I ordered", "charged $1,299.00", "card 4111 1111 1111 1111 was charged",
     "zip 90210", "1234567"],
)
def test_no_false_phones(text):
    assert extract(text)["phones"] == [], text


@pytest.mark.parametrize(
    ("text", "amounts"),
    [("charged $49.99 twice", ["49.99"]), ("you took 49,99 € from me", ["49.99"]),
     ("£5.50 and €20", ["5.50", "20"]),
     ("I paid 1,299.00 dollars", ["1299.00"]), ("refund 20 bucks", ["20"]), ("charged 89.95 for nothing", ["89.95"]),
     ("it costs USD 15", ["15"])],
)
def test_amounts(text, amounts):
    assert extract(text)["amounts"] == amounts


@pytest.mark.parametrize("text", ["2 weeks ago", "size 10.5 shoes", "it weighs 5 pounds", "order A10234", "in 2024"])
def test_no_false_amounts(text):
    assert extract(text)["amounts"] == [], text


def test_skus():
    assert extract("is SKU-1234 back? and sku 99812, SKU:ab-12")["skus"] == ["SKU-1234", "SKU-99812", "SKU-AB-12"]
    assert extract("skull candy headphones")["skus"] == []


def test_everything_at_once_and_shape():
    got = extract("Order #10234 (jane@x.com, +44 20 7946 0958) was charged $19.99 for SKU-77")
    assert got == {"order_ids": ["A10234"], "emails": ["jane@x.com"], "phones": ["+44 20 7946 0958"],
                   "amounts": ["19.99"], "skus": ["SKU-77"]}
    assert extract("") == {"order_ids": [], "emails": [], "phones": [], "amounts": [], "skus": []}
