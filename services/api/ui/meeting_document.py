"""The plan as a meeting document (a SIP's first page): what a family and the organisations need
to see first -- concerns, who does what, who takes part, when we meet next.

Pure: it reads a ``PlanView`` as the viewer may see it and picks, it never fetches. The plan page
and the printable plan both show what this returns, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from projections.consent_rules import swedish_day
from services.api.models import ActionOut, AreaOut, FollowUpOut, InvitationOut, ParticipantOut, PlanView

CONCERN_UP_TO = 2  # ratings 1-2 are concerns (sv.RATING: "stor oro", "oro")
ACTIVE = ("agreed", "ongoing")  # planned or under way: what the plan asks of someone now
WHOLE_PLAN = "hela planen"


@dataclass(frozen=True)
class AreaNow:
    """An assessed area: its latest rating and comment, whether it is a concern, and the needs
    its actions answer (the goals, in the family's words where the plan has them)."""

    area: AreaOut
    rating: int
    comment: str | None
    concern: bool
    goals: tuple[str, ...]


@dataclass(frozen=True)
class NextFollowUp:
    follow_up: FollowUpOut
    about: str  # the area's label, or the whole plan


@dataclass(frozen=True)
class Document:
    areas: tuple[AreaNow, ...]
    actions: tuple[ActionOut, ...]  # planned and ongoing, in the wheel's order
    participants: tuple[ParticipantOut, ...]  # active ones
    lead: ParticipantOut | None  # the lead organisation's part, with its contact, if recorded
    next_meeting: InvitationOut | None
    next_follow_up: NextFollowUp | None
    revision: int

    @property
    def concerns(self) -> tuple[AreaNow, ...]:
        return tuple(a for a in self.areas if a.concern)


def next_meeting(view: PlanView) -> InvitationOut | None:
    """The earliest kallelse to a meeting not yet held that starts from now on."""
    coming = [i for i in view.sip.invitations if not i.held and i.starts_at >= view.read_at]
    return min(coming, key=lambda i: i.starts_at, default=None)


def next_follow_up(view: PlanView, today: dt.date | None = None) -> NextFollowUp | None:
    """The earliest follow-up due today or later that has not been held, of an area or the whole plan."""
    today = today or swedish_day(view.read_at)
    held = {r.follow_up_id for r in view.sip.reviews}
    due = [NextFollowUp(f, a.label) for a in view.areas for f in a.follow_ups]
    due += [NextFollowUp(f, WHOLE_PLAN) for f in view.follow_ups]
    due = [n for n in due if n.follow_up.due_on >= today and n.follow_up.follow_up_id not in held]
    return min(due, key=lambda n: n.follow_up.due_on, default=None)


def document(view: PlanView) -> Document:
    areas = tuple(AreaNow(
        area=a, rating=a.assessment.rating, comment=a.assessment.comment, concern=a.assessment.rating <= CONCERN_UP_TO,
        goals=tuple(act.need for act in a.actions if act.need and act.status in ACTIVE))
        for a in view.areas if a.assessment is not None)
    participants = tuple(p for p in view.sip.participants if p.active)
    lead_id = view.lead.id if view.lead else None
    return Document(
        areas=areas, actions=tuple(act for a in view.areas for act in a.actions if act.status in ACTIVE),
        participants=participants, lead=next((p for p in participants if p.organisation.id == lead_id), None),
        next_meeting=next_meeting(view), next_follow_up=next_follow_up(view), revision=view.sip.revision)
