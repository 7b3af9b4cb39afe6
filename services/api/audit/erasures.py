"""Erasure through the web service: the administrators' request, and the auditors' list.

``POST /admin/children/{child_id}/erasure`` erases a child (administrators only), with the same
rules as ``kronobarn keys erase`` (``services.erasure.erase``): a known reason code and a
justification, a child the hub holds, not yet erased; anything else is a 4xx that changes
nothing. ``GET /audit/erasures`` lists every erasure the audit log holds, with who, why (the
justification opened with the audit key) and when; listing them is itself a logged read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from projections.access import Need
from projections.audit import AuditEntry, utc
from services.api import errors, publishing
from services.api.auth.callers import api_principal, hub_of, known_query
from services.api.auth.tokens import Principal
from services.api.models import Body, Moment, Problem, String
from services.api.reads import PUBLISH_FAILURES, record_reads, require_role
from services.api.routes import ChildId, problems
from services.api.wiring import Hub
from services.erasure.audit_text import AuditText
from services.erasure.erase import REASONS, Eraser, ErasureRefused, erase
from services.erasure.watch import BOUND_S
from services.readmodel.engine import read_model
from services.sql.keystore import SqlKeyStore, master_key_from

ERASURE_PARTS = ("erasure-log",)
Reason = Annotated[String, Field(min_length=1, max_length=40, pattern=r"^[A-Z0-9_]+$",
                                 description="one of: " + ", ".join(REASONS))]


class EraseChild(Body):
    reason_code: Reason
    justification: Annotated[String, Field(min_length=1, max_length=2_000,
                                           description="why, in words; kept in the audit log under the audit key")]


class ErasureDone(BaseModel):
    child_id: uuid.UUID = Field(description="the surviving id")
    child_ids: list[uuid.UUID] = Field(description="every id erased: the surviving id and the ids merged into it")
    event_id: uuid.UUID = Field(description="the ChildDataErased in the audit log")
    erased_at: dt.datetime
    keys_deleted: int
    effective_within_s: float = Field(description="every running process has let go of the child within this")


class ErasureOut(BaseModel):
    event_id: uuid.UUID
    seq: int
    erased_at: dt.datetime
    child_id: uuid.UUID
    child_ids: list[uuid.UUID]
    administrator_id: str
    role: str
    organisation_id: str
    reason_code: str
    reason: str = Field(description="the reason code in Swedish")
    justification: str | None = Field(description="opened with the audit key; null if it does not open")


class Erasures(BaseModel):
    erasures: list[ErasureOut]


REFUSED_SV = {400: "Raderingen behöver ett giltigt skäl och en motivering.", 404: "Hubben har inget om det barnet.",
              409: "Barnet är redan raderat."}


class Refused(errors.ApiError):
    """An erasure not made (nothing changed): the reason for programs, a message for people."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__([reason], REFUSED_SV.get(status))
        self.status = status


admin_router = APIRouter(prefix="/admin", tags=["administration"], dependencies=[Depends(known_query)])
router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[Depends(known_query)])
Caller = Annotated[Principal, Depends(api_principal)]
ERASE = {**problems(400, 401, 403, 404, 422, 503),
         409: {"model": Problem, "description": "the child is already erased"}}


@admin_router.post("/children/{child_id}/erasure", response_model=ErasureDone, responses=ERASE,
                   summary="Radera ett barn")
async def erase_child(request: Request, caller: Caller, child_id: ChildId, body: EraseChild) -> ErasureDone:
    """Erase the child for good (crypto-shredding), every id of it, logged in the audit log first.
    Administrators only. Final: the child's sealed data reads as erased everywhere."""
    return await erase_as(hub_of(request), caller, child_id, body.reason_code, body.justification)


async def erase_as(hub: Hub, caller: Principal, child_id: uuid.UUID, reason_code: str, justification: str) -> ErasureDone:
    require_role(caller, Need.ADMIN)
    master = master_key_from(hub.settings)
    eraser = Eraser(caller.subject, str(caller.role), caller.organisation_id)
    try:
        done = await erase(hub.engine, SqlKeyStore(hub.engine, master), read_model(hub.engine, hub.settings),
                           AuditText(master), hub.publish, eraser, child_id, reason_code, justification, hub.now())
    except ErasureRefused as refused:
        raise Refused(refused.status, str(refused)) from None
    except PUBLISH_FAILURES:
        raise errors.Unavailable() from None
    return ErasureDone(child_id=done.child_id, child_ids=list(done.child_ids), event_id=done.event_id,
                       erased_at=done.erased_at, keys_deleted=done.keys_deleted, effective_within_s=BOUND_S)


@router.get("/erasures", response_model=Erasures, responses=problems(400, 401, 403, 422, 503),
            summary="Raderade barn")
async def erasures(request: Request, caller: Caller,
                   since: Annotated[Moment | None, Query(description="from this moment (inclusive)")] = None,
                   until: Annotated[Moment | None, Query(description="until this moment (exclusive)")] = None,
                   organisation: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^\S+$",
                                                             description="only those by this organisation")] = None,
                   reason_code: Annotated[str | None, Query(min_length=1, max_length=40, pattern=r"^[A-Z0-9_]+$",
                                                            description="only those for this reason")] = None,
                   ) -> Erasures:
    """Every erasure in the audit log, oldest first: who, why, when, and every id erased."""
    return await erasure_list(hub_of(request), caller, since, until, organisation, reason_code)


async def erasure_list(hub: Hub, caller: Principal, since: dt.datetime | None = None,
                       until: dt.datetime | None = None, organisation: str | None = None,
                       reason_code: str | None = None) -> Erasures:
    require_role(caller, Need.AUDIT)
    listed = await hub.run(hub.reader.audit.erasures, since and utc(since), until and utc(until))
    found = [e for e in listed if organisation in (None, e.organisation_id) and reason_code in (None, e.purpose)]
    await record_reads(hub, caller, list(dict.fromkeys(e.child_id for e in found)), publishing.AUDIT, ERASURE_PARTS)
    text = AuditText(master_key_from(hub.settings))
    return Erasures(erasures=[_out(e, text) for e in found])


def _out(entry: AuditEntry, text: AuditText) -> ErasureOut:
    return ErasureOut(
        event_id=entry.event_id, seq=entry.seq, erased_at=utc(entry.occurred_at), child_id=entry.child_id,
        child_ids=[uuid.UUID(p) for p in entry.parts], administrator_id=entry.viewer_id, role=entry.role,
        organisation_id=entry.organisation_id, reason_code=entry.purpose,
        reason=REASONS.get(entry.purpose, entry.purpose),
        justification=None if entry.sealed is None else text.open(entry.event_id, entry.sealed),
    )
