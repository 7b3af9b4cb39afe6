"""The demo's gate stage, step 3: plans opened for a share of the consented children through
``services.commands.plan`` and ``services.commands.sip``, their free text sealed by the demo's
codec. Each plan is a SIP: participants with their responsibilities, actions with who does what
(some by others than the organisations), a follow-up held with each action's evaluation in the
child's and guardians' words, the wheel re-assessed, and a kallelse to the next meeting with the
invitees' answers (one left unanswered, for a coordinator's to-do list).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from projections.consent_rules import age_on
from projections.plan import AGREED, AREAS
from projections.population import Resident
from schemas.events import (
    ActionEffect,
    ActionStatus,
    Area,
    ConsentGranted,
    FollowUpOutcome,
    InvitationAnswer,
    ParticipantRole,
)
from services.commands import plan as plan_service
from services.commands import sip
from services.dev.demo.consents import Consents
from services.dev.demo.county_view import Intake, draw, stable_order
from services.dev.demo.publishing import Clock, Publisher

PLAN_SHARE = 0.15  # of consented children

COMMENTS: Mapping[Area, tuple[str, ...]] = {
    Area.CARE: ("Vardagsrutinerna fungerar men måltiderna är oregelbundna.", "Får god omsorg hemma."),
    Area.HEALTH: ("Sover dåligt sedan i våras.", "Återkommande magont, följs av BVC.", "Mår bra, växer som väntat."),
    Area.LEARNING: ("Har svårt att koncentrera sig på lektionerna.", "Läser och skriver i nivå med åldern."),
    Area.SAFETY: ("Känner sig trygg i skolan.", "Oro för konflikter på vägen hem."),
    Area.RELATIONSHIPS: ("Har en nära vän i klassen.", "Vill ha fler kompisar att leka med."),
    Area.HOME: ("Familjen har nyligen flyttat.", "Trångbott men fungerande."),
    Area.DEVELOPMENT: ("Språkutvecklingen går framåt.", "Tycker om fotboll och musik."),
}
CHILD_VIEWS = ("Det är jobbigt på rasterna.", "Det är bra hemma.", "Jag vill ha mer hjälp med matte.",
               "Jag sover bättre nu.", "Jag vill vara med i fotbollslaget.")
GUARDIAN_VIEWS = ("Vi ser samma sak hemma.", "Vi önskar mer kontakt med skolan.", "Vi är nöjda med stödet.",
                  "Vi oroar oss för sömnen.")
DECISIONS = ("Ny träff om sex veckor; planen samordnas av den som leder den.",
             "BVC följer upp hälsan, socialtjänsten erbjuder föräldrastöd.",
             "Skolan gör extra anpassningar och återkopplar till vårdnadshavarna.")
NOTES = ("Vårdnadshavarna och barnet deltog.", "Vårdnadshavarna deltog.", None)
ACTIONS: Mapping[Area, tuple[str, str]] = {
    Area.CARE: ("Stöd i föräldraskapet", "Föräldrastödsprogram via socialtjänsten"),
    Area.HEALTH: ("Bättre sömn", "Sömnrådgivning hos BVC-sjuksköterskan"),
    Area.LEARNING: ("Stöd i läsning", "Extra anpassningar med speciallärare två gånger i veckan"),
    Area.SAFETY: ("Tryggare skolväg", "Vuxen följer med på bussen under en period"),
    Area.RELATIONSHIPS: ("Fler kamratrelationer", "Rastaktiviteter med fritidspedagog"),
    Area.HOME: ("Stabilare boende", "Kontakt med boendestödet i kommunen"),
    Area.DEVELOPMENT: ("Meningsfull fritid", "Prova på-plats i en idrottsförening"),
}
FOLLOW_UPS = ("Uppföljning av insatserna", "Ny bedömning av hela hjulet", "Uppföljning med barnet")
HEALTH_PART = "Följer barnets hälsa och utveckling; sömnrådgivning."
SOCIAL_PART = "Föräldrastöd och samordning av stöd i hemmet."
SCHOOL_PART = "Extra anpassningar i undervisningen och kontakt med vårdnadshavarna."
CHILD_VOICES = ("Jag vill att någon lyssnar på mig.", "Jag vill ha det lugnare i klassrummet.",
                "Jag tycker om att spela fotboll.", None)
EVALUATIONS = {ActionEffect.HELPED: "Insatsen har gett effekt.", ActionEffect.PARTLY: "Viss förbättring.",
               ActionEffect.NOT_HELPED: "Ingen märkbar skillnad ännu.", ActionEffect.TOO_EARLY: "Har nyss börjat."}
CHILD_WORDS = ("Det känns bättre.", "Jag vet inte.", "Det är roligt.")
GUARDIAN_WORDS = ("Vi ser en förändring hemma.", "Vi vill fortsätta.", None)
CLUB = ("Meningsfull fritid", "Fotboll två gånger i veckan", "Idrottsföreningen i kommunen")
# The plans' free text, which a reminder mail must never carry (``services.dev.demo.sip``).
PRIVATE_TEXTS = (*DECISIONS, *(v for v in CHILD_VOICES if v), HEALTH_PART, SOCIAL_PART, SCHOOL_PART, *CLUB,
                 *EVALUATIONS.values(), *CHILD_WORDS, *(w for w in GUARDIAN_WORDS if w))


@dataclass
class Plans:
    opened: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # child -> plan id
    events: Counter[str] = field(default_factory=Counter)
    rejected: list[list[str]] = field(default_factory=list)  # PlanRejected reasons: a demo bug if any


async def _plan(resident: Resident, intake: Intake, consent: ConsentGranted, publish: Publisher,
                clock: Clock, rng: random.Random) -> uuid.UUID:
    """One child's plan: opened, one or two meetings, a wheel of assessments, two actions (one
    done), a follow-up -- all through the plan commands, as a coordinator would."""
    assert resident.birth_date is not None and resident.municipality_code is not None
    today = clock().date()
    age = age_on(resident.birth_date, today)
    bhv, soc = intake.bhv_of(resident.municipality_code), intake.social_of(resident.municipality_code)
    schools = [s for s in intake.schools(resident.child_id) if s in consent.recipients][:1]
    opener = bhv if age < 6 or not schools else soc
    participants = list(dict.fromkeys([opener, bhv, soc, *schools]))
    lead = schools[0] if schools and age >= 6 else opener
    child, ps = resident.child_id, plan_service

    def kw() -> dict[str, Any]:
        return {"publish": publish, "now": clock()}

    plan_id = (await ps.open_plan(child, opener, [consent.consent_id], **kw())).plan_id
    first = rng.randrange(21, 60)
    for held in [first] + ([rng.randrange(0, first - 14)] if rng.random() < 0.5 else []):
        await ps.record_meeting(child, plan_id, opener, today - dt.timedelta(days=held), participants,
                                lead if held == first else rng.choice(participants), rng.choice(DECISIONS),
                                rng.choice(NOTES), **kw(), child_took_part=age >= 6 and rng.random() < 0.7,
                                guardians_took_part=rng.random() < 0.9,
                                child_voice=rng.choice(CHILD_VOICES) if age >= 6 else None)
    for org in participants:  # each organisation's part and what it takes on
        part = HEALTH_PART if org == bhv else SOCIAL_PART if org == soc else SCHOOL_PART
        await sip.record_participant(child, plan_id, lead, org, ParticipantRole.RESPONSIBLE if org in (lead, bhv)
                                     else ParticipantRole.SUPPORTING, part, "Samordnaren, via växeln", **kw())
    ratings = {area: rng.randint(1, 5) for area in rng.sample(AREAS, rng.randint(3, 5))}
    for area, rating in ratings.items():
        await ps.assess_area(child, plan_id, rng.choice(participants), area, rating, rng.choice(COMMENTS[area]),
                             rng.choice(CHILD_VIEWS) if age >= 5 else None, rng.choice(GUARDIAN_VIEWS), **kw())
    actions = []
    for area in sorted(ratings, key=lambda a: (ratings[a], a.value))[:2]:
        need, what = ACTIONS[area]
        responsible = bhv if area is Area.HEALTH else schools[0] if area is Area.LEARNING and schools else soc
        actions.append(await ps.agree_action(child, plan_id, lead, area, need, what, responsible,
                                             today + dt.timedelta(days=rng.randrange(14, 120)), **kw(),
                                             start_on=today - dt.timedelta(days=first - 1),
                                             responsible_person="Samordnaren" if rng.random() < 0.5 else None))
    if age >= 6 and rng.random() < 0.5:  # an action by others than the organisations, followed up by the lead
        need, what, club = CLUB
        actions.append(await ps.agree_action(child, plan_id, lead, Area.DEVELOPMENT, need, what, lead,
                                             today + dt.timedelta(days=90), **kw(), by_others=True, performer=club))
    await ps.complete_action(child, plan_id, actions[0].responsible_org, actions[0].action_id, today, **kw())
    for action in actions[1:]:
        if rng.random() < 0.3:
            continue  # not begun yet: still planned
        await sip.change_action_status(child, plan_id, action.responsible_org, action.action_id, AGREED,
                                       ActionStatus.ONGOING, today - dt.timedelta(days=first - 2), **kw())
    # A follow-up held a week ago: each action evaluated, in the child's and the guardians' words too.
    await sip.hold_follow_up(child, plan_id, lead, None, today - dt.timedelta(days=7),
                             FollowUpOutcome.REVISED if rng.random() < 0.5 else FollowUpOutcome.CONTINUED,
                             rng.choice(FOLLOW_UPS), [_evaluation(a.action_id, rng, age) for a in actions],
                             [a.action_id for a in actions], **kw())
    area = next(iter(ratings))  # the wheel again at the follow-up: its history has two points
    await ps.assess_area(child, plan_id, lead, area, min(5, ratings[area] + 1), rng.choice(COMMENTS[area]),
                         None, None, **kw())
    invited = [o for o in participants if o != lead]
    if invited:  # the next meeting called, and most invitees answered
        kallelse = await sip.invite_meeting(
            child, plan_id, lead, clock() + dt.timedelta(days=rng.randrange(7, 28), hours=2), invited,
            "Skolans konferensrum eller videolänk", "Hur har insatserna fungerat? Behövs något nytt?",
            age >= 6, True, None, None if age >= 6 else "Barnet är för litet för att delta i mötet.", **kw())
        for org in invited[:-1] if len(invited) > 1 else invited:
            answer = rng.choice([InvitationAnswer.COMING, InvitationAnswer.SENDS_SOMEONE])
            await sip.answer_invitation(child, plan_id, org, kallelse.meeting_id, invited, answer,
                                        "Kollegan på enheten" if answer is InvitationAnswer.SENDS_SOMEONE else None,
                                        **kw())
    await ps.schedule_follow_up(child, plan_id, lead, today + dt.timedelta(days=rng.randrange(30, 180)),
                                actions[-1].envelope.area if rng.random() < 0.5 else None, rng.choice(FOLLOW_UPS),
                                **kw())
    return plan_id


def _evaluation(action_id: uuid.UUID, rng: random.Random, age: int) -> sip.EvaluationIn:
    effect = rng.choice(list(ActionEffect))
    return sip.EvaluationIn(action_id, effect, EVALUATIONS[effect], rng.choice(CHILD_WORDS) if age >= 6 else None,
                            rng.choice(GUARDIAN_WORDS))


async def open_plans(intake: Intake, consents: Consents, publish: Publisher) -> Plans:
    out, clock = Plans(), Clock()
    residents = stable_order(intake.residents[c] for c in consents.granted)
    for resident in residents:
        rng = draw(resident, "plan")
        if rng.random() >= PLAN_SHARE:
            continue
        before = Counter(publish.sent)
        try:
            out.opened[resident.child_id] = await _plan(resident, intake, consents.granted[resident.child_id],
                                                        publish, clock, rng)
        except plan_service.PlanRejected as exc:
            out.rejected.append(exc.reasons)
        out.events += publish.sent - before
    return out

