"""The printable plan for the family (issue 20): an HTML page with a print stylesheet, and the same
HTML as a PDF.

Either is a read of the child's plan like the plan page, with the same access, and logged with
the purpose ``print`` and the parts it shows. The PDF is drawn by WeasyPrint in the hub's thread
pool (it takes a while, the event loop must not wait for it) and may fetch nothing: its stylesheet
is handed to it from the package and every other URL is refused, so a document about a child never
makes the hub reach out anywhere.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from projections.access import Need
from services.api import errors, person, publishing, reads
from services.api.auth.callers import hub_of, page_principal
from services.api.auth.tokens import Principal
from services.api.models import PlanView
from services.api.ui.render import html_text, page

PRINT_PARTS = ("plan", "named-person", "assessments", "actions", "meetings", "invitations", "participants",
               "follow-ups")
STYLESHEETS = [Path(__file__).resolve().parent / "static" / name for name in ("kronobarn.css", "print.css")]
NO_FETCH = "the printable plan fetches nothing"
PDF = "application/pdf"

router = APIRouter()
User = Annotated[Principal, Depends(page_principal)]


async def _printed(request: Request, user: Principal, child_id: uuid.UUID) -> PlanView:
    """The plan as the viewer may see it, its read logged as a print; only a child with a plan."""
    hub = hub_of(request)
    loaded = await reads.guard(hub, user, child_id, Need.READ)
    if loaded.child.plan_id is None:
        raise errors.Rejected([errors.NO_PLAN])
    view, _ = await reads.read_plan(hub, user, child_id, purpose=publishing.PRINT, parts=PRINT_PARTS, asks=person.LIST)
    return view


@router.get("/children/{child_id}/print", response_class=HTMLResponse)
async def print_view(request: Request, user: User, child_id: uuid.UUID) -> HTMLResponse:
    view = await _printed(request, user, child_id)
    return page(request, "print.html", user, view=view, pdf=False)


def _refuse(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(NO_FETCH)


def _refusing() -> Any:
    """A URL fetcher that fetches nothing: a class from WeasyPrint 67 on, a function before."""
    from weasyprint import urls

    base = getattr(urls, "URLFetcher", None)
    if base is None:
        return _refuse

    class Refusing(base):  # type: ignore[misc, valid-type]
        def fetch(self, url: str, headers: Any = None) -> NoReturn:
            _refuse(url)

    return Refusing()


def pdf_of(html: str) -> bytes:
    """The printable plan's HTML as PDF bytes (blocking: run it off the event loop)."""
    from weasyprint import CSS, HTML  # heavy to import: only when a PDF is asked for

    fetcher = _refusing()
    sheets = [CSS(filename=str(path), url_fetcher=fetcher) for path in STYLESHEETS]
    return HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=sheets)  # type: ignore[no-any-return]


@router.get("/children/{child_id}/plan.pdf")
async def plan_pdf(request: Request, user: User, child_id: uuid.UUID) -> Response:
    hub = hub_of(request)
    view = await _printed(request, user, child_id)
    html = html_text("print.html", user, hub.directory, view=view, pdf=True)
    body = await hub.run(pdf_of, html)
    # The file's name says what it is, never whose: it ends up in download folders and mail.
    return Response(body, media_type=PDF,
                    headers={"Content-Disposition": f'attachment; filename="barnets-plan-{str(child_id)[:8]}.pdf"'})
