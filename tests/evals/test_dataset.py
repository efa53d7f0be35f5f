"""The recorded-conversation reader: the contract's format, and a line number with every refusal."""

from __future__ import annotations

import json

import pytest

from evals.dataset import DatasetError, load

GOOD = {"id": "c-001", "channel": "chat", "customer": {"id": "cust-1", "tier": "standard", "language": "en"},
        "turns": [{"role": "customer", "text": "where is my order"}, {"role": "bot", "text": "(recorded)"}],
        "expect": {"intents": ["order_status"], "handoff": False, "handoff_by_turn": None, "handoff_reason": None,
                   "blocked_turns": [], "must_not_contain": []}}


def write(tmp_path, *objects, raw: str | None = None):
    path = tmp_path / "set.jsonl"
    path.write_text(raw if raw is not None else "\n".join(json.dumps(o) for o in objects) + "\n")
    return path


def test_contract_example_loads(tmp_path):
    (conv,) = load(write(tmp_path, GOOD))
    assert conv.id == "c-001" and conv.customer_texts == ["where is my order"]
    assert conv.recorded_bot_turns == [(1, "(recorded)")]
    assert conv.expect.intents == ("order_status",) and conv.expect.handoff is False


def test_everything_optional_but_id_and_turns(tmp_path):
    (conv,) = load(write(tmp_path, {"id": "x", "turns": [{"role": "customer", "text": "hi"}]}))
    assert conv.channel == "chat" and conv.expect.handoff is None and conv.expect.intents is None


@pytest.mark.parametrize("obj,reason", [
    ({**GOOD, "expect": {"intents": ["order_stat"]}}, "unknown intent 'order_stat'"),
    ({**GOOD, "expect": {"handoff_by_turn": 2}}, "handoff_by_turn' must be a customer turn from 1 to 1"),
    ({**GOOD, "expect": {"blocked_turns": [0, 3]}}, "out of range"),
    ({**GOOD, "expect": {"intents": ["greeting", "goodbye"]}}, "2 entries for 1 customer turns"),
    ({**GOOD, "expect": {"handoff_reason": "angry"}}, "unknown handoff reason 'angry'"),
    ({**GOOD, "expect": {"handof": True}}, "unknown expect key"),
    ({**GOOD, "turns": []}, "non-empty list"),
    ({**GOOD, "turns": [{"role": "bot", "text": "hi"}]}, "no customer turn"),
    ({**GOOD, "turns": [{"role": "narrator", "text": "hi"}]}, "needs 'role'"),
    ({"turns": GOOD["turns"]}, "'id' must be a non-empty string"),
])
def test_bad_conversations_name_line_and_reason(tmp_path, obj, reason):
    path = write(tmp_path, GOOD | {"id": "first"}, obj)
    with pytest.raises(DatasetError) as info:
        load(path)
    assert info.value.line == 2 and reason in str(info.value)


def test_invalid_json_empty_file_duplicates(tmp_path):
    with pytest.raises(DatasetError, match=r":2: invalid JSON"):
        load(write(tmp_path, raw=json.dumps(GOOD) + "\n{not json\n"))
    with pytest.raises(DatasetError, match="empty file"):
        load(write(tmp_path, raw="\n\n"))
    with pytest.raises(DatasetError, match=r":2: duplicate conversation id 'c-001'"):
        load(write(tmp_path, GOOD, GOOD))
    with pytest.raises(DatasetError, match="file not found"):
        load(tmp_path / "missing.jsonl")
