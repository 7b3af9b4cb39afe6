"""Security headers (issue 17, finding 1; OWASP ASVS 4.0 V14.4, V8.2.1) on every answer the hub
gives: every route of the OpenAPI spec and every page, as a caller of the route's role with ids
that exist, and the answers around them (login page, docs, spec, a static file, 404, 401, 403).

The expected values are written out here, not read from ``services.api.security_headers``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.api.app import create_app
from services.api.auth.callers import COOKIE
from services.api.auth.tokens import Principal
from services.api.docs_ui import add_docs
from services.api.security_headers import SecurityHeaders
from services.api.ui.pages import COMMANDS
from services.settings import Settings
from tests.support.api import ADMINISTRATOR, AUDITOR, BHV, COORDINATOR_BHV, Harness, harness, routed

CSP = {"default-src": {"'self'"}, "script-src": {"'self'"}, "style-src": {"'self'"}, "img-src": {"'self'", "data:"},
       "form-action": {"'self'"}, "frame-ancestors": {"'none'"}, "base-uri": {"'none'"}, "object-src": {"'none'"}}
FIXED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}
HSTS = "max-age=31536000; includeSubDomains"
NO_STORE, CACHEABLE = "no-store", "public, max-age=3600"
TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "api" / "ui" / "templates"


def policy(value: str) -> dict[str, set[str]]:
    directives = (d.split() for d in value.split(";") if d.strip())
    return {d[0].lower(): set(d[1:]) for d in directives}


def problems(r: httpx.Response, *, cacheable: bool = False, hsts: bool = False) -> list[str]:
    """What is wrong with ``r``'s security headers; each header must be there exactly once."""
    where = f"{r.request.method} {r.request.url.path} ({r.status_code})"
    wanted = {**FIXED, "cache-control": CACHEABLE if cacheable else NO_STORE}
    if hsts:
        wanted["strict-transport-security"] = HSTS
    found = [f"{where}: {name} is {r.headers.get_list(name)}" for name, value in wanted.items()
             if r.headers.get_list(name) != [value]]
    csp = r.headers.get_list("content-security-policy")
    if len(csp) != 1 or policy(csp[0]) != CSP:
        found.append(f"{where}: content-security-policy is {csp}")
    if not hsts and "strict-transport-security" in r.headers:
        found.append(f"{where}: HSTS without HTTPS")
    return found


def role_for(path: str) -> Principal:
    if path.startswith(("/audit", "/ui/audit")) or path.endswith("/reports-of-concern/figures"):
        return AUDITOR
    if path.startswith(("/admin", "/ui/admin")):
        return ADMINISTRATOR
    return COORDINATOR_BHV  # child A's named person


def fills(h: Harness) -> dict[str, str]:
    """Real ids for path parameters: child A, its plan's action and consent (BHV's scope)."""
    return {"child_id": str(h.county.a), "action_id": str(h.county.action_a), "consent_id": str(h.county.consent_a),
            "code": "0780", "event_id": str(uuid.uuid5(h.county.a, "an emergency access")),
            "subject": "someone-else",  # ending sessions: never the callers' own
            "report_id": str(REPORT_ID),  # a report of concern BHV filed about child A (``h``)
            "meeting_id": str(uuid.uuid5(h.county.a, "m1"))}


def concrete(path: str, values: dict[str, str], **more: str) -> str:
    names = set(re.findall(r"{(\w+)}", path)) - more.keys()
    assert names <= values.keys(), f"{path}: give {names - values.keys()} a real value in fills()"
    return path.format(**values, **more)


QUERIES = {"/audit/children/{child_id}/as-seen": {"org": BHV, "at": "2026-11-01T12:00:00+00:00"},
           "/ui/audit/children/{child_id}/as-seen": {"org": BHV, "at": "2026-11-01T12:00"}}


def pages(app: FastAPI) -> Iterator[str]:
    """Every GET route under /ui, including those of routers included in routers."""
    def flat(routes: list, prefix: str = "") -> Iterator[tuple[str, set[str]]]:  # type: ignore[type-arg]
        for route in routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path, route.methods
            elif hasattr(route, "original_router"):
                yield from flat(route.original_router.routes, prefix + route.include_context.prefix)
    for path, methods in flat(app.routes):
        if "GET" in methods and path.startswith("/ui"):
            yield path


REPORT_ID = uuid.UUID(int=5001, version=4)


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    made = harness(tmp_path_factory.mktemp("headers"))
    # A report of concern BHV filed about child A, routed as the gate would: its pages are real answers.
    filed = TestClient(made.app).post("/reports-of-concern", headers=made.headers(COORDINATOR_BHV), json={
        "child_id": str(made.county.a), "observation": "Oro.", "observed_on": "2026-11-01",
        "guardians_informed": True, "reporter_role": "BVC-sjuksköterska", "reporter_contact": "0470-1",
        "report_id": str(REPORT_ID)})
    assert filed.status_code == 202, filed.text
    [report] = made.publish.events
    made.world.apply([routed(report, made.publish.codec.encode(report), "0780", made.county.now)])  # type: ignore[arg-type]
    made.publish.events.clear()
    return made


def api_answers(h: Harness, client: TestClient, method: str) -> Iterator[tuple[str, httpx.Response]]:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if method.lower() in operations:
            url = concrete(path, fills(h))
            headers = h.headers(role_for(path))  # a token of its own each time: logout ends only its own
            if method == "GET":
                yield path, client.get(url, params=QUERIES.get(path), headers=headers, follow_redirects=False)
            else:
                yield path, client.post(url, json={}, headers=headers, follow_redirects=False)


def test_every_get_route_of_the_spec_answers_with_the_headers(h: Harness) -> None:
    client = TestClient(h.app)
    answers = list(api_answers(h, client, "GET"))
    assert len(answers) >= 10
    # Real answers with child data, not refusals: the headers matter most there.
    assert [(p, r.status_code) for p, r in answers if r.status_code != 200] == []
    assert [p for r in [client.get("/openapi.json")] for p in problems(r)] == []
    assert [p for _, r in answers for p in problems(r)] == []


def test_every_post_route_of_the_spec_answers_with_the_headers(h: Harness) -> None:
    client = TestClient(h.app)
    answers = list(api_answers(h, client, "POST"))
    assert len(answers) >= 15
    assert [(p, r.status_code) for p, r in answers if r.status_code >= 500] == []
    assert [p for _, r in answers for p in problems(r)] == []


def test_every_page_answers_with_the_headers(h: Harness) -> None:
    client = TestClient(h.app)
    urls = []
    for path in pages(h.app):
        slugs = list(COMMANDS) if "{slug}" in path else [None]
        urls += [(path, concrete(path, fills(h), slug=s) if s else concrete(path, fills(h))) for s in slugs]
    assert len(urls) >= 15 and any(p == "/ui/children/{child_id}" for p, _ in urls)
    answers = []
    for path, url in urls:
        client.cookies.set(COOKIE, h.token(role_for(path)))
        answers.append((path, client.get(url, params=QUERIES.get(path), follow_redirects=False)))
    assert [(p, r.status_code) for p, r in answers if r.status_code >= 400] == []
    assert [p for _, r in answers for p in problems(r)] == []


def test_the_answers_around_them_have_the_headers_too(h: Harness) -> None:
    client = TestClient(h.app)
    coordinator = h.headers(COORDINATOR_BHV)
    answers = {
        "login page": client.get("/dev/login"),
        "login form post": client.post("/dev/login", data={"subject": "nobody"}, follow_redirects=False),
        "root redirect": client.get("/", follow_redirects=False),
        "docs": client.get("/docs"),
        "docs start-up": client.get("/docs/init.js"),
        "404 json": client.get("/no/such/route"),
        "404 child": client.get(f"/children/{uuid.uuid4()}", headers=coordinator),
        "401": client.get(f"/children/{h.county.a}"),
        "403": client.get(f"/children/{h.county.a}", headers=h.headers(AUDITOR)),
        "405": client.delete(f"/children/{h.county.a}", headers=coordinator),
        "422": client.get("/children", params={"limit": "many"}, headers=coordinator),
        "404 static": client.get("/static/no-such.css"),
    }
    # Refused by a middleware before any route: the headers' middleware must be the outermost.
    answers["413"] = client.post("/children/search", content=b"{" + b" " * 1_000_000 + b"}", headers=coordinator)
    assert answers["413"].status_code == 413
    client.cookies.set(COOKIE, h.token(COORDINATOR_BHV))
    answers["404 page"] = client.get("/ui/no-such-page")
    assert answers["404 page"].status_code == 404 and "text/html" in answers["404 page"].headers["content-type"]
    assert answers["401"].status_code == 401 and answers["403"].status_code == 403
    assert answers["404 static"].status_code == 404
    assert [p for r in answers.values() for p in problems(r)] == []


def test_static_files_may_be_cached_and_nothing_else(h: Harness) -> None:
    client = TestClient(h.app)
    static = [client.get("/static/kronobarn.css"), client.get("/static/extract.css"),
              client.get("/docs/assets/swagger-ui.css"), client.get("/docs/assets/swagger-ui-bundle.js")]
    assert [r.status_code for r in static] == [200] * 4
    assert [p for r in static for p in problems(r, cacheable=True)] == []
    # A page or JSON that names a static path in its query is still no-store.
    assert client.get("/children", params={"q": "/static/x"}, headers=h.headers(COORDINATOR_BHV)) \
        .headers["cache-control"] == NO_STORE


def test_hsts_only_when_the_hub_is_configured_for_https(h: Harness) -> None:
    plain = TestClient(h.app).get("/dev/login")
    assert "strict-transport-security" not in plain.headers
    # ``getattr``: the setting is KRONOBARN_HTTPS; a copy carries it whether or not the field is declared yet.
    secure_app = create_app(h.settings.model_copy(update={"https": True}), publish=h.publish, engine=h.world.engine)
    client, token = TestClient(secure_app), secure_app.state.hub.dev_idp.issue(COORDINATOR_BHV)
    answers = [client.get("/dev/login"), client.get("/static/kronobarn.css"),
               client.get(f"/children/{h.county.a}", headers={"Authorization": f"Bearer {token}"}),
               client.get("/nowhere")]
    assert [r.status_code for r in answers] == [200, 200, 200, 404]
    assert [p for r in answers for p in problems(r, hsts=True, cacheable=r.request.url.path.startswith("/static"))] == []


def test_the_docs_load_nothing_from_another_origin_and_their_assets_load(h: Harness) -> None:
    client = TestClient(h.app)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert not re.search(r"cdn|https?://|//[a-z]", docs.text, re.IGNORECASE)
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son\w+=", docs.text, re.IGNORECASE)
    assets = re.findall(r'(?:src|href|data-openapi)="([^"]+)"', docs.text)
    assert {"/docs/init.js", "/openapi.json"} <= set(assets) and len(assets) >= 5
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, (url, r.status_code)
    assert "javascript" in client.get("/docs/init.js").headers["content-type"]
    # FastAPI's own pages (CDN assets, inline scripts) are not served; ReDoc needs inline styles.
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 404


@pytest.mark.parametrize(("env", "served"), [("dev", 200), ("production", 404)])
def test_the_docs_are_not_served_in_production(env: str, served: int) -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    add_docs(app, Settings(_env_file=None, env=env))  # type: ignore[call-arg]
    client = TestClient(app)
    assert [client.get(u).status_code for u in ("/docs", "/docs/init.js", "/docs/assets/swagger-ui.css")] == [served] * 3


def test_a_header_the_route_set_itself_is_replaced_not_doubled() -> None:
    async def own(_request: object) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Cache-Control": "public, max-age=99", "X-Frame-Options": "SAMEORIGIN"})

    client = TestClient(SecurityHeaders(Starlette(routes=[Route("/own", own)])))
    assert problems(client.get("/own")) == []


def test_the_templates_need_no_inline_script_or_style() -> None:
    """What the CSP forbids, nowhere in the pages' templates (SVG presentation attributes are allowed)."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)
    remote = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
    templates = sorted(TEMPLATES.glob("*.html"))
    assert len(templates) >= 10
    offending = [(t.name, m.group()) for t in templates for m in [*inline.finditer(t.read_text()),
                                                                  *remote.finditer(t.read_text())]]
    assert offending == []
