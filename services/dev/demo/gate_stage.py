"""The demo's gate stage: coordinators register consents and open plans, and the gate lets through
only what consent allows (DESIGN §6). The steps are modules of their own: ``county_view`` (the
intake read back), ``consents``, ``plans`` and ``gate`` (the worker at work); this module runs
them in order, checks the outcome and prints it. ``GateStageResult`` keeps it for later stages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from projections.consents import consent_of
from schemas.codec import Codec
from schemas.events import Basis, Category, GrantorRole
from services.dev.demo.consents import Consents, register_consents
from services.dev.demo.county_view import Intake, RegisterStatuses, read_intake
from services.dev.demo.gate import GateTally, expected_releases, run_gate
from services.dev.demo.lapses import PastConsents, described, read_lapses, register_past_consents
from services.dev.demo.life_events import RELEASED_AFTER_DEATH, county_life, released_after_death
from services.dev.demo.life_events import described as described_life
from services.dev.demo.merges import described_merges
from services.dev.demo.plans import Plans, open_plans
from services.dev.demo.publishing import Publisher
from services.kafka import clients as kafka
from services.settings import Settings
from services.worker.gate import STAGE as GATE_STAGE

NOT_ROUTED = "not every report of concern reached statutory.social"
NONE_RELEASED = "no fact was released"
NONE_HELD = "no fact was held: every fact had a covering consent"
UNCOVERED = "{n} facts were released without a covering consent"
ACCEPTED = "{n} invalid consent requests were accepted"
NONE_REJECTED = "no invalid consent request was rejected"
PLAN_REFUSED = "the plan commands refused the demo's own input: {reasons}"


@dataclass
class Coordinated:
    """What the coordinators did once the gate held the register (empty if it never got there)."""

    consents: Consents = field(default_factory=Consents)
    past: PastConsents = field(default_factory=PastConsents)
    plans: Plans = field(default_factory=Plans)


@dataclass
class GateStageResult:
    """Everything the stage did and saw, for the summary and for later demo stages."""

    intake: Intake
    consents: Consents
    plans: Plans
    tally: GateTally
    problem: str  # "" if the gate settled
    statuses: RegisterStatuses
    past: PastConsents = field(default_factory=PastConsents)  # consents given before a change in life

    @property
    def held(self) -> set[uuid.UUID]:
        """Gated facts not (or no longer) released: no covering consent."""
        live = self.tally.released.keys() - self.tally.revoked
        return self.tally.gated - live

    @property
    def released_without_consent(self) -> set[uuid.UUID]:
        return (self.tally.released.keys() & self.tally.gated) - self.tally.expect_released

    @property
    def released_after_death(self) -> int:
        return released_after_death(self.intake, self.tally.releases)

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
            (self.past.failure() is not None, self.past.failure() or ""),
            (self.released_after_death > 0, RELEASED_AFTER_DEATH.format(n=self.released_after_death)),
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
    console.print(described_merges(intake))
    console.print(described_life(county_life(intake)))
    tally = GateTally(expect_forwarded=intake.directory, expect_routed=intake.reports, expect_released=set(),
                      gated=intake.gated())
    done = Coordinated()

    async def coordinators() -> None:
        """Consents and plans, once the gate holds the county's register (``run_gate``)."""
        now = dt.datetime.now(dt.UTC)
        producer = kafka.producer(settings)
        await producer.start()
        try:
            publish = Publisher(producer, codec)
            done.consents = await register_consents(intake, publish, now)
            done.past = await register_past_consents(intake, publish, now, settings)
            done.plans = await open_plans(intake, done.consents, publish)
            valid = (*done.consents.granted.values(), *done.past.valid)
            tally.expect_released = expected_releases(intake, (consent_of(c) for c in valid), now)
            await publish.delivered()
        finally:
            await producer.stop()

    log = Path(settings.demo_data_dir).parent / "gate-worker.log"
    problem = await run_gate(settings, tally, log, console, coordinators)
    consents, past, plans = done.consents, done.past, done.plans
    _print_consents(consents, console)
    console.print(f"Plans: {len(plans.opened):,} opened through the plan commands, their free text sealed with "
                  f"each child's key; {sum(plans.events.values()):,} plan events:")
    console.print(f"  {_kinds(plans.events)}.")
    read_lapses(settings, past, dt.datetime.now(dt.UTC))
    console.print(described(past))
    result = GateStageResult(intake, consents, plans, tally, problem, RegisterStatuses(intake.residents), past)
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
        ("released after the child's death", f"{result.released_after_death:,}",
         _ok(not result.released_after_death)),
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
    return "; ".join(f"{n}× {reason}" for reason, n in tally.gate_letter_reasons.most_common(2))


def _ok(good: bool) -> str:
    return "ok" if good else "[red]FAILED[/red]"

