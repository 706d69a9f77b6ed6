"""What an event concerns, as DCB tags: `member:M`, `payer:P`, `visit:V` and so on.

Pure: the tags follow from the event's own data, its member, and the tags of the event that
created what it names (an amendment concerns everything its grant concerned).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# data field -> tag prefix; `authorization_id` names a line of an authorization, whose number
# is the `authorization` tag the contract lists
TAGGED_FIELDS = (
    ("payer_id", "payer"),
    ("authorization_number", "authorization"),
    ("authorization_id", "authorization_id"),
    ("visit_id", "visit"),
    ("benefit_id", "benefit"),
    ("claim_id", "claim"),
    ("schedule_id", "schedule"),
    ("family_id", "family"),
)
MAX_TAGS = 64  # a condition or an event names at most this many


def tag(prefix: str, value: str) -> str:
    return f"{prefix}:{value}"


def tags_of(
    data: Mapping[str, Any], member_id: str | None, inherited: Iterable[str] = ()
) -> list[str]:
    """The event's tags, sorted: its member, every id it carries, and what it inherits."""
    found = set(inherited)
    if member_id is not None:
        found.add(tag("member", member_id))
    for name, prefix in TAGGED_FIELDS:
        value = data.get(name)
        if isinstance(value, str):
            found.add(tag(prefix, value))
    return sorted(found)


def member_of_tags(tags: Iterable[str]) -> str | None:
    """The member an event concerns, read back from its tags."""
    for item in tags:
        if item.startswith("member:"):
            return item.removeprefix("member:")
    return None
