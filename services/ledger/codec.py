"""How the ledger stores instants: fixed-width UTC text that compares correctly as a string."""

from __future__ import annotations

from datetime import UTC, datetime

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: compares as text


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The stored form back (fromisoformat reads the trailing Z and is far faster than strptime)."""
    return datetime.fromisoformat(text)
