"""Rendering the console: Jinja2 templates of the package, security headers, links that keep the
page's as-of date and known-at moment, and the choice of both read from the query string."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.api.deps import Context, parse_known_at, tenant_as_of
from services.ledger.codec import format_timestamp

# Scripts and styles only from the console's own static files: no inline script or style can
# run, so an injected tag does nothing (the templates also escape every value).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages hold members' data: never kept by a shared cache
}

TEMPLATES = Environment(
    loader=PackageLoader("services.api.console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def root(request: Request) -> str:
    """The console's own prefix (`/console`, behind a proxy's root path if any)."""
    return str(request.scope.get("root_path", ""))


def link(request: Request, path: str, **params: Any) -> str:
    """A console URL; parameters that are None or empty are left out."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")}, doseq=True)
    return f"{root(request)}{path}" + (f"?{query}" if query else "")


def segment(value: str) -> str:
    """A path segment: a member id or service code may hold '/' or '?'."""
    return quote(value, safe="")


def number(value: Any) -> str:
    """A decimal as the API writes it: no exponent, no trailing zeros beyond its own."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return "" if value is None else str(value)


TEMPLATES.filters["number"] = number
TEMPLATES.filters["segment"] = segment


@dataclass(frozen=True)
class TimeChoice:
    """The page's as-of date and known-at moment, as asked (kept in links) and as decided."""

    as_of_text: str | None
    known_at_text: str | None
    as_of: date
    known_at: datetime | None

    @property
    def known_at_label(self) -> str:
        return format_timestamp(self.known_at) if self.known_at else "now"

    def params(self) -> dict[str, str | None]:
        return {"as_of": self.as_of_text, "known_at": self.known_at_text}


async def time_choice(
    ctx: Context, tenant: str, as_of: str | None, known_at: str | None
) -> TimeChoice:
    """Both parsed as the API parses them (422 with details when malformed); an empty form
    field means the default (the tenant's today, now)."""
    as_of = as_of or None
    known_at = known_at or None
    day = await tenant_as_of(ctx, tenant, as_of)
    return TimeChoice(as_of, known_at, day, parse_known_at(known_at))


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    body = TEMPLATES.get_template(template).render(
        root=root(request),
        here=request.url.path,  # the navigation marks the page it is on
        link=lambda path, **p: link(request, path, **p),
        **values,
    )
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
