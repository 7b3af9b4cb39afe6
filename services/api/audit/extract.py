"""The register extract: everything the hub holds about one child, and who has seen it
(GDPR art. 15; PDL 8 kap. 5 § for the access log). For auditors and administrators.

Where each part comes from, and why:

* **Facts and plan entries** from the event log (``hub.history``), the truth for "every": the
  read model keeps only what is in force now (a revoked release is deleted there, a corrected
  assessment replaced). Read with the hub's sealing codec, so sealed personal data and free text
  open with the child's key -- and read ``ERASED`` once it is deleted. Ids merged into the child
  are read too: what was recorded under them is the child's. A source fact and its releases to
  the plan are one entry; a release whose source fact the log no longer holds stands for it.
* **The identity, consents, the named-person history and the plan's state now** from the read
  model, which judges consents against the register and keeps the named person's changes.
* **The access log** from the audit store, under the child's id and the ids merged into it.
* **Erasure** from the key store's tombstone (when, and the reason code).

A child with protected personal data never has its address or municipality given, here either;
its name is (the extract is the child's own data). Producing the extract is itself a logged read,
purpose ``publishing.EXTRACT``, whose parts name what was included; it is logged before it is returned.

The building (``build``, ``entries``, ``opened_text``, ``named_person_periods``) is pure; the
loading and the logging are ``register_extract``'s.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from connectors.population import ADDRESS
from projections import access
from projections.access import Need
from projections.audit import AuditEntry
from projections.consents import Consent
from projections.named_person import RULE_NONE, RULE_TRANSFERRED
from projections.plan import ERASED_TEXT, SEALED_TEXT
from projections.read_model import named_person_history
from schemas.codec import DecodeError
from schemas.events import Event, FactReleased, NamedPersonTransferred, ReleaseRevoked
from schemas.sealing import Erased, Personal, Sealer
from schemas.topics import ACCESS, CONSENT, PLAN, SHARED, STATUTORY_SOCIAL, TOPIC_OF_EVENT
from services.api import errors, person, publishing, reads, views
from services.api.audit import reads as audit_reads
from services.api.audit import reviews
from services.api.audit.extract_models import (
    ErasureOut,
    ExtractAccessOut,
    ExtractEntry,
    ExtractPerson,
    NamedPersonPeriodOut,
    ProducedBy,
    RegisterExtract,
    ReleaseOut,
    Section,
    TextState,
)
from services.api.auth.callers import hub_of, known_query
from services.api.auth.tokens import Principal
from services.api.models import AddressOut, ConsentOut, GrantorOut, IdentityState
from services.api.orgs import OrgDirectory
from services.api.routes import Caller, ChildId, problems
from services.api.store import ChildRow, utc
from services.api.wiring import Hub
from services.readmodel.history import HistoryEntry
from services.sql.schema import erased_children

SECTION_PARTS = ("facts", "plan", "consents", "named-person", "audit-log")
ROLES = (Need.AUDIT, Need.ADMIN)  # auditors, and the administrators who answer a data subject's request

Decode = Callable[[bytes], Event | None]


# -- pure: the entries -------------------------------------------------------------------------------------

def opened_text(event: Event, protected: bool) -> tuple[dict[str, str], TextState]:
    """An event's sealed personal data and free text as the extract gives it.

    Erased: nothing, except that a plan entry's free text reads ``ERASED_TEXT`` (as everywhere
    else). A protected child's address keys are withheld."""
    sealed = event.envelope.sealed
    if sealed is None:
        return {}, "none"
    if isinstance(sealed, Erased):
        return {key: ERASED_TEXT for key in SEALED_TEXT.get(type(event), ())}, "erased"
    if not isinstance(sealed, Personal):
        return {}, "sealed"
    shown = {k: str(v) for k, v in sorted(sealed.fields.items()) if not (protected and k in ADDRESS)}
    if protected and not shown and sealed.fields:
        return {}, "withheld"
    return shown, "opened"


def section_of(topic: str) -> Section | None:
    """Where an event of ``topic`` belongs in the extract; None: not an entry of its own (access
    events are the access log's, releases belong to their fact)."""
    if topic in (ACCESS.name, SHARED.name):
        return None
    return {PLAN.name: "plan", CONSENT.name: "consent", STATUTORY_SOCIAL.name: "statutory"}.get(topic, "fact")


def _releases(history: Sequence[HistoryEntry]) -> dict[uuid.UUID, list[ReleaseOut]]:
    """Each source fact's releases in log order; a revocation ends the latest open one."""
    found: dict[uuid.UUID, list[ReleaseOut]] = {}
    for h in history:
        event = h.event
        if isinstance(event, FactReleased):
            found.setdefault(event.fact_event_id, []).append(ReleaseOut(
                event_id=event.event_id, released_at=utc(h.recorded_at), consent_ids=list(event.consent_ids)))
        elif isinstance(event, ReleaseRevoked):
            open_ones = [r for r in found.get(event.fact_event_id, []) if r.revoked_at is None]
            if open_ones:
                open_ones[-1].revoked_at = utc(h.recorded_at)
                open_ones[-1].ended_consent_ids = list(event.ended_consent_ids)
    return found


def _stand_ins(history: Sequence[HistoryEntry], decode: Decode) -> list[HistoryEntry]:
    """Source facts the log holds only inside their releases: the first release's copy."""
    logged = {h.event.event_id for h in history if section_of(h.topic) is not None}
    out: dict[uuid.UUID, HistoryEntry] = {}
    for h in history:
        event = h.event
        if not isinstance(event, FactReleased) or event.fact_event_id in logged or event.fact_event_id in out:
            continue
        inner = decode(event.fact)
        if inner is not None and inner.event_id == event.fact_event_id:
            out[inner.event_id] = HistoryEntry(TOPIC_OF_EVENT[type(inner)].name, h.partition, h.offset,
                                               inner.envelope.recorded_at, type(inner).__name__, inner)
    return list(out.values())


def entries(history: Sequence[HistoryEntry], directory: OrgDirectory, *, protected: bool,
            decode: Decode) -> list[ExtractEntry]:
    """Every fact and plan entry of ``history`` (opened with the child's key, or erased), in the
    order the hub recorded them, each source fact with its releases to the plan."""
    releases = _releases(history)
    own = [h for h in history if section_of(h.topic) is not None]
    found = sorted([*own, *_stand_ins(history, decode)], key=lambda h: utc(h.recorded_at))  # type: ignore[arg-type, return-value]
    out = []
    for h in found:
        section = section_of(h.topic)
        assert section is not None
        env = h.event.envelope
        text, state = opened_text(h.event, protected)
        base = audit_reads.history_entry_out(h, protected).model_dump()
        out.append(ExtractEntry(**base, child_id=env.child_id, section=section,
                                source=views.orgs(directory, [env.source.organisation_id])[0], text=text,
                                text_state=state, releases=releases.get(env.event_id, [])))
    return out


# -- pure: the named person over time ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Period:
    """A row of the read model's named-person history."""

    organisation_id: str | None
    rule: str
    since: dt.date | None


def named_person_periods(history: Sequence[Period], transfers: Iterable[NamedPersonTransferred],
                         directory: OrgDirectory) -> list[NamedPersonPeriodOut]:
    """Each period until the next began, and why it ended: the next period's rule, and for a
    transfer by decision its reason code (the latest transfer to that organisation by then)."""
    moves = sorted(transfers, key=lambda t: (t.envelope.occurred_at, str(t.event_id)))
    out = []
    for n, period in enumerate(history):
        after = history[n + 1] if n + 1 < len(history) else None
        reason = None
        if after is not None and after.rule == RULE_TRANSFERRED:
            to_it = [t for t in moves if t.to_org == after.organisation_id
                     and (after.since is None or t.envelope.occurred_at.date() <= after.since)]
            reason = to_it[-1].reason_code if to_it else None
        out.append(NamedPersonPeriodOut(
            organisation=views.org(directory, period.organisation_id), rule=period.rule, since=period.since,
            until=None if after is None else after.since, ended_by=None if after is None else after.rule,
            reason_code=reason))
    return out


# -- pure: the child as a person -----------------------------------------------------------------------------

def person_of(row: ChildRow, opener: Sealer, erased: bool = False) -> ExtractPerson:
    """The identity opened; the address never for a protected child; the guardians' names. An
    erased child's: nothing is opened (nothing could be)."""
    protected = person.is_protected(row)
    common: dict[str, Any] = dict(
        protected=protected, guardian_ids=list(row.guardians), birth_date=row.birth_date, unborn=row.unborn,
        municipality_code=person.municipality_shown(row), died_on=row.died_on, emigrated_on=row.emigrated_on)
    identity = None if erased else person.open_sealed(opener, row.child_id, row.sealed_identity)
    if erased or isinstance(identity, Erased):
        return ExtractPerson(identity=IdentityState.ERASED, **common)
    names = identity.fields if isinstance(identity, Personal) else {}
    address = None if protected else person.open_sealed(opener, row.child_id, row.sealed_address)
    place = address.fields if isinstance(address, Personal) and address.fields.get("address") else None
    guardians = person.open_sealed(opener, row.child_id, row.sealed_guardians)
    return ExtractPerson(
        identity=IdentityState.SHOWN if names else IdentityState.MISSING, **common,
        personnummer=names.get("personnummer"), given_name=names.get("given_name"),
        family_name=names.get("family_name"),
        address=None if place is None else AddressOut(address=place.get("address"), postal_code=place.get("postal_code"),
                                                      town=place.get("town")),
        guardians=person.guardians_named(guardians) if isinstance(guardians, Personal) else [])


def _named(consent: ConsentOut, names: dict[uuid.UUID, str]) -> ConsentOut:
    """The guardians' names beside their grants."""
    grantors = [GrantorOut(party_id=g.party_id, role=g.role, name=names.get(g.party_id)) for g in consent.grantors]
    return consent.model_copy(update={"grantors": grantors})


def person_parts(shown: ExtractPerson) -> tuple[str, ...]:
    """What of the child as a person the extract opened (``services.api.person``'s part names)."""
    return tuple(part for part, given in ((person.IDENTITY, shown.identity is IdentityState.SHOWN),
                                          (person.ADDRESS, shown.address is not None),
                                          (person.GUARDIANS, bool(shown.guardians))) if given)


def access_out(entry: AuditEntry, directory: OrgDirectory, opener: Sealer) -> ExtractAccessOut:
    """An audit-log entry; a review's comment opened now. Any other kind as logged, whatever it is."""
    comment, state = reviews.open_comment(opener, entry) if str(entry.kind) == "review" else (None, "none")
    return ExtractAccessOut(**audit_reads.entry_out(entry).model_dump(),
                            organisation=views.orgs(directory, [entry.organisation_id])[0], comment=comment,
                            comment_state=state)


# -- loading, logging -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Held:
    """What the read model, the key store and the audit store hold about the child."""

    row: ChildRow
    merged: list[uuid.UUID]
    consents: list[Consent]
    periods: list[Period]
    erased: ErasureOut | None
    accesses: list[AuditEntry]


def _held(hub: Hub, child_id: uuid.UUID) -> Held:
    """Unknown: neither in the read model nor erased. An erased child whose rows are gone still
    has its skeleton in the log and its accesses in the audit log."""
    with hub.reader.reading() as reads_:
        row = reads_.child(child_id)
        tomb = reads_.c.execute(select(erased_children.c.erased_at, erased_children.c.reason_code)
                                .where(erased_children.c.child_id == str(child_id))).first()
        if row is None and tomb is None:
            raise errors.NotFound()
        if row is not None and row.merged_into is not None:
            raise errors.Moved(child_id, row.merged_into)
        consents = reads_.consents(child_id)
        t = named_person_history
        periods = [Period(r.organisation_id, r.rule, r.since) for r in reads_.c.execute(
            select(t.c.organisation_id, t.c.rule, t.c.since).where(t.c.child_id == str(child_id)).order_by(t.c.seq))]
    merged = hub.reader.merged_ids(child_id)
    erased = None if tomb is None else ErasureOut(erased_at=utc(tomb.erased_at), reason_code=tomb.reason_code)  # type: ignore[arg-type]
    return Held(row or _nothing_known(child_id), merged, consents, periods, erased,
                hub.reader.audit.extract(child_id, None, None, merged))


def _nothing_known(child_id: uuid.UUID) -> ChildRow:
    """An erased child the read model no longer has a row for."""
    return ChildRow(child_id=child_id, municipality_code=None, birth_date=None, unborn=False, guardians=(),
                    named_person_org=None, named_person_rule=RULE_NONE, named_person_since=None, on_gaps_list=False,
                    plan_id=None, plan_status=None, plan_opened_by=None, plan_opened_at=None, plan_closed_at=None,
                    lead_org=None, participants=())


def _decoder(hub: Hub) -> Decode:
    def decode(data: bytes) -> Event | None:
        try:
            found = hub.codec.decode(data)
        except DecodeError:
            return None  # the release's copy is unreadable: the release itself is still listed
        return found if isinstance(found, Event) else None
    return decode


def build(hub: Hub, principal: Principal, held: Held, history: Sequence[HistoryEntry], now: dt.datetime,
          logged_as: uuid.UUID, parts: Sequence[str], shown: ExtractPerson) -> RegisterExtract:
    """The extract from what was loaded (blocking: review comments open with the child's key)."""
    d, row = hub.directory, held.row
    names = {g.party_id: g.name for g in shown.guardians}
    consents = [_named(views.consent_out(c, now, d, child_grants_from=hub.settings.consent_child_age), names)
                for c in held.consents]
    transfers = [h.event for h in history if isinstance(h.event, NamedPersonTransferred)]
    return RegisterExtract(
        child_id=row.child_id, produced_at=now,
        produced_by=ProducedBy(viewer_id=principal.subject, role=str(principal.role),
                               organisation=views.orgs(d, [principal.organisation_id])[0]),
        logged_as=logged_as, parts=list(parts), merged_ids=held.merged, erased=held.erased, person=shown,
        named_person=views.org(d, row.named_person_org), named_person_rule=row.named_person_rule,
        lead=views.org(d, row.lead_org), participants=views.orgs(d, row.participants),
        plan=views.plan_info(row.plan_id, row.plan_status, row.plan_opened_by, row.plan_opened_at,
                             row.plan_closed_at, d, row.plan_closed_reason),
        entries=entries(history, d, protected=person.is_protected(row), decode=_decoder(hub)),
        consents=consents, named_person_history=named_person_periods(held.periods, transfers, d),
        access_log=[access_out(e, d, hub.opener) for e in held.accesses],
    )


def require_extract_role(principal: Principal) -> None:
    if not any(access.role_allows(principal.role, need) for need in ROLES):
        raise errors.Forbidden()


async def register_extract(hub: Hub, principal: Principal, child_id: uuid.UUID) -> RegisterExtract:
    """Everything the hub holds about the child; its production logged (``publishing.EXTRACT``) before it is
    returned. Auditors and administrators only (403); an unknown child is 404."""
    require_extract_role(principal)
    held = await hub.run(_held, hub, child_id)
    history: list[HistoryEntry] = []
    for cid in (child_id, *held.merged):
        history += await hub.history.child_history(hub.settings, hub.codec, cid)
    history.sort(key=lambda h: utc(h.recorded_at))  # type: ignore[arg-type, return-value]
    shown = await hub.run(person_of, held.row, hub.opener, held.erased is not None)
    parts = (*person_parts(shown), *SECTION_PARTS)
    now = hub.now()
    viewed = publishing.viewed(principal, child_id, publishing.EXTRACT, parts, now)
    extract = await hub.run(build, hub, principal, held, history, now, viewed.event_id, parts, shown)
    await reads.emit(hub, [viewed])
    return extract


# -- the JSON endpoint ----------------------------------------------------------------------------------------

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[Depends(known_query)])


@router.get("/children/{child_id}/extract", response_model=RegisterExtract,
            responses=problems(400, 401, 403, 404, 422, 503), summary="Registerutdrag för ett barn")
async def get_register_extract(request: Request, caller: Caller, child_id: ChildId) -> RegisterExtract:
    """Everything the hub holds about the child (GDPR art. 15): the identity opened, every fact
    and plan entry with its source, date and free text, the consents, the named person over time,
    and who has seen the child's data (PDL 8 kap. 5 §). Auditors and administrators. Producing it
    is logged (purpose ``register-extract``). For an erased child: when and why, and nothing erased."""
    return await register_extract(hub_of(request), caller, child_id)
