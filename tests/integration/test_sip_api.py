"""The plan as a SIP through the web service (issue 20): each command's event shows in the plan
view once applied; the issue's bad inputs are 4xx with their reason and write nothing; an
action's lifecycle refuses what it must; another organisation's SIP text shows only while a
consent lists the viewer; and the pages' forms post the same commands.

``Applying`` stands in for the projectors: what a command publishes is in the read model when
the request returns. Child A's plan (tests/support/api.py): BHV named person, SOC lead, a
consent naming BHV, SOC and a school outside the directory; one action agreed (``action_a``), one follow-up (``f1``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.events import Event
from schemas.topics import topic_for
from services.api.auth.tokens import Principal, Role
from tests.support.api import BHV, COORDINATOR_BHV, COORDINATOR_SOC, KAA, SOC, Harness, harness
from tests.support.browser import Browser

TODAY = dt.date.today()
COORDINATOR_KAA = Principal("test-kaa", Role.COORDINATOR, KAA, "Samordnare KAA Växjö")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    made = harness(tmp_path_factory.mktemp("sip"), applying=True)
    yield made
    made.app.state.hub.engine.dispose()


@pytest.fixture(scope="module")
def client(h: Harness) -> Browser:
    return Browser(h.app)


def _plan_events(h: Harness) -> list[Event]:
    return [e for e in h.publish.events if topic_for(e).name == "plan"]


def _view(h: Harness, client: Browser, who: Any = COORDINATOR_BHV) -> dict[str, Any]:
    r = client.get(f"/children/{h.county.a}", headers=h.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def _post(h: Harness, client: Browser, path: str, body: dict[str, Any], who: Any = COORDINATOR_BHV) -> Any:
    return client.post(f"/children/{h.county.a}/{path}", json=body, headers=h.headers(who))


def _invitation(invited: list[str]) -> dict[str, Any]:
    return {"starts_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat(), "place": "Rum 3",
            "invited_orgs": invited, "invited_people": "Mentor", "child_invited": False, "guardians_invited": True,
            "not_invited_why": "Barnet är fem år", "questions": "Hur sover barnet?"}


def _actions(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["action_id"]: a for area in view["areas"] for a in area["actions"]}


def test_each_sip_command_shows_in_the_plan_view(h: Harness, client: Browser) -> None:
    # A consent names KAA too; KAA is not in the plan yet, so it cannot open the child.
    start = dt.datetime.now(dt.UTC)  # in force at once (within the registry's clock skew)
    r = _post(h, client, "consents", {
        "grantors": [{"party_id": str(g), "role": "GUARDIAN"} for g in h.county.guardians(h.county.a)],
        "obtained": "WRITTEN", "categories": ["HEALTH"], "recipients": [KAA], "valid_from": start.isoformat(),
        "valid_to": (start + dt.timedelta(days=30)).isoformat()})
    assert r.status_code == 202, r.text
    assert client.get(f"/children/{h.county.a}", headers=h.headers(COORDINATOR_KAA)).status_code == 404
    r = _post(h, client, "invitations", _invitation([SOC, KAA]))
    assert r.status_code == 202, r.text
    meeting = r.json()["id"]
    [kallelse] = _view(h, client)["sip"]["invitations"]
    assert (kallelse["meeting_id"], kallelse["place"], kallelse["not_invited_why"]) == (
        meeting, "Rum 3", "Barnet är fem år")
    assert kallelse["child_invited"] is False and kallelse["held"] is False
    assert sorted((a["invitee"]["id"], a["answer"]) for a in kallelse["answers"]) == [(KAA, None), (SOC, None)]

    # KAA, invited, is a participant named by a consent: it may answer.
    r = _post(h, client, f"invitations/{meeting}/answer", {"answer": "SENDS_SOMEONE", "sends": "Specialpedagogen"},
              COORDINATOR_KAA)
    assert r.status_code == 202, r.text
    answers = {a["invitee"]["id"]: a for a in _view(h, client, COORDINATOR_KAA)["sip"]["invitations"][0]["answers"]}
    assert (answers[KAA]["answer"], answers[KAA]["sends"]) == ("SENDS_SOMEONE", "Specialpedagogen")

    r = _post(h, client, "meetings", {"held_on": TODAY.isoformat(), "participant_orgs": [BHV, KAA],
                                      "decisions": "Läxhjälp", "meeting_id": meeting, "child_took_part": False,
                                      "guardians_took_part": True, "child_voice": "Jag vill spela fotboll",
                                      "others_present": "Mormor"})
    assert r.status_code == 202 and r.json()["id"] == meeting, r.text
    view = _view(h, client)
    held = next(m for m in view["meetings"] if m["meeting_id"] == meeting)
    assert (held["child_took_part"], held["guardians_took_part"], held["child_voice"], held["others_present"]) == (
        False, True, "Jag vill spela fotboll", "Mormor")
    assert view["sip"]["invitations"][0]["held"] is True

    r = _post(h, client, "participants", {"organisation_id": KAA, "role": "RESPONSIBLE",
                                          "responsibilities": "Anpassningar i klassen", "contact": "0470-100"})
    assert r.status_code == 202, r.text
    [kaa] = _view(h, client)["sip"]["participants"]
    assert (kaa["organisation"]["id"], kaa["role"], kaa["responsibilities"], kaa["active"]) == (
        KAA, "RESPONSIBLE", "Anpassningar i klassen", True)

    r = _post(h, client, "actions", {"area": "learning", "need": "Läxor", "what": "Läxhjälp", "responsible_org": KAA,
                                     "start_on": TODAY.isoformat(), "due_on": (TODAY + dt.timedelta(days=30)).isoformat(),
                                     "by_others": True, "performer": "Fotbollsklubben",
                                     "responsible_person": "Mentor Eva"})
    assert r.status_code == 202, r.text
    action = r.json()["id"]
    agreed = _actions(_view(h, client))[action]
    assert (agreed["start_on"], agreed["by_others"], agreed["performer"], agreed["responsible_person"]) == (
        TODAY.isoformat(), True, "Fotbollsklubben", "Mentor Eva")

    r = _post(h, client, f"actions/{action}/status", {"status": "ONGOING", "changed_on": TODAY.isoformat()})
    assert r.status_code == 202, r.text
    ongoing = _actions(_view(h, client))[action]
    assert (ongoing["status"], ongoing["status_label"], ongoing["status_on"]) == ("ongoing", "pågår", TODAY.isoformat())

    f1 = str(uuid.uuid5(h.county.a, "f1"))
    r = _post(h, client, "follow-ups/held", {
        "follow_up_id": f1, "held_on": TODAY.isoformat(), "outcome": "REVISED", "summary": "Planen ses över",
        "evaluations": [{"action_id": action, "effect": "PARTLY", "evaluation": "Går bättre",
                         "child_words": "Roligare nu"}]})
    assert r.status_code == 202 and r.json()["id"] == f1, r.text
    view = _view(h, client)
    assert view["sip"]["revision"] == 2
    assert [(x["follow_up_id"], x["outcome"], x["summary"]) for x in view["sip"]["reviews"]] == [
        (f1, "REVISED", "Planen ses över")]
    [evaluation] = _actions(view)[action]["evaluations"]
    assert (evaluation["effect"], evaluation["evaluation"], evaluation["child_words"], evaluation["guardians_words"]) \
        == ("PARTLY", "Går bättre", "Roligare nu", None)
    assert view["plan"]["status"] == "open"


def test_the_issues_bad_inputs_are_refused_with_their_reason_and_write_nothing(h: Harness, client: Browser) -> None:
    kallelse = _post(h, client, "invitations", _invitation([SOC])).json()["id"]
    before, view = len(_plan_events(h)), _view(h, client)
    refusals = [
        ("actions", {"area": "home", "need": "n", "what": "w"}, "responsible_org"),
        ("actions", {"area": "home", "need": "n", "what": "w", "responsible_org": SOC,
                     "start_on": (TODAY + dt.timedelta(days=9)).isoformat(),
                     "due_on": (TODAY + dt.timedelta(days=3)).isoformat()}, "before its start"),
        (f"invitations/{kallelse}/answer", {"answer": "COMING"}, f"organisation {BHV!r} was not sent this kallelse"),
        ("follow-ups/held", {"held_on": TODAY.isoformat(), "outcome": "CLOSED", "summary": "Klart",
                             "evaluations": [{"action_id": str(uuid.UUID(int=77)), "effect": "HELPED",
                                              "evaluation": "Bra"}]},
         f"action {uuid.UUID(int=77)} is not an action of this plan"),
    ]
    for path, body, reason in refusals:
        r = _post(h, client, path, body)
        assert r.status_code == 422, (path, r.text)
        assert any(reason in x for x in r.json()["reasons"]), (path, r.json())
    assert len(_plan_events(h)) == before  # nothing published: the plan closes only with a valid follow-up
    after = _view(h, client)
    assert (after["plan"], after["sip"], after["areas"]) == (view["plan"], view["sip"], view["areas"])


def test_unknown_items_are_404_and_write_nothing(h: Harness, client: Browser) -> None:
    before, other = len(_plan_events(h)), str(uuid.uuid4())
    assert _post(h, client, f"invitations/{other}/answer", {"answer": "COMING"}, COORDINATOR_SOC).status_code == 404
    assert _post(h, client, f"actions/{other}/status", {"status": "DONE",
                                                        "changed_on": TODAY.isoformat()}).status_code == 404
    assert _post(h, client, "follow-ups/held", {"follow_up_id": other, "held_on": TODAY.isoformat(),
                                                "outcome": "CONTINUED", "summary": "x"}).status_code == 404
    assert _post(h, client, "meetings", {"held_on": TODAY.isoformat(), "participant_orgs": [BHV], "decisions": "x",
                                         "meeting_id": other}).status_code == 404
    assert len(_plan_events(h)) == before


def test_the_lifecycle_refuses_what_is_done_cancelled_or_repeated(h: Harness, client: Browser) -> None:
    new = {"area": "care", "need": "n", "what": "w", "responsible_org": SOC}
    first, second = (_post(h, client, "actions", new).json()["id"] for _ in range(2))
    day = TODAY.isoformat()

    def status(action: str, body: dict[str, Any]) -> Any:
        return _post(h, client, f"actions/{action}/status", {"changed_on": day, **body})

    r = status(first, {"status": "CANCELLED"})
    assert r.status_code == 422 and r.json()["reasons"] == ["an action is cancelled with a reason"]
    assert status(first, {"status": "PLANNED"}).status_code == 422  # the same status again
    assert status(first, {"status": "CANCELLED", "reason": "Familjen flyttade"}).status_code == 202
    before = len(_plan_events(h))
    for body in ({"status": "ONGOING"}, {"status": "DONE"}, {"status": "CANCELLED", "reason": "igen"}):
        r = status(first, body)
        assert r.status_code == 422 and "takes no further status" in r.json()["reasons"][0], r.text
    r = _post(h, client, f"actions/{first}/complete", {"completed_on": day})
    assert r.status_code == 422 and "takes no further status" in r.json()["reasons"][0]
    assert status(second, {"status": "ONGOING"}).status_code == 202
    r = status(second, {"status": "PLANNED"})
    assert r.status_code == 422 and "cannot go back" in r.json()["reasons"][0]
    assert status(second, {"status": "DONE"}).status_code == 202
    assert status(second, {"status": "ONGOING"}).status_code == 422
    assert len(_plan_events(h)) == before + 2
    actions = _actions(_view(h, client))
    assert (actions[first]["status"], actions[first]["status_reason"]) == ("cancelled", "Familjen flyttade")
    assert actions[second]["status"] == "completed"


def test_the_forms_post_the_sip_commands(h: Harness, client: Browser) -> None:
    a = h.county.a
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    for path in ("invitations/new", "participants/new", "reviews/new", "meetings/new", "actions/new",
                 f"actions/{h.county.action_a}/status"):
        r = client.get(f"/ui/children/{a}/{path}")
        assert r.status_code == 200, (path, r.text)
    review = client.get(f"/ui/children/{a}/reviews/new").text
    assert f'name="eval-{h.county.action_a}-effect"' in review
    r = client.post(f"/ui/children/{a}/invitations", follow_redirects=False, data={
        "starts_on": (TODAY + dt.timedelta(days=5)).isoformat(), "starts_time": "13:30", "place": "Rum 9",
        "invited_orgs": [SOC], "child_invited": "ja", "questions": "Skolan"})
    assert r.status_code == 422 and "Ange varför barnet eller vårdnadshavarna inte kallas".lower() in r.text.lower()
    r = client.post(f"/ui/children/{a}/invitations", follow_redirects=False, data={
        "starts_on": (TODAY + dt.timedelta(days=5)).isoformat(), "starts_time": "13:30", "place": "Rum 9",
        "invited_orgs": [SOC], "child_invited": "ja", "guardians_invited": "ja", "questions": "Skolan"})
    assert r.status_code == 303 and r.headers["location"].endswith("?klart=invitation"), r.text
    called = next(i for i in _view(h, client)["sip"]["invitations"] if i["place"] == "Rum 9")
    assert called["starts_at"].startswith((TODAY + dt.timedelta(days=5)).isoformat())
    r = client.post(f"/ui/children/{a}/reviews", follow_redirects=False, data={
        "held_on": TODAY.isoformat(), "outcome": "CONTINUED", "summary": "Vi fortsätter",
        f"eval-{h.county.action_a}-effect": "TOO_EARLY", f"eval-{h.county.action_a}-evaluation": "Nyss börjat",
        f"eval-{h.county.action_a}-guardians_words": "Vi väntar"})
    assert r.status_code == 303, r.text
    [evaluation] = _actions(_view(h, client))[str(h.county.action_a)]["evaluations"]
    assert (evaluation["effect"], evaluation["guardians_words"]) == ("TOO_EARLY", "Vi väntar")
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_SOC))
    r = client.post(f"/ui/children/{a}/invitations/{called['meeting_id']}/answer", follow_redirects=False,
                    data={"answer": "NOT_COMING", "comment": "Semester"})
    assert r.status_code == 303 and r.headers["location"].endswith("?klart=answer"), r.text
    client.cookies.clear()


def test_sip_text_by_one_organisation_shows_to_another_only_while_a_consent_lists_it(tmp_path: Path) -> None:
    h = harness(tmp_path, applying=True)
    client, a = Browser(h.app), h.county.a
    try:
        assert _post(h, client, "invitations", _invitation([SOC])).status_code == 202
        assert _post(h, client, "participants", {"organisation_id": KAA, "role": "SUPPORTING",
                                                 "responsibilities": "Stöd i klassen"}).status_code == 202
        assert _post(h, client, "follow-ups/held", {
            "held_on": TODAY.isoformat(), "outcome": "CONTINUED", "summary": "Lugnt",
            "evaluations": [{"action_id": str(h.county.action_a), "effect": "HELPED", "evaluation": "Sover bättre",
                             "child_words": "Jag är pigg"}]}).status_code == 202

        def texts(who: Any) -> tuple[Any, ...]:
            sip = _view(h, client, who)["sip"]
            [evaluation] = _actions(_view(h, client, who))[str(h.county.action_a)]["evaluations"]
            return (sip["invitations"][0]["place"], sip["invitations"][0]["questions"],
                    sip["participants"][0]["responsibilities"], sip["reviews"][0]["summary"],
                    evaluation["evaluation"], evaluation["child_words"])

        written = ("Rum 3", "Hur sover barnet?", "Stöd i klassen", "Lugnt", "Sover bättre", "Jag är pigg")
        assert texts(COORDINATOR_SOC) == written  # the consent lists SOC
        h.world.withdraw(a, h.county.consent_a, h.county.now)  # the consent ends: no consent lists SOC
        assert texts(COORDINATOR_SOC) == (None,) * 6  # the lead still opens the plan, not BHV's text
        assert texts(COORDINATOR_BHV) == written  # its own text, always
    finally:
        h.app.state.hub.engine.dispose()
