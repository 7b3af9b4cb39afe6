"""The coordinator's to-do page, ``/ui/att-gora`` (Swedish): the list ``GET /todo`` answers.

Read through ``services.api.todo.todo_for`` as the JSON route does, so the page is the same
logged read; the reminders by e-mail link here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from services.api import todo
from services.api.auth.callers import hub_of, page_principal
from services.api.auth.tokens import Principal
from services.api.ui.render import page

router = APIRouter(prefix="/ui", include_in_schema=False)
User = Annotated[Principal, Depends(page_principal)]


@router.get("/att-gora", response_class=HTMLResponse)
async def todo_page(request: Request, user: User) -> HTMLResponse:
    found = await todo.todo_for(hub_of(request), user)
    return page(request, "todo.html", user, found=found)
