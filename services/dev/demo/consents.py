"""The demo's gate stage, step 2: consents registered for a seeded share of born children, with
exactly the grantors ``consent_rules.required`` names; some leave SOCIAL out, so facts are held.
Deliberately invalid requests (a guardian missing, a 15-17-year-old not granting) are refused
with reasons.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field

from projections.consent_rules import ChildStatus, age_on, required
from projections.population import Resident
from schemas.events import Category, ConsentGranted, ConsentObtained, Grantor, GrantorRole
from services.commands.consent import ConsentRejected, ConsentRequest, register
from services.dev.demo.county_view import SEED, Intake, RegisterStatuses, draw, stable_order
from services.dev.demo.publishing import Publisher

CONSENT_SHARE = 0.40
WITHOUT_SOCIAL_SHARE = 0.25  # of consents: HEALTH and SCHOOL only, so social facts stay held
INVALID_EACH = 10  # requests per kind of deliberate mistake
CONSENT_DAYS = 365

GUARDIAN_MISSING = "a guardian missing"
CHILD_NOT_GRANTING = "a child aged 15-17 not granting"


@dataclass
class Consents:
    granted: dict[uuid.UUID, ConsentGranted] = field(default_factory=dict)  # by child
    rejected: list[tuple[str, list[str]]] = field(default_factory=list)  # (kind of mistake, reasons)
    accepted_by_mistake: int = 0
    eligible: int = 0


def _eligible(resident: Resident, today: dt.date, intake: Intake) -> bool:
    """Born (by today), in the register with guardians, and living in the county (alive, not
    emigrated, at home in one of its municipalities: the consent's recipients are theirs)."""
    born = resident.birth_date is not None and not resident.unborn and resident.birth_date <= today
    return born and bool(resident.guardians) and intake.living_here(resident)


def _grantors(status: ChildStatus, today: dt.date) -> tuple[Grantor, ...]:
    return tuple(sorted(required(status, today), key=lambda g: (g.role.value, str(g.party_id))))


def _request(resident: Resident, intake: Intake, grantors: tuple[Grantor, ...], categories: tuple[Category, ...],
             now: dt.datetime) -> ConsentRequest:
    code = resident.municipality_code
    assert code is not None
    return ConsentRequest(
        child_id=resident.child_id, grantors=grantors, categories=categories,
        recipients=(intake.bhv_of(code), intake.social_of(code), *intake.schools(resident.child_id)),
        valid_from=now, valid_to=now + dt.timedelta(days=CONSENT_DAYS),
        registered_by_org=intake.social_of(code), obtained=ConsentObtained.WRITTEN, registered_by="demo-coordinator")


def _mistakes(candidates: list[Resident], today: dt.date) -> list[tuple[str, Resident, tuple[Grantor, ...]]]:
    """Requests each missing one required grantor: a guardian, or a 15-17-year-old themself;
    ``INVALID_EACH`` of each kind, the other kind making up for one that runs short."""
    rng = random.Random(f"{SEED}:mistakes")
    kinds: dict[str, list[tuple[str, Resident, tuple[Grantor, ...]]]] = {CHILD_NOT_GRANTING: [], GUARDIAN_MISSING: []}
    for r in rng.sample(candidates, len(candidates)):
        assert r.birth_date is not None
        age = age_on(r.birth_date, today)
        needed = _grantors(r.status(), today)
        if 15 <= age < 18:
            kinds[CHILD_NOT_GRANTING].append(
                (CHILD_NOT_GRANTING, r, tuple(g for g in needed if g.role is not GrantorRole.CHILD)))
        elif age < 18 and len(r.guardians) >= 2:
            dropped = rng.choice([g for g in needed if g.role is GrantorRole.GUARDIAN])
            kinds[GUARDIAN_MISSING].append((GUARDIAN_MISSING, r, tuple(g for g in needed if g != dropped)))
    short = max(0, INVALID_EACH - len(kinds[CHILD_NOT_GRANTING]))
    guardians = kinds[GUARDIAN_MISSING][:INVALID_EACH + short]
    return guardians + kinds[CHILD_NOT_GRANTING][:2 * INVALID_EACH - len(guardians)]


async def register_consents(intake: Intake, publish: Publisher, now: dt.datetime) -> Consents:
    today = now.date()
    statuses = RegisterStatuses(intake.residents)
    out = Consents()
    eligible = stable_order(r for r in intake.residents.values() if _eligible(r, today, intake))
    out.eligible = len(eligible)
    passed_over = []
    for resident in eligible:
        rng = draw(resident, "consent")
        if rng.random() >= CONSENT_SHARE:
            passed_over.append(resident)
            continue
        categories = (Category.HEALTH, Category.SCHOOL)
        if rng.random() >= WITHOUT_SOCIAL_SHARE:
            categories += (Category.SOCIAL,)
        request = _request(resident, intake, _grantors(resident.status(), today), categories, now)
        out.granted[resident.child_id] = await register(request, statuses, publish, now=now)
    for kind, resident, grantors in _mistakes(passed_over, today):
        request = _request(resident, intake, grantors, (Category.HEALTH, Category.SCHOOL, Category.SOCIAL), now)
        try:
            await register(request, statuses, publish, now=now)
            out.accepted_by_mistake += 1
        except ConsentRejected as exc:
            out.rejected.append((kind, exc.reasons))
    return out

