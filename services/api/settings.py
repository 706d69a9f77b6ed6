"""Service settings from the environment (prefix BENEFIT_LEDGER_), with explicit bounds."""

from __future__ import annotations

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./benefit-ledger.db"
DATABASE_HELP = (
    "database URL: sqlite:///PATH (default "
    f"{DEFAULT_DATABASE_URL}) or postgresql://USER@HOST:PORT/DB; "
    "also the environment variable BENEFIT_LEDGER_DATABASE_URL"
)


def database_url(value: str | None) -> str:
    """The --database option, else BENEFIT_LEDGER_DATABASE_URL, else the SQLite default."""
    return value or os.environ.get("BENEFIT_LEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENEFIT_LEDGER_")

    database_url: str = DEFAULT_DATABASE_URL
    postgres_read_pool_size: int = 8
    # a read waits at most this long for a pooled connection (or to open one), then answers 503
    postgres_acquire_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # webhooks may target loopback, private or link-local addresses (tests, closed networks)
    allow_private_webhooks: bool = False
    # serve runs the delivery workers (webhooks) and the period tick beside the API
    delivery_workers: bool = True
    tick_interval_seconds: float = 300.0  # how often serve runs the period tick; 0 turns it off
    # an idle event stream sends a comment this often, so proxies keep it open
    sse_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    # a request body over this many bytes is answered 413 before it is read whole
    max_body_bytes: int = Field(default=5_000_000, ge=1024)
    # the Fernet key(s) webhook signing secrets are encrypted with at rest, comma-separated: the
    # first encrypts, every one decrypts (to change keys, put the new one first). Unset: on
    # SQLite a key file beside the database (created 0600); on PostgreSQL `serve` refuses to
    # start (services/api/webhooks/secret_box.py says why)
    secret_key: SecretStr | None = None
    # after a secret rotation, deliveries are signed with the old secret too for this long
    webhook_secret_overlap_seconds: int = Field(default=86400, ge=0, le=7 * 86400)
    # /readyz stays ready while no event has waited longer than this for the projections (an
    # import's chunks, a replay); 0: any lag is not ready
    ready_max_lag_seconds: float = Field(default=30.0, ge=0, le=86400)
