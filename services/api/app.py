"""The web service: ``create_app`` wires the JSON API, the pages, auth and the publish port.

No module-level app: ``kronobarn api`` and the tests each build their own. Without an injected
``publish`` port the lifespan starts an aiokafka producer and stops it on shutdown.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api import docs_ui, errors
from services.api.auth.callers import FormRefused, LoginRequired
from services.api.auth.devlogin import DevIdentityProvider, dev_login_enabled
from services.api.auth.devlogin_routes import RenewingDevSession
from services.api.auth.tokens import TokenVerifier
from services.api.limits import BodyLimit, TooMany
from services.api.orgs import OrgDirectory
from services.api.proxies import FromTrustedProxy
from services.api.publishing import KafkaPublisher, Publish
from services.api.security_headers import SecurityHeaders
from services.api.store import Reader
from services.api.ui import sv
from services.api.wiring import Hub
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import sealing_codec

log = structlog.get_logger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "ui" / "static"
NOT_STARTED = "the publish port is not started"

DESCRIPTION = """Barnets plan for Kronoberg: coordinators read and work on the child's plan,
auditors check who saw what. Every read of child data is logged (`ChildDataViewed`); every
command answers 202 with the id of the event it published."""


async def _not_started(_event: object) -> None:
    raise ConnectionError(NOT_STARTED)


def _verifier(settings: Settings, dev_idp: DevIdentityProvider | None) -> TokenVerifier:
    return dev_idp.verifier() if dev_idp is not None else TokenVerifier.from_settings(settings)


def create_app(settings: Settings, *, publish: Publish | None = None, engine: Engine | None = None,
               dev_key_file: Path | None = None) -> FastAPI:
    """The FastAPI app. ``publish`` and ``engine`` are injected by tests; otherwise the app
    connects to the database now (migrating it) and to Kafka when it starts."""
    if engine is None:
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
    codec = sealing_codec(settings, engine)
    dev_idp = DevIdentityProvider(settings, key_file=dev_key_file) if dev_login_enabled(settings) else None
    hub = Hub(settings=settings, engine=engine, reader=Reader(engine), publish=publish or _not_started, codec=codec,
              verifier=_verifier(settings, dev_idp), directory=OrgDirectory.from_settings(settings), dev_idp=dev_idp)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if publish is not None:
            yield
            return
        publisher = KafkaPublisher(settings, codec)
        await publisher.start()
        hub.publish = publisher
        log.info("api.started", dev_login=dev_idp is not None)
        try:
            yield
        finally:
            hub.publish = _not_started
            await publisher.stop()

    # FastAPI's /docs and /redoc load from a CDN and start with an inline script: docs_ui serves its own.
    app = FastAPI(title="kronobarn", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.hub = hub
    docs_ui.add_docs(app, settings)
    if dev_idp is not None:
        app.add_middleware(RenewingDevSession, hub=hub)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, hsts=settings.https)  # outermost but one: 413s get them too
    app.add_middleware(FromTrustedProxy, trusted=settings.trusted_proxy_networks)  # before anything reads the host
    _routes(app, dev_idp is not None)
    _handlers(app)
    return app


def settle_heap() -> None:
    """Call once the app is built, before serving. Everything built so far (the app, routes,
    templates, models) lives as long as the process: frozen, the collector's full passes, which
    stop every request in flight, no longer walk it. A long tail of plan-page latency was those."""
    gc.collect()
    gc.freeze()


def _routes(app: FastAPI, dev_login: bool) -> None:
    from services.api import routes, todo
    from services.api.audit import erasures, extract
    from services.api.audit import routes as audit_routes
    from services.api.auth import devlogin_routes, session_routes
    from services.api.ui import erasures as erasure_pages
    from services.api.ui import extract as extract_page
    from services.api.ui import pages
    from services.api.ui import reviews as review_pages
    from services.api.ui import todo as todo_pages

    app.include_router(routes.router)
    app.include_router(todo.router)
    app.include_router(session_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(audit_routes.admin_router)
    app.include_router(erasures.router)
    app.include_router(erasures.admin_router)
    app.include_router(extract.router)
    app.include_router(extract_page.router)
    app.include_router(review_pages.router)  # before ``pages``: its emergency list is this router's
    app.include_router(erasure_pages.router)  # before ``pages``: the administrators' page is this router's
    app.include_router(todo_pages.router)  # before ``pages``: /ui/att-gora is a fixed path
    app.include_router(pages.router)
    if dev_login:
        app.include_router(devlogin_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=303)


DEFAULT_MESSAGES = {400: sv.INVALID, 401: sv.UNAUTHORISED, 403: sv.FORBIDDEN, 404: sv.NOT_FOUND, 405: sv.INVALID,
                    413: sv.TOO_LARGE, 422: sv.REJECTED, 429: sv.TOO_MANY, 503: sv.UNAVAILABLE}


def _is_page(request: Request) -> bool:
    return request.url.path.startswith("/ui") or request.url.path == "/dev/login"


def _answer(request: Request, status: int, reasons: list[str], message: str | None = None) -> Response:
    detail = message or DEFAULT_MESSAGES.get(status, sv.INVALID)
    if _is_page(request):
        from services.api.ui.pages import error_page

        return error_page(request, status, detail, sv.translate_all(reasons))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail, "reasons": reasons}, status_code=status, headers=headers)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.ApiError)
    async def api_error(request: Request, exc: errors.ApiError) -> Response:
        if isinstance(exc, errors.Moved):  # a page goes to the child's page; an API call is repeated there
            where = request.url.path.replace(exc.merged, exc.surviving)
            where += f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(where, status_code=303 if _is_page(request) and request.method == "GET" else 308)
        answer = _answer(request, exc.status, exc.reasons, exc.message or None)
        if isinstance(exc, TooMany):
            answer.headers["Retry-After"] = str(exc.retry_after_s)
        return answer

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        reasons = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
        if _is_page(request):
            return _answer(request, 404, [])  # a malformed page address is a page that does not exist
        return _answer(request, 422, reasons)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _answer(request, exc.status_code, [])

    @app.exception_handler(LoginRequired)
    async def login(request: Request, _exc: LoginRequired) -> Response:
        if request.app.state.hub.dev_idp is not None:
            return RedirectResponse("/dev/login", status_code=303)
        return _answer(request, 401, [])

    @app.exception_handler(FormRefused)
    async def refused(request: Request, exc: FormRefused) -> Response:
        return _answer(request, 403, [exc.reason])

    @app.exception_handler(KafkaError)
    async def kafka_down(request: Request, exc: KafkaError) -> Response:
        log.error("api.kafka_error", error=type(exc).__name__)
        return _answer(request, 503, [])

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError) -> Response:
        # A domain error that slipped past validation: the input was wrong, not the server.
        log.warning("api.unexpected_value_error", error=type(exc).__name__, path=request.url.path)
        return _answer(request, 400, [])
