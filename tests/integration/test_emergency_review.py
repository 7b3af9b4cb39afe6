"""The auditors' review of emergency accesses, through the JSON API and the pages.

In process, the publish port stands in for the audit projector exactly as it decodes: access
events unopened, so a review's comment reaches the log as ciphertext. One test runs the whole
way through a real broker and ``kronobarn worker``: API -> ``access`` -> audit projector ->
hash-chained log -> the list, and ``kronobarn audit verify`` over it, before and after tampering.
Overdue is checked against a reference written here at 14 days exactly and a second either side.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from projections.audit_store import AuditStore
from schemas.codec import Codec
from schemas.events import ChildDataViewed, EmergencyAccessOpened, EmergencyAccessReviewed, Event
from schemas.sealing import Personal, Sealer
from schemas.topics import ACCESS, key_for, topic_for
from services.api.audit.reviews import ALREADY_REVIEWED_SV, OWN_ACCESS_SV, REVIEWED_ERASED_SV, UNKNOWN_ACCESS_SV
from services.api.auth.tokens import Principal, Role
from services.api.ui.reviews import COMMENT_NEEDED
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import SqlKeyStore, master_key_from
from tests.integration.test_pages import _labelled
from tests.support.api import (
    ADMINISTRATOR,
    AUDITOR,
    COORDINATOR_BHV,
    COORDINATOR_OUTSIDE,
    Applying,
    County,
    EmptyHistory,
    Harness,
    ReadModelWorld,
    harness,
)
from tests.support.browser import Browser
from tests.support.gate import KRONOBARN, Workers
from tests.support.kafka import read_all

COMMENT = "Syntetisk granskning: skälet stämmer med journalen."
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)
SIGNING_KEY = base64.b64encode(bytes(range(3, 35))).decode()  # synthetic
OTHER_AUDITOR = Principal("test-auditor-2", Role.AUDITOR, "SE2321000065", "Granskare två")


class LoggingReviews(Applying):
    """``Applying``, and reviews logged as the audit projector logs them: decoded unopened."""

    async def __call__(self, event: Event) -> None:
        if not isinstance(event, EmergencyAccessReviewed):
            await super().__call__(event)
            return
        encoded = self.codec.encode(event)  # seals the comment; raises ChildErased as Kafka's port would
        self.events.append(event)
        unopened = Codec(self.codec.catalogue).decode(encoded)
        await asyncio.to_thread(self.audit.append, [unopened])


def reviewing(tmp_path: Path) -> Harness:
    h = harness(tmp_path, applying=True)
    port = LoggingReviews(h.publish.codec, h.world)
    h.publish = port
    h.app.state.hub.publish = port
    return h


def open_access(h: Harness, client: TestClient, child: uuid.UUID, at: dt.datetime | None = None,
                who: Principal = COORDINATOR_OUTSIDE) -> uuid.UUID:
    """An emergency access opened through the API (at ``at`` on the hub's clock); its event id."""
    post_opening(h, client, child, at, who)
    opening = h.publish.of(EmergencyAccessOpened)[-1]
    assert opening.child_id == child
    return opening.event_id


def post_opening(h: Harness, client: TestClient, child: uuid.UUID, at: dt.datetime | None = None,
                 who: Principal = COORDINATOR_OUTSIDE) -> None:
    if at is not None:
        h.app.state.hub.clock = lambda: at
    r = client.post(f"/children/{child}/emergency-access", headers=h.headers(who),
                    json={"reason_code": "AKUT_FARA", "days": 2})
    assert r.status_code == 202, r.text


def review(h: Harness, client: TestClient, event_id: uuid.UUID, comment: object = COMMENT,
           who: Principal = AUDITOR) -> object:
    return client.post(f"/audit/emergency-access/{event_id}/review", headers=h.headers(who), json={"comment": comment})


def listed(h: Harness, client: TestClient, status: str = "all") -> dict:
    r = client.get("/audit/emergency-access", params={"status": status}, headers=h.headers(AUDITOR))
    assert r.status_code == 200, r.text
    return r.json()


def reference_status(opened: dt.datetime, reviewed: bool, now: dt.datetime) -> str:
    """From the issue: unreviewed and opened more than 14 days (14 x 24 h) ago is overdue."""
    if reviewed:
        return "reviewed"
    return "overdue" if (now - opened).total_seconds() > 14 * 86_400 else "unreviewed"


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return reviewing(tmp_path)


@pytest.fixture
def client(h: Harness) -> TestClient:
    return Browser(h.app)


# -- the review through the JSON API ---------------------------------------------------------------------


def test_an_auditor_reviews_an_emergency_access_and_the_list_shows_the_review(h: Harness, client: TestClient) -> None:
    a = h.county.a
    opened = open_access(h, client, a)
    [before] = listed(h, client)["entries"]
    assert (before["event_id"], before["child_id"], before["viewer_id"], before["purpose"]) == (
        str(opened), str(a), COORDINATOR_OUTSIDE.subject, "AKUT_FARA")
    assert before["status"] == "unreviewed" and before["reviews"] == []
    r = review(h, client, opened, "  " + COMMENT + "\n")
    assert r.status_code == 202, r.text
    [event] = h.publish.of(EmergencyAccessReviewed)
    assert r.json()["event_id"] == str(event.event_id) and r.json()["event_type"] == "EmergencyAccessReviewed"
    assert topic_for(event) is ACCESS and key_for(event) == str(a).encode() and event.child_id == a
    assert (event.emergency_event_id, event.reviewer_id, event.role, event.organisation_id) == (
        opened, AUDITOR.subject, "auditor", AUDITOR.organisation_id)
    assert isinstance(event.envelope.sealed, Personal) and event.envelope.sealed.fields == {"comment": COMMENT}
    assert COMMENT.encode() not in h.publish.codec.encode(event)  # sealed on the wire
    body = listed(h, client)
    [after] = body["entries"]
    assert after["status"] == "reviewed" and (body["unreviewed"], body["overdue"], body["total"]) == (0, 0, 1)
    [shown] = after["reviews"]
    assert (shown["event_id"], shown["reviewer_id"], shown["comment"], shown["comment_state"]) == (
        str(event.event_id), AUDITOR.subject, COMMENT, "opened")
    assert shown["organisation"]["id"] == AUDITOR.organisation_id
    # The list is a logged read of each child it shows, the reviews' comments included.
    last = h.publish.views[-1]
    assert (last.child_id, last.purpose) == (a, "audit")
    assert last.parts == ("emergency-access-log", "emergency-access-reviews")


def test_only_auditors_may_review(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.a)
    for who in (COORDINATOR_OUTSIDE, COORDINATOR_BHV, ADMINISTRATOR):
        assert review(h, client, opened, who=who).status_code == 403, who
    anonymous = client.post(f"/audit/emergency-access/{opened}/review", json={"comment": COMMENT})
    assert anonymous.status_code == 401
    assert h.publish.of(EmergencyAccessReviewed) == []
    assert review(h, client, opened).status_code == 202


def test_an_auditor_never_reviews_their_own_emergency_access(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.a)
    same_person = Principal(COORDINATOR_OUTSIDE.subject, Role.AUDITOR, "SE2321000065")
    r = review(h, client, opened, who=same_person)
    assert r.status_code == 403 and r.json()["detail"] == OWN_ACCESS_SV
    assert h.publish.of(EmergencyAccessReviewed) == []


def test_an_unknown_id_is_404_with_a_message(h: Harness, client: TestClient) -> None:
    open_access(h, client, h.county.a)
    client.get(f"/children/{h.county.a}", headers=h.headers(COORDINATOR_BHV))
    view = h.publish.views[-1]
    for event_id in (uuid.uuid4(), view.event_id):  # nothing, and a view that is no emergency access
        r = review(h, client, event_id)
        assert r.status_code == 404 and r.json()["detail"] == UNKNOWN_ACCESS_SV
        assert r.json()["reasons"] == [f"no emergency access {event_id} in the audit log"]


def test_a_second_review_is_refused_with_409(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.a)
    assert review(h, client, opened).status_code == 202
    again = review(h, client, opened, "Andra gången", who=OTHER_AUDITOR)
    assert again.status_code == 409 and again.json()["detail"] == ALREADY_REVIEWED_SV
    assert len(h.publish.of(EmergencyAccessReviewed)) == 1
    assert [r["comment"] for r in listed(h, client)["entries"][0]["reviews"]] == [COMMENT]


@pytest.mark.parametrize("comment, status", [
    ("", 422), ("   \n\t", 422), (None, 422), (42, 422), ("x" * 2_001, 422), ("bell\x07", 422),
    ("x" * 2_000, 202), ("Ä", 202),
], ids=["empty", "blank", "null", "number", "too-long", "control-character", "longest", "one-letter"])
def test_the_comment_is_required_and_bounded(h: Harness, client: TestClient, comment: object, status: int) -> None:
    opened = open_access(h, client, h.county.a)
    assert review(h, client, opened, comment).status_code == status
    assert len(h.publish.of(EmergencyAccessReviewed)) == (status == 202)


def test_a_body_without_a_comment_or_with_more_is_refused(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.a)
    url, head = f"/audit/emergency-access/{opened}/review", h.headers(AUDITOR)
    assert client.post(url, headers=head, json={}).status_code == 422
    assert client.post(url, headers=head, json={"comment": COMMENT, "reviewer_id": "x"}).status_code == 422
    assert client.post(url, headers=head, params={"force": "1"}, json={"comment": COMMENT}).status_code == 400


# -- overdue and the order of the list --------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-SECOND, dt.timedelta(0), SECOND], ids=["14d-1s", "14d", "14d+1s"])
def test_overdue_is_more_than_fourteen_days_unreviewed(h: Harness, client: TestClient, offset: dt.timedelta) -> None:
    opened_at = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)  # the clocks change on 29 March: elapsed time counts
    opened = open_access(h, client, h.county.a, at=opened_at)
    now = opened_at + 14 * DAY + offset
    h.app.state.hub.clock = lambda: now
    [entry] = listed(h, client)["entries"]
    assert entry["status"] == reference_status(opened_at, False, now)
    assert dt.datetime.fromisoformat(entry["review_due"]) == opened_at + 14 * DAY
    overdue = [e["event_id"] for e in listed(h, client, "overdue")["entries"]]
    assert overdue == ([str(opened)] if offset > dt.timedelta(0) else [])
    assert [e["event_id"] for e in listed(h, client, "unreviewed")["entries"]] == [str(opened)]
    # Reviewed late is reviewed: never overdue again.
    assert review(h, client, opened).status_code == 202
    assert listed(h, client)["entries"][0]["status"] == "reviewed" and listed(h, client, "overdue")["entries"] == []


def test_the_list_sorts_overdue_first_and_filters(h: Harness, client: TestClient) -> None:
    c, now = h.county, dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    opened = {  # child: (opened at, reviewed?)
        c.a: (now - 20 * DAY, False), c.b: (now - 15 * DAY, False), c.c: (now - 3 * DAY, False),
        c.d: (now - 30 * DAY, True),
    }
    ids = {child: open_access(h, client, child, at=at) for child, (at, _) in opened.items()}
    h.app.state.hub.clock = lambda: now
    assert review(h, client, ids[c.d]).status_code == 202
    body = listed(h, client)
    expected = {str(ids[child]): reference_status(at, done, now) for child, (at, done) in opened.items()}
    assert {e["event_id"]: e["status"] for e in body["entries"]} == expected
    assert [e["child_id"] for e in body["entries"]] == [str(c.a), str(c.b), str(c.c), str(c.d)]
    assert (body["total"], body["unreviewed"], body["overdue"]) == (4, 3, 2)
    before = len(h.publish.views)
    assert [e["child_id"] for e in listed(h, client, "overdue")["entries"]] == [str(c.a), str(c.b)]
    assert [v.child_id for v in h.publish.views[before:]] == [c.a, c.b]  # only the children shown are read
    assert [e["child_id"] for e in listed(h, client, "unreviewed")["entries"]] == [str(c.a), str(c.b), str(c.c)]
    assert client.get("/audit/emergency-access", params={"status": "late"},
                      headers=h.headers(AUDITOR)).status_code == 422


# -- erasure: the comment is the child's ---------------------------------------------------------------


def erase(h: Harness, child: uuid.UUID) -> None:
    SqlKeyStore(h.app.state.hub.engine, master_key_from(h.settings)).erase(child, reason_code="test")


def test_a_childs_erasure_erases_the_review_comment(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.c)
    assert review(h, client, opened).status_code == 202
    erase(h, h.county.c)
    [shown] = listed(h, client)["entries"][0]["reviews"]
    assert (shown["comment"], shown["comment_state"]) == (None, "erased")
    page = client.get("/ui/audit/emergency-access", cookies={"kronobarn_token": h.token(AUDITOR)})
    assert "Kommentaren är raderad" in page.text and COMMENT not in page.text


def test_an_erased_childs_access_is_reviewed_without_a_comment(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.c)
    erase(h, h.county.c)
    r = review(h, client, opened)
    assert r.status_code == 202 and r.json()["message"] == REVIEWED_ERASED_SV
    [event] = h.publish.of(EmergencyAccessReviewed)
    assert event.envelope.sealed is None
    [entry] = listed(h, client)["entries"]
    assert entry["status"] == "reviewed" and entry["reviews"][0]["comment_state"] == "none"


# -- the auditors' page ---------------------------------------------------------------------------------


def page_client(h: Harness, who: Principal = AUDITOR) -> TestClient:
    c = Browser(h.app)
    c.cookies.set("kronobarn_token", h.token(who))
    return c


def test_the_page_reviews_with_a_form_and_shows_the_review(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.a)
    auditor = page_client(h)
    page = auditor.get("/ui/audit/emergency-access")
    assert page.status_code == 200 and "Nödöppningar att granska" in page.text and "Ej granskad" in page.text
    action = f'action="/ui/audit/emergency-access/{opened}/review"'
    assert action in page.text and f'id="comment-{opened}"' in page.text
    _labelled(page.text)
    url = f"/ui/audit/emergency-access/{opened}/review"
    assert auditor.post(url, data={"comment": COMMENT}, headers={"Origin": "https://evil.example"}).status_code == 403
    blank = auditor.post(url, data={"comment": "  "})
    assert blank.status_code == 422 and COMMENT_NEEDED in blank.text and action in blank.text
    assert h.publish.of(EmergencyAccessReviewed) == []
    done = auditor.post(url, data={"comment": COMMENT, "visa": "ogranskade"}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/audit/emergency-access?visa=ogranskade&klart=granskad"
    assert auditor.get(done.headers["location"]).text.count(action) == 0  # reviewed: not in the unreviewed list
    after = auditor.get("/ui/audit/emergency-access")
    assert "Granskningen är registrerad" not in after.text  # the notice is the redirect's only
    assert "Granskad " in after.text and COMMENT in after.text and action not in after.text
    again = auditor.post(url, data={"comment": "igen"})
    assert again.status_code == 409 and ALREADY_REVIEWED_SV in again.text
    assert len(h.publish.of(EmergencyAccessReviewed)) == 1
    extract = auditor.get(f"/ui/audit/children/{h.county.a}/log").text  # the review is in the child's log
    assert "Granskning av en nödöppning" in extract and COMMENT not in extract


def test_the_page_marks_overdue_and_filters(h: Harness, client: TestClient) -> None:
    now = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    late = open_access(h, client, h.county.a, at=now - 14 * DAY - SECOND)
    fresh = open_access(h, client, h.county.b, at=now - 14 * DAY)
    h.app.state.hub.clock = lambda: now
    auditor = page_client(h)
    page = auditor.get("/ui/audit/emergency-access").text
    assert page.index(str(late)) < page.index(str(fresh))  # overdue first
    assert page.count("<strong>Försenad</strong>") == 1 and "Skulle ha granskats senast" in page
    assert "Försenade (1)" in page and "Ej granskade (2)" in page
    overdue = auditor.get("/ui/audit/emergency-access?visa=forsenade").text
    assert str(late) in overdue and str(fresh) not in overdue
    assert auditor.get("/ui/audit/emergency-access?visa=sena").status_code == 404


def test_the_page_refuses_others_and_shows_no_form_for_ones_own_access(h: Harness, client: TestClient) -> None:
    opened = open_access(h, client, h.county.a)
    url = f"/ui/audit/emergency-access/{opened}/review"
    coordinator = page_client(h, COORDINATOR_OUTSIDE)
    assert coordinator.post(url, data={"comment": COMMENT}).status_code == 403
    assert coordinator.get("/ui/audit/emergency-access").status_code == 403
    same_person = page_client(h, Principal(COORDINATOR_OUTSIDE.subject, Role.AUDITOR, "SE2321000065"))
    page = same_person.get("/ui/audit/emergency-access").text
    assert f"{opened}/review" not in page and "Din egen nödöppning" in page
    own = same_person.post(url, data={"comment": COMMENT})
    assert own.status_code == 403 and OWN_ACCESS_SV in own.text
    missing = page_client(h).post(f"/ui/audit/emergency-access/{uuid.uuid4()}/review", data={"comment": COMMENT})
    assert missing.status_code == 404 and UNKNOWN_ACCESS_SV in missing.text and "audit log" not in missing.text
    assert h.publish.of(EmergencyAccessReviewed) == []


# -- the whole way: a real broker and ``kronobarn worker`` ------------------------------------------------


def wait_for(done: Callable[[], bool], workers: Workers, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        assert workers.alive(), f"the worker died; see {workers.logs[-1]}"
        time.sleep(0.3)
    raise AssertionError(f"timed out:\n{workers.dump()}")


def verify_cli(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    env |= {"KRONOBARN_DATABASE_URL": url, "KRONOBARN_AUDIT_SIGNING_KEY": SIGNING_KEY}
    return subprocess.run([KRONOBARN, "audit", "verify"], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(600)
def test_a_review_goes_through_the_broker_into_the_hash_chained_log(tmp_path: Path) -> None:
    from services.api.app import create_app

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    store = AuditStore(engine)
    with EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                            kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(settings))
        county = County(dt.datetime.now(dt.UTC), Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings)))))
        ReadModelWorld(engine, county, settings)
        app = create_app(settings, engine=engine)  # no publish port given: it publishes to the broker
        app.state.hub.history = EmptyHistory()
        h = Harness(app, None, county, None, settings)  # type: ignore[arg-type]  # for its tokens
        with Workers(broker.bootstrap, tmp_path, database_url=url) as workers, TestClient(app) as client:
            workers.env |= {"KRONOBARN_AUDIT_SIGNING_KEY": SIGNING_KEY, "KRONOBARN_AUDIT_CHECKPOINT_INTERVAL_S": "1"}
            workers.start(role="read")
            post_opening(h, client, county.a)
            wait_for(lambda: store.emergency_accesses() != [], workers)
            [opening] = store.emergency_accesses()
            opened = opening.event_id
            assert listed(h, client)["entries"][0]["status"] == "unreviewed"
            r = review(h, client, opened)
            assert r.status_code == 202, r.text
            wait_for(lambda: store.reviews_of([opened]) != [], workers)
            [entry] = listed(h, client)["entries"]
            assert entry["status"] == "reviewed"
            assert [(x["reviewer_id"], x["comment"], x["comment_state"]) for x in entry["reviews"]] == [
                (AUDITOR.subject, COMMENT, "opened")]
            assert review(h, client, opened, who=OTHER_AUDITOR).status_code == 409
            wait_for(lambda: store.stats().unsigned == 0, workers, 60)  # the timer signed the review too
        records = asyncio.run(read_all(settings, [ACCESS.name], idle_ms=200))
    raw = [r for r in records if Codec().type_name(r.value) == "EmergencyAccessReviewed"]
    assert len(raw) == 1 and raw[0].key == str(county.a).encode()
    assert COMMENT.encode() not in raw[0].value  # sealed on the topic
    decoded = [Codec().decode_record(r) for r in records]
    assert {type(e) for e in decoded} <= {ChildDataViewed, EmergencyAccessOpened, EmergencyAccessReviewed}

    [review_entry] = store.reviews_of([opened])
    assert COMMENT.encode() not in (review_entry.sealed or b"")  # the log keeps the ciphertext only
    done = verify_cli(url, tmp_path)
    assert done.returncode == 0 and "audit log intact" in done.stdout, done.stdout + done.stderr
    assert review_entry.sealed is not None
    with engine.begin() as connection:  # someone with database access swaps the comment for another
        connection.execute(text("UPDATE audit_log SET sealed = :other WHERE seq = :seq"),
                           {"other": review_entry.sealed[:-1] + b"\x00", "seq": review_entry.seq})
    tampered = verify_cli(url, tmp_path)
    assert tampered.returncode != 0 and "NOT intact" in tampered.stdout
    assert f"entry at seq {review_entry.seq} (event {review_entry.event_id}) does not match its hash" in tampered.stdout
    assert COMMENT not in tampered.stdout + tampered.stderr
    engine.dispose()
