"""Dependency aliases used by every router (one place, so auth plugs in here)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth_service
from app.auth.cache import PrincipalCache
from app.auth.permissions import Permission
from app.auth.service import Principal
from app.config import Settings
from app.errors import Forbidden, InvalidInput
from app.search.index import ArticleIndex

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")


# the cheap dependencies are async: FastAPI runs a plain `def` one in the threadpool, a
# thread hop per dependency per request


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request."""
    with request.app.state.sessions() as session:
        yield session


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory, for routes that open a session only when they need one."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


async def get_index(request: Request) -> ArticleIndex:
    """The live search index."""
    index: ArticleIndex = request.app.state.index
    return index


async def get_key_cache(request: Request) -> PrincipalCache:
    """The cache of recently verified keys (routes that change keys or people clear it)."""
    cache: PrincipalCache = request.app.state.principals
    return cache


def _authenticate(sessions: sessionmaker[Session], raw: str | None) -> Principal:
    with sessions() as session:
        return auth_service.authenticate(session=session, raw=raw)


async def get_principal(
    request: Request,
    cache: Annotated[PrincipalCache, Depends(get_key_cache)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The caller, from its API key (401 when missing or bad); a key verified within
    AUTH_CACHE_SECONDS is not looked up again."""
    raw = bearer.credentials if bearer else header
    principal = cache.get(raw) if raw else None
    if principal is None:
        # the database look-up blocks: off the event loop
        principal = await run_in_threadpool(_authenticate, request.app.state.sessions, raw)
        if raw:
            cache.put(raw, principal)
    request.state.principal = principal  # read by the audit log
    return principal


def require(*permissions: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers holding every one of `permissions` (else 403)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        missing = [p for p in permissions if not principal.can(p)]
        if missing:
            raise Forbidden(
                f"this key lacks the permission {', '.join(missing)}",
                missing_permissions=[str(p) for p in missing],
            )
        return principal

    return check


def permit(*permissions: Permission) -> Any:
    """`Annotated[Principal, permit(P.X)]`: the route's role check, declared on the route."""
    return Depends(require(*permissions))


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def get_if_match(
    if_match: Annotated[
        str | None,
        Header(description='The version an edit is based on, as returned in ETag: "3".'),
    ] = None,
) -> int | None:
    """The version named by an If-Match header, if any."""
    if if_match is None:
        return None
    match = _ETAG.match(if_match)
    if not match:
        raise InvalidInput(
            'If-Match must be an article version as given in ETag, e.g. "3"',
            errors=[{"field": "If-Match", "message": "expected a quoted version number"}],
        )
    return int(match.group(1))


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_session)]
Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
SearchIndex = Annotated[ArticleIndex, Depends(get_index)]
CurrentKey = Annotated[Principal, Depends(get_principal)]
KeyCache = Annotated[PrincipalCache, Depends(get_key_cache)]
IfMatch = Annotated[int | None, Depends(get_if_match)]
