"""Reading child data: decide access, load, log the read, then return it.

Every function here that returns child data publishes exactly one ``ChildDataViewed`` per
child it returns, after the data is loaded and before it is handed back; if the access log
cannot take the event, the caller gets 503 and no data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka.errors import KafkaError

from projections import access
from projections.access import Decision, Need
from projections.consents import Consent
from schemas.events import Event
from services.api import errors, pending, publishing, views
from services.api.auth.tokens import Principal
from services.api.models import ChildList, ChildSummary, GapsList, PlanView
from services.api.store import ChildReads, ChildRow
from services.api.wiring import Hub

log = structlog.get_logger(__name__)

PLAN_PARTS = ("plan", "named-person", "assessments", "facts", "actions", "meetings", "follow-ups", "consents")
EXPORT_PARTS = ("plan", "named-person", "assessments", "actions", "follow-ups", "consents")
SUMMARY_PARTS = ("summary",)
GAPS_PARTS = ("gaps",)
LIST_LIMIT_MAX = 100
PUBLISH_FAILURES = (KafkaError, ConnectionError, TimeoutError, OSError)


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

def _plan_view(hub: Hub, reads: ChildReads, principal: Principal, loaded: Loaded, at: dt.datetime) -> PlanView:
    row, directory = loaded.child, hub.directory
    facts = access.visible_facts(reads.facts(row.child_id), principal.organisation_id, at, loaded.consents,
                                 row.named_person_org, loaded.decision)
    fact_views = [views.fact_out(f, directory, hub.fact_codec) for f in facts]
    shows = access.plan_text_shown(row.child_id, principal.organisation_id, at, loaded.consents, loaded.decision)
    parts = views.parts_of_rows(reads.plan_rows(row.child_id), directory, shows)
    areas, loose, plan_follow_ups = views.areas(parts, fact_views)
    return PlanView(
        child_id=row.child_id, municipality_code=row.municipality_code, birth_date=row.birth_date,
        unborn=row.unborn, guardians=list(row.guardians), expectant_parent=row.expectant_parent if row.unborn else None,
        named_person=views.org(directory, row.named_person_org),
        named_person_rule=row.named_person_rule, lead=views.org(directory, row.lead_org),
        participants=views.orgs(directory, row.participants),
        plan=views.plan_info(row.plan_id, row.plan_status, row.plan_opened_by, row.plan_opened_at,
                             row.plan_closed_at, directory),
        areas=areas, facts_without_area=loose, meetings=parts.meetings, follow_ups=plan_follow_ups,
        consents=[views.consent_out(s.consent, at, directory, pending=s.pending,
                                    child_grants_from=hub.settings.consent_policy.child_grants_from)
                  for s in loaded.shown],
        access=str(loaded.decision.ground), read_at=at,
    )


def _plan_of(hub: Hub, principal: Principal, child_id: uuid.UUID, at: dt.datetime) -> tuple[PlanView, Loaded]:
    """Decide and load on one connection, in one trip off the event loop."""
    with hub.reader.reading() as reads:
        loaded = _decide(hub, reads, principal, child_id, Need.READ, at)
        return _plan_view(hub, reads, principal, loaded, at), loaded


async def read_plan(hub: Hub, principal: Principal, child_id: uuid.UUID, *, purpose: str | None = None,
                    parts: Sequence[str] = PLAN_PARTS) -> tuple[PlanView, Loaded]:
    """The child's plan as the caller may see it now, and the read logged."""
    require_role(principal, Need.READ)
    view, loaded = await hub.run(_plan_of, hub, principal, child_id, hub.now())
    why = publishing.EMERGENCY if loaded.decision.emergency else (purpose or publishing.CARE_PLANNING)
    await record_reads(hub, principal, [child_id], why, parts)
    return view, loaded


# -- lists --------------------------------------------------------------------------------------------

def _purpose(why: access.Ground | None) -> str:
    return publishing.EMERGENCY if why is access.Ground.EMERGENCY else publishing.CARE_PLANNING


def summary(row: ChildRow, ground: access.Ground | None, hub: Hub) -> ChildSummary:
    return ChildSummary(
        child_id=row.child_id, municipality_code=row.municipality_code, birth_date=row.birth_date, unborn=row.unborn,
        named_person=views.org(hub.directory, row.named_person_org), lead=views.org(hub.directory, row.lead_org),
        plan_status=row.plan_status, access="" if ground is None else str(ground),
    )


def _my_children(hub: Hub, principal: Principal, at: dt.datetime, prefix: str | None, municipality: str | None,
                 has_plan: bool | None) -> list[tuple[ChildRow, access.Ground]]:
    grants = hub.reader.emergency_grants(at, viewer_id=principal.subject)
    rows = hub.reader.candidates(principal.organisation_id, [g.child_id for g in grants], prefix=prefix,
                                 municipality=municipality, has_plan=has_plan)
    consents = hub.reader.consents_of(r.child_id for r in rows)
    out = []
    for row in rows:
        why = access.ground(principal, row.scope, consents.get(row.child_id, []), grants, at)
        if why is not None:
            out.append((row, why))
    return out


async def list_children(hub: Hub, principal: Principal, *, prefix: str | None = None, municipality: str | None = None,
                        has_plan: bool | None = None, limit: int = 50, offset: int = 0) -> ChildList:
    """The caller's children, one page; each child on the page is a logged read."""
    require_role(principal, Need.LIST)
    found = await hub.run(_my_children, hub, principal, hub.now(), prefix, municipality, has_plan)
    page = found[offset:offset + limit]
    now = hub.now()
    await emit(hub, [publishing.viewed(principal, row.child_id, _purpose(why), SUMMARY_PARTS, now) for row, why in page])
    return ChildList(children=[summary(row, why, hub) for row, why in page], total=len(found), limit=limit,
                     offset=offset)


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
    return GapsList(municipality_code=municipality_code, children=[summary(r, None, hub) for r in rows],
                    total=total, limit=limit, offset=offset)
