"""Figures for the follow-up of reports of concern (issue 19, item 5), as one pure function over
the read model's ``concern_reports`` rows.

Counted: every routed report (filed through the hub, or read from a social-services register),
by municipality and reporter category; of those filed through the hub, how many were delivered
into the register and how many acknowledged; and the hours from filing (``reported_at``) to
acknowledgement: the median (the middle value, or the mean of the two middle ones) and the 90th
percentile by nearest rank (the smallest value with at least 90% of the values at or below it).
A report whose route's events arrived before the route itself (no ``routed_at`` yet) is not
counted until it is routed. Nothing here names a child.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

UNKNOWN = "UNKNOWN"  # a report whose municipality or reporter category the route did not give


@dataclass(frozen=True, slots=True)
class FigureRow:
    municipality_code: str | None
    reporter_category: str | None
    filed_in_hub: bool
    routed_at: dt.datetime | None
    reported_at: dt.datetime | None
    delivered_at: dt.datetime | None
    acknowledged_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Summary:
    reports: int
    filed_in_hub: int
    delivered: int
    acknowledged: int
    hours_median: float | None
    hours_p90: float | None


@dataclass(frozen=True, slots=True)
class Figures:
    by_category: dict[tuple[str, str], int]  # (municipality, reporter category) -> reports
    by_municipality: dict[str, Summary]
    total: Summary


def nearest_rank(values: Sequence[float], share: float) -> float | None:
    """The smallest value with at least ``share`` of the values at or below it; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def _summary(rows: Sequence[FigureRow]) -> Summary:
    hub = [r for r in rows if r.filed_in_hub]
    hours = [(r.acknowledged_at - r.reported_at).total_seconds() / 3600 for r in hub
             if r.acknowledged_at is not None and r.reported_at is not None]
    return Summary(reports=len(rows), filed_in_hub=len(hub), delivered=sum(r.delivered_at is not None for r in hub),
                   acknowledged=sum(r.acknowledged_at is not None for r in hub),
                   hours_median=statistics.median(hours) if hours else None, hours_p90=nearest_rank(hours, 0.9))


def figures(rows: Iterable[FigureRow]) -> Figures:
    routed = [r for r in rows if r.routed_at is not None]
    by_category: dict[tuple[str, str], int] = {}
    by_code: dict[str, list[FigureRow]] = {}
    for r in routed:
        code = r.municipality_code or UNKNOWN
        key = (code, r.reporter_category or UNKNOWN)
        by_category[key] = by_category.get(key, 0) + 1
        by_code.setdefault(code, []).append(r)
    return Figures(by_category=dict(sorted(by_category.items())),
                   by_municipality={code: _summary(by_code[code]) for code in sorted(by_code)},
                   total=_summary(routed))
