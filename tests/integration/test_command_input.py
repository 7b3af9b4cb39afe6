"""Issue 17, findings 3 and 4: every command names only organisations that exist and may take the
role, and takes every value strictly as its type.

The endpoints and their bodies are read from the app (its routes and OpenAPI spec), so a new
command or a new field is swept as soon as it exists -- and a new organisation field fails here
until the reference below says which kinds may take it. The reference is written from DESIGN
§6 and docs/county-directory.md, not imported from the product: any unit takes part in a plan
(participant, lead, responsible organisation, consent recipient); a named person is an MHV,
BHV, förskola, school, upper-secondary school or KAA unit, never social services; facts come
from any unit or from the region itself (health records that name no care unit). The
directory's units are read from its file with tomllib.

Each refusal is a 422 whose reasons name the field, and nothing is published.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import tomllib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from schemas.events import ChildDataViewed
from services.county import SYNTHETIC_COUNTY
from tests.support.api import ADMINISTRATOR, AUDITOR, BHV, COORDINATOR_BHV, SOC, Harness, harness
from tests.support.browser import Browser

DIRECTORY = tomllib.loads(SYNTHETIC_COUNTY.read_text(encoding="utf-8"))
REGION_ID = DIRECTORY["region"]["id"]
KIND_OF = {o["id"]: o["kind"] for o in DIRECTORY["organisations"]} | {REGION_ID: "REGION"}

UNIT = frozenset({"MHV", "BHV", "SOCIAL", "KAA", "PRESCHOOL", "SCHOOL", "UPPER_SECONDARY"})
NAMED_PERSON = UNIT - {"SOCIAL"}
SOURCE = UNIT | {"REGION"}

MEETINGS, ACTIONS = "/children/{child_id}/meetings", "/children/{child_id}/actions"
TRANSFER, CONSENTS = "/children/{child_id}/named-person/transfer", "/children/{child_id}/consents"
# (route, field) -> the kinds that may take it.
ORG_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    (MEETINGS, "participant_orgs"): UNIT,
    (MEETINGS, "lead_org"): UNIT,
    (ACTIONS, "responsible_org"): UNIT,
    ("/children/{child_id}/invitations", "invited_orgs"): UNIT,
    ("/children/{child_id}/participants", "organisation_id"): UNIT,
    (TRANSFER, "to_org"): NAMED_PERSON,
    (CONSENTS, "recipients"): UNIT,
    (CONSENTS, "source_organisations"): SOURCE,
}
LOOKS_LIKE_AN_ORG = re.compile(r"(^|_)orgs?$|organisations?$|organisation_id$|recipients?$|participants?$")

MADE_UP = ["nonexistent-org-42", "2026-13-45", "SE2321000065-BHV9999", "kommun-0780-SOC"]
MALFORMED = ["", " ", "has space", "x" * 65, "kommun-0780-soc\n", "bhv\x00", "\u202ekommun-0780-soc"]

TODAY = dt.date.today()


def _consent_body(h: Harness) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    return {"grantors": [{"party_id": str(g), "role": "GUARDIAN"} for g in h.county.guardians(h.county.a)],
            "obtained": "WRITTEN", "categories": ["HEALTH"], "recipients": [BHV],
            "valid_from": now.isoformat(), "valid_to": (now + dt.timedelta(days=30)).isoformat()}


# A valid body for every JSON command (and lookup), with who sends it: only the value under test
# is wrong in each request below. Child A is BHV's (named person), with an open plan; child E is
# BHV's too, with a consent naming BHV and no plan (``County.unplanned``).
OPEN_PLAN = "/children/{child_id}/plan"
CONSENT_E = uuid.UUID(int=2005, version=4)
BASES: dict[str, tuple[Any, Callable[[Harness], dict[str, Any]]]] = {
    OPEN_PLAN: (COORDINATOR_BHV, lambda h: {"consent_ids": [str(CONSENT_E)]}),
    MEETINGS: (COORDINATOR_BHV, lambda h: {"held_on": TODAY.isoformat(), "participant_orgs": [BHV, SOC],
                                           "decisions": "Beslut"}),
    "/children/{child_id}/assessments": (COORDINATOR_BHV, lambda h: {"area": "home", "rating": 3}),
    ACTIONS: (COORDINATOR_BHV, lambda h: {"area": "home", "need": "n", "what": "w", "responsible_org": SOC}),
    "/children/{child_id}/actions/{action_id}/complete": (COORDINATOR_BHV,
                                                          lambda h: {"completed_on": TODAY.isoformat()}),
    "/children/{child_id}/follow-ups": (COORDINATOR_BHV, lambda h: {
        "due_on": (TODAY + dt.timedelta(days=7)).isoformat()}),
    TRANSFER: (COORDINATOR_BHV, lambda h: {"to_org": "kommun-0780-kaa", "reason_code": "FLYTT"}),
    "/children/{child_id}/plan/close": (COORDINATOR_BHV, lambda h: {"reason_code": "ANNAT"}),
    CONSENTS: (COORDINATOR_BHV, _consent_body),
    "/children/{child_id}/consents/{consent_id}/withdraw": (COORDINATOR_BHV, lambda h: {
        "party_id": str(h.county.guardians(h.county.a)[0]), "role": "GUARDIAN"}),
    "/children/{child_id}/emergency-access": (COORDINATOR_BHV, lambda h: {"reason_code": "AKUT_FARA", "days": 1}),
    "/emergency-access": (COORDINATOR_BHV, lambda h: {"personnummer": h.county.personnummer(h.county.a),
                                                      "reason_code": "AKUT_FARA", "days": 1}),
    "/children/search": (COORDINATOR_BHV, lambda h: {"personnummer": h.county.personnummer(h.county.a)}),
    "/children/filter": (COORDINATOR_BHV, lambda h: {"name": "Alva", "has_plan": True, "limit": 5, "offset": 0}),
    "/audit/emergency-access/{event_id}/review": (AUDITOR, lambda h: {"comment": "Granskad."}),
    "/admin/children/{child_id}/erasure": (ADMINISTRATOR, lambda h: {"reason_code": "GDPR_ART17",
                                                                     "justification": "Begäran."}),
    "/reports-of-concern": (COORDINATOR_BHV, lambda h: {
        "child_id": str(h.county.a), "observation": "Oro.", "observed_on": TODAY.isoformat(),
        "guardians_informed": False, "guardians_not_informed_why": "Skäl.", "reporter_role": "BVC-sjuksköterska",
        "reporter_contact": "0470-1", "acute": True}),
    "/children/{child_id}/invitations": (COORDINATOR_BHV, lambda h: {
        "starts_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat(), "place": "Rum",
        "invited_orgs": [SOC], "child_invited": True, "guardians_invited": True, "questions": "q"}),
    "/children/{child_id}/invitations/{meeting_id}/answer": (COORDINATOR_BHV, lambda h: {"answer": "COMING",
                                                                                          "comment": "c"}),
    "/children/{child_id}/participants": (COORDINATOR_BHV, lambda h: {
        "organisation_id": SOC, "role": "SUPPORTING", "responsibilities": "r", "active": True}),
    "/children/{child_id}/actions/{action_id}/status": (COORDINATOR_BHV, lambda h: {
        "status": "ONGOING", "changed_on": TODAY.isoformat()}),
    "/children/{child_id}/follow-ups/held": (COORDINATOR_BHV, lambda h: {
        "held_on": TODAY.isoformat(), "outcome": "CONTINUED", "summary": "s",
        "evaluations": [{"action_id": str(h.county.action_a), "effect": "HELPED", "evaluation": "e"}]}),
}
# Run for real only where a success changes nothing the other requests rely on.
# A kallelse's answer: the county has none, so a valid answer is a 404 (its coercions are still refused).
NOT_RUN_VALID = {"/admin/children/{child_id}/erasure", "/audit/emergency-access/{event_id}/review",
                 "/children/{child_id}/invitations/{meeting_id}/answer"}

# Values of another JSON type, or of the right type in a form the field's type does not have:
# each one a lax parser would turn into a value (true -> 1, "3" -> 3, 3.0 -> 3, 0 -> 1970-01-01),
SOME_ID = uuid.UUID(int=7)
# and the value in an array where one value is expected (parameter pollution, as a form posts it).
COERCIONS: dict[str, list[Any]] = {
    "integer": [True, False, "3", "1", 3.0, 1.0, [3]],
    "boolean": [1, 0, "true", "yes", "1", [True]],
    "string": [1, 0, True, 3.5, ["x"]],
    "enum": [1, True, ["home"]],
    "date": [0, 86400, "86400", 1.0, f"{TODAY.isoformat()}T00:00:00", "20261130", [TODAY.isoformat()]],
    "date-time": [1_700_000_000, "1700000000", 1.7e9, "0", "2026-11-30T09:00+01:00"],
    "uuid": [SOME_ID.hex, 7, f"{{{SOME_ID}}}", f"urn:uuid:{SOME_ID}", [str(SOME_ID)]],
}


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    made = harness(tmp_path_factory.mktemp("command-input"))
    _, consent_id, events = made.county.unplanned()
    assert consent_id == CONSENT_E
    made.world.apply(events)
    return made


@pytest.fixture(scope="module")
def client(h: Harness) -> TestClient:
    return Browser(h.app)


# -- the app's commands, from its routes and spec --------------------------------------------------------

def _routes(h: Harness) -> Iterator[APIRoute]:
    for route in h.app.routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers as branches
            yield from (r for r in route.original_router.routes if isinstance(r, APIRoute))


def json_commands(h: Harness) -> list[str]:
    """Every JSON POST route that takes a body (not the pages' forms, not dev login)."""
    return sorted({r.path for r in _routes(h) if "POST" in r.methods and r.body_field is not None
                   and not r.path.startswith(("/ui", "/dev"))})


def _url(h: Harness, path: str) -> str:
    child = h.county.c if path.startswith("/admin") else h.county.e if path == OPEN_PLAN else h.county.a
    return path.format(child_id=child, action_id=h.county.action_a, consent_id=h.county.consent_a,
                       event_id=uuid.uuid5(h.county.a, "no such access"), meeting_id=uuid.uuid5(h.county.a, "m1"))


def _schema(h: Harness, path: str) -> dict[str, Any]:
    spec = h.app.openapi()
    ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return _resolve(spec, {"$ref": ref})


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    options = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    return _resolve(spec, options[0]) if len(options) == 1 else schema


def _kind(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "enum"
    if schema.get("type") == "string" and schema.get("format") in ("date", "date-time", "uuid"):
        return schema["format"]
    return schema.get("type", "?")


Where = tuple[str | int, ...]  # a place in a JSON body: keys and indexes


def leaves(h: Harness, path: str, body: dict[str, Any]) -> Iterator[tuple[Where, str]]:
    """(where in the body, kind) of every scalar the body may hold: each property, an array's
    first item, an object in an array by its own properties."""
    spec = h.app.openapi()

    def walk(schema: dict[str, Any], value: Any, at: Where) -> Iterator[tuple[Where, str]]:
        schema = _resolve(spec, schema)
        if schema.get("type") == "object" and "properties" in schema:
            for name, sub in schema["properties"].items():
                yield from walk(sub, (value or {}).get(name), (*at, name))
        elif schema.get("type") == "array":
            yield from walk(schema["items"], (value or [None])[0], (*at, 0))
        else:
            yield at, _kind(schema)

    yield from walk(_schema(h, path), body, ())


def put(body: dict[str, Any], at: tuple[str | int, ...], value: Any, h: Harness, path: str) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``at`` (an array's first item; a missing array or
    object made from the route's valid body, so only ``value`` is wrong)."""
    out = copy.deepcopy(body)
    here: Any = out
    for step, following in zip(at, at[1:], strict=False):
        if isinstance(step, int):
            if not here:
                here.append({} if isinstance(following, str) else None)
        elif here.get(step) is None:
            here[step] = [] if isinstance(following, int) else {}
        here = here[step]
    last = at[-1]
    if isinstance(last, int):
        here[:1] = [value]
    else:
        here[last] = value
    return out


def _post(client: TestClient, h: Harness, path: str, body: dict[str, Any], who: Any = None) -> Any:
    principal = who or BASES[path][0]
    # Each request here must reach validation: the rate limits on lookups by personnummer
    # (finding 9, services.api.limits) are tested on their own, so their buckets start afresh.
    h.app.state._state.pop("rate_buckets", None)
    return client.post(_url(h, path), json=body, headers=h.headers(principal))


def _refused(client: TestClient, h: Harness, path: str, body: dict[str, Any], field: str) -> str | None:
    """Why the request was not refused as it must be (422, a reason naming ``field``, nothing
    published); None when it was."""
    before = len(h.publish.events)
    r = _post(client, h, path, body)
    published = h.publish.events[before:]
    if r.status_code != 422:
        return f"{r.status_code}: {r.text[:300]}"
    if published:
        return f"published {[type(e).__name__ for e in published]}"
    reasons = r.json().get("reasons", [])
    if not any(field in reason for reason in reasons):
        return f"no reason names {field}: {reasons}"
    return None


# -- the sweep is complete ---------------------------------------------------------------------------------

def test_every_json_command_has_a_valid_body_here(h: Harness) -> None:
    commands = json_commands(h)
    assert len(commands) >= 14 and set(commands) <= set(BASES), set(commands) - set(BASES)


def test_every_organisation_field_of_every_command_is_in_the_reference(h: Harness) -> None:
    found = {(path, str(at[0])) for path in json_commands(h) for at, _ in leaves(h, path, BASES[path][1](h))
             if LOOKS_LIKE_AN_ORG.search(str(at[0]))}
    assert found == set(ORG_FIELDS)


def test_every_valid_body_is_accepted(h: Harness, client: TestClient) -> None:
    """The control: what the refusals below change is the only thing wrong with them."""
    for path in json_commands(h):
        if path in NOT_RUN_VALID:
            continue
        r = _post(client, h, path, BASES[path][1](h))
        assert r.status_code in (200, 202), (path, r.status_code, r.text)


# -- finding 3: organisations that exist, of a kind that may take the role ---------------------------------

def _with_org(h: Harness, path: str, field: str, org: str) -> dict[str, Any]:
    body = BASES[path][1](h)
    if field == "lead_org":  # the lead is one of the participants
        return {**body, "participant_orgs": [BHV, org], "lead_org": org}
    return {**body, field: [org] if isinstance(body.get(field, []), list) else org}


@pytest.mark.parametrize(("path", "field"), list(ORG_FIELDS))
def test_a_made_up_or_malformed_organisation_is_refused_naming_the_field(h: Harness, client: TestClient,
                                                                         path: str, field: str) -> None:
    wrong = {org: _refused(client, h, path, _with_org(h, path, field, org), field) for org in MADE_UP + MALFORMED}
    assert {org: why for org, why in wrong.items() if why} == {}


@pytest.mark.parametrize(("path", "field"), list(ORG_FIELDS))
def test_an_organisation_of_the_wrong_kind_is_refused_naming_the_field(h: Harness, client: TestClient,
                                                                       path: str, field: str) -> None:
    accepted = ORG_FIELDS[path, field]
    one_of_each = {kind: org for org, kind in sorted(KIND_OF.items(), reverse=True)}
    others = [org for kind, org in one_of_each.items() if kind not in accepted]
    if accepted == SOURCE:
        assert others == []  # every unit and the region are sources of facts: there is no wrong kind
        return
    assert others  # social services for the named person, the region for the rest
    wrong = {org: _refused(client, h, path, _with_org(h, path, field, org), field) for org in others}
    assert {org: why for org, why in wrong.items() if why} == {}


@pytest.mark.parametrize(("path", "field"), list(ORG_FIELDS))
def test_an_organisation_of_each_kind_that_may_take_the_role_is_accepted(h: Harness, client: TestClient,
                                                                         path: str, field: str) -> None:
    one_of_each = {kind: org for org, kind in sorted(KIND_OF.items())}
    for kind in sorted(ORG_FIELDS[path, field]):
        org = one_of_each[kind]
        before = len(h.publish.events)
        r = _post(client, h, path, _with_org(h, path, field, org))
        assert r.status_code == 202, (kind, org, r.text)
        [event] = h.publish.events[before:]
        named = getattr(event, field)
        assert org == named or org in named, (kind, org, named)


def test_the_named_person_cannot_go_to_the_issues_made_up_ids(h: Harness, client: TestClient) -> None:
    """The two the issue found: a transfer to ``2026-13-45``, a participant ``nonexistent-org-42``."""
    r = _post(client, h, TRANSFER, {"to_org": "2026-13-45", "reason_code": "FLYTT"})
    assert r.status_code == 422
    assert r.json()["reasons"] == ["to_org '2026-13-45' is not an organisation in the county directory"]
    r = _post(client, h, MEETINGS, {"held_on": TODAY.isoformat(), "participant_orgs": [BHV, "nonexistent-org-42"],
                                    "decisions": "x"})
    assert r.status_code == 422
    assert r.json()["reasons"] == ["participant_orgs 'nonexistent-org-42' is not an organisation in the county "
                                   "directory"]


def test_the_pages_say_it_in_swedish_and_publish_nothing(h: Harness, client: TestClient) -> None:
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    before = len(h.publish.events)
    try:
        r = client.post(f"/ui/children/{h.county.a}/transfer", data={"to_org": "kommun-0780-soc",
                                                                     "reason_code": "FLYTT"})
    finally:
        client.cookies.clear()
    assert r.status_code == 422 and _commands(h.publish.events[before:]) == []
    assert "ny barnensbästa-ansvarig &#39;kommun-0780-soc&#39; kan inte vara barnensbästa-ansvarig" in r.text


def _commands(events: list[Any]) -> list[Any]:
    """The events a command published: not the logged read of the form shown again."""
    return [e for e in events if not isinstance(e, ChildDataViewed)]


def test_every_reason_about_organisations_has_its_swedish() -> None:
    from services.api.ui import sv
    from services.commands import organisations

    english = [v for k, v in vars(organisations).items() if k.isupper() and isinstance(v, str) and "{field}" in v]
    assert len(english) == 4 and set(english) <= set(sv.REASONS)


# -- finding 4: no coercion -------------------------------------------------------------------------------

def test_no_command_coerces_a_value_of_another_type(h: Harness, client: TestClient) -> None:
    swept, wrong = 0, []
    for path in json_commands(h):
        base = BASES[path][1](h)
        for at, kind in leaves(h, path, base):
            field = ".".join(str(p) for p in ("body", *at))
            for value in COERCIONS.get(kind, []):
                swept += 1
                why = _refused(client, h, path, put(base, at, value, h, path), field)
                if why:
                    wrong.append((path, field, repr(value), why))
    assert swept > 150 and wrong == []


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/children/{child_id}/assessments", {"area": "home", "rating": True}, "rating"),
    ("/children/{child_id}/assessments", {"area": "home", "rating": "3"}, "rating"),
    ("/children/{child_id}/emergency-access", {"reason_code": "AKUT_FARA", "days": True}, "days"),
])
def test_the_issues_coercions_are_refused_with_a_clear_message(h: Harness, client: TestClient, path: str,
                                                                body: dict[str, Any], field: str) -> None:
    """``"rating": true`` was stored as 1, ``"3"`` became 3, ``"days": true`` gave one day."""
    before = len(h.publish.events)
    r = _post(client, h, path, body)
    assert r.status_code == 422 and h.publish.events[before:] == []
    assert r.json()["reasons"] == [f"body.{field}: Input should be a valid integer"]


def test_the_forms_convert_what_they_post_and_keep_working(h: Harness, client: TestClient) -> None:
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    try:
        before = len(h.publish.events)
        r = client.post(f"/ui/children/{h.county.a}/assessments", data={"area": "home", "rating": "4"},
                        follow_redirects=False)
        ratings = [e.rating for e in h.publish.events[before:]]  # type: ignore[attr-defined]
        assert r.status_code == 303 and ratings == [4]
        for rating in ("4.0", ["4", "5"], "٤"):  # a decimal, a field posted twice, an Arabic-Indic four
            before = len(h.publish.events)
            r = client.post(f"/ui/children/{h.county.a}/assessments", data={"area": "home", "rating": rating})
            assert r.status_code == 422 and "Bedömning: ogiltigt värde" in r.text, rating
            assert _commands(h.publish.events[before:]) == []
    finally:
        client.cookies.clear()


# -- the pages: every organisation field is a picker of the directory's units ---------------------------

FORM_PAGES = ["plan/new", "meetings/new", "assessments/new", "actions/new", "follow-ups/new", "transfer/new",
              "close/new", "consents", "invitations/new", "participants/new", "reviews/new"]
CONTROL = re.compile(r"<(input|select|textarea)\b([^>]*)>", re.S)
OPTION = re.compile(r'<option value="([^"]*)"')


def test_every_organisation_field_of_every_form_is_a_picker_of_the_directory(h: Harness, client: TestClient) -> None:
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    try:
        pages = {slug: client.get(f"/ui/children/{h.county.e if slug == 'plan/new' else h.county.a}/{slug}")
                 for slug in FORM_PAGES}
    finally:
        client.cookies.clear()
    found = set()
    for slug, r in pages.items():
        assert r.status_code == 200, slug
        for tag, attrs in CONTROL.findall(r.text):
            name = re.search(r'name="([^"]+)"', attrs)
            if name is None or not LOOKS_LIKE_AN_ORG.search(name[1].removeprefix("other_")):
                continue
            found.add(name[1])
            if tag == "select":
                assert "org-picker" in attrs, (slug, name[1])
                start = r.text.index(f'name="{name[1]}"')
                options = OPTION.findall(r.text[start:r.text.index("</select>", start)])
                assert {o for o in options if o} <= set(KIND_OF), (slug, name[1])  # only the directory's ids
            else:
                assert tag == "input" and 'type="checkbox"' in attrs, (slug, name[1], tag)  # never free text
                assert re.search(r'value="([^"]+)"', attrs)[1] in KIND_OF, (slug, name[1])  # type: ignore[index]
    assert found == {"participant_orgs", "other_participants", "lead_org", "responsible_org", "to_org", "recipients",
                     "other_recipients", "source_organisations", "invited_orgs", "organisation_id"}


ERASURE = "/admin/children/{child_id}/erasure"  # its body (services.api.audit.erasures) is not ours to change


def _undeclared(h: Harness, client: TestClient, paths: list[str]) -> dict[tuple[str, str], str]:
    wrong = {}
    for path in paths:
        for extra in ("by_org", "opened_by_org", "registered_by", "child_id"):
            why = _refused(client, h, path, {**BASES[path][1](h), extra: BHV}, f"body.{extra}")
            if why:
                wrong[path, extra] = why
    return wrong


def test_no_command_takes_a_field_it_does_not_declare(h: Harness, client: TestClient) -> None:
    """Mass assignment (ASVS V5.1.2): who acts, and for which organisation, comes from the token."""
    assert _undeclared(h, client, [p for p in json_commands(h) if p != ERASURE]) == {}


def test_the_erasure_takes_no_field_it_does_not_declare(h: Harness, client: TestClient) -> None:
    assert _undeclared(h, client, [ERASURE]) == {}  # child C's, if it slips
