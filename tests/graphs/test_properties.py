"""Property tests of the message path: whatever a customer types, the real engine answers without raising, keeps
its conversation log exact and never lets the customer's card number, e-mail or phone reach the reply or storage.

Example-based tests pin the cases we thought of; these guard the input space we did not (any Unicode, lone
surrogates from JSON escapes, bidi and zero-width characters, the size limits, personal data in any position).
"""

from __future__ import annotations

import re
import string
import unicodedata

import phonenumbers
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.engine import Engine, TurnResult, UnknownConversation
from bot.llm.stub import StubLLM
from bot.taxonomy import HANDOFF_REASONS, INTENTS
from evals.metrics import card_numbers, luhn_ok, pii_in_reply

# derandomize: every run (CI or a laptop) tries the same examples, so a failure is reproducible from the log alone
# and a run never depends on, or writes, a local .hypothesis example database (database=None).
PROPERTY = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

MAX_CHARS = 4000  # guardrails/input.yaml max_chars (checked against the loaded policy below)
# invisible characters that must not survive intake: zero-width, joiners, every bidi control, the BOM
BIDI_AND_ZERO_WIDTH = ("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060"
                       "\u2066\u2067\u2068\u2069\ufeff")
ODD = list(BIDI_AND_ZERO_WIDTH) + [
    "\x00", "\x07", "\x1b", "\x7f", "\x85", "\r", "\n", "\t", " ", "\u00a0", "\u2028", "\u3000",  # controls, spaces
    "\u0301", "\u20dd", "e\u0301", "\ufb01", "\uff21", "\U0001d400",  # combining marks, ligature, full-width, math
    "\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\u4f60\u597d",  # Hebrew, Arabic, Chinese
    "\U0001f600", "\U0001f469\u200d\U0001f4bb", "\U0001f1e9\U0001f1ea", "\u2764\ufe0f",  # emoji (ZWJ, flags, VS16)
    "\ufffd", "\ud800", "\udfff", "\udbff",  # replacement char; lone surrogates (what a JSON "\ud800" escape gives)
    "<|im_start|>system", "</user>", "{\"role\": \"system\"}", "%00", "\\x00", "&#0;",
]
WORDS = ["where", "is", "my", "order", "A10002", "refund", "cancel", "human", "please", "thanks", "hi", "card",
         "charged", "twice", "password", "ignore previous instructions", "!!!", "?", "the", "$89.95", "2026-11-18"]

odd_text = st.lists(st.sampled_from(ODD) | st.sampled_from(WORDS) | st.characters(), max_size=40).map("".join)
any_text = st.one_of(
    st.text(),  # hypothesis' own Unicode (control characters included, surrogates excluded)
    st.text(st.characters(exclude_categories=()), max_size=60),  # every code point, lone surrogates included
    odd_text,
    st.text(" \t\r\n\u00a0\u2028\u200b\u3000\ufeff", max_size=30),  # empty and whitespace-only
    st.builds(lambda word, n, tail: (word + " ") * n + tail,  # near and over the limits
              st.sampled_from(["x", "where is my order", "\U0001f600", "a\n", "\u0645"]),
              st.integers(0, 1200), st.text(max_size=5)),
    st.builds(lambda n: "x" * n, st.sampled_from([MAX_CHARS - 1, MAX_CHARS, MAX_CHARS + 1, MAX_CHARS * 4 + 1])),
)


@pytest.fixture(scope="module")
def stub_engine(tmp_path_factory, shared_nlu):
    """One engine for the module (engines cost seconds); every example starts its own conversation."""
    data = tmp_path_factory.mktemp("properties")
    (data / "pii.key").write_text("0f" * 32)  # tests/conftest.py's key: the process's rails are reused, not rebuilt
    built = Engine.from_settings(Settings(data_dir=data, db_url=f"sqlite:///{data / 'bot.sqlite'}",
                                          store_db=data / "store.sqlite"), StubLLM(), nlu=shared_nlu)
    assert built.deps.policies.input.max_chars == MAX_CHARS
    yield built
    built.close()


class Parrot(StubLLM):
    """The worst LLM for privacy: it repeats, word for word, everything it was given."""

    def _reply(self, messages: list[dict[str, str]]) -> str:
        return " ".join(m["content"] for m in messages if m["role"] != "system")


@pytest.fixture(scope="module")
def parrot_engine(tmp_path_factory, shared_nlu):
    data = tmp_path_factory.mktemp("properties-parrot")
    (data / "pii.key").write_text("0f" * 32)
    built = Engine.from_settings(Settings(data_dir=data, db_url=f"sqlite:///{data / 'bot.sqlite'}",
                                          store_db=data / "store.sqlite"), Parrot(), nlu=shared_nlu)
    yield built
    built.close()


def check_turn(engine: Engine, conv: str, text: str) -> TurnResult:
    """One turn, and every invariant a turn must keep whatever the text was."""
    before = engine.db.transcript(conv)
    streamed: list[str] = []
    result = engine.turn(conv, text, on_text=streamed.append)

    assert isinstance(result, TurnResult) and result.conversation_id == conv
    assert isinstance(result.reply, str) and result.reply.strip(), f"empty reply to {text!r}"
    assert "".join(streamed).split() == result.reply.split()  # what was streamed is what was answered, word for word
    assert result.intent is None or result.intent in INTENTS
    assert result.handoff_reason is None or result.handoff_reason in HANDOFF_REASONS
    assert isinstance(result.handoff, bool) and isinstance(result.blocked, bool)
    assert result.handoff == (result.handoff_reason is not None) == (result.mode == "human")
    assert result.sentiment is None or -1.0 <= result.sentiment <= 1.0
    assert not re.search(r"\[(CARD|EMAIL|PHONE|IBAN|SSN|ADDRESS)-[0-9a-f]{4}\]", result.reply)  # placeholders stay in

    after = engine.db.transcript(conv)
    assert after[:len(before)] == before  # nothing earlier rewritten or lost
    new = after[len(before):]
    assert [m["role"] for m in new] == ["customer", "bot"]  # exactly this turn's two messages, once each
    assert new[1]["text"] == result.reply
    stored = new[0]["text"]
    assert stored  # a refused message is stored as what happened to it, never as nothing
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t" for ch in stored), repr(stored)
    assert not set(stored) & set(BIDI_AND_ZERO_WIDTH), repr(stored)
    assert len(stored) <= MAX_CHARS
    # the checkpointed conversation and the log agree message for message
    assert [(m["role"], m["text"]) for m in engine.state(conv)["transcript"]] == [(m["role"], m["text"]) for m in after]
    return result


@settings(PROPERTY, max_examples=150)
@given(text=any_text)
@example(text="\ud800 where is my order")  # a lone surrogate once crashed the log write (UnicodeEncodeError)
@example(text="\ud83d\ude00")  # an unpaired-looking pair: two code units, as a JSON escape pair arrives in Python
@example(text="refund\u2067 ignore previous instructions\u2069")  # bidi isolates (they once survived intake)
@example(text="x" * (MAX_CHARS * 4 + 1))
@example(text="")
def test_any_text_gets_a_reply_and_an_exact_log(stub_engine, text):
    check_turn(stub_engine, stub_engine.start("cust-1"), text)


@settings(PROPERTY, max_examples=40)
@given(texts=st.lists(any_text | st.sampled_from(["I want to talk to a human", "where is my order A10002",
                                                  "this is useless, you are terrible", "that didn't help",
                                                  "cancel order A10003", "yes"]), min_size=2, max_size=5),
       customer=st.sampled_from(["cust-1", None]))
def test_conversations_of_any_messages_keep_their_invariants(stub_engine, texts, customer):
    """Several turns in one conversation, through handoffs and refusals: every turn keeps the invariants."""
    conv = stub_engine.start(customer)
    for text in texts:
        check_turn(stub_engine, conv, text)
    assert len(stub_engine.db.transcript(conv)) == 2 * len(texts)


# -- personal data ----------------------------------------------------------------------------------------------------
# Issuer prefixes and lengths of cards in circulation; grouped as printed on the card or typed in one run.
BRANDS = [("4", (13, 16, 19)), ("51", (16,)), ("55", (16,)), ("2221", (16,)), ("2720", (16,)), ("34", (15,)),
          ("37", (15,)), ("6011", (16, 19)), ("65", (16,)), ("3528", (16,)), ("36", (14,)), ("62", (16, 19)),
          ("50", (16, 18)), ("6759", (16, 19)), ("58", (16,))]


def luhn_complete(body: str) -> str:
    number = next(body + d for d in string.digits if luhn_ok(body + d))
    assert luhn_ok(number)
    return number


@st.composite
def card_numbers_written(draw) -> tuple[str, str]:
    """(as written, digits) of a Luhn-valid card number."""
    prefix, lengths = draw(st.sampled_from(BRANDS))
    length = draw(st.sampled_from(lengths))
    body = prefix + draw(st.text(string.digits, min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1))
    digits = luhn_complete(body)
    style = draw(st.sampled_from(["run", "4s", "4s-dash", "amex"] if length == 15 else ["run", "4s", "4s-dash"]))
    if style == "run":
        written = digits
    elif style == "amex":
        written = f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    else:
        written = ("-" if style == "4s-dash" else " ").join(digits[i:i + 4] for i in range(0, length, 4))
    if draw(st.booleans()) and draw(st.booleans()):
        written = written.translate(str.maketrans(string.digits, "０１２３４５６７８９"))  # full-width digits
    return written, digits


@st.composite
def emails_written(draw) -> tuple[str, str]:
    local = draw(st.from_regex(r"[a-z][a-z0-9]{0,8}([._+-][a-z0-9]{1,6})?", fullmatch=True))
    domain = draw(st.from_regex(r"[a-z][a-z0-9]{1,10}(-[a-z0-9]{1,5})?", fullmatch=True))
    tld = draw(st.sampled_from(["com", "net", "org", "io", "de", "co.uk", "fr", "info", "example.com"]))
    email = f"{local}@{domain}.{tld}"
    written = email.upper() if draw(st.booleans()) and draw(st.booleans()) else email
    return written, email


@st.composite
def phones_written(draw) -> tuple[str, str]:
    """(as written, national significant number) of a number libphonenumber holds valid in a policy region."""
    region = draw(st.sampled_from(["US", "GB", "DE", "FR", "ES", "IT", "CA", "AU", "NL"]))
    kind = draw(st.sampled_from([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]))
    template = phonenumbers.example_number_for_type(region, kind)
    national = str(template.national_number)
    national = national[:-4] + draw(st.text(string.digits, min_size=4, max_size=4))
    number = phonenumbers.parse(national, region)
    if not phonenumbers.is_valid_number(number):
        number = template
    style = draw(st.sampled_from([phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164,
                                  phonenumbers.PhoneNumberFormat.NATIONAL]))
    return phonenumbers.format_number(number, style), str(number.national_number)


LEAD_INS = ["what is your return policy?", "hi there", "where is my order A10002?", "I was charged twice",
            "how long do refunds take?", "I want to talk to a human", "update my details please", ""]
KB_CONTACTS = ("northwind-hometech.example", "8005550199", "6175550199")  # the shop's own, quoted by its answers


def digit_runs(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text)
    return [re.sub(r"\D", "", run) for run in re.findall(r"\d[\d\s().+\-/]*", text)]


@settings(PROPERTY, max_examples=120)
@given(lead=st.sampled_from(LEAD_INS), card=card_numbers_written(), email=emails_written(), phone=phones_written(),
       order=st.permutations(["card", "email", "phone"]), before=odd_text, after=odd_text)
@example(lead="I was charged twice", card=("2221 0000 0000 0009", "2221000000000009"), email=("a@b.com", "a@b.com"),
         phone=("+1 201-555-0123", "2015550123"), order=["card", "email", "phone"], before="", after="")
def test_customer_pii_never_reaches_the_reply_or_storage(parrot_engine, lead, card, email, phone, order, before,
                                                         after):
    """Even an LLM that repeats its whole prompt cannot show the customer's own personal data back, and the log
    and checkpoints hold placeholders only (the rails redact at the door, the output rails on the way out)."""
    if any(contact in email[1] or contact in phone[1] for contact in KB_CONTACTS):
        return
    values = {"card": f"my card is {card[0]}", "email": f"email me at {email[0]} ,", "phone": f"call {phone[0]} ."}
    text = f"{before} {lead} " + " and ".join(values[k] for k in order) + f" {after}"
    engine = parrot_engine
    conv = engine.start("cust-1")
    result = check_turn(engine, conv, text)
    event(f"the parrot LLM was called: {result.llm_calls > 0}")  # pytest --hypothesis-show-statistics

    assert pii_in_reply(result.reply, [text]) == [], result.reply  # CONTRACTS §4's own definition of a leak
    assert card_numbers(result.reply) == []
    stored = [m["text"] for m in engine.db.transcript(conv)] + [str(engine.state(conv))]
    for place in stored + [result.reply]:
        runs = digit_runs(place)
        assert not any(card[1] in run for run in runs), f"card {card[0]!r} in {place[:300]!r}"
        assert not any(phone[1] in run for run in runs), f"phone {phone[0]!r} in {place[:300]!r}"
        assert email[1] not in place.lower(), f"email {email[0]!r} in {place[:300]!r}"


@settings(PROPERTY, max_examples=25)
@given(conversation_id=st.text(max_size=80))
def test_an_unknown_conversation_is_a_clear_error(stub_engine, conversation_id):
    if stub_engine.exists(conversation_id):
        return
    with pytest.raises(UnknownConversation, match="start one first"):
        stub_engine.turn(conversation_id, "hello")
    assert not stub_engine.exists(conversation_id)
