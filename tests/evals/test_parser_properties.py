"""Property tests of the recorded-conversation reader (CONTRACTS §4, evals/dataset.py) and of `bot eval` on bad files.

Other teams write these files by hand and by script, so the reader must be exact both ways: every valid file reads
back as what was written (whatever the line endings, blank lines or escapes), and every broken line is refused with
DatasetError naming that line — never another exception, never a traceback from `bot eval` (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.taxonomy import HANDOFF_REASONS, INTENTS
from evals.dataset import Conversation, DatasetError, Expect, load

# derandomize: every run (CI or a laptop) tries the same examples, so a failure is reproducible from the log alone
# and a run never depends on, or writes, a local .hypothesis example database (database=None).
PROPERTY = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
texts = st.text(max_size=40)  # any Unicode but lone surrogates (those cannot be written as UTF-8 at all)
maybe = st.booleans()  # whether an optional key is written


@st.composite
def conversations(draw, cid: str) -> dict:
    """A valid conversation object as CONTRACTS §4 allows it: optional keys absent, null or set."""
    roles = draw(st.lists(st.sampled_from(["customer", "bot", "agent"]), min_size=0, max_size=5))
    roles.insert(draw(st.integers(0, len(roles))), "customer")
    obj: dict = {"id": cid, "turns": [{"role": r, "text": draw(texts)} for r in roles]}
    n = roles.count("customer")
    if draw(maybe):
        obj["channel"] = draw(st.none() | st.sampled_from(["chat", "voice", "email", "web"]) | texts)
    if draw(maybe):
        customer = {}
        for key, values in (("id", texts), ("tier", st.sampled_from(["standard", "gold", "vip"])),
                            ("language", st.sampled_from(["en", "de", "fr", "es"]))):
            if draw(maybe):
                customer[key] = draw(st.none() | values)
        obj["customer"] = draw(st.none() | st.just(customer))
    if draw(maybe):
        options = {
            "intents": st.none() | st.lists(st.none() | st.sampled_from(INTENTS), max_size=n),
            "handoff": st.none() | st.booleans(),
            "handoff_by_turn": st.none() | st.integers(1, n),
            "handoff_reason": st.none() | st.sampled_from(HANDOFF_REASONS),
            "blocked_turns": st.none() | st.lists(st.integers(1, n), max_size=n),
            "must_not_contain": st.none() | st.lists(st.text(min_size=1, max_size=10), max_size=3),
        }
        expect = {key: draw(strategy) for key, strategy in options.items() if draw(maybe)}
        obj["expect"] = draw(st.none() | st.just(expect))
    return obj


@st.composite
def files(draw, min_size: int = 1) -> list[dict]:
    ids = draw(st.lists(st.text(min_size=1, max_size=12).filter(str.strip), min_size=min_size, max_size=5,
                        unique=True))
    return [draw(conversations(cid)) for cid in ids]


def expected(obj: dict, line: int) -> Conversation:
    """What the contract says a valid object means (written independently of the reader)."""
    raw = obj.get("expect") or {}
    tuple_or_none = lambda v: None if v is None else tuple(v)  # noqa: E731
    return Conversation(
        id=obj["id"], line=line, channel="chat" if obj.get("channel") is None else obj["channel"],
        customer=obj.get("customer") or {}, turns=tuple({"role": t["role"], "text": t["text"]} for t in obj["turns"]),
        expect=Expect(intents=tuple_or_none(raw.get("intents")), handoff=raw.get("handoff"),
                      handoff_by_turn=raw.get("handoff_by_turn"), handoff_reason=raw.get("handoff_reason"),
                      blocked_turns=tuple_or_none(raw.get("blocked_turns")),
                      must_not_contain=tuple(raw.get("must_not_contain") or ())),
    )


BLANKS = st.sampled_from(["", " ", "\t", "  \r"])  # lines that hold nothing


@settings(PROPERTY, max_examples=150)
@given(objects=files(), ensure_ascii=st.booleans(), newline=st.sampled_from(["\n", "\r\n"]),
       blanks=st.lists(st.tuples(st.integers(0, 6), BLANKS), max_size=3), final_newline=st.booleans())
@example(objects=[{"id": "c-1", "channel": None, "turns": [{"role": "customer", "text": "hi"}]}], ensure_ascii=True,
         newline="\n", blanks=[], final_newline=True)  # a null channel is "not given" (it was once refused)
def test_valid_files_read_back_as_written(tmp_path, objects, ensure_ascii, newline, blanks, final_newline):
    lines = [json.dumps(o, ensure_ascii=ensure_ascii) for o in objects]
    for position, blank in blanks:
        lines.insert(min(position, len(lines)), blank)
    path = tmp_path / "set.jsonl"
    path.write_bytes((newline.join(lines) + (newline if final_newline else "")).encode())

    loaded = load(path)

    numbers = [i for i, text in enumerate(lines, start=1) if text.strip()]  # physical line of each conversation
    assert loaded == [expected(o, n) for o, n in zip(objects, numbers)]
    for conv, obj in zip(loaded, objects):
        customer_texts = [t["text"] for t in obj["turns"] if t["role"] == "customer"]
        assert conv.customer_texts == customer_texts


# -- broken lines ---------------------------------------------------------------------------------------------------
def dumps(value) -> bytes:
    return json.dumps(value).encode()


def with_expect(obj: dict, key: str, value) -> bytes:
    return dumps({**obj, "expect": {**(obj.get("expect") or {}), key: value}})


# Each mutation is (name, argument): readable in a failing example. `apply` makes the line's bytes from it.
MUTATE = {
    "bytes": lambda o, b: b.replace(b"\n", b" "),  # any bytes, invalid UTF-8 included
    "text": lambda o, t: t.replace("\n", " ").encode(),
    "json": lambda o, v: dumps(v),  # any JSON value instead of the object
    "key": lambda o, kv: dumps({**o, kv[0]: kv[1]}),  # a top-level key of any type (or an unknown key)
    "expect_key": lambda o, kv: with_expect(o, kv[0], kv[1]),
    "drop": lambda o, k: dumps({key: v for key, v in o.items() if key != k}),
    "intent": lambda o, v: with_expect(o, "intents", [v]),
    "turn_text": lambda o, v: dumps({**o, "turns": [{"role": "customer", "text": v}]}),
    "turn_role": lambda o, v: dumps({**o, "turns": [{"role": v, "text": "x"}]}),
    "cut": lambda o, n: dumps(o)[:n],  # cut short
    "raw": lambda o, b: b,  # a fixed odd line (below)
    "wrap": lambda o, ends: ends[0] + dumps(o) + ends[1],  # BOM, CR, spaces around a valid object
}
ODD_LINES = [
    b'{"id": "x", "turns": [{"role": "customer", "text": "\\ud800"}]}',  # a lone surrogate escape
    b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}], "expect": {"handoff": NaN}}',
    b'{"id": "x", "turns": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # nested too deeply for json
    b'{"id": "x", "turns": [], "expect": {"handoff_by_turn": ' + b"9" * 5000 + b"}}",  # over int()\'s digit limit
    b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}], "expect": false}',  # once read as "nothing expected"
    b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}], "customer": []}',
    b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}], "expect": {"must_not_contain": ""}}',
    b'{"id": "x", "turns": [], "turns": [{"role": "customer", "text": "hi"}]}',  # a duplicate key
    b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}]} {"id": "y"}',  # two objects on a line
    b"[]", b"null", b'"text"', b"1e999", b"-", b"\x00", b"\xef\xbb\xbf",
]
odd_numbers = st.integers() | st.sampled_from([-1, 0, 2**63, -2**63, 10**30]) | st.floats()
bad_labels = st.text(max_size=15).filter(lambda s: s not in INTENTS and s not in HANDOFF_REASONS)
top_keys = st.sampled_from(["id", "channel", "customer", "turns", "expect", "surprise"])
expect_keys = st.sampled_from(["intents", "handoff", "handoff_by_turn", "handoff_reason", "blocked_turns",
                               "must_not_contain", "surprise"])
mutations = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=60)),
    st.tuples(st.just("text"), st.text(max_size=60)),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("key"), st.tuples(top_keys, json_values)),
    st.tuples(st.just("expect_key"), st.tuples(expect_keys, json_values | odd_numbers | bad_labels)),
    st.tuples(st.just("drop"), top_keys),
    st.tuples(st.just("intent"), bad_labels),
    st.tuples(st.just("turn_text"), odd_numbers | json_values),
    st.tuples(st.just("turn_role"), json_values),
    st.tuples(st.just("cut"), st.integers(0, 200)),
    st.tuples(st.just("raw"), st.sampled_from(ODD_LINES)),
    st.tuples(st.just("wrap"), st.sampled_from([(b"\xef\xbb\xbf", b""), (b"", b"\r"), (b"  ", b" \t"),
                                                 (b"\x0c", b""), (b"", b"\x00")])),
)


@settings(PROPERTY, max_examples=400)
@given(objects=files(min_size=2), where=st.integers(0, 10), mutation=mutations)
@example(objects=[{"id": "a", "turns": [{"role": "customer", "text": "hi"}]},
                  {"id": "b", "turns": [{"role": "customer", "text": "hi"}]}], where=1, mutation=("raw", ODD_LINES[2]))
@example(objects=[{"id": "a", "turns": [{"role": "customer", "text": "hi"}]},
                  {"id": "b", "turns": [{"role": "customer", "text": "hi"}]}], where=1, mutation=("raw", ODD_LINES[3]))
def test_a_broken_line_is_refused_with_its_line_number(tmp_path, objects, where, mutation):
    index = where % len(objects)
    lines = [dumps(o) for o in objects]
    lines[index] = MUTATE[mutation[0]](objects[index], mutation[1])
    path = tmp_path / "set.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    try:
        loaded = load(path)
    except DatasetError as exc:  # the documented refusal: a line, and a reason, in one line of text
        assert str(exc).startswith(f"{path}:{exc.line}: ") and exc.reason.strip()
        assert len(str(exc).splitlines()) == 1
        if exc.line != index + 1:  # only when the changed line took an id that a later line also has
            assert exc.line > index + 1 and "duplicate conversation id" in exc.reason, str(exc)
    else:  # accepted: the changed line was blank or a valid conversation, and the others read as written
        others = [expected(o, i + 1) for i, o in enumerate(objects) if i != index]
        assert [c for c in loaded if c.line != index + 1] == others
        assert len(loaded) in (len(objects) - 1, len(objects))


TYPES = {  # where the contract fixes a type (null allowed where the key is optional)
    ("id",): (str,), ("channel",): (str, type(None)), ("customer",): (dict, type(None)), ("turns",): (list,),
    ("expect",): (dict, type(None)), ("expect", "must_not_contain"): (list, type(None)),
    ("expect", "intents"): (list, type(None)), ("expect", "blocked_turns"): (list, type(None)),
    ("expect", "handoff"): (bool, type(None)),
}


@settings(PROPERTY, max_examples=150)
@given(where=st.sampled_from(sorted(TYPES)), value=json_values)
@example(where=("expect",), value=False)  # falsy values of the wrong type were once read as "not given"
@example(where=("customer",), value=[])
@example(where=("expect", "must_not_contain"), value="")
def test_a_value_of_the_wrong_type_is_refused(tmp_path, where, value):
    if isinstance(value, TYPES[where]) and not (isinstance(value, bool) and bool not in TYPES[where]):
        return  # the right type: other tests cover its content
    obj = {"id": "c-1", "turns": [{"role": "customer", "text": "hi"}], "expect": {}}
    (obj if len(where) == 1 else obj["expect"])[where[-1]] = value
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    with pytest.raises(DatasetError, match=rf"set.jsonl:1: '{'.'.join(where)}'") as e:
        load(path)
    assert e.value.line == 1


@settings(PROPERTY, max_examples=30)
@given(lines=st.lists(st.sampled_from(["", " ", "\t", "\r", " \r"]), max_size=5))
def test_a_file_without_conversations_is_refused_as_a_whole(tmp_path, lines):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match="empty file") as caught:
        load(path)
    assert caught.value.line == 0


# -- through the real command ------------------------------------------------------------------------------------
def bot_eval(tmp_path: Path, path: Path):
    """`bot eval FILE --llm stub` in-process (typer's CliRunner: stdout and stderr apart, exceptions kept)."""
    from typer.testing import CliRunner

    from bot.cli import app

    env = {"BOT_DB_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "BOT_DATA_DIR": str(tmp_path / "data"),
           "OTEL_SDK_DISABLED": "true", "COLUMNS": "200"}
    return CliRunner().invoke(app, ["eval", str(path), "--llm", "stub"], env=env)


def one_clear_error(result, line: int, reason: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = [text for text in result.stderr.splitlines() if text.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr  # one line, no traceback
    assert f"bad.jsonl:{line}: " in lines[0] and reason in lines[0], lines[0]


GARBAGE = [
    (b"\xff\xfe{not utf-8}\n", 1, "not valid UTF-8"),
    (b'{"id": "ok", "turns": [{"role": "customer", "text": "hi"}]}\n\n{"id": 7}\n', 3, "'id' must be"),
    (b'{"id": "x", "turns": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n", 1, "invalid JSON"),
    (b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}], "expect": {"handoff_by_turn": '
     + b"9" * 5000 + b"}}\n", 1, "invalid JSON"),
    (b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}], "expect": {"intents": ["refund"]}}\r\n', 1,
     "unknown intent 'refund'"),
    (b'{"id": "x", "turns": [{"role": "customer", "text": "hi"}], "expect": false}\n', 1, "'expect' must be"),
]


@pytest.mark.parametrize("content,line,reason", GARBAGE, ids=["bytes", "type", "deep", "bigint", "label", "falsy"])
def test_bot_eval_refuses_garbage_with_exit_2_and_one_clear_line(tmp_path, content, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    one_clear_error(bot_eval(tmp_path, path), line, reason)


def test_bot_eval_as_a_process_refuses_garbage_with_exit_2(tmp_path):
    """The console entry point itself: exit status 2 and one line on stderr (a RecursionError traceback once)."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(GARBAGE[2][0])
    env = dict(os.environ, BOT_DB_URL=f"sqlite:///{tmp_path / 'db.sqlite'}", OTEL_SDK_DISABLED="true",
               BOT_DATA_DIR=str(tmp_path / "data"), COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "bot.cli", "eval", str(path), "--llm", "stub"], capture_output=True,
                         env=env, timeout=120)
    stderr = out.stderr.decode()
    assert out.returncode == 2 and stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1, stderr
    assert "bad.jsonl:1: invalid JSON (nested too deeply)" in stderr


def test_bot_eval_prints_a_bad_label_verbatim(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "x", "turns": [{"role": "customer", "text": "hi"}],
                                "expect": {"intents": ["[/]"]}}) + "\n")
    one_clear_error(bot_eval(tmp_path, path), 1, "unknown intent '[/]'")
