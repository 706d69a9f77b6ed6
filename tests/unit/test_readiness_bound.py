"""/readyz's bound on the projection lag (services/projections/health.py): ready while nothing
waits, or while the oldest waiting event has waited less than the bound."""

from __future__ import annotations

import pytest

from services.api.settings import Settings
from services.projections.health import ProjectionLag


def test_no_lag_is_within_every_bound():
    assert ProjectionLag(0, 0.0).within(0)
    assert ProjectionLag(0, 0.0).within(30)


def test_a_lag_is_within_a_bound_it_has_not_reached():
    assert ProjectionLag(2, 12.5).within(30)
    assert not ProjectionLag(2, 30.0).within(30)
    assert not ProjectionLag(1, 31.0).within(30)


def test_a_bound_of_zero_allows_no_lag_at_all():
    assert not ProjectionLag(1, 0.0).within(0)


def test_the_setting_defaults_to_thirty_seconds_and_is_bounded(monkeypatch: pytest.MonkeyPatch):
    assert Settings().ready_max_lag_seconds == 30.0
    monkeypatch.setenv("BENEFIT_LEDGER_READY_MAX_LAG_SECONDS", "5")
    assert Settings().ready_max_lag_seconds == 5.0
    monkeypatch.setenv("BENEFIT_LEDGER_READY_MAX_LAG_SECONDS", "-1")
    with pytest.raises(ValueError):
        Settings()
