"""Protected personal data (skyddade personuppgifter) and names for those entitled (issue 15,
items 2 and 3; DESIGN §7).

Child P has skyddad folkbokföring. Every page and export about P, as every role that can reach
it -- the named person's BVC, the plan lead (social services), a participant (the school), a
coordinator with emergency access, an auditor, an administrator -- shows none of P's address or
municipality of residence; P's name, personnummer and guardians' names show only to the named
person's organisation and the plan lead, and in no export; every coordinator's page about P
carries the badge. The expected answers come from the rule's text (``entitled`` below), not from
the product's own function. Unprotected child A shows its name to everyone entitled to see it,
and its guardians' names on the consent page; an erased child shows "raderad".
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from services.api.auth.tokens import Principal
from services.api.ui.pages import COMMANDS
from services.sql.keystore import SqlKeyStore, master_key_from
from tests.support.api import (
    ADMINISTRATOR,
    AUDITOR,
    BHV,
    COORDINATOR_BHV,
    COORDINATOR_OUTSIDE,
    COORDINATOR_SCHOOL,
    COORDINATOR_SOC,
    SOC,
    Harness,
    harness,
)
from tests.support.browser import Browser

BADGE = "Skyddade personuppgifter"
COORDINATORS = {"named-person": COORDINATOR_BHV, "lead": COORDINATOR_SOC, "participant": COORDINATOR_SCHOOL,
                "emergency": COORDINATOR_OUTSIDE}
ENTITLED_ORGS = {BHV, SOC}  # the rule's text: the named person's organisation and the plan lead


def entitled(who: Principal) -> bool:
    return who.organisation_id in ENTITLED_ORGS



@pytest.fixture
def h(tmp_path: Path) -> Harness:
    made = harness(tmp_path, applying=True)  # access events reach the audit store, as in a running hub
    _, _, events = made.county.protected_child()
    made.world.apply(events)
    client = TestClient(made.app)
    opened = client.post("/emergency-access", headers=made.headers(COORDINATOR_OUTSIDE),
                         json={"personnummer": made.county.personnummer(made.county.p), "reason_code": "AKUT_FARA",
                               "days": 2})
    assert opened.status_code == 202
    return made


def secrets(h: Harness) -> dict[str, list[str]]:
    """What of P must never show where it is not entitled (name), or anywhere (address, municipality)."""
    county, p = h.county, h.county.p
    me = county.identity(p)
    pnr = me["personnummer"]
    return {
        "identity": [pnr, pnr.replace("-", ""), pnr[2:], me["given_name"] + " " + me["family_name"], me["family_name"],
                     *county.guardian_names(p).values()],
        "residence": [me["address"], me["postal_code"], *county.MOVED_ADDRESS.values(), county.PROTECTED_MUNICIPALITY,
                      county.MOVED_TO, "Alvesta", "Älmhult"],
    }


# The county directory's pickers list every organisation, grouped by municipality name: that
# says nothing about where the child lives, so it is not searched.
COUNTY_LISTS = re.compile(r'<select[^>]*\bclass="[^"]*\bcounty-directory\b[^"]*"[^>]*>.*?</select>', re.S)


def shows(secret: str, text: str) -> bool:
    """Whether ``text`` holds ``secret`` outside the county directory's pickers; a code of digits
    only as a whole token, not inside a timestamp's fraction of a second or an id."""
    text = COUNTY_LISTS.sub("", text)
    if secret.isdigit():
        return re.search(rf"(?<![\w.:-]){secret}(?![\w-])", text) is not None
    return secret in text


def _get(client: TestClient, h: Harness, who: Principal, path: str) -> Response:
    client.cookies.clear()
    if path.startswith("/ui"):
        client.cookies.set("kronobarn_token", h.token(who))
        return client.get(path, follow_redirects=False)
    return client.get(path, headers=h.headers(who), follow_redirects=False)


def coordinator_reads(h: Harness) -> list[tuple[str, str, bool]]:
    """(how, path, whether the page is about P alone); each is read by every coordinator."""
    p = h.county.p
    child = [f"/children/{p}", f"/children/{p}/plan.fhir", f"/ui/children/{p}", f"/ui/children/{p}/plan.fhir",
             f"/ui/children/{p}/consents", *(f"/ui/children/{p}/{slug}/new" for slug in COMMANDS)]
    return [("GET", path, True) for path in child] + [("GET", "/children", False), ("GET", "/ui/children", False),
                                                      ("POST", "/children/search", False),
                                                      ("POST", "/children/filter", False)]


def expected_status(who: Principal, path: str) -> int:
    """From the access rules' text: emergency access reads, it does not write (no forms, no
    consent page); moving the named-person task is for the named person and the lead."""
    if who is COORDINATOR_OUTSIDE and (path.endswith("/new") or path.endswith("/consents")):
        return 403
    if who is COORDINATOR_SCHOOL and path.endswith("/transfer/new"):
        return 403
    return 200


def test_every_page_and_export_about_a_protected_child_as_every_coordinator(h: Harness, logs: io.StringIO) -> None:
    client, p, told = Browser(h.app), h.county.p, secrets(h)
    pnr = h.county.personnummer(p)
    me = h.county.identity(p)
    for role, who in COORDINATORS.items():
        for method, path, about_p in coordinator_reads(h):
            if method == "POST":
                body = {"personnummer": pnr} if path.endswith("search") else {"name": me["given_name"]}
                r = client.post(path, json=body, headers=h.headers(who))
            else:
                r = _get(client, h, who, path)
            assert r.status_code == expected_status(who, path), (role, path, r.status_code)
            if r.status_code != 200:
                continue
            text = r.text
            for secret in told["residence"]:
                assert not shows(secret, text), (role, path, secret)
            export = path.endswith("plan.fhir")
            if not entitled(who) or export:
                for secret in told["identity"]:
                    assert not shows(secret, text), (role, path, secret)
            if path.startswith("/ui") and not export:
                assert BADGE in text, (role, path)  # on every page about P, and on the lists
            if export:
                patient = next(e["resource"] for e in r.json()["entry"] if e["resource"]["resourceType"] == "Patient")
                assert "name" not in patient and len(patient["identifier"]) == 1 and "birthDate" not in patient
                assert patient["meta"]["security"][0]["code"] == "R"
                assert "identity" not in h.publish.views[-1].parts
            if path == f"/children/{p}":
                view = r.json()
                assert view["person"]["protected"] is True and view["municipality_code"] is None
                assert view["address"] is None
                assert (view["person"]["identity"] == "shown") is entitled(who), role
                assert (view["person"]["personnummer"] == pnr) is entitled(who), role
                assert bool(view["guardian_names"]) is entitled(who), role
                assert any(f["fact_type"] == "ReportOfConcernReceived" for a in view["areas"] for f in a["facts"])
                assert all("municipality_code" not in f["details"] for a in view["areas"] for f in a["facts"])
                assert ("identity" in h.publish.views[-1].parts) is entitled(who)
                assert "address" not in h.publish.views[-1].parts
        # Shown where entitled: the name on the plan page, the guardians' names on the consent page.
        if entitled(who):
            assert me["family_name"] in _get(client, h, who, f"/ui/children/{p}").text
            consents = _get(client, h, who, f"/ui/children/{p}/consents").text
            assert all(name in consents for name in h.county.guardian_names(p).values())
    # No log line carries P's identity or residence (and the log did record the requests' work).
    written = logs.getvalue()
    assert "audit_appended" in written  # the service's log was captured while the pages were read
    for secret in told["identity"] + told["residence"]:
        assert not shows(secret, written), secret


def test_a_protected_childs_search_and_lists_by_role(h: Harness) -> None:
    client, p = Browser(h.app), h.county.p
    pnr, me = h.county.personnummer(p), h.county.identity(p)
    for who in COORDINATORS.values():
        found = client.post("/children/search", json={"personnummer": pnr}, headers=h.headers(who))
        assert found.status_code == 200, who  # all four may see P: named person, lead, participant, emergency
        person = found.json()["person"]
        assert person["protected"] is True and found.json()["municipality_code"] is None
        assert (person["family_name"] == me["family_name"]) is entitled(who)
        assert person["identity"] == ("shown" if entitled(who) else "protected")
        by_name = client.post("/children/filter", json={"name": me["family_name"]}, headers=h.headers(who)).json()
        assert [c["child_id"] for c in by_name["children"]] == ([str(p)] if entitled(who) else [])
        listed = client.get("/children", headers=h.headers(who)).json()["children"]
        row = next(c for c in listed if c["child_id"] == str(p))
        assert row["person"]["protected"] is True and row["municipality_code"] is None
        # A municipality filter never matches a protected child: it would tell where it lives.
        for code in (h.county.MOVED_TO, h.county.PROTECTED_MUNICIPALITY):
            assert str(p) not in client.get(f"/children?municipality={code}", headers=h.headers(who)).text


def test_auditors_and_administrators_see_no_protected_details(h: Harness) -> None:
    client, p, told = Browser(h.app), h.county.p, secrets(h)
    at = h.county.now.isoformat().replace("+", "%2B")
    reads = [(AUDITOR, f"/audit/children/{p}/log"), (AUDITOR, f"/audit/children/{p}/history"),
             (AUDITOR, f"/audit/children/{p}/as-seen?org={BHV}&at={at}"), (AUDITOR, "/audit/emergency-access"),
             (AUDITOR, f"/ui/audit/children/{p}/log"), (AUDITOR, f"/ui/audit/children/{p}/history"),
             (AUDITOR, f"/ui/audit/children/{p}/as-seen?org={BHV}&at={h.county.now.isoformat()[:16]}"),
             (AUDITOR, "/ui/audit/emergency-access"), (ADMINISTRATOR, "/admin/overview"), (ADMINISTRATOR, "/ui/admin")]
    for who, path in reads:
        r = _get(client, h, who, path)
        assert r.status_code == 200, (path, r.status_code)
        for secret in told["identity"] + told["residence"]:
            assert not shows(secret, r.text), (path, secret)
    for who in (AUDITOR, ADMINISTRATOR):  # and the coordinators' reads are not theirs
        assert _get(client, h, who, f"/children/{p}").status_code == 403
        assert client.post("/children/search", json={"personnummer": h.county.personnummer(p)},
                           headers=h.headers(who)).status_code == 403


def test_names_for_those_entitled_guardians_on_the_consent_page_and_erased_reads_raderad(tmp_path: Path) -> None:
    h = harness(tmp_path)
    client, a = Browser(h.app), h.county.a
    me = h.county.identity(a)
    view = client.get(f"/children/{a}", headers=h.headers(COORDINATOR_BHV)).json()
    assert view["person"] == {"identity": "shown", "protected": False, "personnummer": me["personnummer"],
                              "given_name": me["given_name"], "family_name": me["family_name"]}
    assert view["address"] == {"address": me["address"], "postal_code": me["postal_code"], "town": me["town"]}
    assert view["municipality_code"] == "0780"
    names = h.county.guardian_names(a)
    assert {uuid.UUID(g["party_id"]): g["name"] for g in view["guardian_names"]} == names
    consent = next(c for c in view["consents"] if c["consent_id"] == str(h.county.consent_a))
    assert {uuid.UUID(g["party_id"]): g["name"] for g in consent["grantors"]} == names
    assert set(h.publish.views[-1].parts) >= {"identity", "address", "guardians"}
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    page = client.get(f"/ui/children/{a}/consents").text
    for name in names.values():
        assert f"Vårdnadshavare: {name}" in page  # in the grant and withdrawal forms
        assert f"vårdnadshavare {name}" in page  # beside each grant in the table
    assert "identity" in h.publish.views[-1].parts and "guardians" in h.publish.views[-1].parts
    assert "address" not in h.publish.views[-1].parts  # the consent page shows no address, so logs none
    # Outside the child's circle: the gaps list names nobody (C is on it).
    gaps = client.get("/ui/municipalities/0780/gaps").text
    assert h.county.identity(h.county.c)["family_name"] not in gaps
    assert h.publish.views[-1].parts == ("gaps",)
    # Erased: the key is gone; everything still renders, saying "raderad".
    SqlKeyStore(h.app.state.hub.engine, master_key_from(h.settings)).erase(a, reason_code="TEST")
    view = client.get(f"/children/{a}", headers=h.headers(COORDINATOR_BHV)).json()
    assert view["person"]["identity"] == "erased" and view["person"]["personnummer"] is None
    assert view["address"] is None and view["guardian_names"] == []
    page = client.get(f"/ui/children/{a}").text
    assert "raderad" in page and me["family_name"] not in page
    listed = client.get("/ui/children").text
    assert "raderad" in listed and me["personnummer"] not in listed
    assert "identity" not in h.publish.views[-1].parts


def test_a_protected_childs_page_carries_the_badge_in_the_emergency_readers_list(h: Harness) -> None:
    client = Browser(h.app)
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_OUTSIDE))
    listed = client.get("/ui/children").text
    assert BADGE in listed and "skyddade personuppgifter" in listed
    assert h.county.identity(h.county.p)["family_name"] not in listed
