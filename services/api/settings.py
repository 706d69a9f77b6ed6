"""Service settings from the environment (prefix BENEFIT_LEDGER_), with explicit bounds."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./benefit-ledger.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENEFIT_LEDGER_")

    database_url: str = DEFAULT_DATABASE_URL
    postgres_read_pool_size: int = 8
    # webhooks may target loopback, private or link-local addresses (tests, closed networks)
    allow_private_webhooks: bool = False
    # serve runs the delivery workers (webhooks) and the period tick beside the API
    delivery_workers: bool = True
    tick_interval_seconds: float = 300.0  # how often serve runs the period tick; 0 turns it off
