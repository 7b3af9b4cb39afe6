"""The wheel's seven areas mapped to GIRFEC's eight SHANARRI wellbeing indicators.

Used when a plan is exported (FHIR CarePlan) to systems that speak GIRFEC. Every indicator is
reached by at least one area; where an area spans two indicators both are listed, first the
closer fit. Rationale per line is in docs/events.md.
"""

from __future__ import annotations

from schemas.events import Area

INDICATORS = ("safe", "healthy", "achieving", "nurtured", "active", "respected", "responsible", "included")

SHANARRI: dict[Area, tuple[str, ...]] = {
    Area.CARE: ("nurtured",),
    Area.HEALTH: ("healthy",),
    Area.LEARNING: ("achieving",),
    Area.SAFETY: ("safe",),
    Area.RELATIONSHIPS: ("included", "respected"),
    Area.HOME: ("nurtured", "safe"),
    Area.DEVELOPMENT: ("active", "responsible"),
}
