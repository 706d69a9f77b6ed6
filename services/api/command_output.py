"""What the commands print when they are done: one line saying what they did, in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command starts fast: the tick module loads with the command
    from services.projections.tick import TickResult

MAX_TENANTS_LISTED = 10


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 tenant`, `2 tenants`, `1,500 events`."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def rebuild_summary(
    sizes: dict[str, int], checked: int, corrected: int, *, from_scratch: bool
) -> str:
    """`sizes`: events per tenant rebuilt. From scratch every member's rows are written anew:
    there was nothing to compare them with, so nothing was corrected."""
    replayed = (
        f"{plural(len(sizes), 'tenant')}, {plural(sum(sizes.values()), 'ledger event')}, "
        f"{plural(checked, 'member')} replayed"
    )
    if from_scratch:
        return f"rebuild from scratch: {replayed}; read models written anew"
    if corrected == 0:
        return f"rebuild: {replayed}; read models were up to date (0 corrected)"
    differed = plural(corrected, "member's", "members'")
    return f"rebuild: {replayed}; {differed} read models differed ({corrected:,} corrected)"


def unknown_tenant(tenant: str, url: str, sizes: dict[str, int]) -> str:
    """A tenant with no events, and the ones there are (a typo is the likely cause)."""
    known = sorted(sizes)
    listed = ", ".join(known[:MAX_TENANTS_LISTED]) + (
        ", ..." if len(known) > MAX_TENANTS_LISTED else ""
    )
    return (
        f"no events recorded for tenant {tenant!r} in {url} "
        f"(tenants with events: {listed or 'none'})"
    )


def tick_summary(result: TickResult) -> str:
    by_type = ", ".join(f"{count:,} {kind}" for kind, count in sorted(result.emitted.items()))
    day = f"each tenant's today ({result.day} in UTC)" if result.by_time_zone else result.day
    line = (
        f"tick for {day}: {plural(result.emitted_total, 'event')} emitted"
        f"{f' ({by_type})' if by_type else ''} for "
        f"{plural(result.keys, 'key')} of {plural(result.tenants, 'tenant')}"
    )
    if result.tenants_left:
        line += f"; {plural(result.tenants_left, 'tenant')} left to another process's tick"
    return line
