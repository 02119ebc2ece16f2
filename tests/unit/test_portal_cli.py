"""`tai-labs serve user add` and `serve`'s arguments through typer's runner."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tai_labs.cli.app import app
from tai_labs.errors import UsageError
from tai_labs.lab.store import Store
from tai_labs.portal.accounts import Accounts
from tai_labs.portal.server import parse_listen, secret_key


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def test_user_add_keeps_only_a_scrypt_hash_in_the_private_store(data: Path) -> None:
    password = "Un-Mot-de-Passe-Long"
    result = CliRunner().invoke(
        app, ["serve", "user", "add", "jdupuis", "--instructor"], input=f"{password}\n{password}\n"
    )
    assert result.exit_code == 0, result.output
    store = data / "state.db"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    with sqlite3.connect(store) as db:
        (hashed,) = db.execute("SELECT password_hash FROM portal_users").fetchone()
    assert hashed.startswith("scrypt$16384$8$1$") and password not in hashed
    accounts = Accounts(Store(store))
    assert accounts.check("jdupuis", password) == "instructor"
    assert accounts.check("jdupuis", password.lower()) is None  # capitals count
    assert accounts.check("personne", password) is None


def test_user_add_refuses_a_second_account_of_that_name_unless_replace(data: Path) -> None:
    runner = CliRunner()
    args = ["serve", "user", "add", "jdupuis", "--instructor"]
    assert runner.invoke(app, args, input="premier-mot-de-passe\n" * 2).exit_code == 0
    again = runner.invoke(app, args, input="second-mot-de-passe\n" * 2)
    assert isinstance(again.exception, UsageError) and "exists already" in str(again.exception)
    assert (
        runner.invoke(app, [*args, "--replace"], input="second-mot-de-passe\n" * 2).exit_code == 0
    )
    accounts = Accounts(Store(data / "state.db"))
    assert accounts.check("jdupuis", "second-mot-de-passe") == "instructor"
    assert accounts.check("jdupuis", "premier-mot-de-passe") is None


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["serve", "user", "add", "jdupuis"], "only instructor accounts"),
        (["serve", "user", "add", "J Dupuis", "--instructor"], "invalid account name"),
    ],
)
def test_user_add_refusals(data: Path, args: list[str], why: str) -> None:
    result = CliRunner().invoke(app, args, input="un-mot-de-passe-long\n" * 2)
    assert isinstance(result.exception, UsageError) and why in str(result.exception)


def test_a_short_password_is_refused(data: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "user", "add", "jdupuis", "--instructor"], input="court\ncourt\n"
    )
    assert isinstance(result.exception, UsageError) and "shorter" in str(result.exception)


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8080").port == 8080
    assert parse_listen("[::1]:8443").host == "::1"
    for bad in ("8080", "host:", ":80", "127.0.0.1:99999", "a:b"):
        with pytest.raises(UsageError):
            parse_listen(bad)


def test_tls_cert_without_key_is_refused(data: Path, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = CliRunner().invoke(app, ["serve", "--tls-cert", str(cert)])
    assert isinstance(result.exception, UsageError) and "go together" in str(result.exception)


def test_the_cookie_key_is_private_and_kept(data: Path) -> None:
    first = secret_key(data)
    assert len(first) >= 32
    assert stat.S_IMODE((data / "portal.key").stat().st_mode) == 0o600
    assert secret_key(data) == first
