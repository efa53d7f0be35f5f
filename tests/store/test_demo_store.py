"""DemoStore: deterministic seed, the documented demo data, every Backend method's success and refusal paths."""

from __future__ import annotations

import inspect
import json
import sqlite3
import threading
from datetime import date, timedelta

import pytest

from bot.store import (
    DEMO_TODAY,
    ORDER_STATUSES,
    RESULT_CODES,
    ActionResult,
    Backend,
    DemoStore,
    Order,
    ReturnRequest,
    canonical_order_id,
    open_store,
)
from bot.store.demo import DAMAGED_WINDOW_DAYS, RETURN_WINDOW_DAYS, SCHEMA_VERSION


def dump(store: DemoStore) -> list[str]:
    with store._lock:
        return list(store._conn.iterdump())


def count(store: DemoStore, table: str) -> int:
    with store._lock:
        return store._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def order_row(store: DemoStore, order_id: str) -> Order:
    with store._lock:
        order = store._load_order(store._conn, order_id)
    assert order is not None
    return order


def assert_no_details(result: ActionResult, order: Order) -> None:
    """A refusal carries nothing about the order beyond its id."""
    assert not result.ok
    assert "order" not in result.data and set(result.data) <= {"order_id"}
    text = result.message + json.dumps(result.to_dict())
    for secret in [order.email, order.shipping_address, order.tracking_number, *[i.name for i in order.items]]:
        if secret:
            assert secret not in text


# ------------------------------------------------------------------------------------------------- seeding


def test_two_fresh_stores_are_identical(tmp_path):
    with open_store(tmp_path / "a.sqlite") as a, open_store(tmp_path / "b.sqlite") as b:
        assert dump(a) == dump(b)
        assert a.list_customers() == b.list_customers()
        assert [a.get_order(f"A{10001 + i}", email=order_row(a, f"A{10001 + i}").email).data["order"]
                for i in range(40)] == [b.get_order(f"A{10001 + i}", email=order_row(b, f"A{10001 + i}").email)
                                        .data["order"] for i in range(40)]


def test_reopen_does_not_reseed_or_duplicate(tmp_path):
    path = tmp_path / "store.sqlite"
    with open_store(path) as s:
        assert s.cancel_order("A10003", customer_id="cust-1").ok
        before = dump(s)
    with open_store(path) as s:
        assert dump(s) == before
        assert order_row(s, "A10003").status == "cancelled"
        assert count(s, "orders") == 40 and count(s, "customers") == 12 and count(s, "schema_version") == 1


def test_reset_reseeds(store):
    fresh = dump(store)
    store.cancel_order("A10003", customer_id="cust-1")
    store.start_return("A10001", "too big", customer_id="cust-1")
    store.send_password_reset("alice@example.com")
    store.reset()
    assert dump(store) == fresh


def test_schema_version_and_wal(store, tmp_path):
    with store._lock:
        assert [tuple(r) for r in store._conn.execute("SELECT version FROM schema_version")] == [(SCHEMA_VERSION,)]
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    with sqlite3.connect(tmp_path / "store.sqlite") as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer"):
        DemoStore(tmp_path / "store.sqlite")


def test_seed_shape(store):
    customers = store.list_customers()
    assert [c.id for c in customers] == [f"cust-{i}" for i in range(1, 13)]
    tiers = [c.tier for c in customers]
    assert tiers.count("vip") >= 1 and tiers.count("gold") >= 2
    assert {"de", "es"} <= {c.language for c in customers}
    orders = [order_row(store, f"A{10001 + i}") for i in range(40)]
    assert {o.status for o in orders} == set(ORDER_STATUSES)
    assert sum(o.is_delayed(DEMO_TODAY) for o in orders) >= 2
    for o in orders:
        assert o.items and o.currency == "USD"
        assert o.total == pytest.approx(o.subtotal + o.shipping_cost)
        assert (o.tracking_number is not None) == (o.status not in ("processing", "cancelled"))
        assert (o.delivered_at is not None) == (o.status in ("delivered", "returned"))
    assert count(store, "products") == 25 and count(store, "returns") >= 3


def test_documented_demo_data(store):
    """The module docstring of bot.store.demo promises these; other tests and docs depend on them."""
    alice = store.get_customer("cust-1")
    assert (alice.name, alice.email, alice.tier, alice.language) == ("Alice Martin", "alice@example.com", "standard",
                                                                      "en")
    assert store.find_customer_by_email(" ALICE@example.com ") == alice
    assert (store.get_customer("cust-2").tier, store.get_customer("cust-3").tier) == ("gold", "vip")
    assert (store.get_customer("cust-4").language, store.get_customer("cust-5").language) == ("de", "es")
    expected = {
        "A10001": ("cust-1", "delivered"), "A10002": ("cust-1", "shipped"), "A10003": ("cust-1", "processing"),
        "A10004": ("cust-1", "delivered"), "A10005": ("cust-2", "out_for_delivery"),
        "A10006": ("cust-2", "returned"), "A10007": ("cust-2", "processing"),
        "A10008": ("cust-3", "lost_in_transit"), "A10009": ("cust-3", "delivered"),
        "A10010": ("cust-3", "processing"), "A10011": ("cust-4", "shipped"), "A10012": ("cust-4", "delivered"),
        "A10013": ("cust-5", "shipped"), "A10014": ("cust-5", "cancelled"), "A10015": ("cust-6", "shipped"),
        "A10016": ("cust-6", "delivered"), "A10038": (None, "shipped"), "A10039": (None, "processing"),
        "A10040": (None, "delivered"),
    }
    for oid, (cust, status) in expected.items():
        o = order_row(store, oid)
        assert (o.customer_id, o.status) == (cust, status), oid
    assert order_row(store, "A10001").delivered_at == date(2026, 11, 10)
    assert order_row(store, "A10001").total == 168.0
    assert order_row(store, "A10002").carrier == "UPS" and order_row(store, "A10002").eta == date(2026, 11, 22)
    assert order_row(store, "A10004").delivered_at == date(2026, 10, 6)
    assert order_row(store, "A10011").is_delayed(DEMO_TODAY) and order_row(store, "A10015").is_delayed(DEMO_TODAY)
    assert [r.id for r in store.returns_for_order("A10006")] == ["R20001"]
    assert [(r.id, r.status) for r in store.returns_for_order("A10012")] == [("R20002", "awaiting_item")]
    assert store.list_orders("cust-10") == []
    assert order_row(store, "A10038").email == "jordan.lee@example.net"


def test_protocol_and_json():
    assert isinstance(DemoStore.__new__(DemoStore), Backend)
    assert "password" not in inspect.signature(DemoStore.send_password_reset).parameters
    assert list(inspect.signature(DemoStore.send_password_reset).parameters) == ["self", "email"]


def test_results_are_json_serialisable_and_codes_documented(store):
    results = [
        store.get_order("A10001", customer_id="cust-1"),
        store.cancel_order("A10003", customer_id="cust-1"),
        store.start_return("A10001", "too big", customer_id="cust-1"),
        store.update_address("cust-2", "1 New Street, Seattle, WA 98101, USA"),
        store.send_password_reset("bob.chen@example.com"),
        store.get_order("A10001", customer_id="cust-2"),
    ]
    for r in results:
        json.dumps(r.to_dict())
        assert r.code in RESULT_CODES


# ------------------------------------------------------------------------------------------------- customers, orders


def test_customer_lookups(store):
    assert store.get_customer(None) is None and store.get_customer("cust-99") is None
    assert store.find_customer_by_email("nobody@example.com") is None and store.find_customer_by_email("") is None
    assert store.find_customer_by_email("lukas.becker@example.de").id == "cust-4"


def test_get_order_for_owner(store):
    r = store.get_order("A10002", customer_id="cust-1")
    assert r.ok and r.code == "found"
    order = r.data["order"]
    assert isinstance(order, Order) and order.id == "A10002" and order.tracking_number in r.message
    assert "November 22, 2026" in r.message and r.data["delayed"] is False


def test_get_order_delivered_shows_return_deadline(store):
    r = store.get_order("A10001", customer_id="cust-1")
    assert r.data["return_deadline"] == date(2026, 11, 10) + timedelta(days=RETURN_WINDOW_DAYS)
    assert "December 10, 2026" in r.message


def test_get_order_delayed(store):
    r = store.get_order("A10011", customer_id="cust-4")
    assert r.ok and r.data["delayed"] is True and "running late" in r.message


@pytest.mark.parametrize("text", ["a10001", " #A10001 ", "A-10001"])
def test_order_id_variants(store, text):
    assert canonical_order_id(text) == "A10001"
    assert store.get_order(text, customer_id="cust-1").ok


def test_get_order_not_yours(store):
    r = store.get_order("A10001", customer_id="cust-2")
    assert r.code == "not_yours"
    assert_no_details(r, order_row(store, "A10001"))


def test_get_order_guest_needs_verification(store):
    r = store.get_order("A10001")
    assert r.code == "verification_needed" and "email" in r.message
    assert_no_details(r, order_row(store, "A10001"))


def test_get_order_guest_wrong_email(store):
    r = store.get_order("A10001", email="bob.chen@example.com")
    assert r.code == "not_yours"
    assert_no_details(r, order_row(store, "A10001"))


def test_get_order_guest_with_matching_email(store):
    assert store.get_order("A10001", email="Alice@Example.com").ok
    assert store.get_order("A10038", email="jordan.lee@example.net").ok
    assert store.get_order("A10038", customer_id="cust-1").code == "not_yours"
    # An id the store does not know is treated as a guest.
    assert store.get_order("A10038", customer_id="cust-404").code == "verification_needed"


@pytest.mark.parametrize("text", ["A99999", "hello", "", "A1234", "B10001"])
def test_get_order_not_found(store, text):
    r = store.get_order(text, customer_id="cust-1")
    assert not r.ok and r.code == "not_found"


def test_list_orders(store):
    orders = store.list_orders("cust-1")
    assert [o.id for o in orders] == ["A10003", "A10002", "A10001", "A10004"]
    assert [o.placed_at for o in orders] == sorted((o.placed_at for o in orders), reverse=True)
    assert len(store.list_orders("cust-1", limit=2)) == 2
    assert store.list_orders("cust-404") == [] and store.list_orders("cust-1", limit=0) == []


# ------------------------------------------------------------------------------------------------- cancel


def test_cancel_processing_order(store):
    r = store.cancel_order("A10007", customer_id="cust-2")
    assert r.ok and r.code == "cancelled"
    assert r.message.startswith("Order A10007 has been cancelled.")
    assert r.data["order"].status == "cancelled" and order_row(store, "A10007").status == "cancelled"
    again = store.cancel_order("A10007", customer_id="cust-2")
    assert not again.ok and again.code == "already_cancelled"


@pytest.mark.parametrize("order_id,customer", [("A10002", "cust-1"), ("A10005", "cust-2")])
def test_cancel_in_transit_suggests_return(store, order_id, customer):
    r = store.cancel_order(order_id, customer_id=customer)
    assert not r.ok and r.code == "not_cancellable"
    assert "shipped" in r.message and "return" in r.message and "delivered" in r.message
    assert order_row(store, order_id).status == r.data["status"]


@pytest.mark.parametrize("order_id,customer,code", [
    ("A10001", "cust-1", "not_cancellable"), ("A10006", "cust-2", "not_cancellable"),
    ("A10008", "cust-3", "not_cancellable"), ("A10014", "cust-5", "already_cancelled"),
])
def test_cancel_refusals(store, order_id, customer, code):
    status = order_row(store, order_id).status
    r = store.cancel_order(order_id, customer_id=customer)
    assert not r.ok and r.code == code
    assert order_row(store, order_id).status == status


def test_cancel_authorisation(store):
    r = store.cancel_order("A10003", customer_id="cust-2")
    assert r.code == "not_yours"
    assert_no_details(r, order_row(store, "A10003"))
    assert store.cancel_order("A10003").code == "verification_needed"
    assert store.cancel_order("A10003", email="mallory@example.com").code == "not_yours"
    assert order_row(store, "A10003").status == "processing"
    assert store.cancel_order("A10039", email="jordan.lee@example.net").ok


# ------------------------------------------------------------------------------------------------- returns


def test_return_within_window(store):
    r = store.start_return("A10001", "Too big", customer_id="cust-1")
    assert r.ok and r.code == "return_created"
    req = r.data["return"]
    assert isinstance(req, ReturnRequest) and req.status == "awaiting_item" and req.refund_amount == 168.0
    assert req.label_id.startswith("LBL-") and req.label_id in r.message
    assert "$168.00" in r.message and "will be issued once we receive" in r.message
    lowered = r.message.lower()
    assert "has been refunded" not in lowered and "refund has been issued" not in lowered
    assert store.returns_for_order("A10001") == [req]
    assert store.start_return("A10001", "again", customer_id="cust-1").code == "already_returned"


def test_return_window_boundary(tmp_path):
    path = tmp_path / "store.sqlite"
    open_store(path).close()
    delivered = date(2026, 11, 10)  # A10001
    with open_store(path, today=delivered + timedelta(days=RETURN_WINDOW_DAYS + 1)) as late:
        r = late.start_return("A10001", "meh", customer_id="cust-1")
        assert r.code == "outside_return_window" and "30-day" in r.message
        assert "60 days" in r.message  # damaged items can still be reported
    with open_store(path, today=delivered + timedelta(days=RETURN_WINDOW_DAYS)) as last_day:
        assert last_day.start_return("A10001", "meh", customer_id="cust-1").ok


def test_return_outside_window_then_damaged(store):
    r = store.start_return("A10004", "Changed my mind", customer_id="cust-1")
    assert not r.ok and r.code == "outside_return_window" and r.data["days_since_delivery"] == 45
    assert store.returns_for_order("A10004") == []
    d = store.start_return("A10004", "Lamp base cracked", damaged=True, customer_id="cust-1")
    assert d.ok and d.code == "return_created" and d.data["return"].damaged
    assert "replacement" in d.message and "$69.00" in d.message
    assert d.data["resolution_options"] == ["replacement", "refund"]


def test_damaged_outside_60_days(tmp_path):
    path = tmp_path / "store.sqlite"
    open_store(path).close()
    with open_store(path, today=DEMO_TODAY + timedelta(days=20)) as later:  # A10004: 65 days after delivery
        r = later.start_return("A10004", "cracked", damaged=True, customer_id="cust-1")
        assert r.code == "outside_return_window" and r.data["window_days"] == DAMAGED_WINDOW_DAYS
        assert "warranty" in r.message


def test_damaged_refund_includes_shipping(store):
    order = order_row(store, "A10012")  # Berlin, $14.95 shipping; already has an open return
    assert order.shipping_cost == 14.95
    assert store.start_return("A10012", "broken", damaged=True, customer_id="cust-4").code == "already_returned"
    guest = order_row(store, "A10040")
    r = store.start_return("A10040", "broken", damaged=True, email=guest.email)
    assert r.ok and r.data["refund_amount"] == pytest.approx(guest.subtotal + guest.shipping_cost)


def test_return_excludes_gift_card(store):
    r = store.start_return("A10016", "Not needed", customer_id="cust-6")
    assert r.ok and r.data["refund_amount"] == 59.0 and r.data["excluded_items"] == ["Northwind Gift Card ($50)"]


@pytest.mark.parametrize("order_id,customer,code", [
    ("A10012", "cust-4", "already_returned"), ("A10006", "cust-2", "already_returned"),
    ("A10002", "cust-1", "not_delivered"), ("A10003", "cust-1", "not_delivered"),
    ("A10008", "cust-3", "not_delivered"), ("A10014", "cust-5", "not_returnable"),
])
def test_return_refusals(store, order_id, customer, code):
    before = store.returns_for_order(order_id)
    r = store.start_return(order_id, "reason", customer_id=customer)
    assert not r.ok and r.code == code
    assert store.returns_for_order(order_id) == before


def test_return_authorisation(store):
    r = store.start_return("A10001", "reason", customer_id="cust-2")
    assert r.code == "not_yours"
    assert_no_details(r, order_row(store, "A10001"))
    assert store.start_return("A10001", "reason").code == "verification_needed"
    assert store.returns_for_order("A10001") == []


# ------------------------------------------------------------------------------------------------- account


def test_password_reset_is_neutral(store):
    known = store.send_password_reset("alice@example.com")
    unknown = store.send_password_reset("nobody@example.com")
    assert known == unknown  # ok, code, message and data identical: no account enumeration
    assert known.ok and known.code == "reset_sent" and known.data == {}
    assert "@" not in known.message and "60 minutes" in known.message
    log = store.password_reset_requests()
    assert [(e["email"], e["customer_id"], e["sent"]) for e in log] == [
        ("alice@example.com", "cust-1", True), ("nobody@example.com", None, False)]


def test_password_reset_invalid_and_throttled(store):
    assert store.send_password_reset("not an email").code == "invalid_email"
    results = [store.send_password_reset("bob.chen@example.com") for _ in range(5)]
    assert len({(r.ok, r.code, r.message) for r in results}) == 1
    assert [e["sent"] for e in store.password_reset_requests()] == [True, True, True, False, False]


def test_update_address_touches_only_processing_orders(store):
    old = store.get_customer("cust-1").address
    r = store.update_address("cust-1", "99 New Road\nSpringfield,   IL 62701, USA")
    assert r.ok and r.code == "address_updated"
    new = "99 New Road, Springfield, IL 62701, USA"
    assert r.data == {"address": new, "updated_orders": ["A10003"], "not_updated_orders": ["A10002"]}
    assert "A10003" in r.message and "A10002" in r.message
    assert store.get_customer("cust-1").address == new
    assert order_row(store, "A10003").shipping_address == new
    for oid in ("A10001", "A10002", "A10004"):
        assert order_row(store, oid).shipping_address == old
    assert store.update_address("cust-1", new).code == "unchanged"


@pytest.mark.parametrize("address", ["", "   ", "Main St", "x" * 300 + " 12", "Somewhere without numbers"])
def test_update_address_invalid(store, address):
    before = dump(store)
    r = store.update_address("cust-1", address)
    assert not r.ok and r.code == "invalid_address"
    assert dump(store) == before


def test_update_address_needs_a_customer(store):
    assert store.update_address(None, "1 Main Street, Springfield, IL 62704").code == "verification_needed"
    assert store.update_address("cust-404", "1 Main Street, Springfield, IL 62704").code == "not_found"


# ------------------------------------------------------------------------------------------------- products


@pytest.mark.parametrize("query,sku", [
    ("wireless headphones", "EL-1001"), ("do you have a red blender", "HM-2009"), ("rain jacket", "CL-3002"),
    ("Dutch oven", "HM-2005"), ("gift card", "GC-5050"), ("smartwatch in rose gold", "EL-1006"),
])
def test_search_products(store, query, sku):
    results = store.search_products(query)
    assert results and results[0].sku == sku and len(results) <= 3


def test_search_products_edges(store):
    assert store.search_products("") == [] and store.search_products("zzzz qqqq") == []
    assert len(store.search_products("black", limit=5)) == 5
    assert store.get_product("el-1002").in_stock == 0


# ------------------------------------------------------------------------------------------------- threads


def _race(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_cancel_one_success(store):
    results = _race(8, lambda i: store.cancel_order("A10003", customer_id="cust-1"))
    assert sum(r.ok for r in results) == 1
    assert sorted(r.code for r in results) == ["already_cancelled"] * 7 + ["cancelled"]


def test_concurrent_cancel_across_connections(tmp_path):
    path = tmp_path / "store.sqlite"
    stores = [open_store(path) for _ in range(4)]
    try:
        results = _race(8, lambda i: stores[i % 4].cancel_order("A10007", customer_id="cust-2"))
        assert sum(r.ok for r in results) == 1
    finally:
        for s in stores:
            s.close()


def test_concurrent_returns_one_success(store):
    results = _race(6, lambda i: store.start_return("A10009", "too many", customer_id="cust-3"))
    assert sum(r.ok for r in results) == 1 and len(store.returns_for_order("A10009")) == 1
