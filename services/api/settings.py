"""Service settings from the environment (prefix BENEFIT_LEDGER_), with explicit bounds."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./benefit-ledger.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENEFIT_LEDGER_")

    database_url: str = DEFAULT_DATABASE_URL
    postgres_read_pool_size: int = 8
