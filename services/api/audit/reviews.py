"""The auditors' review of emergency accesses: the list with each access's review, and the review itself.

An auditor (role ``auditor``, ``Need.AUDIT``) marks an emergency access reviewed with a comment.
The review is published as ``EmergencyAccessReviewed`` on ``access``, keyed by the child like the
opening, the comment sealed with the child's key; the audit projector logs it in the hash chain,
and the list shows it once logged. The rules (14 days, the order of the list) are
``projections.audit_review``'s. Refused: an unknown id (404), the auditor's own emergency access
(403), an access already reviewed (409). A child erased since the opening gets the review without
its comment: nothing can be sealed for that child any more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

from projections.access import Need
from projections.audit import AuditEntry, utc
from projections.audit_review import EmergencyReview, ReviewFilter, emergency_reviews, shown
from schemas.events import Basis, Category, EmergencyAccessReviewed, Envelope, Source
from schemas.sealing import ChildErased, Erased, Personal, Sealer, SealError
from services.api import errors, models, publishing, reads, views
from services.api.audit.models import (
    CommentState,
    EmergencyAccessOut,
    EmergencyAccessReviews,
    ReviewEmergencyAccess,
    ReviewOut,
)
from services.api.auth.tokens import Principal
from services.api.orgs import OrgDirectory
from services.api.store import utc as utc_or_none
from services.api.wiring import Hub

COMMENT_KEY = "comment"

# Reasons for programs (English), messages for people (Swedish).
UNKNOWN_ACCESS = "no emergency access {event_id} in the audit log"
OWN_ACCESS = "emergency access {event_id} is your own; another auditor must review it"
ALREADY_REVIEWED = "emergency access {event_id} has already been reviewed"
UNKNOWN_ACCESS_SV = "Det finns ingen nödöppning med det id:t i granskningsloggen."
OWN_ACCESS_SV = "Du kan inte granska din egen nödöppning; en annan granskare måste göra det."
ALREADY_REVIEWED_SV = "Nödöppningen är redan granskad."
REVIEWED_SV = "Granskningen är registrerad – listan visar den när den har loggats."
REVIEWED_ERASED_SV = ("Granskningen är registrerad, men utan kommentar: barnets uppgifter är raderade och inget "
                      "nytt kan sparas om barnet.")


class Conflict(errors.ApiError):
    """The request is valid but the state refuses it: the emergency access is already reviewed."""

    status = 409


# -- the list -----------------------------------------------------------------------------------------


def listing(hub: Hub, since: dt.datetime | None, until: dt.datetime | None, which: ReviewFilter,
            now: dt.datetime) -> EmergencyAccessReviews:
    """Emergency accesses opened in the window, with their reviews, comments opened now (blocking)."""
    audit = hub.reader.audit
    openings = audit.emergency_accesses(since, until)
    items = emergency_reviews(openings, audit.reviews_of(o.event_id for o in openings), now)
    picked = shown(items, which)
    return EmergencyAccessReviews(
        shown=which.value, entries=[access_out(i, hub.directory, hub.opener) for i in picked], total=len(items),
        unreviewed=sum(1 for i in items if i.review is None), overdue=len(shown(items, ReviewFilter.OVERDUE)),
    )


def access_out(item: EmergencyReview, directory: OrgDirectory, opener: Sealer) -> EmergencyAccessOut:
    e = item.opening
    return EmergencyAccessOut(
        seq=e.seq, event_id=e.event_id, kind=str(e.kind), occurred_at=utc(e.occurred_at), viewer_id=e.viewer_id,
        role=e.role, organisation_id=e.organisation_id, child_id=e.child_id, purpose=e.purpose, parts=list(e.parts),
        expires_at=utc_or_none(e.expires_at), organisation=_org(directory, e.organisation_id), status=item.status.value,
        review_due=item.due_at, reviews=[review_out(r, directory, opener) for r in item.reviews],
    )


def review_out(entry: AuditEntry, directory: OrgDirectory, opener: Sealer) -> ReviewOut:
    comment, state = open_comment(opener, entry)
    return ReviewOut(event_id=entry.event_id, reviewed_at=utc(entry.occurred_at), reviewer_id=entry.viewer_id,
                     role=entry.role, organisation=_org(directory, entry.organisation_id), comment=comment,
                     comment_state=state)


def open_comment(opener: Sealer, entry: AuditEntry) -> tuple[str | None, CommentState]:
    """A review's comment, opened now with the child's key (``erased`` once the key is deleted)."""
    if entry.sealed is None:
        return None, "none"
    try:
        opened = opener.open(entry.child_id, entry.sealed)
    except SealError:
        return None, "unreadable"  # altered in the database: ``kronobarn audit verify`` names the entry
    if isinstance(opened, Erased):
        return None, "erased"
    return opened.fields.get(COMMENT_KEY), "opened"


def _org(directory: OrgDirectory, org_id: str) -> models.OrgOut:
    return views.orgs(directory, [org_id])[0]


# -- the review ---------------------------------------------------------------------------------------


async def review_emergency_access(hub: Hub, principal: Principal, event_id: uuid.UUID,
                                  body: ReviewEmergencyAccess) -> models.Accepted:
    """Publish the review of emergency access ``event_id``; see the module doc for what is refused."""
    reads.require_role(principal, Need.AUDIT)
    opening, reviews = await hub.run(_found, hub, event_id)
    refusal = review_refusal(principal, event_id, opening, reviews)
    if refusal is not None:
        raise refusal
    assert opening is not None
    now = hub.now()
    event = reviewed(principal, opening, body.comment, now)
    message = REVIEWED_SV
    try:
        await reads.emit(hub, [event])
    except ChildErased:
        event = dataclasses.replace(event, envelope=dataclasses.replace(event.envelope, sealed=None))
        await reads.emit(hub, [event])
        message = REVIEWED_ERASED_SV
    return models.Accepted(event_id=event.event_id, event_type=type(event).__name__, message=message)


def review_refusal(principal: Principal, event_id: uuid.UUID, opening: AuditEntry | None,
                   reviews: Sequence[AuditEntry]) -> errors.ApiError | None:
    """Why ``principal`` may not review this emergency access now, or None."""
    if opening is None:
        return errors.NotFound([UNKNOWN_ACCESS.format(event_id=event_id)], message=UNKNOWN_ACCESS_SV)
    if opening.viewer_id == principal.subject:
        return errors.Forbidden([OWN_ACCESS.format(event_id=event_id)], message=OWN_ACCESS_SV)
    if reviews:
        return Conflict([ALREADY_REVIEWED.format(event_id=event_id)], message=ALREADY_REVIEWED_SV)
    return None


def _found(hub: Hub, event_id: uuid.UUID) -> tuple[AuditEntry | None, list[AuditEntry]]:
    audit = hub.reader.audit
    opening = audit.emergency_access(event_id)
    return opening, ([] if opening is None else audit.reviews_of([event_id]))


def reviewed(principal: Principal, opening: AuditEntry, comment: str, now: dt.datetime) -> EmergencyAccessReviewed:
    """The review event: keyed by the opening's child, the comment to be sealed with its key. The
    envelope as ``publishing`` builds the other access events': the web service is the source."""
    event_id = uuid.uuid4()  # the review itself is the record
    envelope = Envelope(
        event_id=event_id, type=EmergencyAccessReviewed.__name__, child_id=opening.child_id, occurred_at=now,
        recorded_at=now, source=Source(publishing.SOURCE_SYSTEM, principal.organisation_id, str(event_id),
                                       publishing.RECORD_VERSION),
        basis=Basis.DIRECTORY, category=Category.ACCESS, sealed=Personal({COMMENT_KEY: comment}),
    )
    return EmergencyAccessReviewed(envelope=envelope, emergency_event_id=opening.event_id,
                                   reviewer_id=principal.subject, role=str(principal.role),
                                   organisation_id=principal.organisation_id)
