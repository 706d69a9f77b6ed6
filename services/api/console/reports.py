"""The console's reports: sortable tables of the API's reports, as CSV too, ready to print."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.api.console import data
from services.api.console.auth import Viewer, viewer
from services.api.console.render import SECURITY_HEADERS, TimeChoice, page, time_choice
from services.api.deps import Context, context
from services.api.routers.benefits import parse_threshold
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
    text = "" if value is None else (f"{value:f}" if numeric and value is not None else str(value))
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


async def _report(
    request: Request,
    who: Viewer,
    report: tuple[str, str, Sequence[Column]],
    found: tuple[list[dict[str, Any]], int],
    chosen: TimeChoice,
    options: dict[str, Any],
) -> Response:
    name, title, columns = report
    rows, position = found
    order = _order(options.pop("order") or "asc")
    rows, sorted_by = sort_rows(rows, columns, options.pop("sort"), order)
    if options.pop("format") == "csv":
        headers = {
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="{name}-{chosen.as_of}.csv"',
        }
        return Response(to_csv(rows, columns), media_type="text/csv", headers=headers)
    return page(
        request,
        "report.html",
        who=who,
        name=name,
        title=title,
        columns=columns,
        rows=rows,
        sorted_by=sorted_by,
        order=order,
        chosen=chosen,
        options=options,
        footer={"as_of": chosen.as_of, "known_at": chosen.known_at_label, "position": position},
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
    report = ("exceeding-accumulation", "Exceeding accumulation", EXCEEDING)
    options = {"sort": sort, "order": order, "format": format}
    return await _report(request, who, report, found, chosen, options)


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
    report = ("benefits-near-limit", "Benefits near their limit", NEAR_LIMIT)
    options = {"sort": sort, "order": order, "format": format, "threshold": threshold}
    return await _report(request, who, report, found, chosen, options)
