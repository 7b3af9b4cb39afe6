"""What the coordinator's to-do list (``GET /todo``, ``/ui/att-gora``) answers.

Each item names the child by its pseudonymous id only, with the area and the dates: never a
name, a personnummer or any of the plan's free text, so the list shows less than the plan page
it links to would show the same caller.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from services.api.models import OrgOut


class ChildItem(BaseModel):
    child_id: uuid.UUID = Field(description="the child's pseudonymous id")
    link: str = Field(description="the page the item is done on: the child's plan, or the report")


class InvitationItem(ChildItem):
    """A kallelse to a collaboration meeting (SIP)."""

    meeting_id: uuid.UUID
    starts_at: dt.datetime
    called_by: OrgOut | None = Field(None, description="the organisation that wrote the kallelse")
    invited: bool = Field(description="the caller's organisation is among the invited")
    answer: str | None = Field(None, description="its answer, COMING / NOT_COMING / SENDS_SOMEONE; none yet: null")


class FollowUpItem(ChildItem):
    """A follow-up of a plan the caller's organisation leads, due within a week or overdue."""

    follow_up_id: uuid.UUID
    area: str | None
    due_on: dt.date
    overdue: bool


class ActionItem(ChildItem):
    """An action the caller's organisation is responsible for, past its due date and not done."""

    action_id: uuid.UUID
    area: str
    due_on: dt.date
    status: str = Field(description="agreed (planned) or ongoing")


class ReportItem(ChildItem):
    """A report of concern routed to the caller's social services and not yet acknowledged."""

    report_id: uuid.UUID
    acute: bool
    reported_at: dt.datetime | None


class TodoList(BaseModel):
    organisation: OrgOut
    today: dt.date = Field(description="the day in Sweden the list was made for")
    week_starts: dt.date = Field(description="Monday of this week (Europe/Stockholm)")
    week_ends: dt.date = Field(description="Sunday of this week")
    to_answer: list[InvitationItem] = Field(description="kallelser to the organisation not answered yet, ahead")
    this_week: list[InvitationItem] = Field(description="meetings this week it is invited to or called")
    follow_ups: list[FollowUpItem]
    overdue_actions: list[ActionItem]
    reports: list[ReportItem] = Field(description="social services only: reports of concern to acknowledge")
    total: int = Field(description="the number of items on the list")
