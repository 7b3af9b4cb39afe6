"""The auditors' views: a child's log extract, emergency accesses and their review, history, the plan as seen at T.

Auditors see these for any child (that is their task) and nothing of the coordinators' pages.
Each view is itself a logged read (purpose ``audit``). The history and time travel are
``services.readmodel.history``'s, reached through ``hub.history``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from typing import Any

from projections import access
from projections.access import Need
from projections.audit import AuditEntry
from projections.audit_review import ReviewFilter
from schemas.sealing import Erased, Personal
from services.api import errors, person, publishing, views
from services.api.audit import reviews
from services.api.audit.models import EmergencyAccessReviews
from services.api.auth.tokens import Principal
from services.api.models import HISTORY_PAGE_DEFAULT, AuditEntryOut, AuditLog, HistoryEntryOut, HistoryPage, SeenPlanOut
from services.api.reads import MALFORMED, NO_MATCH, NOBODY, record_reads, require_role, typed_personnummer
from services.api.store import PlanRows, utc
from services.api.wiring import Hub

FOUND_PARTS = ("identity-lookup",)
LOG_PARTS = ("audit-log",)
EMERGENCY_PARTS = ("emergency-access-log", "emergency-access-reviews")
HISTORY_PARTS = ("history",)
AS_SEEN_PARTS = ("plan-as-seen", "facts", "assessments", "actions", "meetings", "follow-ups", "consents")


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        seq=entry.seq, event_id=entry.event_id, kind=str(entry.kind), occurred_at=utc(entry.occurred_at),
        viewer_id=entry.viewer_id, role=entry.role, organisation_id=entry.organisation_id, child_id=entry.child_id,
        purpose=entry.purpose, parts=list(entry.parts), expires_at=utc(entry.expires_at),
    )


async def log_extract(hub: Hub, principal: Principal, child_id: uuid.UUID, since: dt.datetime | None = None,
                      until: dt.datetime | None = None, organisation: str | None = None,
                      purpose: str | None = None) -> AuditLog:
    """The child's log entries with ``since <= occurred_at < until``, and if given only those of
    ``organisation`` (the reader's organisation) and with ``purpose`` (a view's purpose, an
    emergency access's or an erasure's reason code), oldest first."""
    require_role(principal, Need.AUDIT)
    also = await hub.run(hub.reader.merged_ids, child_id)  # who saw the child under an id it had before
    entries = await hub.run(hub.reader.audit.extract, child_id, since, until, also)
    await record_reads(hub, principal, [child_id], publishing.AUDIT, LOG_PARTS)
    # One child's log is short: the two filters are applied here, on what the store's window gave.
    kept = [e for e in entries if (organisation is None or e.organisation_id == organisation)
            and (purpose is None or e.purpose == purpose)]
    return AuditLog(child_id=child_id, entries=[entry_out(e) for e in kept])


async def find_child(hub: Hub, principal: Principal, typed: str) -> uuid.UUID:
    """The child with this personnummer, as the coordinators find one (``reads.find_child``),
    for an auditor, who may review any child, or an administrator answering a request for a
    register extract: ``NotFound`` if nobody has the number. Every lookup is logged (purpose
    "search"), hit or miss, without the number."""
    if not any(access.role_allows(principal.role, need) for need in (Need.AUDIT, Need.ADMIN)):
        raise errors.Forbidden()
    try:
        pnr = typed_personnummer(typed, hub.now())
    except errors.Rejected:
        await record_reads(hub, principal, [NOBODY], publishing.SEARCH, (MALFORMED,))
        raise
    child_id = await hub.run(hub.registry.find, pnr)
    await record_reads(hub, principal, [child_id or NOBODY], publishing.SEARCH,
                       FOUND_PARTS if child_id else (NO_MATCH,))
    if child_id is None:
        raise errors.NotFound()
    return child_id


async def emergency_accesses(hub: Hub, principal: Principal, since: dt.datetime | None = None,
                             until: dt.datetime | None = None,
                             shown: ReviewFilter = ReviewFilter.ALL) -> EmergencyAccessReviews:
    """Emergency accesses opened in the window, with their reviews (comments opened now), overdue first."""
    require_role(principal, Need.AUDIT)
    found = await hub.run(reviews.listing, hub, since, until, shown, hub.now())
    children = list(dict.fromkeys(e.child_id for e in found.entries))
    await record_reads(hub, principal, children, publishing.AUDIT, EMERGENCY_PARTS)
    return found


# -- history ------------------------------------------------------------------------------------------

def _value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return utc(value).isoformat()  # type: ignore[union-attr]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    if isinstance(value, tuple | list):
        return [_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _sealed(sealed: Any) -> str:
    if sealed is None:
        return "none"
    if isinstance(sealed, Erased):
        return "erased"
    if isinstance(sealed, Personal):
        return "opened"
    return "sealed"


def history_entry_out(entry: Any, protected: bool = False) -> HistoryEntryOut:
    event, env = entry.event, entry.event.envelope
    fields = {f.name: _value(getattr(event, f.name)) for f in dataclasses.fields(event)
              if f.name != "envelope" and not (protected and f.name in views.RESIDENCE_FIELDS)}
    return HistoryEntryOut(
        topic=entry.topic, partition=entry.partition, offset=entry.offset, recorded_at=utc(entry.recorded_at),
        occurred_at=utc(env.occurred_at), event_id=env.event_id, type=entry.type_name, source_system=env.source.system,
        source_org=env.source.organisation_id, basis=str(env.basis.value), category=str(env.category.value),
        area=None if env.area is None else env.area.value, sealed=_sealed(env.sealed), fields=fields,
    )


async def history(hub: Hub, principal: Principal, child_id: uuid.UUID, offset: int = 0,
                  limit: int = HISTORY_PAGE_DEFAULT) -> HistoryPage:
    """One page of every event of the child on every topic, oldest first. Sealed personal data
    is not opened: the plain codec leaves it sealed (the auditor sees that it is there, not
    what it says). The log is read whole either way (a child's events sit in one partition of
    each topic), so a page costs the same read and only what is returned is smaller."""
    require_role(principal, Need.AUDIT)
    entries: Sequence[Any] = await hub.history.child_history(hub.settings, hub.fact_codec, child_id)
    await record_reads(hub, principal, [child_id], publishing.AUDIT, HISTORY_PARTS)
    protected = await hub.run(_protected, hub, child_id)  # where it lives is never shown, to auditors neither
    shown = entries[offset:offset + limit]
    return HistoryPage(child_id=child_id, entries=[history_entry_out(e, protected) for e in shown], offset=offset,
                       limit=limit, total=len(entries))


def _protected(hub: Hub, child_id: uuid.UUID) -> bool:
    with hub.reader.reading() as reads:
        row = reads.child(child_id)
    return row is not None and person.is_protected(row)


async def plan_as_seen(hub: Hub, principal: Principal, child_id: uuid.UUID, viewer_org: str,
                       at: dt.datetime) -> SeenPlanOut:
    """The plan as ``viewer_org`` could see it at ``at``: folded from the log up to ``at``; first
    whether the organisation could open the child then at all, then the facts and the plan's text
    filtered by the one visibility function (``services.readmodel.history.plan_as_seen``)."""
    require_role(principal, Need.AUDIT)
    grants = await hub.run(hub.reader.emergency_grants, at, child_id=child_id)
    seen = await hub.history.plan_as_seen(hub.settings, hub.codec, child_id, viewer_org, at, grants)
    await record_reads(hub, principal, [child_id], publishing.AUDIT, AS_SEEN_PARTS)
    d, state = hub.directory, seen.state
    if not seen.decision.allowed:
        return SeenPlanOut(child_id=child_id, viewer_org=viewer_org, at=at, could_open=False, access=None,
                           named_person=None, named_person_rule="", lead=None, participants=[], plan=None, areas=[],
                           facts_without_area=[], meetings=[], follow_ups=[], consents=[])
    plan = state.plan
    fact_views = [views.fact_out(f, d, hub.fact_codec, protected=state.person.protected) for f in seen.facts]
    shows = access.plan_text_shown(child_id, viewer_org, at, seen.consents, seen.decision)
    parts = views.parts_of_rows(PlanRows.folded(plan, child_id), d, shows)  # as the live page builds them
    areas, loose, plan_follow_ups = views.areas(parts, fact_views)
    return SeenPlanOut(
        child_id=child_id, viewer_org=viewer_org, at=at, could_open=True, access=str(seen.decision.ground),
        named_person=views.org(d, seen.named_person.organisation_id),
        named_person_rule=seen.named_person.rule, lead=views.org(d, plan.lead),
        participants=views.orgs(d, plan.participants),
        plan=views.plan_info(plan.plan_id, plan.status, plan.opened_by_org, plan.opened_at, plan.closed_at, d),
        areas=areas, facts_without_area=loose, meetings=parts.meetings, follow_ups=plan_follow_ups, sip=parts.sip,
        consents=[views.consent_out(c, at, d, child_grants_from=hub.settings.consent_child_age) for c in seen.consents],
    )
