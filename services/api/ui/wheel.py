"""The wellbeing wheel's geometry: seven sectors whose radius and colour follow the 1-5 rating.

Pure: the template draws what this returns. A sector reaches out as far as its rating (5 is the
full wheel); its colour runs from red (1, great concern) to blue (5, doing well) -- a diverging
scale that also reads without colour vision, since the radius and the printed number carry the
same information. An area not assessed is an outline only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from projections.plan import AREAS
from schemas.events import Area
from services.api.ui import sv

SIZE = 420
CENTRE = SIZE / 2
RADIUS = 140.0
LABEL_RADIUS = RADIUS + 22
FILL = {1: "#b2182b", 2: "#ef8a62", 3: "#d9d9d9", 4: "#92c5de", 5: "#2166ac"}
INK = {1: "#ffffff", 2: "#000000", 3: "#000000", 4: "#000000", 5: "#ffffff"}
STEP = 360 / len(AREAS)


@dataclass(frozen=True)
class Sector:
    area: Area
    label: str
    rating: int | None
    outline: str  # SVG path of the full sector
    filled: str | None  # SVG path out to the rating, None when not assessed
    fill: str | None
    ink: str
    number_x: float
    number_y: float
    label_x: float
    label_y: float
    anchor: str

    @property
    def title(self) -> str:
        return f"{self.label}: {sv.RATING[self.rating]}" if self.rating else f"{self.label}: ej bedömd"


def _point(radius: float, degrees: float) -> tuple[float, float]:
    rad = math.radians(degrees)
    return round(CENTRE + radius * math.cos(rad), 2), round(CENTRE + radius * math.sin(rad), 2)


def _sector(radius: float, start: float, end: float) -> str:
    x0, y0 = _point(radius, start)
    x1, y1 = _point(radius, end)
    return f"M {CENTRE} {CENTRE} L {x0} {y0} A {radius} {radius} 0 0 1 {x1} {y1} Z"


def sectors(ratings: Mapping[Area, int | None]) -> list[Sector]:
    """One sector per area, in the wheel's order, starting at the top and going clockwise."""
    out = []
    for i, area in enumerate(AREAS):
        start = -90 + i * STEP
        end, middle = start + STEP, start + STEP / 2
        rating = ratings.get(area)
        reach = RADIUS * rating / 5 if rating else None
        if reach and rating and rating >= 3:  # the number sits inside the filled sector
            number_at, ink = reach * 0.65, INK[rating]
        else:  # just outside a small sector (or mid-wheel when not assessed), dark on light
            number_at, ink = (reach + 16) if reach else RADIUS * 0.6, "#000000"
        nx, ny = _point(number_at, middle)
        lx, ly = _point(LABEL_RADIUS, middle)
        anchor = "middle" if abs(lx - CENTRE) < 20 else ("start" if lx > CENTRE else "end")
        out.append(Sector(
            area=area, label=sv.AREA[area], rating=rating, outline=_sector(RADIUS, start, end),
            filled=_sector(reach, start, end) if reach else None, fill=FILL.get(rating or 0),
            ink=ink, number_x=nx, number_y=ny, label_x=lx, label_y=ly + 5, anchor=anchor,
        ))
    return out


def rings() -> list[float]:
    """The radii of the rating rings 1-5, drawn faintly behind the sectors."""
    return [RADIUS * n / 5 for n in range(1, 6)]


# -- an area's history: its ratings over time as a small line chart --------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 160, 48, 6


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    rating: int
    day: str  # when it was rated, in Swedish, for the text a screen reader gets


@dataclass(frozen=True)
class HistoryChart:
    """The template draws ``points`` as a line and each mark as a dot; ``title`` and ``text`` say
    the same in words, for screen readers and for anyone who does not read charts."""

    title: str
    text: str
    points: str
    marks: tuple[Mark, ...]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def rating_y(rating: int) -> float:
    """1 at the bottom, 5 at the top, inside the padding."""
    span = CHART_HEIGHT - 2 * CHART_PAD
    return round(CHART_HEIGHT - CHART_PAD - (rating - 1) * span / 4, 2)


def history_chart(label: str, ratings: Sequence[tuple[str, int]]) -> HistoryChart | None:
    """The ratings of one area, oldest first, as (Swedish day, rating), spaced evenly from left to
    right: the order of the assessments matters to a family, not the days between them. None
    for fewer than two ratings -- one point is no history, and the wheel already shows it."""
    if len(ratings) < 2:
        return None
    step = (CHART_WIDTH - 2 * CHART_PAD) / (len(ratings) - 1)
    marks = tuple(Mark(round(CHART_PAD + i * step, 2), rating_y(r), r, day) for i, (day, r) in enumerate(ratings))
    said = ", ".join(f"{m.day}: {m.rating}" for m in marks)
    return HistoryChart(title=f"{label}: bedömningar över tid", text=f"Bedömningar av {label}, äldst först: {said}.",
                        points=" ".join(f"{m.x},{m.y}" for m in marks), marks=marks)
