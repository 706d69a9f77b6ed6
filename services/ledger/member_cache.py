"""Members kept between group commits, so the writer does not fold a member's history again for
every batch that names it.

A cached member is exactly the projection the last commit left, so it is valid while nobody else
has written to its tenant since: the writer checks the tenant's head (which it has locked anyway)
against the head its last commit left. When another process moved it, the writer reads what that
process recorded since (a bounded number of events): members it did not touch stay valid, the
members this group needs are caught up by stepping those events (their cost does not grow with
their history), the others it touched are dropped; a tenant-wide event (a setting every member
depends on) or too many events drop the tenant's members. Members are taken out while a group
uses them and put back only after the group commits: a refused or failed group never leaves a
half-stepped member behind.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from services.projections.core.facts import LedgerEvent
from services.projections.core.member import MemberProjection

CACHED_MEMBERS = 10_000  # members one writer process keeps, least recently used dropped first
CATCH_UP_EVENTS = 1_000  # events another process recorded that are stepped rather than reloaded


class MemberCache:
    def __init__(self, size: int = CACHED_MEMBERS) -> None:
        self.size = size
        self._lock = threading.Lock()  # groups of different tenants commit side by side
        self._members: OrderedDict[tuple[str, str], MemberProjection] = OrderedDict()
        self._heads: dict[str, int] = {}  # the head each tenant's last commit here left

    def take(self, tenant: str, head: int, member_ids: list[str]) -> dict[str, MemberProjection]:
        """The cached members among these, removed from the cache while the caller steps them."""
        with self._lock:
            if self._heads.get(tenant) != head:
                self._drop_tenant(tenant)
                return {}
            found: dict[str, MemberProjection] = {}
            for member_id in member_ids:
                projection = self._members.pop((tenant, member_id), None)
                if projection is not None:
                    found[member_id] = projection
            return found

    def head(self, tenant: str) -> int | None:
        """The head the tenant's last commit here left (None: nothing cached for the tenant)."""
        with self._lock:
            return self._heads.get(tenant)

    def catch_up(
        self,
        tenant: str,
        cached_head: int,
        head: int,
        newer: list[tuple[str | None, LedgerEvent]] | None,
        wanted: list[str],
    ) -> dict[str, MemberProjection]:
        """Bring the tenant from `cached_head` to `head` given what was recorded in between
        (`(member, event)` in ledger order; None: too much to step). Returns the wanted members
        that must step events, taken out of the cache (the caller steps them); drops the other
        members those events touched."""
        with self._lock:
            if self._heads.get(tenant) != cached_head:
                return {}  # another group of this process moved it meanwhile: `take` decides
            if newer is None or any(member is None for member, _ in newer):
                self._drop_tenant(tenant)
                return {}
            touched = {member for member, _ in newer if member is not None}
            stepping: dict[str, MemberProjection] = {}
            for member_id in sorted(touched):
                projection = self._members.pop((tenant, member_id), None)
                if projection is not None and member_id in wanted:
                    stepping[member_id] = projection
            self._heads[tenant] = head
            return stepping

    def put(
        self, tenant: str, head: int, members: dict[str, MemberProjection], reset: bool
    ) -> None:
        """After a commit that left the tenant at `head`: keep its members (`reset`: the commit
        had tenant-wide events, which the members not in it have not seen: drop those)."""
        with self._lock:
            if reset:
                self._drop_tenant(tenant)
            self._heads[tenant] = head
            for member_id, projection in members.items():
                self._members[(tenant, member_id)] = projection
                self._members.move_to_end((tenant, member_id))
            while len(self._members) > self.size:
                self._members.popitem(last=False)

    def _drop_tenant(self, tenant: str) -> None:
        for key in [key for key in self._members if key[0] == tenant]:
            del self._members[key]
        self._heads.pop(tenant, None)
