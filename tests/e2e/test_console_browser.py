"""The console in real headless Chromium (Debian's, through Playwright's executable_path; no
browser is downloaded): sign in with the tour's key, find the member, open the key, watch the
retroactive cut, travel back to before it, sign out; a second tenant's key sees none of it.

Screenshots of each step are saved in the test's temporary folder."""

from __future__ import annotations

import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.ledger.demo import reduction, weekly_example
from tests.e2e.processes import make_keys, serving_a_tenant
from tests.e2e.test_docs_offline import LOCAL_HOSTS, chromium

FIRST_SUNDAY = date(2026, 10, 4)
TIMEOUT_MS = 20_000


def record(base_url: str, key: str, events: list[dict[str, Any]]) -> None:
    answer = httpx.post(
        f"{base_url}/v1/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def balances(page: Any) -> list[str]:
    return [cell.strip() for cell in page.locator("#periods td.balance").all_inner_texts()]


def sign_in(page: Any, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/console/")
    page.wait_for_url(re.compile(r"/console/sign-in\?next="))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/console/")


def test_an_auditor_travels_back_before_the_cut_and_another_tenant_sees_nothing(
    tmp_path: Path,
) -> None:
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium binary (make test installs it: scripts/install-chromium)")
    from playwright.sync_api import Route, expect, sync_playwright

    with serving_a_tenant(tmp_path) as running:
        base, key = running.serve.base_url, running.key
        record(base, key, [dict(e, id=str(uuid.uuid4())) for e in weekly_example(FIRST_SUNDAY)])
        other_key = make_keys(f"sqlite:///{tmp_path / 'ledger.db'}", ["other-agency"])[
            "other-agency"
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1100, "height": 900})
                context.set_default_timeout(TIMEOUT_MS)
                offsite: list[str] = []

                def local_only(route: Route) -> None:  # the console needs no other host
                    host = route.request.url.split("/")[2].split(":")[0]
                    if host in LOCAL_HOSTS:
                        route.continue_()
                    else:
                        offsite.append(route.request.url)
                        route.abort()

                context.route("**/*", local_only)
                page = context.new_page()
                problems: list[str] = []
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else 0)
                page.on("pageerror", lambda error: problems.append(str(error)))

                sign_in(page, base, key)
                assert key not in page.url and key not in page.content()
                page.screenshot(path=tmp_path / "1-members.png")

                page.get_by_label("Member id (or part of it)").fill("member")
                page.keyboard.press("Enter")
                page.get_by_role("link", name="member-1", exact=True).click()
                page.wait_for_url(re.compile(r"/console/members/member-1$"))
                page.get_by_label("As of").fill("2026-10-31")
                page.get_by_role("button", name="Show").click()
                page.wait_for_url(re.compile(r"as_of=2026-10-31"))
                page.get_by_role("link", name="AUTH-100 / T1019").click()
                page.wait_for_url(re.compile(r"/keys/AUTH-100/T1019\?as_of=2026-10-31"))
                expect(page.locator("#period-count")).to_have_text("4")
                expect(page.locator("#shown-balance")).to_have_text("7")
                assert balances(page) == ["2", "6", "4", "7"]
                assert page.locator("svg.timeline-chart rect.bar[data-period]").count() == 8
                page.screenshot(path=tmp_path / "2-timeline.png", full_page=True)

                # the payer cuts the line retroactively while the auditor looks
                record(base, key, [dict(reduction(), id=str(uuid.uuid4()))])
                page.reload()
                expect(page.locator("#shown-balance")).to_have_text("0")
                expect(page.locator("#raw-balance")).to_have_text("-13")
                assert balances(page) == ["-3", "-4", "-11", "-13"]
                assert page.locator("svg.timeline-chart rect.below-zero[data-period]").count() == 4
                cause = page.locator("tr.cause")
                expect(cause).to_contain_text("authorization.amended")
                page.locator("#negative-accrual a").click()  # the cause, linked
                assert page.url.endswith("#cause")
                page.screenshot(path=tmp_path / "3-after-the-cut.png", full_page=True)
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(  # the README's picture (docs/console-timeline.png)
                    path=tmp_path / "timeline.png",
                    clip={"x": 0, "y": 0, "width": 1100, "height": 800},
                )

                # "as known at": the moment before the amendment (positions 1-6)
                moment = page.locator("#known-at option[data-position='6']")
                page.locator("#known-at").select_option(moment.get_attribute("value"))
                page.wait_for_url(re.compile(r"known_at="))
                expect(page.locator("#shown-balance")).to_have_text("7")
                assert balances(page) == ["2", "6", "4", "7"]
                expect(page.locator("footer.evidence")).to_contain_text("Ledger position 6")
                page.screenshot(path=tmp_path / "4-known-before-the-cut.png", full_page=True)
                shared = page.url

                # the slider, by keyboard: one step later is the amendment again
                slider = page.get_by_label("Slide through the ledger")
                slider.focus()
                page.keyboard.press("ArrowRight")
                page.wait_for_url(lambda url: url != shared)
                expect(page.locator("#raw-balance")).to_have_text("-13")

                page.get_by_role("button", name="Sign out").click()
                page.wait_for_url(f"{base}/console/sign-in")
                page.goto(shared)  # a shared link needs a session
                page.wait_for_url(re.compile(r"/console/sign-in\?next="))
                expect(page.get_by_label("API key")).to_be_visible()
                assert not problems, problems  # no CSP violation, no script error
                assert not offsite, offsite

                stranger = browser.new_context().new_page()
                stranger.set_default_timeout(TIMEOUT_MS)
                sign_in(stranger, base, other_key)
                stranger.get_by_label("Member id (or part of it)").fill("member")
                stranger.keyboard.press("Enter")
                expect(stranger.locator("main")).to_contain_text("No member matches")
                stranger.goto(shared.split("#")[0])
                expect(stranger.locator("h1")).to_have_text("Not found")
                assert "-13" not in stranger.content()
                stranger.screenshot(path=tmp_path / "5-other-tenant.png")
            finally:
                browser.close()
