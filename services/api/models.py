"""The JSON API's request and response bodies, as Pydantic models (they make the OpenAPI spec).

Requests bound what a caller may send (lengths, counts, ranges); the domain rules themselves --
dates in range, organisations in the county directory, the consent grantors -- stay in the
command modules, which answer with every reason. Longer than our modules usually are: one file
is the whole OpenAPI surface, read side by side with the routes.

Requests are strict (issue 17, finding 4): each value must already have its JSON type, nothing
is coerced. A number is a JSON number and a whole one (no ``true``, ``"3"`` or ``3.0`` for 3), a
flag is ``true``/``false`` (not ``1`` or ``"yes"``), text is a JSON string (not ``1``), and a
day, a moment or an id is a string in its ISO form (``2026-11-30``; ``2026-11-30T09:00:00+01:00``;
the 8-4-4-4-12 hex form of a UUID), never a number of seconds. The pages' forms post text and
convert it themselves (``services.api.ui.forms``) before building the same models.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from schemas.events import (
    ActionEffect,
    ActionStatus,
    Area,
    Category,
    ConsentObtained,
    FollowUpOutcome,
    GrantorRole,
    InvitationAnswer,
    ParticipantRole,
)

ORG_MAX = 64
CODE_MAX = 40
PNR_MAX = 20
NAME_MAX = 100
LIST_MAX = 50
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
EARLIEST_DAY, LATEST_DAY = EARLIEST.date(), LATEST.date()

OUT_OF_RANGE = "must lie between 1900 and 2200"
NOT_TEXT = "must be plain text (no control characters, and none that are invisible or turn the text's direction)"
NOT_A_DAY = "must be a date as a string, YYYY-MM-DD"
NOT_A_MOMENT = "must be a date and time with its offset as a string, e.g. 2026-11-30T09:00:00+01:00"
NOT_AN_ID = "must be an id as a string, 8-4-4-4-12 hexadecimal digits"

ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                        r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _iso_day(value: object) -> object:
    """A day as JSON has it (or already a date): not seconds since 1970, not a date and time."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and ISO_DAY.fullmatch(value):
        return value
    raise PydanticCustomError("date_type", NOT_A_DAY)


def _iso_moment(value: object) -> object:
    """A moment as JSON has it (or already a datetime): an ISO date and time with its offset."""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and ISO_MOMENT.fullmatch(value)):
        return value
    raise PydanticCustomError("datetime_type", NOT_A_MOMENT)


def _id_text(value: object) -> object:
    if isinstance(value, uuid.UUID) or (isinstance(value, str) and UUID_TEXT.fullmatch(value)):
        return value
    raise PydanticCustomError("uuid_type", NOT_AN_ID)


def _moment(value: dt.datetime) -> dt.datetime:
    try:
        moment = value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError(OUT_OF_RANGE)
    return moment


def _day(value: dt.date) -> dt.date:
    if not EARLIEST_DAY <= value < LATEST_DAY:
        raise ValueError(OUT_OF_RANGE)
    return value


# Characters that make text say something other than it shows (issue 17, finding 8; the "Trojan
# Source" class, CVE-2021-42574): direction overrides, embeddings and isolates, invisible
# separators and joiners of words, a byte-order mark inside text, line and paragraph separators,
# interlinear annotations and tag characters. Zero-width (non-)joiners and the left-to-right and
# right-to-left marks stay: Persian and Arabic writing needs them, and they reorder nothing.
SPOOFING = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, *range(0x2060, 0x2065), 0xFEFF, 0x2028, 0x2029,
     *range(0xFFF9, 0xFFFC), 0x061C, 0x180E])


def _text(value: str) -> str:
    """Text that encodes and shows what it says: no lone surrogates, no control characters but
    tab and newlines (C0, DEL, C1), nothing in ``SPOOFING``, no tag characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(NOT_TEXT) from None
    for ch in value:
        code = ord(ch)
        if (code < 32 and ch not in "\t\r\n") or 0x7F <= code <= 0x9F or code in SPOOFING \
                or 0xE0000 <= code <= 0xE007F:
            raise ValueError(NOT_TEXT)
    return value


# Strict request types: the value as JSON gives it, or refused (nothing is coerced).
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_moment), AfterValidator(_moment)]
Day = Annotated[dt.date, BeforeValidator(_iso_day), AfterValidator(_day)]
Id = Annotated[uuid.UUID, BeforeValidator(_id_text)]
Whole = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
String = Annotated[str, Strict()]
Org = Annotated[String, Field(min_length=1, max_length=ORG_MAX), AfterValidator(_text)]
Code = Annotated[String, Field(min_length=1, max_length=CODE_MAX, pattern=r"^[A-Z0-9_]+$")]
LongText = Annotated[String, Field(max_length=4_000), AfterValidator(_text)]
Text = Annotated[String, Field(max_length=2_000), AfterValidator(_text)]


class Body(BaseModel):
    """A request body: no field it does not declare; its fields take the strict types above."""

    model_config = ConfigDict(extra="forbid")


# -- errors and acknowledgements ---------------------------------------------------------------

class Problem(BaseModel):
    """Every 4xx/5xx answer: what went wrong, and each reason when there are several."""

    detail: str
    reasons: list[str] = []


class Accepted(BaseModel):
    """A command became an event; the read model shows it once the projector has applied it.

    A withdrawal of a consent that had already ended is accepted too, and ``moot`` says why it
    changed nothing; a consent already withdrawn is not withdrawn again (no event: ``event_id``
    and ``event_type`` are null)."""

    event_id: uuid.UUID | None = Field(description="the event published; null when nothing had to be")
    event_type: str | None
    id: uuid.UUID | None = Field(None, description="the plan, meeting, action, follow-up or consent created")
    message: str
    moot: str | None = Field(None, description="why the command changed nothing (English; ``message`` in Swedish): "
                                               "e.g. the consent had already lapsed")


# -- requests ------------------------------------------------------------------------------------

class OpenPlan(Body):
    consent_ids: list[Id] = Field(min_length=1, max_length=LIST_MAX)


class RecordMeeting(Body):
    held_on: Day
    participant_orgs: list[Org] = Field(min_length=1, max_length=LIST_MAX)
    lead_org: Org | None = None
    decisions: LongText
    notes: LongText | None = None
    meeting_id: Id | None = Field(None, description="the kallelse's meeting, when the meeting was called; "
                                                    "null: a meeting not called through the hub")
    child_took_part: Flag | None = Field(None, description="null: not recorded")
    guardians_took_part: Flag | None = None
    child_voice: Text | None = Field(None, description="the child's own voice at the meeting")
    others_present: Text | None = Field(None, description="others present, by name or role")


class AssessArea(Body):
    area: Area
    rating: Whole = Field(ge=1, le=5)
    comment: Text | None = None
    child_view: Text | None = None
    guardians_view: Text | None = None


class AgreeAction(Body):
    area: Area
    need: Text
    what: Text
    responsible_org: Org
    due_on: Day | None = None
    start_on: Day | None = None
    by_others: Flag = Field(False, description="done by others than the organisations (a club, a relative); "
                                               "the responsible organisation follows it up")
    performer: Text | None = Field(None, description="who does an action by others: required then")
    responsible_person: Text | None = None


class CompleteAction(Body):
    completed_on: Day


class ScheduleFollowUp(Body):
    due_on: Day
    area: Area | None = None
    what: Text | None = None


class TransferNamedPerson(Body):
    to_org: Org
    reason_code: Code


class ClosePlan(Body):
    reason_code: Code


class GrantorIn(Body):
    party_id: Id
    role: GrantorRole


class RegisterConsent(Body):
    grantors: list[GrantorIn] = Field(min_length=1, max_length=10)
    obtained: ConsentObtained = Field(description="how the grant was obtained: in writing, orally in a meeting, "
                                                  "or digitally")
    categories: list[Category] = Field(min_length=1, max_length=3)
    recipients: list[Org] = Field(min_length=1, max_length=LIST_MAX)
    valid_from: Moment
    valid_to: Moment
    source_organisations: list[Org] | None = Field(None, max_length=LIST_MAX,
                                                   description="null: every source organisation")
    areas: list[Area] | None = Field(None, max_length=7, description="null: every area")


class WithdrawConsent(Body):
    party_id: Id = Field(description="the grantor who withdraws")
    role: GrantorRole


class OpenEmergencyAccess(Body):
    reason_code: Code = Field(description="why: e.g. AKUT_FARA, SKYDDSBEDOMNING")
    days: Whole = Field(ge=1, le=7, description="how long, at most 7 days")


# A personnummer travels only in request bodies, never in a URL (access logs and proxies keep
# URLs). Its form is checked by the handler, whose message never repeats it.
Personnummer = Annotated[String, Field(min_length=1, max_length=PNR_MAX,
                                    description="10 or 12 digits, with or without - or + "
                                                "(a samordningsnummer too); never echoed back")]


class FindChild(Body):
    personnummer: Personnummer


class OpenEmergencyAccessFor(OpenEmergencyAccess):
    """Nödöppning by personnummer: the same answer whether or not the number is a child's."""

    personnummer: Personnummer


class FilterChildren(Body):
    """The caller's own children, narrowed by name (typed, so in the body, never in a URL)."""

    name: Annotated[String, Field(min_length=1, max_length=NAME_MAX), AfterValidator(_text)] = Field(
        description="every word begins a word of the child's given or family name, in any order")
    municipality: Annotated[String | None, Field(pattern=r"^[0-9]{4}$")] = None
    has_plan: Flag | None = None
    limit: Whole = Field(50, ge=1, le=100)
    offset: Whole = Field(0, ge=0, le=1_000_000)


# -- responses -----------------------------------------------------------------------------------

class OrgOut(BaseModel):
    id: str
    name: str | None = None
    person: str | None = Field(None, description="who the source names for it in this role: a school unit's "
                                                 "principal, when the school is the named person")


class IdentityState(enum.StrEnum):
    SHOWN = "shown"  # name and personnummer below
    PROTECTED = "protected"  # skyddade personuppgifter: not for this viewer (or not in an export)
    WITHHELD = "withheld"  # a list outside the viewer's circle (gaps): no identity
    ERASED = "erased"  # the child's key was deleted: gone for good
    MISSING = "missing"  # the population register has not given one (an unborn child, say)


class PersonOut(BaseModel):
    """The child as a person, opened at read time for a viewer entitled to it."""

    identity: IdentityState = Field(description="shown, protected, withheld, erased or missing")
    protected: bool = Field(description="skyddade personuppgifter: no address or municipality is ever shown")
    personnummer: str | None = None
    given_name: str | None = None
    family_name: str | None = None

    @classmethod
    def withheld(cls) -> PersonOut:
        return cls(identity=IdentityState.WITHHELD, protected=False)


class AddressOut(BaseModel):
    address: str | None
    postal_code: str | None
    town: str | None


class GuardianOut(BaseModel):
    party_id: uuid.UUID
    name: str


class ChildSummary(BaseModel):
    child_id: uuid.UUID
    municipality_code: str | None = Field(description="null for a child with protected personal data")
    birth_date: dt.date | None
    age: int | None = Field(None, description="in whole years, in Sweden today; null while unborn")
    unborn: bool
    person: PersonOut = Field(default_factory=PersonOut.withheld)
    named_person: OrgOut | None
    lead: OrgOut | None
    plan_status: str | None
    access: str = Field(description="why the caller sees the child: named_person, lead, participant, emergency")


class ChildList(BaseModel):
    children: list[ChildSummary]
    total: int
    limit: int
    offset: int


class AssessmentOut(BaseModel):
    area: Area
    rating: int
    assessed_by: OrgOut
    assessed_at: dt.datetime
    comment: str | None
    child_view: str | None
    guardians_view: str | None


class FactOut(BaseModel):
    fact_event_id: uuid.UUID
    fact_type: str
    label: str
    area: Area | None
    source: OrgOut
    category: Category
    basis: str
    occurred_at: dt.datetime | None
    released_at: dt.datetime
    details: dict[str, str]


class EvaluationOut(BaseModel):
    """One action's evaluation at one follow-up."""

    action_id: uuid.UUID
    follow_up_id: uuid.UUID
    evaluated_on: dt.date
    effect: ActionEffect
    effect_label: str
    evaluated_by: OrgOut | None
    evaluation: str | None
    child_words: str | None = Field(description="the child's own words on the action")
    guardians_words: str | None


class ActionOut(BaseModel):
    action_id: uuid.UUID
    area: Area
    need: str | None
    what: str | None
    responsible: OrgOut
    due_on: dt.date | None
    status: str = Field(description="agreed (planned), ongoing, completed (done) or cancelled")
    completed_on: dt.date | None
    status_label: str = ""
    start_on: dt.date | None = None
    status_on: dt.date | None = Field(None, description="the day the status in force was set")
    status_reason: str | None = Field(None, description="why it was cancelled")
    by_others: bool = Field(False, description="done by others than the organisations (a club, a relative); "
                                               "the responsible organisation follows it up")
    performer: str | None = Field(None, description="who does an action by others")
    responsible_person: str | None = None
    evaluations: list[EvaluationOut] = []


class MeetingOut(BaseModel):
    meeting_id: uuid.UUID
    held_on: dt.date
    participants: list[OrgOut]
    lead: OrgOut | None
    decisions: str | None
    notes: str | None
    child_took_part: bool | None = Field(None, description="null: not recorded")
    guardians_took_part: bool | None = None
    child_voice: str | None = Field(None, description="the child's own voice at the meeting")
    others_present: str | None = None


class AnswerOut(BaseModel):
    invitee: OrgOut
    answer: InvitationAnswer | None = Field(description="null: not answered yet")
    answer_label: str
    answered_at: dt.datetime | None = None
    sends: str | None = Field(None, description="whom the organisation sends instead")
    comment: str | None = None


class InvitationOut(BaseModel):
    """A kallelse to a collaboration meeting and each invitee's answer."""

    meeting_id: uuid.UUID
    starts_at: dt.datetime
    invited_by: OrgOut | None
    child_invited: bool
    guardians_invited: bool
    place: str | None
    questions: str | None
    invited_people: str | None
    not_invited_why: str | None = Field(description="why the child or the guardians are not invited")
    answers: list[AnswerOut]
    held: bool = Field(description="the meeting has been recorded as held")


class ParticipantOut(BaseModel):
    """An organisation's part in the plan and what it is responsible for."""

    organisation: OrgOut
    role: ParticipantRole
    role_label: str
    active: bool
    responsibilities: str | None
    contact: str | None


class ReviewOut(BaseModel):
    """A follow-up held, and what it decided for the plan."""

    follow_up_id: uuid.UUID
    held_on: dt.date
    outcome: FollowUpOutcome
    outcome_label: str
    held_by: OrgOut | None
    summary: str | None


class RatingOut(BaseModel):
    rating: int
    assessed_at: dt.datetime
    assessed_by: OrgOut


class SipOut(BaseModel):
    """What makes the plan a SIP: kallelser, participants and responsibilities, follow-ups held."""

    revision: int = Field(1, description="1, and one more for each follow-up that revised the plan")
    invitations: list[InvitationOut] = []
    participants: list[ParticipantOut] = []
    reviews: list[ReviewOut] = []


class FollowUpOut(BaseModel):
    follow_up_id: uuid.UUID
    area: Area | None
    due_on: dt.date
    what: str | None


class AreaOut(BaseModel):
    area: Area
    label: str
    shanarri: list[str]
    assessment: AssessmentOut | None
    facts: list[FactOut]
    actions: list[ActionOut]
    follow_ups: list[FollowUpOut]
    history: list[RatingOut] = Field([], description="every rating of the area, oldest first")


class GrantorOut(BaseModel):
    party_id: uuid.UUID = Field(description="pseudonymous party id; the child's own id for the child or young person")
    role: GrantorRole
    name: str | None = Field(None, description="a guardian's name, for a viewer entitled to it")


class ConsentOut(BaseModel):
    consent_id: uuid.UUID
    categories: list[Category]
    recipients: list[OrgOut]
    source_organisations: list[OrgOut] | None
    areas: list[Area] | None
    valid_from: dt.datetime
    valid_to: dt.datetime
    withdrawn_at: dt.datetime | None
    active: bool = Field(description="in force now: never while pending")
    grantors: list[GrantorOut] = []
    granted_at: dt.datetime | None = Field(None, description="when it was registered")
    lapsed_at: dt.datetime | None = Field(None, description="when it lapsed by itself (a birthday, custody, birth, death, emigration)")
    lapse: str | None = Field(None, description="why it lapsed: child_age, adulthood, custody, birth, register, death or emigration")
    lapse_label: str | None = Field(None, description="why it lapsed, in Swedish")
    obtained: ConsentObtained | None = Field(None, description="how the grant was obtained")
    registered_by: str | None = Field(None, description="the user who registered it")
    pending: bool = Field(False, description="accepted but not yet processed: shown and withdrawable, not in force")


class PlanInfo(BaseModel):
    plan_id: uuid.UUID
    status: str
    opened_by: OrgOut | None
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    closed_reason: str | None = Field(None, description="why it closed: the closing organisation's reason code, "
                                                        "or CHILD_DIED when the population register records a death")


class PlanView(BaseModel):
    child_id: uuid.UUID
    municipality_code: str | None = Field(description="null for a child with protected personal data")
    birth_date: dt.date | None
    age: int | None = None
    unborn: bool
    person: PersonOut = Field(default_factory=PersonOut.withheld)
    address: AddressOut | None = Field(None, description="never for a child with protected personal data")
    guardian_names: list[GuardianOut] = Field([], description="the guardians' names, for a viewer entitled to them")
    guardians: list[uuid.UUID] = Field(description="pseudonymous party ids from the population register")
    expectant_parent: uuid.UUID | None = Field(None, description="an unborn child's expectant parent, who grants "
                                                                 "its consents (pseudonymous party id)")
    named_person: OrgOut | None
    named_person_rule: str
    lead: OrgOut | None
    participants: list[OrgOut]
    plan: PlanInfo | None
    areas: list[AreaOut] = Field(description="the wheel's seven areas, in the wheel's order")
    facts_without_area: list[FactOut]
    meetings: list[MeetingOut]
    follow_ups: list[FollowUpOut] = Field(description="follow-ups of the whole plan (no area)")
    sip: SipOut = Field(default_factory=SipOut)
    consents: list[ConsentOut]
    access: str
    read_at: dt.datetime


class GapsList(BaseModel):
    municipality_code: str
    children: list[ChildSummary]
    total: int
    limit: int
    offset: int


class AuditEntryOut(BaseModel):
    seq: int
    event_id: uuid.UUID
    kind: str
    occurred_at: dt.datetime
    viewer_id: str
    role: str
    organisation_id: str
    child_id: uuid.UUID
    purpose: str
    parts: list[str]
    expires_at: dt.datetime | None


class AuditLog(BaseModel):
    child_id: uuid.UUID
    entries: list[AuditEntryOut]


class HistoryEntryOut(BaseModel):
    topic: str
    partition: int
    offset: int
    recorded_at: dt.datetime
    occurred_at: dt.datetime
    event_id: uuid.UUID
    type: str
    source_system: str
    source_org: str
    basis: str
    category: str
    area: str | None
    sealed: str = Field(description="none, sealed (not opened here) or erased")
    fields: dict[str, Any]


class History(BaseModel):
    child_id: uuid.UUID
    entries: list[HistoryEntryOut]


class SeenPlanOut(BaseModel):
    child_id: uuid.UUID
    viewer_org: str
    at: dt.datetime
    could_open: bool = Field(description="whether the organisation could open the child at that moment at all; "
                                         "if not, nothing else is shown")
    access: str | None = Field(description="why it could: named_person, lead, participant or emergency")
    named_person: OrgOut | None
    named_person_rule: str
    lead: OrgOut | None
    participants: list[OrgOut]
    plan: PlanInfo | None
    areas: list[AreaOut]
    facts_without_area: list[FactOut]
    meetings: list[MeetingOut]
    follow_ups: list[FollowUpOut]
    sip: SipOut = Field(default_factory=SipOut)
    consents: list[ConsentOut]


class AdminOverview(BaseModel):
    """Counts only: an administrator sees no child data."""

    tables: dict[str, int]
    dev_login: bool


# -- auditors' pages (issue 16) ------------------------------------------------------------------------

HISTORY_PAGE_DEFAULT = 100
HISTORY_PAGE_MAX = 500


class HistoryPage(History):
    """One page of a child's history, oldest first (the order the hub received the events):
    ``entries`` are those from ``offset`` on, at most ``limit``, of ``total``."""

    offset: int = Field(ge=0)
    limit: int = Field(ge=1, le=HISTORY_PAGE_MAX)
    total: int = Field(ge=0, description="events in the child's whole history")
    order: str = Field(default="oldest-first", description="always oldest-first")


# -- reports of concern (issue 19) ---------------------------------------------------------------

OBSERVATION_MAX = 8_000
CONTACT_MAX = 200


class FileReportOfConcern(Body):
    """A report of concern (orosanmälan, SoL 14 kap. 1 §) about a child known to the hub: by its
    id, or by its personnummer (in the body only, never in a URL). The free text travels sealed."""

    child_id: Id | None = Field(None, description="the child's pseudonymous id; or give personnummer")
    personnummer: Personnummer | None = None
    observation: Annotated[String, Field(min_length=1, max_length=OBSERVATION_MAX), AfterValidator(_text)] = Field(
        description="what was observed")
    observed_on: Day = Field(description="when; not in the future")
    guardians_informed: Flag
    guardians_not_informed_why: Text | None = Field(None, description="required when the guardians were not told")
    reporter_role: Annotated[String, Field(min_length=1, max_length=NAME_MAX), AfterValidator(_text)] = Field(
        description="the reporter's role, e.g. mentor, skolsköterska")
    reporter_contact: Annotated[String, Field(min_length=1, max_length=CONTACT_MAX), AfterValidator(_text)] = Field(
        description="how social services reach the reporter")
    acute: Flag = False
    report_id: Id | None = Field(None, description="the caller's id for the report: a retry with the same id "
                                                   "files nothing new")


class ReportStatus(enum.StrEnum):
    ROUTED = "routed"  # on its way to the social services' register
    DELIVERED = "delivered"  # in the register
    UNDELIVERED = "undelivered"  # the register refused it: the reporter must act
    ACKNOWLEDGED = "acknowledged"  # the social services confirmed receipt


class ReportOfConcernOut(BaseModel):
    """One report on the statutory route as the caller may see it. The reporter sees the route's
    status and whether an investigation was opened, nothing else of the social services' case."""

    report_id: uuid.UUID
    child_id: uuid.UUID
    reporter: OrgOut | None
    reporter_category: str | None
    acute: bool
    reported_at: dt.datetime | None
    municipality_code: str | None = Field(description="the receiving social services' municipality; null for "
                                                      "the reporter of a child with protected personal data")
    status: ReportStatus
    delivered_at: dt.datetime | None
    undelivered_at: dt.datetime | None
    undelivered_reason: str | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: OrgOut | None
    investigation_opened: bool | None = Field(description="null until the social services have decided")
    unread: bool | None = Field(None, description="for the social services: nobody of theirs has opened it yet")
    register_case_id: str | None = Field(None, description="the social services' own case id (theirs only)")
    decided_on: dt.date | None = Field(None, description="(the social services only)")


class ReportOfConcernList(BaseModel):
    reports: list[ReportOfConcernOut]
    view: str = Field(description="inbox (social services) or filed (the caller's organisation's reports)")
    unread: int = 0


class ReportOfConcernContent(BaseModel):
    """What the reporter wrote, opened with the child's key; all null once the child is erased."""

    erased: bool = False
    personnummer: str | None = None
    observation: str | None = None
    observed_on: dt.date | None = None
    guardians_informed: bool | None = None
    guardians_not_informed_why: str | None = None
    reporter_name: str | None = None
    reporter_role: str | None = None
    reporter_contact: str | None = None


class ReportOfConcernView(ReportOfConcernOut):
    content: ReportOfConcernContent


class FiguresByCategory(BaseModel):
    municipality_code: str
    reporter_category: str
    reports: int


class FiguresByMunicipality(BaseModel):
    municipality_code: str
    reports: int
    filed_in_hub: int
    delivered: int
    acknowledged: int
    hours_to_acknowledgement_median: float | None
    hours_to_acknowledgement_p90: float | None


class ReportFiguresOut(BaseModel):
    """Reports of concern for the follow-up: counts, and hours from filing to acknowledgement
    (median; 90th percentile by nearest rank). No child is named."""

    by_category: list[FiguresByCategory]
    by_municipality: list[FiguresByMunicipality]
    total: FiguresByMunicipality


# -- the plan as a SIP (issue 20) ------------------------------------------------------------------------

class InviteMeeting(Body):
    """A kallelse to a collaboration meeting. Not inviting the child or the guardians needs a why."""

    starts_at: Moment
    place: Text
    invited_orgs: list[Org] = Field(min_length=1, max_length=LIST_MAX)
    invited_people: Text | None = Field(None, description="people invited by name or role")
    child_invited: Flag
    guardians_invited: Flag
    not_invited_why: Text | None = Field(None, description="required when the child or the guardians are not invited")
    questions: LongText


class AnswerInvitation(Body):
    """The caller's organisation answers a kallelse it was sent."""

    answer: InvitationAnswer
    sends: Text | None = Field(None, description="whom the organisation sends: required for SENDS_SOMEONE")
    comment: Text | None = None


class RecordParticipant(Body):
    organisation_id: Org
    role: ParticipantRole
    responsibilities: Text | None = Field(None, description="required unless the role is CONSULTED")
    contact: Text | None = None
    active: Flag = Field(True, description="false: the organisation has left the plan")


class ChangeActionStatus(Body):
    status: ActionStatus
    changed_on: Day
    reason: Text | None = Field(None, description="why: required for CANCELLED")


class EvaluationIn(Body):
    action_id: Id
    effect: ActionEffect
    evaluation: Text
    child_words: Text | None = Field(None, description="the child's own words on the action")
    guardians_words: Text | None = None


class HoldFollowUp(Body):
    """A follow-up held: a scheduled one (its id) or a new one, each action's evaluation, and
    what it decided for the plan (CLOSED closes it)."""

    follow_up_id: Id | None = Field(None, description="a scheduled follow-up of this child; null: a new one")
    held_on: Day
    outcome: FollowUpOutcome
    summary: LongText
    evaluations: list[EvaluationIn] = Field([], max_length=LIST_MAX)
