"""What the write side needs from the read side, as interfaces: the ledger imports no projection
I/O. `services/projections/inline.py` implements them; the composition root wires them in."""

from __future__ import annotations

from typing import Protocol

from services.ledger.db import Connection
from services.ledger.validation import CandidateEvent
from services.projections.core.facts import LedgerEvent
from services.projections.core.member import MemberProjection


class Members(Protocol):
    """The members a batch has loaded, and how to find more of them."""

    def member(self, member_id: str) -> MemberProjection: ...

    def family_members(self, families: list[str]) -> set[str]: ...


class BatchProjection(Protocol):
    """The projection step of one tenant's part of a group, inside its transaction."""

    def warnings(
        self, projection: MemberProjection, candidate: CandidateEvent
    ) -> list[dict[str, str]]:
        """Advice answered with a recorded event (a visit beyond the available units)."""
        ...

    def member_event(self, projection: MemberProjection, event: LedgerEvent) -> None:
        """Step a member's event in, noting what it changed (balances, alerts)."""
        ...

    def store(self, stepped: list[MemberProjection], position: int) -> None:
        """Write the changed rows, the derived events and the tracking position."""
        ...


class Projector(Protocol):
    """Keeps the read models in step with the ledger, in the writer's transaction."""

    def restore(
        self, connection: Connection, tenant: str, projections: dict[str, MemberProjection]
    ) -> None:
        """Put what only the read model keeps (negative-accrual flags) on loaded members."""
        ...

    def begin(self, connection: Connection, tenant: str, members: Members) -> BatchProjection: ...
