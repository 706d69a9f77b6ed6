"""A payer's settings, and a `payer.settings_changed` applied to them (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal


@dataclass(frozen=True)
class PayerSettings:
    allow_accumulation: bool = False
    include_scheduled_units: bool = False
    exclude_missed_days: bool = False
    week_starts_on: str = "sunday"
    renewal_days_before_end: int = 14
    renewal_used_fraction: Decimal = Decimal("0.8")
    # service codes whose visits need an authorization, or "all" (accumulation.md section 3)
    authorization_required: frozenset[str] | Literal["all"] = frozenset()
    # a visit confirmed with clock times: minutes per unit, and the step worked minutes are
    # rounded to, half up (2.12)
    unit_minutes: int = 60
    rounding_minutes: int = 15

    def requires_authorization(self, service_code: str) -> bool:
        required = self.authorization_required
        return required == "all" or service_code in required


DEFAULT_SETTINGS = PayerSettings()


def settings_after(current: PayerSettings, d: Mapping[str, Any]) -> PayerSettings:
    """The settings after a change: a field the event leaves out keeps its value."""
    return PayerSettings(
        allow_accumulation=d.get("allow_accumulation", current.allow_accumulation),
        include_scheduled_units=d.get("include_scheduled_units", current.include_scheduled_units),
        exclude_missed_days=d.get("exclude_missed_days", current.exclude_missed_days),
        week_starts_on=d.get("week_starts_on", current.week_starts_on),
        renewal_days_before_end=d.get("renewal_days_before_end", current.renewal_days_before_end),
        renewal_used_fraction=Decimal(
            d.get("renewal_used_fraction", current.renewal_used_fraction)
        ),
        authorization_required=_required_codes(
            d.get("authorization_required"), current.authorization_required
        ),
        unit_minutes=d.get("unit_minutes", current.unit_minutes),
        rounding_minutes=d.get("rounding_minutes", current.rounding_minutes),
    )


def _required_codes(
    given: list[str] | str | None, current: frozenset[str] | Literal["all"]
) -> frozenset[str] | Literal["all"]:
    if given is None:
        return current
    return "all" if given == "all" else frozenset(given)
