"""The SQL read model: what coordinators and auditors read, derived from ``ChildState``.

``rows(state, at, config)`` is pure: the rows one child contributes at time ``at`` (named
person and gaps evaluated on that day). ``ReadModel`` writes them. A child's rows are always
replaced as a whole -- deleted and inserted in the same transaction -- which makes every write
an idempotent upsert and turns a revoked release into a real deletion (data minimisation), not
a hidden row.

Tracking (STYLE 4): the rows of a batch and the consumer's positions (topic, partition, offset)
are written in one transaction, so after a crash the projector resumes from the positions and
an event it sees again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    false,
    insert,
    select,
)

from projections.child_state import ChildState
from projections.consent_rules import ADULT_AGE, CHILD_GRANTS_FROM, birthday, start_of, swedish_day
from projections.named_person import (
    RULE_ENDED_18,
    Assignment,
    NamedPersonConfig,
    assignment,
    history,
    home_municipality,
    is_gap,
)
from projections.plan import CLOSED, OPEN, ChildPlan
from projections.tables import CHILD_ID_LENGTH, metadata

ORG = 64
BATCH_ROWS = 1_000  # at least this many rows per INSERT round trip

children = Table(
    "children", metadata,
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("municipality_code", String(8), nullable=True, index=True),
    Column("birth_date", Date, nullable=True),
    Column("unborn", Boolean, nullable=False),
    Column("guardians", Text, nullable=False),  # JSON list of pseudonymous party ids (consent rules)
    Column("named_person_org", String(ORG), nullable=True),
    Column("named_person_rule", String(32), nullable=False),
    Column("named_person_since", Date, nullable=True),
    Column("on_gaps_list", Boolean, nullable=False, index=True),
    Column("plan_id", String(CHILD_ID_LENGTH), nullable=True),
    Column("plan_status", String(16), nullable=True),
    Column("plan_opened_by", String(ORG), nullable=True),
    Column("plan_opened_at", DateTime(timezone=True), nullable=True),
    Column("plan_closed_at", DateTime(timezone=True), nullable=True),
    Column("plan_closed_reason", String(40), nullable=True),
    Column("lead_org", String(ORG), nullable=True),
    Column("participants", Text, nullable=False),  # JSON list of organisation ids
    Column("expectant_parent", String(CHILD_ID_LENGTH), nullable=True),  # party id, from the pregnancy record
    # From 18 to 19: the last named person, who may register the young person's own consent.
    Column("young_person_org", String(ORG), nullable=True),
    # Identity (DESIGN §7): sealed bytes as the register sent them, opened at read time for those
    # entitled; never plaintext here. ``protection``: the register's protected personal data.
    Column("sealed_identity", LargeBinary, nullable=True),
    Column("sealed_address", LargeBinary, nullable=True),
    Column("sealed_guardians", LargeBinary, nullable=True),
    Column("protection", String(24), nullable=False, server_default="NONE"),
    Column("died_on", Date, nullable=True),
    Column("emigrated_on", Date, nullable=True),
    Column("merged_into", String(CHILD_ID_LENGTH), nullable=True),  # this id now lives on as that one
)

released_facts = Table(
    "released_facts", metadata,
    Column("fact_event_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), nullable=False, index=True),
    Column("fact_type", String(64), nullable=False),
    Column("area", String(16), nullable=True),
    Column("source_org", String(ORG), nullable=False),
    Column("category", String(16), nullable=False),
    Column("basis", String(16), nullable=False),
    Column("consent_ids", Text, nullable=False),  # JSON list
    Column("released_at", DateTime(timezone=True), nullable=False),
    Column("fact", LargeBinary, nullable=False),  # the source event's Avro bytes
)

assessments = Table(
    "assessments", metadata,
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("area", String(16), primary_key=True),
    Column("rating", Integer, nullable=False),
    Column("assessed_by_org", String(ORG), nullable=False),
    Column("assessed_at", DateTime(timezone=True), nullable=False),
    Column("comment", Text, nullable=True),
    Column("child_view", Text, nullable=True),
    Column("guardians_view", Text, nullable=True),
)

actions = Table(
    "actions", metadata,
    Column("action_id", String(CHILD_ID_LENGTH), primary_key=True),
    # With the child: a merged id's copy stays until its merge is folded (``child_state``).
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("area", String(16), nullable=False),
    Column("responsible_org", String(ORG), nullable=False),
    Column("due_on", Date, nullable=True),
    Column("status", String(16), nullable=False),
    Column("completed_on", Date, nullable=True),
    Column("need", Text, nullable=True),
    Column("what", Text, nullable=True),
    Column("written_by", String(ORG), nullable=True),  # who wrote the text: whom it is shown to
    Column("start_on", Date, nullable=True),
    Column("by_others", Boolean, nullable=False, server_default=false()),
    Column("status_on", Date, nullable=True),
    Column("responsible_person", Text, nullable=True),
    Column("performer", Text, nullable=True),
    Column("status_reason", Text, nullable=True),
)

meetings = Table(
    "meetings", metadata,
    Column("meeting_id", String(CHILD_ID_LENGTH), primary_key=True),
    # With the child: a merged id's copy stays until its merge is folded (``child_state``).
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("held_on", Date, nullable=False),
    Column("participant_orgs", Text, nullable=False),  # JSON list
    Column("lead_org", String(ORG), nullable=True),
    Column("decisions", Text, nullable=True),
    Column("notes", Text, nullable=True),
    Column("written_by", String(ORG), nullable=True),
    Column("child_took_part", Boolean, nullable=True),
    Column("guardians_took_part", Boolean, nullable=True),
    Column("child_voice", Text, nullable=True),
    Column("others_present", Text, nullable=True),
)

# The plan as a SIP (issue 20): kallelser and their answers, each organisation's role and
# responsibilities, follow-ups held with each action's evaluation, and every wheel rating.
invitations = Table(
    "invitations", metadata,
    Column("meeting_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("invited_orgs", Text, nullable=False),  # JSON list
    Column("child_invited", Boolean, nullable=False),
    Column("guardians_invited", Boolean, nullable=False),
    Column("place", Text, nullable=True),
    Column("questions", Text, nullable=True),
    Column("invited_people", Text, nullable=True),
    Column("not_invited_why", Text, nullable=True),
    Column("written_by", String(ORG), nullable=True),
)

invitation_answers = Table(
    "invitation_answers", metadata,
    Column("meeting_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("invitee_org", String(ORG), primary_key=True),
    Column("answer", String(16), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("sends", Text, nullable=True),
    Column("comment", Text, nullable=True),
)

plan_participants = Table(
    "plan_participants", metadata,
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("organisation_id", String(ORG), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("responsibilities", Text, nullable=True),
    Column("contact", Text, nullable=True),
    Column("written_by", String(ORG), nullable=True),
)

follow_up_reviews = Table(
    "follow_up_reviews", metadata,
    Column("follow_up_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("held_on", Date, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("summary", Text, nullable=True),
    Column("written_by", String(ORG), nullable=True),
)

action_evaluations = Table(
    "action_evaluations", metadata,
    Column("action_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("follow_up_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("evaluated_on", Date, nullable=False),
    Column("effect", String(16), nullable=False),
    Column("evaluation", Text, nullable=True),
    Column("child_words", Text, nullable=True),
    Column("guardians_words", Text, nullable=True),
    Column("written_by", String(ORG), nullable=True),
)

assessment_history = Table(
    "assessment_history", metadata,
    Column("event_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("area", String(16), nullable=False),
    Column("rating", Integer, nullable=False),
    Column("assessed_by_org", String(ORG), nullable=False),
    Column("assessed_at", DateTime(timezone=True), nullable=False),
)

follow_ups = Table(
    "follow_ups", metadata,
    Column("follow_up_id", String(CHILD_ID_LENGTH), primary_key=True),
    # With the child: a merged id's copy stays until its merge is folded (``child_state``).
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("area", String(16), nullable=True),
    Column("due_on", Date, nullable=False),
    Column("what", Text, nullable=True),
    Column("written_by", String(ORG), nullable=True),
)

consents = Table(
    "consents", metadata,
    Column("consent_id", String(CHILD_ID_LENGTH), primary_key=True),
    # With the child: a merged id's copy stays until its merge is folded (``child_state``).
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True, index=True),
    Column("categories", Text, nullable=False),  # JSON lists
    Column("recipients", Text, nullable=False),
    Column("source_organisations", Text, nullable=True),
    Column("areas", Text, nullable=True),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("grantors", Text, nullable=True),  # JSON list of "ROLE:party id"
    Column("granted_at", DateTime(timezone=True), nullable=True),
    Column("lapsed_at", DateTime(timezone=True), nullable=True),  # judged from the register
    Column("lapse", String(16), nullable=True),
    Column("obtained", String(16), nullable=True),
    Column("registered_by", String(128), nullable=True),
)

named_person_history = Table(
    "named_person_history", metadata,
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("organisation_id", String(ORG), nullable=True),
    Column("rule", String(32), nullable=False),
    Column("since", Date, nullable=True),
)

# Reports of concern on the statutory route (``projections.reports``): who filed, where it was
# routed, and how far it came back. No personal data: the report is the filed event's sealed bytes.
concern_reports = Table(
    "concern_reports", metadata,
    Column("report_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), nullable=False, index=True),
    Column("filed_in_hub", Boolean, nullable=False),
    Column("reporter_org", String(ORG), nullable=True, index=True),
    Column("reporter_category", String(64), nullable=True),
    # As the route gives it: a register's own words may be longer than a code (a column too short
    # for one would stall the projector on PostgreSQL).
    Column("municipality_code", String(64), nullable=True, index=True),
    Column("acute", Boolean, nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=True),
    Column("routed_at", DateTime(timezone=True), nullable=True),
    Column("report", LargeBinary, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("register_case_id", String(200), nullable=True),
    Column("undelivered_at", DateTime(timezone=True), nullable=True),
    Column("undelivered_reason", Text, nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by_org", String(ORG), nullable=True),
    Column("investigation_opened", Boolean, nullable=True),
    Column("decided_on", Date, nullable=True),
)

# Where each consumer of the read model has got to; written with the rows it produced.
projector_positions = Table(
    "projector_positions", metadata,
    Column("consumer", String(64), primary_key=True),
    Column("topic", String(128), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", Integer, nullable=False),  # the last offset applied
)

SIP_TABLES = (invitations, invitation_answers, plan_participants, follow_up_reviews, action_evaluations,
              assessment_history)
CHILD_TABLES = (released_facts, assessments, actions, meetings, follow_ups, *SIP_TABLES, consents,
                named_person_history, concern_reports, children)
DIGEST_TABLES = (children, released_facts, assessments, actions, meetings, follow_ups, *SIP_TABLES, consents,
                 named_person_history, concern_reports)
Rows = dict[Table, list[dict[str, Any]]]
Position = tuple[str, int]  # (topic, partition)


def _json(values: Iterable[Any] | None) -> str | None:
    if values is None:
        return None
    if type(values) in _IMMUTABLE:  # the same few id and org lists recur across a child's facts
        try:
            return _json_of(values)
        except TypeError:  # an unhashable item: no memo
            pass
    return _json_uncached(values)


def _json_uncached(values: Iterable[Any]) -> str:
    return json.dumps(sorted(str(v) for v in values))


_json_of = functools.lru_cache(maxsize=1 << 16)(_json_uncached)
_IMMUTABLE = (tuple, frozenset)


def rows(state: ChildState, at: dt.datetime, config: NamedPersonConfig,
         child_grants_from: int = CHILD_GRANTS_FROM) -> Rows:
    """The rows one child contributes to the read model at ``at``; its consents as judged
    against its register (``consent_rules``), so a reader sees when each lapses."""
    cid, p, day = str(state.child_id), state.plan, swedish_day(at)  # the day in Sweden, not UTC's
    if state.merged_into is not None:  # only a pointer to the id the child lives on as
        return {children: [_merged_row(cid, state.merged_into)]}
    named = assignment(state.life, day, config)
    status, closed_at, closed_reason = plan_status(state, at)
    out: Rows = {
        children: [{
            "child_id": cid,
            "municipality_code": home_municipality(state.life, day) or state.resident.municipality_code,
            "birth_date": state.resident.birth_date or state.life.birth_date,
            "unborn": state.resident.unborn and state.life.birth_date is None,
            "guardians": _json(state.resident.guardians),
            "named_person_org": named.organisation_id, "named_person_rule": named.rule,
            "named_person_since": named.since, "on_gaps_list": is_gap(named),
            "plan_id": None if p.plan_id is None else str(p.plan_id), "plan_status": status,
            "plan_opened_by": p.opened_by_org, "plan_opened_at": p.opened_at, "plan_closed_at": closed_at,
            "lead_org": p.lead, "participants": _json(p.participants),
            "expectant_parent": None if state.resident.expectant_parent is None else str(state.resident.expectant_parent),
            "young_person_org": young_person_org(state, named, config, day),
            "sealed_identity": state.person.identity, "sealed_address": state.person.address,
            "sealed_guardians": state.person.guardians,
            "protection": state.person.protection._value_,
            "died_on": state.resident.died_on, "emigrated_on": state.resident.emigrated_on,
            "plan_closed_reason": closed_reason,
            "merged_into": None,
        }],
        # Most rows of a read model are released facts: ``_value_`` is ``.value`` without the
        # enum property's call.
        released_facts: [{
            "fact_event_id": str(f.fact_event_id), "child_id": cid, "fact_type": f.fact_type,
            "area": None if f.area is None else f.area._value_, "source_org": f.source_org,
            "category": f.category._value_, "basis": f.basis._value_, "consent_ids": _json(f.consent_ids),
            "released_at": f.released_at, "fact": f.fact,
        } for f in p.facts.values()],
        **plan_rows(p, cid),
        consents: [{
            "consent_id": str(c.consent_id), "child_id": cid, "categories": _json(c.categories),
            "recipients": _json(c.recipients), "source_organisations": _json(c.source_organisations),
            "areas": _json(c.areas), "valid_from": c.valid_from, "valid_to": c.valid_to,
            "withdrawn_at": c.withdrawn_at, "grantors": _json(f"{g.role.value}:{g.party_id}" for g in c.grantors),
            "granted_at": c.granted_at, "lapsed_at": c.lapsed_at, "lapse": None if c.lapse is None else c.lapse.value,
            "obtained": c.obtained, "registered_by": c.registered_by,
        } for c in state.judged_consents(child_grants_from)],
        named_person_history: [{
            "child_id": cid, "seq": n, "organisation_id": a.organisation_id, "rule": a.rule, "since": a.since,
        } for n, a in enumerate(history(state.life, config, day))],
        concern_reports: [{
            "report_id": str(r.report_id), "child_id": cid, "filed_in_hub": r.filed_in_hub,
            "reporter_org": r.reporter_org, "reporter_category": r.reporter_category,
            "municipality_code": r.municipality_code, "acute": r.acute, "reported_at": r.reported_at,
            "routed_at": r.routed_at, "report": r.report, "delivered_at": r.delivered_at,
            "register_case_id": r.register_case_id, "undelivered_at": r.undelivered_at,
            "undelivered_reason": r.undelivered_reason, "acknowledged_at": r.acknowledged_at,
            "acknowledged_by_org": r.acknowledged_by_org, "investigation_opened": r.investigation_opened,
            "decided_on": r.decided_on,
        } for r in state.reports.values()],
    }
    return out


def _merged_row(cid: str, surviving: Any) -> dict[str, Any]:
    """Every column, like any child's row (one INSERT takes a batch of rows of the same shape)."""
    return {c.name: None for c in children.columns} | {
        "child_id": cid, "merged_into": str(surviving), "unborn": False, "guardians": "[]",
        "named_person_rule": "merged", "on_gaps_list": False, "participants": "[]", "protection": "NONE"}


PLAN_CLOSED_BY_DEATH = "CHILD_DIED"  # the reason an open plan reads as closed once the child has died


def plan_status(state: ChildState, at: dt.datetime) -> tuple[str | None, dt.datetime | None, str | None]:
    """The plan's status, when it closed and why, as readers see it at ``at``: the plan fold's,
    except that an open plan of a child who has died reads as closed from the start of the day of
    death (or from its opening, if it was opened after that), with ``PLAN_CLOSED_BY_DEATH``. No
    event closes it: the register's death is the reason, and a replay reads it the same way."""
    p, died = state.plan, state.resident.died_on
    if p.status == OPEN and died is not None and start_of(died) <= at:
        closed_at = start_of(died)
        return CLOSED, closed_at if p.opened_at is None else max(closed_at, p.opened_at), PLAN_CLOSED_BY_DEATH
    return p.status, p.closed_at, p.closed_reason


def young_person_org(state: ChildState, named: Assignment, config: NamedPersonConfig, day: dt.date) -> str | None:
    """From the 18th to the 19th birthday, the organisation that was the named person until 18:
    the programme continues to 19 on the young person's own consent (DESIGN §6, named person
    rule 6), and someone must be able to register it before any plan exists."""
    birth = state.resident.birth_date or state.life.birth_date
    if named.rule != RULE_ENDED_18 or birth is None or day >= birthday(birth, ADULT_AGE + 1):
        return None
    return next((a.organisation_id for a in reversed(history(state.life, config, day)) if a.organisation_id), None)


def plan_rows(p: ChildPlan, cid: str) -> Rows:
    """The rows of the plan itself (assessments, actions, meetings, follow-ups), unordered: part
    of ``rows``, and the one flattening of a plan -- the web service reads a plan folded up to a
    past moment (auditors' time travel) through these rows too, so it looks as the live page did."""
    return {
        assessments: [{
            "child_id": cid, "area": a.area.value, "rating": a.rating, "assessed_by_org": a.assessed_by_org,
            "assessed_at": a.assessed_at, "comment": a.comment, "child_view": a.child_view,
            "guardians_view": a.guardians_view,
        } for a in p.assessments.values()],
        actions: [{
            "action_id": str(a.action_id), "child_id": cid, "area": a.area.value, "responsible_org": a.responsible_org,
            "due_on": a.due_on, "status": a.status, "completed_on": a.completed_on, "need": a.need, "what": a.what,
            "written_by": a.written_by, "start_on": a.start_on, "by_others": a.by_others, "status_on": a.status_on,
            "responsible_person": a.responsible_person, "performer": a.performer, "status_reason": a.status_reason,
        } for a in p.actions.values()],
        meetings: [{
            "meeting_id": str(m.meeting_id), "child_id": cid, "held_on": m.held_on,
            "participant_orgs": _json(m.participant_orgs), "lead_org": m.lead_org, "decisions": m.decisions,
            "notes": m.notes, "written_by": m.written_by, "child_took_part": m.child_took_part,
            "guardians_took_part": m.guardians_took_part, "child_voice": m.child_voice,
            "others_present": m.others_present,
        } for m in p.meetings.values()],
        follow_ups: [{
            "follow_up_id": str(f.follow_up_id), "child_id": cid, "area": None if f.area is None else f.area.value,
            "due_on": f.due_on, "what": f.what, "written_by": f.written_by,
        } for f in p.follow_ups.values()],
        invitations: [{
            "meeting_id": str(i.meeting_id), "child_id": cid, "starts_at": i.starts_at,
            "invited_orgs": _json(i.invited_orgs), "child_invited": i.child_invited,
            "guardians_invited": i.guardians_invited, "place": i.place, "questions": i.questions,
            "invited_people": i.invited_people, "not_invited_why": i.not_invited_why, "written_by": i.written_by,
        } for i in p.invitations.values()],
        invitation_answers: [{
            "meeting_id": str(a.meeting_id), "child_id": cid, "invitee_org": a.invitee_org, "answer": a.answer.value,
            "answered_at": a.answered_at, "sends": a.sends, "comment": a.comment,
        } for a in p.answers.values()],
        plan_participants: [{
            "child_id": cid, "organisation_id": r.organisation_id, "role": r.role.value, "active": r.active,
            "responsibilities": r.responsibilities, "contact": r.contact, "written_by": r.written_by,
        } for r in p.roles.values()],
        follow_up_reviews: [{
            "follow_up_id": str(r.follow_up_id), "child_id": cid, "held_on": r.held_on, "outcome": r.outcome.value,
            "summary": r.summary, "written_by": r.written_by,
        } for r in p.reviews.values()],
        action_evaluations: [{
            "action_id": str(e.action_id), "follow_up_id": str(e.follow_up_id), "child_id": cid,
            "evaluated_on": e.evaluated_on, "effect": e.effect.value, "evaluation": e.evaluation,
            "child_words": e.child_words, "guardians_words": e.guardians_words, "written_by": e.written_by,
        } for e in p.evaluations.values()],
        assessment_history: [{
            "event_id": str(r.event_id), "child_id": cid, "area": r.area.value, "rating": r.rating,
            "assessed_by_org": r.assessed_by_org, "assessed_at": r.assessed_at,
        } for r in p.ratings.values()],
    }


@dataclass
class Batch:
    """Children whose rows are to be replaced, and the positions reached by applying them."""

    states: dict[Any, ChildState] = field(default_factory=dict)
    positions: dict[Position, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.states)


class ReadModel:
    """The read-model tables on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, config: NamedPersonConfig, child_grants_from: int = CHILD_GRANTS_FROM) -> None:
        self.engine, self.config, self.child_grants_from = engine, config, child_grants_from

    def write(self, batch: Batch, consumer: str, at: dt.datetime, *, fresh: bool = False) -> int:
        """Replace the batch's children and move ``consumer``'s positions, in one transaction.

        ``fresh`` skips the deletes, for a replay into empty tables. Returns the rows written.
        """
        pending: Rows = {t: [] for t in CHILD_TABLES}
        for state in batch.states.values():
            for table, found in rows(state, at, self.config, self.child_grants_from).items():
                pending[table].extend(found)
        ids = [str(c) for c in batch.states]
        written = 0
        with self.engine.begin() as connection:
            if not fresh:
                for first in range(0, len(ids), BATCH_ROWS):
                    chunk = ids[first:first + BATCH_ROWS]
                    for table in CHILD_TABLES:
                        connection.execute(delete(table).where(table.c.child_id.in_(chunk)))
            for table in reversed(CHILD_TABLES):  # children first
                found = pending[table]
                _insert(connection, table, found)
                written += len(found)
            self._track(connection, consumer, batch.positions)
        return written

    @staticmethod
    def _track(connection: Any, consumer: str, positions: Mapping[Position, int]) -> None:
        t = projector_positions
        for (topic, partition), offset in positions.items():
            where = (t.c.consumer == consumer) & (t.c.topic == topic) & (t.c.partition == partition)
            connection.execute(delete(t).where(where))
            connection.execute(insert(t).values(consumer=consumer, topic=topic, partition=partition, offset=offset))

    def positions(self, consumer: str) -> dict[Position, int]:
        t = projector_positions
        with self.engine.connect() as connection:
            found = connection.execute(select(t.c.topic, t.c.partition, t.c.offset).where(t.c.consumer == consumer))
            return {(topic, partition): offset for topic, partition, offset in found}

    def clear(self) -> None:
        """Empty every read-model table and every tracked position (before a rebuild)."""
        with self.engine.begin() as connection:
            for table in (*CHILD_TABLES, projector_positions):
                connection.execute(delete(table))

    def scrub_text(self, child_ids: Iterable[Any], erased: str) -> None:
        """Crypto-shredding reaches the read model: these children's free text reads as ``erased``."""
        ids = sorted({str(c) for c in child_ids})
        columns = {assessments: ("comment", "child_view", "guardians_view"), actions: ("need", "what"),
                   meetings: ("decisions", "notes"), follow_ups: ("what",)}
        with self.engine.begin() as connection:
            for first in range(0, len(ids), BATCH_ROWS):
                chunk = ids[first:first + BATCH_ROWS]
                for table, names in columns.items():
                    for name in names:
                        column = table.c[name]
                        connection.execute(table.update().where(table.c.child_id.in_(chunk) & column.is_not(None)
                                                                & (column != erased)).values({name: erased}))

    def digest(self) -> str:
        """A stable SHA-256 over every read-model row (not the positions), the same on any backend."""
        h = hashlib.sha256()
        with self.engine.connect() as connection:
            for table in DIGEST_TABLES:
                h.update(f"\n{table.name}\n".encode())
                order = [c for c in table.primary_key.columns]
                for row in connection.execute(select(table).order_by(*order)):
                    h.update(json.dumps([_canonical(v) for v in row], separators=(",", ":")).encode())
                    h.update(b"\n")
        return h.hexdigest()

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func

        with self.engine.connect() as connection:
            return {t.name: connection.execute(select(func.count()).select_from(t)).scalar_one() for t in DIGEST_TABLES}


# -- bulk inserts ------------------------------------------------------------------------------
# SQLAlchemy's executemany binds every row through its compiled statement, which costs more
# than the database's own work for the many small rows of a replay. Rows here go to the driver
# as tuples, each value through the column type's own bind processor for the dialect -- the
# very conversion SQLAlchemy applies -- so what is stored does not change: on SQLite in one
# ``executemany`` per ``BATCH_ROWS``; on PostgreSQL through ``COPY ... FROM STDIN``.


@dataclass(frozen=True, slots=True)
class _Loader:
    sql: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def rows(self, found: list[dict[str, Any]]) -> list[Any]:
        values = self.values
        if not self.processors:
            return [values(r) for r in found]
        out = []
        for r in found:
            row = list(values(r))
            for i, process in self.processors:
                row[i] = process(row[i])
            out.append(row)
        return out


_LOADERS: dict[tuple[str, str], _Loader] = {}


def _loader(dialect: Any, table: Table) -> _Loader:
    key = (dialect.name, table.name)
    loader = _LOADERS.get(key)
    if loader is None:
        columns = list(table.columns)
        processors = tuple((i, _faster(c.type.dialect_impl(dialect), p)) for i, c in enumerate(columns)
                           if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None)
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(c.name) for c in columns)
        target = dialect.identifier_preparer.format_table(table)
        if dialect.name == "postgresql":
            sql = f"COPY {target} ({names}) FROM STDIN"
        else:
            sql = f"INSERT INTO {target} ({names}) VALUES ({', '.join('?' for _ in columns)})"
        getter = itemgetter(*(c.name for c in columns))  # every read-model table has several columns
        loader = _LOADERS[key] = _Loader(sql, getter, processors)
    return loader


_PROBES = (dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC), dt.datetime(1, 1, 1),
           dt.datetime(9999, 12, 31, 23, 59, 59, 999_999),
           dt.datetime(2026, 3, 29, 2, 30, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))))


def _faster(impl: Any, process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLite stores a datetime as SQLAlchemy's default storage format, which is the first 26
    characters of ``isoformat(" ")`` with microseconds, in a fraction of the time. Taken only
    where the type's own processor gives exactly that; anything but a ``datetime`` goes to it."""
    if not isinstance(impl, DateTime) or any(process(v) != v.isoformat(" ", "microseconds")[:26] for v in _PROBES):
        return process
    exact = dt.datetime

    def datetime_text(value: Any) -> Any:
        return value.isoformat(" ", "microseconds")[:26] if type(value) is exact else process(value)

    return datetime_text


class WriteError(RuntimeError):
    """A bulk insert the database refused. Names the table and the error, never a value."""


def _insert(connection: Any, table: Table, found: list[dict[str, Any]]) -> None:
    if not found:
        return
    dialect = connection.dialect
    copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
    if not copy and dialect.name != "sqlite":
        for first in range(0, len(found), BATCH_ROWS):  # another backend: SQLAlchemy's own path
            connection.execute(insert(table), found[first:first + BATCH_ROWS])
        return
    loader = _loader(dialect, table)
    cursor = connection.connection.driver_connection.cursor()
    try:
        if copy:
            with cursor.copy(loader.sql) as load:
                for row in loader.rows(found):
                    load.write_row(row)
        else:
            for first in range(0, len(found), BATCH_ROWS):
                cursor.executemany(loader.sql, loader.rows(found[first:first + BATCH_ROWS]))
    except dialect.loaded_dbapi.Error as exc:
        # A driver's message can quote a row (COPY's context does): keep only what names no value.
        diag = getattr(exc, "diag", None)
        detail = (f"sqlstate {exc.sqlstate}, constraint {diag.constraint_name}, column {diag.column_name}"
                  if diag is not None else str(exc))
        raise WriteError(f"writing {table.name} failed: {type(exc).__name__} ({detail})") from None
    finally:
        cursor.close()


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return hashlib.sha256(bytes(value)).hexdigest()
    return value
