"""`GET /` tells a newcomer what answers here and where to read on, as JSON or as a page."""

from __future__ import annotations

from importlib.metadata import version

import httpx
import pytest

from services.api.routers.home import prefers_html

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_home_answers_name_version_links_and_topics(client: httpx.AsyncClient):
    answer = await client.get("/")  # no key needed
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert (body["service"], body["version"]) == ("benefit-ledger", version("benefit-ledger"))
    assert body["links"]["docs"] == "/docs"
    assert body["links"]["openapi"] == "/openapi.json"
    assert body["links"]["health"] == "/healthz"
    assert body["reference"] == "docs/api.md"
    topics = {topic["title"]: topic["endpoints"] for topic in body["topics"]}
    assert list(topics) == [  # the sections of docs/api.md
        "Conventions",
        "Errors",
        "Authentication and tenants",
        "Positions",
        "Recording events",
        "Event types",
        "Queries",
        "The ledger",
        "Subscriptions",
        "Keys",
        "Operations",
    ]
    assert topics["Recording events"] == ["POST /v1/events"]
    assert topics["The ledger"] == ["GET /v1/ledger/events"]
    assert "GET /v1/members/{member_id}/accumulations" in topics["Queries"]
    assert "POST /v1/webhooks" in topics["Subscriptions"]
    assert "GET /healthz" in topics["Operations"]
    for link in body["links"].values():  # every link answers (metrics and readiness included)
        assert (await client.get(link)).status_code in (200, 503), link


async def test_a_browser_gets_a_page(client: httpx.AsyncClient):
    page = await client.get("/", headers={"Accept": BROWSER})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"<h1>benefit-ledger {version('benefit-ledger')}</h1>" in page.text
    assert '<a href="/docs">/docs</a>' in page.text
    assert "<code>POST /v1/events</code>" in page.text
    assert "GET /v1/members/{member_id}/accumulations" in page.text


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("*/*", False),  # curl
        ("application/json", False),
        (BROWSER, True),
        ("text/html", True),
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.1, text/*", True),
        ("text/html;q=0", False),
    ],
)
def test_html_only_when_preferred(accept: str | None, html: bool):
    assert prefers_html(accept) is html
