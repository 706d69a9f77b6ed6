"""Reads a payer's X12 271 into reported benefits, with pyx12 (pure).

pyx12's `X12Reader` finds the separators in the ISA header, splits segments and checks the
envelope as it goes: control numbers of ISA/IEA, GS/GE and ST/SE that agree, the counts of
groups, transactions and segments, HL numbering, and trailers missing at the end (a truncated
file). Any of these is a malformed report: 422, nothing stored.

The benefits: every EB segment with `EB01` `F` (limitation), `C` (deductible) or `G`
(out-of-pocket) and a figure (EB07 money, or EB09 `VS`/`P6`/`DY` with EB10). EB segments that
agree on EB01, EB02, EB03, EB05, EB12, EB13 and the measure are one benefit: `EB06` `24` is its
used, `29` (or `33`) its remaining, any other period qualifier its limit. Used is limit -
remaining when the payer sent only those two.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from pyx12.errors import X12Error
from pyx12.segment import Segment
from pyx12.x12file import X12Reader

from services.interop import x12_codes as codes
from services.interop.model import MAX_REPORTED_BENEFITS, Measure, Report, Reported
from services.ledger.errors import InvalidRequestError, Problem

MAX_SEGMENTS = 20_000


class _Figures:
    def __init__(self) -> None:
        self.limit: Decimal | None = None
        self.used: Decimal | None = None
        self.remaining: Decimal | None = None


@dataclass
class _Reading:
    problems: list[Problem] = field(default_factory=list)
    transactions: int = 0
    members: list[str] = field(default_factory=list)
    as_of: date | None = None
    created: date | None = None
    reference: str | None = None
    groups: dict[tuple[str, ...], _Figures] = field(default_factory=dict)
    names: dict[tuple[str, ...], tuple[str | None, tuple[str, ...]]] = field(default_factory=dict)


def refused(message: str, problems: list[Problem]) -> InvalidRequestError:
    return InvalidRequestError(f"the X12 271 report was refused: {message}", problems)


def parse_271(text: str) -> Report:
    """The report's member, date, reference and benefits; 422 naming every problem found."""
    if not text.lstrip().startswith("ISA"):
        raise refused(
            "not an X12 interchange",
            [Problem(None, "ISA", "the body must begin with an ISA segment")],
        )
    try:
        reader = X12Reader(io.StringIO(text.strip()))
        reading = _read(reader)
        reader.cleanup()
    except X12Error as error:
        raise refused("malformed interchange", [Problem(None, "ISA", str(error))]) from error
    for kind, code, message, _, line in reader.pop_errors():
        reading.problems.append(Problem(line, kind.upper(), f"{message} (pyx12 {kind} {code})"))
    _check(reading)
    if reading.problems:
        raise refused("malformed 271", reading.problems)
    return Report(
        format="x12-271",
        member_id=reading.members[0] if reading.members else None,
        as_of=reading.as_of or reading.created or date.min,
        reference=reading.reference,
        benefits=_benefits(reading),
    )


def _read(reader: X12Reader) -> _Reading:
    reading = _Reading()
    for number, seg in enumerate(reader, start=1):
        if number > MAX_SEGMENTS:
            reading.problems.append(Problem(number, "body", f"more than {MAX_SEGMENTS} segments"))
            break
        _segment(reading, number, seg)
    return reading


def _segment(reading: _Reading, number: int, seg: Segment) -> None:
    seg_id = seg.get_seg_id()
    value = seg.get_value
    if seg_id == "ST":
        reading.transactions += 1
        if value("ST01") != "271":
            reading.problems.append(
                Problem(number, "ST01", f"transaction set {value('ST01')!r}, not 271")
            )
    elif seg_id == "BHT":
        reading.reference = value("BHT03") or None
        reading.created = _date(reading, number, "BHT04", value("BHT04"))
    elif seg_id == "NM1" and value("NM101") == "IL":
        member = value("NM109") or ""
        if member and member not in reading.members:
            reading.members.append(member)
    elif seg_id == "DTP" and value("DTP01") in ("307", "291") and value("DTP02") == "D8":
        reading.as_of = _date(reading, number, "DTP03", value("DTP03"))
    elif seg_id == "EB":
        _eb(reading, number, seg)


def _date(reading: _Reading, number: int, name: str, text: str | None) -> date | None:
    try:
        return datetime.strptime(text or "", "%Y%m%d").date()
    except ValueError:
        reading.problems.append(Problem(number, name, f"not a date CCYYMMDD: {text!r}"))
        return None


def _eb(reading: _Reading, number: int, seg: Segment) -> None:
    value = seg.get_value
    eb01 = value("EB01") or ""
    if eb01 not in codes.KIND_BY_EB01:
        return  # active coverage, co-payments, ...: not balances
    money, quantity = value("EB07") or "", value("EB10") or ""
    qualifier = value("EB09") or ""
    measure: Measure
    if money:
        measure, figure_text, name = "amount", money, "EB07"
    elif quantity and qualifier in codes.MEASURE_BY_QUANTITY:
        measure, figure_text, name = codes.MEASURE_BY_QUANTITY[qualifier], quantity, "EB10"
    elif quantity:
        reading.problems.append(
            Problem(number, "EB09", f"quantity qualifier {qualifier!r} is not VS, P6 or DY")
        )
        return
    else:
        return  # a benefit without a figure (e.g. "not covered")
    try:
        figure = Decimal(figure_text)
    except InvalidOperation:
        reading.problems.append(Problem(number, name, f"not a decimal: {figure_text!r}"))
        return
    if not figure.is_finite() or figure < 0:
        reading.problems.append(
            Problem(number, name, f"not a figure of 0 or more: {figure_text!r}")
        )
        return
    procedure = value("EB13-02") or ""
    service_types = tuple(t for t in (value("EB03") or "").split("^") if t)
    key = (
        eb01,
        value("EB02") or "",
        *service_types,
        value("EB05") or "",
        value("EB12") or "",
        procedure,
        measure,
    )
    figures = reading.groups.setdefault(key, _Figures())
    reading.names[key] = (
        value("EB05") or None,
        (*service_types, *((procedure,) if procedure else ())),
    )
    period = value("EB06") or ""
    if period == codes.USED_QUALIFIER:
        figures.used = figure
    elif period in codes.REMAINING_QUALIFIERS:
        figures.remaining = figure
    else:
        figures.limit = figure


def _check(reading: _Reading) -> None:
    if reading.transactions == 0:
        reading.problems.append(Problem(None, "ST", "no 271 transaction in the interchange"))
    if len(reading.members) > 1:
        reading.problems.append(
            Problem(None, "NM109", f"one member per report, found {', '.join(reading.members)}")
        )
    if len(reading.groups) > MAX_REPORTED_BENEFITS:
        reading.problems.append(Problem(None, "EB", f"more than {MAX_REPORTED_BENEFITS} benefits"))


def _benefits(reading: _Reading) -> tuple[Reported, ...]:
    found = []
    for index, (key, figures) in enumerate(reading.groups.items()):
        used = figures.used
        if used is None and figures.limit is not None and figures.remaining is not None:
            used = figures.limit - figures.remaining
        name, identifying = reading.names[key]
        found.append(
            Reported(
                index=index,
                kind=codes.KIND_BY_EB01[key[0]],
                codes=identifying,
                name=name,
                measure=key[-1],  # type: ignore[arg-type]
                limit=figures.limit,
                used=used,
            )
        )
    return tuple(found)
