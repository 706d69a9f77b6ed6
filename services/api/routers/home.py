"""`GET /`: what this service is and where to go next, as JSON or, for a browser, a small page."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.api.version import DISTRIBUTION, package_version

router = APIRouter(tags=["operations"])

DESCRIPTION = (
    "An event-sourced ledger of insurance benefit usage: authorization accumulation, "
    "benefit limits and claims accumulators, as of any date and as known at any moment."
)
REFERENCE = "docs/api.md"  # in the source tree: the contract, topic by topic
LINKS = (
    ("console", "/console/sign-in", "the console: balances over time in a browser"),
    ("docs", "/docs", "the interactive API documentation (OpenAPI UI)"),
    ("openapi", "/openapi.json", "the OpenAPI document"),
    ("health", "/healthz", "liveness"),
    ("ready", "/readyz", "readiness: database reachable, projections caught up"),
    ("metrics", "/metrics", "Prometheus metrics"),
)


@dataclass(frozen=True)
class Topic:
    """A section of docs/api.md and the path prefixes of the endpoints it covers."""

    title: str
    summary: str
    prefixes: tuple[str, ...]


TOPICS = (  # the sections of docs/api.md, in its order
    Topic("Conventions", "JSON bodies, decimals as strings, dates and UTC timestamps", ()),
    Topic("Errors", "one error shape everywhere, its codes and HTTP statuses", ()),
    Topic(
        "Authentication and tenants",
        "Authorization: Bearer <api key>; a key belongs to one tenant and has roles",
        (),
    ),
    Topic("Positions", "each tenant's gap-free ledger positions; answers say theirs", ()),
    Topic("Recording events", "append events to the tenant's ledger, all or none", ("/v1/events",)),
    Topic("Event types", "every event type and its data", ()),
    Topic(
        "Queries",
        "balances as of a date and as known at a moment, visits, benefits, claims accumulators, "
        "reports",
        ("/v1/members", "/v1/visits", "/v1/scheduling", "/v1/reports"),
    ),
    Topic("The ledger", "the recorded events themselves, with their tags", ("/v1/ledger",)),
    Topic(
        "Subscriptions",
        "derived events by long poll, Server-Sent Events or signed webhooks",
        ("/v1/feeds", "/v1/webhooks"),
    ),
    Topic("Keys", "API keys of the tenant (admin)", ("/v1/api-keys",)),
    Topic(
        "Operations",
        "recalculation, liveness, readiness, metrics",
        ("/v1/admin", "/healthz", "/readyz", "/metrics"),
    ),
)


HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _endpoints(request: Request, prefixes: tuple[str, ...]) -> list[str]:
    """`METHOD /path` of the app's documented operations under the prefixes, in path order."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    return [
        f"{method.upper()} {path}"
        for path in sorted(paths)
        if any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)
        for method in HTTP_METHODS
        if method in paths[path]
    ]


def home_body(request: Request) -> dict[str, Any]:
    root = request.scope.get("root_path", "")
    return {
        "service": DISTRIBUTION,
        "version": package_version(),
        "description": DESCRIPTION,
        "links": {name: root + path for name, path, _ in LINKS},
        "reference": REFERENCE,
        "topics": [
            {
                "title": topic.title,
                "summary": topic.summary,
                "endpoints": _endpoints(request, topic.prefixes),
            }
            for topic in TOPICS
        ],
    }


def _quality(accept: str, media_type: str) -> float:
    """The q-value `accept` gives `media_type`: that of its most specific matching range."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)  # (specificity, q)
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        media = media.lower()
        specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(media)
        if specificity is None or specificity < best[0]:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = (specificity, q)
    return best[1]


def prefers_html(accept: str | None) -> bool:
    """True when the Accept header ranks text/html above application/json (a browser's does)."""
    if not accept:
        return False
    return _quality(accept, "text/html") > _quality(accept, "application/json")


def _topic_html(topic: dict[str, Any]) -> str:
    endpoints = "".join(f"<li><code>{escape(e)}</code></li>" for e in topic["endpoints"])
    listing = f"<ul>{endpoints}</ul>" if endpoints else ""
    title, summary = escape(topic["title"]), escape(topic["summary"])
    return f"<li><strong>{title}</strong>: {summary}{listing}</li>"


def _html(body: dict[str, Any]) -> str:
    links = "".join(
        f'<li><a href="{escape(body["links"][name])}">{escape(path)}</a>: {escape(text)}</li>'
        for name, path, text in LINKS
    )
    topics = "".join(_topic_html(topic) for topic in body["topics"])
    title = f"{escape(body['service'])} {escape(body['version'])}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>{escape(body['description'])}</p>"
        f"<h2>Links</h2><ul>{links}</ul>"
        f"<h2>Topics</h2><p>Each is a section of <code>{escape(body['reference'])}</code> "
        f"in the source tree.</p><ul>{topics}</ul></body></html>\n"
    )


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    """The service's name, version, links and topics; HTML when the client prefers it."""
    body = home_body(request)
    if prefers_html(request.headers.get("accept")):
        return HTMLResponse(_html(body))
    return JSONResponse(body)
