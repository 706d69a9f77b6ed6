"""The 005010X279A1 codes the 271 export writes and the reconciliation reads (pure).

EB01: `F` limitations (benefit limits and day accumulators), `C` deductibles, `G` out-of-pocket
maximums. EB06 time period qualifiers: the limit of its period (`23` calendar year, `22` service
year for plan years and anniversaries, `32` lifetime, `26` episode, `7` day for a rolling window),
used `24` (year to date), remaining `29`. EB09 quantity qualifiers: `VS` visits, `P6` number of
services or procedures (our `units`), `DY` days; money goes in EB07.
"""

from __future__ import annotations

from services.interop.model import LineKind, Measure

EB01_BY_KIND: dict[LineKind, str] = {
    "limit": "F",
    "day": "F",
    "deductible": "C",
    "out_of_pocket": "G",
}
KIND_BY_EB01: dict[str, LineKind] = {"F": "limit", "C": "deductible", "G": "out_of_pocket"}

PERIOD_QUALIFIER = {
    "calendar_year": "23",
    "plan_year": "22",
    "anniversary": "22",
    "lifetime": "32",
    "episode": "26",
    "rolling": "7",
}
DEFAULT_PERIOD_QUALIFIER = "22"  # a period type of a later release: a service year
LIMIT_QUALIFIERS = frozenset({"7", "21", "22", "23", "25", "26", "27", "32", "34", "35"})
USED_QUALIFIER = "24"
REMAINING_QUALIFIERS = frozenset({"29", "33"})  # remaining, lifetime remaining

QUANTITY_QUALIFIER: dict[Measure, str] = {"visits": "VS", "units": "P6", "days": "DY"}
MEASURE_BY_QUANTITY: dict[str, Measure] = {"VS": "visits", "P6": "units", "DY": "days"}

COVERAGE_LEVEL = {"individual": "IND", "family": "FAM"}
NETWORK_INDICATOR = {"in": "Y", "out": "N", "any": "W"}

# the ledger position an export reflects: 2100C REF with the mutually defined qualifier ZZ
# (no 005010X279A1 qualifier names a ledger position), REF03 saying what it is
POSITION_REF_QUALIFIER = "ZZ"
POSITION_REF_DESCRIPTION = "LEDGER POSITION"
