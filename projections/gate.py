"""The consent gate's decisions, as a pure fold over one child's facts and consents (DESIGN §6).

No I/O: the Faust agents in ``services`` feed it facts, consent events and clock ticks, and
publish what it returns. Its promise: a CONSENT fact (and a STATUTORY one, for the plan) is
released only while an active consent covers its source organisation, category and area;
otherwise it is held, in arrival order, until one does. When the last covering consent ends,
the release is revoked and the fact held again; while it stays covered but by other consents,
it is released again with the new consent ids, so ``shared`` always names what covers a fact. DIRECTORY facts pass for named-person
assignment; STATUTORY facts also go to social services whatever the consent says.
Redelivered facts (same event id) change nothing, so at-least-once delivery is safe: a fact
the state already holds or has released is recognised from the state itself, so nothing
beyond the state has to be persisted for the check to survive a restart.

A consent is active only while the grantors include every party the register requires
(``consent_rules``): the gate folds the child's register facts (birth, custody, pregnancy,
death, emigration) into its state and judges each consent against them, so a 15th or 18th
birthday, a custody change, a birth, a death or an emigration ends a consent by itself, like its
``valid_to`` -- a birthday at the next clock tick, a register change as soon as it arrives. After
a death or an emigration no consent is active, so nothing is released; what was released under a
consent that lapsed is revoked, as at any lapse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from uuid import UUID

from projections import population
from projections.consent_rules import CHILD_GRANTS_FROM
from projections.consents import Consent, FactRef, covering, judged
from projections.population import Resident
from schemas.events import (
    Basis,
    ChildBorn,
    ChildDied,
    ChildEmigrated,
    ChildMoved,
    ChildRegistered,
    CustodyRecorded,
    Event,
    PregnancyRegistered,
)

# The register facts the gate keeps of a child: those a consent's validity depends on, and the
# moves (they change neither who must grant nor who receives, ``consent_rules``, but the home they
# give is where a report of concern filed through the hub is routed).
REGISTER_FACTS = (ChildRegistered, CustodyRecorded, ChildMoved, PregnancyRegistered, ChildBorn, ChildDied,
                  ChildEmigrated)


@dataclass(frozen=True, slots=True)
class Fact:
    event_id: UUID
    ref: FactRef
    seq: int  # arrival order, so re-held facts keep their place


@dataclass(frozen=True, slots=True)
class Release:
    fact: Fact
    consent_ids: tuple[UUID, ...]  # empty for DIRECTORY facts


@dataclass(frozen=True, slots=True)
class Revoke:
    fact: Fact
    ended_consent_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class RouteStatutory:
    fact: Fact


Output = Release | Revoke | RouteStatutory


@dataclass(frozen=True, slots=True)
class ChildGate:
    """One child's gate state."""

    consents: tuple[Consent, ...] = ()
    held: tuple[Fact, ...] = ()
    released: tuple[tuple[Fact, tuple[UUID, ...]], ...] = ()
    next_seq: int = 0
    resident: Resident | None = None  # what the register says of the child, for the consents
    # The ids of every held and released fact: every event asks, and scanning both lists made
    # each fact cost more the more facts its child had. Derived, so not compared; ``replace``
    # carries it over, and ``on_fact``, the only place a fact joins, extends it.
    known: frozenset[UUID] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.known is None:
            ids = {f.event_id for f in self.held} | {f.event_id for f, _ in self.released}
            object.__setattr__(self, "known", frozenset(ids))

    def knows(self, event_id: UUID) -> bool:
        """Whether a CONSENT or STATUTORY fact is already held or released here."""
        return event_id in self.known  # type: ignore[operator]  # set by __post_init__


def _ids(consents: list[Consent]) -> tuple[UUID, ...]:
    return tuple(sorted(c.consent_id for c in consents))


def on_fact(state: ChildGate, event_id: UUID, ref: FactRef, now: dt.datetime) -> tuple[ChildGate, list[Output]]:
    if ref.basis is Basis.DIRECTORY:
        # Not kept: directory facts need no consent, and a repeat release keeps its event id.
        return state, [Release(Fact(event_id, ref, -1), ())]
    if state.knows(event_id):
        return state, []  # a redelivery: already decided
    fact = Fact(event_id, ref, state.next_seq)
    state = replace(state, next_seq=state.next_seq + 1, known=state.known | {event_id})  # type: ignore[operator]
    out: list[Output] = []
    if ref.basis is Basis.STATUTORY:
        out.append(RouteStatutory(fact))
    cover = covering(ref, now, state.consents)
    if cover:
        out.append(Release(fact, _ids(cover)))
        return replace(state, released=(*state.released, (fact, _ids(cover)))), out
    return replace(state, held=(*state.held, fact)), out


def on_consent(state: ChildGate, consent: Consent, now: dt.datetime,
               child_grants_from: int = CHILD_GRANTS_FROM) -> tuple[ChildGate, list[Output]]:
    """A consent granted or withdrawn (the same consent id replaces the earlier record)."""
    consent = judged(consent, (state.resident or Resident(consent.child_id)).register(), child_grants_from)
    others = tuple(c for c in state.consents if c.consent_id != consent.consent_id)
    return settle(replace(state, consents=(*others, consent)), now)


def on_register(state: ChildGate, child_id: UUID, event: Event, now: dt.datetime,
                child_grants_from: int = CHILD_GRANTS_FROM) -> tuple[ChildGate, list[Output]]:
    """A register fact about the child: judge its consents again, and settle by them."""
    before = state.resident or Resident(child_id)
    after = population.apply(before, event)
    if after == state.resident:
        return state, []  # a repeat
    register = after.register()
    consents = tuple(judged(c, register, child_grants_from) for c in state.consents)
    return settle(replace(state, resident=after, consents=consents), now)


def settle(state: ChildGate, now: dt.datetime) -> tuple[ChildGate, list[Output]]:
    """Bring releases in line with the consents active at ``now`` (also run on clock ticks,
    since a consent's expiry or start needs no event)."""
    out: list[Output] = []
    released: list[tuple[Fact, tuple[UUID, ...]]] = []
    held = list(state.held)
    for fact, ids in state.released:
        cover = covering(fact.ref, now, state.consents)
        if cover:
            if _ids(cover) != ids:  # still shared, on other consents: the provenance follows
                out.append(Release(fact, _ids(cover)))
            released.append((fact, _ids(cover)))
        else:
            out.append(Revoke(fact, ids))
            held.append(fact)
    still_held = []
    for fact in sorted(held, key=lambda f: f.seq):
        cover = covering(fact.ref, now, state.consents)
        if cover:
            out.append(Release(fact, _ids(cover)))
            released.append((fact, _ids(cover)))
        else:
            still_held.append(fact)
    return replace(state, released=tuple(released), held=tuple(still_held)), out


def released_now(state: ChildGate) -> set[UUID]:
    return {fact.event_id for fact, _ in state.released}
