"""The Content-Security-Policy in a real browser (Chromium through Playwright, as ``test_browser``):
the pages and the API docs work under it with no violation reported, and a form post still
passes the forms' Origin check under the Referrer-Policy (``no-referrer`` would send
``Origin: null`` and every form would be refused).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import test_browser
from tests.support.api import BHV, Harness

chromium = test_browser.chromium  # the session fixture that finds or installs Debian's Chromium
served = test_browser.served  # the app on a fresh county, served in a thread


@pytest.mark.timeout(180)
def test_pages_and_docs_work_under_the_policy(chromium: Path, served: tuple[Harness, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    h, url = served
    reports: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=test_browser.ARGS)
        try:
            page = browser.new_page(locale="sv-SE")
            page.on("console", lambda m: reports.append(m.text) if "Content Security Policy" in m.text else None)
            page.on("pageerror", lambda e: reports.append(str(e)))

            page.goto(f"{url}/dev/login")
            page.locator(f"#u-dev-coordinator-{BHV}").check()
            page.get_by_role("button", name="Logga in").click()  # a form post: Origin must be ours, not null
            expect(page.get_by_role("heading", name="Mina barn")).to_be_visible()
            page.goto(f"{url}/ui/children/{h.county.a}")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Barnets plan")
            expect(page.locator("figure.wheel svg")).to_be_visible()
            # The stylesheet applied: the header band is not the browser's default transparent.
            band = page.locator("header.site").evaluate("e => getComputedStyle(e).backgroundColor")
            assert band not in ("rgba(0, 0, 0, 0)", "transparent")

            page.goto(f"{url}/docs")
            expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)  # Swagger UI rendered the spec
            assert page.locator(".opblock").count() >= 20
        finally:
            browser.close()
    assert reports == []
