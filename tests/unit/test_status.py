"""accumulation.md 2.16: authorization status per line and per key, as of a date.

One line of 10 a week from Sunday 2026-10-04 to Saturday 2026-10-31 (four weeks, 40 units),
the payer's defaults (renewal notice 14 days before the end, or at 0.8 of the units used):

| as of | used | status |
| --- | --- | --- |
| 2026-10-03 | - | pending |
| 2026-10-06 | 8 | active |
| 2026-10-17 | 8 | expiring (14 days left) |
| 2026-10-13 | 8 + 26 = 34 of 40 | expiring (0.85 used) |
| 2026-11-01 | - | expired |
| voided | - | voided |
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.projections.core.facts import PayerSettings
from services.projections.core.member import MemberProjection
from services.projections.core.status import key_status, line_fraction_used, renewal_reasons
from tests.unit.builders import CODE, NUMBER, WEEK1, History

KEY = (NUMBER, CODE)


def status(projection: MemberProjection, as_of: date) -> str:
    lines = projection.facts.key_lines(KEY)
    settings = projection.facts.settings_for(lines[0].payer_id)
    return key_status(lines, projection.key_result(KEY), settings, as_of).status


def one_line(*used: int, **settings: object) -> History:
    history = History()
    history.settings(allow_accumulation=True, **settings)
    history.grant()
    for week, units in enumerate(used):
        history.visit(f"v{week}", WEEK1 + timedelta(days=7 * week + 1), units)
    return history


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (date(2026, 10, 3), "pending"),
        (date(2026, 10, 4), "active"),
        (date(2026, 10, 16), "active"),  # 15 days left
        (date(2026, 10, 17), "expiring"),  # 14 days left
        (date(2026, 10, 31), "expiring"),
        (date(2026, 11, 1), "expired"),
    ],
)
def test_a_line_by_its_dates(as_of: date, expected: str):
    assert status(one_line(8).project(), as_of) == expected


def test_a_line_with_most_of_its_units_used_is_expiring():
    projection = one_line(8, 26).project()  # 34 of 40 by week 2: 0.85
    assert status(projection, date(2026, 10, 13)) == "expiring"
    assert status(projection, date(2026, 10, 6)) == "active"  # 8 of 40 by week 1
    lines = projection.facts.key_lines(KEY)
    assert str(line_fraction_used(lines[0], projection.key_result(KEY), date(2026, 10, 13))) == (
        "0.85"
    )


def test_the_payers_renewal_settings_decide():
    history = one_line(8, 26, renewal_used_fraction="0.9")
    settings = history.events[0].data
    assert isinstance(settings, dict)
    settings["renewal_days_before_end"] = 3  # a JSON integer, as the ledger stores it
    projection = history.project()
    assert status(projection, date(2026, 10, 17)) == "active"
    assert status(projection, date(2026, 10, 28)) == "expiring"


def test_a_voided_line_is_voided_and_a_key_takes_its_most_advanced_line():
    history = one_line(8)
    history.grant("L2", start=date(2026, 11, 1), end=date(2026, 11, 28))
    assert status(history.project(), date(2026, 10, 6)) == "active"  # active > pending
    assert status(history.project(), date(2026, 10, 20)) == "expiring"  # expiring > pending
    assert status(history.project(), date(2026, 11, 3)) == "active"  # active > expired
    history.add("authorization.voided", authorization_id="L2")
    assert status(history.project(), date(2026, 11, 3)) == "expired"  # expired > voided
    history.add("authorization.voided", authorization_id="L1")
    projection = history.project()
    assert status(projection, date(2026, 10, 6)) == "voided"
    lines = projection.facts.key_lines(KEY)
    settings = projection.facts.settings_for(lines[0].payer_id)
    found = key_status(lines, projection.key_result(KEY), settings, date(2026, 10, 6))
    assert [(line.authorization_id, line.status) for line in found.lines] == [
        ("L1", "voided"),
        ("L2", "voided"),
    ]


def test_a_removed_service_code_reads_as_voided():
    history = one_line(8)
    history.add(
        "authorization.service_removed",
        member_id="m-1",
        authorization_number=NUMBER,
        service_code=CODE,
    )
    assert status(history.project(), date(2026, 10, 6)) == "voided"


def test_renewal_reasons_is_the_rule_of_the_renewal_alert_too():
    defaults = PayerSettings()
    assert (defaults.renewal_days_before_end, str(defaults.renewal_used_fraction)) == (14, "0.8")
    assert renewal_reasons(15, None, defaults) == []
    assert renewal_reasons(14, None, defaults) == ["ending_soon"]
    assert renewal_reasons(30, Decimal("0.8"), defaults) == ["units_used"]
    assert renewal_reasons(0, Decimal("1"), defaults) == ["ending_soon", "units_used"]
