"""The consent gate's promise, checked against real worker processes (DESIGN §9).

Hypothesis draws many children's histories -- facts of every basis, consents with random
scopes and recipients, some starting or ending a few seconds into the run, withdrawals,
malformed records, and the child's register: unknown, a child the consents fit, a teenager
whose guardians alone granted (so every consent lapses: issue 14), or a custody change in the
middle of the stream -- and sends them through ``kronobarn worker`` while the worker is killed
with SIGKILL and replaced at random points, so its state must come back from the changelog.
After every part of the stream (each restart), and once the stream settles, what stands
released on ``shared`` must equal what the pure folds allow at that moment for what was sent
so far, for every organisation; and no release may ever have lacked a basis.

Each example runs several worker processes, so examples are few but wide (many children per
example); KRONOBARN_GATE_EXAMPLES raises the count. Shrinking is off (an example takes tens of
seconds); a failure prints the reproduction blob and the seed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from projections import consents as consent_fold
from projections import population
from projections.consents import Consent, FactRef, covering, judged, visible
from projections.gate import REGISTER_FACTS
from projections.population import Resident
from schemas.codec import Codec
from schemas.deadletter import DeadLetter
from schemas.events import Area, Basis, Category, ConsentGranted, ConsentWithdrawn, Event
from services.dev.samples import scoped_guardian
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.support.gate import Decisions, Workers, fact, grant, send, settle, withdraw
from tests.support.history import event as register_event
from tests.support.kafka import read_all

EXAMPLES = int(os.environ.get("KRONOBARN_GATE_EXAMPLES", "4"))
ORG_OF = {Category.HEALTH: ("bvc-1", "vc-2"), Category.SCHOOL: ("skola-1",), Category.SOCIAL: ("kommun-0780-soc",)}
ORGS = tuple(o for orgs in ORG_OF.values() for o in orgs)
SOON_START_S, SOON_END_S = 8.0, 14.0  # consent boundaries that pass while the example runs


@dataclass(frozen=True)
class FactSpec:
    category: Category
    org: str
    area: Area | None
    basis: Basis


@dataclass(frozen=True)
class ConsentSpec:
    categories: frozenset[Category]
    orgs: frozenset[str] | None
    areas: frozenset[Area] | None
    recipients: frozenset[str]
    starts_soon: bool
    ends_soon: bool
    withdrawn: bool


@st.composite
def fact_specs(draw: st.DrawFn) -> FactSpec:
    basis = draw(st.sampled_from([Basis.CONSENT, Basis.CONSENT, Basis.STATUTORY, Basis.DIRECTORY]))
    if basis is Basis.STATUTORY:
        category = Category.SOCIAL
    elif basis is Basis.DIRECTORY:
        category = draw(st.sampled_from([Category.HEALTH, Category.SCHOOL]))
    else:
        category = draw(st.sampled_from(list(ORG_OF)))
    area = None if basis is Basis.DIRECTORY else draw(st.one_of(st.none(), st.sampled_from(list(Area))))
    return FactSpec(category, draw(st.sampled_from(ORG_OF[category])), area, basis)


consent_specs = st.builds(
    ConsentSpec,
    st.frozensets(st.sampled_from(list(ORG_OF)), min_size=1),
    st.one_of(st.none(), st.frozensets(st.sampled_from(ORGS), min_size=1)),
    st.one_of(st.none(), st.frozensets(st.sampled_from(list(Area)), min_size=1, max_size=4)),
    st.frozensets(st.sampled_from(ORGS), min_size=1),
    st.booleans(), st.booleans(), st.booleans(),
)


@st.composite
def child_histories(draw: st.DrawFn) -> list[tuple[str, object]]:
    """One child's operations in order: facts and grants interleaved, each withdrawal after
    its grant, now and then a malformed record."""
    ops: list[tuple[str, object]] = [("fact", f) for f in draw(st.lists(fact_specs(), min_size=1, max_size=6))]
    for n, spec in enumerate(draw(st.lists(consent_specs, max_size=3))):
        ops.insert(draw(st.integers(0, len(ops))), ("grant", (n, spec)))
    for n, spec in [p for kind, p in ops if kind == "grant"]:  # type: ignore[misc]
        if spec.withdrawn:
            after = next(i for i, (k, p) in enumerate(ops) if k == "grant" and p[0] == n)  # type: ignore[index]
            ops.insert(draw(st.integers(after + 1, len(ops))), ("withdraw", n))
    if draw(st.integers(0, 9)) == 0:
        ops.insert(draw(st.integers(0, len(ops))), ("malformed", None))
    register = draw(st.sampled_from(["unknown", "fits", "fits", "teen", "custody"]))
    if register != "unknown":
        ops.insert(0, ("register", register))
    if register == "custody":
        ops.insert(draw(st.integers(1, len(ops))), ("custody", None))
    return ops


@dataclass
class World:
    """The events an example sends, and the consents as the gate should end up knowing them."""

    t0: dt.datetime
    events: list[Event | tuple[str, bytes, bytes]]
    facts: dict[uuid.UUID, FactRef]
    consents: list[Consent]  # as judged from everything sent
    malformed: list[bytes]
    registers: list[Event] = field(default_factory=list)  # the children's registrations: sent first
    teens: set[uuid.UUID] = field(default_factory=set)  # children whose guardian alone cannot consent

    @property
    def contradicted(self) -> set[uuid.UUID]:
        """The teenagers' consents: their registrations went in first, so these never were in force."""
        return {c.consent_id for c in self.consents if c.child_id in self.teens}

    def known(self, sent: int) -> tuple[dict[uuid.UUID, FactRef], list[Consent]]:
        """The facts and the consents (judged from the register) the first ``sent`` events hold."""
        facts = {e.event_id: self.facts[e.event_id] for e in self.registers}
        state, residents = consent_fold.ConsentState(), {}
        for e in self.registers + [e for e in self.events[:sent] if not isinstance(e, tuple)]:
            if isinstance(e, ConsentGranted | ConsentWithdrawn):
                state = consent_fold.apply(state, e)
            elif isinstance(e, REGISTER_FACTS):
                residents[e.child_id] = population.apply(residents.get(e.child_id) or Resident(e.child_id), e)
            if e.event_id in self.facts:
                facts[e.event_id] = self.facts[e.event_id]
        return facts, [judged(c, (residents.get(c.child_id) or Resident(c.child_id)).register())
                       for c in state.by_id.values()]


def build(histories: list[list[tuple[str, object]]], t0: dt.datetime) -> World:
    world = World(t0, [], {}, [], [])
    per_child: list[list[Event | tuple[str, bytes, bytes]]] = []
    for c, ops in enumerate(histories):
        child = uuid.uuid4()
        ids: dict[int, uuid.UUID] = {}
        mine: list[Event | tuple[str, bytes, bytes]] = []
        for i, (kind, payload) in enumerate(ops):
            if kind == "register":
                years = 16 if payload == "teen" else 10  # a teenager's guardian alone cannot consent
                born = (t0 - dt.timedelta(days=365 * years + 30)).date()
                registered = [
                    register_event("ChildRegistered", child, 900, basis=Basis.DIRECTORY, org="navet", at=t0 - dt.timedelta(days=2),
                          birth_date=born, municipality_code="0780"),
                    register_event("CustodyRecorded", child, 901, basis=Basis.DIRECTORY, org="navet",
                          at=t0 - dt.timedelta(days=2), recorded_on=born, guardian_ids=(scoped_guardian(child),)),
                ]
                world.registers += registered
                if payload == "teen":
                    world.teens.add(child)
                world.facts.update((e.event_id, FactRef.of(e)) for e in registered)
            elif kind == "custody":  # the guardian who granted is no longer one: consents lapse
                change = register_event("CustodyRecorded", child, 902, basis=Basis.DIRECTORY, org="navet", at=t0,
                               recorded_on=t0.date(), guardian_ids=(uuid.uuid5(child, "new guardian"),))
                world.facts[change.event_id] = FactRef.of(change)
                mine.append(change)
            elif kind == "fact":
                assert isinstance(payload, FactSpec)
                event = fact(child, i, payload.org, payload.category, payload.area, payload.basis)
                world.facts[event.event_id] = FactRef.of(event)
                mine.append(event)
            elif kind == "grant":
                n, spec = payload  # type: ignore[misc]
                ids[n] = uuid.uuid4()
                start = t0 + dt.timedelta(seconds=SOON_START_S) if spec.starts_soon else t0 - dt.timedelta(hours=1)
                end = t0 + dt.timedelta(seconds=SOON_END_S) if spec.ends_soon else t0 + dt.timedelta(days=30)
                mine.append(grant(child, ids[n], spec.categories, spec.recipients, start, end, spec.orgs, spec.areas))
            elif kind == "withdraw":
                mine.append(withdraw(child, ids[payload], t0))  # type: ignore[index]
            else:
                bad = f"not avro {c}:{i}".encode()
                world.malformed.append(bad)
                mine.append(("intake.school", str(child).encode(), bad))
        per_child.append(mine)
    # Round-robin the children so their events interleave on the partitions.
    for step in range(max(len(m) for m in per_child)):
        world.events.extend(m[step] for m in per_child if step < len(m))
    world.consents = world.known(len(world.events))[1]
    return world


def expected_release(world: World, at: dt.datetime, sent: int | None = None) -> dict[uuid.UUID, tuple[uuid.UUID, ...]]:
    """What should stand released at ``at`` once the first ``sent`` events (default: all) are in."""
    facts, consents = world.known(len(world.events) if sent is None else sent)
    out: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}
    for event_id, ref in facts.items():
        if ref.basis is Basis.DIRECTORY:
            out[event_id] = ()
            continue
        cover = covering(ref, at, consents)
        if cover:
            out[event_id] = tuple(sorted(c.consent_id for c in cover))
    return out


def matches(world: World, seen: Decisions, sent: int) -> bool:
    """Whether the gate's releases are what the first ``sent`` events allow now -- or a moment
    ago: a consent boundary may have just passed, which the gate settles on its next tick."""
    now = dt.datetime.now(dt.UTC)
    return any(seen.released == expected_release(world, at, sent) for at in (now, now - dt.timedelta(seconds=2)))


def explain(world: World, seen: Decisions, sent: int) -> str:
    """What differs from the expectation now, fact by fact, with the child's consents as judged."""
    want = expected_release(world, dt.datetime.now(dt.UTC), sent)
    facts, consents = world.known(sent)
    lines = []
    for fid in sorted(set(want) ^ set(seen.released), key=str):
        ref = facts.get(fid) or world.facts[fid]
        mine = [(c.consent_id.hex[:8], c.valid_from.isoformat(timespec="seconds"), c.ends_at.isoformat(timespec="seconds"),
                 c.lapse and c.lapse.value) for c in consents if c.child_id == ref.child_id]
        lines.append(f"{fid.hex[:8]} {ref.basis.value} {ref.category.value} want={want.get(fid)} "
                     f"got={seen.released.get(fid)} consents={mine}")
    return "; ".join(lines)


def check(world: World, seen: Decisions, at: dt.datetime) -> None:
    by_id = {c.consent_id: c for c in world.consents}
    assert seen.released == expected_release(world, at)
    # For every organisation, what the released facts' consents let it see equals visible().
    for org in ORGS:
        via_gate = {f for f, ids in seen.released.items()
                    if world.facts[f].basis is not Basis.DIRECTORY
                    and (org == world.facts[f].source_org
                         or any(org in by_id[i].recipients and by_id[i].active_at(at) for i in ids))}
        allowed = {f for f, ref in world.facts.items()
                   if ref.basis is not Basis.DIRECTORY and f in seen.released and visible(ref, org, at, world.consents)}
        assert via_gate == allowed, org
    # 0 disclosures without a basis, over the whole history of releases.
    for release in seen.releases:
        ref = world.facts[release.fact_event_id]
        if ref.basis is Basis.DIRECTORY:
            assert release.consent_ids == ()
            continue
        assert release.consent_ids, "a consent-based fact released without a consent"
        for cid in release.consent_ids:
            assert by_id[cid].child_id == ref.child_id
            assert by_id[cid].covers(ref.source_org, ref.category, ref.area)
            # The registrations went in first: a consent they contradict was never in force.
            assert cid not in world.contradicted, "released under a consent the register contradicts"
    # Reports of concern reach social services, every one, whatever the consent.
    statutory = {f for f, ref in world.facts.items() if ref.basis is Basis.STATUTORY}
    assert {r.report_event_id for r in seen.routed} == statutory


async def _dead_letters(settings: Settings) -> list[DeadLetter]:
    codec = Codec()
    return [e for e in (codec.decode_record(r) for r in await read_all(settings, ["deadletter"], idle_ms=200))
            if isinstance(e, DeadLetter)]


@pytest.mark.timeout(1800)
@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=list(HealthCheck), print_blob=True)
@given(histories=st.lists(child_histories(), min_size=20, max_size=40),
       cuts=st.lists(st.floats(0.1, 0.9), min_size=1, max_size=2, unique=True),
       pause=st.floats(0.0, 2.0))
def test_gate_releases_exactly_what_visibility_allows_across_worker_restarts(
        histories: list[list[tuple[str, object]]], cuts: list[float], pause: float, tmp_path_factory: pytest.TempPathFactory) -> None:
    t0 = dt.datetime.now(dt.UTC)
    world = build(histories, t0)
    tmp = tmp_path_factory.mktemp("gate")
    bounds = [0, *sorted(int(c * len(world.events)) for c in cuts), len(world.events)]
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        with Workers(broker.bootstrap, tmp) as workers:
            workers.start()
            asyncio.run(send(cfg, world.registers))  # the register first, as in a running county
            settle(cfg, lambda d: set(d.released) >= {e.event_id for e in world.registers}, timeout=120)
            for n, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
                asyncio.run(send(cfg, world.events[lo:hi]))
                if n < len(bounds) - 2:
                    time.sleep(pause)  # let the worker get somewhere, or not, before the kill
                    workers.kill9()
                    workers.start()  # a new process: its state comes back from the changelog
                    # Not only the settled end: after each part, exactly what the rules allow now.
                    # A consent boundary can pass while it settles: settle again until the
                    # settled state is right at the moment it is checked.
                    deadline = time.monotonic() + 180
                    while True:
                        seen = settle(cfg, lambda d, sent=hi: matches(world, d, sent), timeout=180)
                        if matches(world, seen, hi) or time.monotonic() > deadline:
                            break
                    assert matches(world, seen, hi), f"after part {n}: {explain(world, seen, hi)} " + str(workers.logs[-1])
            boundary = t0 + dt.timedelta(seconds=SOON_END_S + 3)
            while dt.datetime.now(dt.UTC) < boundary:
                time.sleep(0.5)
            at = dt.datetime.now(dt.UTC)
            want = expected_release(world, at)
            seen = settle(cfg, lambda d: d.released == want, timeout=180)
            assert workers.alive(), "the worker died; see " + str(workers.logs[-1])
            check(world, seen, at)
            letters = asyncio.run(_dead_letters(cfg))
            assert {bytes(d.original or b"") for d in letters if d.stage == "gate"} == set(world.malformed)
