"""Members kept between group commits, so the writer does not fold a member's history again for
every batch that names it.

A cached member is exactly the projection the last commit left, so it is valid while nobody else
has written to its tenant since: the writer checks the tenant's head (which it has locked anyway)
against the head its last commit left, and drops the tenant's members when another process moved
it. Members are taken out while a group uses them and put back only after the group commits: a
refused or failed group never leaves a half-stepped member behind.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from services.projections.core.member import MemberProjection

CACHED_MEMBERS = 10_000  # members one writer process keeps, least recently used dropped first


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
