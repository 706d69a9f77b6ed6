"""A ledger of members with two years of weekly history, written straight to the tables.

Every event is built as a client would POST it and normalized by the service's own validation,
so the stored rows are those the API would store; positions are gap-free and `recorded_at` grows
with them (each week's events are recorded in that week), so `known_at` in the past means
something. Per member: one weekly line of 10 units, every week a visit scheduled then confirmed
(8 units), every fourth week a second visit scheduled then missed: about 260 events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg

from bench.common import event, log
from services.ledger.codec import format_timestamp
from services.ledger.db import Database
from services.ledger.tags import tags_of
from services.ledger.validation import validate_batch

TENANT = "bench-history"
WEEKS = 104
FIRST_SUNDAY = date(2024, 11, 24)
EVENTS_PER_MEMBER = 1 + 2 * WEEKS + 2 * (WEEKS // 4)
LEDGER_COLUMNS = [
    "tenant", "position", "event_id", "type", "member_id", "payer_id", "data", "body_hash",
    "recorded_at", "tags",
]  # fmt: skip


@dataclass(frozen=True)
class History:
    database_url: str
    members: int
    events: int

    def recorded_during(self, week: int) -> datetime:
        return datetime.combine(
            FIRST_SUNDAY + timedelta(weeks=week, days=6), datetime.min.time(), UTC
        )


def members_for(events: int) -> int:
    return max(2, events // EVENTS_PER_MEMBER)


def _week_events(member: int, week: int) -> list[dict[str, object]]:
    name = f"member-{member}"
    common = {"member_id": name, "payer_id": "payer-1", "service_code": "T1019"}
    events: list[dict[str, object]] = []
    if week == 0:
        events.append(
            event(
                "authorization.granted",
                {
                    **common,
                    "authorization_id": f"line-{member}",
                    "authorization_number": f"AUTH-{member}",
                    "frequency": "week",
                    "units": "10",
                    "start_date": FIRST_SUNDAY.isoformat(),
                    "end_date": (FIRST_SUNDAY + timedelta(weeks=WEEKS, days=-1)).isoformat(),
                },
            )
        )
    day = FIRST_SUNDAY + timedelta(weeks=week, days=2)
    visit = f"visit-{member}-{week}"
    events.append(
        event(
            "visit.scheduled",
            {**common, "visit_id": visit, "service_date": day.isoformat(), "units": "8"},
        )
    )
    events.append(event("visit.confirmed", {"visit_id": visit}))
    if week % 4 == 0:
        extra = f"{visit}-extra"
        events.append(
            event(
                "visit.scheduled",
                {
                    **common,
                    "visit_id": extra,
                    "service_date": (day + timedelta(days=1)).isoformat(),
                    "units": "2",
                },
            )
        )
        events.append(event("visit.missed", {"visit_id": extra}))
    return events


def build(database_url: str, events: int) -> History:
    """Write about `events` events (whole members) into a migrated, empty ledger."""
    Database(database_url).migrate()
    members = members_for(events)
    position = 0
    total = 0
    with psycopg.connect(database_url) as connection:
        settings = event(
            "payer.settings_changed", {"payer_id": "payer-1", "allow_accumulation": True}
        )
        batches = [[settings]]
        history = History(database_url, members, 0)
        visit_tags: dict[str, list[str]] = {}
        for week in range(WEEKS):
            rows: list[tuple[object, ...]] = []
            tag_rows: list[tuple[object, ...]] = []
            week_events = batches.pop() if batches else []
            for member in range(members):
                week_events += _week_events(member, week)
            recorded = history.recorded_during(week)
            for start in range(0, len(week_events), 1000):
                for candidate in validate_batch({"events": week_events[start : start + 1000]}):
                    position += 1
                    data = candidate.data
                    member_id = data.get("member_id")
                    if member_id is None and "visit_id" in data:
                        member_id = "member-" + data["visit_id"].split("-")[1]
                    # a status change inherits its visit's tags, as the service tags it
                    inherited = visit_tags.get(data.get("visit_id", ""), [])
                    if candidate.type == "visit.scheduled":  # the line it draws from
                        inherited = [f"authorization:AUTH-{str(member_id).split('-')[1]}"]
                    tags = tags_of(data, member_id, inherited)
                    if candidate.type == "visit.scheduled":
                        visit_tags[data["visit_id"]] = tags
                    recorded_at = recorded + timedelta(microseconds=position)
                    rows.append(
                        (
                            TENANT,
                            position,
                            candidate.event_id,
                            candidate.type,
                            member_id,
                            data.get("payer_id"),
                            json.dumps(data, sort_keys=True, separators=(",", ":")),
                            candidate.body_hash,
                            format_timestamp(recorded_at),
                            json.dumps(tags),
                        )
                    )
                    tag_rows += [(TENANT, tag, position) for tag in tags]
            _copy(connection, "ledger_events", LEDGER_COLUMNS, rows)
            _copy(connection, "ledger_tags", ["tenant", "tag", "position"], tag_rows)
            connection.execute(
                "INSERT INTO ledger_heads (tenant, position, recorded_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (tenant) DO UPDATE SET position = excluded.position, "
                "recorded_at = excluded.recorded_at",
                (TENANT, position, format_timestamp(recorded_at)),
            )
            connection.commit()
            total += len(rows)
            if week % 26 == 25:
                log(f"history: {week + 1} of {WEEKS} weeks written ({total:,} events)")
        connection.execute("ANALYZE ledger_events")
        connection.execute("ANALYZE ledger_tags")
        connection.commit()
    return History(database_url, members, total)


def _copy(
    connection: psycopg.Connection, table: str, columns: list[str], rows: list[tuple[object, ...]]
) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
