"""Pydantic models of query answers, reports, operations and errors (api.md).

The models live by concern beside this module: accumulation_answers (a member's keys and their
periods), visit_answers (visits and the scheduling check), reports (the exceeding report among
them), operations (keys, recalculation, the ledger's pages, status) and errors. Every name is
re-exported here, so `from contracts.queries import X` keeps working for every client.
"""

from __future__ import annotations

from contracts.accumulation_answers import (
    AS_OF,
    KNOWN_AT,
    POSITION,
    AccumulationDetail,
    AccumulationList,
    AuthorizationStatus,
    Effect,
    ExplainEntry,
    Explanation,
    LineStatusOut,
    NegativeAccrualOut,
    PeriodOut,
    Span,
    Summary,
    UnauthorizedVisit,
)
from contracts.errors import ErrorBody, ErrorDetail, ErrorOut
from contracts.operations import (
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyList,
    ApiKeyOut,
    LedgerEventOut,
    LedgerEventsPage,
    RecalculateIn,
    RecalculateOut,
    Role,
    TenantStatusOut,
)
from contracts.reports import ExceedingItem, ExceedingReport, ReviewReason
from contracts.visit_answers import (
    Available,
    CheckAllocation,
    CheckWarning,
    KeyRef,
    SchedulingCheckIn,
    SchedulingCheckOut,
    VisitAllocation,
    VisitOut,
)

__all__ = [
    "AS_OF",
    "KNOWN_AT",
    "POSITION",
    "AccumulationDetail",
    "AccumulationList",
    "ApiKeyIn",
    "ApiKeyInfo",
    "ApiKeyList",
    "ApiKeyOut",
    "AuthorizationStatus",
    "Available",
    "CheckAllocation",
    "CheckWarning",
    "Effect",
    "ErrorBody",
    "ErrorDetail",
    "ErrorOut",
    "ExceedingItem",
    "ExceedingReport",
    "ExplainEntry",
    "Explanation",
    "KeyRef",
    "LedgerEventOut",
    "LedgerEventsPage",
    "LineStatusOut",
    "NegativeAccrualOut",
    "PeriodOut",
    "RecalculateIn",
    "RecalculateOut",
    "ReviewReason",
    "Role",
    "SchedulingCheckIn",
    "SchedulingCheckOut",
    "Span",
    "Summary",
    "TenantStatusOut",
    "UnauthorizedVisit",
    "VisitAllocation",
    "VisitOut",
]
