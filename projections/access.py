"""Who may see which child, and which of its facts (DESIGN §6, Consent and Audit; §9).

Pure: no I/O. The web service asks ``decide`` before every read or change of a child and
``visible_facts`` before it shows a fact, so the rule lives in one place and is tested once.

* A **coordinator** sees a child only if their organisation is the child's named person, the
  plan lead, or a plan participant that an active consent lists as a recipient -- or if they
  opened emergency access (*nödöppning*) for that child, which lasts at most seven days and
  lets them read, not change, the plan.
* An **auditor** reads the audit views (log extracts, time travel, history), never the
  coordinators' pages.
* An **administrator** reads no child data at all.

A caller outside a child's scope is told the child is not found (``NOT_FOUND``: the child's
existence is not revealed); a caller whose role does not fit is ``FORBIDDEN``. Neither outcome
carries a reason a caller could learn anything from.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from projections.consents import Consent, FactRef, covering, plan_text, visible
from schemas.events import Area

TextShown = Callable[[str | None, Area | None], bool]

COORDINATOR = "coordinator"
AUDITOR = "auditor"
ADMINISTRATOR = "administrator"

MAX_EMERGENCY = dt.timedelta(days=7)
REASON_CODE_MAX = 40
REASON_CODE = re.compile(r"[A-Z0-9_]+")

NO_REASON = "emergency access needs a reason code (1-{limit} capital letters, digits or underscores)"
TOO_LONG = "emergency access lasts at most {days} days"
TOO_SHORT = "emergency access must last a positive time"


class Need(enum.StrEnum):
    """What a request wants to do."""

    LIST = "list"  # the coordinator's own children, the municipality's gaps list
    READ = "read"  # a child's plan, facts and consents
    WRITE = "write"  # plan commands and consents
    TRANSFER = "transfer"  # move the named-person task
    EMERGENCY = "emergency"  # open emergency access to a child outside the scope
    AUDIT = "audit"  # log extracts, time travel, history
    ADMIN = "admin"  # administration, no child data


class Ground(enum.StrEnum):
    """Why a coordinator may see a child."""

    NAMED_PERSON = "named_person"
    LEAD = "lead"
    PARTICIPANT = "participant"
    EMERGENCY = "emergency"
    # From 18 to 19, the named person until 18: to register the young person's own consent
    # and open the plan that continues on it (DESIGN §6, named person rule 6). Reads show
    # only what consents allow, like a participant's.
    YOUNG_PERSON = "young_person"


class Outcome(enum.StrEnum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"  # the role does not fit: 403
    NOT_FOUND = "not_found"  # outside the scope, or no such child: 404, existence not revealed


ROLE_NEEDS: dict[str, frozenset[Need]] = {
    COORDINATOR: frozenset({Need.LIST, Need.READ, Need.WRITE, Need.TRANSFER, Need.EMERGENCY}),
    AUDITOR: frozenset({Need.AUDIT}),
    ADMINISTRATOR: frozenset({Need.ADMIN}),
}
CHILD_NEEDS = frozenset({Need.READ, Need.WRITE, Need.TRANSFER})
TRANSFER_GROUNDS = frozenset({Ground.NAMED_PERSON, Ground.LEAD})


class Viewer(Protocol):
    """A caller, as the access rules see it (``services.api.auth.tokens.Principal`` is one)."""

    @property
    def subject(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def organisation_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ChildScope:
    """What decides who sees a child: its named person, its plan's lead and participants."""

    child_id: UUID
    named_person_org: str | None = None
    lead_org: str | None = None
    participants: frozenset[str] = frozenset()
    young_person_org: str | None = None  # see ``Ground.YOUNG_PERSON``


@dataclass(frozen=True, slots=True)
class EmergencyGrant:
    """One opened emergency access: for one coordinator of one organisation, to one child."""

    child_id: UUID
    viewer_id: str
    organisation_id: str
    opened_at: dt.datetime
    expires_at: dt.datetime

    def active_at(self, at: dt.datetime) -> bool:
        """Never longer than ``MAX_EMERGENCY``, whatever the recorded expiry says."""
        return self.opened_at <= at < min(self.expires_at, self.opened_at + MAX_EMERGENCY)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    ground: Ground | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED

    @property
    def emergency(self) -> bool:
        return self.ground is Ground.EMERGENCY


FORBIDDEN = Decision(Outcome.FORBIDDEN)
NOT_FOUND = Decision(Outcome.NOT_FOUND)
ALLOWED = Decision(Outcome.ALLOWED)


def role_allows(role: str, need: Need) -> bool:
    return need in ROLE_NEEDS.get(str(role), frozenset())


def ground(viewer: Viewer, child: ChildScope, consents: Iterable[Consent], grants: Iterable[EmergencyGrant],
           at: dt.datetime) -> Ground | None:
    """Why ``viewer`` may see ``child`` at ``at``, or None: the first ground that holds. An
    emergency access is the person's who opened it."""
    return org_ground(viewer.organisation_id, child, consents,
                      [g for g in grants if g.viewer_id == viewer.subject], at)


def org_ground(org: str, child: ChildScope, consents: Iterable[Consent], grants: Iterable[EmergencyGrant],
               at: dt.datetime) -> Ground | None:
    """Why organisation ``org`` could open ``child`` at ``at`` -- as named person, as plan lead,
    as a participant a consent valid at ``at`` lists, or through an emergency access one of its
    coordinators had open at ``at`` -- or None. The auditors' time travel asks this of the past
    with the same rules the live service asks of now."""
    if child.named_person_org is not None and org == child.named_person_org:
        return Ground.NAMED_PERSON
    if child.lead_org is not None and org == child.lead_org:
        return Ground.LEAD
    if org in child.participants and any(
        c.child_id == child.child_id and c.active_at(at) and org in c.recipients for c in consents
    ):
        return Ground.PARTICIPANT
    if child.young_person_org is not None and org == child.young_person_org:
        return Ground.YOUNG_PERSON
    if any(g.child_id == child.child_id and g.organisation_id == org and g.active_at(at) for g in grants):
        return Ground.EMERGENCY
    return None


def decide(viewer: Viewer, need: Need, child: ChildScope | None = None, consents: Iterable[Consent] = (),
           grants: Iterable[EmergencyGrant] = (), at: dt.datetime | None = None) -> Decision:
    """May ``viewer`` do ``need`` (to ``child``, if it is about one) at ``at``?

    ``child`` is None when the child is unknown. The role is checked first, so a role mismatch
    is FORBIDDEN whether or not the child exists.
    """
    if not role_allows(viewer.role, need):
        return FORBIDDEN
    if need not in CHILD_NEEDS and need is not Need.EMERGENCY:
        return ALLOWED  # lists filter by scope themselves; audit and admin need no child scope
    if child is None:
        return NOT_FOUND
    if need is Need.EMERGENCY:
        return ALLOWED  # any coordinator, with a reason, logged: that is what emergency access is
    if at is None:
        raise ValueError("a decision about a child needs the moment it is made")
    why = ground(viewer, child, consents, grants, at)
    if why is None:
        return NOT_FOUND
    if need is not Need.READ and why is Ground.EMERGENCY:
        return FORBIDDEN  # emergency access reads; it does not change the plan
    if need is Need.TRANSFER and why not in TRANSFER_GROUNDS:
        return FORBIDDEN
    return Decision(Outcome.ALLOWED, why)


def in_scope(viewer: Viewer, child: ChildScope, consents: Iterable[Consent], grants: Iterable[EmergencyGrant],
             at: dt.datetime) -> bool:
    """Whether ``child`` belongs on the coordinator's list."""
    return decide(viewer, Need.READ, child, consents, grants, at).allowed


def may_see_gaps(viewer: Viewer, viewer_municipality: str | None, municipality_code: str) -> bool:
    """A municipality's gaps list (children who should have a named person and have none) is for
    the coordinators of organisations in that municipality, who are to close the gaps."""
    return (role_allows(viewer.role, Need.LIST) and viewer_municipality is not None
            and viewer_municipality == municipality_code)


class HasRef(Protocol):
    @property
    def ref(self) -> FactRef: ...


F = TypeVar("F", bound=HasRef)


def visible_facts(facts: Iterable[F], viewer_org: str, at: dt.datetime, consents: Sequence[Consent],
                  named_person_org: str | None, decision: Decision) -> list[F]:
    """The facts the viewer may see at ``at``, in the given order.

    Normally the one visibility function (``projections.consents.visible``) decides. Under
    emergency access the legal basis is the emergency itself: every fact some consent active at
    ``at`` still covers is shown -- the facts that are lawfully in the plan now -- and no other.
    """
    if not decision.allowed:
        return []
    if decision.emergency:
        return [f for f in facts if covering(f.ref, at, consents)]
    return [f for f in facts if visible(f.ref, viewer_org, at, consents, named_person_org)]


def plan_text_shown(child_id: UUID, viewer_org: str, at: dt.datetime, consents: Sequence[Consent],
                    decision: Decision) -> TextShown:
    """Whether the viewer may read a piece of the plan's free text, by its writer and area: their
    own always, another organisation's while a consent active at ``at`` lists the viewer
    (``projections.consents.visible``). Under emergency access, as for facts, what is lawfully
    shared in the plan now: text, while some consent of the child is active."""
    if not decision.allowed:
        return lambda writer, area: False
    if decision.emergency:
        shared = any(c.child_id == child_id and c.active_at(at) for c in consents)
        return lambda writer, area: shared
    return lambda writer, area: visible(plan_text(child_id, writer, area), viewer_org, at, consents)


def emergency_problems(reason_code: object, duration: dt.timedelta) -> list[str]:
    """Why an emergency access request is refused; empty when it may be opened."""
    out = []
    if not isinstance(reason_code, str) or len(reason_code) > REASON_CODE_MAX or not REASON_CODE.fullmatch(reason_code):
        out.append(NO_REASON.format(limit=REASON_CODE_MAX))
    if duration <= dt.timedelta(0):
        out.append(TOO_SHORT)
    elif duration > MAX_EMERGENCY:
        out.append(TOO_LONG.format(days=MAX_EMERGENCY.days))
    return out
