"""The auditors' JSON API (log extracts, emergency accesses and their review, history, time travel)
and the administrators' overview (counts only, no child data)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from projections.access import Need
from projections.audit_review import ReviewFilter
from projections.read_model import DIGEST_TABLES
from services.api import models
from services.api.audit import reads as audit_reads
from services.api.audit import reviews
from services.api.audit.models import EmergencyAccessReviews, ReviewEmergencyAccess
from services.api.auth.callers import api_principal, hub_of, known_query
from services.api.auth.devlogin import dev_login_enabled
from services.api.auth.tokens import Principal
from services.api.reads import require_role
from services.api.routes import ChildId, problems

Caller = Annotated[Principal, Depends(api_principal)]
Since = Annotated[models.Moment | None, Query(description="from this moment (inclusive)")]
Until = Annotated[models.Moment | None, Query(description="until this moment (exclusive)")]
Organisation = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^\S+$",
                                            description="only entries of this organisation (the reader's)")]
Purpose = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^\S+$",
                                      description="only entries with this purpose: a view's purpose (e.g. "
                                                  "care-planning), an emergency access's or an erasure's reason code")]
AUDIT = problems(400, 401, 403, 422, 503)
Shown = Annotated[ReviewFilter, Query(description="all; unreviewed (overdue included); overdue (unreviewed "
                                                  "for more than 14 days)")]
REVIEW: dict[int | str, dict[str, Any]] = {
    **problems(400, 401, 422, 503),
    403: {"model": models.Problem, "description": "not an auditor, or the auditor's own emergency access"},
    404: {"model": models.Problem, "description": "no emergency access with that id in the audit log"},
    409: {"model": models.Problem, "description": "the emergency access has already been reviewed"},
}

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[Depends(known_query)])
admin_router = APIRouter(prefix="/admin", tags=["administration"], dependencies=[Depends(known_query)])


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC)


@router.get("/children/{child_id}/log", response_model=models.AuditLog, responses=AUDIT, summary="Loggutdrag")
async def log_extract(request: Request, caller: Caller, child_id: ChildId, since: Since = None,
                      until: Until = None, organisation: Organisation = None,
                      purpose: Purpose = None) -> models.AuditLog:
    """Every logged access to the child's data (who, role, organisation, purpose, parts, when),
    oldest first; narrowed to a window, an organisation and a purpose if asked."""
    return await audit_reads.log_extract(hub_of(request), caller, child_id, _utc(since), _utc(until),
                                         organisation, purpose)


@router.get("/emergency-access", response_model=EmergencyAccessReviews, responses=AUDIT,
            summary="Nödöppningar att granska")
async def emergency_accesses(request: Request, caller: Caller, since: Since = None, until: Until = None,
                             status: Shown = ReviewFilter.ALL) -> EmergencyAccessReviews:
    """Every emergency access opened in the window, with its review or as unreviewed; unreviewed
    for more than 14 days is overdue. Overdue first, then unreviewed, then reviewed."""
    return await audit_reads.emergency_accesses(hub_of(request), caller, _utc(since), _utc(until), status)


@router.post("/emergency-access/{event_id}/review", status_code=202, response_model=models.Accepted,
             responses=REVIEW, summary="Granska en nödöppning")
async def review_emergency_access(request: Request, caller: Caller, event_id: uuid.UUID,
                                  body: ReviewEmergencyAccess) -> models.Accepted:
    """Mark an emergency access reviewed, with a comment (sealed with the child's key). Auditors
    only, never their own; a second review is refused (409). Listed once the audit log has it."""
    return await reviews.review_emergency_access(hub_of(request), caller, event_id, body)


@router.get("/children/{child_id}/history", response_model=models.HistoryPage, responses=AUDIT,
            summary="Barnets händelsehistorik")
async def history(request: Request, caller: Caller, child_id: ChildId,
                  offset: Annotated[int, Query(ge=0, le=10_000_000, description="events to skip")] = 0,
                  limit: Annotated[int, Query(ge=1, le=models.HISTORY_PAGE_MAX, description="events at most")]
                  = models.HISTORY_PAGE_DEFAULT) -> models.HistoryPage:
    """The child's event history from the log, oldest first, one page at a time (``total``
    counts the whole history); sealed personal data left sealed."""
    return await audit_reads.history(hub_of(request), caller, child_id, offset, limit)


@router.get("/children/{child_id}/as-seen", response_model=models.SeenPlanOut, responses=AUDIT,
            summary="Planen som en organisation såg den")
async def as_seen(request: Request, caller: Caller, child_id: ChildId,
                  org: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^\S+$")],
                  at: Annotated[models.Moment, Query(description="the moment")]) -> models.SeenPlanOut:
    """The plan as organisation ``org`` could see it at ``at`` (time travel)."""
    moment = _utc(at)
    assert moment is not None
    return await audit_reads.plan_as_seen(hub_of(request), caller, child_id, org, moment)


@admin_router.get("/overview", response_model=models.AdminOverview, responses=problems(400, 401, 403, 422),
                  summary="Översikt för administratörer")
async def overview(request: Request, caller: Caller) -> models.AdminOverview:
    """Row counts of the read model: no child data."""
    require_role(caller, Need.ADMIN)
    hub = hub_of(request)
    counts = await hub.run(_counts, hub)
    return models.AdminOverview(tables=counts, dev_login=dev_login_enabled(hub.settings))


def _counts(hub: object) -> dict[str, int]:
    from sqlalchemy import func, select

    with hub.engine.connect() as c:  # type: ignore[attr-defined]
        return {t.name: c.execute(select(func.count()).select_from(t)).scalar_one() for t in DIGEST_TABLES}
