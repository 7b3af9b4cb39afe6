"""The demo's gate stage: coordinators register consents and open plans, and the gate lets through
only what consent allows (DESIGN §6).

1. Read the intake topics back and fold each child with ``projections.population``: the register's
   view that ``consent_registry.register`` checks grantors against. Reading uses a plain codec:
   nothing here needs a child's personal data, so nothing sealed is opened.
2. Register consents for a seeded share of born children, with exactly the grantors
   ``consent_rules.required`` names; some leave SOCIAL out, so facts are held. Deliberately
   invalid requests (a guardian missing, a 15-17-year-old not granting) are refused with reasons.
3. Open plans for a share of the consented children through ``services.commands.plan``, their free
   text sealed by the demo's codec.
4. Run ``kronobarn worker`` (the gate) and follow ``shared``, ``statutory.social`` and
   ``deadletter`` until every directory fact is forwarded, every report of concern routed and
   every covered fact released -- expectations computed here from the consents, by
   ``projections.consents``, the one visibility function -- and then quiet.
5. Print what happened; ``GateStageResult`` keeps it for later stages.

Draws are deterministic across runs although child ids are not (each demo has a fresh identity
registry): a child is drawn by what the register says of it that does not change, its birth date
and its guardians' pseudonymous ids. The backbone stage's sample child (source system
``sample``) is not part of the county and is left out of every count here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from connectors.standins.county import REGION_ORG
from projections import population
from projections.consent_rules import ChildStatus, age_on, required
from projections.consents import Consent, consent_of
from projections.plan import AREAS
from projections.population import Resident
from projections.read_model import ReadModel
from schemas.codec import Codec, DecodeError
from schemas.deadletter import DeadLetter
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildBorn,
    ChildMoved,
    ChildRegistered,
    ConsentGranted,
    CustodyRecorded,
    Event,
    FactReleased,
    Grantor,
    GrantorRole,
    PregnancyRegistered,
    ReleaseRevoked,
    ReportOfConcernReceived,
    ReportOfConcernRouted,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
)
from schemas.topics import (
    DEADLETTER,
    INTAKE_HEALTH,
    INTAKE_POPULATION,
    INTAKE_SCHOOL,
    INTAKE_SOCIAL,
    SHARED,
    STATUTORY_SOCIAL,
    key_for,
    topic_for,
)
from services.commands import plan as plan_service
from services.commands.consent import ConsentRejected, ConsentRequest, register
from services.dev.watch import TopicWatcher
from services.kafka import clients as kafka
from services.readmodel.engine import named_person_config, until_projected
from services.settings import Settings
from services.sql.db import make_engine
from services.worker.gate import STAGE as GATE_STAGE
from services.worker.process import ChildProcess, worker

SEED = 20261201
CONSENT_SHARE = 0.40
WITHOUT_SOCIAL_SHARE = 0.25  # of consents: HEALTH and SCHOOL only, so social facts stay held
PLAN_SHARE = 0.15  # of consented children
INVALID_EACH = 10  # requests per kind of deliberate mistake
CONSENT_DAYS = 365
TICK_S = 5.0
QUIET_S = 3.0
TIMEOUT_MIN_S = 300.0
OUTPUTS_PER_S_FLOOR = 200  # the timeout assumes the gate manages at least this
SAMPLE_SYSTEM = "sample"  # the backbone stage's sample events
GATE_SYSTEM = "gate"
INTAKE = (INTAKE_HEALTH, INTAKE_SCHOOL, INTAKE_SOCIAL, INTAKE_POPULATION)
POPULATION_FACTS = frozenset({ChildRegistered, CustodyRecorded, ChildMoved, PregnancyRegistered, ChildBorn})

GUARDIAN_MISSING = "a guardian missing"
CHILD_NOT_GRANTING = "a child aged 15-17 not granting"
TIMED_OUT = "the gate had not settled after {timeout:.0f} s: {missing}; its log: {log}"
PROJECTOR_BEHIND = "the projector had not caught up after {timeout:.0f} s; the worker's log: {log}"
NOT_ROUTED = "not every report of concern reached statutory.social"
NONE_RELEASED = "no fact was released"
NONE_HELD = "no fact was held: every fact had a covering consent"
UNCOVERED = "{n} facts were released without a covering consent"
ACCEPTED = "{n} invalid consent requests were accepted"
NONE_REJECTED = "no invalid consent request was rejected"
PLAN_REFUSED = "the plan commands refused the demo's own input: {reasons}"

Scope = tuple[str, Category, Area | None, Basis]  # a fact's source org, category, area and basis


# -- 1. the intake, read back ------------------------------------------------------------------

@dataclass
class Intake:
    """What the intake topics hold about the county: the register's view of each child, and the
    ids of its facts, CONSENT and STATUTORY ones by scope. Ids are sets: a repeat counts once."""

    records: int = 0
    undecodable: int = 0
    residents: dict[uuid.UUID, Resident] = field(default_factory=dict)
    directory: set[uuid.UUID] = field(default_factory=set)
    scoped: dict[uuid.UUID, dict[Scope, set[uuid.UUID]]] = field(default_factory=dict)
    reports: set[uuid.UUID] = field(default_factory=set)
    placements: dict[uuid.UUID, dict[str, tuple[dt.date, str]]] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)

    def add(self, event: Event) -> None:
        env = event.envelope
        if env.source.system == SAMPLE_SYSTEM:
            return
        child = env.child_id
        if type(event) in POPULATION_FACTS:
            self.residents[child] = population.apply(self.residents.get(child) or Resident(child), event)
        if env.basis is Basis.DIRECTORY:
            self.directory.add(event.event_id)
        else:
            scope = (env.source.organisation_id, env.category, env.area, env.basis)
            self.scoped.setdefault(child, {}).setdefault(scope, set()).add(event.event_id)
        if isinstance(event, ReportOfConcernReceived):
            self.reports.add(event.event_id)
        elif isinstance(event, SchoolPlacementStarted):
            self.placements.setdefault(child, {})[event.placement_id] = (event.start_date, event.school_unit_id)
        elif isinstance(event, SchoolPlacementEnded):
            self.ended.add(event.placement_id)

    def by_basis(self) -> Counter[Basis]:
        counts: Counter[Basis] = Counter({Basis.DIRECTORY: len(self.directory)})
        for scopes in self.scoped.values():
            for (*_, basis), ids in scopes.items():
                counts[basis] += len(ids)
        return counts

    def gated(self) -> set[uuid.UUID]:
        """Every CONSENT and STATUTORY fact: the ones the gate holds until a consent covers them."""
        return {i for scopes in self.scoped.values() for ids in scopes.values() for i in ids}

    def schools(self, child: uuid.UUID) -> list[str]:
        """The child's school units, current placement first."""
        started = self.placements.get(child, {})
        current = sorted((v for k, v in started.items() if k not in self.ended), reverse=True)
        units = [unit for _, unit in current] + sorted(unit for _, unit in started.values())
        return list(dict.fromkeys(units))


class RegisterStatuses:
    """``ChildStatuses`` for ``consent_registry.register``, over the population fold."""

    def __init__(self, residents: Mapping[uuid.UUID, Resident]) -> None:
        self.residents = residents

    def status(self, child_id: uuid.UUID) -> ChildStatus | None:
        resident = self.residents.get(child_id)
        return None if resident is None else resident.status()


async def read_intake(settings: Settings, codec: Codec) -> Intake:
    """The intake topics from offset 0 to their end offsets (asked again once reached, in case
    the broker reported a stale watermark)."""
    intake = Intake()
    consumer = kafka.consumer(settings, max_partition_fetch_bytes=1 << 22)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t.name, p) for t in INTAKE for p in sorted(consumer.partitions_for_topic(t.name) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        while True:
            pending = [tp for tp in parts if await consumer.position(tp) < end[tp]]
            if not pending:
                again = await consumer.end_offsets(parts)
                if again == end:
                    return intake
                end = again
                continue
            for records in (await consumer.getmany(*pending, timeout_ms=500, max_records=10_000)).values():
                for record in records:
                    intake.records += 1
                    try:
                        event = codec.decode_record(record)
                    except DecodeError:
                        intake.undecodable += 1
                        continue
                    if isinstance(event, Event):
                        intake.add(event)
    finally:
        await consumer.stop()


# -- publishing ----------------------------------------------------------------------------------

class Publisher:
    """The ``publish`` port over one producer: encode, send keyed by child, count by type."""

    def __init__(self, producer: AIOKafkaProducer, codec: Codec) -> None:
        self.producer, self.codec = producer, codec
        self.sent: Counter[str] = Counter()
        self._pending: list[asyncio.Future[Any]] = []

    async def __call__(self, event: Event) -> None:
        self._pending.append(await self.producer.send(topic_for(event).name, self.codec.encode(event),
                                                      key=key_for(event)))
        self.sent[type(event).__name__] += 1

    async def delivered(self) -> None:
        await self.producer.flush()
        await asyncio.gather(*self._pending)
        self._pending.clear()


class Clock:
    """Wall-clock time that never repeats: plan events are ordered by event time."""

    def __init__(self) -> None:
        self.last = dt.datetime.min.replace(tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.last = max(dt.datetime.now(dt.UTC), self.last + dt.timedelta(microseconds=1))
        return self.last


def _draw(resident: Resident, purpose: str) -> random.Random:
    """A private random stream per child and purpose, from what does not change between runs."""
    guardians = ",".join(sorted(str(g) for g in resident.guardians))
    return random.Random(f"{SEED}:{purpose}:{resident.birth_date}:{guardians}")


def _stable_order(residents: Iterable[Resident]) -> list[Resident]:
    return sorted(residents, key=lambda r: (r.birth_date or dt.date.min, sorted(map(str, r.guardians)), str(r.child_id)))


def bhv_of(code: str) -> str:
    return f"{REGION_ORG}-BHV{code}"


def social_of(code: str) -> str:
    return f"kommun-{code}-soc"


# -- 2. consents -----------------------------------------------------------------------------------

@dataclass
class Consents:
    granted: dict[uuid.UUID, ConsentGranted] = field(default_factory=dict)  # by child
    rejected: list[tuple[str, list[str]]] = field(default_factory=list)  # (kind of mistake, reasons)
    accepted_by_mistake: int = 0
    eligible: int = 0


def _eligible(resident: Resident, today: dt.date) -> bool:
    """Born (by today), in the register with guardians and a home municipality."""
    born = resident.birth_date is not None and not resident.unborn and resident.birth_date <= today
    return born and bool(resident.guardians) and resident.municipality_code is not None


def _grantors(status: ChildStatus, today: dt.date) -> tuple[Grantor, ...]:
    return tuple(sorted(required(status, today), key=lambda g: (g.role.value, str(g.party_id))))


def _request(resident: Resident, intake: Intake, grantors: tuple[Grantor, ...], categories: tuple[Category, ...],
             now: dt.datetime) -> ConsentRequest:
    code = resident.municipality_code
    assert code is not None
    return ConsentRequest(
        child_id=resident.child_id, grantors=grantors, categories=categories,
        recipients=(bhv_of(code), social_of(code), *intake.schools(resident.child_id)),
        valid_from=now - dt.timedelta(days=1), valid_to=now + dt.timedelta(days=CONSENT_DAYS),
        registered_by_org=social_of(code))


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
    eligible = _stable_order(r for r in intake.residents.values() if _eligible(r, today))
    out.eligible = len(eligible)
    passed_over = []
    for resident in eligible:
        rng = _draw(resident, "consent")
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


# -- 3. plans ------------------------------------------------------------------------------------------

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
    bhv, soc = bhv_of(resident.municipality_code), social_of(resident.municipality_code)
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
                                rng.choice(NOTES), **kw())
    ratings = {area: rng.randint(1, 5) for area in rng.sample(AREAS, rng.randint(3, 5))}
    for area, rating in ratings.items():
        await ps.assess_area(child, plan_id, rng.choice(participants), area, rating, rng.choice(COMMENTS[area]),
                             rng.choice(CHILD_VIEWS) if age >= 5 else None, rng.choice(GUARDIAN_VIEWS), **kw())
    actions = []
    for area in sorted(ratings, key=lambda a: (ratings[a], a.value))[:2]:
        need, what = ACTIONS[area]
        responsible = bhv if area is Area.HEALTH else schools[0] if area is Area.LEARNING and schools else soc
        actions.append(await ps.agree_action(child, plan_id, lead, area, need, what, responsible,
                                             today + dt.timedelta(days=rng.randrange(14, 120)), **kw()))
    await ps.complete_action(child, plan_id, actions[0].responsible_org, actions[0].action_id, today, **kw())
    await ps.schedule_follow_up(child, plan_id, lead, today + dt.timedelta(days=rng.randrange(30, 180)),
                                actions[-1].envelope.area if rng.random() < 0.5 else None, rng.choice(FOLLOW_UPS),
                                **kw())
    return plan_id


async def open_plans(intake: Intake, consents: Consents, publish: Publisher) -> Plans:
    out, clock = Plans(), Clock()
    residents = _stable_order(intake.residents[c] for c in consents.granted)
    for resident in residents:
        rng = _draw(resident, "plan")
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


# -- 4. the gate at work -------------------------------------------------------------------------------

@dataclass
class GateTally:
    """What the gate put out, checked against what the consents should let through."""

    expect_forwarded: set[uuid.UUID]
    expect_routed: set[uuid.UUID]
    expect_released: set[uuid.UUID]
    gated: set[uuid.UUID]  # every CONSENT / STATUTORY fact of the county
    codec: Codec = field(default_factory=Codec)
    forwarded: set[uuid.UUID] = field(default_factory=set)
    released: dict[uuid.UUID, Basis] = field(default_factory=dict)
    revoked: set[uuid.UUID] = field(default_factory=set)
    routed: set[uuid.UUID] = field(default_factory=set)
    dead_letters: Counter[str] = field(default_factory=Counter)  # by stage
    gate_letter_reasons: Counter[str] = field(default_factory=Counter)
    backbone_letters: int = 0  # the gate's letters for the backbone stage's sample events
    undecodable: int = 0
    outputs: int = 0
    started: float = 0.0  # wall-clock times: the worker's start, its first and last output
    first: float = 0.0
    last: float = 0.0
    seen: Counter[str] = field(default_factory=Counter)  # expected outputs seen, by kind

    @property
    def expected(self) -> int:
        return len(self.expect_forwarded) + len(self.expect_routed) + len(self.expect_released)

    @property
    def done(self) -> int:
        return self.seen.total()

    @property
    def settled(self) -> bool:
        return self.done >= self.expected

    def on_record(self, record: ConsumerRecord) -> None:
        try:
            event = self.codec.decode_record(record)
        except DecodeError:
            self.undecodable += 1
            return
        if isinstance(event, DeadLetter):
            if event.stage == GATE_STAGE and self._from_backbone(event):
                self.backbone_letters += 1
            else:
                self.dead_letters[event.stage] += 1
                self.gate_letter_reasons[event.reason] += event.stage == GATE_STAGE
            return
        if event.envelope.source.system != GATE_SYSTEM:
            return  # the backbone stage's samples
        self.outputs += 1
        self.last = time.time()
        self.first = self.first or self.last
        if isinstance(event, FactReleased):
            if event.envelope.basis is Basis.DIRECTORY:
                self._seen("forwarded", self.forwarded, event.fact_event_id, self.expect_forwarded)
            elif event.fact_event_id not in self.released:
                self.released[event.fact_event_id] = event.envelope.basis
                self.seen["released"] += event.fact_event_id in self.expect_released
        elif isinstance(event, ReleaseRevoked):
            self.revoked.add(event.fact_event_id)
        elif isinstance(event, ReportOfConcernRouted):
            self._seen("routed", self.routed, event.report_event_id, self.expect_routed)

    def _from_backbone(self, letter: DeadLetter) -> bool:
        try:
            original = self.codec.decode(letter.original or b"")
        except DecodeError:
            return False
        return isinstance(original, Event) and original.envelope.source.system == SAMPLE_SYSTEM

    @property
    def seconds(self) -> float:
        """From starting the worker to its last output."""
        return max(0.0, self.last - self.started)

    @property
    def rate(self) -> float:
        """Outputs per second from the gate's first output to its last."""
        return (self.outputs - 1) / (self.last - self.first) if self.last > self.first else 0.0

    def _seen(self, kind: str, seen: set[uuid.UUID], item: uuid.UUID, expected: set[uuid.UUID]) -> None:
        if item not in seen:
            seen.add(item)
            self.seen[kind] += item in expected

    def missing(self) -> str:
        parts = [(len(self.expect_forwarded - self.forwarded), "directory facts not forwarded"),
                 (len(self.expect_routed - self.routed), "reports of concern not routed"),
                 (len(self.expect_released - self.released.keys()), "covered facts not released")]
        return ", ".join(f"{n:,} {what}" for n, what in parts if n) or "nothing"


def expected_releases(intake: Intake, consents: Iterable[Consent], now: dt.datetime) -> set[uuid.UUID]:
    """The CONSENT and STATUTORY facts some consent active at ``now`` covers."""
    by_child: dict[uuid.UUID, list[Consent]] = {}
    for c in consents:
        if c.active_at(now):
            by_child.setdefault(c.child_id, []).append(c)
    out: set[uuid.UUID] = set()
    for child, active in by_child.items():
        for (org, category, area, _), ids in intake.scoped.get(child, {}).items():
            if any(c.covers(org, category, area) for c in active):
                out |= ids
    return out


async def run_gate(settings: Settings, tally: GateTally, log: Path, console: Console) -> str:
    """The gate worker, until ``tally`` is settled and then quiet; a problem, or "" if none."""
    timeout = max(TIMEOUT_MIN_S, tally.expected / OUTPUTS_PER_S_FLOOR)
    columns = (SpinnerColumn(), TextColumn("{task.description:<6}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    topics = [SHARED.name, STATUTORY_SOCIAL.name, DEADLETTER.name]
    store = ReadModel(make_engine(settings.resolved_database_url), named_person_config(settings))
    async with TopicWatcher(settings, topics, from_start=True, on_record=tally.on_record):
        tally.started = time.time()
        with _worker(settings, log) as process, Progress(*columns, console=console) as progress:
            task = progress.add_task("gate", total=tally.expected, status="starting the worker ...")
            while time.time() < tally.started + timeout:
                try:
                    process.check()
                except RuntimeError as exc:
                    return str(exc)
                progress.update(task, completed=tally.done, status=_status(tally))
                if tally.settled and time.time() - tally.last >= QUIET_S:
                    progress.update(task, status="the projector is writing the read model ...")
                    if not await until_projected(settings, store, timeout):
                        return PROJECTOR_BEHIND.format(timeout=timeout, log=log)
                    return ""
                await asyncio.sleep(0.2)
    return TIMED_OUT.format(timeout=timeout, missing=tally.missing(), log=log)


def _worker(settings: Settings, log: Path) -> contextlib.AbstractContextManager[ChildProcess]:
    return worker(settings, log, TICK_S)


def _status(tally: GateTally) -> str:
    if not tally.outputs:
        return "waiting for the worker to join its group ..."
    seen = tally.seen
    return (f"released {seen['released']:,}/{len(tally.expect_released):,} · "
            f"forwarded {seen['forwarded']:,}/{len(tally.expect_forwarded):,} · "
            f"routed {seen['routed']:,}/{len(tally.expect_routed):,} · "
            f"dead letters {tally.dead_letters[GATE_STAGE]:,}")


# -- 5. the stage --------------------------------------------------------------------------------------

@dataclass
class GateStageResult:
    """Everything the stage did and saw, for the summary and for later demo stages."""

    intake: Intake
    consents: Consents
    plans: Plans
    tally: GateTally
    problem: str  # "" if the gate settled
    statuses: RegisterStatuses

    @property
    def held(self) -> set[uuid.UUID]:
        """Gated facts not (or no longer) released: no covering consent."""
        live = self.tally.released.keys() - self.tally.revoked
        return self.tally.gated - live

    @property
    def released_without_consent(self) -> set[uuid.UUID]:
        return (self.tally.released.keys() & self.tally.gated) - self.tally.expect_released

    def failures(self) -> list[str]:
        """What went wrong, if anything: the stage is ok when this is empty."""
        t, consents = self.tally, self.consents
        uncovered = len(self.released_without_consent)
        checks = [
            (bool(self.problem), self.problem),
            (not t.expect_routed <= t.routed, NOT_ROUTED),
            (not t.released.keys() & t.gated, NONE_RELEASED),
            (not self.held, NONE_HELD),
            (uncovered > 0, UNCOVERED.format(n=uncovered)),
            (consents.accepted_by_mistake > 0, ACCEPTED.format(n=consents.accepted_by_mistake)),
            (not consents.rejected, NONE_REJECTED),
        ]
        checks += [(True, PLAN_REFUSED.format(reasons="; ".join(r))) for r in self.plans.rejected[:3]]
        return [message for failed, message in checks if failed]

    @property
    def ok(self) -> bool:
        return not self.failures()


async def run_gate_stage(settings: Settings, codec: Codec, console: Console) -> GateStageResult:
    """Consents, plans and the gate, on the intake the connectors left in the topics."""
    console.rule("Consent gate: consents, plans, and what the gate lets through")
    with console.status("Reading the intake topics back and folding the population register ..."):
        intake = await read_intake(settings, Codec())  # nothing here opens sealed data
    born = sum(r.birth_date is not None for r in intake.residents.values())
    console.print(f"Intake read back: {intake.records:,} records about {len(intake.residents):,} child ids "
                  f"({born:,} born, {len(intake.residents) - born:,} known only by a pregnancy)"
                  + (f"; {intake.undecodable:,} undecodable" if intake.undecodable else "") + ".")
    now = dt.datetime.now(dt.UTC)
    producer = kafka.producer(settings)
    await producer.start()
    try:
        publish = Publisher(producer, codec)
        with console.status("Registering consents ..."):
            consents = await register_consents(intake, publish, now)
        _print_consents(consents, console)
        with console.status("Opening plans ..."):
            plans = await open_plans(intake, consents, publish)
        await publish.delivered()
    finally:
        await producer.stop()
    console.print(f"Plans: {len(plans.opened):,} opened through the plan commands, their free text sealed with "
                  f"each child's key; {sum(plans.events.values()):,} plan events:")
    console.print(f"  {_kinds(plans.events)}.")
    tally = GateTally(expect_forwarded=intake.directory, expect_routed=intake.reports,
                      expect_released=expected_releases(intake, (consent_of(c) for c in consents.granted.values()), now),
                      gated=intake.gated())
    log = Path(settings.demo_data_dir).parent / "gate-worker.log"
    problem = await run_gate(settings, tally, log, console)
    result = GateStageResult(intake, consents, plans, tally, problem, RegisterStatuses(intake.residents))
    console.print(summary(result))
    for failure in result.failures():
        console.print(f"[red]Gate stage: {failure}[/red]")
    return result


def _kinds(counts: Counter[str]) -> str:
    return ", ".join(f"{n:,} {kind}" for kind, n in counts.most_common())


def _print_consents(consents: Consents, console: Console) -> None:
    granted = consents.granted.values()
    without_social = sum(Category.SOCIAL not in c.categories for c in granted)
    with_child = sum(any(g.role is not GrantorRole.GUARDIAN for g in c.grantors) for c in granted)
    console.print(f"Consents: {len(consents.granted):,} registered for {consents.eligible:,} eligible children "
                  f"({without_social:,} cover HEALTH and SCHOOL only; {with_child:,} granted by the child or young "
                  f"person too).")
    kinds = Counter(kind for kind, _ in consents.rejected)
    console.print(f"Invalid requests: {len(consents.rejected):,} rejected by the registry "
                  f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); "
                  f"{consents.accepted_by_mistake} accepted by mistake.")
    for kind in kinds:
        reasons = next(r for k, r in consents.rejected if k == kind)
        console.print(f"  e.g. {kind}: \"{'; '.join(reasons)}\"")


def summary(result: GateStageResult) -> Table:
    intake, t, consents = result.intake, result.tally, result.consents
    basis = intake.by_basis()
    released = Counter(t.released[i] for i in t.released.keys() & t.gated)
    live = Counter(t.released[i] for i in (t.released.keys() - t.revoked) & t.gated)
    held = {b: basis[b] - live[b] for b in (Basis.CONSENT, Basis.STATUTORY)}
    table = Table(title="Consent gate: what the worker let through")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("check", justify="left")
    rows: list[tuple[str, str, str]] = [
        ("intake facts: DIRECTORY", f"{basis[Basis.DIRECTORY]:,}", "need no consent"),
        ("intake facts: CONSENT", f"{basis[Basis.CONSENT]:,}", "held until a consent covers them"),
        ("intake facts: STATUTORY", f"{basis[Basis.STATUTORY]:,}", "reports of concern"),
        ("consents granted", f"{len(consents.granted):,}", ""),
        ("consent requests rejected", f"{len(consents.rejected):,}", _ok(not consents.accepted_by_mistake)),
        ("plans opened", f"{len(result.plans.opened):,}", f"{sum(result.plans.events.values()):,} plan events"),
        ("facts released to shared", f"{sum(released.values()):,}",
         f"CONSENT {released[Basis.CONSENT]:,} · STATUTORY {released[Basis.STATUTORY]:,}"),
        ("  expected from the consents", f"{len(t.expect_released):,}",
         _ok(t.expect_released <= t.released.keys())),
        ("released without a covering consent", f"{len(result.released_without_consent):,}",
         _ok(not result.released_without_consent)),
        ("facts held (no covering consent)", f"{len(result.held):,}",
         f"CONSENT {held[Basis.CONSENT]:,} · STATUTORY {held[Basis.STATUTORY]:,}"),
        ("releases revoked", f"{len(t.revoked):,}", ""),
        ("directory facts forwarded", f"{len(t.forwarded & t.expect_forwarded):,}",
         f"of {len(t.expect_forwarded):,} {_ok(t.expect_forwarded <= t.forwarded)}"),
        ("reports of concern received (intake.social)", f"{len(t.expect_routed):,}", ""),
        ("reports of concern routed (statutory.social)", f"{len(t.routed & t.expect_routed):,}",
         _ok(t.expect_routed <= t.routed)),
        ("dead letters from the gate", f"{t.dead_letters[GATE_STAGE]:,}", _letters(t)),
        ("gate: worker start to last output", f"{t.seconds:.1f} s",
         f"{t.outputs:,} outputs, {t.rate:,.0f}/s from the first to the last"),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _letters(tally: GateTally) -> str:
    notes = [f"{n}× {reason}" for reason, n in tally.gate_letter_reasons.most_common(2)]
    if tally.backbone_letters:
        notes.append(f"not counted: {tally.backbone_letters} for the backbone stage's sample events")
    return "; ".join(notes)


def _ok(good: bool) -> str:
    return "ok" if good else "[red]FAILED[/red]"

