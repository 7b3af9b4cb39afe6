"""Event types: frozen, past-tense value objects that mirror ``schemas/avro/*.avsc``.

Each class is one Avro record: an ``envelope`` plus the event's own fields. Field names and
order follow the .avsc file; ``tests/unit/test_events_mirror_schemas.py`` keeps the two in step.
Personal data never sits in a plain field: it travels in ``envelope.sealed`` (see ``sealing``).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from uuid import UUID

from schemas.sealing import Sealed


class Basis(enum.StrEnum):
    """Why a fact may travel: needs no consent, needs consent, or required by law."""

    DIRECTORY = "DIRECTORY"
    CONSENT = "CONSENT"
    STATUTORY = "STATUTORY"


class Category(enum.StrEnum):
    HEALTH = "HEALTH"
    SCHOOL = "SCHOOL"
    SOCIAL = "SOCIAL"
    POPULATION = "POPULATION"
    PLAN = "PLAN"
    CONSENT = "CONSENT"
    ACCESS = "ACCESS"


class Area(enum.StrEnum):
    """The seven areas of the wellbeing wheel (barnens bästa-hjulet)."""

    CARE = "care"
    HEALTH = "health"
    LEARNING = "learning"
    SAFETY = "safety"
    RELATIONSHIPS = "relationships"
    HOME = "home"
    DEVELOPMENT = "development"


class SchoolType(enum.StrEnum):
    PRESCHOOL = "PRESCHOOL"
    PRESCHOOL_CLASS = "PRESCHOOL_CLASS"
    COMPULSORY = "COMPULSORY"
    UPPER_SECONDARY = "UPPER_SECONDARY"


class SupportType(enum.StrEnum):
    EXTRA_ADAPTATIONS = "EXTRA_ADAPTATIONS"
    SPECIAL_SUPPORT = "SPECIAL_SUPPORT"
    ACTION_PROGRAMME = "ACTION_PROGRAMME"


class GrantorRole(enum.StrEnum):
    GUARDIAN = "GUARDIAN"
    CHILD = "CHILD"
    YOUNG_PERSON = "YOUNG_PERSON"
    EXPECTANT_PARENT = "EXPECTANT_PARENT"


class ConsentObtained(enum.StrEnum):
    """How a consent grant was obtained: in writing, orally in a meeting, or digitally."""

    WRITTEN = "WRITTEN"
    ORAL_MEETING = "ORAL_MEETING"
    DIGITAL = "DIGITAL"


class Protection(enum.StrEnum):
    """Protected personal data (skyddade personuppgifter) as the population register records it."""

    NONE = "NONE"
    SEKRETESSMARKERING = "SEKRETESSMARKERING"
    SKYDDAD_FOLKBOKFORING = "SKYDDAD_FOLKBOKFORING"


class InvitationAnswer(enum.StrEnum):
    """An invitee's answer to a kallelse: coming, not coming, or sending someone else."""

    COMING = "COMING"
    NOT_COMING = "NOT_COMING"
    SENDS_SOMEONE = "SENDS_SOMEONE"


class ParticipantRole(enum.StrEnum):
    """An organisation's part in the plan (SIP): it carries actions of its own, supports
    others' actions, or takes part with its knowledge only. The overall responsibility is the
    plan lead's (``LeadAssigned``)."""

    RESPONSIBLE = "RESPONSIBLE"
    SUPPORTING = "SUPPORTING"
    CONSULTED = "CONSULTED"


class ActionStatus(enum.StrEnum):
    """An action's lifecycle: planned, ongoing, done, or cancelled (with a reason)."""

    PLANNED = "PLANNED"
    ONGOING = "ONGOING"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class ActionEffect(enum.StrEnum):
    """What an action did for the child, as judged at a follow-up."""

    HELPED = "HELPED"
    PARTLY = "PARTLY"
    NOT_HELPED = "NOT_HELPED"
    TOO_EARLY = "TOO_EARLY"


class FollowUpOutcome(enum.StrEnum):
    """What a follow-up decided for the plan: go on as it is, revise it, or close it."""

    CONTINUED = "CONTINUED"
    REVISED = "REVISED"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a fact came from: system, organisation and the record's id and version."""

    system: str
    organisation_id: str
    record_id: str
    record_version: str


@dataclass(frozen=True, slots=True)
class Grantor:
    party_id: UUID
    role: GrantorRole


@dataclass(frozen=True, kw_only=True, slots=True)
class Envelope:
    event_id: UUID
    type: str
    child_id: UUID
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    source: Source
    basis: Basis
    category: Category
    area: Area | None = None
    sealed: Sealed | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Base of all events; subclasses add their own fields after the envelope."""

    envelope: Envelope

    @property
    def event_id(self) -> UUID:
        return self.envelope.event_id

    @property
    def child_id(self) -> UUID:
        return self.envelope.child_id


@dataclass(frozen=True, kw_only=True, slots=True)
class PregnancyRegistered(Event):
    """MHV registered a pregnancy; the unborn child gets its child_id here."""

    unit_id: str
    municipality_code: str
    expected_birth_date: dt.date
    # The expectant parent's pseudonymous party id: the id the population register's custody
    # gives the same person once the child is born (None when the record names no valid parent).
    expectant_parent_id: UUID | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildBorn(Event):
    """A child was born; child_id carries over from the pregnancy when one was registered."""

    birth_date: dt.date
    municipality_code: str
    pregnancy_event_id: UUID | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthUnitListed(Event):
    """The child was listed at a BHV unit."""

    unit_id: str
    listed_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthVisitRecorded(Event):
    """A visit (encounter) at a health unit."""

    unit_id: str
    visit_type: str
    visited_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ImmunizationRecorded(Event):
    """An immunisation was given."""

    unit_id: str
    vaccine_code: str
    dose_number: int
    given_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ObservationRecorded(Event):
    """A coded observation, e.g. growth or development screening."""

    unit_id: str
    code: str
    value: str
    unit: str | None = None
    observed_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ConditionNoted(Event):
    """A coded condition was noted."""

    unit_id: str
    code: str
    clinical_status: str
    noted_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class SchoolPlacementStarted(Event):
    """The child started a placement at a school unit."""

    placement_id: str
    school_unit_id: str
    school_type: SchoolType
    municipality_code: str
    start_date: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class SchoolPlacementEnded(Event):
    """A placement at a school unit ended."""

    placement_id: str
    school_unit_id: str
    school_type: SchoolType
    end_date: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class AbsenceSummarised(Event):
    """Absence over a period, summarised by the school."""

    school_unit_id: str
    period_start: dt.date
    period_end: dt.date
    absence_percent: float
    unexcused_percent: float


@dataclass(frozen=True, kw_only=True, slots=True)
class SchoolSupportDecided(Event):
    """The principal decided on support for the child."""

    school_unit_id: str
    support_type: SupportType
    decided_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class KaaRegistered(Event):
    """A 16-19-year-old outside upper secondary was registered under the municipal activity responsibility."""

    municipality_code: str
    registered_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportOfConcernReceived(Event):
    """Social services received a report of concern (SoL 14 kap. 1 §)."""

    case_id: str
    municipality_code: str
    reporter_category: str
    received_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class InvestigationOpened(Event):
    """Social services opened an investigation."""

    case_id: str
    opened_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class InvestigationClosed(Event):
    """An investigation was closed."""

    case_id: str
    outcome: str
    closed_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class InterventionStarted(Event):
    """An intervention (insats) started."""

    case_id: str
    intervention_id: str
    intervention_type: str
    started_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class InterventionEnded(Event):
    """An intervention ended."""

    case_id: str
    intervention_id: str
    ended_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildRegistered(Event):
    """The child is in the population register; identity details travel sealed."""

    birth_date: dt.date
    municipality_code: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CustodyRecorded(Event):
    """The child's current guardians, as pseudonymous party ids."""

    guardian_ids: tuple[UUID, ...]
    recorded_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildMoved(Event):
    """The child's home municipality changed."""

    from_municipality_code: str | None = None
    to_municipality_code: str
    moved_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ProtectionRecorded(Event):
    """The population register set or lifted protected personal data for the child; what is
    protected (address, name) travels sealed or not at all."""

    protection: Protection
    recorded_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildDied(Event):
    """The population register recorded the child's death."""

    died_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildEmigrated(Event):
    """The population register recorded that the child emigrated (utvandrad)."""

    emigrated_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildIdentitiesMerged(Event):
    """Two child ids were found to be one child; this id (the envelope's) is merged into the
    surviving one, which carries its history from now on."""

    surviving_child_id: UUID


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentGranted(Event):
    """A consent was registered with all its required grantors."""

    consent_id: UUID
    grantors: tuple[Grantor, ...]
    source_organisations: tuple[str, ...] | None = None
    categories: tuple[Category, ...]
    areas: tuple[Area, ...] | None = None
    recipients: tuple[str, ...]
    valid_from: dt.datetime
    valid_to: dt.datetime
    obtained: ConsentObtained | None = None  # in writing, orally in a meeting, or digitally
    registered_by: str | None = None  # the user (subject id) who registered the consent


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentWithdrawn(Event):
    """A required grantor withdrew a consent."""

    consent_id: UUID
    withdrawn_by: UUID
    role: GrantorRole


@dataclass(frozen=True, kw_only=True, slots=True)
class FactReleased(Event):
    """The gate released a source fact to the plan under the listed consents (or its statutory basis)."""

    fact_event_id: UUID
    fact_type: str
    consent_ids: tuple[UUID, ...]
    fact: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class ReleaseRevoked(Event):
    """A released fact is no longer covered by any active consent and must be purged."""

    fact_event_id: UUID
    ended_consent_ids: tuple[UUID, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanOpened(Event):
    """An organisation opened the child's plan."""

    plan_id: UUID
    opened_by_org: str
    consent_ids: tuple[UUID, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class MeetingHeld(Event):
    """A collaboration meeting was held; minutes and decisions travel sealed."""

    plan_id: UUID
    meeting_id: UUID
    held_on: dt.date
    participant_orgs: tuple[str, ...]
    lead_org: str | None = None
    child_took_part: bool | None = None  # None: not recorded (v1)
    guardians_took_part: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LeadAssigned(Event):
    """The plan lead changed."""

    plan_id: UUID
    lead_org: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AreaAssessed(Event):
    """A wheel assessment of one area; comment and views travel sealed. The area is the envelope's."""

    plan_id: UUID
    rating: int
    assessed_by_org: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionAgreed(Event):
    """An action was agreed for an area; its description travels sealed."""

    plan_id: UUID
    action_id: UUID
    responsible_org: str
    due_on: dt.date | None = None
    start_on: dt.date | None = None
    by_others: bool = False  # done by others than the organisations (a club, a relative), followed up by responsible_org


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionCompleted(Event):
    """An agreed action was completed."""

    plan_id: UUID
    action_id: UUID
    completed_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class FollowUpScheduled(Event):
    """A follow-up was scheduled."""

    plan_id: UUID
    follow_up_id: UUID
    due_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class MeetingInvited(Event):
    """A collaboration meeting was called (kallelse). Place, questions, people invited by name and
    why the child or guardians are not invited travel sealed."""

    plan_id: UUID
    meeting_id: UUID
    starts_at: dt.datetime
    invited_orgs: tuple[str, ...]
    child_invited: bool
    guardians_invited: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class InvitationAnswered(Event):
    """An invited organisation answered a kallelse; whom it sends, and any comment, travel sealed."""

    plan_id: UUID
    meeting_id: UUID
    invitee_org: str
    answer: InvitationAnswer


@dataclass(frozen=True, kw_only=True, slots=True)
class ParticipantRecorded(Event):
    """An organisation's role in the plan and, sealed, its responsibilities and contact.
    ``active`` False: it has left the plan."""

    plan_id: UUID
    organisation_id: str
    role: ParticipantRole
    active: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionStatusChanged(Event):
    """An action moved in its lifecycle; a cancellation's reason travels sealed."""

    plan_id: UUID
    action_id: UUID
    status: ActionStatus
    changed_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class FollowUpHeld(Event):
    """A follow-up of the plan was held, and what it decided; its summary travels sealed."""

    plan_id: UUID
    follow_up_id: UUID
    held_on: dt.date
    outcome: FollowUpOutcome


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionEvaluated(Event):
    """At a follow-up an action was evaluated: its effect, and sealed, the evaluation in the
    professionals', the child's and the guardians' words."""

    plan_id: UUID
    action_id: UUID
    follow_up_id: UUID
    evaluated_on: dt.date
    effect: ActionEffect


@dataclass(frozen=True, kw_only=True, slots=True)
class NamedPersonTransferred(Event):
    """The named-person task was moved by decision; overrides rules 1-4 until the next life-stage change."""

    to_org: str
    from_org: str | None = None
    reason_code: str


@dataclass(frozen=True, kw_only=True, slots=True)
class NamedPersonAssigned(Event):
    """The named person changed; emitted by the named-person fold."""

    organisation_id: str | None = None
    rule: str
    assigned_on: dt.date


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanClosed(Event):
    """The plan was closed."""

    plan_id: UUID
    reason_code: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildDataViewed(Event):
    """Someone read child data (HSLF-FS 2016:40 access log)."""

    viewer_id: str
    role: str
    organisation_id: str
    purpose: str
    parts: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class EmergencyAccessOpened(Event):
    """Emergency access (nödöppning) was opened; the free-text reason travels sealed."""

    viewer_id: str
    role: str
    organisation_id: str
    reason_code: str
    expires_at: dt.datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class EmergencyAccessReviewed(Event):
    """An auditor reviewed an emergency access; the comment travels sealed."""

    emergency_event_id: UUID
    reviewer_id: str
    role: str
    organisation_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildDataErased(Event):
    """An administrator erased a child (crypto-shredding). Keyed by the surviving id; the
    justification is sealed under the hub's audit key, not the child's, so it outlives the erasure."""

    administrator_id: str
    role: str
    organisation_id: str
    reason_code: str
    erased_child_ids: tuple[UUID, ...]
    justification: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportOfConcernFiled(Event):
    """A participating organisation filed a report of concern through the hub (SoL 14 kap. 1 §).

    STATUTORY: routed to social services whatever the consent says, in the plan only under
    consent. The observation, why the guardians were not told, the reporter's name, role and
    contact, and the child's personnummer (social services' register is keyed on it) are sealed.
    ``report_id`` is the report's id for the reporter and the register; the event id derives
    from it (``services.api.reports``), so filing again with the same id is the same report.
    """

    report_id: UUID
    reporter_category: str  # HEALTH, PRESCHOOL, SCHOOL or MUNICIPALITY, as the register counts them
    reporter_municipality_code: str  # where the reporting unit is: the route when no home is known
    acute: bool
    observed_on: dt.date
    guardians_informed: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportOfConcernRouted(Event):
    """A report of concern routed to the social services of the child's municipality."""

    municipality_code: str
    report_event_id: UUID
    report: bytes
    reporter_category: str = ""
    acute: bool = False
    filed_in_hub: bool = False  # filed through the hub (to deliver), not read from a register
    reported_at: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportOfConcernDelivered(Event):
    """A filed report is in the social services' own case register, under its case id there."""

    report_event_id: UUID
    municipality_code: str
    register_case_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportOfConcernUndelivered(Event):
    """The case register refused a filed report, or kept failing; the reporter must act."""

    report_event_id: UUID
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportOfConcernAcknowledged(Event):
    """The social services' coordinator confirmed receipt of a report filed through the hub."""

    report_event_id: UUID
    acknowledged_by_org: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportOfConcernAssessed(Event):
    """The register's decision on a filed report: an investigation opened or not (SoL 14 kap. 1 b §
    requires telling a professional reporter this, and nothing more)."""

    report_event_id: UUID
    investigation_opened: bool
    decided_on: dt.date


EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in Event.__subclasses__()}
