"""Consents as intervals, and the one visibility function (DESIGN §6, Consent).

Pure code, no I/O. The gate, the read side and the auditors' time travel all ask the same
question -- may organisation R see fact F at time T? -- and all answer it here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from uuid import UUID

from projections.consent_rules import CHILD_GRANTS_FROM, Lapse, Register, lapse
from schemas.events import Area, Basis, Category, ConsentGranted, ConsentWithdrawn, Event, Grantor


@dataclass(frozen=True, slots=True)
class Consent:
    """One consent's scope and the interval in which it is active.

    ``source_organisations`` and ``areas`` of None mean all. A consent is active from
    ``valid_from`` until the earliest of ``valid_to``, its withdrawal and its lapse, end
    exclusive. ``lapsed_at`` is set by ``judged`` from the child's register (the grantors no
    longer include every party required from then on); a consent as registered has none.
    """

    consent_id: UUID
    child_id: UUID
    categories: frozenset[Category]
    recipients: frozenset[str]
    valid_from: dt.datetime
    valid_to: dt.datetime
    source_organisations: frozenset[str] | None = None
    areas: frozenset[Area] | None = None
    withdrawn_at: dt.datetime | None = None
    grantors: frozenset[Grantor] = frozenset()
    granted_at: dt.datetime | None = None  # when it was registered; None: at ``valid_from``
    lapsed_at: dt.datetime | None = None
    lapse: Lapse | None = None
    obtained: str | None = None  # how the grant was obtained (ConsentObtained), for the record
    registered_by: str | None = None  # the user who registered it

    @property
    def ends_at(self) -> dt.datetime:
        return min(t for t in (self.valid_to, self.withdrawn_at, self.lapsed_at) if t is not None)

    def active_at(self, at: dt.datetime) -> bool:
        return self.valid_from <= at < self.ends_at

    def covers(self, source_org: str, category: Category, area: Area | None) -> bool:
        """Whether the scope covers a fact from ``source_org`` of ``category`` in ``area``."""
        if category not in self.categories:
            return False
        if self.source_organisations is not None and source_org not in self.source_organisations:
            return False
        # A fact with no area is covered only by a consent that covers every area.
        return self.areas is None or (area is not None and area in self.areas)


@dataclass(frozen=True, slots=True)
class FactRef:
    """What visibility needs to know of a fact: who made it, what it is, and its basis."""

    child_id: UUID
    source_org: str
    category: Category
    area: Area | None
    basis: Basis

    @classmethod
    def of(cls, event: Event) -> FactRef:
        env = event.envelope
        return cls(env.child_id, env.source.organisation_id, env.category, env.area, env.basis)


def covering(fact: FactRef, at: dt.datetime, consents: Iterable[Consent], recipient: str | None = None) -> list[Consent]:
    """Consents of the fact's child active at ``at`` whose scope covers the fact, optionally
    only those listing ``recipient``."""
    return [
        c for c in consents
        if c.child_id == fact.child_id
        and c.active_at(at)
        and c.covers(fact.source_org, fact.category, fact.area)
        and (recipient is None or recipient in c.recipients)
    ]


def visible(
    fact: FactRef,
    viewer_org: str,
    at: dt.datetime,
    consents: Iterable[Consent],
    named_person_org: str | None = None,
) -> bool:
    """May ``viewer_org`` see ``fact`` at time ``at``?

    * The producing organisation always sees its own facts.
    * DIRECTORY facts are visible to the producer and the child's named-person organisation.
    * CONSENT and STATUTORY facts (the latter reach social services through their own topic
      regardless; *in the plan* they need consent too) are visible to a recipient of a consent
      active at ``at`` that covers the fact's source organisation, category and area.
    * The plan's own free text (category PLAN: assessments with the child's and the guardians'
      views, meeting notes, actions, follow-ups), written by its ``source_org``, is visible to
      a recipient of any consent of the child active at ``at``: the plan is what a consent
      shares with its participants. ``plan_text`` builds the reference for one such text.
    """
    if viewer_org == fact.source_org:
        return True
    if fact.basis is Basis.DIRECTORY:
        return named_person_org is not None and viewer_org == named_person_org
    if fact.category is Category.PLAN:
        return any(c.child_id == fact.child_id and c.active_at(at) and viewer_org in c.recipients for c in consents)
    return bool(covering(fact, at, consents, recipient=viewer_org))


def plan_text(child_id: UUID, written_by: str | None, area: Area | None = None) -> FactRef:
    """The reference ``visible`` judges a piece of the plan's free text by. Text whose writer is
    not recorded (written before the hub kept it) is nobody's own, so it needs a consent."""
    return FactRef(child_id, written_by or "", Category.PLAN, area, Basis.CONSENT)


# -- the consent fold ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ConsentState:
    """Every consent seen, by id. Folded from the ``consent`` topic."""

    by_id: Mapping[UUID, Consent] = field(default_factory=lambda: MappingProxyType({}))

    def of_child(self, child_id: UUID) -> list[Consent]:
        return [c for c in self.by_id.values() if c.child_id == child_id]


def judged(consent: Consent, register: Register, child_grants_from: int = CHILD_GRANTS_FROM) -> Consent:
    """``consent`` with its lapse as ``register`` tells it (none when the grantors hold throughout)."""
    granted_at = consent.granted_at or consent.valid_from
    found = lapse(register, consent.grantors, granted_at, consent.valid_to, child_grants_from)
    at, why = found if found is not None else (None, None)
    if at == consent.lapsed_at and why == consent.lapse:
        return consent
    return replace(consent, lapsed_at=at, lapse=why)


def consent_of(event: ConsentGranted) -> Consent:
    return Consent(
        consent_id=event.consent_id,
        child_id=event.child_id,
        categories=frozenset(event.categories),
        recipients=frozenset(event.recipients),
        valid_from=event.valid_from,
        valid_to=event.valid_to,
        source_organisations=None if event.source_organisations is None else frozenset(event.source_organisations),
        areas=None if event.areas is None else frozenset(event.areas),
        grantors=frozenset(event.grantors),
        granted_at=event.envelope.occurred_at,
        obtained=None if event.obtained is None else str(event.obtained),
        registered_by=event.registered_by,
    )


def apply(state: ConsentState, event: Event) -> ConsentState:
    """Fold one consent event into the state; other events leave it as it was."""
    if isinstance(event, ConsentGranted):
        consent = consent_of(event)
        return ConsentState(MappingProxyType({**state.by_id, consent.consent_id: consent}))
    if isinstance(event, ConsentWithdrawn):
        known = state.by_id.get(event.consent_id)
        if known is None or known.withdrawn_at is not None:
            return state  # withdrawing the unknown or the already withdrawn changes nothing
        withdrawn = replace(known, withdrawn_at=event.envelope.occurred_at)
        return ConsentState(MappingProxyType({**state.by_id, known.consent_id: withdrawn}))
    return state
