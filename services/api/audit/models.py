"""Bodies of the auditors' review of emergency accesses (they make the OpenAPI spec)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from services.api.models import AuditEntryOut, Body, OrgOut, Text

BLANK_COMMENT = "the comment must say something (it is empty or only spaces)"
COMMENT_MAX = 2_000  # ``Text``'s bound, as for other free text


def _said(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(BLANK_COMMENT)
    return value


Comment = Annotated[Text, Field(min_length=1), AfterValidator(_said)]
CommentState = Literal["opened", "erased", "unreadable", "none"]


class ReviewEmergencyAccess(Body):
    comment: Comment = Field(description="what the review found; required, at most 2000 characters; "
                                         "sealed with the child's key")


class ReviewOut(BaseModel):
    event_id: uuid.UUID
    reviewed_at: dt.datetime
    reviewer_id: str
    role: str
    organisation: OrgOut
    comment: str | None = Field(description="opened at read time; null unless comment_state is 'opened'")
    comment_state: CommentState = Field(description="opened; erased (the child's key is deleted); unreadable "
                                                    "(the stored ciphertext was altered); none (no comment was kept)")


class EmergencyAccessOut(AuditEntryOut):
    """An emergency access as the audit log holds it (``purpose`` is its reason code), with its review."""

    organisation: OrgOut
    status: Literal["reviewed", "unreviewed", "overdue"]
    review_due: dt.datetime = Field(description="unreviewed after this moment, it is overdue (opened + 14 days)")
    reviews: list[ReviewOut] = Field(description="oldest first; the first is the review, any further one was "
                                                 "logged before the first reached the log")


class EmergencyAccessReviews(BaseModel):
    """Emergency accesses for review: overdue first, then unreviewed, then reviewed."""

    shown: Literal["all", "unreviewed", "overdue"]
    entries: list[EmergencyAccessOut]
    total: int = Field(description="emergency accesses in the window, whatever is shown")
    unreviewed: int = Field(description="of those, unreviewed (overdue included)")
    overdue: int
