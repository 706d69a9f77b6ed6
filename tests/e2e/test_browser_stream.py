"""A browser subscribes to the event stream: headless Chromium, on a page of the service, asks
for a stream token with its key and opens an `EventSource` with it (no header can be sent), then
receives the balance changes a writer records, as docs/api.md shows."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from services.ledger.demo import weekly_example
from tests.e2e.processes import serving_a_tenant
from tests.e2e.test_docs_offline import chromium

SUBSCRIBE = """async ([key, wanted]) => {
  const answer = await fetch("/v1/feeds/stream-tokens", {
    method: "POST", headers: { Authorization: `Bearer ${key}` } });
  const { token } = await answer.json();
  return await new Promise((resolve, reject) => {
    const seen = [];
    const feed = new EventSource(`/v1/feeds/events/stream?token=${encodeURIComponent(token)}`);
    feed.addEventListener("balance.changed", (e) => {
      seen.push({ id: e.lastEventId, data: JSON.parse(e.data) });
      if (seen.length === wanted) { feed.close(); resolve(seen); }
    });
    feed.onerror = () => { feed.close(); reject(new Error("the stream failed")); };
    setTimeout(() => reject(new Error("nothing arrived")), 20000);
  });
}"""


def test_a_browser_event_source_receives_balance_changes(tmp_path: Path) -> None:
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium binary (make test installs it: scripts/install-chromium)")
    from playwright.sync_api import sync_playwright

    with serving_a_tenant(tmp_path) as running:
        serve, key = running.serve, running.key
        events = [dict(e, id=str(uuid.uuid4())) for e in weekly_example(date(2026, 10, 4))]
        recorded = httpx.post(
            f"{serve.base_url}/v1/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert recorded.status_code == 200, recorded.text
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            try:
                page = browser.new_page()
                page.goto(f"{serve.base_url}/", wait_until="load")
                seen = page.evaluate(SUBSCRIBE, [key, 2])
            finally:
                browser.close()
        assert [item["id"] for item in seen] == ["1", "2"]
        assert seen[0]["data"]["data"]["key"]["member_id"] == "member-1"
        assert key not in page.url
