"""The console through HTTP on both stores: sign-in and out, the cookie's flags, CSRF refusals,
the Content-Security-Policy, tenant isolation, and the tour's balances as pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest
from fastapi import FastAPI

from services.ledger.demo import reduction, weekly_example
from services.ledger.keys import revoke_key
from tests.integration.conftest import Tenant, make_tenant, post_events
from tests.integration.test_forecast_reports import SETTINGS, grant, spec_example, visit

FIRST_SUNDAY = date(2026, 10, 4)
KEY_PAGE = "/console/members/member-1/keys/AUTH-100/T1019"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar of its own (the shared `client` must stay cookie-free)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as client:
        yield client


async def sign_in(browser: httpx.AsyncClient, key: str, next_path: str = "/console/"):
    form = await browser.get("/console/sign-in", params={"next": next_path})
    assert form.status_code == 200, form.text
    token = CSRF.search(form.text)
    assert token is not None
    return await browser.post(
        "/console/sign-in", data={"csrf": token.group(1), "api_key": key, "next": next_path}
    )


def set_cookie(answer: httpx.Response, name: str) -> str:
    found = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(found) == 1, answer.headers.get_list("set-cookie")
    return found[0]


def balances(page: str) -> list[str]:
    return re.findall(r'<td class="num balance">([^<]*)</td>', page)


def shown(page: str) -> tuple[str, str]:
    shown_balance = re.search(r'id="shown-balance">([^<]*)<', page)
    raw_balance = re.search(r'id="raw-balance">([^<]*)<', page)
    assert shown_balance and raw_balance, page[:500]
    return shown_balance.group(1), raw_balance.group(1)


async def test_sign_in_sets_a_strict_http_only_expiring_session_and_sign_out_ends_it(
    browser: httpx.AsyncClient, tenant: Tenant
):
    first = await browser.get("/console/members/member-1", params={"as_of": "2026-10-31"})
    assert first.status_code == 303
    assert first.headers["location"] == (
        "/console/sign-in?next=%2Fconsole%2Fmembers%2Fmember-1%3Fas_of%3D2026-10-31"
    )
    form = await browser.get(first.headers["location"])
    pre = set_cookie(form, "console_sign_in").lower()
    assert "httponly" in pre and "samesite=strict" in pre and "path=/console" in pre

    key = tenant.keys["reader"]
    signed = await sign_in(browser, key, "/console/members/member-1?as_of=2026-10-31")
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/console/members/member-1?as_of=2026-10-31"
    cookie = set_cookie(signed, "console_session")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
    assert "max-age=28800" in flags  # it expires: eight hours
    assert key not in cookie and key not in signed.headers["location"]

    home = await browser.get("/console/")
    assert home.status_code == 200
    assert f'<strong id="tenant">{tenant.name}</strong>' in home.text
    assert key not in home.text  # the key is never written into a page

    token = CSRF.search(home.text)
    assert token is not None
    out = await browser.post("/console/sign-out", data={"csrf": token.group(1)})
    assert (out.status_code, out.headers["location"]) == (303, "/console/sign-in")
    assert "max-age=0" in set_cookie(out, "console_session").lower()
    again = await browser.get("/console/")
    assert again.status_code == 303 and again.headers["location"].startswith("/console/sign-in")


async def test_refused_keys_and_a_revoked_key_ends_its_sessions(
    browser: httpx.AsyncClient, tenant: Tenant
):
    for key in ("bl_not-a-key", tenant.keys["subscriber"], ""):  # unknown; no reader role; none
        refused = await sign_in(browser, key)
        assert refused.status_code == 401, key
        assert "no reader role" in refused.text
        assert "console_session" not in browser.cookies
    assert (await sign_in(browser, tenant.keys["admin"])).status_code == 303  # admin reads too
    assert (await browser.get("/console/")).status_code == 200
    connection = tenant.database.connect()
    try:
        key_id = connection.execute(
            "SELECT key_id FROM api_keys WHERE tenant = ? AND roles = 'admin'", (tenant.name,)
        )[0][0]
        revoke_key(connection, tenant.name, key_id, datetime.now(UTC))
    finally:
        connection.close()
    assert (await browser.get("/console/")).status_code == 303  # signed out at once


async def test_posts_without_the_csrf_token_are_refused_and_do_nothing(
    browser: httpx.AsyncClient, tenant: Tenant
):
    await browser.get("/console/sign-in")
    forged = await browser.post("/console/sign-in", data={"api_key": tenant.keys["reader"]})
    assert forged.status_code == 403
    assert "console_session" not in forged.headers.get("set-cookie", "")
    wrong = await browser.post(
        "/console/sign-in", data={"api_key": tenant.keys["reader"], "csrf": "guessed"}
    )
    assert wrong.status_code == 403

    assert (await sign_in(browser, tenant.keys["reader"])).status_code == 303
    for data in ({}, {"csrf": "guessed"}, {"csrf": "é"}):
        out = await browser.post("/console/sign-out", data=data)
        assert out.status_code == 403, data
        assert "Nothing was done" in out.text
    assert (await browser.get("/console/")).status_code == 200  # still signed in


async def test_every_page_has_a_csp_without_inline_scripts(
    browser: httpx.AsyncClient, tenant: Tenant
):
    await post_events(browser, tenant, weekly_example(FIRST_SUNDAY))
    await sign_in(browser, tenant.keys["reader"])
    paths = [
        "/console/sign-in",
        "/console/",
        "/console/members/member-1?as_of=2026-10-31",
        f"{KEY_PAGE}?as_of=2026-10-31",
        "/console/reports/exceeding-accumulation",
        "/console/reports/benefits-near-limit",
        "/console/members/nobody",
        "/console/reports/utilization",
        "/console/reports/renewals-due",
        "/console/reports/authorized-vs-scheduled",
        "/console/nowhere",
    ]
    for path in paths:
        answer = await browser.get(path)
        assert answer.status_code in (200, 404), path
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["cache-control"] == "no-store"
        scripts = re.findall(r"<script([^>]*)>", answer.text)
        assert scripts and all('src="/console/static/' in s for s in scripts), path
        assert "style=" not in answer.text and "<style" not in answer.text, path
        assert "http://" not in answer.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    script = await browser.get("/console/static/console.js")
    assert script.status_code == 200 and "requestSubmit" in script.text


async def test_the_tours_key_as_pages_now_and_as_known_before_the_amendment(
    browser: httpx.AsyncClient, tenant: Tenant
):
    recorded = await post_events(browser, tenant, weekly_example(FIRST_SUNDAY))
    before = recorded.json()["results"][-1]["recorded_at"]
    await sign_in(browser, tenant.keys["reader"])

    found = await browser.get("/console/", params={"q": "MEMBER"})
    assert '<a href="/console/members/member-1">member-1</a>' in found.text
    page = (await browser.get(KEY_PAGE, params={"as_of": "2026-10-31"})).text
    assert balances(page) == ["2", "6", "4", "7"] and shown(page) == ("7", "7")
    assert 'class="cause"' not in page

    amendment = reduction()
    assert (await post_events(browser, tenant, [amendment])).status_code == 200
    page = (await browser.get(KEY_PAGE, params={"as_of": "2026-10-31"})).text
    assert balances(page) == ["-3", "-4", "-11", "-13"] and shown(page) == ("0", "-13")
    assert 'href="#cause">authorization reduction</a>' in page
    cause_row = re.search(r'<tr id="cause" class="cause">(.*?)</tr>', page, re.DOTALL)
    assert cause_row is not None and "authorization.amended" in cause_row.group(1)
    assert page.count('class="below-zero"') == 4  # every period marked in the chart
    assert f'<option value="{before}"' in page  # the moment before the amendment is offered

    known = await browser.get(KEY_PAGE, params={"as_of": "2026-10-31", "known_at": before})
    assert balances(known.text) == ["2", "6", "4", "7"] and shown(known.text) == ("7", "7")
    assert f"Known at {before}" in known.text and "Ledger position 6" in known.text
    assert f'<option value="{before}" data-position="6" selected>' in known.text

    member = await browser.get(
        "/console/members/member-1", params={"as_of": "2026-10-31", "known_at": before}
    )
    assert '<td class="num shown-balance">7</td>' in member.text
    # the key's link keeps the time travel, so a shared link shows the same page
    assert f"keys/AUTH-100/T1019?as_of=2026-10-31&amp;known_at={before.replace(':', '%3A')}" in (
        member.text
    )


async def test_reports_sort_export_csv_and_bad_input_names_the_field(
    browser: httpx.AsyncClient, tenant: Tenant
):
    await post_events(browser, tenant, weekly_example(FIRST_SUNDAY))
    await post_events(browser, tenant, weekly_example(FIRST_SUNDAY, "member-2"))
    await post_events(browser, tenant, [reduction()])  # line-1: member-1's cut only
    await sign_in(browser, tenant.keys["reader"])
    report = "/console/reports/exceeding-accumulation"
    page = await browser.get(report, params={"as_of": "2026-10-31", "sort": "member_id"})
    assert page.status_code == 200
    assert 'aria-sort="ascending"' in page.text
    csv = await browser.get(
        report, params={"as_of": "2026-10-31", "sort": "overuse", "order": "desc", "format": "csv"}
    )
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0].startswith("member_id,authorization_number,service_code,reason,raw_balance")
    assert lines[1].startswith("member-1,AUTH-100,T1019,negative_accrual,-13,13,")
    bad = await browser.get(report, params={"as_of": "2026-13-01", "order": "up"})
    assert bad.status_code == 422
    assert "<td>as_of</td>" in bad.text
    near = await browser.get("/console/reports/benefits-near-limit", params={"threshold": "x"})
    assert near.status_code == 422 and "<td>threshold</td>" in near.text


async def test_a_second_tenants_key_never_sees_the_first_tenants_members(
    browser: httpx.AsyncClient, tenant: Tenant, database_url: str
):
    await post_events(browser, tenant, weekly_example(FIRST_SUNDAY))
    await post_events(browser, tenant, [reduction()])
    other = make_tenant(database_url)
    await sign_in(browser, other.keys["reader"])
    found = await browser.get("/console/", params={"q": "member"})
    assert found.status_code == 200 and "member-1" not in found.text
    for path in ("/console/members/member-1", KEY_PAGE):
        answer = await browser.get(path)
        assert answer.status_code == 404, path
        assert "AUTH-100 / T1019" not in answer.text and "-13" not in answer.text
    report = await browser.get("/console/reports/exceeding-accumulation?as_of=2026-10-31")
    assert "member-1" not in report.text and "Nothing to report" in report.text


# The spec's forecast example (accumulation.md 2.15; tests/integration/test_forecast_reports.py):
# 10 units a week for eight weeks from 2026-10-04, used 8, 6 and 12 in the first three weeks.
M1_KEY = "/console/members/m-1/keys/AUTH-m-1/T1019"


def cells(page: str, table_id: str = "report") -> list[list[str]]:
    """The body rows of a table as text (links and markup dropped)."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.DOTALL)
    assert table is not None, page[:2000]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.DOTALL)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in rows
    ]


async def test_the_forecast_on_a_keys_timeline_is_the_specs_example(
    browser: httpx.AsyncClient, tenant: Tenant
):
    await post_events(browser, tenant, [SETTINGS, *spec_example()])
    await sign_in(browser, tenant.keys["reader"])
    page = (await browser.get(M1_KEY, params={"as_of": "2026-10-28"})).text
    assert re.search(r'id="burn-rate">8.67<', page)
    assert re.search(r'id="projected-balance">10.67<', page)
    assert re.search(r'id="projected-unused">10.67<', page)
    assert 'id="runs-out-on">never (the units last)<' in page
    before = datetime.now(UTC).isoformat()
    await post_events(browser, tenant, [visit("m-1", 4, "20")])  # week 4 overdraws: -6
    now = (await browser.get(M1_KEY, params={"as_of": "2026-10-28"})).text
    assert re.search(r'id="projected-balance" class="below">-0.67<', now)
    assert re.search(r'id="projected-unused">0.00<', now)
    assert 'id="runs-out-on" class="below">2026-10-25<' in now
    known = (await browser.get(M1_KEY, params={"as_of": "2026-10-28", "known_at": before})).text
    assert re.search(r'id="projected-unused">10.67<', known)  # as known before that visit


async def test_utilization_renewals_and_authorized_vs_scheduled_reports(
    browser: httpx.AsyncClient, tenant: Tenant
):
    scheduled = visit("m-1", 4, "5", "visit.scheduled")
    await post_events(browser, tenant, [SETTINGS, *spec_example(), scheduled])
    await post_events(browser, tenant, [grant("=HYPERLINK(1)", weeks=2)])  # a formula as id
    await sign_in(browser, tenant.keys["reader"])

    utilization = await browser.get("/console/reports/utilization", params={"as_of": "2026-10-28"})
    assert utilization.status_code == 200
    rows = cells(utilization.text)
    assert rows == [
        ["m-1", "AUTH-m-1", "T1019", "active", "2026-10-04", "2026-11-28", "8.67", "10.67", "—"]
    ]
    assert 'href="/console/members/m-1/keys/AUTH-m-1/T1019?as_of=2026-10-28"' in utilization.text
    assert "Ledger position 7" in utilization.text and "As of 2026-10-28" in utilization.text

    renewals = "/console/reports/renewals-due"
    assert (
        "Nothing to report as of 2026-10-28"
        in (await browser.get(renewals, params={"as_of": "2026-10-28"})).text
    )
    due = await browser.get(renewals, params={"as_of": "2026-11-20", "sort": "days_left"})
    # m-1: 8 days left, 26 + 5 scheduled... only used units count: 26 of 80
    assert cells(due.text) == [
        ["m-1", "AUTH-m-1", "T1019", "payer-1", "m-1-line", "2026-11-28", "8", "0.33"]
    ]
    csv = await browser.get(renewals, params={"as_of": "2026-10-12", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="renewals-due-2026-10-12.csv"' in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == (
        "member_id,authorization_number,service_code,payer_id,line,line_end,days_left,share_used"
    )
    # the formula member's two weeks end in 5 days: due, and its id cannot run in a spreadsheet
    assert lines[1:] == [
        "'=HYPERLINK(1),AUTH-=HYPERLINK(1),T1019,payer-1,'=HYPERLINK(1)-line,2026-10-17,5,0.00"
    ]

    versus = "/console/reports/authorized-vs-scheduled"
    week4 = await browser.get(versus, params={"from": "2026-10-25", "to": "2026-10-31"})
    assert cells(week4.text) == [
        ["m-1", "AUTH-m-1", "T1019", "2026-10-25", "2026-10-31", "10", "5", "0", "0", "5"]
    ]
    assert "As of 2026-10-25-to-2026-10-31" not in week4.text
    assert "<span>From 2026-10-25 to 2026-10-31</span>" in week4.text  # the footer: the range
    ordered = await browser.get(
        versus,
        params={"from": "2026-10-01", "to": "2026-10-31", "sort": "confirmed", "order": "desc"},
    )
    confirmed = [row[7] for row in cells(ordered.text)]
    assert confirmed[:3] == ["12", "8", "6"] and 'aria-sort="descending"' in ordered.text
    export = await browser.get(
        versus, params={"from": "2026-10-01", "to": "2026-10-31", "format": "csv"}
    )
    assert (
        'filename="authorized-vs-scheduled-2026-10-01-to-2026-10-31.csv"'
        in (export.headers["content-disposition"])
    )
    assert export.text.splitlines()[0].endswith("authorized,scheduled,confirmed,missed,variance")
    for params, field in (
        ({"from": "2026-10-31", "to": "2026-10-01"}, "to"),
        ({"from": "2026-01-01", "to": "2027-12-31"}, "to"),
        ({"from": "2026-13-01"}, "from"),
    ):
        bad = await browser.get(versus, params=params)
        assert bad.status_code == 422 and f"<td>{field}</td>" in bad.text, params
    assert (await browser.get(versus)).status_code == 200  # the current month by default


async def test_signing_out_ends_copies_of_the_cookie_and_the_keys_other_sessions(
    app: FastAPI, browser: httpx.AsyncClient, tenant: Tenant
):
    assert (await sign_in(browser, tenant.keys["reader"])).status_code == 303
    copied = browser.cookies["console_session"]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    base = "http://ledger.test"
    async with (
        httpx.AsyncClient(transport=transport, base_url=base) as thief,
        httpx.AsyncClient(transport=transport, base_url=base) as desk,
        httpx.AsyncClient(transport=transport, base_url=base) as admin,
    ):
        thief.cookies.set("console_session", copied, path="/console")
        assert (await thief.get("/console/")).status_code == 200  # a copy works while signed in
        assert (await sign_in(desk, tenant.keys["reader"])).status_code == 303  # the same key
        assert (await sign_in(admin, tenant.keys["admin"])).status_code == 303  # another key
        home = await browser.get("/console/")
        token = CSRF.search(home.text)
        assert token is not None
        out = await browser.post("/console/sign-out", data={"csrf": token.group(1)})
        assert out.status_code == 303
        for client in (browser, thief, desk):  # at once, wherever the key had a session
            again = await client.get("/console/members/m-1")
            assert again.status_code == 303, again.text
            assert again.headers["location"].startswith("/console/sign-in?next=")
        posted = await thief.post("/console/sign-out", data={"csrf": token.group(1)})
        assert posted.headers["location"].startswith("/console/sign-in?next=")  # nothing done
        assert (await admin.get("/console/")).status_code == 200  # another key's session goes on
        assert (await sign_in(desk, tenant.keys["reader"])).status_code == 303  # again at once
        assert (await desk.get("/console/")).status_code == 200


async def test_not_found_pages_keep_the_console_and_offer_a_way_on(
    browser: httpx.AsyncClient, tenant: Tenant
):
    await post_events(browser, tenant, [SETTINGS, *spec_example()])
    await sign_in(browser, tenant.keys["reader"])
    nowhere = await browser.get("/console/nowhere")
    assert nowhere.status_code == 404
    assert "<h1>Not found</h1>" in nowhere.text and "no page at this address" in nowhere.text
    assert 'aria-label="Console"' in nowhere.text  # the navigation and sign-out stay
    assert '<a href="/console/">Find a member</a>' in nowhere.text
    key = await browser.get("/console/members/m-1/keys/AUTH-m-1/NOPE")
    assert key.status_code == 404 and "no accumulation for authorization" in key.text
    assert '<a href="/console/members/m-1">Back to member m-1</a>' in key.text
    member = await browser.get("/console/members/nobody")
    assert member.status_code == 404 and "Back to member" not in member.text
    bad = await browser.get("/console/members/m-1", params={"as_of": "soon"})
    assert bad.status_code == 422 and "<td>as_of</td>" in bad.text
    assert '<a href="/console/members/m-1">Back to member m-1</a>' in bad.text
    browser.cookies.clear()
    signed_out = await browser.get("/console/nowhere")  # no page, no session: no navigation
    assert signed_out.status_code == 404 and 'aria-label="Console"' not in signed_out.text
