"""The console's reports: sortable tables of the API's reports, as CSV too, ready to print."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.api.console import data
from services.api.console.auth import Viewer, viewer
from services.api.console.render import SECURITY_HEADERS, TimeChoice, page, time_choice
from services.api.deps import Context, context, parse_date
from services.api.routers.benefits import parse_threshold
from services.api.routers.reports import MAX_RANGE_DAYS
from services.ledger.errors import InvalidRequestError, Problem

router = APIRouter()


@dataclass(frozen=True)
class Column:
    name: str  # the CSV header and the `sort` value
    title: str
    cell: Callable[[dict[str, Any]], Any]
    numeric: bool = False


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name)


EXCEEDING = (
    Column("member_id", "Member", _field("member_id")),
    Column("authorization_number", "Authorization", _field("authorization_number")),
    Column("service_code", "Service code", _field("service_code")),
    Column("reason", "Reason", _field("reason")),
    Column("raw_balance", "Raw balance", _field("raw_balance"), numeric=True),
    Column("overuse", "Overuse", _field("overuse"), numeric=True),
    Column("cause", "Cause", _field("cause")),
    Column("period_start", "From period", _field("period_start")),
    Column("event_id", "Causing event", _field("event_id")),
    Column("override", "Override", lambda r: (r.get("override") or {}).get("reason")),
)
NEAR_LIMIT = (
    Column("member_id", "Member", _field("member_id")),
    Column("benefit_id", "Benefit", _field("benefit_id")),
    Column("benefit_code", "Code", _field("benefit_code")),
    Column("period_start", "Period start", lambda r: r["period"]["start"]),
    Column("period_end", "Period end", lambda r: r["period"]["end"]),
    Column("limit", "Limit", _field("limit"), numeric=True),
    Column("used", "Used", _field("used"), numeric=True),
    Column("remaining", "Remaining", _field("remaining"), numeric=True),
    Column("fraction_used", "Share used", _field("fraction_used"), numeric=True),
    Column("reconciliation", "Reconcile", _field("reconciliation")),
)
UTILIZATION = (
    Column("member_id", "Member", _field("member_id")),
    Column("authorization_number", "Authorization", _field("authorization_number")),
    Column("service_code", "Service code", _field("service_code")),
    Column("status", "Status", _field("status")),
    Column("span_start", "From", _field("span_start")),
    Column("span_end", "To", _field("span_end")),
    Column("burn_rate", "Burn rate per period", _field("burn_rate"), numeric=True),
    Column("projected_unused", "Projected unused", _field("projected_unused"), numeric=True),
    Column("runs_out_on", "Runs out on", _field("runs_out_on")),
)
RENEWALS = (
    Column("member_id", "Member", _field("member_id")),
    Column("authorization_number", "Authorization", _field("authorization_number")),
    Column("service_code", "Service code", _field("service_code")),
    Column("payer_id", "Payer", _field("payer_id")),
    Column("line", "Expiring line", _field("line")),
    Column("line_end", "Line ends", _field("line_end")),
    Column("days_left", "Days left", _field("days_left"), numeric=True),
    Column("share_used", "Share of units used", _field("share_used"), numeric=True),
)
AUTHORIZED_VS_SCHEDULED = (
    Column("member_id", "Member", _field("member_id")),
    Column("authorization_number", "Authorization", _field("authorization_number")),
    Column("service_code", "Service code", _field("service_code")),
    Column("period_start", "Period start", lambda r: r["period"]["start"]),
    Column("period_end", "Period end", lambda r: r["period"]["end"]),
    Column("authorized", "Authorized", _field("authorized"), numeric=True),
    Column("scheduled", "Scheduled", _field("scheduled"), numeric=True),
    Column("confirmed", "Confirmed", _field("confirmed"), numeric=True),
    Column("missed", "Missed", _field("missed"), numeric=True),
    Column("variance", "Variance", _field("variance"), numeric=True),
)
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sort_rows(
    rows: list[dict[str, Any]], columns: Sequence[Column], sort: str | None, order: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The rows by one column (None values last), or as the report answered them."""
    column = next((c for c in columns if c.name == sort), None)
    if column is None:
        return rows, None

    def key(row: dict[str, Any]) -> tuple[bool, Any]:
        value = column.cell(row)
        return (value is None, value if value is not None else "")

    ordered = sorted(rows, key=key, reverse=order == "desc")
    if order == "desc":  # None values stay last either way
        ordered = [r for r in ordered if column.cell(r) is not None] + [
            r for r in ordered if column.cell(r) is None
        ]
    return ordered, column.name


def _csv_cell(value: Any, numeric: bool) -> str:
    text = "" if value is None else (f"{value:f}" if isinstance(value, Decimal) else str(value))
    if not numeric and text.startswith(CSV_FORMULA_START):  # a spreadsheet would run it
        return "'" + text
    return text


def to_csv(rows: list[dict[str, Any]], columns: Sequence[Column]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(c.cell(row), c.numeric) for c in columns])
    return out.getvalue()


def _order(value: str) -> str:
    if value not in ("asc", "desc"):
        raise InvalidRequestError(
            "order must be asc or desc", [Problem(None, "order", f"not asc or desc: {value!r}")]
        )
    return value


@dataclass(frozen=True)
class Report:
    name: str  # its path under /reports/ and its CSV file's name
    title: str
    about: str  # what a row means, under the title (and on the printout)
    columns: Sequence[Column]
    key_links: bool = False  # its keys accumulate: link each to its timeline


def _range(first: str | None, last: str | None, today: date) -> tuple[date, date]:
    """The report's days, checked as the API checks them; an empty field means the tenant's
    current month (the API requires both: a page opens with something to show)."""
    start = parse_date("from", first) if first else today.replace(day=1)
    if last:
        end = parse_date("to", last)
    else:
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        end = following - timedelta(days=1)
    if start > end:
        raise InvalidRequestError(
            "from must not be after to", [Problem(None, "to", f"{end} is before from {start}")]
        )
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise InvalidRequestError(
            f"the range is longer than {MAX_RANGE_DAYS} days",
            [Problem(None, "to", f"{days} days from {start} to {end}; at most {MAX_RANGE_DAYS}")],
        )
    return start, end


async def _report(
    request: Request,
    who: Viewer,
    report: Report,
    found: tuple[list[dict[str, Any]], int],
    chosen: TimeChoice,
    options: dict[str, Any],
) -> Response:
    rows, position = found
    order = _order(options.pop("order") or "asc")
    rows, sorted_by = sort_rows(rows, report.columns, options.pop("sort"), order)
    period = options.pop("period", None) or str(chosen.as_of)  # what the report is "as of"
    if options.pop("format") == "csv":
        headers = {
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="{report.name}-{period}.csv"',
        }
        return Response(to_csv(rows, report.columns), media_type="text/csv", headers=headers)
    # what every link of the page keeps: the same report at the same moment
    keep: dict[str, str | None] = {
        **chosen.params(),
        **{k: options[k] for k in ("threshold", "from", "to") if k in options},
    }
    return page(
        request,
        "report.html",
        who=who,
        report=report,
        keep=keep,
        rows=rows,
        sorted_by=sorted_by,
        order=order,
        chosen=chosen,
        options=options,
        footer={
            "as_of": chosen.as_of,
            "range": options.get("range"),
            "known_at": chosen.known_at_label,
            "position": position,
        },
    )


@router.get("/reports/exceeding-accumulation", include_in_schema=False)
async def exceeding(
    request: Request,
    as_of: str | None = None,
    known_at: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    format: str | None = None,
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> Response:
    """Keys that need review (accumulation.md 2.10)."""
    chosen = await time_choice(ctx, who.tenant, as_of, known_at)
    found = await data.exceeding_report(ctx, who.tenant, chosen.as_of, chosen.known_at)
    options = {"sort": sort, "order": order, "format": format}
    return await _report(request, who, EXCEEDING_REPORT, found, chosen, options)


@router.get("/reports/benefits-near-limit", include_in_schema=False)
async def near_limit(
    request: Request,
    as_of: str | None = None,
    known_at: str | None = None,
    threshold: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    format: str | None = None,
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> Response:
    """Benefits at or past `threshold` of their limit (default 0.8), fullest first."""
    chosen = await time_choice(ctx, who.tenant, as_of, known_at)
    share = parse_threshold(threshold or None)
    found = await data.near_limit_report(ctx, who.tenant, chosen.as_of, chosen.known_at, share)
    options = {"sort": sort, "order": order, "format": format, "threshold": threshold}
    return await _report(request, who, NEAR_LIMIT_REPORT, found, chosen, options)


@router.get("/reports/utilization", include_in_schema=False)
async def utilization(
    request: Request,
    as_of: str | None = None,
    known_at: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    format: str | None = None,
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> Response:
    """Will the units of the keys in force last? (accumulation.md 2.15)."""
    chosen = await time_choice(ctx, who.tenant, as_of, known_at)
    found = await data.utilization_report(ctx, who.tenant, chosen.as_of, chosen.known_at)
    options = {"sort": sort, "order": order, "format": format}
    return await _report(request, who, UTILIZATION_REPORT, found, chosen, options)


@router.get("/reports/renewals-due", include_in_schema=False)
async def renewals(
    request: Request,
    as_of: str | None = None,
    known_at: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    format: str | None = None,
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> Response:
    """Keys whose status is `expiring` (accumulation.md 2.16)."""
    chosen = await time_choice(ctx, who.tenant, as_of, known_at)
    found = await data.renewals_report(ctx, who.tenant, chosen.as_of, chosen.known_at)
    options = {"sort": sort, "order": order, "format": format}
    return await _report(request, who, RENEWALS_REPORT, found, chosen, options)


@router.get("/reports/authorized-vs-scheduled", include_in_schema=False)
async def authorized_vs_scheduled(
    request: Request,
    first: str | None = Query(default=None, alias="from"),
    last: str | None = Query(default=None, alias="to"),
    known_at: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    format: str | None = None,
    who: Viewer = Depends(viewer),
    ctx: Context = Depends(context),
) -> Response:
    """Per key and period in the range: authorized units against booked and done."""
    chosen = await time_choice(ctx, who.tenant, None, known_at)  # as_of: the tenant's today
    start, end = _range(first, last, chosen.as_of)
    found = await data.authorized_vs_scheduled_report(ctx, who.tenant, start, end, chosen.known_at)
    options = {
        "sort": sort,
        "order": order,
        "format": format,
        "from": first,
        "to": last,
        "range": (start, end),
        "period": f"{start}-to-{end}",
    }
    return await _report(request, who, AUTHORIZED_VS_SCHEDULED_REPORT, found, chosen, options)


EXCEEDING_REPORT = Report(
    "exceeding-accumulation",
    "Exceeding accumulation",
    "Keys that need review as of the date, with the first reason that applies: negative "
    "accrual, a zero balance, or overuse in a past period.",
    EXCEEDING,
    key_links=True,
)
NEAR_LIMIT_REPORT = Report(
    "benefits-near-limit",
    "Benefits near their limit",
    "Benefit limits at or past the chosen share of their limit in the period holding the date.",
    NEAR_LIMIT,
)
UTILIZATION_REPORT = Report(
    "utilization",
    "Utilization",
    "Will the units last? Keys in force (active or expiring) whose forecast leaves units unused "
    "at their end, or runs out before it. The burn rate averages the last 4 ended periods; "
    "figures are rounded to hundredths.",
    UTILIZATION,
    key_links=True,
)
RENEWALS_REPORT = Report(
    "renewals-due",
    "Renewals due",
    "Keys whose status is expiring: a line in force ends within the payer's renewal days, or "
    "has used its renewal share of units. New paperwork is due.",
    RENEWALS,
)
AUTHORIZED_VS_SCHEDULED_REPORT = Report(
    "authorized-vs-scheduled",
    "Authorized vs scheduled",
    "Per key and period overlapping the range: authorized units against the units of its "
    "scheduled, confirmed and missed visits. Variance = authorized - scheduled - confirmed; "
    "below 0 when more is booked and done than authorized.",
    AUTHORIZED_VS_SCHEDULED,
)
