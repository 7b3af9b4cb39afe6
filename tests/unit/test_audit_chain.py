"""The audit log's hash chain, checkpoints and verification, as pure functions (no I/O)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditKind,
    Checkpoint,
    Link,
    ProblemKind,
    canonical,
    chain,
    chain_hash,
    checkpoint_valid,
    checkpoints_due,
    entry_from_event,
    sign_checkpoint,
    verify,
)
from schemas.events import (
    Basis,
    Category,
    ChildDataErased,
    ChildDataViewed,
    ChildMoved,
    EmergencyAccessOpened,
    Envelope,
    Source,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PUBLIC = KEY.public_key()
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
SIGNED_AT = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
CHILD = uuid.UUID("5b0e3f52-7d0c-4a53-9b0b-2f1f8f3f0a11")


def envelope(i: int, type_: str, child_id: uuid.UUID = CHILD) -> Envelope:
    return Envelope(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"access/{i}"),
        type=type_,
        child_id=child_id,
        occurred_at=T0 + dt.timedelta(minutes=i),
        recorded_at=T0 + dt.timedelta(minutes=i, seconds=1),
        source=Source("kronobarn-api", "kommun-0780-soc", f"req-{i}", "1"),
        basis=Basis.DIRECTORY,
        category=Category.ACCESS,
    )


def viewed(i: int, child_id: uuid.UUID = CHILD) -> ChildDataViewed:
    return ChildDataViewed(
        envelope=envelope(i, "ChildDataViewed", child_id), viewer_id=f"user-{i % 3}", role="coordinator",
        organisation_id="kommun-0780-soc", purpose="plan_work", parts=("plan", "facts.health"),
    )


def emergency(i: int) -> EmergencyAccessOpened:
    return EmergencyAccessOpened(
        envelope=envelope(i, "EmergencyAccessOpened"), viewer_id="user-9", role="coordinator",
        organisation_id="SE2321000065-BHV0780", reason_code="acute_risk",
        expires_at=T0 + dt.timedelta(days=3),
    )


def log_of(n: int) -> list[Link]:
    return chain(entry_from_event(viewed(i) if i % 4 else emergency(i), seq=i) for i in range(1, n + 1))


def checkpoint_at(links: list[Link], seq: int, key: Ed25519PrivateKey = KEY) -> Checkpoint:
    return sign_checkpoint(key, links[seq - 1], SIGNED_AT)


def renumbered(link: Link, seq: int) -> Link:
    return dataclasses.replace(link, entry=dataclasses.replace(link.entry, seq=seq))


def kinds(problems: list) -> set[ProblemKind]:
    return {p.kind for p in problems}


# --- entries and the chain ---------------------------------------------------------------


def test_entry_from_a_view_keeps_the_hslf_fields() -> None:
    event = viewed(1)
    entry = entry_from_event(event, seq=7)
    assert entry == AuditEntry(
        seq=7, event_id=event.event_id, kind=AuditKind.VIEW, occurred_at=event.envelope.occurred_at,
        viewer_id="user-1", role="coordinator", organisation_id="kommun-0780-soc", child_id=CHILD,
        purpose="plan_work", parts=("plan", "facts.health"),
    )


def test_entry_from_an_emergency_access_keeps_reason_and_expiry() -> None:
    entry = entry_from_event(emergency(2), seq=1)
    assert entry.kind is AuditKind.EMERGENCY
    assert entry.purpose == "acute_risk"
    assert entry.expires_at == T0 + dt.timedelta(days=3)
    assert entry.parts == ()


def test_entry_from_an_erasure_keeps_who_why_the_ids_and_the_sealed_justification() -> None:
    merged = uuid.uuid4()
    event = ChildDataErased(envelope=envelope(3, "ChildDataErased"), administrator_id="admin-1", role="administrator",
                            organisation_id="SE2321000065", reason_code="GDPR_ART17", erased_child_ids=(CHILD, merged),
                            justification=b"\x01sealed")
    entry = entry_from_event(event, seq=4)
    assert (entry.kind, entry.viewer_id, entry.purpose, entry.parts, entry.sealed) == (
        AuditKind.ERASURE, "admin-1", "GDPR_ART17", (str(CHILD), str(merged)), b"\x01sealed")
    # The justification's ciphertext is covered by the hash like every other field.
    altered = dataclasses.replace(entry, sealed=b"\x01other")
    assert chain_hash(GENESIS_HASH, altered) != chain_hash(GENESIS_HASH, entry)


def test_other_events_are_not_audit_entries() -> None:
    moved = ChildMoved(envelope=envelope(1, "ChildMoved"), to_municipality_code="0780", moved_on=T0.date())
    with pytest.raises(TypeError, match="ChildMoved"):
        entry_from_event(moved, seq=1)


def test_canonical_bytes_are_sorted_compact_json() -> None:
    raw = canonical(entry_from_event(viewed(1), seq=1))
    document = json.loads(raw)
    assert list(document) == sorted(document)
    assert b" " not in raw
    assert document["occurred_at"] == "2026-03-01T08:01:00.000000Z"


def test_canonical_bytes_do_not_depend_on_the_time_zone_of_the_input() -> None:
    entry = entry_from_event(viewed(1), seq=1)
    cet = dt.timezone(dt.timedelta(hours=1))
    naive = entry.occurred_at.replace(tzinfo=None)
    assert canonical(entry) == canonical(dataclasses.replace(entry, occurred_at=entry.occurred_at.astimezone(cet)))
    assert canonical(entry) == canonical(dataclasses.replace(entry, occurred_at=naive))


def test_chain_hash_is_sha256_of_prev_hash_and_canonical_bytes() -> None:
    import hashlib

    entry = entry_from_event(viewed(1), seq=1)
    assert chain_hash(GENESIS_HASH, entry) == hashlib.sha256(bytes(32) + canonical(entry)).hexdigest()


def test_chain_links_each_entry_to_the_one_before() -> None:
    links = log_of(5)
    assert links[0].prev_hash == GENESIS_HASH
    for before, after in zip(links, links[1:]):
        assert after.prev_hash == before.hash
    assert len({link.hash for link in links}) == 5


def test_seq_is_part_of_the_hash() -> None:
    entry = entry_from_event(viewed(1), seq=1)
    assert chain_hash(GENESIS_HASH, entry) != chain_hash(GENESIS_HASH, dataclasses.replace(entry, seq=2))


# --- checkpoints -------------------------------------------------------------------------


def test_checkpoint_signature_verifies_with_the_public_key_only() -> None:
    links = log_of(3)
    checkpoint = checkpoint_at(links, 3)
    assert checkpoint.seq == 3 and checkpoint.hash == links[2].hash
    assert checkpoint_valid(PUBLIC, checkpoint)
    assert not checkpoint_valid(OTHER_KEY.public_key(), checkpoint)


@pytest.mark.parametrize(
    "edit",
    [
        {"seq": 2},
        {"hash": "f" * 64},
        {"signed_at": SIGNED_AT + dt.timedelta(seconds=1)},
        {"signature": bytes(64)},
    ],
    ids=["seq", "hash", "signed_at", "signature"],
)
def test_any_edit_of_a_checkpoint_breaks_its_signature(edit: dict) -> None:
    checkpoint = checkpoint_at(log_of(3), 3)
    assert not checkpoint_valid(PUBLIC, dataclasses.replace(checkpoint, **edit))


def test_checkpoints_fall_due_every_n_entries() -> None:
    links = log_of(10)
    assert [link.seq for link in checkpoints_due(links, 0, 4)] == [4, 8]
    assert [link.seq for link in checkpoints_due(links[4:], 3, 4)] == [7]
    assert checkpoints_due(links[:3], 0, 4) == []
    with pytest.raises(ValueError):
        checkpoints_due(links, 0, 0)


# --- verify: what it catches -------------------------------------------------------------


def test_an_untouched_log_verifies() -> None:
    links = log_of(12)
    assert verify(links, [checkpoint_at(links, 5), checkpoint_at(links, 10)], PUBLIC) == []


def test_an_empty_log_verifies() -> None:
    assert verify([], [], PUBLIC) == []


def test_an_edited_field_is_caught() -> None:
    links = log_of(6)
    links[2] = dataclasses.replace(links[2], entry=dataclasses.replace(links[2].entry, organisation_id="kommun-0764-soc"))
    [problem] = verify(links, [], PUBLIC)
    assert problem.kind is ProblemKind.ENTRY_ALTERED
    assert problem.seq == 3 and problem.event_id == links[2].entry.event_id
    assert "seq 3" in problem.message and str(links[2].entry.event_id) in problem.message


def test_an_edited_entry_with_its_hash_recomputed_breaks_the_next_link() -> None:
    links = log_of(6)
    edited = dataclasses.replace(links[2].entry, parts=("everything",))
    links[2] = Link(edited, links[2].prev_hash, chain_hash(links[2].prev_hash, edited))
    problems = verify(links, [], PUBLIC)
    assert [(p.kind, p.seq) for p in problems] == [(ProblemKind.CHAIN_BROKEN, 4)]


def test_a_rewritten_chain_is_caught_by_a_checkpoint() -> None:
    links = log_of(8)
    checkpoints = [checkpoint_at(links, 4), checkpoint_at(links, 8)]
    # The attacker edits entry 2 and recomputes every hash after it: the chain is consistent,
    # but no longer ends in the signed hashes.
    entries = [link.entry for link in links]
    entries[1] = dataclasses.replace(entries[1], viewer_id="someone-else")
    problems = verify(chain(entries), checkpoints, PUBLIC)
    assert [(p.kind, p.seq) for p in problems] == [
        (ProblemKind.CHECKPOINT_MISMATCH, 4),
        (ProblemKind.CHECKPOINT_MISMATCH, 8),
    ]


def test_a_deleted_entry_is_caught() -> None:
    links = log_of(6)
    del links[3]
    [problem] = verify(links, [], PUBLIC)
    assert problem.kind is ProblemKind.ENTRIES_MISSING
    assert problem.message == "entries at seq 4..4 are missing: deleted"


def test_deleted_first_entries_are_caught() -> None:
    problems = verify(log_of(6)[2:], [], PUBLIC)
    assert [(p.kind, p.message) for p in problems] == [
        (ProblemKind.ENTRIES_MISSING, "entries at seq 1..2 are missing: deleted")
    ]


def test_a_deleted_entry_with_the_rest_renumbered_is_caught() -> None:
    links = log_of(6)
    closed = links[:3] + [renumbered(link, link.seq - 1) for link in links[4:]]
    problems = verify(closed, [], PUBLIC)
    assert ProblemKind.CHAIN_BROKEN in kinds(problems)
    assert {p.seq for p in problems if p.kind is ProblemKind.ENTRY_ALTERED} == {4, 5}


def test_swapped_seqs_are_caught_as_reordering() -> None:
    links = log_of(8)
    # What swapping two rows' seq in SQL does: rows come back in seq order, contents exchanged.
    links[4], links[5] = renumbered(links[5], 5), renumbered(links[4], 6)
    problems = verify(links, [], PUBLIC)
    reordered = {(p.seq, p.message) for p in problems if p.kind is ProblemKind.ENTRY_REORDERED}
    assert any("seq 6" in message and "links to the entry at seq 4" in message for _, message in reordered)
    assert {p.seq for p in problems if p.kind is ProblemKind.ENTRY_ALTERED} == {5, 6}


def test_entries_out_of_seq_order_are_caught() -> None:
    links = log_of(6)
    links[1], links[2] = links[2], links[1]
    problems = verify(links, [], PUBLIC)
    assert ProblemKind.SEQ_NOT_ASCENDING in kinds(problems)


def test_a_forged_checkpoint_is_caught() -> None:
    links = log_of(6)
    forged = checkpoint_at(links, 6, key=OTHER_KEY)
    [problem] = verify(links, [checkpoint_at(links, 3), forged], PUBLIC)
    assert (problem.kind, problem.seq) == (ProblemKind.CHECKPOINT_FORGED, 6)


def test_an_edited_checkpoint_is_caught() -> None:
    links = log_of(6)
    edited = dataclasses.replace(checkpoint_at(links, 6), hash=links[4].hash)
    [problem] = verify(links, [edited], PUBLIC)
    assert problem.kind is ProblemKind.CHECKPOINT_FORGED


def test_truncation_back_past_a_checkpoint_is_caught() -> None:
    links = log_of(10)
    problems = verify(links[:7], [checkpoint_at(links, 4), checkpoint_at(links, 8)], PUBLIC)
    assert [(p.kind, p.seq) for p in problems] == [(ProblemKind.CHECKPOINT_BEYOND_END, 8)]
    assert "last entry (seq 7)" in problems[0].message


def test_truncation_after_the_last_checkpoint_cannot_be_seen() -> None:
    # The documented limit: what remains is a valid prefix, and no signature covers the cut.
    links = log_of(10)
    assert verify(links[:9], [checkpoint_at(links, 8)], PUBLIC) == []


def test_an_unreadable_entry_is_reported_by_seq_only() -> None:
    from projections.audit import ChainVerifier

    links = log_of(3)
    verifier = ChainVerifier([], PUBLIC)
    verifier.add(links[0])
    verifier.add_unreadable(2, links[1].prev_hash, links[1].hash)
    verifier.add(links[2])
    [problem] = verifier.finish()
    assert (problem.kind, problem.seq, problem.event_id) == (ProblemKind.ENTRY_UNREADABLE, 2, None)


def test_problem_messages_carry_no_personal_fields() -> None:
    links = log_of(6)
    links[1] = dataclasses.replace(links[1], entry=dataclasses.replace(links[1].entry, viewer_id="Anna Andersson"))
    del links[3]
    for problem in verify(links, [dataclasses.replace(checkpoint_at(links, 2), signature=bytes(64))], PUBLIC):
        assert "Anna" not in problem.message
        assert str(CHILD) not in problem.message


# --- the signing key (services/worker/audit_key.py) ---------------------------------------------------


def test_signing_key_from_settings_and_its_dev_fallback() -> None:
    import base64

    from structlog.testing import capture_logs

    from services.settings import Settings
    from services.worker.audit_key import (
        _warn_dev_audit_key,
        audit_signing_key_from,
        dev_audit_signing_key,
        encode_public_key,
    )

    raw = bytes(range(32))
    configured = audit_signing_key_from(Settings(audit_signing_key=base64.b64encode(raw).decode()))
    assert encode_public_key(configured.public_key()) == encode_public_key(KEY.public_key())
    _warn_dev_audit_key.cache_clear()
    with capture_logs() as logs:
        first = audit_signing_key_from(Settings(env="dev"))
        second = audit_signing_key_from(Settings(env="dev"))
    _warn_dev_audit_key.cache_clear()
    assert encode_public_key(first.public_key()) == encode_public_key(second.public_key())
    assert encode_public_key(first.public_key()) == encode_public_key(dev_audit_signing_key().public_key())
    assert [entry["event"] for entry in logs] == ["dev_audit_signing_key_in_use"]


def test_signing_key_is_required_in_production_and_validated() -> None:
    import base64

    from services.settings import Settings
    from services.worker.audit_key import AuditKeyError, audit_signing_key_from, decode_audit_public_key

    with pytest.raises(AuditKeyError, match="KRONOBARN_AUDIT_SIGNING_KEY is not set"):
        audit_signing_key_from(Settings(env="production"))
    with pytest.raises(AuditKeyError) as caught:
        audit_signing_key_from(Settings(audit_signing_key="not*base64*at*all!"))
    assert "not*base64" not in str(caught.value) and caught.value.__cause__ is None
    with pytest.raises(AuditKeyError, match="32 bytes"):
        audit_signing_key_from(Settings(audit_signing_key=base64.b64encode(b"short").decode()))
    with pytest.raises(AuditKeyError, match="32 bytes"):
        decode_audit_public_key(base64.b64encode(bytes(31)).decode())
    encoded = base64.b64encode(bytes(range(32))).decode()
    assert encoded not in repr(Settings(audit_signing_key=encoded))
