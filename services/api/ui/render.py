"""The Jinja2 environment of the pages: templates, Swedish formatting, and the page frame."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.api.auth.tokens import Principal
from services.api.ui import sv, wheel

TEMPLATES = Path(__file__).resolve().parent / "templates"
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december")

templates = Jinja2Templates(directory=TEMPLATES)  # autoescapes .html


def day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).date()
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def moment(value: dt.datetime | None) -> str:
    if value is None:
        return "–"
    utc = value.astimezone(dt.UTC)
    return f"{day(utc)} {utc:%H:%M} UTC"


def org_name(org: Any) -> str:
    if org is None:
        return "–"
    name = getattr(org, "name", None)
    return f"{name} ({org.id})" if name else str(org.id)


def short_id(value: Any) -> str:
    return str(value)[:8]


env = templates.env
env.filters.update(day=day, moment=moment, org=org_name, short=short_id, translate=sv.translate)
env.globals.update(sv=sv, geometry=wheel)


def page(request: Request, name: str, principal: Principal | None, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the frame: the logged-in user, the navigation for their role, a flash message."""
    flash = sv.FLASH.get(request.query_params.get("klart", ""))
    return templates.TemplateResponse(request, name, {"user": principal, "flash": flash, "pending": sv.PENDING,
                                                      **context}, status_code=status)
