"""Every topic, in one place (DESIGN §4).

All topics are keyed by ``child_id`` and co-partitioned: the same partition count everywhere,
so one child's facts, consents and plan events meet in the same partition number. The count
is chosen at deployment (4 in dev, 12 or more in production) and passed in, never hard-coded
per topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import events as ev
from schemas.deadletter import DeadLetter

DEFAULT_PARTITIONS = 4


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    events: tuple[type, ...]
    doc: str
    key: str = "child_id"


INTAKE_HEALTH = Topic(
    "intake.health",
    (
        ev.PregnancyRegistered,
        ev.ChildBorn,
        ev.HealthUnitListed,
        ev.HealthVisitRecorded,
        ev.ImmunizationRecorded,
        ev.ObservationRecorded,
        ev.ConditionNoted,
    ),
    "Facts from the region's health records (MHV, BHV, Cosmic-style FHIR).",
)
INTAKE_SCHOOL = Topic(
    "intake.school",
    (
        ev.SchoolPlacementStarted,
        ev.SchoolPlacementEnded,
        ev.AbsenceSummarised,
        ev.SchoolSupportDecided,
        ev.KaaRegistered,
    ),
    "Facts from school systems (SS 12000).",
)
INTAKE_SOCIAL = Topic(
    "intake.social",
    (
        ev.ReportOfConcernReceived,
        ev.InvestigationOpened,
        ev.InvestigationClosed,
        ev.InterventionStarted,
        ev.InterventionEnded,
    ),
    "Facts from the municipalities' social-services case registers.",
)
INTAKE_POPULATION = Topic(
    "intake.population",
    (ev.ChildRegistered, ev.CustodyRecorded, ev.ChildMoved, ev.ProtectionRecorded, ev.ChildDied,
     ev.ChildEmigrated, ev.ChildIdentitiesMerged),
    "Registration, custody, home municipality, protected identity, emigration and death from the population register.",
)
INTAKE_REPORTS = Topic(
    "intake.reports",
    (ev.ReportOfConcernFiled,),
    "Reports of concern filed through the hub by participating organisations (STATUTORY).",
)
CONSENT = Topic("consent", (ev.ConsentGranted, ev.ConsentWithdrawn), "Consents as registered.")
SHARED = Topic(
    "shared", (ev.FactReleased, ev.ReleaseRevoked), "What the consent gate let through, and took back."
)
# ``NamedPersonAssigned`` is on ``plan`` on purpose. It is the hub's own decision about the child
# (DESIGN §6: every change of named person is announced to the new organisation), next to the
# ``NamedPersonTransferred`` that can cause it; keyed by child and co-partitioned like the rest.
# Auditors find it in a child's history (``services.readmodel.history`` reads every child topic),
# and the logs already written hold it here: another topic would change the contract (one topic
# per type, ``kronobarn topics list``) and split a child's announcements across two topics.
# The projector, which publishes it, reads ``plan`` too and skips it (``child_state.ANNOUNCEMENTS``,
# ``services.readmodel.engine.Projection``): the named person is folded from the facts alone, so
# the live read model, a replay and time travel agree whether or not an announcement was made.
PLAN = Topic(
    "plan",
    (
        ev.PlanOpened,
        ev.MeetingInvited,
        ev.InvitationAnswered,
        ev.MeetingHeld,
        ev.ParticipantRecorded,
        ev.LeadAssigned,
        ev.AreaAssessed,
        ev.ActionAgreed,
        ev.ActionCompleted,
        ev.ActionStatusChanged,
        ev.FollowUpScheduled,
        ev.FollowUpHeld,
        ev.ActionEvaluated,
        ev.NamedPersonTransferred,
        ev.NamedPersonAssigned,
        ev.PlanClosed,
    ),
    "Coordinators' work on the child's plan, and named-person assignments.",
)
ACCESS = Topic(
    "access", (ev.ChildDataViewed, ev.EmergencyAccessOpened, ev.EmergencyAccessReviewed, ev.ChildDataErased),
    "Every read of child data, the auditors' reviews of emergency accesses, and erasures (audit).",
)
STATUTORY_SOCIAL = Topic(
    "statutory.social",
    (ev.ReportOfConcernRouted, ev.ReportOfConcernDelivered, ev.ReportOfConcernUndelivered,
     ev.ReportOfConcernAcknowledged, ev.ReportOfConcernAssessed),
    "Reports of concern routed to social services whatever the consent says, and their way back: "
    "delivered into the case register (or not), acknowledged, and whether an investigation was opened.",
)
DEADLETTER = Topic(
    "deadletter",
    (DeadLetter,),
    "Records a stage could not process, with the reason. Keyed by the original key if any.",
    key="original key or dead_letter_id",
)

ALL_TOPICS: tuple[Topic, ...] = (
    INTAKE_HEALTH,
    INTAKE_SCHOOL,
    INTAKE_SOCIAL,
    INTAKE_POPULATION,
    INTAKE_REPORTS,
    CONSENT,
    SHARED,
    PLAN,
    ACCESS,
    STATUTORY_SOCIAL,
    DEADLETTER,
)
TOPIC_BY_NAME = {t.name: t for t in ALL_TOPICS}
TOPIC_OF_EVENT: dict[type, Topic] = {cls: t for t in ALL_TOPICS for cls in t.events}


def topic_for(event: object) -> Topic:
    """The one topic an event type belongs on."""
    return TOPIC_OF_EVENT[type(event)]


def key_for(event: ev.Event) -> bytes:
    """Partitioning key: the child's pseudonym, so a child's events stay in order."""
    return str(event.envelope.child_id).encode()
