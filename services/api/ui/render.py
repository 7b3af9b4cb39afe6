"""The Jinja2 environment of the pages: templates, Swedish formatting, and the page frame.

Every page gets the hub's county directory as ``directory``, so organisations and municipalities
are shown by name (``readable``) and the forms' organisation pickers list the directory's units.
Templates that import macros which show organisations import them ``with context``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from services.api.auth import form_tokens
from services.api.auth.tokens import Principal
from services.api.orgs import OrgDirectory
from services.api.ui import forms, meeting_document, readable, sv, wheel

TEMPLATES = Path(__file__).resolve().parent / "templates"
MONTHS = readable.MONTHS

templates = Jinja2Templates(directory=TEMPLATES)  # autoescapes .html


def day(value: dt.date | dt.datetime | None) -> str:
    return readable.day(value)


def moment(value: dt.datetime | None) -> str:
    return readable.moment(value)


def _directory(context: Context) -> OrgDirectory | None:
    found = context.get("directory")
    return found if isinstance(found, OrgDirectory) else None


@pass_context
def org_name(context: Context, org: Any) -> Markup:
    """An ``OrgOut`` or an organisation id by its name; the id on hover."""
    return readable.org(org, _directory(context))


@pass_context
def org_names(context: Context, orgs: Any) -> Markup:
    return readable.orgs(orgs or (), _directory(context))


@pass_context
def municipality(context: Context, code: str | None) -> Markup:
    return readable.municipality(code, _directory(context))


@pass_context
def fact_rows(context: Context, fact: Any) -> list[tuple[str, Markup | str]]:
    return readable.fact_rows(fact, _directory(context))


@pass_context
def history_value(context: Context, key: str, value: Any) -> Markup | str:
    return readable.history_value(key, value, _directory(context))


@pass_context
def org_groups(context: Context, field: forms.Field | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """A picker's choices, grouped; without a field, every unit of the directory."""
    picker = field.picker if field is not None and field.picker is not None else forms.OrgPicker()
    return forms.org_groups(picker, _directory(context))


@pass_context
def org_choices(context: Context, field: forms.Field) -> list[tuple[str, str]]:
    return forms.org_choices(field.picker or forms.OrgPicker(), _directory(context))


@pass_context
def municipalities(context: Context) -> list[tuple[str, str]]:
    """The directory's municipalities as (code, name), in its order."""
    directory = _directory(context)
    return [] if directory is None else list(directory.municipality_names.items())


def short_id(value: Any) -> str:
    return str(value)[:8]


env = templates.env
env.filters.update(day=day, moment=moment, org=org_name, orgs=org_names, municipality=municipality,
                   percent=readable.percent, short=short_id, translate=sv.translate)
env.globals.update(sv=sv, geometry=wheel, fact_rows=fact_rows, history_value=history_value, org_groups=org_groups, org_choices=org_choices,
                   municipalities=municipalities, absence_series=readable.absence_series,
                   without_absence=readable.without_absence, meeting_document=meeting_document.document)


def page(request: Request, name: str, principal: Principal | None, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the frame: the logged-in user, the navigation for their role, a flash message, and
    the form token its forms carry (``form_token``, a hidden field)."""
    flash = sv.FLASH.get(request.query_params.get("klart", ""))
    hub = request.app.state.hub
    cookie = request.cookies.get(form_tokens.COOKIE) or None
    fresh = cookie is None  # the browser's first page: its forms need the cookie their token is bound to
    cookie = cookie or form_tokens.new_cookie()
    form_token = Markup('<input type="hidden" name="{}" value="{}">').format(form_tokens.FIELD,
                                                                            hub.form_tokens.token(cookie))
    response = templates.TemplateResponse(request, name, {
        "user": principal, "flash": flash, "pending": sv.PENDING, "directory": hub.directory,
        "form_token": form_token, **context}, status_code=status)
    if fresh:
        form_tokens.give_form_cookie(response, hub.settings, cookie)
    return response


def html_text(name: str, principal: Principal | None, directory: OrgDirectory, **context: Any) -> str:
    """A page as text, outside a request (the printable plan's PDF): no form token, no flash --
    a document that leaves the hub carries no form."""
    return env.get_template(name).render(user=principal, flash=None, pending=sv.PENDING, directory=directory,
                                         form_token="", **context)
