"""The coordinator's to-do list: what waits on the caller's organisation, from the read model.

* **Kallelser to answer:** meetings ahead whose invited organisations include it, that it did not
  call itself and has not answered.
* **Meetings this week** (Monday to Sunday in Sweden) it is invited to or called.
* **Follow-ups** due within a week or overdue and not held, in open plans it leads (with no lead
  decided yet: the plans it opened).
* **Actions** it is responsible for, past their due date and still planned or ongoing, in open plans.
* **Reports of concern** (social services only) routed to its municipality and not acknowledged.

Plan items are kept only for children the organisation may open (``access.org_ground``: named
person, lead, or participant under a valid consent); an emergency access is one person's, for
one purpose, and puts nothing on an organisation's list. Items carry the child's pseudonymous id,
the area and the dates, never a name or the plan's text. ``collect`` needs no request: the
reminders (``services.reminders``) count the same list for every organisation.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection, Engine, and_, or_, select

from projections import access
from projections.access import Need
from projections.consent_rules import start_of, swedish_day
from projections.plan import AGREED, ONGOING, OPEN
from projections.read_model import (
    actions,
    children,
    concern_reports,
    follow_up_reviews,
    follow_ups,
    invitation_answers,
    invitations,
)
from schemas.codec import Codec
from schemas.county import SOCIAL
from services.api import publishing, reads, views
from services.api import reports as report_service
from services.api.auth.callers import api_principal, hub_of, known_query
from services.api.auth.tokens import Principal
from services.api.orgs import OrgDirectory
from services.api.routes import LIST
from services.api.store import ChildReads, ChildRow, utc
from services.api.todo_models import ActionItem, FollowUpItem, InvitationItem, ReportItem, TodoList
from services.api.wiring import Hub

PAGE = "/ui/att-gora"  # the page the reminders link to
TODO_PARTS = ("todo",)  # what of a child the list shows, as the access log records it
FOLLOW_UP_AHEAD = dt.timedelta(days=7)
OPEN_ACTION = (AGREED, ONGOING)


def plan_link(child_id: uuid.UUID) -> str:
    return f"/ui/children/{child_id}"


def report_link(report_id: uuid.UUID) -> str:
    return f"/ui/reports-of-concern/{report_id}"


@dataclass(frozen=True)
class Week:
    """The Swedish day of ``at`` and its week, Monday 00:00 to the next Monday 00:00 in Sweden."""

    today: dt.date
    monday: dt.date

    @classmethod
    def of(cls, at: dt.datetime) -> Week:
        today = swedish_day(at)
        return cls(today, today - dt.timedelta(days=today.weekday()))

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def starts(self) -> dt.datetime:
        return start_of(self.monday)

    @property
    def ends(self) -> dt.datetime:
        return start_of(self.monday + dt.timedelta(days=7))


def _json_member(column: Any, org: str) -> Any:
    """``org`` in a JSON list column (narrows only: the list is parsed again in Python)."""
    like = '%"' + org.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    return column.like(like, escape="\\")


_LIVE = children.c.merged_into.is_(None)
_PLAN_OPEN = and_(children.c.plan_status == OPEN, _LIVE)


def _invitations(c: Connection, org: str, week: Week) -> list[Any]:
    i, a = invitations.c, invitation_answers.c
    mine = and_(a.meeting_id == i.meeting_id, a.child_id == i.child_id, a.invitee_org == org)
    query = (select(i.meeting_id, i.child_id, i.starts_at, i.invited_orgs, i.written_by, a.answer)
             .select_from(invitations.join(children, children.c.child_id == i.child_id)
                          .outerjoin(invitation_answers, mine))
             .where(_LIVE, i.starts_at >= week.starts, or_(_json_member(i.invited_orgs, org), i.written_by == org))
             .order_by(i.starts_at, i.meeting_id))
    return c.execute(query).all()


def _follow_ups(c: Connection, org: str, week: Week) -> list[Any]:
    f, r, ch = follow_ups.c, follow_up_reviews.c, children.c
    held = and_(r.follow_up_id == f.follow_up_id, r.child_id == f.child_id)
    leads = or_(ch.lead_org == org, and_(ch.lead_org.is_(None), ch.plan_opened_by == org))
    query = (select(f.follow_up_id, f.child_id, f.area, f.due_on)
             .select_from(follow_ups.join(children, ch.child_id == f.child_id).outerjoin(follow_up_reviews, held))
             .where(_PLAN_OPEN, leads, r.follow_up_id.is_(None), f.due_on <= week.today + FOLLOW_UP_AHEAD)
             .order_by(f.due_on, f.follow_up_id))
    return c.execute(query).all()


def _actions(c: Connection, org: str, week: Week) -> list[Any]:
    t = actions.c
    query = (select(t.action_id, t.child_id, t.area, t.due_on, t.status)
             .select_from(actions.join(children, children.c.child_id == t.child_id))
             .where(_PLAN_OPEN, t.responsible_org == org, t.due_on < week.today, t.status.in_(OPEN_ACTION))
             .order_by(t.due_on, t.action_id))
    return c.execute(query).all()


def _openable(c: Connection, org: str, child_ids: Iterable[str], at: dt.datetime) -> set[str]:
    """The children among ``child_ids`` that ``org`` may open at ``at``."""
    ids = sorted(set(child_ids))
    rows: list[ChildRow] = []
    for first in range(0, len(ids), 500):
        query = select(children).where(children.c.child_id.in_(ids[first:first + 500]))
        rows += [ChildRow.of(r) for r in c.execute(query)]
    consents = ChildReads(c).consents_of(r.child_id for r in rows)
    return {str(r.child_id) for r in rows
            if access.org_ground(org, r.scope, consents.get(r.child_id, []), (), at) is not None}


def _reports(c: Connection, codec: Codec, municipality: str) -> list[ReportItem]:
    t = concern_reports.c
    query = (select(t.child_id, t.acute, t.reported_at, t.report)
             .where(t.filed_in_hub.is_(True), t.municipality_code == municipality, t.acknowledged_at.is_(None))
             .order_by(t.acute.desc(), t.reported_at.desc(), t.report_id).limit(report_service.LIST_MAX))
    out = []
    for row in c.execute(query):
        report_id = report_service.report_id_of(codec, row.report)
        if report_id is not None:  # an unreadable one is logged by the inbox, which lists it too
            out.append(ReportItem(child_id=uuid.UUID(row.child_id), link=report_link(report_id), report_id=report_id,
                                  acute=bool(row.acute), reported_at=utc(row.reported_at)))
    return out


def collect(engine: Engine, directory: OrgDirectory, codec: Codec, org: str, at: dt.datetime) -> TodoList:
    """``org``'s to-do list at ``at``, on one connection."""
    week = Week.of(at)
    with engine.connect() as c:
        meetings, due, late = _invitations(c, org, week), _follow_ups(c, org, week), _actions(c, org, week)
        openable = _openable(c, org, [r.child_id for r in (*meetings, *due, *late)], at)
        municipality = directory.municipality_of(org) if directory.kinds.get(org) == SOCIAL else None
        reports = [] if municipality is None else _reports(c, codec, municipality)
    to_answer, this_week = [], []
    for r in meetings:
        if r.child_id not in openable:
            continue
        invited = org in json.loads(r.invited_orgs)
        starts_at = utc(r.starts_at)
        assert starts_at is not None  # a kallelse always has its time
        item = InvitationItem(child_id=uuid.UUID(r.child_id), link=plan_link(uuid.UUID(r.child_id)),
                              meeting_id=uuid.UUID(r.meeting_id), starts_at=starts_at,
                              called_by=views.org(directory, r.written_by), invited=invited, answer=r.answer)
        if invited and r.answer is None and r.written_by != org and starts_at > at:
            to_answer.append(item)
        if (invited or r.written_by == org) and week.starts <= starts_at < week.ends:
            this_week.append(item)
    follow_up_items = [FollowUpItem(child_id=uuid.UUID(r.child_id), link=plan_link(uuid.UUID(r.child_id)),
                                    follow_up_id=uuid.UUID(r.follow_up_id), area=r.area, due_on=r.due_on,
                                    overdue=r.due_on < week.today) for r in due if r.child_id in openable]
    action_items = [ActionItem(child_id=uuid.UUID(r.child_id), link=plan_link(uuid.UUID(r.child_id)),
                               action_id=uuid.UUID(r.action_id), area=r.area, due_on=r.due_on, status=r.status)
                    for r in late if r.child_id in openable]
    organisation = views.org(directory, org)
    assert organisation is not None
    return TodoList(organisation=organisation, today=week.today, week_starts=week.monday, week_ends=week.sunday,
                    to_answer=to_answer, this_week=this_week, follow_ups=follow_up_items,
                    overdue_actions=action_items, reports=reports,
                    total=len(to_answer) + len(this_week) + len(follow_up_items) + len(action_items) + len(reports))


async def todo_for(hub: Hub, principal: Principal) -> TodoList:
    """The caller's organisation's list; each child on it is a logged read (a report's child with
    the inbox's purpose, as the inbox logs it)."""
    reads.require_role(principal, Need.LIST)
    found = await hub.run(collect, hub.engine, hub.directory, hub.fact_codec, principal.organisation_id, hub.now())
    planned = [i.child_id for i in (*found.to_answer, *found.this_week, *found.follow_ups, *found.overdue_actions)]
    await reads.record_reads(hub, principal, list(dict.fromkeys(planned)), publishing.CARE_PLANNING, TODO_PARTS)
    reported = list(dict.fromkeys(r.child_id for r in found.reports))
    if reported:
        await reads.record_reads(hub, principal, reported, report_service.PURPOSE, report_service.LIST_PARTS)
    return found


router = APIRouter(tags=["children"], dependencies=[Depends(known_query)])


@router.get("/todo", response_model=TodoList, responses=LIST, summary="Att göra")
async def get_todo(request: Request, caller: Annotated[Principal, Depends(api_principal)]) -> TodoList:
    """What waits on the caller's organisation: kallelser to answer, this week's meetings,
    follow-ups due, actions past due and (social services) reports of concern to acknowledge."""
    return await todo_for(hub_of(request), caller)
