"""Access-log coverage: the ``ChildDataViewed`` events published equal the reads made, 100%.

Every request below is a read of child data through the JSON API or a page -- the plan, the
lists, forms that show the plan, the FHIR export, the auditors' views, lookups by personnummer
and by name -- and each must publish exactly one access event per child it showed, naming who,
role, organisation, purpose and parts. A lookup that shows no child is logged too (against the
nil id, or the child outside the caller's scope). Refused reads and commands publish none.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from schemas.events import ChildDataViewed
from services.api.auth.tokens import Principal
from tests.support.api import AUDITOR, BHV, COORDINATOR_BHV, COORDINATOR_OUTSIDE, COORDINATOR_SOC, harness
from tests.support.browser import Browser


def test_every_read_publishes_exactly_one_access_event_per_child_shown(tmp_path: Path) -> None:
    h = harness(tmp_path)
    client = Browser(h.app)
    a, c, d = h.county.a, h.county.c, h.county.d
    at = h.county.now.isoformat()
    # (who, JSON or page path, the children the answer shows, purpose, a part it must name)
    reads: list[tuple[Principal, str, list[uuid.UUID], str, str]] = [
        (COORDINATOR_BHV, f"/children/{a}", [a], "care-planning", "facts"),
        (COORDINATOR_SOC, f"/children/{a}", [a], "care-planning", "facts"),
        (COORDINATOR_BHV, "/children", [a], "care-planning", "summary"),
        (COORDINATOR_BHV, f"/children/{a}/plan.fhir", [a], "export", "plan"),
        (COORDINATOR_BHV, "/municipalities/0780/gaps", [c], "care-planning", "gaps"),
        (COORDINATOR_BHV, f"/ui/children/{a}", [a], "care-planning", "facts"),
        (COORDINATOR_BHV, "/ui/children", [a], "care-planning", "summary"),
        (COORDINATOR_BHV, f"/ui/children/{a}/meetings/new", [a], "care-planning", "plan"),
        (COORDINATOR_BHV, f"/ui/children/{a}/consents", [a], "care-planning", "consents"),
        (COORDINATOR_BHV, f"/ui/children/{a}/actions/{h.county.action_a}/complete", [a], "care-planning", "plan"),
        (COORDINATOR_BHV, f"/ui/children/{a}/plan.fhir", [a], "export", "plan"),
        (COORDINATOR_BHV, "/ui/municipalities/0780/gaps", [c], "care-planning", "gaps"),
        (AUDITOR, f"/audit/children/{a}/log", [a], "audit", "audit-log"),
        (AUDITOR, f"/audit/children/{d}/history", [d], "audit", "history"),
        (AUDITOR, f"/audit/children/{a}/as-seen?org={BHV}&at={at.replace('+', '%2B')}", [a], "audit", "plan-as-seen"),
        (AUDITOR, f"/ui/audit/children/{a}/log", [a], "audit", "audit-log"),
        (AUDITOR, f"/ui/audit/children/{a}/history", [a], "audit", "history"),
        (AUDITOR, f"/ui/audit/children/{a}/as-seen?org={BHV}&at={at[:16]}", [a], "audit", "plan-as-seen"),
    ]
    expected = 0
    for who, path, children, purpose, part in reads:
        before = len(h.publish.events)
        r = _get(client, h, who, path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        new = h.publish.events[before:]
        assert all(isinstance(e, ChildDataViewed) for e in new), path
        assert [e.child_id for e in new] == children, path
        for e in new:
            assert (e.viewer_id, e.role, e.organisation_id) == (who.subject, str(who.role), who.organisation_id)
            assert e.purpose == purpose and part in e.parts, (path, e.purpose, e.parts)
            assert abs(e.envelope.occurred_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
        expected += len(children)
    # Lookups are posted (a personnummer or a name never goes in a URL); each is logged, hit or miss.
    pnr, nobody = h.county.personnummer(a), uuid.UUID(int=0)
    posts: list[tuple[Principal, str, dict[str, str], list[uuid.UUID], str, str]] = [
        (COORDINATOR_BHV, "/children/search", {"personnummer": pnr}, [a], "search", "identity"),
        (COORDINATOR_BHV, "/children/search", {"personnummer": pnr[:-1] + "x"}, [nobody], "search", "malformed"),
        (COORDINATOR_OUTSIDE, "/children/search", {"personnummer": pnr}, [a], "search", "no-access"),
        (COORDINATOR_BHV, "/children/filter", {"name": "Alva"}, [a], "care-planning", "identity"),
        (COORDINATOR_BHV, "/ui/children/search", {"personnummer": pnr[2:]}, [a], "search", "identity"),
        (COORDINATOR_BHV, "/ui/children", {"name": "Lind"}, [a], "care-planning", "identity"),
    ]
    for who, path, body, children, purpose, part in posts:
        before = len(h.publish.events)
        r = _post(client, h, who, path, body)
        assert r.status_code in (200, 303, 404, 422), (path, r.status_code)
        new = h.publish.events[before:]
        assert [e.child_id for e in new] == children and all(isinstance(e, ChildDataViewed) for e in new), path
        assert all(e.purpose == purpose and part in e.parts for e in new), (path, [(e.purpose, e.parts) for e in new])
        expected += len(children)
    # Refused reads, and pages that show no child data, publish nothing.
    silent = [(COORDINATOR_OUTSIDE, f"/children/{a}"), (COORDINATOR_OUTSIDE, f"/ui/children/{a}"),
              (AUDITOR, f"/children/{a}"), (COORDINATOR_BHV, f"/audit/children/{a}/log"),
              (COORDINATOR_BHV, f"/children/{uuid.uuid4()}"), (COORDINATOR_OUTSIDE, "/ui/emergency-access"),
              (COORDINATOR_OUTSIDE, "/children")]
    for who, path in silent:
        before = len(h.publish.events)
        _get(client, h, who, path)
        assert len(h.publish.events) == before, path
    views = h.publish.views
    assert len(views) == expected == len(h.publish.events)
    # A command is not a read: it publishes its one event and no access event.
    r = client.post(f"/children/{a}/assessments", json={"area": "home", "rating": 3},
                    headers=h.headers(COORDINATOR_BHV))
    assert r.status_code == 202 and len(h.publish.views) == expected and len(h.publish.events) == expected + 1


def _get(client: TestClient, h, who: Principal, path: str):  # type: ignore[no-untyped-def]
    if path.startswith("/ui"):
        client.cookies.set("kronobarn_token", h.token(who))
        try:
            return client.get(path, follow_redirects=False)
        finally:
            client.cookies.clear()
    return client.get(path, headers=h.headers(who), follow_redirects=False)


def _post(client: TestClient, h, who: Principal, path: str, body: dict[str, str]):  # type: ignore[no-untyped-def]
    if path.startswith("/ui"):
        client.cookies.set("kronobarn_token", h.token(who))
        try:
            return client.post(path, data=body, follow_redirects=False)
        finally:
            client.cookies.clear()
    return client.post(path, json=body, headers=h.headers(who), follow_redirects=False)
