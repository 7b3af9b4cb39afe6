"""Erasure through the web service (issue 16): who may, what it needs, what it leaves.

The administrators' ``POST /admin/children/{id}/erasure`` against the API harness (a SQLite read
model holding the synthetic county, its publish port folding what it publishes): a refused
request changes nothing -- the key, the plan's text, the log; an accepted one deletes every id's
key, makes the plan's text read erased, and logs who, why and when in the hash-chained audit log,
the justification under the audit key; auditors list erasures, and the listing is logged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text

from projections.audit_store import AuditStore
from projections.plan import ERASED_TEXT
from projections.read_model import actions
from schemas.events import ChildDataErased, ChildDataViewed
from services.api.auth.tokens import Principal
from services.erasure.audit_text import AuditText
from services.sql.keystore import SqlKeyStore, master_key_from
from services.sql.schema import identity_links
from services.worker.audit_key import audit_signing_key_from
from tests.support.api import ADMINISTRATOR, AUDITOR, COORDINATOR_BHV, Harness, harness
from tests.support.browser import Browser

WHY = "Vårdnadshavarna begärde radering; kontrollerat mot ärendet."


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return harness(tmp_path, applying=True)


@pytest.fixture
def client(h: Harness) -> TestClient:
    return Browser(h.app)


def keys(h: Harness) -> SqlKeyStore:
    return SqlKeyStore(h.app.state.hub.engine, master_key_from(h.settings))


def action_text(h: Harness, child: uuid.UUID) -> set[str | None]:
    with h.app.state.hub.engine.connect() as c:
        return set(c.scalars(select(actions.c.what).where(actions.c.child_id == str(child))))


def erase(h: Harness, client: TestClient, child: uuid.UUID, body: dict | None = None,
          who: Principal = ADMINISTRATOR):  # type: ignore[no-untyped-def]
    return client.post(f"/admin/children/{child}/erasure", headers=h.headers(who),
                       json={"reason_code": "GDPR_ART17", "justification": WHY} if body is None else body)


REFUSALS = [
    # (who, body, unknown child?, status): the reason is in the answer
    (COORDINATOR_BHV, None, False, 403),
    (AUDITOR, None, False, 403),
    (ADMINISTRATOR, {"justification": WHY}, False, 422),  # no reason
    (ADMINISTRATOR, {"reason_code": "", "justification": WHY}, False, 422),
    (ADMINISTRATOR, {"reason_code": "BECAUSE", "justification": WHY}, False, 400),  # not a reason the hub knows
    (ADMINISTRATOR, {"reason_code": "GDPR_ART17"}, False, 422),  # no justification
    (ADMINISTRATOR, {"reason_code": "GDPR_ART17", "justification": "   "}, False, 400),
    (ADMINISTRATOR, None, True, 404),  # a child the hub has never held
]


@pytest.mark.parametrize(("who", "body", "unknown", "status"), REFUSALS)
def test_a_refused_erasure_says_why_and_changes_nothing(h: Harness, client: TestClient, who: Principal,
                                                        body: dict | None, unknown: bool, status: int) -> None:
    child = uuid.uuid4() if unknown else h.county.a
    before = action_text(h, h.county.a)
    got = erase(h, client, child, body, who)
    assert got.status_code == status, got.text
    assert got.json()["detail"]
    if status in (400, 404, 422):
        assert got.json()["reasons"], got.json()
    assert keys(h).get(h.county.a) is not None and not keys(h).is_erased(child)
    assert action_text(h, h.county.a) == before and ERASED_TEXT not in before
    assert h.publish.of(ChildDataErased) == []


def test_an_erasure_deletes_the_key_scrubs_the_text_and_is_logged_with_who_and_why(h: Harness,
                                                                                   client: TestClient) -> None:
    a = h.county.a
    got = erase(h, client, a)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["child_ids"] == [str(a)] and body["keys_deleted"] == 1
    assert keys(h).get(a) is None and keys(h).is_erased(a)
    assert action_text(h, a) == {ERASED_TEXT}
    [event] = h.publish.of(ChildDataErased)
    assert (event.child_id, event.administrator_id, event.role, event.organisation_id, event.reason_code) == \
        (a, ADMINISTRATOR.subject, "administrator", ADMINISTRATOR.organisation_id, "GDPR_ART17")
    assert str(event.envelope.event_id) == body["event_id"]
    # The justification is the audit key's, not the child's: it still opens, and only for this entry.
    assert WHY.encode() not in event.justification
    assert AuditText(master_key_from(h.settings)).open(event.envelope.event_id, event.justification) == WHY
    assert AuditText(master_key_from(h.settings)).open(uuid.uuid4(), event.justification) is None
    assert AuditText(bytes(32)).open(event.envelope.event_id, event.justification) is None
    # Other children keep their keys and text.
    assert keys(h).get(h.county.d) is not None

    again = erase(h, client, a)
    assert again.status_code == 409, again.text
    assert len(h.publish.of(ChildDataErased)) == 1


def test_every_id_of_a_merged_child_is_erased_whichever_is_named(h: Harness, client: TestClient) -> None:
    a, merged = h.county.a, uuid.uuid4()
    engine = h.app.state.hub.engine
    keys(h).get_or_create(merged)
    with engine.begin() as c:
        c.execute(insert(identity_links).values(merged_id=str(merged), surviving_id=str(a),
                                                linked_at=dt.datetime.now(dt.UTC)))
    got = erase(h, client, merged)
    assert got.status_code == 200, got.text
    assert got.json()["child_id"] == str(a) and set(got.json()["child_ids"]) == {str(a), str(merged)}
    assert all(keys(h).get(i) is None and keys(h).is_erased(i) for i in (a, merged))


def test_auditors_list_erasures_with_the_justification_and_the_listing_is_logged(h: Harness,
                                                                                 client: TestClient) -> None:
    assert erase(h, client, h.county.a).status_code == 200
    assert client.get("/audit/erasures", headers=h.headers(ADMINISTRATOR)).status_code == 403
    got = client.get("/audit/erasures", headers=h.headers(AUDITOR))
    assert got.status_code == 200, got.text
    [shown] = got.json()["erasures"]
    assert (shown["child_id"], shown["reason_code"], shown["justification"], shown["administrator_id"]) == \
        (str(h.county.a), "GDPR_ART17", WHY, ADMINISTRATOR.subject)
    assert shown["reason"].startswith("Begäran om radering")
    logged = [v for v in h.publish.of(ChildDataViewed) if v.viewer_id == AUDITOR.subject]
    assert [(v.child_id, v.parts) for v in logged] == [(h.county.a, ("erasure-log",))]


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_tampering_with_the_erasure_entry_is_detected(h: Harness, client: TestClient, tamper: str) -> None:
    assert client.get(f"/audit/children/{h.county.d}/log", headers=h.headers(AUDITOR)).status_code == 200
    assert erase(h, client, h.county.a).status_code == 200
    # One entry after it: a deleted last entry is the documented blind spot up to the next checkpoint.
    assert client.get(f"/audit/children/{h.county.d}/log", headers=h.headers(AUDITOR)).status_code == 200
    engine = h.app.state.hub.engine
    audit, public = AuditStore(engine), audit_signing_key_from(h.settings).public_key()
    [entry] = audit.erasures()
    assert audit.verify(public) == [] and audit.stats().last_seq > entry.seq > 1
    statements = {
        "edit": [f"UPDATE audit_log SET purpose = 'RETENTION_ENDED' WHERE seq = {entry.seq}"],
        "delete": [f"DELETE FROM audit_log WHERE seq = {entry.seq}"],
        "reorder": [f"UPDATE audit_log SET seq = -1 WHERE seq = {entry.seq}",
                    f"UPDATE audit_log SET seq = {entry.seq} WHERE seq = {entry.seq + 1}",
                    f"UPDATE audit_log SET seq = {entry.seq + 1} WHERE seq = -1"],
    }[tamper]
    with engine.begin() as c:
        for statement in statements:
            c.execute(text(statement))
    assert audit.verify(public) != []


# -- the pages ------------------------------------------------------------------------------------------


def page_client(h: Harness, who: Principal) -> TestClient:
    c = Browser(h.app)
    c.cookies.set("kronobarn_token", h.token(who))
    return c


def test_the_administrators_form_erases_only_when_confirmed_and_says_why_not(h: Harness) -> None:
    admin, a = page_client(h, ADMINISTRATOR), h.county.a
    form = {"child_id": str(a), "reason_code": "GDPR_ART17", "justification": WHY}
    unconfirmed = admin.post("/ui/admin/erasure", data=form, follow_redirects=False)
    assert unconfirmed.status_code == 422 and "inte kan ångras" in unconfirmed.text and "slutgiltig" in unconfirmed.text
    assert WHY in unconfirmed.text  # what was typed is kept
    bad = admin.post("/ui/admin/erasure", data={**form, "child_id": "barnet", "final": "ja"}, follow_redirects=False)
    assert bad.status_code == 422 and "Ange barnets id" in bad.text
    unknown = admin.post("/ui/admin/erasure", data={**form, "child_id": str(uuid.uuid4()), "final": "ja"},
                         follow_redirects=False)
    assert unknown.status_code == 404 and "Hubben har inget om det barnet." in unknown.text
    assert keys(h).get(a) is not None and h.publish.of(ChildDataErased) == []
    coordinator = page_client(h, COORDINATOR_BHV).post("/ui/admin/erasure", data={**form, "final": "ja"},
                                                       follow_redirects=False)
    assert coordinator.status_code == 403 and keys(h).get(a) is not None

    done = admin.post("/ui/admin/erasure", data={**form, "final": "ja"}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/ui/admin?klart=raderad")
    assert keys(h).get(a) is None and "Barnet är raderat" in admin.get(done.headers["location"]).text
    again = admin.post("/ui/admin/erasure", data={**form, "final": "ja"}, follow_redirects=False)
    assert again.status_code == 409 and "redan raderat" in again.text


def test_the_auditors_see_erasures_in_their_own_list(h: Harness, client: TestClient) -> None:
    assert erase(h, client, h.county.a).status_code == 200
    listed = page_client(h, AUDITOR).get("/ui/audit/erasures")
    assert listed.status_code == 200
    assert "Raderade barn" in listed.text and WHY in listed.text and "Begäran om radering (GDPR art. 17)" in listed.text
    assert f"/ui/audit/children/{h.county.a}/log" in listed.text
    assert page_client(h, COORDINATOR_BHV).get("/ui/audit/erasures").status_code == 403


def test_the_erasure_list_is_narrowed_by_period_organisation_and_reason(h: Harness, client: TestClient) -> None:
    other = Principal("test-admin-2", ADMINISTRATOR.role, "SE2321000065-BHV0780", "Administratör två")
    hub = h.app.state.hub
    done = []  # (child, when, organisation, reason): the test's own record of what it did
    for child, days_ago, who, reason in ((h.county.a, 40, ADMINISTRATOR, "GDPR_ART17"),
                                         (h.county.d, 10, other, "REGISTERED_IN_ERROR"),
                                         (h.county.e, 1, ADMINISTRATOR, "REGISTERED_IN_ERROR")):
        when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
        hub.clock = lambda when=when: when
        assert erase(h, client, child, {"reason_code": reason, "justification": WHY}, who).status_code == 200
        done.append((child, when, who.organisation_id, reason))
    hub.clock = lambda: dt.datetime.now(dt.UTC)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    cases = [({}, lambda d: True),
             ({"since": since.isoformat()}, lambda d: d[1] >= since),
             ({"organisation": other.organisation_id}, lambda d: d[2] == other.organisation_id),
             ({"reason_code": "REGISTERED_IN_ERROR", "organisation": ADMINISTRATOR.organisation_id},
              lambda d: d[3] == "REGISTERED_IN_ERROR" and d[2] == ADMINISTRATOR.organisation_id)]
    for params, keep in cases:
        got = client.get("/audit/erasures", params=params, headers=h.headers(AUDITOR))
        assert got.status_code == 200, got.text
        assert [e["child_id"] for e in got.json()["erasures"]] == [str(d[0]) for d in done if keep(d)], params

    auditor = page_client(h, AUDITOR)
    page = auditor.get("/ui/audit/erasures", params={"syfte": "GDPR_ART17"})
    assert page.status_code == 200 and f"children/{h.county.a}/log" in page.text
    assert f"children/{h.county.d}/log" not in page.text and "(avgränsat)" in page.text
    bad = auditor.get("/ui/audit/erasures", params={"fran": "igår"})
    assert bad.status_code == 422 and "Från-datumet är inte ett datum" in bad.text


def test_an_administrator_finds_the_child_of_a_request_by_personnummer_for_its_extract(h: Harness) -> None:
    admin, a = page_client(h, ADMINISTRATOR), h.county.a
    found = admin.post("/ui/admin/extract", data={"personnummer": h.county.personnummer(a)}, follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, f"/ui/audit/children/{a}/extract")
    assert admin.get(found.headers["location"]).status_code == 200
    nobody = admin.post("/ui/admin/extract", data={"personnummer": "19121212-1212"}, follow_redirects=False)
    assert nobody.status_code == 404 and "Inget barn i registret har det personnumret." in nobody.text
    assert admin.post("/ui/admin/extract", data={"personnummer": "12"}, follow_redirects=False).status_code == 422
    coordinator = page_client(h, COORDINATOR_BHV)
    assert coordinator.post("/ui/admin/extract", data={"personnummer": h.county.personnummer(a)},
                            follow_redirects=False).status_code == 403
    searches = [v for v in h.publish.of(ChildDataViewed) if v.purpose == "search"]
    assert [v.viewer_id for v in searches] == [ADMINISTRATOR.subject] * 3  # hit, miss, malformed; never the number
    assert all(h.county.personnummer(a) not in str(v) for v in searches)
