"""A report of concern in a real browser (issue 19): a school coordinator files one by
personnummer; the social services of the child's municipality see it in their inbox, unread,
open it and acknowledge it; the school then sees the acknowledgement.

Chromium and the served app as in ``test_browser.py``; the publish port stands in for the gate
(a filed report is routed to the child's home municipality) and the projectors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.events import ReportOfConcernAcknowledged, ReportOfConcernFiled
from tests.e2e.test_browser import ARGS, chromium, served  # noqa: F401 - fixtures: Chromium, the served app
from tests.support.api import Harness

SCHOOL_USER = "dev-coordinator-skolenhet-07802001"  # Växjö grundskola 1
SOCIAL_USER = "dev-coordinator-kommun-0780-soc"  # Socialtjänsten Växjö: the children's municipality
OBSERVED = "Eleven har blåmärken på armarna och säger att hen inte vill gå hem. Syntetisk text."


@pytest.mark.timeout(60)
def test_a_school_files_a_report_social_services_acknowledge_it_and_the_school_sees_it(
        chromium: Path, served: tuple[Harness, str], tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import Page, expect, sync_playwright

    h, url = served
    child = h.county.d
    pnr = h.county.personnummer(child)

    def log_in(page: Page, user: str) -> None:
        page.goto(f"{url}/dev/login")
        page.locator(f"#u-{user}").check()
        page.get_by_role("button", name="Logga in").click()
        expect(page.get_by_role("heading", name="Mina barn")).to_be_visible()
        page.get_by_role("link", name="Orosanmälningar").click()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900})
            asked: list[str] = []
            page.on("request", lambda request: asked.append(request.url))

            log_in(page, SCHOOL_USER)
            page.get_by_role("link", name="Ny orosanmälan").click()
            page.get_by_label("Barnets personnummer").fill(pnr)
            page.get_by_label("Vad har du sett eller fått veta").fill(OBSERVED)
            page.locator("#acute-2").check()  # nej
            page.locator("#guardians_informed-2").check()  # nej
            page.get_by_label("Om nej: varför inte").fill("Det kan skada eleven.")
            page.get_by_label("Din roll").fill("mentor")
            page.get_by_label("Hur socialtjänsten når dig").fill("0470-123 45")
            page.get_by_role("button", name="Skicka orosanmälan").click()
            expect(page.get_by_role("status")).to_contain_text("Orosanmälan är mottagen.")
            rows = page.locator("table.reports tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("skickad till socialtjänsten")
            expect(rows.first).to_contain_text("socialtjänsten i Växjö")
            page.get_by_role("button", name="Logga ut").click()

            log_in(page, SOCIAL_USER)
            expect(page.get_by_role("heading", name="Inkomna orosanmälningar")).to_be_visible()
            inbox = page.locator("table.reports tbody tr")
            expect(inbox).to_have_count(1)
            expect(inbox.first).to_contain_text("Oläst")
            expect(inbox.first).to_contain_text("Växjö grundskola 1")
            inbox.first.get_by_role("link").click()
            expect(page.locator("dl.summary").last).to_contain_text(OBSERVED)
            expect(page.locator("dl.summary").last).to_contain_text(pnr)
            page.get_by_role("button", name="Kvittera mottagandet").click()
            expect(page.get_by_role("status")).to_contain_text("Orosanmälan är kvitterad.")
            expect(page.get_by_role("button", name="Kvittera mottagandet")).to_have_count(0)
            page.get_by_role("link", name="Orosanmälningar").first.click()
            expect(page.locator("table.reports tbody tr").first).to_contain_text("Läst")
            page.get_by_role("button", name="Logga ut").click()

            log_in(page, SCHOOL_USER)
            mine = page.locator("table.reports tbody tr")
            expect(mine.first).to_contain_text("kvitterad av socialtjänsten")
            expect(mine.first).to_contain_text("inte beslutat ännu")
            shot = tmp_path / "orosanmalan.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert len(h.publish.of(ReportOfConcernFiled)) == 1
    assert len(h.publish.of(ReportOfConcernAcknowledged)) == 1
    assert not [u for u in asked if pnr in u or pnr.replace("-", "") in u]  # never in an address
