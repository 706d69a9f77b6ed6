"""Writes a member's eligibility snapshot as an X12 271 (005010X279A1), with pyx12 (pure).

pyx12's `Segment` holds the elements and composites and formats them with the interchange's
separators; its `X12Writer` writes the ISA header with those separators and closes every loop
with its trailer (SE, GE, IEA) counting segments and groups and repeating the control numbers,
so the envelope's counts are the library's, not ours. One 2110C benefit loop per line: three EB
segments (limit of the period, used year to date, remaining), then the period's dates (DTP 292).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from pyx12.segment import Segment
from pyx12.x12file import X12Writer

from services.interop import x12_codes as codes
from services.interop.model import Line, Snapshot

SEGMENT_TERMINATOR = "~"
ELEMENT_SEPARATOR = "*"
COMPONENT_SEPARATOR = ":"
REPETITION_SEPARATOR = "^"
SENDER_ID = "BENEFITLEDGER"
RECEIVER_ID = "RECEIVER"
IMPLEMENTATION = "005010X279A1"
_DELIMITERS = re.compile(r"[~*:^\r\n]")


def text(value: str, max_length: int) -> str:
    """An element value: separators can't appear in data, so they become spaces."""
    return _DELIMITERS.sub(" ", value)[:max_length]


def segment(seg_id: str, *values: str) -> Segment:
    """A segment from its element values in order (`A:B` for a composite's components)."""
    built = Segment(seg_id, SEGMENT_TERMINATOR, ELEMENT_SEPARATOR, COMPONENT_SEPARATOR)
    for number, value in enumerate(values, start=1):
        if COMPONENT_SEPARATOR in value and seg_id != "ISA":
            for part, component in enumerate(value.split(COMPONENT_SEPARATOR), start=1):
                built.set(f"{seg_id}{number:02d}-{part:02d}", component)
        else:
            built.set(f"{seg_id}{number:02d}", value)
    return built


def _figure(value: Decimal) -> str:
    """An X12 R (decimal) value: no exponent, no trailing zeros after the point."""
    text_value = format(value.normalize(), "f") if value != 0 else "0"
    return text_value.rstrip("0").rstrip(".") if "." in text_value else text_value


def _money(value: Decimal) -> str:
    return _figure(value.quantize(Decimal("0.01")))


def _d8(day: date) -> str:
    return day.strftime("%Y%m%d")


def control_number(position: int) -> str:
    """ISA13 / GS06: the ledger position, so one position always gives the same numbers."""
    return f"{position % 1_000_000_000:09d}"


def build_271(snapshot: Snapshot) -> str:
    """The whole interchange: ISA, GS, one ST 271 transaction, SE, GE, IEA."""
    out = io.StringIO()
    writer = X12Writer(
        out,
        seg_term=SEGMENT_TERMINATOR,
        ele_term=ELEMENT_SEPARATOR,
        subele_term=COMPONENT_SEPARATOR,
        eol="\n",
        repetition_term=REPETITION_SEPARATOR,
    )
    for built in _segments(snapshot):
        writer.Write(built)
    writer.close()  # writes SE, GE and IEA with the counts and control numbers
    errors = writer.pop_errors()
    assert not errors, f"pyx12 found the export malformed: {errors}"
    return out.getvalue()


def _segments(snapshot: Snapshot) -> Iterator[Segment]:
    created = snapshot.created
    control = control_number(snapshot.position)
    yield segment(
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", SENDER_ID.ljust(15), "ZZ",
        RECEIVER_ID.ljust(15), created.strftime("%y%m%d"), created.strftime("%H%M"),
        REPETITION_SEPARATOR, "00501", control, "0", "P", COMPONENT_SEPARATOR,
    )  # fmt: skip
    yield segment(
        "GS", "HB", SENDER_ID, RECEIVER_ID, _d8(created.date()), created.strftime("%H%M"),
        str(snapshot.position % 1_000_000_000), "X", IMPLEMENTATION,
    )  # fmt: skip
    yield segment("ST", "271", "0001", IMPLEMENTATION)
    yield segment(
        "BHT", "0022", "11", f"P{snapshot.position}", _d8(created.date()), created.strftime("%H%M")
    )
    payers = sorted({line.payer_id for line in snapshot.lines if line.payer_id})
    yield segment("HL", "1", "", "20", "1")
    yield segment("NM1", "PR", "2", text(" ".join(payers) or "PAYER", 60), "", "", "", "", "PI",
                  text(payers[0] if payers else "UNKNOWN", 80))  # fmt: skip
    yield segment("HL", "2", "1", "21", "1")
    yield segment("NM1", "1P", "2", "BENEFIT LEDGER", "", "", "", "", "SV", SENDER_ID)
    yield segment("HL", "3", "2", "22", "0")
    member = text(snapshot.member_id, 80)
    yield segment("NM1", "IL", "1", text(snapshot.member_id, 60), "", "", "", "", "MI", member)
    yield segment(
        "REF",
        codes.POSITION_REF_QUALIFIER,
        str(snapshot.position),
        codes.POSITION_REF_DESCRIPTION,
    )
    yield segment("DTP", "307", "D8", _d8(snapshot.as_of))
    for line in snapshot.lines:
        yield from _benefit_loop(line)


def _benefit_loop(line: Line) -> Iterator[Segment]:
    """EB limit, EB used, EB remaining of one line, then its period's dates."""
    qualifier = codes.PERIOD_QUALIFIER.get(line.period_type, codes.DEFAULT_PERIOD_QUALIFIER)
    for period, figure in ((qualifier, line.limit), (codes.USED_QUALIFIER, line.used),
                           ("29", line.remaining)):  # fmt: skip
        yield _eb(line, period, figure)
        if period == qualifier and line.period_start is not None and line.period_end is not None:
            dates = f"{_d8(line.period_start)}-{_d8(line.period_end)}"
            yield segment("DTP", "292", "RD8", dates)


def _eb(line: Line, period: str, figure: Decimal) -> Segment:
    money = line.measure == "amount"
    single = len(line.service_codes) == 1
    procedure = f"HC{COMPONENT_SEPARATOR}{text(line.service_codes[0], 48)}" if single else ""
    return segment(
        "EB",
        codes.EB01_BY_KIND[line.kind],
        codes.COVERAGE_LEVEL.get(line.level, "IND"),
        service_type(line.benefit_code),
        "",
        text(line.ident, 50),  # EB05 plan coverage description: what the ledger calls it
        period,
        _money(figure) if money else "",
        "",
        "" if money else codes.QUANTITY_QUALIFIER[line.measure],
        "" if money else _figure(figure),
        "",
        codes.NETWORK_INDICATOR.get(line.network, "W"),
        procedure,
    )


def service_type(benefit_code: str) -> str:
    """EB03: the benefit code when it can be an X12 service type code (1 or 2 letters or
    digits, such as `PT` or `33`), else `30` (health benefit plan coverage)."""
    return benefit_code if re.fullmatch(r"[A-Z0-9]{1,2}", benefit_code) else "30"
