"""OAuth2 client credentials and bearer JWTs for the HTTP stand-ins.

``POST /oauth2/token`` (form: grant_type=client_credentials, client_id, client_secret) issues a
short-lived HS256 JWT; every API route depends on ``require_token``, which answers 401 with a
``WWW-Authenticate: Bearer`` header for a missing, malformed, expired or foreign token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Form, HTTPException, Request

DEV_CLIENT_ID = "kronobarn"
DEV_CLIENT_SECRET = "dev-only-secret"  # documented in docs/connectors.md; stand-ins only
TOKEN_TTL_S = 300
ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str = DEV_CLIENT_ID
    client_secret: str = DEV_CLIENT_SECRET
    signing_key: str = "stand-in signing key, dev only, 32+ bytes long"
    audience: str = "standin"
    ttl_s: int = TOKEN_TTL_S


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": 'Bearer realm="standin"'})


def token_router(credentials: Credentials) -> APIRouter:
    router = APIRouter()

    @router.post("/oauth2/token")
    def issue(
        grant_type: Annotated[str, Form()],
        client_id: Annotated[str, Form()],
        client_secret: Annotated[str, Form()],
    ) -> dict[str, Any]:
        if grant_type != "client_credentials":
            raise HTTPException(400, detail="unsupported_grant_type")
        if (client_id, client_secret) != (credentials.client_id, credentials.client_secret):
            raise unauthorized("invalid_client")
        claims = {"sub": client_id, "aud": credentials.audience, "iat": int(time.time()),
                  "exp": int(time.time()) + credentials.ttl_s, "scope": "read"}
        token = jwt.encode(claims, credentials.signing_key, algorithm=ALGORITHM)
        return {"access_token": token, "token_type": "Bearer", "expires_in": credentials.ttl_s}

    return router


def require_token(credentials: Credentials):  # type: ignore[no-untyped-def]
    """A FastAPI dependency that accepts only this stand-in's unexpired tokens."""

    def check(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("missing bearer token")
        try:
            claims = jwt.decode(token, credentials.signing_key, algorithms=[ALGORITHM], audience=credentials.audience)
        except jwt.PyJWTError:
            raise unauthorized("invalid or expired token") from None
        return str(claims["sub"])

    return Depends(check)
