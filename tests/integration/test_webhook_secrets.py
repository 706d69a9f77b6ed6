"""Webhook secrets at rest: where the key comes from, encrypting the plaintext of earlier
releases at start, changing keys, and refusing to start with no key (PostgreSQL) or a wrong one.

Each test has a database of its own (a SQLite file in tmp_path), so the keys tried here never
meet the session's databases.
"""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.api.app import create_app
from services.api.settings import Settings
from services.api.webhooks import store
from services.api.webhooks.secret_box import (
    SecretBox,
    SecretKeyError,
    seal_stored_secrets,
    secret_box,
)
from services.api.webhooks.signing import new_secret
from services.ledger.db import Database

KEY_SETTING = "BENEFIT_LEDGER_SECRET_KEY"


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'ledger.db'}"


def _database_with_webhook(url: str, secret: str) -> Database:
    """A migrated database holding one webhook whose stored secret is `secret`, as given."""
    database = Database(url)
    database.migrate()
    connection = database.connect()
    try:
        store.create_webhook(
            connection,
            webhook_id="wh_1",
            tenant="t-1",
            url="https://example.com/hook",
            types=[],
            secret=secret,
            after=0,
            now=datetime.now(UTC),
        )
    finally:
        connection.close()
    return database


def _stored(database: Database) -> str:
    connection = database.connect()
    try:
        return str(connection.execute("SELECT secret FROM webhooks")[0][0])
    finally:
        connection.close()


def test_without_the_setting_sqlite_gets_a_key_file_beside_the_database(
    sqlite_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv(KEY_SETTING, raising=False)
    first = secret_box(Settings(database_url=sqlite_file))
    key_file = tmp_path / "data" / "ledger.db.secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(key_file.read_bytes().strip())  # a Fernet key
    sealed = first.seal("whsec_AAAA")
    again = secret_box(Settings(database_url=sqlite_file))  # the next start reads the same key
    assert again.open(sealed) == "whsec_AAAA"
    assert [path.name for path in key_file.parent.iterdir()] == ["ledger.db.secret-key"]
    memory = secret_box(Settings(database_url="sqlite:///:memory:"))
    assert memory.open(memory.seal("x")) == "x"
    blank = secret_box(Settings(database_url=sqlite_file, secret_key=" "))  # counts as unset
    assert blank.open(sealed) == "whsec_AAAA"


def test_without_the_setting_postgresql_refuses_to_start(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(KEY_SETTING, "")  # as in deploy/env.example before it is filled in
    with pytest.raises(SecretKeyError, match=KEY_SETTING) as refused:
        create_app(Settings(database_url=postgres_url, delivery_workers=False))
    assert "generate_key" in refused.value.message  # says how to make one


@pytest.mark.parametrize("value", ["not-a-key", ",", Fernet.generate_key().decode()[:-2]])
def test_a_malformed_key_is_refused(value: str, sqlite_file: str):
    with pytest.raises(SecretKeyError):
        secret_box(Settings(database_url=sqlite_file, secret_key=value))


def test_plaintext_secrets_of_earlier_releases_are_encrypted_at_start(sqlite_file: str):
    secret = new_secret()
    database = _database_with_webhook(sqlite_file, secret)  # as an earlier release stored it
    key = Fernet.generate_key().decode()
    settings = Settings(database_url=sqlite_file, secret_key=key, delivery_workers=False)
    app = create_app(settings)
    stored = _stored(database)
    assert stored.startswith("fernet:") and secret not in stored
    assert app.state.webhook_secrets.open(stored) == secret
    assert seal_stored_secrets(database, app.state.webhook_secrets) == 0  # once is enough
    create_app(settings)
    assert _stored(database) == stored


def test_keys_change_without_a_gap_and_a_wrong_key_refuses_to_start(sqlite_file: str):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secret = new_secret()
    database = _database_with_webhook(sqlite_file, SecretBox([old]).seal(secret))

    with pytest.raises(SecretKeyError, match="does not decrypt"):
        create_app(Settings(database_url=sqlite_file, secret_key=new, delivery_workers=False))
    assert SecretBox([old]).open(_stored(database)) == secret  # nothing was changed

    both = Settings(database_url=sqlite_file, secret_key=f"{new}, {old}", delivery_workers=False)
    create_app(both)  # re-encrypts under the first key
    assert SecretBox([new]).open(_stored(database)) == secret
    with pytest.raises(SecretKeyError):
        SecretBox([old]).open(_stored(database))
    create_app(Settings(database_url=sqlite_file, secret_key=new, delivery_workers=False))


def test_a_lost_key_is_recovered_by_resetting_the_secrets(
    sqlite_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`webhooks reset-secrets`: with the old key gone, the endpoint gets a new secret the new
    key decrypts, is paused until its receiver has it, and `serve` starts again."""
    from services.api.cli import main

    lost, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database = _database_with_webhook(sqlite_file, SecretBox([lost]).seal(new_secret()))
    monkeypatch.setenv(KEY_SETTING, new)
    with pytest.raises(SecretKeyError, match="does not decrypt"):
        create_app(Settings(database_url=sqlite_file, delivery_workers=False))

    assert main(["webhooks", "reset-secrets", "--database", sqlite_file]) == 0
    printed = capsys.readouterr().out
    shown = next(word for word in printed.split() if word.startswith("whsec_"))
    assert SecretBox([new]).open(_stored(database)) == shown
    connection = database.connect()
    try:
        status, reason = connection.execute("SELECT status, status_reason FROM webhooks")[0]
    finally:
        connection.close()
    assert status == "paused" and "new secret" in reason
    create_app(Settings(database_url=sqlite_file, delivery_workers=False))  # starts again

    assert main(["webhooks", "reset-secrets", "--database", sqlite_file]) == 0
    assert "nothing to reset" in capsys.readouterr().out
    assert SecretBox([new]).open(_stored(database)) == shown  # a second run changes nothing
