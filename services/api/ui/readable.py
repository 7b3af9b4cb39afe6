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
HIDDEN_FIELDS = frozenset({"expectant_parent_id", "pregnancy_event_id", "unit"})
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


# -- an event's fields, for the auditors' history ----------------------------------------------------------

ORG_SUFFIXES = ("_org", "_orgs", "organisation_id", "organisations", "unit_id", "recipients")


def history_value(key: str, value: Any, directory: OrgDirectory | None) -> Markup | str:
    """One field of an event as the auditors' history shows it: organisations and municipalities
    by name (id and code on hover), everything else as the log holds it."""
    if key.endswith(ORG_SUFFIXES) and value is not None:
        return orgs(value, directory) if isinstance(value, list | tuple) else org(str(value), directory)
    if key.endswith("municipality_code") and isinstance(value, str):
        return municipality(value, directory)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
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
