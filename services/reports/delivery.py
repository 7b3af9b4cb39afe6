"""Delivery of reports of concern into the social services' own case registers (issue 19; DESIGN
§6, STATUTORY facts): a consumer of ``statutory.social`` beside the worker's agents.

* **Exactly once.** Each report filed through the hub (a ``ReportOfConcernRouted`` with
  ``filed_in_hub``) is handed to the municipality's register by its report id; the register keeps
  one case per id (``connectors.social_register``), and offsets are committed only after the
  outcome is published. A crash anywhere repeats the delivery, never the case; the outcome events
  have deterministic ids, so their repeats are recognisable too.
* **Retries, then the reporter is told.** A register that cannot be reached is tried again with
  a growing pause, ``max_attempts`` times; meanwhile its partition is paused at the report (the
  reports behind it wait, in order) and the others go on. A report the register refuses, or one
  it never takes, goes to ``deadletter`` with the reason and comes back as
  ``ReportOfConcernUndelivered``, which the reporter sees (they must then reach the social
  services another way).
* **Waiting durably.** While this consumer is down, or no register is configured at all (then it
  does not run), the reports wait on the topic; nothing commits past them. A municipality left out
  of a configuration that names others is a report the hub cannot deliver: undelivered at once.
* **The decision back.** Every ``assess_every_s`` the registers are asked about the delivered
  reports of this consumer's partitions that have no decision yet (from the read model); each
  decision is published once as ``ReportOfConcernAssessed`` -- an investigation opened or not,
  nothing more of the case.

Reports read from a register (``ReportOfConcernReceived``) are there already and are passed by.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import Engine, select

from connectors.social_register import (
    Assessment,
    RegisterRejected,
    RegisterUnavailable,
    ReportForRegister,
    ReportRegister,
    SqlReportRegister,
)
from projections.read_model import concern_reports
from schemas.codec import Codec, DecodeError
from schemas.county import SOCIAL, CountyDirectory
from schemas.events import (
    Area,
    Basis,
    Category,
    Envelope,
    Event,
    ReportOfConcernAssessed,
    ReportOfConcernDelivered,
    ReportOfConcernFiled,
    ReportOfConcernRouted,
    ReportOfConcernUndelivered,
    Source,
)
from schemas.sealing import Personal
from schemas.topics import DEADLETTER, STATUTORY_SOCIAL, key_for
from services.kafka import clients
from services.kafka.deadletter import dead_letter_for
from services.kafka.partitions import partition_of
from services.settings import Settings

log = structlog.get_logger(__name__)
STAGE = "delivery"
SYSTEM = "kronobarn-delivery"
OUTCOME_NAMESPACE = uuid.UUID("0c8f1a52-6a43-4f0e-9d1e-5b7f2c4a9e31")
ERASED = "the child's data was erased before delivery"
NOT_A_REPORT = "the routed report is not a report of concern filed through the hub"
UNREADABLE = "the report's sealed content lacks {field}"
NO_REGISTER = "no social register is configured for the child's municipality"


def group_of(settings: Settings) -> str:
    return f"{settings.worker_group}-delivery"


def outcome(kind: type[Event], report_id: uuid.UUID, child_id: uuid.UUID, org: str, at: dt.datetime,
            **fields: Any) -> Event:
    """One of the route's way-back events; its id is the kind's and the report's, so repeating it
    after a crash gives the same event."""
    envelope = Envelope(
        event_id=uuid.uuid5(OUTCOME_NAMESPACE, f"{kind.__name__}|{report_id}"), type=kind.__name__,
        child_id=child_id, occurred_at=at, recorded_at=at, source=Source(SYSTEM, org, str(report_id), "1"),
        basis=Basis.STATUTORY, category=Category.SOCIAL, area=Area.SAFETY,
    )
    return kind(envelope=envelope, report_event_id=report_id, **fields)


def for_register(routed: ReportOfConcernRouted, filed: Event) -> ReportForRegister:
    """What the register takes, from the routed report opened with the child's key."""
    if not isinstance(filed, ReportOfConcernFiled):
        raise RegisterRejected(NOT_A_REPORT)
    sealed = filed.envelope.sealed
    if not isinstance(sealed, Personal):  # ERASED: the key is gone, and the report with it
        raise RegisterRejected(ERASED)
    text = sealed.fields

    def need(name: str) -> str:
        value = text.get(name)
        if not isinstance(value, str) or not value.strip():
            raise RegisterRejected(UNREADABLE.format(field=name))
        return value

    why = text.get("guardians_not_informed_why")
    return ReportForRegister(
        report_id=filed.report_id, municipality_code=routed.municipality_code, personnummer=need("personnummer"),
        reporter_org=filed.envelope.source.organisation_id, reporter_category=filed.reporter_category,
        reporter_name=need("reporter_name"), reporter_role=str(text.get("reporter_role") or ""),
        reporter_contact=need("reporter_contact"), acute=filed.acute, observed_on=filed.observed_on,
        guardians_informed=filed.guardians_informed, guardians_not_informed_why=why if isinstance(why, str) else None,
        observation=str(text.get("observation") or ""), filed_at=filed.envelope.occurred_at,
    )


@dataclass
class Registers:
    """The case register of each municipality: one for all (``social_register_url``), or one per
    code (``social_register_urls``), opened when first needed."""

    default_url: str | None
    by_code: Mapping[str, str] = field(default_factory=dict)
    opener: Callable[[str], ReportRegister] = SqlReportRegister.from_url
    _open: dict[str, ReportRegister] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Registers:
        return cls(settings.social_register_url, dict(settings.social_register_urls))

    @property
    def configured(self) -> bool:
        return bool(self.default_url or self.by_code)

    def of(self, code: str) -> ReportRegister:
        url = self.by_code.get(code) or self.default_url
        if url is None:
            raise RegisterRejected(NO_REGISTER)  # at once: no retry brings a register that is not there
        if url not in self._open:
            self._open[url] = self.opener(url)
        return self._open[url]

    def close(self) -> None:
        for register in self._open.values():
            register.close()
        self._open.clear()


@dataclass
class Delivery:
    settings: Settings
    codec: Codec  # opens sealed fields with the hub's key store
    registers: Registers
    engine: Engine  # the hub's database, for the reports awaiting a decision
    directory: CountyDirectory
    max_attempts: int = 8
    first_pause_s: float = 0.5
    max_pause_s: float = 30.0
    assess_every_s: float = 10.0
    plain: Codec = field(default_factory=Codec)  # outcomes carry nothing sealed
    consumer_options: dict[str, Any] = field(default_factory=dict)  # aiokafka's, over the hub's defaults
    delivered: int = 0
    undelivered: int = 0
    _consumer: AIOKafkaConsumer | None = None
    _producer: AIOKafkaProducer | None = None
    _paused: dict[TopicPartition, float] = field(default_factory=dict)  # partition -> resume at (monotonic)
    _attempts: dict[uuid.UUID, int] = field(default_factory=dict)  # report -> failed attempts so far

    async def run(self, stop: asyncio.Event) -> None:
        self._consumer = clients.consumer(self.settings, STATUTORY_SOCIAL.name, group_id=group_of(self.settings),
                                          **self.consumer_options)
        self._producer = clients.producer(self.settings)
        await self._producer.start()
        await self._consumer.start()
        log.info("delivery.started", group=group_of(self.settings))
        assessing = asyncio.create_task(self._assess_forever(stop))
        try:
            while not stop.is_set():
                self._resume_due()
                batches = await self._consumer.getmany(timeout_ms=500, max_records=200)
                for tp, records in batches.items():
                    await self._partition(tp, records)
        finally:
            assessing.cancel()
            await asyncio.gather(assessing, return_exceptions=True)
            await self._consumer.stop()
            await self._producer.stop()
            self.registers.close()
            log.info("delivery.stopped", delivered=self.delivered, undelivered=self.undelivered)

    async def _partition(self, tp: TopicPartition, records: list[Any]) -> None:
        """Handle a partition's records in order, committing what is done. A report whose register
        cannot be reached stops the partition there: it is sought back and paused for the retry's
        pause, and the loop goes on polling (a consumer that stopped polling for as long as an
        outage lasts would be put out of its group)."""
        assert self._consumer is not None
        done = None
        for record in records:
            pause = await self._handle(record.value, record.key, tp, record.offset)
            if pause is not None:
                self._consumer.seek(tp, record.offset)
                self._consumer.pause(tp)
                self._paused[tp] = time.monotonic() + pause
                break
            done = record.offset
        if done is not None:
            await self._consumer.commit({tp: done + 1})

    def _resume_due(self) -> None:
        assert self._consumer is not None
        now = time.monotonic()
        for tp in [tp for tp, until in self._paused.items() if until <= now]:
            del self._paused[tp]
            if tp in self._consumer.assignment():
                self._consumer.resume(tp)

    # -- delivering -------------------------------------------------------------------------

    async def _handle(self, value: bytes | None, key: bytes | None, tp: TopicPartition, offset: int) -> float | None:
        """Deliver one record's report; None when it is done with, else the pause before it is
        tried again (its register could not be reached)."""
        try:
            event = self.plain.decode(value, topic=tp.topic, partition=tp.partition, offset=offset)
        except (DecodeError, ValueError) as exc:  # the projector dead-letters it too; so it is seen here
            await self._dead_letter(key, value, tp, offset, exc)
            return None
        if not isinstance(event, ReportOfConcernRouted) or not event.filed_in_hub:
            return None
        report_id = event.report_event_id
        try:
            case_id = await self._deliver(event)
        except RegisterUnavailable as exc:
            attempt = self._attempts[report_id] = self._attempts.get(report_id, 0) + 1
            if attempt < self.max_attempts:
                pause = min(self.max_pause_s, self.first_pause_s * 2 ** (attempt - 1))
                log.warning("delivery.retry", attempt=attempt, pause_s=round(pause, 2), error=str(exc))
                return pause
            rejected = RegisterRejected(f"{exc}; gave up after {attempt} attempts")
        except RegisterRejected as exc:
            rejected = exc
        else:
            self._attempts.pop(report_id, None)
            await self._send(outcome(ReportOfConcernDelivered, report_id, event.child_id,
                                     self._social_services(event.municipality_code), _now(),
                                     municipality_code=event.municipality_code, register_case_id=case_id))
            self.delivered += 1
            log.info("delivery.delivered", report_id=str(report_id), acute=event.acute)
            return None
        self._attempts.pop(report_id, None)
        await self._dead_letter(key, value, tp, offset, rejected)
        await self._send(outcome(ReportOfConcernUndelivered, report_id, event.child_id,
                                 self._social_services(event.municipality_code), _now(), reason=str(rejected)))
        self.undelivered += 1
        log.warning("delivery.undelivered", report_id=str(report_id), reason=str(rejected))
        return None

    async def _deliver(self, routed: ReportOfConcernRouted) -> str:
        """Into the register, once: the case id; ``RegisterRejected`` when it refuses the report,
        ``RegisterUnavailable`` when it cannot take it now (an adapter's own failure counts so)."""
        try:
            filed = self.codec.decode(routed.report)
        except (DecodeError, ValueError) as exc:
            raise RegisterRejected(f"{NOT_A_REPORT}: {type(exc).__name__}") from None
        report = for_register(routed, filed)
        register = self.registers.of(routed.municipality_code)
        try:
            return await asyncio.to_thread(register.deliver, report)
        except (RegisterRejected, RegisterUnavailable):
            raise
        except Exception as exc:  # noqa: BLE001 - an adapter's own failure is an outage until it says otherwise
            raise RegisterUnavailable(type(exc).__name__) from None  # its type only: a message may quote the report

    # -- decisions --------------------------------------------------------------------------

    async def _assess_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.assess_once()
            except Exception as exc:  # noqa: BLE001 - a failed round is tried again next time; never the loop
                log.warning("delivery.assess_failed", error=type(exc).__name__)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.assess_every_s)
            except TimeoutError:
                pass

    async def assess_once(self) -> int:
        """Publish the decisions the registers have made on delivered reports; how many."""
        assert self._consumer is not None and self._producer is not None
        mine = {tp.partition for tp in self._consumer.assignment() if tp.topic == STATUTORY_SOCIAL.name}
        if not mine:
            return 0
        waiting = await asyncio.to_thread(self._undecided)
        by_code: dict[str, dict[str, tuple[str, str]]] = {}
        for report_id, child_id, code, case_id in waiting:
            if partition_of(child_id, self.settings.partitions) in mine:
                by_code.setdefault(code, {})[case_id] = (report_id, child_id)
        published = 0
        for code, cases in by_code.items():
            try:
                found: dict[str, Assessment] = await asyncio.to_thread(self.registers.of(code).assessments, list(cases))
            except RegisterUnavailable as exc:
                log.warning("delivery.assess_unavailable", municipality_code=code, error=str(exc))
                continue
            for case_id, decision in found.items():
                report_id, child_id = cases[case_id]
                await self._send(outcome(ReportOfConcernAssessed, uuid.UUID(report_id), uuid.UUID(child_id),
                                         self._social_services(code), _now(),
                                         investigation_opened=decision.investigation_opened,
                                         decided_on=decision.decided_on))
                published += 1
        return published

    def _undecided(self) -> list[tuple[str, str, str, str]]:
        t = concern_reports.c
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(  # type: ignore[misc]
                select(t.report_id, t.child_id, t.municipality_code, t.register_case_id)
                .where(t.filed_in_hub.is_(True), t.register_case_id.is_not(None), t.decided_on.is_(None)))]

    # -- output -----------------------------------------------------------------------------

    async def _send(self, event: Event) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(STATUTORY_SOCIAL.name, self.plain.encode(event), key=key_for(event))

    async def _dead_letter(self, key: bytes | None, value: bytes | None, tp: TopicPartition, offset: int,
                           exc: Exception) -> None:
        assert self._producer is not None
        letter = dead_letter_for(stage=STAGE, error=exc, topic=tp.topic, partition=tp.partition, offset=offset,
                                 original=value)
        await self._producer.send_and_wait(DEADLETTER.name, self.plain.encode(letter), key=key)
        log.warning("delivery.dead_letter", partition=tp.partition, offset=offset, error_type=type(exc).__name__)

    def _social_services(self, code: str) -> str:
        """The social services of a municipality as the county directory names them."""
        units = self.directory.units_of(SOCIAL, code)
        return units[0].id if units else f"kommun-{code}-soc"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
