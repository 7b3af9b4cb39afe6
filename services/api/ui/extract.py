"""The register extract as a printable Swedish page, and as a JSON download for the logged-in user.

Both are ``services.api.audit.extract.register_extract``: the same extract, and each a logged read
of its own. The page says in words what the JSON keeps as codes -- event kinds, fields, rules,
reasons -- with times in Swedish local time and organisations by name (``readable``). The words
for event kinds and the plan's text fields that ``sv`` does not have yet are here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import Markup

from services.api.audit.extract import register_extract
from services.api.audit.extract_models import ExtractEntry
from services.api.auth.callers import hub_of, page_principal
from services.api.auth.tokens import Principal
from services.api.orgs import OrgDirectory
from services.api.ui import readable, sv
from services.api.ui.render import page

router = APIRouter(prefix="/ui", include_in_schema=False)
User = Annotated[Principal, Depends(page_principal)]
ChildId = Annotated[uuid.UUID, Path()]

SECTIONS = (
    ("fact", "Uppgifter från källsystemen",
     "Det som skolor, hälso- och sjukvård, socialtjänst och folkbokföringen har skickat till navet om barnet."),
    ("plan", "Barnets plan", "Allt som har registrerats i barnets plan: öppnande, möten, bedömningar, insatser, "
                             "uppföljningar och beslut om barnensbästa-ansvaret."),
    ("consent", "Samtycken – händelser", "När samtycken lämnades och återkallades."),
    ("statutory", "Orosanmälningar vidarebefordrade till socialtjänsten",
     "Orosanmälningar går alltid till socialtjänsten i barnets kommun, oavsett samtycke (SoL 14 kap. 1 §)."),
)
TEXT = {
    "personnummer": "personnummer", "given_name": "förnamn", "family_name": "efternamn", "address": "adress",
    "postal_code": "postnummer", "town": "ort", "decisions": "beslut", "notes": "anteckningar",
    "comment": "kommentar", "child_view": "barnets syn", "guardians_view": "vårdnadshavarnas syn",
    "need": "behov", "what": "vad", "reason": "skäl",
}
TEXT_STATE = {"erased": "raderad", "withheld": "visas inte (skyddade personuppgifter)",
              "sealed": "kunde inte öppnas"}
# An entry's fields: the history's labels (``sv.HISTORY_FIELD``), and the ids and references only
# the extract shows.
FIELD = {
    **sv.FIELD, **sv.FIELD_NAMES, **sv.HISTORY_FIELD,
    "plan_id": "plan", "meeting_id": "möte", "action_id": "insats", "follow_up_id": "uppföljning",
    "report_event_id": "anmälan", "report": "anmälan", "fact_event_id": "uppgift",
    "expectant_parent_id": "blivande förälder", "pregnancy_event_id": "graviditet",
}
MOMENT_FIELDS = frozenset({"valid_from", "valid_to", "expires_at"})
HIDDEN_FIELDS = frozenset({"fact", "report"})  # another event's bytes: that event is an entry of its own
ANY = "alla"


def text_label(key: str) -> str:
    return "vårdnadshavare" if key.startswith("guardian:") else TEXT.get(key, key)


def field_value(key: str, value: Any, directory: OrgDirectory | None) -> Markup | str:
    """One field of an entry in words: dates and moments as in Sweden, organisations by name,
    codes in words (the code on hover), everything else as the log holds it."""
    if value is None:
        return ANY if key in ("source_organisations", "areas") else readable.DASH
    if key == "grantors" and isinstance(value, list):
        return ", ".join(sv.ROLE_NAMES.get(str(g.get("role")), str(g.get("role"))) for g in value
                         if isinstance(g, dict))
    if key in MOMENT_FIELDS and isinstance(value, str):
        try:
            return readable.moment(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, str) and (key.endswith(("_on", "_date")) or key in readable.DATE_FIELDS):
        return readable.iso_day(value)
    if key == "rating":
        return sv.RATING.get(value, str(value))
    if key in readable.CODES and isinstance(value, str):
        return readable.coded(value, readable.CODES[key])
    if key == "categories" and isinstance(value, list):
        return ", ".join(sv.CATEGORY.get(v, v) for v in value)
    if key == "areas" and isinstance(value, list):
        return ", ".join(sv.AREA.get(v, v) for v in value)
    if key in readable.PERCENT_FIELDS:
        return readable.percent(value)
    return readable.history_value(key, value, directory)


def sections(entries: list[ExtractEntry]) -> list[tuple[str, str, str, list[ExtractEntry]]]:
    """The page's tables: each section's heading, its lead text and its entries, in log order."""
    return [(key, heading, lead, [e for e in entries if e.section == key]) for key, heading, lead in SECTIONS]


def _context() -> dict[str, Any]:
    return {"kinds": sv.EVENT, "access_kinds": sv.AUDIT_KIND, "purposes": sv.PURPOSE, "text_label": text_label,
            "text_states": TEXT_STATE, "field_labels": FIELD, "field_value": field_value, "sections": sections,
            "hidden_fields": HIDDEN_FIELDS}


@router.get("/audit/children/{child_id}/extract", response_class=HTMLResponse)
async def extract_page(request: Request, user: User, child_id: ChildId) -> HTMLResponse:
    found = await register_extract(hub_of(request), user, child_id)
    return page(request, "audit_extract.html", user, found=found, child_id=child_id, **_context())


@router.get("/audit/children/{child_id}/extract.json")
async def extract_download(request: Request, user: User, child_id: ChildId) -> JSONResponse:
    """The same extract as a file to keep (machine-readable, GDPR art. 15.3)."""
    found = await register_extract(hub_of(request), user, child_id)
    return JSONResponse(found.model_dump(mode="json"), headers={
        "Content-Disposition": f'attachment; filename="registerutdrag-{child_id}.json"'})
