"""/docs works without the internet: a real `serve` process, opened in headless Chromium with
every request to another host refused, renders the operations of the OpenAPI document.

Chromium is Debian's (`apt-get install chromium`), driven by Python Playwright through
`executable_path`; no browser is downloaded. Without a Chromium binary the test is skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.processes import Serve

CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
RENDER_TIMEOUT_MS = 20_000


def chromium() -> str | None:
    for candidate in CANDIDATES:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "serve.log")
    server.start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def test_docs_render_every_operation_without_the_internet(served: Serve) -> None:
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium binary (Debian: apt-get install chromium)")
    from playwright.sync_api import Route, sync_playwright

    document = httpx.get(f"{served.base_url}/openapi.json", timeout=10).json()
    operations = sum(
        1 for item in document["paths"].values() for method in item if method != "parameters"
    )
    refused: list[str] = []
    local: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            local.append(url)
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            page.goto(f"{served.base_url}/docs", wait_until="networkidle")
            blocks = page.locator(".opblock")
            blocks.first.wait_for(timeout=RENDER_TIMEOUT_MS)
            assert blocks.count() == operations, served.log_text()
            assert page.locator(".opblock-summary-path", has_text="/v1/events").count() == 1
            assert page.locator(".auth-wrapper .authorize").count() == 1  # the bearer scheme
            assert not page.locator(".errors-wrapper").is_visible()
            assert not refused, f"/docs asked other hosts: {refused}"
            assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in local)
            # ReDoc renders too (its footer's logo is the one thing it would fetch elsewhere)
            page.goto(f"{served.base_url}/redoc", wait_until="networkidle")
            heading = page.locator("h2", has_text="Record Events")
            heading.wait_for(timeout=RENDER_TIMEOUT_MS)
        finally:
            browser.close()
