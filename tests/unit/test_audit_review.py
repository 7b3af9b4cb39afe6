"""The auditors' review of emergency accesses, as pure functions: the review as an audit entry in
the hash chain, and overdue / order / filter against a small reference written here from the rule's
text ("unreviewed and older than 14 days is overdue"; "overdue first").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditKind,
    ProblemKind,
    canonical,
    chain,
    chain_hash,
    entry_from_event,
    verify,
)
from projections.audit_review import ReviewFilter, ReviewStatus, emergency_reviews, review_due, shown, status_at
from schemas.events import EmergencyAccessReviewed
from schemas.sealing import ERASED, Personal, SealedBox
from tests.unit.test_audit_chain import CHILD, PUBLIC, T0, emergency, envelope, viewed

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
CIPHERTEXT = b"\x01" + bytes(range(40))  # what the codec leaves in a review's envelope: never opened here


def review(i: int, of: uuid.UUID, sealed: object = SealedBox(CIPHERTEXT)) -> EmergencyAccessReviewed:
    env = dataclasses.replace(envelope(i, "EmergencyAccessReviewed"), sealed=sealed)
    return EmergencyAccessReviewed(envelope=env, emergency_event_id=of, reviewer_id="auditor-1", role="auditor",
                                   organisation_id="SE2321000065")


def opening_at(n: int, opened: dt.datetime, viewer: str = "user-9") -> AuditEntry:
    return AuditEntry(seq=n, event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"opening/{n}"), kind=AuditKind.EMERGENCY,
                      occurred_at=opened, viewer_id=viewer, role="coordinator", organisation_id="org",
                      child_id=CHILD, purpose="AKUT_FARA", expires_at=opened + 7 * DAY)


def review_entry(n: int, of: AuditEntry, at: dt.datetime) -> AuditEntry:
    return AuditEntry(seq=n, event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"review/{n}"), kind=AuditKind.REVIEW,
                      occurred_at=at, viewer_id="auditor-1", role="auditor", organisation_id="SE2321000065",
                      child_id=of.child_id, purpose="review", reviews=of.event_id, sealed=CIPHERTEXT)


# --- the reference, from the rule's text ---------------------------------------------------------------


def reference_status(opened: dt.datetime, reviewed: bool, now: dt.datetime) -> str:
    """Reviewed if any review is logged; else overdue once *more than* 14 x 24 hours have passed."""
    if reviewed:
        return "reviewed"
    elapsed = (now - opened).total_seconds()
    return "overdue" if elapsed > 14 * 24 * 3600 else "unreviewed"


def reference_order(items: list[tuple[dt.datetime, str, int]]) -> list[int]:
    """Overdue (oldest first), then unreviewed (oldest first), then reviewed (newest first); seq breaks ties."""
    groups = {"overdue": [], "unreviewed": [], "reviewed": []}  # type: dict[str, list[tuple[dt.datetime, int]]]
    for opened, status, seq in items:
        groups[status].append((opened, seq))
    ordered = sorted(groups["overdue"]) + sorted(groups["unreviewed"])
    ordered += sorted(groups["reviewed"], key=lambda x: (-x[0].timestamp(), x[1]))
    return [seq for _, seq in ordered]


# --- the review in the chain ---------------------------------------------------------------------------


def test_a_review_becomes_an_entry_naming_the_access_and_keeping_the_comment_sealed() -> None:
    opened = emergency(2)
    entry = entry_from_event(review(3, opened.event_id), seq=9)
    assert entry.kind is AuditKind.REVIEW and entry.seq == 9
    assert entry.reviews == opened.event_id and entry.sealed == CIPHERTEXT
    assert (entry.viewer_id, entry.role, entry.organisation_id, entry.purpose) == (
        "auditor-1", "auditor", "SE2321000065", "review")
    assert entry.child_id == CHILD and entry.expires_at is None and entry.parts == ()


def test_a_review_without_a_comment_is_logged_without_one() -> None:
    entry = entry_from_event(review(3, uuid.uuid4(), sealed=None), seq=1)
    assert entry.sealed is None
    assert json.loads(canonical(entry))["sealed"] is None


@pytest.mark.parametrize("opened", [Personal({"comment": "Syntetisk kommentar"}), ERASED])
def test_a_review_whose_comment_was_opened_never_enters_the_log(opened: object) -> None:
    with pytest.raises(TypeError, match="ciphertext only") as caught:
        entry_from_event(review(3, uuid.uuid4(), sealed=opened), seq=1)
    assert "Syntetisk" not in str(caught.value)


def test_the_review_id_and_the_ciphertext_are_hashed() -> None:
    entry = entry_from_event(review(3, uuid.uuid4()), seq=1)
    document = json.loads(canonical(entry))
    assert document["reviews"] == str(entry.reviews) and document["sealed"] == CIPHERTEXT.hex()
    base = chain_hash(GENESIS_HASH, entry)
    assert chain_hash(GENESIS_HASH, dataclasses.replace(entry, reviews=uuid.uuid4())) != base
    assert chain_hash(GENESIS_HASH, dataclasses.replace(entry, sealed=CIPHERTEXT[:-1] + b"\xff")) != base
    assert chain_hash(GENESIS_HASH, dataclasses.replace(entry, sealed=None)) != base


def test_entries_logged_before_reviews_existed_hash_as_they_did() -> None:
    """Hashes computed with ``canonical`` as it was at commit 581ea20: a log written then still verifies."""
    assert chain_hash(GENESIS_HASH, entry_from_event(viewed(1), seq=1)) == (
        "3d88af12d86ad528c1df3158307f9464d765949a73e26cb34944c8218d32d231")
    assert chain_hash(GENESIS_HASH, entry_from_event(emergency(2), seq=2)) == (
        "b504b705f7df5baba4c5d5bc603c3a4c915e4eab8ea15705483b9f58a4c9d997")
    assert "reviews" not in json.loads(canonical(entry_from_event(viewed(1), seq=1)))


def test_a_review_id_written_into_a_view_breaks_its_hash() -> None:
    entry = entry_from_event(viewed(1), seq=1)
    assert chain_hash(GENESIS_HASH, dataclasses.replace(entry, reviews=uuid.uuid4())) != chain_hash(GENESIS_HASH, entry)
    assert chain_hash(GENESIS_HASH, dataclasses.replace(entry, sealed=b"x")) != chain_hash(GENESIS_HASH, entry)


@pytest.mark.parametrize("edit", [{"sealed": b"\x01forged"}, {"reviews": uuid.UUID(int=7)}, {"viewer_id": "other"}],
                         ids=["comment", "reviewed-access", "reviewer"])
def test_verify_finds_an_edited_review(edit: dict) -> None:
    opened = emergency(1)
    links = chain([entry_from_event(opened, 1), entry_from_event(review(2, opened.event_id), 2),
                   entry_from_event(viewed(3), 3)])
    assert verify(links, [], PUBLIC) == []
    links[1] = dataclasses.replace(links[1], entry=dataclasses.replace(links[1].entry, **edit))
    problems = verify(links, [], PUBLIC)
    assert [(p.kind, p.seq) for p in problems] == [(ProblemKind.ENTRY_ALTERED, 2)]
    assert "forged" not in problems[0].message


# --- overdue: 14 days exactly, to the second -----------------------------------------------------------


@pytest.mark.parametrize("offset, expected", [
    (-SECOND, ReviewStatus.UNREVIEWED), (dt.timedelta(0), ReviewStatus.UNREVIEWED), (SECOND, ReviewStatus.OVERDUE),
])
def test_unreviewed_becomes_overdue_only_after_fourteen_days(offset: dt.timedelta, expected: ReviewStatus) -> None:
    opening = opening_at(1, T0)
    now = T0 + 14 * DAY + offset
    assert status_at(opening, False, now) is expected
    assert status_at(opening, False, now).value == reference_status(T0, False, now)
    assert status_at(opening, True, now) is ReviewStatus.REVIEWED


def test_fourteen_days_are_elapsed_time_across_the_change_to_summer_time() -> None:
    """Opened at 10:00 in Sweden on 20 March 2026; the clocks go forward on 29 March: overdue
    after 11:00 local time on 3 April, 14 x 24 hours later, not at 10:00."""
    opened = dt.datetime(2026, 3, 20, 10, 0, tzinfo=STOCKHOLM)
    opening = opening_at(1, opened.astimezone(dt.UTC))
    local_due = dt.datetime(2026, 4, 3, 11, 0, tzinfo=STOCKHOLM)
    assert review_due(opening) == local_due
    assert status_at(opening, False, local_due) is ReviewStatus.UNREVIEWED
    assert status_at(opening, False, local_due + SECOND) is ReviewStatus.OVERDUE
    assert status_at(opening, False, dt.datetime(2026, 4, 3, 10, 30, tzinfo=STOCKHOLM)) is ReviewStatus.UNREVIEWED


def test_the_status_does_not_depend_on_the_time_zone_of_now() -> None:
    opening = opening_at(1, T0)
    now = (T0 + 14 * DAY + SECOND).astimezone(STOCKHOLM)
    assert status_at(opening, False, now) is ReviewStatus.OVERDUE


# --- the list against the reference --------------------------------------------------------------------

# Openings around the boundary: exactly 14 days, a second either side, and far either side.
OFFSETS = st.sampled_from([-SECOND, dt.timedelta(0), SECOND, -3 * DAY, 2 * DAY, -14 * DAY, 30 * DAY])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(OFFSETS, st.integers(0, 2), st.booleans()), min_size=0, max_size=12),
       st.sampled_from(list(ReviewFilter)))
def test_the_list_matches_the_reference(accesses: list[tuple[dt.timedelta, int, bool]], which: ReviewFilter) -> None:
    now = T0 + 60 * DAY
    openings, reviews, expected = [], [], []
    seq = 0
    for offset, review_count, viewed_between in accesses:
        seq += 1
        opened = now - 14 * DAY + offset  # offset < 0: less than 14 days ago
        opening = opening_at(seq, opened)
        openings.append(opening)
        for _ in range(review_count):
            seq += 1
            reviews.append(review_entry(seq, opening, opened + DAY))
        if viewed_between:  # other entries in the log are no emergency accesses
            seq += 1
            openings.append(dataclasses.replace(opening_at(seq, opened), kind=AuditKind.VIEW, expires_at=None))
        expected.append((opened, reference_status(opened, review_count > 0, now), opening.seq))
    statuses = {seq: status for _, status, seq in expected}
    reference = [(seq, statuses[seq]) for seq in reference_order(expected)]
    listed = emergency_reviews(openings, reviews, now)
    assert [(i.opening.seq, i.status.value) for i in listed] == reference
    by_seq = {o.seq: o.event_id for o in openings}
    for item in listed:
        assert [r.reviews for r in item.reviews] == [by_seq[item.opening.seq]] * len(item.reviews)
        assert item.review is (item.reviews[0] if item.reviews else None)
    wanted = {ReviewFilter.ALL: {"overdue", "unreviewed", "reviewed"},
              ReviewFilter.UNREVIEWED: {"overdue", "unreviewed"}, ReviewFilter.OVERDUE: {"overdue"}}[which]
    assert [i.opening.seq for i in shown(listed, which)] == [seq for seq, status in reference if status in wanted]


def test_the_first_review_counts_and_later_ones_are_kept_in_order() -> None:
    opening = opening_at(1, T0)
    first, second = review_entry(5, opening, T0 + DAY), review_entry(3, opening, T0 + 2 * DAY)
    [item] = emergency_reviews([opening], [first, second], T0 + 40 * DAY)
    assert item.status is ReviewStatus.REVIEWED
    assert [r.seq for r in item.reviews] == [3, 5] and item.review is second  # the log's order: seq


def test_a_review_of_another_access_does_not_count() -> None:
    mine, other = opening_at(1, T0), opening_at(2, T0)
    listed = emergency_reviews([mine, other], [review_entry(3, other, T0 + DAY)], T0 + 20 * DAY)
    assert {i.opening.seq: i.status for i in listed} == {1: ReviewStatus.OVERDUE, 2: ReviewStatus.REVIEWED}
