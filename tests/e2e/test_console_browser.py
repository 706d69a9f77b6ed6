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


def test_the_reports_the_forecast_print_and_a_sign_out_that_ends_every_session(
    tmp_path: Path,
) -> None:
    """The spec's forecast example (accumulation.md 2.15) as the auditor reads it: on the key's
    timeline and in the utilization, renewals-due and authorized-vs-scheduled reports, sorted
    by a column title with the keyboard, printed; then signing out in one browser ends the
    key's session in another."""
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium binary (make test installs it: scripts/install-chromium)")
    from playwright.sync_api import expect, sync_playwright

    from tests.integration.test_forecast_reports import SETTINGS, spec_example, visit

    with serving_a_tenant(tmp_path) as running:
        base, key = running.serve.base_url, running.key
        record(base, key, [SETTINGS, *spec_example(), visit("m-1", 4, "5", "visit.scheduled")])
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1100, "height": 900})
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                problems: list[str] = []
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else 0)
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else 0)
                sign_in(page, base, key)

                page.goto(f"{base}/console/members/m-1/keys/AUTH-m-1/T1019?as_of=2026-10-28")
                forecast = page.get_by_role("region", name="Will the units last?")
                expect(forecast.locator("#burn-rate")).to_have_text("8.67")
                expect(forecast.locator("#projected-unused")).to_have_text("10.67")
                expect(forecast.locator("#runs-out-on")).to_have_text("never (the units last)")
                page.screenshot(path=tmp_path / "6-key-forecast.png", full_page=True)

                page.get_by_role("link", name="Utilization").click()
                page.wait_for_url(re.compile(r"/console/reports/utilization$"))
                expect(page.get_by_role("link", name="Utilization")).to_have_attribute(
                    "aria-current", "page"
                )
                page.get_by_label("As of").fill("2026-10-28")
                page.get_by_role("button", name="Show").click()
                page.wait_for_url(re.compile(r"as_of=2026-10-28"))
                row = page.locator("#report tbody tr")
                expect(row).to_have_count(1)
                expect(row).to_contain_text("8.67")
                expect(row).to_contain_text("10.67")
                # sorting by keyboard: the column titles are links
                page.get_by_role("link", name="Projected unused").focus()
                page.keyboard.press("Enter")
                page.wait_for_url(re.compile(r"sort=projected_unused"))
                expect(page.locator("th[aria-sort='ascending']")).to_contain_text(
                    "Projected unused"
                )
                expect(page.locator("footer.evidence")).to_contain_text("As of 2026-10-28")
                page.screenshot(path=tmp_path / "7-utilization.png", full_page=True)

                page.goto(f"{base}/console/reports/renewals-due?as_of=2026-11-20")
                expect(page.locator("#report tbody tr")).to_contain_text("m-1-line")
                page.screenshot(path=tmp_path / "8-renewals-due.png", full_page=True)

                page.get_by_role("link", name="Authorized vs scheduled").click()
                page.get_by_label("From").fill("2026-10-01")
                page.get_by_label("To", exact=True).fill("2026-10-31")
                page.get_by_role("button", name="Show").click()
                page.wait_for_url(re.compile(r"from=2026-10-01&to=2026-10-31"))
                expect(page.locator("#report tbody tr")).to_have_count(4)
                expect(page.locator("footer.evidence")).to_contain_text(
                    "From 2026-10-01 to 2026-10-31"
                )
                page.screenshot(path=tmp_path / "9-authorized-vs-scheduled.png", full_page=True)
                page.emulate_media(media="print")  # the printout: no forms, the footer stays
                expect(page.locator("form.time-travel")).to_be_hidden()
                expect(page.locator("footer.evidence")).to_be_visible()
                page.screenshot(path=tmp_path / "10-printed.png", full_page=True)
                page.emulate_media(media="screen")

                assert not problems, problems  # no CSP violation, no script error
                page.goto(f"{base}/console/nowhere")  # Chromium logs this 404 as an error
                expect(page.locator("h1")).to_have_text("Not found")
                page.get_by_role("link", name="Find a member").click()
                page.wait_for_url(f"{base}/console/")

                desk = browser.new_context().new_page()  # the same key in another browser
                desk.set_default_timeout(TIMEOUT_MS)
                sign_in(desk, base, key)
                page.get_by_role("button", name="Sign out").click()
                page.wait_for_url(f"{base}/console/sign-in")
                desk.reload()
                desk.wait_for_url(re.compile(r"/console/sign-in\?next="))
                expect(desk.get_by_label("API key")).to_be_visible()
            finally:
                browser.close()
