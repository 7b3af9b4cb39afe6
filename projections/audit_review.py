"""The auditors' review of emergency accesses (nödöppning), as pure functions.

Every emergency access is listed for review afterwards (DESIGN §6). An auditor marks it
reviewed with a comment; one not reviewed within ``REVIEW_WITHIN`` of its opening is overdue.
The log is the record: a review is an audit entry (``AuditKind.REVIEW``) naming the access it
reviews, so this module only reads entries and never stores anything.

A second review of a reviewed access is refused by the web service (409), but the check reads
the audit log, which trails a publish by the projector's latency: two reviews posted within
that moment are both logged. The log keeps both; the first is *the* review and the rest are
listed after it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from projections.audit import AuditEntry, AuditKind, utc

REVIEW_WITHIN = dt.timedelta(days=14)
"""An emergency access older than this and still unreviewed is overdue ("more than 14 days")."""


class ReviewStatus(enum.StrEnum):
    REVIEWED = "reviewed"
    UNREVIEWED = "unreviewed"
    OVERDUE = "overdue"  # unreviewed, and opened more than ``REVIEW_WITHIN`` ago


class ReviewFilter(enum.StrEnum):
    """Which emergency accesses a list shows."""

    ALL = "all"
    UNREVIEWED = "unreviewed"  # overdue ones included
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class EmergencyReview:
    """An emergency access with its reviews (oldest first) and its status at the time asked."""

    opening: AuditEntry
    reviews: tuple[AuditEntry, ...]
    status: ReviewStatus

    @property
    def due_at(self) -> dt.datetime:
        return review_due(self.opening)

    @property
    def review(self) -> AuditEntry | None:
        """The review that counts: the first logged."""
        return self.reviews[0] if self.reviews else None


def review_due(opening: AuditEntry) -> dt.datetime:
    """The last moment at which an unreviewed access is not yet overdue."""
    return utc(opening.occurred_at) + REVIEW_WITHIN


def status_at(opening: AuditEntry, reviewed: bool, now: dt.datetime) -> ReviewStatus:
    if reviewed:
        return ReviewStatus.REVIEWED
    return ReviewStatus.OVERDUE if utc(now) > review_due(opening) else ReviewStatus.UNREVIEWED


def emergency_reviews(openings: Iterable[AuditEntry], reviews: Iterable[AuditEntry],
                      now: dt.datetime) -> list[EmergencyReview]:
    """Each emergency access with its reviews, in the order auditors work: overdue first (the
    longest overdue first), then unreviewed (the next to fall due first), then reviewed (the most
    recently opened first)."""
    by_access: dict[UUID, list[AuditEntry]] = {}
    for review in sorted(reviews, key=lambda r: r.seq):
        if review.kind is AuditKind.REVIEW and review.reviews is not None:
            by_access.setdefault(review.reviews, []).append(review)
    listed = []
    for opening in openings:
        if opening.kind is not AuditKind.EMERGENCY:
            continue
        mine = tuple(by_access.get(opening.event_id, ()))
        listed.append(EmergencyReview(opening, mine, status_at(opening, bool(mine), now)))
    return sorted(listed, key=_work_order)


def shown(items: Iterable[EmergencyReview], which: ReviewFilter) -> list[EmergencyReview]:
    """The items ``which`` selects, in the order given."""
    if which is ReviewFilter.OVERDUE:
        return [i for i in items if i.status is ReviewStatus.OVERDUE]
    if which is ReviewFilter.UNREVIEWED:
        return [i for i in items if i.status is not ReviewStatus.REVIEWED]
    return list(items)


_RANK = {ReviewStatus.OVERDUE: 0, ReviewStatus.UNREVIEWED: 1, ReviewStatus.REVIEWED: 2}


def _work_order(item: EmergencyReview) -> tuple[int, float, int]:
    opened = utc(item.opening.occurred_at).timestamp()
    newest_first = item.status is ReviewStatus.REVIEWED
    return _RANK[item.status], -opened if newest_first else opened, item.opening.seq
