"""Webhook signing secrets at rest: stored encrypted (Fernet) under the operator's key, never plain.

The key comes from `BENEFIT_LEDGER_SECRET_KEY` (one Fernet key, or several comma-separated: the
first encrypts, all decrypt, so keys can be changed without a gap). Without it:

- on SQLite, a key file beside the database (`<database>.secret-key`, created 0600 on first
  start), so a single-machine install needs no setup; an in-memory database gets a key for the
  life of the process. Back the file up, but apart from the database: a copy of both decrypts
  the secrets, and without the file they cannot be read.
- on PostgreSQL, `serve` refuses to start. Several processes on several machines share the
  database there, and a key file made by each would encrypt secrets the others cannot read
  (deliveries failing on some workers only); the operator sets one key everywhere instead.

A stored value is `fernet:` and the token. At start the service encrypts the plaintext secrets
of earlier releases and re-encrypts those under an older key, and refuses to start when one
cannot be decrypted (a wrong or missing key), rather than fail deliveries one by one later.
Secrets and keys are never logged; messages name the file or the setting, never the value.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.api.settings import Settings
from services.ledger.db import Connection, Database, DatabaseUrl, sqlite_path
from services.ledger.errors import InfrastructureError

log = logging.getLogger("benefit_ledger.webhooks")

ENCRYPTED_PREFIX = "fernet:"
KEY_FILE_SUFFIX = ".secret-key"
MAX_KEYS = 8
GENERATE_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class SecretKeyError(InfrastructureError):
    """No usable key for the webhook secrets: missing, malformed, or not the one they were
    encrypted with."""


class SecretBox:
    """Encrypts (`seal`) and decrypts (`open`) webhook secrets with the first of its keys; any of
    them decrypts."""

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not 1 <= len(keys) <= MAX_KEYS:
            raise SecretKeyError(f"give 1 to {MAX_KEYS} secret keys, comma-separated")
        try:
            fernets = [Fernet(key) for key in keys]
        except ValueError:
            raise SecretKeyError(
                f"a secret key is not a Fernet key (32 url-safe base64 bytes): make one with "
                f"{GENERATE_KEY}"
            ) from None
        self._primary = fernets[0]
        self._any = MultiFernet(fernets)

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def seal(self, secret: str) -> str:
        return ENCRYPTED_PREFIX + self._primary.encrypt(secret.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(ENCRYPTED_PREFIX):
            raise SecretKeyError("a webhook secret is stored unencrypted; restart the service")
        try:
            return self._any.decrypt(stored.removeprefix(ENCRYPTED_PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "the secret key does not decrypt a stored webhook secret: set the key it was "
                "encrypted with (BENEFIT_LEDGER_SECRET_KEY, or the key file beside a SQLite "
                "database), first or after the new one"
            ) from None

    def readable(self, stored: str) -> bool:
        """Whether one of the keys decrypts this stored value (plaintext counts: `reseal`
        encrypts it)."""
        if not stored.startswith(ENCRYPTED_PREFIX):
            return True
        try:
            self._any.decrypt(stored.removeprefix(ENCRYPTED_PREFIX).encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, stored: str) -> str | None:
        """The value to store instead: plaintext encrypted, or a secret under an older key
        re-encrypted under the first; None when it is already as it should be."""
        if not stored.startswith(ENCRYPTED_PREFIX):
            return self.seal(stored)
        try:
            self._primary.decrypt(stored.removeprefix(ENCRYPTED_PREFIX).encode())
        except InvalidToken:
            return self.seal(self.open(stored))
        return None


def secret_box(settings: Settings) -> SecretBox:
    """The box of the configured key(s), else of the SQLite key file; refused on PostgreSQL. An
    empty setting counts as unset (an env file with the line left blank)."""
    text = settings.secret_key.get_secret_value().strip() if settings.secret_key else ""
    if text:
        return SecretBox([key.strip() for key in text.split(",") if key.strip()])
    if DatabaseUrl(settings.database_url).dialect == "postgres":
        raise SecretKeyError(
            "BENEFIT_LEDGER_SECRET_KEY is not set: on PostgreSQL every process must encrypt "
            "webhook secrets with the same key. Make one with "
            f"{GENERATE_KEY} and set it in the environment of every `serve` (deploy/env.example)"
        )
    path = sqlite_path(settings.database_url)
    if path in ("", ":memory:"):
        return SecretBox([Fernet.generate_key()])
    return SecretBox([key_file(Path(path + KEY_FILE_SUFFIX))])


def key_file(path: Path) -> bytes:
    """The key in `path`, made first if there is none (0600; atomically, so processes starting
    together agree on one)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(Fernet.generate_key() + b"\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)  # fails if another process made it first: theirs wins
                log.warning(
                    "webhook secrets are encrypted with a new key file %s; keep it with the "
                    "database (without it the stored secrets cannot be read) or set "
                    "BENEFIT_LEDGER_SECRET_KEY",
                    path,
                )
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("the key file %s is readable by other users: chmod 600 it", path)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise SecretKeyError(f"{path} does not hold a Fernet key") from None
    return key


def seal_stored_secrets(database: Database, box: SecretBox) -> int:
    """Encrypt plaintext secrets and re-encrypt those under an older key (at start); returns how
    many were rewritten. Raises SecretKeyError if one cannot be decrypted."""
    connection = database.connect()
    try:
        return _seal_rows(connection, box)
    finally:
        connection.close()


@dataclass(frozen=True)
class ResetSecret:
    tenant: str
    webhook_id: str
    url: str
    secret: str  # the new secret in plain text, to be shown once


def reset_unreadable_secrets(
    database: Database, box: SecretBox, tenant: str | None, reason: str
) -> list[ResetSecret]:
    """Give the endpoints whose secret `box` cannot decrypt a new one, paused with `reason`; an
    unreadable previous secret (a rotation's overlap) is dropped. Returns the new secrets."""
    from services.api.webhooks.signing import new_secret
    from services.api.webhooks.store import PAUSED

    where, params = ("WHERE tenant = ?", (tenant,)) if tenant else ("", ())
    reset: list[ResetSecret] = []
    connection = database.connect()
    try:
        with connection.transaction(write=True):
            rows = connection.execute(
                "SELECT tenant, webhook_id, url, secret, previous_secret FROM webhooks "
                f"{where} ORDER BY tenant, webhook_id",
                params,
            )
            for tenant_, webhook_id, url, secret, previous in rows:
                if previous is not None and not box.readable(previous):
                    connection.execute(
                        "UPDATE webhooks SET previous_secret = NULL, "
                        "previous_secret_expires_at = NULL WHERE tenant = ? AND webhook_id = ?",
                        (tenant_, webhook_id),
                    )
                if box.readable(secret):
                    continue
                fresh = new_secret()
                connection.execute(
                    "UPDATE webhooks SET secret = ?, status = ?, status_reason = ?, "
                    "lease_owner = NULL, lease_until = NULL WHERE tenant = ? AND webhook_id = ?",
                    (box.seal(fresh), PAUSED, reason, tenant_, webhook_id),
                )
                reset.append(ResetSecret(tenant_, webhook_id, url, fresh))
    finally:
        connection.close()
    if reset:
        log.warning("webhook secrets reset (the key could not decrypt them): %d", len(reset))
    return reset


def _seal_rows(connection: Connection, box: SecretBox) -> int:
    """Each write applies only if the value is unchanged, so processes starting together do not
    encrypt twice."""
    rewritten = 0
    rows = connection.execute("SELECT tenant, webhook_id, secret, previous_secret FROM webhooks")
    for tenant, webhook_id, *stored in rows:
        for column, value in zip(("secret", "previous_secret"), stored, strict=True):
            resealed = box.reseal(value) if value is not None else None
            if resealed is None:
                continue
            connection.execute(
                f"UPDATE webhooks SET {column} = ? "
                f"WHERE tenant = ? AND webhook_id = ? AND {column} = ?",
                (resealed, tenant, webhook_id, value),
            )
            rewritten += 1
    if rewritten:
        log.info("webhook secrets encrypted or re-encrypted under the current key: %d", rewritten)
    return rewritten
