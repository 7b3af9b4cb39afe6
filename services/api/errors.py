"""The web service's errors and how each becomes an HTTP answer.

Each maps to one status with a Swedish message; none carries detail a caller outside a child's
scope could learn from. Domain rejections keep every reason (translated) for the caller.
"""

from __future__ import annotations

# Reasons the web service itself gives (the domain modules give theirs); ``sv`` translates them.
NO_PLAN = "the child has no open plan"
PLAN_ALREADY_OPEN = "the child already has an open plan"
UNKNOWN_CONSENT = "consent {consent_id} is not one of this child's"
INACTIVE_CONSENT = "consent {consent_id} is not active now"
NOT_RECIPIENT = "consent {consent_id} does not list your organisation as a recipient"
ALREADY_WITHDRAWN = "the consent has already been withdrawn"
PENDING_CONSENT = "consent {consent_id} is still being processed; try again in a moment"
CHILD_ERASED = "the child's data has been erased; nothing new can be recorded"
PNR_REJECTED = "personnummer: {reason}"  # the reason never repeats the number


class ApiError(Exception):
    status = 400
    message = ""

    def __init__(self, reasons: list[str] | None = None, message: str | None = None) -> None:
        self.reasons = list(reasons or [])
        super().__init__(message or self.message)
        if message:
            self.message = message


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class Forbidden(ApiError):
    status = 403


class Unauthorised(ApiError):
    status = 401


class Rejected(ApiError):
    """The request is well formed but the domain's rules refuse it."""

    status = 422


class Moved(ApiError):
    """The child id was merged into another (one child, one id): the same address with that id.
    Raised only once the caller may see the surviving child, so it tells nobody else anything."""

    status = 308

    def __init__(self, merged: object, surviving: object) -> None:
        super().__init__()
        self.merged, self.surviving = str(merged), str(surviving)


class Unavailable(ApiError):
    """A dependency (the event log) cannot be reached: nothing was read or written."""

    status = 503
