"""The demo retail backend: :class:`DemoStore`, a :class:`~bot.store.base.Backend` on a SQLite file.

The file is created and seeded deterministically on first open (fixed catalogue, fixed key customers and orders,
filler orders from a fixed random seed). Dates are offsets from the store's ``today``, which defaults to
:data:`DEMO_TODAY` (2026-11-20) so that return windows and delays never drift; pass ``today=`` to move it. Re-opening
an existing file never reseeds; :meth:`DemoStore.reset` does, for tests.

Key demo data (stable: tests and docs rely on it; dates assume the default today, Friday 2026-11-20)
-------------------------------------------------------------------------------------------------------

======== ================= ======== ===== ====================================================================
Customer Name              Tier     Lang  Orders (status)
======== ================= ======== ===== ====================================================================
cust-1   Alice Martin      standard en    alice@example.com, US. A10001 delivered 2026-11-10 (in the 30-day
                                          window, $168.00: headphones + charger); A10002 shipped, UPS, eta
                                          2026-11-22; A10003 processing (cancellable, $114.00); A10004 delivered
                                          2026-10-06 (45 days: outside the 30-day window, inside the 60-day
                                          damaged/defective window; table lamp $69.00)
cust-2   Bob Chen          gold     en    bob.chen@example.com, US. A10005 out_for_delivery (FedEx, today);
                                          A10006 returned (return R20001, refunded $119.00); A10007 processing
                                          (tablet $329.00, cancellable)
cust-3   Victoria Hughes   vip      en    victoria.hughes@example.com, US. A10008 lost_in_transit (UPS);
                                          A10009 delivered 2026-11-15; A10010 processing
cust-4   Lukas Becker      gold     de    lukas.becker@example.de, Berlin. A10011 shipped but delayed (DHL, eta
                                          2026-11-16); A10012 delivered 2026-11-08 with an open return R20002
                                          (awaiting_item → start_return answers already_returned)
cust-5   Sofía García      standard es    sofia.garcia@example.es, Madrid. A10013 shipped (DHL, eta 2026-11-23);
                                          A10014 cancelled
cust-6   David Okafor      standard en    david.okafor@example.com, US. A10015 shipped but delayed (USPS, eta
                                          2026-11-14); A10016 delivered 2026-11-18 (speaker + a non-returnable
                                          gift card: a return refunds $59.00 only)
cust-7   Emma Wilson       standard en    emma.wilson@example.co.uk, UK.   filler orders
cust-8   Raj Patel         gold     en    raj.patel@example.ca, Canada.    filler orders
cust-9   Chloé Dubois      standard fr    chloe.dubois@example.fr, Paris.  filler orders
cust-10  Noah Williams     standard en    noah.williams@example.com, US.   no orders at all
cust-11  Hannah Kim        standard en    hannah.kim@example.com, US.      filler orders
cust-12  Tom Novak         standard en    tom.novak@example.com, US.       filler orders
(guest)  Jordan Lee        -        -     jordan.lee@example.net (no account): A10038 shipped, A10039
                                          processing, A10040 delivered 2026-11-12
======== ================= ======== ===== ====================================================================

Orders A10017-A10037 are filler for cust-7/8/9/11/12 (every status; refunded returns R20003 and R20004); their
exact content is deterministic but not part of the documented demo set. The catalogue has 25 products (SKUs ``EL-10xx``
electronics, ``HM-20xx`` home, ``CL-30xx`` clothing, ``GC-5050`` gift card); ``EL-1002`` earbuds, ``HM-2008`` food
storage set and ``CL-3006`` cashmere scarf are out of stock. All prices are in USD.

Policy numbers used here match the knowledge base (``kb/*.md``): see the constants below.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.store.base import (
    IN_TRANSIT,
    ActionResult,
    Customer,
    Order,
    OrderItem,
    Product,
    ReturnRequest,
)

#: The default "today" for all date arithmetic (and the seed's reference date).
DEMO_TODAY = date(2026, 11, 20)
SEED = 20261120
SCHEMA_VERSION = 1

# Policy numbers: keep in sync with kb/returns.md, kb/damaged.md, kb/cancellations.md, kb/account.md.
RETURN_WINDOW_DAYS = 30
DAMAGED_WINDOW_DAYS = 60
RETURN_SHIP_BY_DAYS = 14
HOLD_RELEASE = "3-5 business days"
RESET_LINK_MINUTES = 60
RESET_MAX_PER_HOUR = 3
ADDRESS_MIN, ADDRESS_MAX = 10, 200

ORDER_ID_RE = re.compile(r"^A\d{5}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# ------------------------------------------------------------------------------------------------ seed data

# sku, name, category, price, colors, in_stock, description, returnable
CATALOG: tuple[tuple[str, str, str, float, tuple[str, ...], int, str, bool], ...] = (
    ("EL-1001", "Aurora Wireless Headphones", "electronics", 129.00, ("black", "silver"), 42,
     "Over-ear Bluetooth headphones with active noise cancelling, 30-hour battery and USB-C fast charging.", True),
    ("EL-1002", "Pulse True Wireless Earbuds", "electronics", 79.00, ("black", "white"), 0,
     "In-ear Bluetooth earbuds with charging case, 24 hours of playback and water resistance (IPX4).", True),
    ("EL-1003", "Nimbus Bluetooth Speaker", "electronics", 59.00, ("blue", "black", "red"), 35,
     "Portable waterproof speaker with 12-hour battery, ideal for the garden, beach or kitchen.", True),
    ("EL-1004", "Volt 65W USB-C Charger", "electronics", 39.00, ("white",), 120,
     "Compact wall charger with two USB-C ports and one USB-A port; charges laptops, tablets and phones.", True),
    ("EL-1005", "Lumen 10-inch Tablet", "electronics", 329.00, ("gray", "silver"), 12,
     "10-inch tablet with 128 GB storage, full HD display and all-day battery for streaming and reading.", True),
    ("EL-1006", "Orbit Smartwatch", "electronics", 199.00, ("black", "rose gold"), 18,
     "Fitness smartwatch with heart-rate monitor, GPS, sleep tracking and a 7-day battery.", True),
    ("EL-1007", "Beam 4K Streaming Stick", "electronics", 49.00, ("black",), 60,
     "Plug-in HDMI streaming stick with 4K HDR, voice remote and Wi-Fi 6.", True),
    ("EL-1008", "Halo Smart LED Bulb (2-pack)", "electronics", 24.00, ("white",), 200,
     "Dimmable Wi-Fi smart bulbs with warm-to-cool white light; work with voice assistants and the app.", True),
    ("EL-1009", "Drift Wireless Mouse", "electronics", 29.00, ("black", "white", "blue"), 75,
     "Quiet ergonomic wireless mouse with Bluetooth and USB receiver; battery lasts 12 months.", True),
    ("HM-2001", "Linen Duvet Cover (Queen)", "home", 89.00, ("white", "sage", "sand"), 30,
     "Stonewashed linen duvet cover for queen beds, with button closure and corner ties. Bedding.", True),
    ("HM-2002", "Cotton Bath Towel Set (4 pieces)", "home", 45.00, ("white", "gray", "navy"), 50,
     "Soft absorbent towels: two bath towels and two hand towels in organic cotton. Bathroom.", True),
    ("HM-2003", "Ceramic Table Lamp", "home", 69.00, ("white", "terracotta"), 14,
     "Hand-glazed ceramic lamp with linen shade for bedside or living room; E26 bulb not included.", True),
    ("HM-2004", "Stainless Steel Cookware Set (10 pieces)", "home", 199.00, ("steel",), 9,
     "Tri-ply stainless steel pots and pans with lids; induction compatible and oven safe. Kitchen.", True),
    ("HM-2005", "Cast Iron Dutch Oven 5.5 qt", "home", 79.00, ("red", "blue", "black"), 22,
     "Enamelled cast iron pot for braising, baking bread and slow cooking. Kitchen.", True),
    ("HM-2006", "Bamboo Cutting Board Set", "home", 35.00, ("natural",), 64,
     "Three bamboo chopping boards in different sizes with juice grooves. Kitchen.", True),
    ("HM-2007", "Memory Foam Pillow", "home", 49.00, ("white",), 40,
     "Contoured memory foam pillow with washable cover for side and back sleepers. Bedding.", True),
    ("HM-2008", "Glass Food Storage Set (12 pieces)", "home", 39.00, ("clear",), 0,
     "Oven-safe glass containers with leak-proof lids for meal prep and leftovers. Kitchen.", True),
    ("HM-2009", "Personal Blender", "home", 59.00, ("black", "red", "mint"), 27,
     "Compact 600 W blender with two travel cups for smoothies and shakes. Kitchen.", True),
    ("CL-3001", "Merino Wool Crew Sweater", "clothing", 79.00, ("navy", "charcoal", "oatmeal"), 38,
     "Fine-knit merino wool sweater, sizes XS-XXL; machine washable on wool cycle.", True),
    ("CL-3002", "Waterproof Rain Jacket", "clothing", 119.00, ("black", "olive", "yellow"), 25,
     "Breathable waterproof jacket with hood and taped seams, sizes XS-XXL. Outerwear, coat.", True),
    ("CL-3003", "Organic Cotton T-Shirt", "clothing", 24.00, ("white", "black", "heather gray"), 150,
     "Classic crew-neck tee in organic cotton, sizes XS-XXL.", True),
    ("CL-3004", "Slim Fit Chinos", "clothing", 59.00, ("khaki", "navy"), 48,
     "Stretch cotton chino trousers (pants) with a slim fit, waist 28-40.", True),
    ("CL-3005", "Running Sneakers", "clothing", 99.00, ("white", "black"), 33,
     "Lightweight cushioned running shoes (trainers), sizes US 5-13.", True),
    ("CL-3006", "Cashmere Scarf", "clothing", 69.00, ("camel", "gray"), 0,
     "Pure cashmere scarf, 180 x 30 cm, soft and warm. Accessories.", True),
    ("GC-5050", "Northwind Gift Card ($50)", "gift cards", 50.00, (), 500,
     "A $50 gift card in a gift envelope, shipped free; never expires. Gift cards are not returnable.", False),
)

# id, name, email, phone, tier, language, address, country
CUSTOMERS: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("cust-1", "Alice Martin", "alice@example.com", "+1 217-555-0101", "standard", "en",
     "12 Oak Street, Springfield, IL 62704, USA", "US"),
    ("cust-2", "Bob Chen", "bob.chen@example.com", "+1 206-555-0102", "gold", "en",
     "4410 Fremont Ave N, Seattle, WA 98103, USA", "US"),
    ("cust-3", "Victoria Hughes", "victoria.hughes@example.com", "+1 212-555-0103", "vip", "en",
     "88 Park Avenue, Apt 12B, New York, NY 10016, USA", "US"),
    ("cust-4", "Lukas Becker", "lukas.becker@example.de", "+49 30 5550 1040", "gold", "de",
     "Kastanienallee 21, 10435 Berlin, Germany", "DE"),
    ("cust-5", "Sofía García", "sofia.garcia@example.es", "+34 915 550 105", "standard", "es",
     "Calle de Alcalá 120, 28009 Madrid, Spain", "ES"),
    ("cust-6", "David Okafor", "david.okafor@example.com", "+1 512-555-0106", "standard", "en",
     "2301 S Lamar Blvd, Austin, TX 78704, USA", "US"),
    ("cust-7", "Emma Wilson", "emma.wilson@example.co.uk", "+44 161 555 0107", "standard", "en",
     "14 Greenfield Road, Manchester M20 2LN, United Kingdom", "GB"),
    ("cust-8", "Raj Patel", "raj.patel@example.ca", "+1 416-555-0108", "gold", "en",
     "250 King Street West, Toronto, ON M5V 1J2, Canada", "CA"),
    ("cust-9", "Chloé Dubois", "chloe.dubois@example.fr", "+33 1 55 50 01 09", "standard", "fr",
     "27 Rue des Martyrs, 75009 Paris, France", "FR"),
    ("cust-10", "Noah Williams", "noah.williams@example.com", "+1 303-555-0110", "standard", "en",
     "901 Elm Street, Denver, CO 80206, USA", "US"),
    ("cust-11", "Hannah Kim", "hannah.kim@example.com", "+1 415-555-0111", "standard", "en",
     "1550 Mission Street, San Francisco, CA 94103, USA", "US"),
    ("cust-12", "Tom Novak", "tom.novak@example.com", "+1 614-555-0112", "standard", "en",
     "37 Maple Drive, Columbus, OH 43215, USA", "US"),
)

GUEST_EMAIL = "jordan.lee@example.net"
GUEST_ADDRESS = "500 Pine Street, Portland, OR 97204, USA"

# Key orders: id, customer (None = guest), status, placed (days before today), eta / delivered (days from today,
# negative = past), carrier, items [(sku, qty)]. "when" is the eta for in-transit/processing/lost orders and the
# delivery day for delivered/returned ones.
KEY_ORDERS: tuple[tuple[str, str | None, str, int, int | None, str | None, tuple[tuple[str, int], ...]], ...] = (
    ("A10001", "cust-1", "delivered", 16, -10, "UPS", (("EL-1001", 1), ("EL-1004", 1))),
    ("A10002", "cust-1", "shipped", 3, 2, "UPS", (("CL-3001", 1),)),
    ("A10003", "cust-1", "processing", 1, 5, None, (("HM-2005", 1), ("HM-2006", 1))),
    ("A10004", "cust-1", "delivered", 50, -45, "UPS", (("HM-2003", 1),)),
    ("A10005", "cust-2", "out_for_delivery", 4, 0, "FedEx", (("EL-1003", 1), ("EL-1009", 1))),
    ("A10006", "cust-2", "returned", 46, -40, "FedEx", (("CL-3002", 1),)),
    ("A10007", "cust-2", "processing", 0, 4, None, (("EL-1005", 1),)),
    ("A10008", "cust-3", "lost_in_transit", 20, -12, "UPS", (("EL-1006", 1), ("CL-3006", 1))),
    ("A10009", "cust-3", "delivered", 9, -5, "UPS", (("HM-2004", 1), ("HM-2007", 2))),
    ("A10010", "cust-3", "processing", 1, 4, None, (("EL-1002", 1), ("HM-2001", 1))),
    ("A10011", "cust-4", "shipped", 14, -4, "DHL", (("HM-2002", 2), ("HM-2008", 1))),
    ("A10012", "cust-4", "delivered", 18, -12, "DHL", (("EL-1007", 1), ("EL-1008", 2))),
    ("A10013", "cust-5", "shipped", 5, 3, "DHL", (("CL-3003", 3), ("CL-3004", 1))),
    ("A10014", "cust-5", "cancelled", 25, None, None, (("CL-3005", 1),)),
    ("A10015", "cust-6", "shipped", 13, -6, "USPS", (("HM-2009", 1),)),
    ("A10016", "cust-6", "delivered", 6, -2, "FedEx", (("EL-1003", 1), ("GC-5050", 1))),
)
# order id, return status, created (days after delivery), reason
KEY_RETURNS: tuple[tuple[str, str, int, str], ...] = (
    ("A10006", "refunded", 5, "Too small"),
    ("A10012", "awaiting_item", 9, "No longer needed"),
)
GUEST_ORDERS = (
    ("A10038", None, "shipped", 2, 1, "USPS", (("EL-1009", 1), ("CL-3003", 2))),
    ("A10039", None, "processing", 0, 5, None, (("HM-2007", 1),)),
    ("A10040", None, "delivered", 12, -8, "UPS", (("EL-1008", 1), ("HM-2006", 1))),
)
FILLER_CUSTOMERS = ("cust-7", "cust-8", "cust-9", "cust-11", "cust-12")
FILLER_STATUSES = (
    "delivered", "delivered", "shipped", "delivered", "processing", "delivered", "cancelled", "returned",
    "delivered", "out_for_delivery", "delivered", "shipped", "delivered", "delivered", "processing", "delivered",
    "returned", "delivered", "shipped", "cancelled", "delivered",
)  # A10017..A10037
RETURN_REASONS = ("Changed my mind", "No longer needed", "Not as described", "Did not meet expectations")

# (free from subtotal, fee) per destination; kb/shipping.md "Shipping options and costs"
SHIPPING_RATES = {"US": (50.00, 5.95), "CA": (100.00, 9.95)}
INTL_RATE = (150.00, 14.95)
CARRIERS = {"US": ("UPS", "FedEx", "USPS"), "CA": ("Canada Post",)}
INTL_CARRIER = "DHL"

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE COLLATE NOCASE, phone TEXT NOT NULL,
    tier TEXT NOT NULL CHECK (tier IN ('standard', 'gold', 'vip')), language TEXT NOT NULL, address TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price_cents INTEGER NOT NULL,
    colors TEXT NOT NULL, in_stock INTEGER NOT NULL, description TEXT NOT NULL, returnable INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, customer_id TEXT REFERENCES customers(id), email TEXT NOT NULL COLLATE NOCASE,
    status TEXT NOT NULL CHECK (status IN ('processing', 'shipped', 'out_for_delivery', 'delivered', 'cancelled',
                                           'returned', 'lost_in_transit')),
    placed_at TEXT NOT NULL, total_cents INTEGER NOT NULL, shipping_cents INTEGER NOT NULL, currency TEXT NOT NULL,
    carrier TEXT, tracking_number TEXT, eta TEXT, delivered_at TEXT, shipping_address TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, placed_at);
CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders(id), line INTEGER NOT NULL, sku TEXT NOT NULL, name TEXT NOT NULL,
    quantity INTEGER NOT NULL, unit_price_cents INTEGER NOT NULL, PRIMARY KEY (order_id, line)
);
CREATE TABLE IF NOT EXISTS returns (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES orders(id), reason TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, refund_cents INTEGER NOT NULL, label_id TEXT NOT NULL,
    damaged INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS returns_by_order ON returns (order_id);
CREATE TABLE IF NOT EXISTS password_resets (
    id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL, customer_id TEXT, requested_at TEXT NOT NULL,
    sent INTEGER NOT NULL
);
"""
TABLES = ("password_resets", "returns", "order_items", "orders", "products", "customers", "meta", "schema_version")


# ------------------------------------------------------------------------------------------------ helpers


def _cents(amount: float) -> int:
    return int(round(amount * 100))


def _money(cents: int, currency: str = "USD") -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    value = f"{cents / 100:,.2f}"
    return f"{symbol}{value}" if symbol else f"{value} {currency}"


def _day(d: date) -> str:
    return f"{d:%B} {d.day}, {d.year}"


def _ids(ids: Sequence[str]) -> str:
    ids = list(ids)
    if len(ids) <= 1:
        return "".join(ids)
    return ", ".join(ids[:-1]) + " and " + ids[-1]


def _digits(key: str, n: int) -> str:
    out = ""
    counter = 0
    while len(out) < n:
        out += str(int(hashlib.sha256(f"{key}:{counter}".encode()).hexdigest(), 16))
        counter += 1
    return out[:n]


def _tracking(carrier: str, order_id: str) -> str:
    if carrier == "UPS":
        h = hashlib.sha256(order_id.encode()).hexdigest().upper()
        return "1Z" + h[:6] + "03" + _digits(order_id, 8)
    if carrier == "FedEx":
        return _digits(order_id, 12)
    if carrier == "USPS":
        return "9400" + _digits(order_id, 18)
    if carrier == "Canada Post":
        return _digits(order_id, 16)
    return _digits(order_id, 10)  # DHL


def _label_id(return_id: str) -> str:
    return "LBL-" + hashlib.sha256(f"label:{return_id}".encode()).hexdigest()[:8].upper()


def canonical_order_id(text: str | None) -> str | None:
    """``" #a10007 "`` → ``"A10007"``; None when it is not an order id."""
    if not text:
        return None
    candidate = re.sub(r"[\s#\-]", "", str(text)).upper()
    return candidate if ORDER_ID_RE.match(candidate) else None


def _norm_email(email: str | None) -> str:
    return (email or "").strip().lower()


_WORD = re.compile(r"[a-z0-9]+")
_SEARCH_STOP = frozenset(
    "a an and any are do does for have has i in is it me my of on or please show the to with you your "
    "what which there do we can get need want looking buy sell some".split()
)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _SEARCH_STOP}


# ------------------------------------------------------------------------------------------------ the store


class DemoStore:
    """A :class:`~bot.store.base.Backend` on SQLite (WAL). One connection, guarded by a lock: safe to share
    between threads; writes use ``BEGIN IMMEDIATE`` so that separate processes on the same file are safe too."""

    def __init__(self, path: Path | str, *, today: date | None = None) -> None:
        self.path = Path(path)
        self.today = today or DEMO_TODAY
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        try:
            self._init_schema()
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing ------------------------------------------------------------------------------------------

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _init_schema(self) -> None:
        with self._tx(write=True) as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0]
            if version is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                self._seed(db)
            elif version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has store schema version {version}, newer than this code ({SCHEMA_VERSION})"
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def copy(self) -> DemoStore:
        """An independent in-memory copy of this store's current content (SQLite backup: ~0.1 ms, no reseeding).

        For replays that each need a pristine store: seed one, copy it per conversation.
        """
        clone = DemoStore.__new__(DemoStore)
        clone.path = Path(":memory:")
        clone.today = self.today
        clone._lock = threading.RLock()
        clone._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        clone._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.backup(clone._conn)
        clone._conn.execute("PRAGMA foreign_keys=ON")
        return clone

    def __enter__(self) -> DemoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Delete everything and seed again (for tests and demos)."""
        with self._tx(write=True) as db:
            for table in TABLES:
                db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'password_resets'")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            self._seed(db)

    def _now(self) -> datetime:
        """Wall-clock time of day on the store's `today` (so that fixed-date tests stay consistent)."""
        return datetime.combine(self.today, datetime.now().time().replace(microsecond=0))

    # -- seeding -------------------------------------------------------------------------------------------

    def _seed(self, db: sqlite3.Connection) -> None:
        today = self.today
        rng = random.Random(SEED)
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('seed', ?), ('seed_today', ?)", (str(SEED), today.isoformat())
        )
        products = {row[0]: row for row in CATALOG}
        db.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(s, n, c, _cents(p), json.dumps(list(col)), st, d, int(r)) for s, n, c, p, col, st, d, r in CATALOG],
        )
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", [c[:7] for c in CUSTOMERS])
        customers = {c[0]: c for c in CUSTOMERS}

        def add_order(oid: str, cust: str | None, status: str, placed_days: int, when: int | None,
                      carrier: str | None, items: Sequence[tuple[str, int]], hour: int = 10, minute: int = 15) -> None:
            if cust is None:
                email, address, country = GUEST_EMAIL, GUEST_ADDRESS, "US"
            else:
                _, _, email, _, _, _, address, country = customers[cust]
            placed = datetime.combine(today - timedelta(days=placed_days), time(hour, minute))
            subtotal = sum(_cents(products[sku][3]) * qty for sku, qty in items)
            free_from, fee = SHIPPING_RATES.get(country, INTL_RATE)
            shipping = 0 if subtotal >= _cents(free_from) else _cents(fee)
            day = (today + timedelta(days=when)).isoformat() if when is not None else None
            eta = day if status in ("processing", "shipped", "out_for_delivery", "lost_in_transit") else None
            delivered = day if status in ("delivered", "returned") else None
            tracking = _tracking(carrier, oid) if carrier and status not in ("processing", "cancelled") else None
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, 'USD', ?, ?, ?, ?, ?)",
                (oid, cust, email, status, placed.isoformat(), subtotal + shipping, shipping,
                 carrier if tracking else None, tracking, eta, delivered, address),
            )
            db.executemany(
                "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?)",
                [(oid, i, sku, products[sku][1], qty, _cents(products[sku][3])) for i, (sku, qty) in
                 enumerate(items, 1)],
            )

        for row in KEY_ORDERS:
            add_order(*row)

        returns: list[tuple[str, str, int, str]] = list(KEY_RETURNS)
        skus = [row[0] for row in CATALOG if row[7]]
        for n, status in enumerate(FILLER_STATUSES):
            oid = f"A{10017 + n}"
            cust = rng.choice(FILLER_CUSTOMERS)
            country = customers[cust][7]
            carrier = rng.choice(CARRIERS.get(country, (INTL_CARRIER,)))
            items = [(sku, rng.choice((1, 1, 1, 2))) for sku in rng.sample(skus, rng.choice((1, 1, 2, 3)))]
            if status == "processing":
                placed, when = rng.randint(0, 2), rng.randint(3, 6)
            elif status in IN_TRANSIT:
                placed = rng.randint(2, 5)
                when = 0 if status == "out_for_delivery" else rng.randint(1, 4)
            elif status == "cancelled":
                placed, when = rng.randint(5, 60), None
            elif status == "returned":
                placed = rng.randint(40, 120)
                when = -(placed - rng.randint(3, 6))
                returns.append((oid, "refunded", rng.randint(3, 20), rng.choice(RETURN_REASONS)))
            else:  # delivered
                placed = rng.randint(8, 120)
                when = -(placed - rng.randint(3, 6))
            add_order(oid, cust, status, placed, when, carrier, items, rng.randint(7, 22), rng.randint(0, 59))

        for row in GUEST_ORDERS:
            add_order(*row)

        for n, (oid, status, after, reason) in enumerate(returns):
            rid = f"R{20001 + n}"
            order = self._load_order(db, oid)
            assert order is not None and order.delivered_at is not None
            created = datetime.combine(order.delivered_at + timedelta(days=after), time(14, 30))
            refund = self._refund_cents(db, order, damaged=False)
            db.execute(
                "INSERT INTO returns VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (rid, oid, reason, status, created.isoformat(), refund, _label_id(rid)),
            )

    # -- row mapping ---------------------------------------------------------------------------------------

    @staticmethod
    def _customer(row: sqlite3.Row) -> Customer:
        return Customer(
            id=row["id"], name=row["name"], email=row["email"], phone=row["phone"], tier=row["tier"],
            language=row["language"], address=row["address"],
        )

    @staticmethod
    def _product(row: sqlite3.Row) -> Product:
        return Product(
            sku=row["sku"], name=row["name"], category=row["category"], price=row["price_cents"] / 100,
            colors=tuple(json.loads(row["colors"])), in_stock=row["in_stock"], description=row["description"],
            returnable=bool(row["returnable"]),
        )

    @staticmethod
    def _return(row: sqlite3.Row) -> ReturnRequest:
        return ReturnRequest(
            id=row["id"], order_id=row["order_id"], reason=row["reason"], status=row["status"],
            created_at=datetime.fromisoformat(row["created_at"]), refund_amount=row["refund_cents"] / 100,
            label_id=row["label_id"], damaged=bool(row["damaged"]),
        )

    @staticmethod
    def _load_order(db: sqlite3.Connection, order_id: str) -> Order | None:
        row = db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            return None
        items = tuple(
            OrderItem(sku=r["sku"], name=r["name"], quantity=r["quantity"], unit_price=r["unit_price_cents"] / 100)
            for r in db.execute("SELECT * FROM order_items WHERE order_id = ? ORDER BY line", (order_id,))
        )
        return Order(
            id=row["id"], customer_id=row["customer_id"], email=row["email"], status=row["status"],
            placed_at=datetime.fromisoformat(row["placed_at"]), items=items, total=row["total_cents"] / 100,
            currency=row["currency"], carrier=row["carrier"], tracking_number=row["tracking_number"],
            eta=date.fromisoformat(row["eta"]) if row["eta"] else None,
            delivered_at=date.fromisoformat(row["delivered_at"]) if row["delivered_at"] else None,
            shipping_address=row["shipping_address"], shipping_cost=row["shipping_cents"] / 100,
        )

    @staticmethod
    def _non_returnable(db: sqlite3.Connection, order: Order) -> list[OrderItem]:
        """Items of the order that cannot be returned (kb/returns.md "Items that cannot be returned")."""
        skus = {r[0] for r in db.execute("SELECT sku FROM products WHERE returnable = 0")}
        return [i for i in order.items if i.sku in skus]

    @classmethod
    def _refund_cents(cls, db: sqlite3.Connection, order: Order, *, damaged: bool) -> int:
        excluded = cls._non_returnable(db, order)
        cents = sum(_cents(i.unit_price) * i.quantity for i in order.items if i not in excluded)
        if damaged and cents:
            cents += _cents(order.shipping_cost)  # kb/damaged.md: original shipping refunded too
        return cents

    @classmethod
    def _customer_row(cls, db: sqlite3.Connection, customer_id: str | None) -> Customer | None:
        row = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone() if customer_id else None
        return cls._customer(row) if row else None

    # -- customers -----------------------------------------------------------------------------------------

    def get_customer(self, customer_id: str | None) -> Customer | None:
        with self._tx() as db:
            return self._customer_row(db, customer_id)

    def find_customer_by_email(self, email: str) -> Customer | None:
        email = _norm_email(email)
        if not email:
            return None
        with self._tx() as db:
            row = db.execute("SELECT * FROM customers WHERE email = ?", (email,)).fetchone()
        return self._customer(row) if row else None

    def list_customers(self) -> list[Customer]:
        with self._tx() as db:
            rows = db.execute("SELECT * FROM customers ORDER BY CAST(SUBSTR(id, 6) AS INTEGER), id").fetchall()
        return [self._customer(r) for r in rows]

    # -- orders --------------------------------------------------------------------------------------------

    def _authorise(
        self, db: sqlite3.Connection, order_id: str, customer_id: str | None, email: str | None, verb: str
    ) -> tuple[Order | None, ActionResult | None]:
        """(order, None) when the caller may see/act on the order, else (None, refusal without order details)."""
        oid = canonical_order_id(order_id)
        order = self._load_order(db, oid) if oid else None
        if order is None:
            return None, ActionResult(
                False, "not_found",
                f"No order {oid} was found; please check the order number." if oid else
                "No order with that number was found. Order numbers look like A12345.",
                {"order_id": oid},
            )
        customer = self._customer_row(db, customer_id)  # an unknown id is treated as a guest
        given = _norm_email(email)
        order_email = order.email.lower()
        if (
            (customer is not None and (order.customer_id == customer.id or customer.email.lower() == order_email))
            or (given and given == order_email)
        ):
            return order, None
        if customer is not None and not given:
            return None, ActionResult(
                False, "not_yours",
                f"Order {order.id} is not linked to your account; please check the order number.",
                {"order_id": order.id},
            )
        if not given:
            return None, ActionResult(
                False, "verification_needed",
                f"To {verb} order {order.id}, please provide the email address used to place it.",
                {"order_id": order.id},
            )
        return None, ActionResult(
            False, "not_yours", f"The email address given does not match order {order.id}.", {"order_id": order.id}
        )

    def _returns(self, db: sqlite3.Connection, order_id: str) -> list[ReturnRequest]:
        rows = db.execute("SELECT * FROM returns WHERE order_id = ? ORDER BY created_at, id", (order_id,))
        return [self._return(r) for r in rows]

    def _status_message(self, order: Order, returns: list[ReturnRequest]) -> str:
        oid, today = order.id, self.today
        tracking = f" (tracking number {order.tracking_number})" if order.tracking_number else ""
        status = order.status
        if status == "processing":
            text = f"Order {oid} is being prepared and will ship within 1-2 business days"
            return text + (f"; estimated delivery is {_day(order.eta)}." if order.eta else ".")
        if status == "shipped":
            if order.eta and order.eta < today:
                return (f"Order {oid} shipped with {order.carrier}{tracking} and was expected on {_day(order.eta)}, "
                        "so it is running late.")
            when = f" and is expected to arrive on {_day(order.eta)}" if order.eta else ""
            return f"Order {oid} has shipped with {order.carrier}{tracking}{when}."
        if status == "out_for_delivery":
            return f"Order {oid} is out for delivery today with {order.carrier}{tracking}."
        if status == "delivered":
            text = f"Order {oid} was delivered on {_day(order.delivered_at)}." if order.delivered_at else \
                f"Order {oid} was delivered."
            open_returns = [r for r in returns if r.status in ("awaiting_item", "received")]
            if open_returns:
                r = open_returns[-1]
                amount = _money(_cents(r.refund_amount), order.currency)
                return text + (f" Return {r.id} is open; the refund of {amount} will be issued once we receive and "
                               "inspect the item.")
            if order.delivered_at:
                deadline = order.delivered_at + timedelta(days=RETURN_WINDOW_DAYS)
                if deadline >= today:
                    return text + f" It can be returned until {_day(deadline)}."
            return text
        if status == "cancelled":
            return f"Order {oid} was cancelled."
        if status == "returned":
            refunded = [r for r in returns if r.status == "refunded"]
            if refunded:
                amount = _money(_cents(refunded[-1].refund_amount), order.currency)
                return f"Order {oid} was returned and a refund of {amount} was issued to the original payment method."
            return f"Order {oid} was returned."
        return (f"Order {oid} was reported lost in transit by {order.carrier}{tracking}; a support agent can "
                "arrange a replacement or a refund.")

    def get_order(self, order_id: str, *, customer_id: str | None = None, email: str | None = None) -> ActionResult:
        with self._tx() as db:
            order, refusal = self._authorise(db, order_id, customer_id, email, "look up")
            if refusal:
                return refusal
            assert order is not None
            returns = self._returns(db, order.id)
        data: dict[str, Any] = {"order": order, "delayed": order.is_delayed(self.today), "returns": returns}
        if order.delivered_at and order.status == "delivered":
            data["return_deadline"] = order.delivered_at + timedelta(days=RETURN_WINDOW_DAYS)
        return ActionResult(True, "found", self._status_message(order, returns), data)

    def list_orders(self, customer_id: str, limit: int = 5) -> list[Order]:
        if not customer_id or limit <= 0:
            return []
        with self._tx() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM orders WHERE customer_id = ? ORDER BY placed_at DESC, id DESC LIMIT ?",
                (customer_id, limit),
            )]
            return [o for o in (self._load_order(db, i) for i in ids) if o is not None]

    def cancel_order(
        self, order_id: str, *, customer_id: str | None = None, email: str | None = None
    ) -> ActionResult:
        with self._tx(write=True) as db:
            order, refusal = self._authorise(db, order_id, customer_id, email, "cancel")
            if refusal:
                return refusal
            assert order is not None
            oid, status = order.id, order.status
            data: dict[str, Any] = {"order_id": oid, "status": status}
            if status == "processing":
                db.execute("UPDATE orders SET status = 'cancelled', eta = NULL WHERE id = ?", (oid,))
                updated = self._load_order(db, oid)
                amount = _money(_cents(order.total), order.currency)
                return ActionResult(
                    True, "cancelled",
                    f"Order {oid} has been cancelled. The payment hold of {amount} will be released within "
                    f"{HOLD_RELEASE}.",
                    {"order": updated, "order_id": oid, "status": "cancelled"},
                )
        if status == "cancelled":
            return ActionResult(False, "already_cancelled", f"Order {oid} has already been cancelled.", data)
        if status in IN_TRANSIT:
            return ActionResult(
                False, "not_cancellable",
                f"Order {oid} has already shipped and can no longer be cancelled. Once it is delivered, you can "
                f"return it within {RETURN_WINDOW_DAYS} days for a refund.",
                data | {"suggest": "return_after_delivery"},
            )
        if status == "delivered":
            delivered = order.delivered_at or self.today
            if (self.today - delivered).days <= RETURN_WINDOW_DAYS:
                return ActionResult(
                    False, "not_cancellable",
                    f"Order {oid} has already been delivered, so it can't be cancelled; you can start a return "
                    f"within {RETURN_WINDOW_DAYS} days of delivery instead.",
                    data | {"suggest": "return"},
                )
            return ActionResult(
                False, "not_cancellable",
                f"Order {oid} was delivered on {_day(delivered)}, so it can't be cancelled.", data,
            )
        if status == "returned":
            return ActionResult(False, "not_cancellable", f"Order {oid} has already been returned.", data)
        return ActionResult(  # lost_in_transit
            False, "not_cancellable",
            f"Order {oid} was lost in transit, so it can't be cancelled; a support agent can arrange a "
            "replacement or a refund.",
            data | {"suggest": "handoff"},
        )

    # -- returns -------------------------------------------------------------------------------------------

    def returns_for_order(self, order_id: str) -> list[ReturnRequest]:
        oid = canonical_order_id(order_id)
        if not oid:
            return []
        with self._tx() as db:
            return self._returns(db, oid)

    def start_return(
        self,
        order_id: str,
        reason: str,
        *,
        damaged: bool = False,
        customer_id: str | None = None,
        email: str | None = None,
    ) -> ActionResult:
        reason = " ".join((reason or "").split())[:500] or "Not specified"
        with self._tx(write=True) as db:
            order, refusal = self._authorise(db, order_id, customer_id, email, "return")
            if refusal:
                return refusal
            assert order is not None
            result = self._check_returnable(db, order, damaged)
            if result is not None:
                return result
            refund = self._refund_cents(db, order, damaged=damaged)
            if refund == 0:
                return ActionResult(
                    False, "not_returnable", f"The items in order {order.id} (gift cards) can't be returned.",
                    {"order_id": order.id, "status": order.status},
                )
            last = db.execute("SELECT MAX(CAST(SUBSTR(id, 2) AS INTEGER)) FROM returns").fetchone()[0]
            rid = f"R{(last or 20000) + 1}"
            label = _label_id(rid)
            now = self._now()
            db.execute(
                "INSERT INTO returns VALUES (?, ?, ?, 'awaiting_item', ?, ?, ?, ?)",
                (rid, order.id, reason, now.isoformat(), refund, label, int(damaged)),
            )
            request = self._return(db.execute("SELECT * FROM returns WHERE id = ?", (rid,)).fetchone())
            excluded = [i.name for i in self._non_returnable(db, order)]
        amount = _money(refund, order.currency)
        ship_by = self.today + timedelta(days=RETURN_SHIP_BY_DAYS)
        label_text = f"A prepaid return label ({label}) has been emailed to you"
        if damaged:
            message = (f"Return {rid} is open for the damaged item(s) in order {order.id}. {label_text}. Once we "
                       f"receive the item(s), we will send a replacement or issue a refund of {amount}, whichever "
                       "you prefer.")
        else:
            message = (f"Return {rid} is open for order {order.id}. {label_text}; please send the item(s) back "
                       f"by {_day(ship_by)}. A refund of {amount} to your original payment method will be issued "
                       "once we receive and inspect them.")
        if excluded:
            message += f" Not included (not returnable): {', '.join(excluded)}."
        return ActionResult(
            True, "return_created", message,
            {"return": request, "order_id": order.id, "refund_amount": refund / 100, "label_id": label,
             "ship_by": ship_by, "damaged": damaged, "excluded_items": excluded,
             "resolution_options": ["replacement", "refund"] if damaged else ["refund"]},
        )

    def _check_returnable(self, db: sqlite3.Connection, order: Order, damaged: bool) -> ActionResult | None:
        oid, status = order.id, order.status
        data = {"order_id": oid, "status": status}
        returns = [r for r in self._returns(db, oid) if r.status != "rejected"]
        if status == "returned" or returns:
            message = (f"Return {returns[-1].id} already exists for order {oid}." if returns else
                       f"Order {oid} has already been returned.")
            return ActionResult(
                False, "already_returned", message, data | {"return_id": returns[-1].id if returns else None}
            )
        if status == "processing":
            return ActionResult(
                False, "not_delivered",
                f"Order {oid} hasn't shipped yet, so it can simply be cancelled instead of returned.",
                data | {"suggest": "cancel"},
            )
        if status in IN_TRANSIT:
            return ActionResult(
                False, "not_delivered",
                f"Order {oid} hasn't been delivered yet; a return can be started once it arrives.", data,
            )
        if status == "lost_in_transit":
            return ActionResult(
                False, "not_delivered",
                f"Order {oid} was lost in transit, so there is nothing to return; a support agent can arrange a "
                "replacement or a refund.",
                data | {"suggest": "handoff"},
            )
        if status == "cancelled":
            return ActionResult(False, "not_returnable", f"Order {oid} was cancelled, so there is nothing to return.",
                                data)
        delivered = order.delivered_at or self.today
        age = (self.today - delivered).days
        window = DAMAGED_WINDOW_DAYS if damaged else RETURN_WINDOW_DAYS
        if age > window:
            what = "window for damaged or defective items" if damaged else "return window"
            message = (f"Order {oid} was delivered on {_day(delivered)}, more than {window} days ago, so it is "
                       f"outside the {window}-day {what}.")
            if damaged:
                message += " It may still be covered by our 1-year warranty."
            elif age <= DAMAGED_WINDOW_DAYS:
                message += (f" Damaged or defective items can still be reported within {DAMAGED_WINDOW_DAYS} days "
                            "of delivery.")
            else:
                message += " Defective items may still be covered by our 1-year warranty."
            return ActionResult(
                False, "outside_return_window", message,
                data | {"delivered_at": delivered, "days_since_delivery": age, "window_days": window},
            )
        return None

    # -- account -------------------------------------------------------------------------------------------

    def send_password_reset(self, email: str) -> ActionResult:
        address = _norm_email(email)
        if not EMAIL_RE.match(address):
            return ActionResult(
                False, "invalid_email", "That doesn't look like an email address; please check it and try again."
            )
        now = self._now()
        with self._tx(write=True) as db:
            row = db.execute("SELECT id FROM customers WHERE email = ?", (address,)).fetchone()
            recent = db.execute(
                "SELECT COUNT(*) FROM password_resets WHERE email = ? AND sent = 1 AND requested_at > ?",
                (address, (now - timedelta(hours=1)).isoformat()),
            ).fetchone()[0]
            sent = row is not None and recent < RESET_MAX_PER_HOUR
            db.execute(
                "INSERT INTO password_resets (email, customer_id, requested_at, sent) VALUES (?, ?, ?, ?)",
                (address, row[0] if row else None, now.isoformat(), int(sent)),
            )
        # Identical answer whether or not the account exists (no account enumeration); nothing in `data`.
        return ActionResult(
            True, "reset_sent",
            "If an account exists for that email address, a password reset link has been sent to it. The link "
            f"expires in {RESET_LINK_MINUTES} minutes.",
        )

    def password_reset_requests(self) -> list[dict[str, Any]]:
        """The reset log (for tests and the agent console): email, customer_id, requested_at, sent."""
        with self._tx() as db:
            rows = db.execute("SELECT email, customer_id, requested_at, sent FROM password_resets ORDER BY id")
            return [dict(r) | {"sent": bool(r["sent"])} for r in rows]

    def update_address(self, customer_id: str | None, new_address: str) -> ActionResult:
        if not customer_id:
            return ActionResult(
                False, "verification_needed", "Please sign in to your account to change the address on file."
            )
        address = ", ".join(part.strip() for part in re.split(r"[\r\n]+", new_address or "") if part.strip())
        address = re.sub(r"\s+", " ", address).strip(" ,")
        if len(address) < ADDRESS_MIN or not re.search(r"[^\W\d_]", address) or not re.search(r"\d", address):
            return ActionResult(
                False, "invalid_address",
                "Please give the full address, including the street and house number, city and postal code.",
            )
        if len(address) > ADDRESS_MAX:
            return ActionResult(
                False, "invalid_address", f"That address is too long; please keep it under {ADDRESS_MAX} characters."
            )
        with self._tx(write=True) as db:
            customer = self._customer_row(db, customer_id)
            if customer is None:
                return ActionResult(False, "not_found", "No customer account was found for this conversation.")
            if customer.address.casefold() == address.casefold():
                return ActionResult(True, "unchanged", "That is already the address on file.", {"address": address})
            db.execute("UPDATE customers SET address = ? WHERE id = ?", (address, customer_id))
            updated = [r[0] for r in db.execute(
                "SELECT id FROM orders WHERE customer_id = ? AND status = 'processing' ORDER BY id", (customer_id,))]
            db.executemany("UPDATE orders SET shipping_address = ? WHERE id = ?", [(address, i) for i in updated])
            in_transit = [r[0] for r in db.execute(
                "SELECT id FROM orders WHERE customer_id = ? AND status IN ('shipped', 'out_for_delivery') "
                "ORDER BY id", (customer_id,))]
        message = "Your address on file has been updated."
        if updated:
            plural = "s" if len(updated) > 1 else ""
            message += f" Order{plural} {_ids(updated)} will ship to the new address."
        if in_transit:
            verb = "have" if len(in_transit) > 1 else "has"
            plural = "s" if len(in_transit) > 1 else ""
            message += (f" Order{plural} {_ids(in_transit)} {verb} already shipped and will still be delivered "
                        "to the previous address.")
        return ActionResult(
            True, "address_updated", message,
            {"address": address, "updated_orders": updated, "not_updated_orders": in_transit},
        )

    # -- catalogue -----------------------------------------------------------------------------------------

    def get_product(self, sku: str) -> Product | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM products WHERE sku = ?", ((sku or "").strip().upper(),)).fetchone()
        return self._product(row) if row else None

    def search_products(self, query: str, limit: int = 3) -> list[Product]:
        terms = _words(query or "")
        if not terms or limit <= 0:
            return []
        with self._tx() as db:
            products = [self._product(r) for r in db.execute("SELECT * FROM products")]
        scored = []
        for p in products:
            name, category = _words(p.name), _words(p.category)
            colors, description = _words(" ".join(p.colors)), _words(p.description)
            score = sum(3 * (t in name) + 2 * (t in category) + 2 * (t in colors) + (t in description)
                        for t in terms)
            if score:
                scored.append((-score, p.in_stock == 0, p.sku, p))
        scored.sort(key=lambda x: x[:3])
        return [p for *_, p in scored[:limit]]
