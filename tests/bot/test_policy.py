"""Policy files load, validate with readable errors, and compile their matchers."""

from __future__ import annotations

import shutil

import pytest

from bot.config import PROJECT_ROOT
from bot.policy import PhraseSet, PolicyError, load_policies


def copy_policies(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "guardrails", target)
    return target


def test_shipped_policies_load(policies):
    assert policies.escalation.precedence[0] == "high_stakes"
    assert policies.input.max_chars == 4000
    assert "connecting you" in policies.messages.get("handoff.notice", wait="")


def test_bad_threshold_names_file_and_field(tmp_path):
    d = copy_policies(tmp_path)
    path = d / "escalation.yaml"
    path.write_text(path.read_text().replace("single_turn_threshold: -0.75", "single_turn_threshold: -7"))
    with pytest.raises(PolicyError, match=r"escalation.yaml: negative_sentiment.single_turn_threshold"):
        load_policies(d)


def test_unknown_key_and_bad_regex_are_refused(tmp_path):
    d = copy_policies(tmp_path)
    path = d / "escalation.yaml"
    original = path.read_text()
    path.write_text(original.replace("vip_customer:\n  enabled: true", "vip_customer:\n  enabled: true\n  tieers: [x]"))
    with pytest.raises(PolicyError, match="tieers"):
        load_policies(d)
    path.write_text(original.replace("    - fraudulent\n", "    - \"re:(unclosed\"\n"))
    with pytest.raises(PolicyError, match="regular expression"):
        load_policies(d)


def test_missing_file_and_invalid_yaml(tmp_path):
    d = copy_policies(tmp_path)
    (d / "input.yaml").unlink()
    with pytest.raises(PolicyError, match="input.yaml is missing"):
        load_policies(d)
    (d / "input.yaml").write_text("max_chars: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policies(d)


def test_messages_name_missing_entries_and_values(policies):
    with pytest.raises(PolicyError, match="no message 'nope.nothing'"):
        policies.messages.get("nope.nothing")
    with pytest.raises(PolicyError, match="needs a value"):
        policies.messages.get("input.too_long")


def test_phrase_set_word_boundaries_and_normalisation():
    p = PhraseSet(["sue", "real person", "re:\\bcharged\\s+twice\\b"])
    assert p.find("I will SUE you") == "sue"
    assert p.find("this issue is pursued") is None
    assert p.find("a  real\u00a0Person") == "real person"
    assert p.find("I was charged twice") == "charged twice"


@pytest.mark.parametrize("line,replacement,fragment", [
    ("cors_origins: []", "cors_origins: ['*']", "cors_origins"),
    ("cors_origins: []", "cors_origins: [shop.example.com]", "exact origins"),
    ("trusted_proxies: []", "trusted_proxies: [my-proxy]", "not an address or network"),
    ("max_body_bytes: 16384", "max_body_bytes: 10", "max_body_bytes"),
    ("  messages_per_minute: 20 ", "  messages_per_minute: 0 ", "rate_limits.messages_per_minute"),
])
def test_web_policy_is_validated(tmp_path, line, replacement, fragment):
    d = copy_policies(tmp_path)
    path = d / "web.yaml"
    assert line in path.read_text()
    path.write_text(path.read_text().replace(line, replacement))
    with pytest.raises(PolicyError, match=fragment):
        load_policies(d)
