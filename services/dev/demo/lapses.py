"""The demo's gate stage, step 2b: consents given in the county's recent past, a week before a
change in the child's life -- a 15th or 18th birthday, a custody change, a birth, a death, an
emigration -- each with exactly the grantors the register required then. The rules
(``projections.consent_rules``) end each one by itself at the change, unless its grantors still
satisfy them (a guardian removed, a child born to the expectant parent alone). The demo expects
that by a rule of its own, and checks what the read model says lapsed against it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from projections.consent_rules import (
    ADULT_AGE,
    ChildStatus,
    Register,
    birthday,
    problems,
    required,
    start_of,
    swedish_day,
)
from projections.population import Resident
from projections.read_model import consents as consent_rows
from schemas.events import Category, ConsentGranted, ConsentObtained
from services.commands.consent import ConsentRequest, register
from services.dev.demo.county_view import Intake, draw, stable_order
from services.dev.demo.publishing import Publisher
from services.settings import Settings
from services.sql.db import make_engine

LOOKBACK = dt.timedelta(days=180)  # changes this recent are shown
LEAD = dt.timedelta(days=7)  # each consent was given this long before the change
PER_KIND = 25
AGE_15, AGE_18, CUSTODY, BIRTH = "15th birthday", "18th birthday", "custody change", "birth"
DEATH, EMIGRATION = "death", "emigration"
KINDS = (AGE_15, AGE_18, CUSTODY, BIRTH, DEATH, EMIGRATION)
LAPSE_OF = {AGE_15: "child_age", AGE_18: "adulthood", CUSTODY: "custody", BIRTH: "birth", DEATH: "death",
            EMIGRATION: "emigration"}
MISMATCH = "consents given before a change in the child's life: expected {expected}, the read model says {seen}"


@dataclass
class PastConsents:
    granted: dict[uuid.UUID, tuple[str, bool]] = field(default_factory=dict)  # consent id -> (change, lapses)
    events: list[ConsentGranted] = field(default_factory=list)
    lapsed: Counter[str] = field(default_factory=Counter)  # by change, from the read model
    held: Counter[str] = field(default_factory=Counter)  # still valid after the change, from the read model

    def expected(self, lapsing: bool) -> Counter[str]:
        return Counter(kind for kind, lapses in self.granted.values() if lapses is lapsing)

    @property
    def valid(self) -> list[ConsentGranted]:
        """The ones the demo expects to hold: the gate releases under them like any other."""
        return [e for e in self.events if not self.granted[e.consent_id][1]]

    def failure(self) -> str | None:
        if self.lapsed == self.expected(True) and self.held == self.expected(False):
            return None
        return MISMATCH.format(expected=f"lapsed {dict(self.expected(True))}, held {dict(self.expected(False))}",
                               seen=f"lapsed {dict(self.lapsed)}, held {dict(self.held)}")


def _changes(resident: Resident, child_grants_from: int) -> list[tuple[dt.datetime, str, bool]]:
    """The changes in the child's life that the consent rules look at, each with whether a
    consent given just before it by everyone then required lapses there (the demo's own rule:
    a birthday, a death and an emigration always end it; custody only when a guardian is added;
    a birth unless the expectant parent is the only guardian)."""
    out: list[tuple[dt.datetime, str, bool]] = []
    if resident.birth_date is not None:
        out += [(start_of(birthday(resident.birth_date, child_grants_from)), AGE_15, True),
                (start_of(birthday(resident.birth_date, ADULT_AGE)), AGE_18, True)]
        if resident.expected and resident.expectant_parent is not None and resident.custody:
            out.append((start_of(resident.birth_date), BIRTH,
                        resident.custody[0].guardians != frozenset({resident.expectant_parent})))
    for before, after in zip(resident.custody, resident.custody[1:], strict=False):
        if resident.birth_date is not None and after.since < start_of(birthday(resident.birth_date, ADULT_AGE)):
            out.append((after.since, CUSTODY, not after.guardians <= before.guardians))
    if resident.died_on is not None:
        out.append((start_of(resident.died_on), DEATH, True))
    out += [(start_of(left), EMIGRATION, True) for left in resident.emigrations]
    return out


class _Then:
    """``ChildStatuses`` for a registration at a past moment: the register as it stood then."""

    def __init__(self, register: Register, at: dt.datetime) -> None:
        self.register, self.at = register, at

    def status(self, child_id: uuid.UUID) -> ChildStatus | None:
        return self.register.status_at(self.at) if child_id == self.register.child_id else None


async def register_past_consents(intake: Intake, publish: Publisher, now: dt.datetime,
                                 settings: Settings) -> PastConsents:
    """Up to ``PER_KIND`` consents per kind of change, for children with exactly one change in
    the last ``LOOKBACK`` (so the change that ends the consent is the one chosen)."""
    policy = settings.consent_policy
    out, per_kind = PastConsents(), Counter[str]()
    for resident in stable_order(intake.residents.values()):
        if not intake.in_county(resident.municipality_code):
            continue  # unknown, or moved out: the recipients are the county's
        recent = [c for c in _changes(resident, policy.child_grants_from) if now - LOOKBACK <= c[0] - LEAD < c[0] <= now]
        if len(recent) != 1 or per_kind[recent[0][1]] >= PER_KIND:
            continue
        at, kind, lapses = recent[0]
        then = at - LEAD
        reg = resident.register()
        status = reg.status_at(then)
        needed = required(status, swedish_day(then), policy.child_grants_from)
        if problems(status, needed, swedish_day(then), policy.child_grants_from):
            continue  # nobody could consent then (no guardian known, no expectant parent)
        code = resident.municipality_code
        request = ConsentRequest(
            child_id=resident.child_id, grantors=tuple(sorted(needed, key=lambda g: (g.role.value, str(g.party_id)))),
            categories=(Category.HEALTH, Category.SCHOOL), recipients=(intake.bhv_of(code), intake.social_of(code)),
            valid_from=then, valid_to=then + dt.timedelta(days=365), registered_by_org=intake.social_of(code),
            obtained=ConsentObtained.WRITTEN if draw(resident, "past").random() < 0.5 else ConsentObtained.ORAL_MEETING,
            registered_by="demo-coordinator")
        granted: ConsentGranted = await register(request, _Then(reg, then), publish, now=then, policy=policy)
        out.granted[granted.consent_id] = (kind, lapses)
        out.events.append(granted)
        per_kind[kind] += 1
    return out


def read_lapses(settings: Settings, past: PastConsents, now: dt.datetime) -> None:
    """What the read model says of them: each consent's lapse, judged by the projector."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as c:
            rows = c.execute(select(consent_rows.c.consent_id, consent_rows.c.lapse, consent_rows.c.lapsed_at)).all()
    finally:
        engine.dispose()
    for consent_id, lapse, lapsed_at in rows:
        found = past.granted.get(uuid.UUID(consent_id))
        if found is None:
            continue
        kind = found[0]
        if lapsed_at is not None and lapsed_at.tzinfo is None:
            lapsed_at = lapsed_at.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC
        if lapsed_at is None or lapsed_at > now:  # a lapse still ahead (a birthday to come)
            past.held[kind] += 1
        elif lapse == LAPSE_OF[kind]:
            past.lapsed[kind] += 1


def described(past: PastConsents) -> str:
    if not past.granted:  # a small county may have none: nothing wrong, nothing to show
        return f"No child's life changed in the last {LOOKBACK.days} days: no consent lapsed by itself."
    lapsed = " · ".join(f"{kind} {past.lapsed[kind]:,}" for kind in KINDS)
    held = sum(past.held.values())
    return (f"Consents that lapsed by themselves (given a week before a change in the child's life, in the last "
            f"{LOOKBACK.days} days): {lapsed}; {held:,} still valid after the change (a guardian removed, or "
            f"a child born to the expectant parent alone).")

