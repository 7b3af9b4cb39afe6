"""Values as a person in a Swedish county reads them: organisations and municipalities by name,
times in Swedish local time, percentages rounded with a decimal comma, codes in words, and a
child's school absence month by month with its trend.

The JSON API keeps ids and codes; only the pages go through here. Where a name or a word
stands for an id or a code, the id or code is kept in a ``title`` attribute (on hover), so a
reader can still tell two units with one name apart and quote the code to the source.
Everything returned as ``Markup`` is built with ``Markup.format``, which escapes its arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from markupsafe import Markup

from projections.consent_rules import SWEDEN
from services.api.models import FactOut
from services.api.orgs import OrgDirectory
from services.api.ui import sv

MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december")
DASH = "–"
ABSENCE = "AbsenceSummarised"
TREND_STEP = Decimal(1)  # percentage points between the last two months before absence "rises" or "falls"


# -- time ------------------------------------------------------------------------------------------------

def local(moment: dt.datetime) -> dt.datetime:
    """A moment in Swedish local time (Europe/Stockholm, summer time included); naive is UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(SWEDEN)


def day(value: dt.date | dt.datetime | None) -> str:
    """A date as it is; a moment's date in Sweden."""
    if value is None:
        return DASH
    if isinstance(value, dt.datetime):
        value = local(value).date()
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def moment(value: dt.datetime | None) -> str:
    """Day and hh:mm in Swedish local time. In the hour that happens twice when summer time ends,
    the clock time alone is ambiguous: that hour says which of the two it is."""
    if value is None:
        return DASH
    here = local(value)
    shown = f"{day(here)} {here:%H:%M}"
    other = here.replace(fold=1 - here.fold)
    if other.utcoffset() != here.utcoffset():  # the repeated hour
        shown += " (sommartid)" if here.dst() else " (normaltid)"
    return shown


def iso_day(text: str) -> str:
    """An ISO date in a fact's details, as ``day`` shows it; anything else as it is."""
    try:
        return day(dt.date.fromisoformat(text))
    except (TypeError, ValueError):
        return text


# -- numbers ----------------------------------------------------------------------------------------------

def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        found = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return found if found.is_finite() else None


def decimal_comma(value: Decimal) -> str:
    return format(value, "f").replace(".", ",")


def rounded(value: Any) -> Decimal | None:
    """To one decimal, halves up (12.25 -> 12.3), trailing zero dropped (12.0 -> 12)."""
    found = _decimal(value)
    if found is None:
        return None
    one = found.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return one.quantize(Decimal(1)) if one == one.to_integral_value() else one


def percent(value: Any) -> str:
    """``12.46`` -> ``12,5 %``; a value that is no number is shown as it is."""
    found = rounded(value)
    return str(value) if found is None else f"{decimal_comma(found)} %"


def quantity(value: Any, unit: str | None) -> str:
    """A measured value with a decimal comma and its unit, digits as the source gave them."""
    found = _decimal(value)
    shown = str(value) if found is None else decimal_comma(found)
    return f"{shown} {sv.UNIT.get(unit, unit)}" if unit else shown


# -- organisations and municipalities -------------------------------------------------------------------------

def org(value: Any, directory: OrgDirectory | None) -> Markup:
    """An organisation (an ``OrgOut`` or an id) by its directory name, its id on hover; an id the
    directory does not know is shown as it is and called unknown on hover. A school unit whose
    principal the source names keeps the ", rektor NAME" after it."""
    if value is None:
        return Markup(DASH)
    org_id = value if isinstance(value, str) else str(value.id)
    name = None if isinstance(value, str) else getattr(value, "name", None)
    if name is None and directory is not None:
        name = directory.display_name(org_id)
    if name:
        shown = Markup('<span class="org" title="{}">{}</span>').format(org_id, name)
    else:
        shown = Markup('<span class="org unknown" title="{}: {}">{}</span>').format(sv.UNKNOWN_ORG, org_id, org_id)
    person = None if isinstance(value, str) else getattr(value, "person", None)
    return shown + Markup(", rektor {}").format(person) if person else shown


def orgs(values: Iterable[Any], directory: OrgDirectory | None) -> Markup:
    shown = [org(v, directory) for v in values]
    return Markup(", ").join(shown) if shown else Markup(DASH)


def municipality(code: str | None, directory: OrgDirectory | None) -> Markup:
    """A municipality by name, its SCB code on hover; a code outside the county by its code."""
    if not code:
        return Markup(DASH)
    name = None if directory is None else directory.municipality_name(code)
    if name:
        return Markup('<span class="municipality" title="kommunkod {}">{}</span>').format(code, name)
    return Markup('<span class="municipality" title="kommunkod {}, {}">{}</span>').format(code, sv.OUTSIDE_COUNTY,
                                                                                           code)


# -- facts ----------------------------------------------------------------------------------------------

ORG_FIELDS = frozenset({"unit_id", "school_unit_id"})
PERCENT_FIELDS = frozenset({"absence_percent", "unexcused_percent"})
DATE_FIELDS = frozenset({"period_start", "period_end"})
# Pseudonymous ids that mean nothing to a reader (the JSON API keeps them), and a unit shown with its value.
HIDDEN_FIELDS = frozenset({"expectant_parent_id", "pregnancy_event_id", "unit", "report_id"})
CODES: Mapping[str, Mapping[str, str]] = {
    "school_type": sv.SCHOOL_TYPE, "support_type": sv.SUPPORT_TYPE, "visit_type": sv.VISIT_TYPE,
    "vaccine_code": sv.VACCINE, "clinical_status": sv.CLINICAL_STATUS, "reporter_category": sv.REPORTER,
    "outcome": sv.OUTCOME, "intervention_type": sv.INTERVENTION,
}
CODE_OF = {"ObservationRecorded": sv.OBSERVATION, "ConditionNoted": sv.CONDITION}
FIELD_OF = {("ObservationRecorded", "code"): "mätning", ("ConditionNoted", "code"): "tillstånd"}


def coded(code: str, words: Mapping[str, str]) -> Markup | str:
    """A code in words, the code on hover; an unknown code as it is."""
    said = words.get(code)
    return code if said is None else Markup('<span class="code" title="{}">{}</span>').format(code, said)


def fact_rows(fact: FactOut, directory: OrgDirectory | None) -> list[tuple[str, Markup | str]]:
    """A fact's details as (Swedish label, readable value), in the fact's own order."""
    details = fact.details
    rows: list[tuple[str, Markup | str]] = []
    for key, value in details.items():
        if key in HIDDEN_FIELDS:
            continue
        label = FIELD_OF.get((fact.fact_type, key)) or sv.FIELD.get(key, key)
        rows.append((label, _value(fact.fact_type, key, value, details, directory)))
    return rows


def _value(fact_type: str, key: str, value: str, details: Mapping[str, str],
           directory: OrgDirectory | None) -> Markup | str:
    if value in sv.BOOLEAN:
        return sv.BOOLEAN[value]
    if key in ORG_FIELDS:
        return org(value, directory)
    if key == "municipality_code":
        return municipality(value, directory)
    if key in PERCENT_FIELDS:
        return percent(value)
    if key in DATE_FIELDS or key.endswith(("_on", "_date")):
        return iso_day(value)
    if key in CODES:
        return coded(value, CODES[key])
    if key == "code" and fact_type in CODE_OF:
        return coded(value, CODE_OF[fact_type])
    if key == "value" and fact_type == "ObservationRecorded":
        return quantity(value, details.get("unit"))
    return value


# -- people and the auditors' log ----------------------------------------------------------------------

def person(subject: str, role: str | None, organisation_id: str | None, people: Mapping[str, Any],
           directory: OrgDirectory | None) -> Markup:
    """A user as "Namn (roll, organisation)", the login subject on hover; a subject nobody has
    seen log in with a name is shown as it is. Role and organisation are the entry's own (what
    the user was when it was logged), else the latest the hub has seen."""
    known = people.get(subject)
    role = role or getattr(known, "role", None)
    organisation_id = organisation_id or getattr(known, "organisation_id", None)
    said = [sv.USER_ROLE.get(role, role)] if role else []
    where = org(organisation_id, directory) if organisation_id else None
    inside = Markup(", ").join([*said, *([where] if where is not None else [])])
    if known is None:
        who = Markup('<span class="person unknown" title="{}">{}</span>').format(sv.UNKNOWN_PERSON, subject)
    else:
        who = Markup('<span class="person" title="{}">{}</span>').format(subject, known.name)
    return who + Markup(" ({})").format(inside) if inside else who


def audit_purpose(kind: str, purpose: str) -> Markup | str:
    """What an entry of the log was for, in words: a view's purpose, an emergency access's or an
    erasure's reason (the code on hover); an unknown kind says what it is and its purpose as is."""
    if kind == "view":
        return coded(purpose, sv.PURPOSE)
    if kind == "emergency":
        return Markup("{}: {}").format(sv.AUDIT_KIND[kind], coded(purpose, sv.EMERGENCY_REASONS))
    if kind == "erasure":
        return Markup("{}: {}").format(sv.AUDIT_KIND[kind], coded(purpose, sv.ERASURE_REASONS))
    if kind == "review":
        return sv.AUDIT_KIND[kind]
    return Markup("{} ({}): {}").format(sv.AUDIT_KIND_UNKNOWN, kind, purpose)


def parts(kind: str, values: Sequence[str]) -> Markup | str:
    """What an entry read, in words; an erasure's parts are the ids it erased (short, whole on hover)."""
    if kind == "erasure":
        return Markup("{}: {}").format(sv.ERASED_IDS, short_ids(list(values))) if values else DASH
    return ", ".join(sv.PART.get(v, v) for v in values) or DASH


# -- an event, for the auditors' history --------------------------------------------------------------

ORG_SUFFIXES = ("_org", "_orgs", "organisation_id", "organisations", "unit_id", "recipients")
PEOPLE_FIELDS = frozenset({"viewer_id", "reviewer_id", "registered_by", "administrator_id"})
ACTOR_FIELDS = ("viewer_id", "reviewer_id", "administrator_id")  # who did it, with the role and organisation beside
MOMENT_FIELDS = frozenset({"valid_from", "valid_to", "expires_at"})
SHORT_ID_FIELDS = frozenset({"consent_id", "consent_ids", "ended_consent_ids", "erased_child_ids",
                             "surviving_child_id"})
# References inside the hub (and ciphertext) that mean nothing on the page; the JSON API keeps them.
HISTORY_HIDDEN = HIDDEN_FIELDS | {"plan_id", "meeting_id", "action_id", "follow_up_id", "fact_event_id",
                                  "report_event_id", "emergency_event_id", "withdrawn_by", "fact", "report", "justification",
                                  "placement_id", "intervention_id"}
HISTORY_CODES: Mapping[str, Mapping[str, str]] = {
    **CODES, "categories": {str(k): v for k, v in sv.CATEGORY.items()}, "areas": {str(k): v for k, v in sv.AREA.items()},
    "obtained": {str(k): v for k, v in sv.OBTAINED.items()}, "protection": sv.PROTECTION, "rule": sv.RULE,
    "purpose": sv.PURPOSE, "parts": sv.PART, "fact_type": sv.EVENT,
}
REASONS_OF = {"EmergencyAccessOpened": sv.EMERGENCY_REASONS, "NamedPersonTransferred": sv.TRANSFER_REASONS,
              "PlanClosed": {**sv.CLOSE_REASONS, **sv.PLAN_CLOSED}, "ChildDataErased": sv.ERASURE_REASONS}


def event_name(type_name: str) -> str:
    """An event kind in Swedish; one the page does not know is "Annan händelse", never its class name."""
    return sv.EVENT.get(type_name, sv.EVENT_UNKNOWN)


def history_rows(type_name: str, fields: Mapping[str, Any], directory: OrgDirectory | None,
                 people: Mapping[str, Any] | None = None) -> list[tuple[str, Markup | str]]:
    """An event's fields as (Swedish label, readable value), in the event's own order, without
    the hub's internal references."""
    rows: list[tuple[str, Markup | str]] = []
    actor = next((k for k in ACTOR_FIELDS if fields.get(k)), None)  # an access event's user, role and organisation
    for key, value in fields.items():
        if key in HISTORY_HIDDEN or (actor and key in ("role", "organisation_id")):
            continue
        label = FIELD_OF.get((type_name, key)) or sv.HISTORY_FIELD.get(key) or key.replace("_", " ")
        if key == actor:
            shown: Markup | str = person(str(value), fields.get("role"), fields.get("organisation_id"), people or {},
                                         directory)
        else:
            shown = history_value(key, value, directory, type_name, people or {})
        rows.append((label, shown))
    return rows


def history_value(key: str, value: Any, directory: OrgDirectory | None, type_name: str = "",
                  people: Mapping[str, Any] | None = None) -> Markup | str:
    """One field of an event as the auditors' history shows it: organisations, municipalities
    and users by name (id, code and login on hover), codes in words, dates and moments in
    Swedish, lists joined; nothing as Python shows it."""
    if value is None or value == [] or value == {}:
        return DASH
    if key in PEOPLE_FIELDS:
        return person(str(value), None, None, people or {}, directory)
    if key == "guardian_ids" and isinstance(value, list):
        return f"{len(value)} st."
    if key == "grantors" and isinstance(value, list):
        return ", ".join(sv.ROLE_NAMES.get(str(g.get("role")), str(g.get("role"))) if isinstance(g, dict) else str(g)
                         for g in value)
    if key == "role" and type_name == "ConsentWithdrawn":
        return sv.ROLE_NAMES.get(str(value), str(value))
    if key == "role":
        return sv.USER_ROLE.get(str(value), str(value))
    if key == "reason_code" and type_name in REASONS_OF:
        return coded(str(value), REASONS_OF[type_name])
    if key == "rating" and value in sv.RATING:
        return sv.RATING[value]
    if key.endswith(ORG_SUFFIXES):
        return orgs(value, directory) if isinstance(value, list | tuple) else org(str(value), directory)
    if key.endswith("municipality_code"):
        return municipality(str(value), directory)
    if key in SHORT_ID_FIELDS:
        return short_ids(value)
    if key in MOMENT_FIELDS:
        return _moment_text(value)
    if key in DATE_FIELDS or key.endswith(("_on", "_date")):
        return iso_day(str(value))
    if key in PERCENT_FIELDS:
        return percent(value)
    if key == "code" and type_name in CODE_OF:
        return coded(str(value), CODE_OF[type_name])
    if key in HISTORY_CODES:
        words = HISTORY_CODES[key]
        if isinstance(value, list | tuple):
            return Markup(", ").join(coded(str(v), words) for v in value)
        return coded(str(value), words)
    return _plain(value)


def short_ids(value: Any) -> Markup:
    """Ids as their first eight characters, each whole on hover."""
    values = value if isinstance(value, list | tuple) else [value]
    return Markup(", ").join(Markup('<span class="id" title="{}">{}</span>').format(v, str(v)[:8]) for v in values)


def _moment_text(value: Any) -> str:
    try:
        return moment(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _plain(value: Any) -> str:
    """Whatever else an event carries, as words: booleans in Swedish, lists joined, a mapping as
    "key value" pairs; never Python's brackets or quotes."""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) or DASH
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in value.items()) or DASH
    if isinstance(value, str):
        return sv.BOOLEAN.get(value, value)
    return str(value)


# -- absence, month by month ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Month:
    start: dt.date
    end: dt.date
    label: str
    absence: Decimal
    unexcused: Decimal | None
    source: Any


@dataclass(frozen=True)
class AbsenceSeries:
    """A child's absence summaries in period order, the latest trend, and a sparkline's points."""

    months: list[Month]
    trend: str | None  # "up", "down", "flat"; None with a single period
    points: str  # SVG polyline points, "x,y x,y ..."
    last_x: float
    last_y: float
    width: int = 120
    height: int = 32

    @property
    def arrow(self) -> str:
        return "" if self.trend is None else sv.TREND[self.trend][0]

    @property
    def trend_text(self) -> str:
        return "" if self.trend is None else sv.TREND[self.trend][1]

    @property
    def description(self) -> str:
        """The sparkline in words, for a screen reader."""
        said = "; ".join(f"{m.label}: {decimal_comma(m.absence)} %" for m in self.months)
        return f"Frånvaro per period: {said}." + (f" Frånvaron {self.trend_text}." if self.trend else "")


def period_label(start: dt.date, end: dt.date) -> str:
    """One calendar month by its name ("september 2026"); any other period from day to day."""
    whole_month = start.day == 1 and end.month == start.month and end.year == start.year \
        and (end + dt.timedelta(days=1)).month != end.month
    return f"{MONTHS[start.month - 1]} {start.year}" if whole_month else f"{day(start)} – {day(end)}"


def trend(months: Sequence[Month]) -> str | None:
    """The latest period against the one before it: up or down by at least ``TREND_STEP``
    percentage points, else flat."""
    if len(months) < 2:
        return None
    change = months[-1].absence - months[-2].absence
    return "up" if change >= TREND_STEP else "down" if change <= -TREND_STEP else "flat"


def absence_series(facts: Iterable[FactOut], *, width: int = 120, height: int = 32) -> AbsenceSeries | None:
    """The absence summaries among ``facts``, sorted by period (then source); None if none."""
    months = []
    for f in facts:
        if f.fact_type != ABSENCE:
            continue
        try:
            start = dt.date.fromisoformat(f.details["period_start"])
            end = dt.date.fromisoformat(f.details["period_end"])
        except (KeyError, ValueError):
            continue
        absence = rounded(f.details.get("absence_percent"))
        if absence is None:
            continue
        months.append(Month(start, end, period_label(start, end), absence,
                            rounded(f.details.get("unexcused_percent")), f.source))
    if not months:
        return None
    months.sort(key=lambda m: (m.start, m.end, str(getattr(m.source, "id", m.source))))
    points = _points([m.absence for m in months], width, height)
    last_x, last_y = points[-1]
    return AbsenceSeries(months, trend(months), " ".join(f"{x:g},{y:g}" for x, y in points), last_x, last_y,
                         width, height)


def _points(values: Sequence[Decimal], width: int, height: int, pad: int = 3) -> list[tuple[float, float]]:
    """Evenly spaced points; 0 % at the bottom, and the top at least 20 % so that small
    absence does not look like a lot."""
    top = max([Decimal(20), *values])
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    return [(round(pad + i * step, 1), round(height - pad - float(v / top) * (height - 2 * pad), 1))
            for i, v in enumerate(values)]


def without_absence(facts: Iterable[FactOut]) -> list[FactOut]:
    """The facts the facts table lists: absence summaries have their own month-by-month series."""
    return [f for f in facts if f.fact_type != ABSENCE]
