"""The API docs, Swagger UI at ``/docs``, served by the hub itself.

FastAPI's own docs pages load their assets from a public CDN, which a closed municipal network
cannot reach and the Content-Security-Policy (``services.api.security_headers``) does not allow,
and start Swagger UI with an inline script, which the policy forbids too. Here the assets come
from the ``fastapi-offline`` package (Swagger UI 5, unchanged) and Swagger UI starts from a
script of our own at ``/docs/init.js``: the docs need no exception to the policy. ReDoc is not
served: it injects its styles as ``<style>`` elements, which ``style-src 'self'`` blocks, and one
docs page is enough.

The docs are for developers and integrators: in production they are not served at all.
"""

from __future__ import annotations

import html
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from services.settings import Settings

ASSETS = "/docs/assets"  # swagger-ui-bundle.js, swagger-ui.css, favicon.png (and ReDoc, unused)

# Swagger UI's start-up, which FastAPI writes inline. The page passes the spec's URL in a data
# attribute; no validator badge (it would call validator.swagger.io).
INIT_JS = """\
"use strict";
window.ui = SwaggerUIBundle({
  url: document.currentScript.dataset.openapi,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – Swagger UI</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{root}/docs/init.js" data-openapi="{openapi}"></script>
</body>
</html>
"""


def docs_served(settings: Settings) -> bool:
    return settings.env != "production"


def add_docs(app: FastAPI, settings: Settings) -> None:
    """Serve Swagger UI and its assets on ``app``, unless the hub runs in production. The app is
    built with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not there as well."""
    if not docs_served(settings) or app.openapi_url is None:
        return
    openapi_url = app.openapi_url
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(SWAGGER_PAGE.format(title=html.escape(app.title), root=html.escape(root),
                                                assets=html.escape(root + ASSETS),
                                                openapi=html.escape(root + openapi_url)))

    async def swagger_ui_init(_request: Request) -> Response:
        return Response(INIT_JS, media_type="text/javascript")

    # An asset like those under ASSETS, so a plain route: not an API operation (nor in the access matrix).
    app.add_route("/docs/init.js", swagger_ui_init, methods=["GET"], include_in_schema=False)
