"""Reading the read model for the web service: rows into plain values, nothing decided here.

Access is decided by ``projections.access`` on what these functions return; the queries only
narrow what is loaded (a coordinator's candidates, one child's rows).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, or_, select

from projections.access import ChildScope, EmergencyGrant
from projections.audit import AuditEntry, AuditKind
from projections.audit_store import AuditStore
from projections.consent_rules import ChildStatus, Lapse
from projections.consents import Consent, FactRef
from projections.plan import ChildPlan
from projections.read_model import (
    action_evaluations,
    actions,
    assessment_history,
    assessments,
    children,
    consents,
    follow_up_reviews,
    follow_ups,
    invitation_answers,
    invitations,
    meetings,
    plan_participants,
    plan_rows,
    released_facts,
)
from schemas.events import Area, Basis, Category, Grantor, GrantorRole
from services.sql.schema import pending_consents

LIST_CANDIDATES_MAX = 20_000  # rows a coordinator's list may look through


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; everything the hub stores is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _list(text: str | None) -> tuple[str, ...]:
    return () if not text else tuple(json.loads(text))


def _optional_list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


@dataclass(frozen=True, slots=True)
class ChildRow:
    child_id: uuid.UUID
    municipality_code: str | None
    birth_date: dt.date | None
    unborn: bool
    guardians: tuple[uuid.UUID, ...]
    named_person_org: str | None
    named_person_rule: str
    named_person_since: dt.date | None
    on_gaps_list: bool
    plan_id: uuid.UUID | None
    plan_status: str | None
    plan_opened_by: str | None
    plan_opened_at: dt.datetime | None
    plan_closed_at: dt.datetime | None
    lead_org: str | None
    participants: tuple[str, ...]
    expectant_parent: uuid.UUID | None = None
    young_person_org: str | None = None
    # The child as a person: ciphertext, opened only at read time (``services.api.person``).
    sealed_identity: bytes | None = None
    sealed_address: bytes | None = None
    sealed_guardians: bytes | None = None
    protection: str = "NONE"
    died_on: dt.date | None = None
    emigrated_on: dt.date | None = None
    merged_into: uuid.UUID | None = None  # this id is that child's now (``services.worker.linker``)
    plan_closed_reason: str | None = None

    @classmethod
    def of(cls, row: Any) -> ChildRow:
        return cls(
            child_id=uuid.UUID(row.child_id), municipality_code=row.municipality_code, birth_date=row.birth_date,
            unborn=bool(row.unborn), guardians=tuple(uuid.UUID(g) for g in _list(row.guardians)),
            named_person_org=row.named_person_org, named_person_rule=row.named_person_rule,
            named_person_since=row.named_person_since, on_gaps_list=bool(row.on_gaps_list),
            plan_id=None if row.plan_id is None else uuid.UUID(row.plan_id), plan_status=row.plan_status,
            plan_opened_by=row.plan_opened_by, plan_opened_at=utc(row.plan_opened_at),
            plan_closed_at=utc(row.plan_closed_at), lead_org=row.lead_org, participants=_list(row.participants),
            expectant_parent=None if row.expectant_parent is None else uuid.UUID(row.expectant_parent),
            young_person_org=row.young_person_org, sealed_identity=_bytes(row.sealed_identity),
            sealed_address=_bytes(row.sealed_address), sealed_guardians=_bytes(row.sealed_guardians),
            protection=row.protection or "NONE", died_on=row.died_on, emigrated_on=row.emigrated_on,
            merged_into=None if row.merged_into is None else uuid.UUID(row.merged_into),
            plan_closed_reason=row.plan_closed_reason,
        )

    @property
    def scope(self) -> ChildScope:
        return ChildScope(self.child_id, self.named_person_org, self.lead_org, frozenset(self.participants),
                          self.young_person_org)

    @property
    def status(self) -> ChildStatus:
        """What the consent rules need: birth date (None while unborn), the guardians, and the
        expectant parent of an unborn child."""
        return ChildStatus(self.child_id, None if self.unborn else self.birth_date, frozenset(self.guardians),
                           self.expectant_parent if self.unborn else None, self.died_on, self.emigrated_on)

    @property
    def plan_open(self) -> bool:
        return self.plan_status == "open"


@dataclass(frozen=True, slots=True)
class FactRow:
    fact_event_id: uuid.UUID
    child_id: uuid.UUID
    fact_type: str
    area: Area | None
    source_org: str
    category: Category
    basis: Basis
    consent_ids: tuple[uuid.UUID, ...]
    released_at: dt.datetime
    fact: bytes

    @property
    def ref(self) -> FactRef:
        return FactRef(self.child_id, self.source_org, self.category, self.area, self.basis)


@dataclass(frozen=True, slots=True)
class PendingRow:
    """A consent this service accepted that the read model may not hold yet (``services.api.pending``)."""

    consent_id: uuid.UUID
    child_id: uuid.UUID
    accepted_at: dt.datetime
    granted: bytes  # the published ConsentGranted, as the hub's codec encoded it
    withdrawn_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PlanRows:
    """One child's plan rows, as stored: loaded by ``ChildReads.plan_rows``, or ``folded``."""

    assessments: list[Any]
    actions: list[Any]
    meetings: list[Any]
    follow_ups: list[Any]
    invitations: list[Any] = dataclasses.field(default_factory=list)
    answers: list[Any] = dataclasses.field(default_factory=list)
    participants: list[Any] = dataclasses.field(default_factory=list)
    reviews: list[Any] = dataclasses.field(default_factory=list)
    evaluations: list[Any] = dataclasses.field(default_factory=list)
    history: list[Any] = dataclasses.field(default_factory=list)

    @classmethod
    def folded(cls, plan: ChildPlan, child_id: uuid.UUID) -> PlanRows:
        """A plan folded from the log (auditors' time travel) as the read model would hold it:
        flattened by ``read_model.plan_rows``, as the projector writes it, and ordered as the
        queries below load it. Where SQL leaves the order to the backend, PostgreSQL's is taken
        (an action without a due date after those with one; SQLite would put it first)."""
        rows = {table: [SimpleNamespace(**r) for r in found]
                for table, found in plan_rows(plan, str(child_id)).items()}
        by_id = sorted(rows[meetings], key=lambda r: r.meeting_id)
        return cls(
            assessments=rows[assessments],  # queried unordered: one per area
            actions=sorted(rows[actions], key=lambda r: (r.due_on is None, r.due_on or dt.date.min, r.action_id)),
            meetings=sorted(by_id, key=lambda r: r.held_on, reverse=True),  # stable: ids ascending within a day
            follow_ups=sorted(rows[follow_ups], key=lambda r: (r.due_on, r.follow_up_id)),
            **{name: sorted(rows[table], key=_ORDER[name]) for name, table in _SIP.items()},
        )


# Built once: a statement object keeps its compiled form and cache key, so a plan page's
# queries cost only their execution.
_CHILD = select(children).where(children.c.child_id == bindparam("cid"))
_CONSENTS = (select(consents).where(consents.c.child_id.in_(bindparam("cids", expanding=True)))
             .order_by(consents.c.valid_from, consents.c.consent_id))
_FACTS = select(released_facts).where(released_facts.c.child_id == bindparam("cid"))
_ASSESSMENTS = select(assessments).where(assessments.c.child_id == bindparam("cid"))
_ACTIONS = (select(actions).where(actions.c.child_id == bindparam("cid"))
            .order_by(actions.c.due_on, actions.c.action_id))
_MEETINGS = (select(meetings).where(meetings.c.child_id == bindparam("cid"))
             .order_by(meetings.c.held_on.desc(), meetings.c.meeting_id))
_PENDING = (select(pending_consents).where(pending_consents.c.child_id == bindparam("cid"))
            .order_by(pending_consents.c.accepted_at, pending_consents.c.consent_id))
_FOLLOW_UPS = (select(follow_ups).where(follow_ups.c.child_id == bindparam("cid"))
               .order_by(follow_ups.c.due_on, follow_ups.c.follow_up_id))
# The SIP's parts (``PlanRows`` field -> table), each in one order, for SQL and for a folded plan.
_SIP = {"invitations": invitations, "answers": invitation_answers, "participants": plan_participants,
        "reviews": follow_up_reviews, "evaluations": action_evaluations, "history": assessment_history}
_ORDER_COLUMNS = {"invitations": ("starts_at", "meeting_id"), "answers": ("meeting_id", "invitee_org"),
                  "participants": ("organisation_id",), "reviews": ("held_on", "follow_up_id"),
                  "evaluations": ("evaluated_on", "action_id", "follow_up_id"),
                  "history": ("assessed_at", "event_id")}
_ORDER = {name: (lambda r, cols=cols: tuple(_comparable(getattr(r, c)) for c in cols))
          for name, cols in _ORDER_COLUMNS.items()}
_SIP_QUERIES = {name: select(table).where(table.c.child_id == bindparam("cid"))
                .order_by(*(table.c[c] for c in _ORDER_COLUMNS[name])) for name, table in _SIP.items()}


def _comparable(value: Any) -> Any:
    """A folded plan's datetimes are aware; SQLite gives them back naive in UTC."""
    return utc(value) if isinstance(value, dt.datetime) else value


class ChildReads:
    """One child's queries on one open connection: a page asks several and pays for one."""

    def __init__(self, connection: Connection) -> None:
        self.c = connection

    def child(self, child_id: uuid.UUID) -> ChildRow | None:
        row = self.c.execute(_CHILD, {"cid": str(child_id)}).first()
        return None if row is None else ChildRow.of(row)

    def consents(self, child_id: uuid.UUID) -> list[Consent]:
        return self.consents_of([child_id]).get(child_id, [])

    def consents_of(self, child_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Consent]]:
        ids = [str(c) for c in child_ids]
        out: dict[uuid.UUID, list[Consent]] = {}
        for first in range(0, len(ids), 500):
            for row in self.c.execute(_CONSENTS, {"cids": ids[first:first + 500]}):
                consent = _consent(row)
                out.setdefault(consent.child_id, []).append(consent)
        return out

    def pending(self, child_id: uuid.UUID) -> list[PendingRow]:
        return [PendingRow(uuid.UUID(r.consent_id), uuid.UUID(r.child_id), utc(r.accepted_at), bytes(r.granted),  # type: ignore[arg-type]
                           utc(r.withdrawn_at)) for r in self.c.execute(_PENDING, {"cid": str(child_id)})]

    def facts(self, child_id: uuid.UUID) -> list[FactRow]:
        found = [_fact(row) for row in self.c.execute(_FACTS, {"cid": str(child_id)})]
        return sorted(found, key=lambda f: (f.released_at, str(f.fact_event_id)))

    def plan_rows(self, child_id: uuid.UUID) -> PlanRows:
        cid = {"cid": str(child_id)}
        return PlanRows(
            assessments=self.c.execute(_ASSESSMENTS, cid).all(),
            actions=self.c.execute(_ACTIONS, cid).all(),
            meetings=self.c.execute(_MEETINGS, cid).all(),
            follow_ups=self.c.execute(_FOLLOW_UPS, cid).all(),
            **{name: self.c.execute(query, cid).all() for name, query in _SIP_QUERIES.items()},
        )


class Reader:
    """The read-model queries of the web service."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.audit = AuditStore(engine)

    @contextmanager
    def reading(self) -> Iterator[ChildReads]:
        with self.engine.connect() as c:
            yield ChildReads(c)

    def consents_of(self, child_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Consent]]:
        with self.reading() as r:
            return r.consents_of(child_ids)

    def plan_rows(self, child_id: uuid.UUID) -> PlanRows:
        with self.reading() as r:
            return r.plan_rows(child_id)

    def candidates(self, org: str, extra: Sequence[uuid.UUID], *, prefix: str | None = None,
                   municipality: str | None = None, has_plan: bool | None = None) -> list[ChildRow]:
        """Children that may be in ``org``'s scope (named person, lead, participant, or ``extra``:
        emergency grants), narrowed by the search; the caller decides with the access rules."""
        c = children.c
        like = '%"' + org.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
        reach = [c.named_person_org == org, c.lead_org == org, c.young_person_org == org,
                 c.participants.like(like, escape="\\")]
        if extra:
            reach.append(c.child_id.in_([str(x) for x in extra]))
        query = select(children).where(or_(*reach))
        if prefix:
            query = query.where(c.child_id.startswith(prefix.lower(), autoescape=True))
        if municipality:  # a protected child's municipality is never shown, so never matched either
            query = query.where(c.municipality_code == municipality, c.protection == "NONE")
        if has_plan is not None:
            query = query.where(c.plan_status == "open") if has_plan else query.where(
                or_(c.plan_status.is_(None), c.plan_status != "open"))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.child_id).limit(LIST_CANDIDATES_MAX)).all()
        return [ChildRow.of(r) for r in rows]

    def gaps(self, municipality_code: str, limit: int, offset: int) -> tuple[list[ChildRow], int]:
        from sqlalchemy import func

        where = (children.c.on_gaps_list.is_(True)) & (children.c.municipality_code == municipality_code)
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(children).where(where)).scalar_one()
            rows = c.execute(select(children).where(where).order_by(children.c.child_id)
                             .limit(limit).offset(offset)).all()
        return [ChildRow.of(r) for r in rows], total

    def merged_ids(self, child_id: uuid.UUID) -> list[uuid.UUID]:
        """The ids that turned out to be this child's (``children.merged_into``), and theirs."""
        found: list[str] = []
        frontier = [str(child_id)]
        with self.engine.connect() as conn:
            while frontier:
                query = select(children.c.child_id).where(children.c.merged_into.in_(frontier))
                frontier = [m for m in conn.execute(query).scalars() if m not in found]
                found += frontier
        return [uuid.UUID(m) for m in found]

    def emergency_grants(self, at: dt.datetime, *, viewer_id: str | None = None,
                         child_id: uuid.UUID | None = None) -> list[EmergencyGrant]:
        """Emergency accesses that may be active at ``at``, as the audit projector logged them."""
        since = at - dt.timedelta(days=7, hours=1)
        found = []
        for entry in self.audit.emergency_accesses(since=since):
            if viewer_id is not None and entry.viewer_id != viewer_id:
                continue
            if child_id is not None and entry.child_id != child_id:
                continue
            grant = grant_of(entry)
            if grant is not None and grant.active_at(at):
                found.append(grant)
        return found


def grant_of(entry: AuditEntry) -> EmergencyGrant | None:
    if entry.kind is not AuditKind.EMERGENCY or entry.expires_at is None:
        return None
    return EmergencyGrant(entry.child_id, entry.viewer_id, entry.organisation_id, utc(entry.occurred_at),
                          utc(entry.expires_at))  # type: ignore[arg-type]


def _consent(row: Any) -> Consent:
    sources = _optional_list(row.source_organisations)
    areas = _optional_list(row.areas)
    return Consent(
        consent_id=uuid.UUID(row.consent_id), child_id=uuid.UUID(row.child_id),
        categories=frozenset(Category(c) for c in _list(row.categories)),
        recipients=frozenset(_list(row.recipients)),
        valid_from=utc(row.valid_from), valid_to=utc(row.valid_to),  # type: ignore[arg-type]
        source_organisations=None if sources is None else frozenset(sources),
        areas=None if areas is None else frozenset(Area(a) for a in areas),
        withdrawn_at=utc(row.withdrawn_at),
        grantors=frozenset(_grantor(g) for g in _list(row.grantors)) if row.grantors else frozenset(),
        granted_at=utc(row.granted_at), lapsed_at=utc(row.lapsed_at),
        lapse=None if row.lapse is None else Lapse(row.lapse),
        obtained=row.obtained, registered_by=row.registered_by,
    )


def _grantor(text: str) -> Grantor:
    role, _, party = text.partition(":")
    return Grantor(uuid.UUID(party), GrantorRole(role))


def _fact(row: Any) -> FactRow:
    return FactRow(
        fact_event_id=uuid.UUID(row.fact_event_id), child_id=uuid.UUID(row.child_id), fact_type=row.fact_type,
        area=None if row.area is None else Area(row.area), source_org=row.source_org,
        category=Category(row.category), basis=Basis(row.basis),
        consent_ids=tuple(uuid.UUID(c) for c in _list(row.consent_ids)), released_at=utc(row.released_at),  # type: ignore[arg-type]
        fact=bytes(row.fact),
    )
