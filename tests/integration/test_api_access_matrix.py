"""Access matrix (DESIGN §9): every role x every endpoint x a child outside the caller's scope
gives 0 unauthorised successes.

The endpoints are read from the app's own routes, so a new endpoint is in the matrix as soon
as it exists -- and a new POST endpoint fails here until it has a valid example body, so it is
tried with input that only access control can stop.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from services.api.auth.tokens import Principal
from services.api.ui.pages import COMMANDS
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

TODAY = dt.date.today().isoformat()
ROLES: dict[str, Principal | None] = {
    "coordinator-bhv": COORDINATOR_BHV, "coordinator-soc": COORDINATOR_SOC, "coordinator-school": COORDINATOR_SCHOOL,
    "coordinator-outside": COORDINATOR_OUTSIDE, "auditor": AUDITOR, "administrator": ADMINISTRATOR, "anonymous": None,
}
# Routes that are not about any child's data, or are the login itself.
PUBLIC = {("GET", "/"), ("GET", "/dev/login"), ("POST", "/dev/login"), ("POST", "/dev/token"),
          ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/init.js"),
          ("POST", "/ui/logout"), ("POST", "/session/logout")}  # one's own session: tests/e2e/test_sessions.py
NEUTRAL = {("GET", "/ui")}  # any logged-in user; no child data
# Required query parameters, so a request fails on access control and not on its shape.
QUERIES = {"/audit/children/{child_id}/as-seen": {"org": BHV, "at": "2026-11-01T12:00:00+00:00"}}
# Emergency access exists to reach a child outside the scope: any coordinator, with a reason.
EMERGENCY = {("POST", "/children/{child_id}/emergency-access"), ("POST", "/emergency-access"),
             ("POST", "/ui/emergency-access"), ("GET", "/ui/emergency-access")}
# Lists and lookups of the caller's own children: never child B, who is in no caller's scope.
OWN_LISTS = {"/children", "/ui/children", "/children/search", "/ui/children/search", "/children/filter",
             "/municipalities/{code}/gaps", "/ui/municipalities/{code}/gaps"}

JSON_BODIES = {
    # An administrator's scope is every child: erasing B is theirs to do (issue 16).
    "/admin/children/{child_id}/erasure": lambda h: {"reason_code": "GDPR_ART17", "justification": "Matrisen."},
    "/admin/users/{subject}/end-sessions": lambda h: {},
    "/session/logout": lambda h: {},
    "/children/{child_id}/plan": lambda h: {"consent_ids": [str(h.county.consent_a)]},
    "/children/{child_id}/meetings": lambda h: {"held_on": TODAY, "participant_orgs": [BHV, SOC], "decisions": "x"},
    "/children/{child_id}/assessments": lambda h: {"area": "home", "rating": 3},
    "/children/{child_id}/actions": lambda h: {"area": "home", "need": "n", "what": "w", "responsible_org": SOC},
    "/children/{child_id}/actions/{action_id}/complete": lambda h: {"completed_on": TODAY},
    "/children/{child_id}/follow-ups": lambda h: {"due_on": TODAY},
    "/children/{child_id}/invitations": lambda h: {
        "starts_at": (h.county.now + dt.timedelta(days=2)).isoformat(), "place": "Rum", "invited_orgs": [SOC],
        "child_invited": True, "guardians_invited": True, "questions": "q"},
    "/children/{child_id}/invitations/{meeting_id}/answer": lambda h: {"answer": "COMING"},
    "/children/{child_id}/participants": lambda h: {"organisation_id": SOC, "role": "CONSULTED"},
    "/children/{child_id}/actions/{action_id}/status": lambda h: {"status": "ONGOING", "changed_on": TODAY},
    "/children/{child_id}/follow-ups/held": lambda h: {"held_on": TODAY, "outcome": "CONTINUED", "summary": "s"},
    "/children/{child_id}/named-person/transfer": lambda h: {"to_org": SOC, "reason_code": "FLYTT"},
    "/children/{child_id}/plan/close": lambda h: {"reason_code": "ANNAT"},
    "/children/{child_id}/consents": lambda h: {
        "grantors": [{"party_id": str(g), "role": "GUARDIAN"} for g in h.county.guardians(h.county.b)],
        "categories": ["HEALTH"], "recipients": [BHV], "valid_from": h.county.now.isoformat(), "obtained": "WRITTEN",
        "valid_to": (h.county.now + dt.timedelta(days=9)).isoformat()},
    "/children/{child_id}/consents/{consent_id}/withdraw": lambda h: {
        "party_id": str(h.county.guardians(h.county.b)[0]), "role": "GUARDIAN"},
    "/children/{child_id}/emergency-access": lambda h: {"reason_code": "AKUT_FARA", "days": 1},
    "/emergency-access": lambda h: {"personnummer": h.county.personnummer(h.county.b), "reason_code": "AKUT_FARA",
                                    "days": 1},
    "/children/search": lambda h: {"personnummer": h.county.personnummer(h.county.b)},
    "/children/filter": lambda h: {"name": "Björ"},
    "/audit/emergency-access/{event_id}/review": lambda h: {"comment": "Granskad: skälet höll."},
    # A report of concern needs no consent: filing one about B is any filing organisation's to do.
    "/reports-of-concern": lambda h: {"child_id": str(h.county.b), "observation": "Oro.", "observed_on": TODAY,
                                      "guardians_informed": True, "reporter_role": "mentor", "reporter_contact": "x"},
    "/reports-of-concern/{report_id}/acknowledgement": lambda h: {},
}
FORM_BODIES = {
    "plan": {"consent_ids": "x"}, "meetings": {"held_on": TODAY, "participant_orgs": BHV, "decisions": "x"},
    "assessments": {"area": "home", "rating": "3"}, "actions": {"area": "home", "need": "n", "what": "w",
                                                                 "responsible_org": SOC},
    "follow-ups": {"due_on": TODAY}, "transfer": {"to_org": SOC, "reason_code": "FLYTT"},
    "close": {"reason_code": "ANNAT"}, "complete": {"completed_on": TODAY},
    "consents": {"grantors": "GUARDIAN:x", "obtained": "WRITTEN", "categories": "HEALTH", "recipients": BHV,
                 "valid_from": TODAY, "valid_to": TODAY},
    "withdraw": {"grantor": "GUARDIAN:x"}, "emergency-access": {"reason_code": "AKUT_FARA", "days": "1"},
    "review": {"comment": "Granskad"},
    "invitations": {"starts_on": TODAY, "starts_time": "13:00", "place": "Rum", "invited_orgs": SOC,
                    "child_invited": "ja", "guardians_invited": "ja", "questions": "q"},
    "answer": {"answer": "COMING"}, "participants": {"organisation_id": SOC, "role": "CONSULTED", "active": "ja"},
    "status": {"status": "ONGOING", "changed_on": TODAY},
    "reviews": {"held_on": TODAY, "outcome": "CONTINUED", "summary": "s"},
}
# Posted forms whose values come from the county: child B's personnummer and name.
COUNTY_FORMS = {
    "/ui/emergency-access": lambda h: {"personnummer": h.county.personnummer(h.county.b), "reason_code": "AKUT_FARA",
                                       "days": "1"},
    "/ui/children/search": lambda h: {"personnummer": h.county.personnummer(h.county.b)},
    "/ui/children": lambda h: {"name": "Björ"},  # echoed in its field; "Björn" must not show
}


# The register extract: auditors and administrators (a data subject's request, GDPR art. 15).
EXTRACT = {"/audit/children/{child_id}/extract", "/ui/audit/children/{child_id}/extract",
           "/ui/audit/children/{child_id}/extract.json"}


# The figures of reports of concern (no child): the region's auditors and administrators.
REPORT_FIGURES = {"/reports-of-concern/figures", "/ui/reports-of-concern/figures"}


def required_role(path: str) -> str | None:
    if path.startswith(("/audit", "/ui/audit")):
        return "auditor"
    if path.startswith(("/admin", "/ui/admin")):
        return "administrator"
    return "coordinator"


def _flat(routes: list, prefix: str = "") -> Iterator[APIRoute]:  # type: ignore[type-arg]
    """Every APIRoute; FastAPI >= 0.13x keeps included routers as branches (``original_router``)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route if not prefix else _prefixed(route, prefix)
        elif hasattr(route, "original_router"):
            yield from _flat(route.original_router.routes, prefix + route.include_context.prefix)


def _prefixed(route: APIRoute, prefix: str) -> APIRoute:
    """A route of a router included inside another (``pages`` includes ``finding``), by its full path."""
    return SimpleNamespace(path=prefix + route.path, methods=route.methods)  # type: ignore[return-value]


def endpoints(h: Harness) -> Iterator[tuple[str, str, str]]:
    """(method, route path, concrete URL), about child B -- in none of the test callers' scope."""
    fill = {"child_id": str(h.county.b), "action_id": str(h.county.action_a), "consent_id": str(h.county.consent_a),
            "code": "0780", "event_id": str(uuid.uuid5(h.county.b, "an emergency access")),
            "subject": "someone-who-left", "report_id": str(uuid.uuid5(h.county.b, "a report of concern")),
            "meeting_id": str(uuid.uuid5(h.county.b, "a kallelse"))}
    for route in _flat(h.app.routes):
        for method in sorted(route.methods - {"HEAD"}):
            slugs = list(COMMANDS) if "{slug}" in route.path else [None]
            for slug in slugs:
                url = route.path.format(**fill, slug=slug) if "{" in route.path else route.path
                yield method, route.path, url


def _call(client: TestClient, h: Harness, method: str, path: str, url: str, who: Principal | None):  # type: ignore[no-untyped-def]
    headers = {} if who is None else {"Authorization": f"Bearer {h.token(who)}"}
    if path.startswith("/ui"):
        client.cookies.clear()
        if who is not None:
            client.cookies.set("kronobarn_token", h.token(who))
        headers = {}
    if method == "GET":
        return client.get(url, params=QUERIES.get(path), headers=headers, follow_redirects=False)
    if path.startswith("/ui"):
        slug = url.rstrip("/").split("/")[-1]
        data = COUNTY_FORMS[path](h) if path in COUNTY_FORMS else FORM_BODIES.get(slug, {})
        return client.post(url, data=data, headers=headers, follow_redirects=False)
    body = JSON_BODIES[path](h) if path in JSON_BODIES else {}
    return client.post(url, json=body, headers=headers, follow_redirects=False)


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return harness(tmp_path_factory.mktemp("matrix"))


def test_every_post_endpoint_has_an_example_body(h: Harness) -> None:
    posts = {path for method, path, _ in endpoints(h) if method == "POST" and not path.startswith(("/ui", "/dev"))}
    assert posts <= JSON_BODIES.keys(), posts - JSON_BODIES.keys()


def test_the_matrix_covers_every_route(h: Harness) -> None:
    routes = {(m, p) for m, p, _ in endpoints(h)}
    assert len(routes) >= 40  # JSON API, pages, dev login
    assert any(p.startswith("/ui/children/{child_id}") for _, p in routes)


@pytest.mark.parametrize("role", list(ROLES))
def test_no_caller_gets_a_success_for_a_child_outside_their_scope(h: Harness, role: str) -> None:
    client, who = Browser(h.app), ROLES[role]
    kind = "anonymous" if who is None else str(who.role)
    unauthorised = []
    for method, path, url in endpoints(h):
        if (method, path) in PUBLIC:
            continue
        before = len(h.publish.events)
        r = _call(client, h, method, path, url, who)
        ok = r.status_code < 400
        if who is None:
            login = r.status_code == 303 and r.headers.get("location") == "/dev/login"
            if ok and not login:
                unauthorised.append((method, url, r.status_code))
            continue
        if (method, path) in NEUTRAL:
            assert str(h.county.b) not in r.text
            continue
        if kind == "coordinator" and (method, path) in EMERGENCY:
            continue  # by design; see test_api.py for what it opens
        needed = required_role(path)
        if path in EXTRACT | REPORT_FIGURES and kind in ("auditor", "administrator"):
            assert r.status_code < 500, (method, url, r.status_code)
            continue
        if needed != kind:
            if r.status_code != 403:
                unauthorised.append((method, url, r.status_code))
        elif "{child_id}" in path and needed == "coordinator":
            if ok:
                unauthorised.append((method, url, r.status_code))
            assert len(h.publish.events) == before, (method, url)  # nothing read, nothing written
        else:  # lists, and the auditors' views (their scope is every child)
            assert r.status_code < 500, (method, url, r.status_code)
            if path in OWN_LISTS:
                assert str(h.county.b) not in r.text + r.headers.get("location", ""), (method, url)
                assert "Björn" not in r.text and h.county.personnummer(h.county.b) not in r.text, (method, url)
    assert unauthorised == []


def test_role_mismatch_and_scope_answers_leak_nothing(h: Harness) -> None:
    client = TestClient(h.app)
    outside = client.get(f"/children/{h.county.b}", headers={"Authorization": f"Bearer {h.token(COORDINATOR_BHV)}"})
    missing = client.get(f"/children/{uuid.uuid4()}", headers={"Authorization": f"Bearer {h.token(COORDINATOR_BHV)}"})
    assert outside.status_code == missing.status_code == 404 and outside.json() == missing.json()
    audit = client.get(f"/children/{h.county.a}", headers={"Authorization": f"Bearer {h.token(AUDITOR)}"})
    assert audit.status_code == 403 and audit.json() == {"detail": "Din roll har inte behörighet till detta.",
                                                         "reasons": []}


def test_emergency_access_is_the_one_way_in_and_it_needs_a_coordinator(tmp_path: Path) -> None:
    h = harness(tmp_path)
    client = TestClient(h.app)
    body = JSON_BODIES["/children/{child_id}/emergency-access"](h)
    for who, status in ((COORDINATOR_OUTSIDE, 202), (AUDITOR, 403), (ADMINISTRATOR, 403)):
        r = client.post(f"/children/{h.county.b}/emergency-access", json=body,
                        headers={"Authorization": f"Bearer {h.token(who)}"})
        assert r.status_code == status


def test_the_emergency_forms_answer_the_same_whether_or_not_the_child_exists(tmp_path: Path) -> None:
    """Issue 17, finding 6: a child outside one's scope and an id or number nobody has get the
    same answer from every way into an emergency access (status, body, where it leads)."""
    h = harness(tmp_path)
    api, page = TestClient(h.app), Browser(h.app)
    headers = {"Authorization": f"Bearer {h.token(COORDINATOR_OUTSIDE)}"}
    page.cookies.set("kronobarn_token", h.token(COORDINATOR_OUTSIDE))
    reason = {"reason_code": "AKUT_FARA", "days": 1}

    def answers(child: uuid.UUID, pnr: str) -> list[tuple[int, str, str]]:
        got = [api.post(f"/children/{child}/emergency-access", json=reason, headers=headers),
               api.post("/emergency-access", json={**reason, "personnummer": pnr}, headers=headers),
               page.post("/ui/emergency-access", data={**reason, "days": "1", "personnummer": pnr},
                         follow_redirects=False)]
        return [(r.status_code, r.text, r.headers.get("location", "")) for r in got]

    known = answers(h.county.b, h.county.personnummer(h.county.b))
    unknown = answers(uuid.uuid4(), "19121212-1212")  # a valid number nobody in the county has
    assert [status for status, _, _ in known] == [202, 202, 303]
    assert known == unknown
