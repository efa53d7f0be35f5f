"""Fuzz tests of the HTTP API: any body, header, path segment or query a client can send gets a deliberate answer —
never a 500, every error as JSON `{"error": "<sentence>"}` — and no request without the right token or session reads
someone else's conversation.

The example-based web tests pin each documented refusal; these look for the inputs nobody listed (deep JSON, lone
surrogate escapes, NaN and 64-bit-overflowing numbers, odd headers, encoded path segments). Rate limits are lifted
and long polls answer at once here so the fuzzer reaches the handlers (both are tested in test_app / test_customer).
"""

from __future__ import annotations

import json
import math
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.web.conftest import handed_off, login, start, web_policy

# derandomize: every run (CI or a laptop) tries the same examples, so a failure is reproducible from the log alone
# and a run never depends on, or writes, a local .hypothesis example database (database=None). The fixtures are
# made once per test function and shared by its examples on purpose (an app costs seconds; state carries over the
# way it does on a real server).
PROPERTY = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])
NO_LIMITS = {"requests_per_minute": 10**6, "new_conversations_per_hour": 10**6, "messages_per_minute": 10**6,
             "login_attempts_per_15_minutes": 10**6}
JSON = {"content-type": "application/json"}
SECRET = "zebrafish 7f3a"  # in the victim's transcript: not personal data, so stored as written


@pytest.fixture
def api(client, engine) -> TestClient:
    web_policy(engine, rate_limits=NO_LIMITS, long_poll_max_s=0)
    return client


@pytest.fixture
def anon(app) -> TestClient:
    """A second browser: no cookie, ever."""
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture
def victim(api) -> tuple[str, str]:
    """A handed-off conversation with something in it that nobody else may read: (id, token)."""
    conv, auth = start(api)
    said = api.post(f"/api/conversations/{conv}/messages", headers=auth,
                    json={"text": f"I want to talk to a human, the word is {SECRET}"}).json()
    assert said["handoff"], said
    assert SECRET in api.get(f"/api/conversations/{conv}", headers=auth).text  # the right token reads it
    return conv, auth["Authorization"].removeprefix("Bearer ")


def check(response):
    """Every answer: no server error, and an error is a JSON object with one key, `error`, holding a sentence."""
    assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.text[:500])
    if response.status_code >= 400 and response.request.method != "HEAD":  # (a HEAD answer has no body)
        assert response.headers.get("content-type", "").startswith("application/json"), response.headers
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), body
        assert body["error"].strip() and "Traceback" not in body["error"], body
        # that one key only; the readiness probe's 503 also lists its checks, for the operator (bot/web/ops.py)
        assert list(body) == ["error"] or response.request.url.path == "/readyz", body
    return response


# -- what a client can send -----------------------------------------------------------------------------------------
big_text = st.builds(lambda ch, n: ch * n, st.sampled_from(["x", "\u00e9", "\U0001f600", " ", "\\"]),
                     st.integers(0, 20_000))
scalars = st.none() | st.booleans() | st.integers() | st.sampled_from([2**63, -2**63 - 1, 10**30]) \
    | st.floats() | st.text(max_size=30) | big_text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)
KEYS = ["text", "message_id", "customer_id", "signature", "language", "name", "password", "note", "instruction",
        "args"]
objects = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), json_values, max_size=4)
RAW_BODIES = [
    b"[" * 5000, b'{"a":' * 3000, b'{"text": "\\ud800 hi"}', b'{"text": "\\udfff"}', b'{"text": NaN}',
    b'{"text": "x", "text": 1}', b'{"limit": ' + b"9" * 5000 + b"}", b"\xef\xbb\xbf{}", b"\xff\xfe\x00{", b"null",
    b"text=hi", b"\x00", b'{"args": {"limit": 100000000000000000000000000000}}', b'{"text": "hi"} trailing',
]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json;;"]


@st.composite
def bodies(draw) -> tuple[bytes, str]:
    """(bytes, content type) of a request body: mostly JSON of any shape, sometimes not JSON at all."""
    kind = draw(st.sampled_from(["object", "object", "object", "value", "bytes", "raw"]))
    if kind == "object":
        content = json.dumps(draw(objects)).encode()
    elif kind == "value":
        content = json.dumps(draw(json_values)).encode()
    elif kind == "bytes":
        content = draw(st.binary(max_size=200))
    else:
        content = draw(st.sampled_from(RAW_BODIES))
    content_type = draw(st.one_of(st.just("application/json"), st.just("application/json"),
                                  st.sampled_from(CONTENT_TYPES), header_text))
    return content, content_type


# header values as a server receives them: any bytes but CR, LF and NUL (servers refuse those before the app)
header_text = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n\x00"), max_size=60)
header_bytes = header_text.map(lambda s: s.encode("latin-1"))
ODD_HEADERS = ["accept", "origin", "x-forwarded-for", "x-csrf-token", "cookie", "user-agent", "accept-encoding",
               "if-none-match", "range", "x-requested-with", "authorization", "content-encoding", "transfer-encoding"]
odd_headers = st.dictionaries(st.sampled_from(ODD_HEADERS), header_bytes, max_size=3)
segments = st.one_of(
    st.text(max_size=70).map(lambda s: quote(s, safe="")),  # any text, as one encoded path segment
    st.sampled_from(["", ".", "..", "%2e%2e", "%2F", "a%00b", "%ff", "%", "c-" + "0" * 100, "..%2f..%2fetc",
                     "%C0%AF", "%ED%A0%80", "~", "null", "-1", "1e999"]),
)


def send(client: TestClient, method: str, path: str, body: tuple[bytes, str] | None = None, headers=None, **kw):
    headers = dict(headers or {})
    if body is not None:
        content, content_type = body
        if content_type:
            headers.setdefault("content-type", content_type.encode("latin-1"))
        kw["content"] = content
    response = check(client.request(method, path, headers=headers, **kw))
    event(f"{method} {response.status_code}")  # the spread of answers: pytest --hypothesis-show-statistics
    return response


# -- customers ------------------------------------------------------------------------------------------------------
@settings(PROPERTY, max_examples=60)
@given(body=bodies(), headers=odd_headers)
@example(body=(b'{"customer_id": "cust-1", "signature": "00"}', "application/json"), headers={})
@example(body=(b'{"language": "\\ud800"}', "application/json"), headers={})
def test_starting_a_conversation_with_any_body(anon, api, body, headers):
    headers.pop("authorization", None)
    response = send(anon, "POST", "/api/conversations", body, headers)
    if response.status_code == 201:
        started = response.json()
        assert started["conversation_id"] and started["token"] and started["status"] == "ai"


@pytest.mark.timeout(120)  # a NaN wait once made the long poll wait for ever: a hang fails here, not in 10 minutes
@settings(PROPERTY, max_examples=100)
@given(body=bodies(), headers=odd_headers, stream=st.booleans(),
       text=st.one_of(st.text(min_size=1, max_size=60), st.text(st.characters(exclude_categories=()), max_size=10),
                      st.sampled_from(["where is my order A10002", "I want to talk to a human", " ", "\u200b"]),
                      st.none()))
@example(body=(b'{"text": "\\ud800 where is my order"}', "application/json"), headers={}, stream=False, text=None)
@example(body=(b"[" * 5000, "application/json"), headers={}, stream=True, text=None)
def test_sending_a_message_with_any_body(api, body, headers, stream, text):
    """Any body to the message route of one's own conversation; a well-formed one gets a turn (JSON or a stream)."""
    conv, auth = start(api)
    headers.pop("authorization", None)
    headers.update(auth)
    if stream:
        headers["accept"] = "text/event-stream"
    if text is not None:  # a message in the right shape, with any text (lone surrogates included)
        body = (json.dumps({"text": text}).encode(), "application/json")
    response = send(api, "POST", f"/api/conversations/{conv}/messages", body, headers)
    if response.status_code != 200:
        return
    if response.headers["content-type"].startswith("text/event-stream"):
        events = [block.split("\n", 1) for block in response.text.strip().split("\n\n")]
        kinds = [kind.removeprefix("event: ") for kind, _ in events]
        assert kinds[-1] in ("done", "error") and set(kinds[:-1]) <= {"text"}, kinds
        last = json.loads(events[-1][1].removeprefix("data: "))
        assert last.get("status", 200) != 500, last
        result = last
    else:
        result = response.json()
    if "reply" in result:
        assert isinstance(result["reply"], str) and result["reply"].strip()
        history = check(api.get(f"/api/conversations/{conv}", headers=auth)).json()
        assert history["messages"][-1]["text"] == result["reply"]


query_values = st.one_of(st.integers(), st.sampled_from([2**63, -2**63 - 1, 10**30]), st.floats(),
                         st.text(max_size=20), st.sampled_from(["nan", "NaN", "inf", "-inf", "1e309", "0x10", " 1",
                                                                "", "-0", "\u0661"]))


@pytest.mark.timeout(120)
@settings(PROPERTY, max_examples=100)
@given(after=st.none() | query_values, wait=st.none() | query_values, state=st.none() | st.text(max_size=30),
       extra=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=2))
@example(after=None, wait="nan", state=None, extra={})  # once a long poll that never returned
@example(after=2**63, wait=None, state=None, extra={})  # once a 500 (SQLite integers are 64-bit)
@example(after="9" * 5000, wait=None, state=None, extra={})
def test_polling_with_any_query(api, victim, after, wait, state, extra):
    conv, token = victim
    params = {k: str(v) for k, v in (("after", after), ("wait", wait), ("state", state)) if v is not None}
    for key, value in extra.items():
        params.setdefault(key, value)
    response = send(api, "GET", f"/api/conversations/{conv}/messages", params=params,
                    headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        assert response.status_code == 422 and ("after" in response.json()["error"] or "wait" in
                                                 response.json()["error"]), response.text
        return
    polled = response.json()  # accepted: then the numbers were sensible, and the answer keeps to them
    assert isinstance(polled["messages"], list) and polled["status"] in ("ai", "human", "closed")
    waited = float(params.get("wait", "0"))
    assert waited >= 0 and not math.isnan(waited)
    first = int(float(params.get("after", "-1")))
    assert first >= -1 and all(m["seq"] > first for m in polled["messages"])


# -- nobody reads someone else's conversation -------------------------------------------------------------------------
@st.composite
def wrong_credentials(draw) -> tuple[str, int, str]:
    """(kind, position, text): a way to hold anything but the victim's token (made concrete in the test)."""
    kind = draw(st.sampled_from(["none", "random", "own", "flip", "cut", "grow", "case", "scheme", "empty", "cookie"]))
    return kind, draw(st.integers(0, 50)), draw(header_text)


def concrete(kind: str, position: int, text: str, victim_token: str, own_token: str) -> dict[str, bytes]:
    t = victim_token
    value = {
        "none": None, "random": text, "own": own_token, "empty": "",
        "flip": t[:position % len(t)] + chr(ord(t[position % len(t)]) ^ 1) + t[position % len(t) + 1:],
        "cut": t[:position % len(t)], "grow": t + (text[:1] or "A"), "case": t.swapcase(),
    }.get(kind, "")
    if kind == "scheme":
        return {"authorization": f"{text.split(' ')[0] or 'Basic'} {own_token}".encode("latin-1")}
    if kind == "cookie":
        return {"cookie": f"bot_agent_session={text}".encode("latin-1")}
    return {} if value is None else {"authorization": f"Bearer {value}".encode("latin-1", "replace")}


@settings(PROPERTY, max_examples=150)
@given(credentials=wrong_credentials(), route=st.sampled_from(["read", "poll", "send", "package", "queue", "claim"]),
       variant=st.sampled_from(["exact", "encoded", "upper", "suffix", "random"]), segment=segments)
def test_no_wrong_or_missing_token_reads_another_conversation(api, anon, victim, credentials, route, variant,
                                                              segment):
    victim_id, victim_token = victim
    _, own = start(anon)
    headers = concrete(*credentials, victim_token, own["Authorization"].removeprefix("Bearer "))
    scheme, _, value = headers.get("authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and value.strip() == victim_token:
        return  # a mutation that gave the right token back (read as the server reads it: latin-1, stripped)
    conv = {"exact": victim_id, "encoded": "".join(f"%{b:02X}" for b in victim_id.encode()),
            "upper": victim_id.upper(), "suffix": victim_id + segment, "random": segment}[variant]
    method, path, body = {
        "read": ("GET", f"/api/conversations/{conv}", None),
        "poll": ("GET", f"/api/conversations/{conv}/messages?after=-1", None),
        "send": ("POST", f"/api/conversations/{conv}/messages", (b'{"text": "what did I say before?"}',
                                                                 "application/json")),
        "package": ("GET", f"/api/agent/handoffs/{conv}", None),
        "queue": ("GET", "/api/agent/queue", None),
        "claim": ("POST", f"/api/agent/handoffs/{conv}/claim", None),
    }[route]
    before = len(api.get(f"/api/conversations/{victim_id}", headers={"Authorization": f"Bearer {victim_token}"})
                 .json()["messages"])
    response = send(anon, method, path, body, headers)

    assert SECRET not in response.text and victim_token not in response.text
    assert response.status_code in (401, 403, 404, 405, 422), (response.status_code, response.text[:300])
    after = api.get(f"/api/conversations/{victim_id}", headers={"Authorization": f"Bearer {victim_token}"}).json()
    assert len(after["messages"]) == before and after["handoff"]["agent"] is None  # nothing written, nobody claimed


# -- every route, any input ----------------------------------------------------------------------------------------
# credentials to try, most of them the ones the route wants (so the fuzzer gets past the door as often as not)
CREDENTIALS = {"agent": ["agent_session"] * 3 + ["agent_token", "agent_session_no_csrf", "none", "own"],
               "customer": ["victim"] * 3 + ["own", "none", "random_bearer", "agent_token"]}
TOOLS = ["get_order", "cancel_order", "start_return", "send_password_reset", "update_address", "list_orders",
         "search_products"]
ARGS = ["order_id", "limit", "query", "reason", "email", "new_address", "damaged", "confirmed"]
plausible = st.dictionaries(  # the keys the routes read, with values of the right type (any content)
    st.sampled_from(KEYS), st.text(max_size=40) | st.dictionaries(
        st.sampled_from(ARGS), st.text(max_size=12) | st.integers() | st.booleans(), max_size=3), max_size=3,
).map(lambda obj: (json.dumps(obj).encode(), "application/json"))


@pytest.fixture
def routes(api):
    spec = check(api.get("/openapi.json")).json()
    found = [(method.upper(), path) for path, operations in spec["paths"].items() for method in operations]
    assert ("POST", "/api/agent/handoffs/{conversation_id}/tools/{tool}") in found
    return found


@pytest.fixture
def agent_session(api):
    """The CSRF header of a live console session in `api`'s cookie jar (logged in again if a fuzzed logout ended it)."""
    headers = login(api)

    def current() -> dict[str, str]:
        if api.get("/api/agent/me").status_code != 200:
            headers.update(login(api))
        return headers
    return current


@pytest.mark.timeout(180)
@settings(PROPERTY, max_examples=200)
@given(data=st.data(), body=st.one_of(st.none(), plausible, plausible, bodies()), headers=odd_headers,
       method=st.sampled_from(["route", "route", "route", "route", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
def test_every_route_answers_any_input_without_a_server_error(api, anon, accounts, routes, victim, agent_session,
                                                              data, body, headers, method):
    """Each operation of /openapi.json, with any path segments, body, headers and credentials (right or wrong)."""
    conv_id, victim_token = victim
    verb, path = data.draw(st.sampled_from(routes))
    credentials = data.draw(st.sampled_from(CREDENTIALS["agent" if path.startswith("/api/agent") else "customer"]))
    verb = verb if method == "route" else method
    path = path.replace("{conversation_id}", data.draw(st.sampled_from([conv_id]) | segments), 1)
    path = path.replace("{tool}", data.draw(st.sampled_from(TOOLS) | segments), 1)
    headers.pop("authorization", None)
    headers.pop("cookie", None)
    client = api if credentials.startswith("agent_session") else anon
    if credentials == "agent_session":
        headers.pop("x-csrf-token", None)
        headers.update(agent_session())
    elif credentials == "agent_token":
        headers["authorization"] = f"Bearer {accounts.new_token('dana')}"
    elif credentials in ("own", "victim", "random_bearer"):
        token = {"own": start(anon)[1]["Authorization"].removeprefix("Bearer "), "victim": victim_token,
                 "random_bearer": "r" * 43}[credentials]
        headers["authorization"] = f"Bearer {token}"
    response = send(client, verb, path, body, headers)
    if path.startswith("/api/conversations/") and credentials != "victim":
        assert SECRET not in response.text


def test_a_tool_argument_beyond_64_bits_is_refused(api, agent_session):
    """Once a 500: a 100-bit number in a tool's arguments reached the checkpoint, whose msgpack cannot hold it."""
    conv, _ = handed_off(api)
    csrf = agent_session()
    check(api.post(f"/api/agent/handoffs/{conv}/claim", headers=csrf))
    for limit in (10**30, -(2**64), "1" + "0" * 30):
        response = check(api.post(f"/api/agent/handoffs/{conv}/tools/list_orders", headers=csrf,
                                  json={"args": {"limit": limit}}))
        assert response.status_code == 409 and "out of range" in response.json()["error"], response.text
    assert check(api.post(f"/api/agent/handoffs/{conv}/tools/list_orders", headers=csrf,
                          json={"args": {"limit": 3}})).status_code == 200  # the conversation is still fine


def test_agent_text_with_a_lone_surrogate_is_refused(api, agent_session):
    """Once a 500: an agent's "\\ud800" escape went into the transcript, which UTF-8 storage cannot hold."""
    conv, auth = handed_off(api)
    csrf = agent_session()
    for route, key in (("draft", "instruction"), ("reply", "text"), ("hand-back", "note"), ("resolve", "note")):
        response = check(api.post(f"/api/agent/handoffs/{conv}/{route}", headers={**csrf, **JSON},
                                  content=json.dumps({key: "\ud800 hello"}).encode()))
        assert response.status_code == 400 and "surrogate" in response.json()["error"], (route, response.text)
    assert check(api.post(f"/api/agent/handoffs/{conv}/reply", headers=csrf, json={"text": "hello"})).status_code == 200
    assert check(api.get(f"/api/conversations/{conv}", headers=auth)).json()["messages"][-1]["text"] == "hello"
