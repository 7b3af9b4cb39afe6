"""Reading child data: decide access, load, log the read, then return it.

Every function here that returns child data publishes exactly one ``ChildDataViewed`` per
child it returns, after the data is loaded and before it is handed back; if the access log
cannot take the event, the caller gets 503 and no data. A lookup by personnummer is logged
whether or not it finds a child (``find_child``). The parts name what of the child as a person
was opened (``services.api.person``: identity, address, guardians).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka.errors import KafkaError

from connectors import personnummer
from projections import access
from projections.access import Decision, Need
from projections.consent_rules import swedish_day
from projections.consents import Consent
from projections.named_person import RULE_PRINCIPAL
from schemas.events import Event
from services.api import errors, pending, person, publishing, views
from services.api.auth.tokens import Principal
from services.api.models import ChildList, ChildSummary, ConsentOut, GapsList, GrantorOut, OrgOut, PlanView
from services.api.store import ChildReads, ChildRow
from services.api.wiring import Hub
from services.ingest.contacts import SqlContacts

log = structlog.get_logger(__name__)

PLAN_PARTS = ("plan", "named-person", "assessments", "facts", "actions", "meetings", "invitations", "participants",
              "follow-ups", "consents")
EXPORT_PARTS = ("plan", "named-person", "assessments", "actions", "meetings", "invitations", "participants",
                "follow-ups", "consents")
SUMMARY_PARTS = ("summary",)
GAPS_PARTS = ("gaps",)
LIST_LIMIT_MAX = 100
PUBLISH_FAILURES = (KafkaError, ConnectionError, TimeoutError, OSError)
# A lookup by personnummer that shows no child is logged too: against the nil id when no child
# has the number (or it is malformed), against the child when it is outside the caller's scope.
# The number itself is never logged, in clear or hashed.
NOBODY = uuid.UUID(int=0)
NO_MATCH, NO_ACCESS, MALFORMED = "no-match", "no-access", "malformed"


@dataclass(frozen=True)
class Loaded:
    """A child the caller may act on, with what the decision was made from.

    ``consents`` are the read model's: the only ones access and visibility count. ``shown`` are
    what the pages and the API show and what a withdrawal may name: those, then the consents this
    service accepted that the read model does not hold yet (``pending``)."""

    child: ChildRow
    consents: list[Consent]
    decision: Decision
    shown: tuple[pending.ShownConsent, ...] = ()

    def shown_consent(self, consent_id: uuid.UUID) -> pending.ShownConsent | None:
        return next((s for s in self.shown if s.consent.consent_id == consent_id), None)

    @property
    def purpose(self) -> str:
        return publishing.EMERGENCY if self.decision.emergency else publishing.CARE_PLANNING


def require_role(principal: Principal, need: Need) -> None:
    if not access.role_allows(principal.role, need):
        raise errors.Forbidden()


def _decide(hub: Hub, reads: ChildReads, principal: Principal, child_id: uuid.UUID, need: Need,
            at: dt.datetime) -> Loaded:
    require_role(principal, need)
    row = reads.child(child_id)
    if row is None:
        raise errors.NotFound()
    if row.merged_into is not None:  # decide on the child this id is now; if allowed, send there
        _decide(hub, reads, principal, row.merged_into, need, at)
        raise errors.Moved(child_id, row.merged_into)
    consents = reads.consents(child_id)
    decision = access.decide(principal, need, row.scope, consents, (), at)
    if decision.outcome is access.Outcome.NOT_FOUND and need is not Need.EMERGENCY:
        # Only now look for an emergency access: the common case needs no audit-log query.
        grants = hub.reader.emergency_grants(at, viewer_id=principal.subject, child_id=child_id)
        decision = access.decide(principal, need, row.scope, consents, grants, at)
    if decision.outcome is access.Outcome.FORBIDDEN:
        raise errors.Forbidden()
    if not decision.allowed:
        raise errors.NotFound()
    shown, stale = pending.merge(consents, reads.pending(child_id), hub.codec, at)
    if stale:
        pending.forget(hub.engine, stale)
    return Loaded(row, consents, decision, tuple(shown))


def _load(hub: Hub, principal: Principal, child_id: uuid.UUID, need: Need, at: dt.datetime) -> Loaded:
    with hub.reader.reading() as reads:
        return _decide(hub, reads, principal, child_id, need, at)


async def guard(hub: Hub, principal: Principal, child_id: uuid.UUID, need: Need) -> Loaded:
    """The child, if ``principal`` may do ``need`` to it now; else Forbidden or NotFound."""
    require_role(principal, need)  # before any query: a role mismatch costs nothing
    return await hub.run(_load, hub, principal, child_id, need, hub.now())


async def emit(hub: Hub, events: Iterable[Event]) -> None:
    """Publish and wait for the acknowledgements; a log that cannot be reached is a 503."""
    try:
        await publishing.publish_all(hub.publish, events)
    except PUBLISH_FAILURES as exc:
        log.error("api.publish_failed", error=type(exc).__name__)
        raise errors.Unavailable() from None


async def record_reads(hub: Hub, principal: Principal, child_ids: Sequence[uuid.UUID], purpose: str,
                       parts: Sequence[str]) -> None:
    now = hub.now()
    await emit(hub, [publishing.viewed(principal, c, purpose, parts, now) for c in child_ids])


# -- a child's plan ---------------------------------------------------------------------------------

def _plan_view(hub: Hub, reads: ChildReads, principal: Principal, loaded: Loaded, at: dt.datetime,
               asks: frozenset[str] = person.PAGE, export: bool = False) -> PlanView:
    row, directory = loaded.child, hub.directory
    facts = access.visible_facts(reads.facts(row.child_id), principal.organisation_id, at, loaded.consents,
                                 row.named_person_org, loaded.decision)
    fact_views = [views.fact_out(f, directory, hub.fact_codec, protected=person.is_protected(row)) for f in facts]
    shown = person.shown(row, principal.organisation_id, hub.keystore, asks, export=export)
    names = {g.party_id: g.name for g in shown.guardians}
    shows = access.plan_text_shown(row.child_id, principal.organisation_id, at, loaded.consents, loaded.decision)
    parts = views.parts_of_rows(reads.plan_rows(row.child_id), directory, shows)
    areas, loose, plan_follow_ups = views.areas(parts, fact_views)
    return PlanView(
        child_id=row.child_id, municipality_code=person.municipality_shown(row), birth_date=row.birth_date,
        age=person.age_of(row, swedish_day(at)), unborn=row.unborn, person=shown.person, address=shown.address,
        guardian_names=list(shown.guardians),
        guardians=list(row.guardians), expectant_parent=row.expectant_parent if row.unborn else None,
        named_person=_named_person(hub, row),
        named_person_rule=row.named_person_rule, lead=views.org(directory, row.lead_org),
        participants=views.orgs(directory, row.participants),
        plan=views.plan_info(row.plan_id, row.plan_status, row.plan_opened_by, row.plan_opened_at,
                             row.plan_closed_at, directory, row.plan_closed_reason),
        areas=areas, facts_without_area=loose, meetings=parts.meetings, follow_ups=plan_follow_ups, sip=parts.sip,
        consents=[_named(views.consent_out(s.consent, at, directory, pending=s.pending,
                                           child_grants_from=hub.settings.consent_policy.child_grants_from), names)
                  for s in loaded.shown],
        access=str(loaded.decision.ground), read_at=at,
    )


def _named_person(hub: Hub, row: ChildRow) -> OrgOut | None:
    """The named person's organisation, and the principal by name when it is a school unit whose
    school system names one (SS 12000 duties); a BVC or MHV unit stays a unit."""
    named = views.org(hub.directory, row.named_person_org)
    if named is None or row.named_person_rule != RULE_PRINCIPAL:
        return named
    return named.model_copy(update={"person": SqlContacts(hub.engine).of([named.id]).get(named.id)})


def _named(consent: ConsentOut, names: dict[uuid.UUID, str]) -> ConsentOut:
    """The guardians' names beside their grants, where the viewer is shown them."""
    if not names:
        return consent
    grantors = [GrantorOut(party_id=g.party_id, role=g.role, name=names.get(g.party_id)) for g in consent.grantors]
    return consent.model_copy(update={"grantors": grantors})


def _plan_of(hub: Hub, principal: Principal, child_id: uuid.UUID, at: dt.datetime, asks: frozenset[str],
             export: bool) -> tuple[PlanView, Loaded]:
    """Decide and load on one connection, in one trip off the event loop."""
    with hub.reader.reading() as reads:
        loaded = _decide(hub, reads, principal, child_id, Need.READ, at)
        return _plan_view(hub, reads, principal, loaded, at, asks, export), loaded


def person_parts(view: PlanView) -> tuple[str, ...]:
    """What of the child as a person the view carries: the access log's extra parts."""
    return person.Shown(view.person, view.address, tuple(view.guardian_names)).parts


async def read_plan(hub: Hub, principal: Principal, child_id: uuid.UUID, *, purpose: str | None = None,
                    parts: Sequence[str] = PLAN_PARTS, asks: frozenset[str] = person.PAGE,
                    export: bool = False) -> tuple[PlanView, Loaded]:
    """The child's plan as the caller may see it now, with what ``asks`` names of the child as a
    person (never a protected child's in an ``export``), and the read logged."""
    require_role(principal, Need.READ)
    view, loaded = await hub.run(_plan_of, hub, principal, child_id, hub.now(), asks, export)
    why = publishing.EMERGENCY if loaded.decision.emergency else (purpose or publishing.CARE_PLANNING)
    await record_reads(hub, principal, [child_id], why, (*parts, *person_parts(view)))
    return view, loaded


# -- lists --------------------------------------------------------------------------------------------

def _purpose(why: access.Ground | None) -> str:
    return publishing.EMERGENCY if why is access.Ground.EMERGENCY else publishing.CARE_PLANNING


def summary(row: ChildRow, ground: access.Ground | None, hub: Hub, at: dt.datetime,
            shown: person.Shown | None = None) -> ChildSummary:
    """One child on a list; without ``shown`` (a list outside the viewer's circle) no identity."""
    return ChildSummary(
        child_id=row.child_id, municipality_code=person.municipality_shown(row), birth_date=row.birth_date,
        age=person.age_of(row, swedish_day(at)), unborn=row.unborn,
        person=(shown or person.shown(row, None, hub.keystore)).person,
        named_person=views.org(hub.directory, row.named_person_org), lead=views.org(hub.directory, row.lead_org),
        plan_status=row.plan_status, access="" if ground is None else str(ground),
    )


@dataclass(frozen=True)
class Listed:
    """A child on the caller's own list, what the list shows of it, and what its read logs."""

    summary: ChildSummary
    purpose: str
    parts: tuple[str, ...]


def _listed(hub: Hub, principal: Principal, row: ChildRow, why: access.Ground, at: dt.datetime) -> Listed:
    shown = person.shown(row, principal.organisation_id, hub.keystore, person.LIST)
    return Listed(summary(row, why, hub, at, shown), _purpose(why), (*SUMMARY_PARTS, *shown.parts))


def _my_children(hub: Hub, principal: Principal, at: dt.datetime, prefix: str | None, municipality: str | None,
                 has_plan: bool | None, name: str | None) -> list[Listed]:
    """The caller's children, by name (``person.list_order``); with ``name``, those it matches."""
    grants = hub.reader.emergency_grants(at, viewer_id=principal.subject)
    rows = hub.reader.candidates(principal.organisation_id, [g.child_id for g in grants], prefix=prefix,
                                 municipality=municipality, has_plan=has_plan)
    consents = hub.reader.consents_of(r.child_id for r in rows)
    out = []
    for row in rows:
        why = access.ground(principal, row.scope, consents.get(row.child_id, []), grants, at)
        if why is not None:
            out.append(_listed(hub, principal, row, why, at))
    if name is not None:
        out = [x for x in out if person.name_matches(x.summary.person, name)]
    return sorted(out, key=lambda x: person.list_order(x.summary.person, x.summary.child_id))


async def list_children(hub: Hub, principal: Principal, *, prefix: str | None = None, municipality: str | None = None,
                        has_plan: bool | None = None, name: str | None = None, limit: int = 50,
                        offset: int = 0) -> ChildList:
    """The caller's children, one page, sorted by name; each child on the page is a logged read
    (and a name filter only narrows what would be listed anyway: no other child is opened)."""
    require_role(principal, Need.LIST)
    found = await hub.run(_my_children, hub, principal, hub.now(), prefix, municipality, has_plan, name)
    page = found[offset:offset + limit]
    now = hub.now()
    await emit(hub, [publishing.viewed(principal, x.summary.child_id, x.purpose, x.parts, now) for x in page])
    return ChildList(children=[x.summary for x in page], total=len(found), limit=limit, offset=offset)


# -- finding a child by personnummer ----------------------------------------------------------------

def _found(hub: Hub, principal: Principal, pnr: str, at: dt.datetime) -> tuple[uuid.UUID | None, Listed | None]:
    """The child the number belongs to, and the caller's view of it if the caller may see it."""
    child_id = hub.registry.find(pnr)
    if child_id is None:
        return None, None
    try:
        with hub.reader.reading() as reads:
            loaded = _decide(hub, reads, principal, child_id, Need.READ, at)
    except errors.NotFound:
        return child_id, None
    assert loaded.decision.ground is not None
    return child_id, _listed(hub, principal, loaded.child, loaded.decision.ground, at)


def typed_personnummer(typed: str, at: dt.datetime) -> str:
    """The canonical number, or ``Rejected`` with a reason that never repeats it."""
    try:
        return personnummer.typed(typed, swedish_day(at))
    except personnummer.PersonnummerError as exc:
        raise errors.Rejected([errors.PNR_REJECTED.format(reason=exc)]) from None


async def find_child(hub: Hub, principal: Principal, typed: str) -> ChildSummary:
    """The child with this personnummer (or samordningsnummer), if the caller may see it; else
    ``NotFound``, the same for a number nobody has and a child outside the caller's scope.
    Every lookup is logged (purpose "search"), hit or miss, without the number."""
    require_role(principal, Need.READ)
    now = hub.now()
    try:
        pnr = typed_personnummer(typed, now)
    except errors.Rejected:
        await record_reads(hub, principal, [NOBODY], publishing.SEARCH, (MALFORMED,))
        raise
    child_id, listed = await hub.run(_found, hub, principal, pnr, now)
    if listed is None:
        await record_reads(hub, principal, [child_id or NOBODY], publishing.SEARCH,
                           (NO_MATCH,) if child_id is None else (NO_ACCESS,))
        raise errors.NotFound()
    await record_reads(hub, principal, [listed.summary.child_id], publishing.SEARCH, listed.parts)
    return listed.summary


async def gaps(hub: Hub, principal: Principal, municipality_code: str, *, limit: int = 50,
               offset: int = 0) -> GapsList:
    """The municipality's children who should have a named person and have none; for the
    coordinators of organisations in that municipality."""
    require_role(principal, Need.LIST)
    if not access.may_see_gaps(principal, hub.directory.municipality_of(principal.organisation_id),
                               municipality_code):
        raise errors.Forbidden()
    rows, total = await hub.run(hub.reader.gaps, municipality_code, limit, offset)
    await record_reads(hub, principal, [r.child_id for r in rows], publishing.CARE_PLANNING, GAPS_PARTS)
    now = hub.now()
    return GapsList(municipality_code=municipality_code, children=[summary(r, None, hub, now) for r in rows],
                    total=total, limit=limit, offset=offset)
