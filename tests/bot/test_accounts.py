"""Agent accounts (bot/accounts.py) and `bot agent user` (bot/accounts_cli.py): hashes only, strength rules,
tokens shown once, a file others cannot read, and clear errors."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from bot.accounts import AccountError, Accounts, check_password, hash_password
from bot.cli import app


def test_passwords_are_salted_scrypt_hashes():
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert check_password("correct horse battery", first) and not check_password("correct horse batterY", first)
    assert not check_password("anything", "plain-text") and not check_password("anything", "scrypt$x$y")


def test_the_file_holds_no_secret_and_only_its_owner_reads_it(tmp_path):
    accounts = Accounts(tmp_path / "agents.json")
    accounts.add("Dana", "correct horse battery", skills=("billing",))
    token = accounts.new_token("dana")
    text = accounts.path.read_text()
    assert "correct horse battery" not in text and token not in text and token[4:] not in text
    assert stat.S_IMODE(accounts.path.stat().st_mode) == 0o600
    assert accounts.login("DANA ", "correct horse battery").name == "dana"
    assert accounts.login("dana", "wrong") is None and accounts.login("nobody", "correct horse battery") is None
    assert accounts.by_token(token).name == "dana" and accounts.by_token(token + "x") is None
    assert accounts.by_token("not-a-token") is None
    assert json.loads(text)["agents"]["dana"]["skills"] == ["billing"]


def test_a_changed_file_is_read_again(tmp_path):
    one, two = Accounts(tmp_path / "agents.json"), Accounts(tmp_path / "agents.json")
    assert two.agents() == {}
    one.add("sam", "a long passphrase")
    assert "sam" in two.agents()  # another worker sees the new agent without a restart


@pytest.mark.parametrize("name,password,fragment", [
    ("Dana Smith", "correct horse battery", "agent name"),
    ("dana", "short", "at least 10"),
    ("dana", "dana-is-my-password", "too easy"),
    ("dana", "aaaaaaaaaaaa", "too easy"),
])
def test_bad_names_and_weak_passwords_are_refused(tmp_path, name, password, fragment):
    accounts = Accounts(tmp_path / "agents.json")
    with pytest.raises(AccountError, match=fragment):
        accounts.add(name, password)
    assert not accounts.path.exists()


def test_a_broken_file_is_a_clear_error(tmp_path):
    path = tmp_path / "agents.json"
    path.write_text("{oops")
    with pytest.raises(AccountError, match="cannot read the agent accounts"):
        Accounts(path).agents()


def test_the_user_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BOT_AGENTS_FILE", raising=False)
    runner = CliRunner()
    added = runner.invoke(app, ["agent", "user", "add", "dana", "--password-stdin", "--skill", "billing"],
                          input="correct horse battery\n")
    assert added.exit_code == 0, added.output
    token = runner.invoke(app, ["agent", "user", "token", "dana"]).stdout.strip()
    assert token.startswith("agt_") and len(token) > 40
    listed = runner.invoke(app, ["agent", "user", "list"]).stdout
    assert "dana" in listed and "billing" in listed and token not in listed
    weak = runner.invoke(app, ["agent", "user", "add", "sam", "--password-stdin"], input="short\n")
    assert weak.exit_code == 2 and "at least 10" in weak.stderr
    no_tty = runner.invoke(app, ["agent", "user", "add", "sam"], input="")
    assert no_tty.exit_code == 2 and "--password-stdin" in no_tty.stderr
    assert runner.invoke(app, ["agent", "user", "token", "nobody"]).exit_code == 2
    assert runner.invoke(app, ["agent", "user", "remove", "dana"]).exit_code == 0
    assert Accounts(tmp_path / "agents.json").agents() == {}
