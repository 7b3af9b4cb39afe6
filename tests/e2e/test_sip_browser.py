"""The plan as a SIP in a real browser (issue 20): the plan page on a phone (390 px wide, nothing
scrolls sideways), the printable plan as the printer sees it, and the whole meeting: a kallelse,
the meeting recorded, two actions agreed (one by others), the plan printed for the family.

Chromium and the served app as in ``test_browser.py``: the publish port stands in for the
projectors, so what a form posts shows on the next page.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_browser import ARGS, chromium, served  # noqa: F401 - fixtures: Chromium, the served app
from tests.integration.test_plan_print import PERFORMER, sip_events
from tests.support.api import BHV, SOC, Harness

BHV_USER = f"dev-coordinator-{BHV}"
PHONE = {"width": 390, "height": 844}


def _log_in(page: Any, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/dev/login")
    page.locator(f"#u-{BHV_USER}").check()
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Mina barn")).to_be_visible()


@pytest.mark.timeout(120)
def test_the_plan_fits_a_phone_and_prints_its_actions(chromium: Path, served: tuple[Harness, str],  # noqa: F811
                                                     tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    h, url = served
    child = h.county.a
    h.world.apply(sip_events(h.county, child, h.county.plan_a, h.county.action_a))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport=PHONE)
            _log_in(page, url)
            page.goto(f"{url}/ui/children/{child}")
            expect(page.get_by_role("heading", name="Planen just nu")).to_be_visible()
            expect(page.locator("table.actions-now")).to_contain_text(PERFORMER)
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(path=str(tmp_path / "plan-390.png"), full_page=True)

            page.get_by_role("link", name="Skriv ut planen").click()
            page.emulate_media(media="print")
            actions = page.locator("ol.print-actions")
            expect(actions).to_be_visible()
            expect(actions).to_contain_text("Sömnrådgivning")
            expect(actions).to_contain_text("Fotbollsträning på tisdagar")
            expect(page.locator(".screen-only")).to_be_hidden()  # the links stay off the paper
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            pdf = page.pdf(format="A4")  # Chromium's own print of the page
            assert pdf.startswith(b"%PDF")
        finally:
            browser.close()


@pytest.mark.timeout(180)
def test_invite_meet_agree_two_actions_and_print(chromium: Path, served: tuple[Harness, str],  # noqa: F811
                                                  tmp_path: Path) -> None:
    """The issue's scenario through H1's forms (kallelse, meeting, actions) and the print view."""
    from playwright.sync_api import expect, sync_playwright

    h, url = served
    child, consent_id, events = h.county.unplanned()
    h.world.apply(events)
    meeting_day = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            _log_in(page, url)
            page.goto(f"{url}/ui/children/{child}")
            page.get_by_role("link", name="Öppna plan").click()
            page.get_by_label(f"Samtycke {str(consent_id)[:8]}", exact=False).check()
            page.get_by_role("button", name="Öppna planen").click()
            expect(page.get_by_role("link", name="Kalla till möte")).to_be_visible()

            page.get_by_role("link", name="Kalla till möte").click()
            page.locator("#starts_on").fill(meeting_day)
            page.get_by_label("Klockslag").fill("13:30")
            page.get_by_label("Plats").fill("Familjecentralen, rum 2")
            page.get_by_label("Socialtjänsten Växjö", exact=True).check()
            page.get_by_label("Barnavårdscentralen Växjö", exact=True).check()
            page.get_by_label("Frågor till mötet").fill("Hur sover barnet? Vad behöver familjen?")
            page.get_by_role("button", name="Skicka kallelsen").click()
            expect(page).to_have_url(f"{url}/ui/children/{child}?klart=invitation")
            expect(page.locator(".document")).to_contain_text("Familjecentralen, rum 2")

            page.get_by_role("link", name="Registrera samverkansmöte").click()
            page.get_by_label("Socialtjänsten Växjö", exact=True).check()
            page.get_by_label("Barnavårdscentralen Växjö", exact=True).check()
            page.get_by_label("Ansvarig för planen efter mötet").select_option(SOC)
            page.get_by_label("Beslut").fill("Socialtjänsten leder planen. Två insatser beslutas.")
            page.get_by_label("Barnets röst").fill("Jag vill spela fotboll.")
            page.get_by_role("button", name="Registrera mötet").click()
            expect(page).to_have_url(f"{url}/ui/children/{child}?klart=meeting")

            for area, need, what, others in (("health", "Bättre sömn", "Sömnrådgivning på BVC", False),
                                             ("relationships", "Fler vänner", "Fotbollsträning på tisdagar", True)):
                page.get_by_role("link", name="Besluta insats").click()
                page.get_by_label("Område").select_option(area)
                page.get_by_label("Behov").fill(need)
                page.get_by_label("Insats (vad ska göras)").fill(what)
                page.get_by_label("Ansvarig organisation").select_option(BHV if not others else SOC)
                page.get_by_label("Klart senast").fill((dt.date.today() + dt.timedelta(days=60)).isoformat())
                if others:
                    page.get_by_label("Insatsen utförs av andra", exact=False).check()
                    page.get_by_label("Vem utför insatsen").fill(PERFORMER)
                page.get_by_role("button", name="Besluta insatsen").click()
                expect(page).to_have_url(f"{url}/ui/children/{child}?klart=action")

            page.get_by_role("link", name="Skriv ut planen").click()
            page.emulate_media(media="print")
            actions = page.locator("ol.print-actions li")
            expect(actions).to_have_count(2)
            expect(page.locator("ol.print-actions")).to_contain_text("Sömnrådgivning på BVC")
            expect(page.locator("ol.print-actions")).to_contain_text(PERFORMER)
            expect(page.locator("#nar-ses-vi").locator("..")).to_contain_text("Familjecentralen, rum 2")
            page.screenshot(path=str(tmp_path / "utskrift.png"), full_page=True)
        finally:
            browser.close()
