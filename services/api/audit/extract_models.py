"""The register extract's response body (GDPR art. 15, PDL 8 kap. 5 §): its OpenAPI schema.

Times are UTC, organisations are ``OrgOut`` (id and directory name), codes stay codes: the
printable page (``services.api.ui.extract``) puts them in Swedish words and local time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from services.api.audit.models import CommentState
from services.api.models import (
    AddressOut,
    AuditEntryOut,
    ConsentOut,
    GuardianOut,
    HistoryEntryOut,
    IdentityState,
    OrgOut,
    PlanInfo,
)

Section = Literal["fact", "plan", "consent", "statutory"]
TextState = Literal["none", "opened", "erased", "sealed", "withheld"]


class ErasureOut(BaseModel):
    """The child's key was deleted (crypto-shredding): every sealed field reads as erased."""

    erased_at: dt.datetime
    reason_code: str | None = Field(description="why, as the administrator gave it (a code, never free text)")


class ExtractPerson(BaseModel):
    """The child as a person, opened now with the child's key."""

    identity: IdentityState = Field(description="shown; erased (the key is deleted); missing (the register gave none)")
    protected: bool = Field(description="skyddade personuppgifter: the address and municipality are never given")
    personnummer: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    address: AddressOut | None = Field(None, description="never for a child with protected personal data")
    guardians: list[GuardianOut] = Field([], description="the guardians' names, as the register gave them")
    guardian_ids: list[uuid.UUID] = Field(description="pseudonymous party ids from the population register")
    birth_date: dt.date | None
    unborn: bool
    municipality_code: str | None = Field(description="home municipality; null for a protected child")
    died_on: dt.date | None = None
    emigrated_on: dt.date | None = None


class ReleaseOut(BaseModel):
    """The gate's release of a source fact to the child's plan, and its revocation if any."""

    event_id: uuid.UUID
    released_at: dt.datetime
    consent_ids: list[uuid.UUID] = Field(description="the consents that covered it; none for a directory or "
                                                     "statutory fact")
    revoked_at: dt.datetime | None = None
    ended_consent_ids: list[uuid.UUID] = []


class ExtractEntry(HistoryEntryOut):
    """One fact or plan entry as the event log holds it, with its free text opened."""

    child_id: uuid.UUID = Field(description="the id it was recorded under: the child's, or one merged into it")
    section: Section = Field(description="fact (from a source system), plan, consent, or statutory (a report of "
                                         "concern routed to social services)")
    source: OrgOut = Field(description="the organisation it came from")
    text: dict[str, str] = Field(description="its sealed personal data and free text, opened now; an erased "
                                             "child's plan text reads '[raderad]'")
    text_state: TextState = Field(description="none (it carries none); opened; erased (the key is deleted); "
                                              "sealed (could not be opened); withheld (an address of a protected child)")
    releases: list[ReleaseOut] = Field([], description="a source fact's releases to the plan")


class NamedPersonPeriodOut(BaseModel):
    """One period of the named-person history (barnensbästa-ansvarig), oldest first."""

    organisation: OrgOut | None = Field(description="null for a gap, or once the task has ended")
    rule: str = Field(description="the rule that chose it (DESIGN §6)")
    since: dt.date | None
    until: dt.date | None = Field(description="when the next period began; null for the current one")
    ended_by: str | None = Field(description="the rule of the period that followed: why this one ended")
    reason_code: str | None = Field(None, description="a transfer's reason code, when a decision ended it")


class ExtractAccessOut(AuditEntryOut):
    """One entry of the audit log about the child (or an id merged into it). ``kind`` may be one
    this version does not know: it is given as logged."""

    organisation: OrgOut
    comment: str | None = Field(None, description="an emergency-access review's comment, opened now")
    comment_state: CommentState = "none"


class ProducedBy(BaseModel):
    viewer_id: str
    role: str
    organisation: OrgOut


class RegisterExtract(BaseModel):
    """Everything the hub holds about one child, and who has seen it (GDPR art. 15, PDL 8 kap. 5 §).

    Producing it is itself a logged read (``logged_as``: purpose ``register-extract``)."""

    child_id: uuid.UUID
    produced_at: dt.datetime
    produced_by: ProducedBy
    logged_as: uuid.UUID = Field(description="the event id of the ChildDataViewed that logs this extract")
    parts: list[str] = Field(description="what the extract includes, as its access is logged")
    merged_ids: list[uuid.UUID] = Field(description="ids that turned out to be this child's; their data is included")
    erased: ErasureOut | None = Field(description="set when the child's data was erased: then nothing sealed or "
                                                  "free text is readable, and only the skeleton remains")
    person: ExtractPerson
    named_person: OrgOut | None
    named_person_rule: str
    lead: OrgOut | None
    participants: list[OrgOut]
    plan: PlanInfo | None
    entries: list[ExtractEntry] = Field(description="every fact and plan entry in the event log, in the order the "
                                                    "hub recorded them (access events are in access_log)")
    consents: list[ConsentOut] = Field(description="every consent, as the read model judges it now")
    named_person_history: list[NamedPersonPeriodOut]
    access_log: list[ExtractAccessOut] = Field(description="who saw what, when, in which role and organisation, why")
