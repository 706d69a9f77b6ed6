"""The claims history report of one accumulator, as CSV and as a printable HTML page."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

CLAIM_COLUMNS = (
    ("reference_number", "Ref no"),
    ("status", "Status"),
    ("billing_provider", "Billing provider"),
    ("release_date", "Release date"),
    ("member_id", "Member"),
    ("line_number", "Line"),
    ("from_date", "From"),
    ("thru_date", "Thru"),
    ("amount", "Amount"),
    ("eligible", "Eligible"),
)
COB_COLUMNS = (("oop_amount", "OOP amount"),)  # the COB detail's out-of-pocket amount (4.5)
DAY_COLUMNS = (
    ("date", "Date"),
    ("day_number", "Day"),
    ("reversion_level", "Reversion level"),
    ("coinsurance_percent", "Coinsurance %"),
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date | Decimal):
        return str(value)
    return str(value)


def _claim_columns(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The claim columns; a COB accumulator (the row with a bank amount) adds its OOP amount."""
    return CLAIM_COLUMNS + (COB_COLUMNS if "bank_amount" in body["accumulator"] else ())


def claims_csv(body: dict[str, Any]) -> str:
    """One row per claim line that applied to the accumulator (days follow, for day counters)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = _claim_columns(body)
    writer.writerow([key for key, _ in columns])
    for claim in body["claims"]:
        writer.writerow([_text(claim[key]) for key, _ in columns])
    if body["days"]:
        writer.writerow([])
        writer.writerow([key for key, _ in DAY_COLUMNS])
        for day in body["days"]:
            writer.writerow([_text(day[key]) for key, _ in DAY_COLUMNS])
    return out.getvalue()


def _money(value: Any, unit: str) -> str:
    if value is None:
        return ""
    return f"{value} days" if unit == "days" else f"{Decimal(value):,.2f}"


def _table(columns: tuple[tuple[str, str], ...], rows: list[dict[str, Any]], unit: str) -> str:
    head = "".join(f'<th class="{key}">{escape(title)}</th>' for key, title in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row[key]
            if key == "amount":
                text = _money(value, unit)
            elif key == "oop_amount":
                text = _money(value, "money")
            else:
                text = _text(value)
            cells.append(f'<td class="{key}">{escape(text)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    empty = f'<tr><td colspan="{len(columns)}" class="empty">None</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body) or empty}</tbody></table>"


STYLE = """
@page { size: A4; margin: 18mm 16mm; }
* { box-sizing: border-box; }
body { font: 11pt/1.4 "Helvetica Neue", Arial, sans-serif; color: #1a1a1a; margin: 2rem auto;
       max-width: 60rem; padding: 0 1.5rem; }
header { border-bottom: 2px solid #1a1a1a; padding-bottom: .6rem; margin-bottom: 1.2rem; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
.sub { color: #555; margin: 0 0 .7rem; }
dl.summary { display: grid; grid-template-columns: repeat(4, 1fr); gap: .4rem 1.2rem; margin: 0; }
dl.summary div { border: 1px solid #ccc; border-radius: 4px; padding: .5rem .7rem; }
dt { font-size: .8rem; color: #555; text-transform: uppercase; letter-spacing: .03em; }
dd { margin: .15rem 0 0; font-size: 1.15rem; font-weight: 600; font-variant-numeric: tabular-nums; }
dd.period { font-size: .95rem; font-weight: 500; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: #444;
     border-bottom: 1.5px solid #1a1a1a; }
.amount, .oop_amount, .line_number, .day_number, .coinsurance_percent { text-align: right; }
tbody tr:nth-child(even) { background: #f6f6f6; }
td.empty { color: #777; font-style: italic; }
footer { margin-top: 2rem; font-size: .8rem; color: #666; border-top: 1px solid #ccc;
         padding-top: .5rem; }
@media print { body { margin: 0; max-width: none; padding: 0; }
               tbody tr:nth-child(even) { background: none; } thead { display: table-header-group; }
               tr { page-break-inside: avoid; } }
"""


def _period(period: dict[str, Any]) -> str:
    if period["start"] is None:
        return "lifetime"
    return f"{period['start']} to {period['end']}"


def claims_html(body: dict[str, Any], printed: datetime) -> str:
    """A clean page a person would print: who, which accumulator, its figures and its claims."""
    row = body["accumulator"]
    unit = "days" if row.get("type") in ("day", "reversion") else "money"
    applied = row.get("applied_amount", row.get("bank_amount"))
    levels_only = row.get("type") == "reversion"  # counts days into levels, has no amount
    figures = [
        ("Schedule amount", "levels" if levels_only else _money(row["schedule_amount"], unit)),
        ("Applied", _money(applied, unit)),
        ("Remaining", "n/a" if levels_only else _money(row.get("remaining_amount"), unit) or "n/a"),
        ("Period", _period(row["period"])),
    ]
    summary = "".join(
        f'<div><dt>{escape(name)}</dt><dd class="{name.split()[0].lower()}">{escape(value)}</dd>'
        "</div>"
        for name, value in figures
    )
    kind = row.get("type", "cob")
    details = ", ".join(
        part
        for part in (
            f"{kind}" + (f" ({row['kind'].replace('_', ' ')})" if row.get("kind") else ""),
            f"{row['level']} level",
            f"network {row['network']}" if row.get("network") else "",
            f"illness {row['illness']}" if row.get("illness") else "",
            f"tooth {row['tooth']}" if row.get("tooth") else "",
        )
        if part
    )
    days = ""
    if body["days"]:
        days = f"<h2>Days</h2>{_table(DAY_COLUMNS, body['days'], unit)}"
    title = f"{row['code']}: {row['description']}" if row["description"] else row["code"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Claims history report: {escape(str(body["member_id"]))} {escape(row["code"])}</title>
<style>{STYLE}</style></head>
<body>
<header>
<h1>Claims history report</h1>
<p class="sub">Member <strong>{escape(str(body["member_id"]))}</strong> ·
plan {escape(row["plan_type"])} · schedule {escape(row["schedule_id"])} ·
effective {escape(str(body["effective_date"]))}</p>
</header>
<h2>{escape(title)}</h2>
<p class="sub">{escape(details)}</p>
<dl class="summary">{summary}</dl>
<h2>Claims applied</h2>
{_table(_claim_columns(body), body["claims"], unit)}
{days}
<footer>benefit-ledger · printed {escape(printed.strftime("%Y-%m-%d %H:%M UTC"))} ·
ledger position {body["position"]} · applied counts paid and released claims only, after an
opening balance (status opening_balance) where one was recorded</footer>
</body></html>
"""
