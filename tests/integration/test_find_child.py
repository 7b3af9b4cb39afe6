"""Finding a child by personnummer (issue 15, item 1), by name among one's own children (item 2),
and the proof that no personnummer is kept in clear: not in the service's logs, not on the
access topic, not in the read model's database.

A lookup is a POST (the number never in a URL), finds the child through the identity registry's
HMAC index, and answers a number nobody has exactly as it answers a child outside the caller's
scope. Every lookup is logged as ``ChildDataViewed`` with purpose "search": a hit against the
child, a child outside the scope against the child with part "no-access", a miss or a malformed
number against the nil id with "no-match" or "malformed" -- never the number. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, insert, select

from connectors import personnummer
from schemas.events import ChildDataViewed
from services.api.auth.tokens import Principal
from services.ingest.identity import DEV_IDENTITY_SECRET
from services.sql.schema import identity_handles
from tests.conftest import DATABASES
from tests.support.api import (
    AUDITOR,
    COORDINATOR_BHV,
    COORDINATOR_OUTSIDE,
    COORDINATOR_SCHOOL,
    COORDINATOR_SOC,
    Harness,
    harness,
)
from tests.support.browser import Browser

NOBODY = uuid.UUID(int=0)
NOT_FOUND = {"detail": "Hittades inte.", "reasons": []}


@pytest.fixture(params=DATABASES)
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_schema")()
    made = harness(tmp_path, url=url, applying=True)
    yield made
    made.app.state.hub.engine.dispose()



def spellings(pnr: str) -> list[str]:
    """How a person may type YYYYMMDD-NNNC: 12 or 10 digits, with or without the dash."""
    return [pnr, pnr.replace("-", ""), pnr[2:], pnr[2:].replace("-", ""), f"  {pnr[2:]} "]


def search(client: TestClient, h: Harness, who: Principal, typed: str):  # type: ignore[no-untyped-def]
    return client.post("/children/search", json={"personnummer": typed}, headers=h.headers(who))


def last_view(h: Harness) -> ChildDataViewed:
    return h.publish.views[-1]


def test_a_child_is_found_in_every_spelling_and_each_lookup_is_logged(h: Harness) -> None:
    client, a = Browser(h.app), h.county.a
    me = h.county.identity(a)
    for typed in spellings(me["personnummer"]):
        before = len(h.publish.events)
        r = search(client, h, COORDINATOR_BHV, typed)
        assert r.status_code == 200, (typed, r.text)
        found = r.json()
        assert found["child_id"] == str(a) and found["access"] == "named_person"
        assert found["person"]["personnummer"] == me["personnummer"] and found["person"]["given_name"] == "Alva"
        new = h.publish.events[before:]
        assert len(new) == 1 and isinstance(new[0], ChildDataViewed)
        assert (new[0].child_id, new[0].purpose, new[0].parts) == (a, "search", ("summary", "identity"))
        assert (new[0].viewer_id, new[0].organisation_id) == (COORDINATOR_BHV.subject, COORDINATOR_BHV.organisation_id)
    # SOC leads A's plan; it finds A too.
    assert search(client, h, COORDINATOR_SOC, me["personnummer"]).json()["access"] == "lead"


def test_a_plus_names_someone_a_century_older(h: Harness) -> None:
    client, pnr = Browser(h.app), h.county.personnummer(h.county.a)
    r = search(client, h, COORDINATOR_BHV, pnr[2:].replace("-", "+"))
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    assert (last_view(h).child_id, last_view(h).parts) == (NOBODY, ("no-match",))


def test_a_samordningsnummer_is_an_identity_too(h: Harness) -> None:
    born = h.county.born(h.county.a)
    body = f"{born:%y%m}{born.day + 60:02d}977"
    coordination = f"{born:%Y%m}{born.day + 60:02d}-977{personnummer.luhn_digit(body)}"
    handle = hmac.new(DEV_IDENTITY_SECRET, f"PERSONNUMMER:{coordination}".encode(), hashlib.sha256).hexdigest()
    with h.app.state.hub.engine.begin() as c:
        c.execute(insert(identity_handles).values(handle_hmac=handle, child_id=str(h.county.a), kind="PERSONNUMMER",
                                                  created_at=h.county.now))
    for typed in spellings(coordination):
        r = search(Browser(h.app), h, COORDINATOR_BHV, typed)
        assert r.status_code == 200 and r.json()["child_id"] == str(h.county.a), typed


@pytest.mark.parametrize("typed", ["20150309-931", "2015030993170", "ABCDEF-1234", "", " ", "20150230-9313",
                                   "19991399-1234", "150309_9317", "20150309--9317"])
def test_a_malformed_number_is_refused_without_repeating_it_and_logged(h: Harness, typed: str) -> None:
    r = search(Browser(h.app), h, COORDINATOR_BHV, typed)
    assert r.status_code == 422
    digits = typed.strip().replace("-", "")
    assert not typed.strip() or (typed.strip() not in r.text and digits not in r.text), r.text
    if typed:  # an empty one is refused by the body's bounds, before any lookup
        assert (last_view(h).child_id, last_view(h).purpose, last_view(h).parts) == (NOBODY, "search", ("malformed",))
        assert r.json()["reasons"][0].startswith("personnummer: ")


def test_a_wrong_check_digit_says_so(h: Harness) -> None:
    pnr = h.county.personnummer(h.county.a)
    wrong = pnr[:-1] + str((int(pnr[-1]) + 1) % 10)
    r = search(Browser(h.app), h, COORDINATOR_BHV, wrong)
    assert r.status_code == 422 and r.json()["reasons"] == ["personnummer: check digit does not match"]
    assert wrong not in r.text and wrong[2:] not in r.text


def test_unknown_and_out_of_scope_get_the_same_answer_and_are_logged_apart(h: Harness) -> None:
    client = Browser(h.app)
    nobody = personnummer.make(dt.date(2016, 6, 6), 998)
    unknown = search(client, h, COORDINATOR_BHV, nobody)
    assert (last_view(h).child_id, last_view(h).parts, last_view(h).purpose) == (NOBODY, ("no-match",), "search")
    outside = search(client, h, COORDINATOR_BHV, h.county.personnummer(h.county.b))  # B: another school's pupil
    assert (last_view(h).child_id, last_view(h).parts) == (h.county.b, ("no-access",))
    stranger = search(client, h, COORDINATOR_OUTSIDE, h.county.personnummer(h.county.a))
    assert (last_view(h).child_id, last_view(h).parts) == (h.county.a, ("no-access",))
    unregistered = search(client, h, COORDINATOR_BHV, h.county.personnummer(h.county.e))  # in the registry only
    for r in (unknown, outside, stranger, unregistered):
        assert (r.status_code, r.json(), r.headers.get("content-type")) == (404, NOT_FOUND, "application/json")
    assert (outside.content, stranger.content) == (unknown.content, unknown.content)


def test_only_coordinators_look_children_up(h: Harness) -> None:
    before = len(h.publish.events)
    r = search(Browser(h.app), h, AUDITOR, h.county.personnummer(h.county.a))
    assert r.status_code == 403 and len(h.publish.events) == before


def test_a_participant_finds_a_protected_child_without_its_name(h: Harness) -> None:
    _, _, events = h.county.protected_child()
    h.world.apply(events)
    client, p = Browser(h.app), h.county.p
    r = search(client, h, COORDINATOR_SCHOOL, h.county.personnummer(p))
    assert r.status_code == 200 and r.json()["person"] == {"identity": "protected", "protected": True,
                                                           "personnummer": None, "given_name": None,
                                                           "family_name": None}
    assert r.json()["municipality_code"] is None and last_view(h).parts == ("summary",)
    r = search(client, h, COORDINATOR_BHV, h.county.personnummer(p))
    assert r.json()["person"]["family_name"] == "Skog" and last_view(h).parts == ("summary", "identity")


# -- the pages ---------------------------------------------------------------------------------------------

def test_the_page_lookup_redirects_to_the_child_and_never_puts_the_number_in_a_url(h: Harness) -> None:
    client = Browser(h.app)
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    page = client.get("/ui/children").text
    assert 'method="post" action="/ui/children/search"' in page and 'name="personnummer"' in page
    pnr = h.county.personnummer(h.county.a)
    for typed in spellings(pnr):
        r = client.post("/ui/children/search", data={"personnummer": typed}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/ui/children/{h.county.a}")
    answers = {}
    for case, typed in (("unknown", personnummer.make(dt.date(2016, 6, 6), 998)),
                        ("outside", h.county.personnummer(h.county.b)),
                        ("check", pnr[:-1] + str((int(pnr[-1]) + 1) % 10)), ("format", "12345"),
                        ("date", "20150230-9313")):
        r = client.post("/ui/children/search", data={"personnummer": typed}, follow_redirects=False)
        assert r.status_code == 303 and typed not in r.headers["location"] and typed not in r.text
        answers[case] = r.headers["location"]
    assert answers["unknown"] == answers["outside"] == "/ui/children?sok=ingen"
    assert (answers["check"], answers["format"], answers["date"]) == (
        "/ui/children?sok=kontroll", "/ui/children?sok=format", "/ui/children?sok=datum")
    shown = client.get(answers["unknown"]).text
    assert "Inget barn i ditt uppdrag har det personnumret." in shown and 'role="alert"' in shown
    assert "kontrollsiffra" in client.get(answers["check"]).text


# -- by name, among one's own children ------------------------------------------------------------------------

def test_the_list_sorts_by_name_shows_age_and_filters_by_name_in_a_posted_body(h: Harness) -> None:
    for extra in (h.county.unplanned()[2], h.county.protected_child()[2]):
        h.world.apply(extra)
    client = Browser(h.app)
    mine = client.get("/children", headers=h.headers(COORDINATOR_BHV)).json()["children"]
    # BHV is named person for A (Alva Lind), E (Elsa Berg) and P (Pia Skog): by family name.
    assert [c["person"]["family_name"] for c in mine] == ["Berg", "Lind", "Skog"]
    today = dt.datetime.now(ZoneInfo("Europe/Stockholm")).date()  # the age a Swede would say today
    for c in mine:
        born = dt.date.fromisoformat(c["birth_date"])
        assert c["age"] == today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    assert all(set(v.parts) == {"summary", "identity"} for v in h.publish.views[-3:])

    def by_name(name: str, who: Principal = COORDINATOR_BHV) -> list[str]:
        r = client.post("/children/filter", json={"name": name}, headers=h.headers(who))
        assert r.status_code == 200
        return [c["person"]["given_name"] or c["child_id"] for c in r.json()["children"]]

    assert by_name("alv") == ["Alva"] and by_name("LIND") == ["Alva"] and by_name("lind alva") == ["Alva"]
    assert by_name("alvar") == [] and by_name("a") == ["Alva"]  # words begin with what is typed
    assert by_name("Lind", COORDINATOR_SCHOOL) == []  # A is not the school's
    assert by_name("Åberg", COORDINATOR_OUTSIDE) == []  # B is nobody's here
    views = len(h.publish.views)
    assert by_name("zzz") == [] and len(h.publish.views) == views  # a name that matches no child opens none
    assert client.get("/children?name=Lind", headers=h.headers(COORDINATOR_BHV)).status_code == 400  # never a URL
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    page = client.post("/ui/children", data={"name": "berg"})
    assert page.status_code == 200 and "Elsa Berg" in page.text and "Alva Lind" not in page.text
    listed = client.get("/ui/children").text
    assert listed.index("Elsa Berg") < listed.index("Alva Lind") < listed.index("Pia Skog")
    assert "år</td>" in listed and 'action="/ui/children"' in listed


# -- no personnummer in clear: logs, the access topic, the read model ----------------------------------------

def test_no_personnummer_in_clear_in_the_logs_the_access_topic_or_the_read_model(h: Harness,
                                                                                  logs: io.StringIO) -> None:
    h.world.apply(h.county.unplanned()[2])
    h.world.apply(h.county.protected_child()[2])
    client, a, p = Browser(h.app), h.county.a, h.county.p
    for who in (COORDINATOR_BHV, COORDINATOR_SOC, COORDINATOR_SCHOOL, COORDINATOR_OUTSIDE):
        for child in h.county.everyone:
            for typed in spellings(h.county.personnummer(child)):
                search(client, h, who, typed)
        search(client, h, who, "20150309-9310")
        client.get("/children", headers=h.headers(who))
        client.post("/children/filter", json={"name": "Lind"}, headers=h.headers(who))
        for path in (f"/children/{a}", f"/children/{a}/plan.fhir", f"/children/{p}", f"/children/{p}/plan.fhir"):
            client.get(path, headers=h.headers(who))
        client.post("/emergency-access", json={"personnummer": h.county.personnummer(h.county.b),
                                               "reason_code": "AKUT_FARA", "days": 1}, headers=h.headers(who))
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    for typed in spellings(h.county.personnummer(a)):
        client.post("/ui/children/search", data={"personnummer": typed})
    for path in (f"/ui/children/{a}", f"/ui/children/{a}/consents", f"/ui/children/{p}", "/ui/children"):
        assert client.get(path).status_code == 200

    forbidden = {s for child in h.county.everyone for s in spellings(h.county.personnummer(child))}
    forbidden = {s.strip() for s in forbidden}
    # Whole names: a short family name alone ("Ek") turns up by chance in ciphertext and hashes.
    names = {f'{h.county.identity(c)["given_name"]} {h.county.identity(c)["family_name"]}' for c in h.county.everyone}
    names |= {n for c in h.county.everyone for n in h.county.guardian_names(c).values()}
    written = logs.getvalue()
    assert "audit_appended" in written  # the service's log was captured meanwhile
    for secret in forbidden | names:
        assert secret not in written, secret
    # The access topic: every event as it goes on the wire.
    on_wire = b"".join(h.publish.codec.encode(e) for e in h.publish.events)
    assert len(h.publish.views) > 100
    for secret in forbidden | names:
        assert secret.encode() not in on_wire, secret
    # The read model's database: every row of every table (and, on SQLite, the file's bytes).
    engine = h.app.state.hub.engine
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as c:
        rows = [repr(tuple(row)) for table in tables.sorted_tables for row in c.execute(select(table))]
    assert any("identity_handles" == t.name for t in tables.sorted_tables) and len(rows) > 50
    dump = "\n".join(rows)
    for secret in forbidden | names:
        assert secret not in dump, secret
    if engine.url.get_backend_name() == "sqlite":
        raw = b"".join(f.read_bytes() for f in Path(engine.url.database).parent.glob("hub.db*"))
        for secret in forbidden | names:
            assert secret.encode() not in raw, secret
