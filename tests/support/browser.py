"""A test client that posts the pages' forms as a browser does.

A browser posts a form from a page of this site: it sends the site's ``Origin`` and the form
token the page carried (``services.api.auth.form_tokens``). ``Browser`` does the same: it loads a
page once per form cookie (the login page: it has a form and logs no read of child data), keeps
the token, and adds both to every post to a page. Tests of the form checks themselves post with a
plain ``TestClient`` or override ``Origin`` and the token.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from services.api.auth import form_tokens

TOKEN_FIELD = re.compile(r'<input type="hidden" name="' + form_tokens.FIELD + r'" value="([^"]+)">')
PAGE_PREFIXES = ("/ui", "/dev/login")


def token_on(html: str) -> str:
    """The form token a page carries; every page with a form has exactly one token."""
    found = set(TOKEN_FIELD.findall(html))
    assert len(found) == 1, f"a page's forms carry one form token, found {len(found)}"
    return found.pop()


class Browser(TestClient):
    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._token: tuple[str, str] | None = None  # (form cookie, its token)

    def form_token(self) -> str:
        cookie = self.cookies.get(form_tokens.COOKIE)
        if cookie is None or self._token is None or self._token[0] != cookie:
            login = self.get("/dev/login")
            assert login.status_code == 200, f"the login page answered {login.status_code}"
            self._token = (self.cookies[form_tokens.COOKIE], token_on(login.text))
        return self._token[1]

    def post(self, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if str(url).startswith(PAGE_PREFIXES):
            kwargs["headers"] = {"Origin": str(self.base_url).rstrip("/"), **(kwargs.get("headers") or {})}
            data = kwargs.get("data") or {}
            if isinstance(data, dict) and form_tokens.FIELD not in data:
                kwargs["data"] = {form_tokens.FIELD: self.form_token(), **data}
        return super().post(url, **kwargs)
