"""Log lines as one JSON object each (or plain text), carrying the id of the request being served.

A line has `time` (UTC, RFC 3339 with milliseconds), `level`, `logger`, `message`, the request id
of the request that logged it (`request_id`, from a context variable the middleware sets), the
trace and span ids when OpenTelemetry is tracing, any `extra={...}` fields, and `exception` with
the traceback when there is one. Member ids stay out of INFO and above: messages name routes by
their template (`/v1/members/{member_id}/...`), never by the path a client sent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMAT_ENV = "BENEFIT_LEDGER_LOG_FORMAT"
LOG_FORMATS = ("json", "text")
REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_MAX_CHARS = 128
# letters, digits and . _ : - (UUIDs, ULIDs, W3C trace ids, most proxies' ids); nothing that
# could split a log line, a header or a shell word
_SAFE_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{REQUEST_ID_MAX_CHARS}}}")

request_id: ContextVar[str | None] = ContextVar("benefit_ledger_request_id", default=None)
_configured_format: list[str] = []  # the format configure_logging set for this process, if any

# what every LogRecord has; anything else on a record came from `extra=` and is a field
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "request_id", "trace_id", "span_id", "taskName", "color_message"}

try:  # OpenTelemetry is optional: with it, lines written inside a span carry its ids
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - the API comes with recent FastAPI
    _otel_trace = None  # type: ignore[assignment]


def accepted_request_id(value: str | None) -> str | None:
    """An incoming X-Request-Id if it is sane (bounded, safe characters), else None."""
    if value is None or not _SAFE_REQUEST_ID.fullmatch(value):
        return None
    return value


def new_request_id() -> str:
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Stamps each record with the current request id (and trace ids) as it is handled, so any
    formatter can show them; a record that brought its own `request_id` keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        if _otel_trace is not None and not hasattr(record, "trace_id"):
            span = _otel_trace.get_current_span().get_span_context()
            if span.is_valid:
                record.trace_id = format(span.trace_id, "032x")
                record.span_id = format(span.span_id, "016x")
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's context and extra fields, in a stable order."""
    found: dict[str, Any] = {}
    for name in ("request_id", "trace_id", "span_id"):
        value = getattr(record, name, None)
        if value is not None:
            found[name] = value
    for name, value in record.__dict__.items():
        if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
            found[name] = value
    return found


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value ...` for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{name}={value}" for name, value in _fields(record).items())
        text = f"{_time(record)} {record.levelname:<7} {record.name} {record.getMessage()}"
        text = f"{text} {fields}" if fields else text
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def make_handler(log_format: str = "json", stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with the format's formatter and the context filter."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def log_format_from(value: str | None, default: str = "json") -> str:
    """The format asked on the command line, else BENEFIT_LEDGER_LOG_FORMAT, else `default`."""
    chosen = (value or os.environ.get(LOG_FORMAT_ENV) or default).strip().lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV} must be one of {', '.join(LOG_FORMATS)}")
    return chosen


def configure_logging(log_format: str = "json", level: str | int = "info") -> None:
    """Every logger of the process (uvicorn's too) writes through one handler on the root."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    _configured_format[:] = [log_format]


def say(logger: logging.Logger, message: str, level: int = logging.INFO) -> None:
    """A command's line for its operator (relay, tick): a log record when the process logs JSON,
    so every line parses; otherwise the bare line on stderr, as a person reads it."""
    if _configured_format == ["json"]:
        logger.log(level, message)
    else:
        print(message, file=sys.stderr, flush=True)
