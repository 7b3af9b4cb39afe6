"""The auditors' pages in words: a log entry's who and why, an event of the history with its
fields readable, the purposes to filter by, and the days and moments an auditor types, read as
Swedish local time.

The JSON API keeps subjects, ids, codes and UTC; only the pages go through here (and
``readable``, which formats the single values).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from pydantic import TypeAdapter, ValidationError

from projections.consent_rules import SWEDEN
from services.api.models import AuditEntryOut, HistoryEntryOut, Moment
from services.api.orgs import OrgDirectory
from services.api.ui import readable, sv

_MOMENT = TypeAdapter(Moment)


# -- what an auditor types ------------------------------------------------------------------------------

def local_day(text: str, after: bool = False) -> dt.datetime | None:
    """The moment a Swedish day (``YYYY-MM-DD``) starts, or with ``after`` the moment the day
    after it starts (a period's last day is included); None for no day or one that is not a day."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        return None
    if len(text.strip()) != 10:
        return None
    if after:
        day += dt.timedelta(days=1)
    return _in_range(dt.datetime.combine(day, dt.time(), SWEDEN))


def typed_moment(text: str) -> dt.datetime | None:
    """A moment from a ``datetime-local`` field (``2026-11-01T13:00``: Swedish local time), or an
    ISO 8601 moment with its zone; None if it is neither or lies outside the hub's range."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return _in_range(moment if moment.tzinfo else moment.replace(tzinfo=SWEDEN))


def _in_range(moment: dt.datetime) -> dt.datetime | None:
    try:
        return _MOMENT.validate_python(moment).astimezone(dt.UTC)
    except (ValidationError, OverflowError):
        return None


def local_input(moment: dt.datetime) -> str:
    """A moment as a ``datetime-local`` field shows it: Swedish local time, to the minute."""
    return f"{readable.local(moment):%Y-%m-%dT%H:%M}"


# -- the log extract ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogRow:
    entry: AuditEntryOut
    who: Markup
    why: Markup | str
    parts: Markup | str


def log_row(entry: AuditEntryOut, people: Mapping[str, Any], directory: OrgDirectory | None) -> LogRow:
    return LogRow(entry, readable.person(entry.viewer_id, entry.role, entry.organisation_id, people, directory),
                  readable.audit_purpose(entry.kind, entry.purpose), readable.parts(entry.kind, entry.parts))


def period(fran: str, till: str) -> tuple[dt.datetime | None, dt.datetime | None, list[str]]:
    """A filter's period from two typed Swedish days (both included): its start, its end (the
    moment after the last day) and what is wrong with them, in Swedish."""
    since, until = local_day(fran), local_day(till, after=True)
    problems = [message for text, day, message in ((fran, since, sv.BAD_DAY_FROM), (till, until, sv.BAD_DAY_UNTIL))
                if text and day is None]
    if since and until and until <= since:
        problems.append(sv.BAD_PERIOD)
    return since, until, problems


def purpose_groups(selected: str = "") -> list[tuple[str, list[tuple[str, str]]]]:
    """The purpose filter's choices, grouped by the kind of entry that carries them: a view's
    purpose, an emergency access's reason, an erasure's reason. A value asked for that none of
    them knows is offered too, as it is."""
    groups = [(sv.PURPOSE_GROUPS["view"], list(sv.PURPOSE.items())),
              (sv.PURPOSE_GROUPS["emergency"], list(sv.EMERGENCY_REASONS.items())),
              (sv.PURPOSE_GROUPS["erasure"], list(sv.ERASURE_REASONS.items()))]
    known = {value for _, options in groups for value, _ in options}
    if selected and selected not in known:
        groups.append((sv.PURPOSE_GROUPS["other"], [(selected, selected)]))
    return groups


# -- the history ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryRow:
    entry: HistoryEntryOut
    name: str
    fields: list[tuple[str, Markup | str]]


def history_row(entry: HistoryEntryOut, people: Mapping[str, Any], directory: OrgDirectory | None) -> HistoryRow:
    return HistoryRow(entry, readable.event_name(entry.type),
                      readable.history_rows(entry.type, entry.fields, directory, people))
