"""Dependency aliases used by every router (one place, so auth plugs in here)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
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
from app.errors import Forbidden, InvalidInput, Unauthorized
from app.search.index import ArticleIndex
from app.web import service as web_service
from app.web.service import SignedIn

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


def _missing(principal: Principal, permissions: tuple[Permission, ...], refusal: str) -> None:
    """403 naming every permission of `permissions` the principal lacks."""
    missing = [p for p in permissions if not principal.can(p)]
    if missing:
        raise Forbidden(
            f"{refusal} {', '.join(missing)}", missing_permissions=[str(p) for p in missing]
        )


def require(*permissions: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers holding every one of `permissions` (else 403)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        _missing(principal, permissions, "this key lacks the permission")
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


SESSION_COOKIE = "hd_session"


def get_signed_in(request: Request, session: Annotated[Session, Depends(get_session)]) -> SignedIn:
    """The web console user, from the session cookie (pages redirect to sign-in on 401)."""
    signed = web_service.current(session=session, token=request.cookies.get(SESSION_COOKIE))
    if signed is None:
        raise Unauthorized("sign in to continue")
    request.state.principal = signed.principal  # read by the audit log
    request.state.web = signed  # read by the error pages
    return signed


SCREEN_REFUSED = "your role cannot use this screen: it needs the permission"


def web_permit(*permissions: Permission) -> Any:
    """`Annotated[SignedIn, web_permit(P.X)]`: a console page's role check."""

    def check(signed: Annotated[SignedIn, Depends(get_signed_in)]) -> SignedIn:
        _missing(signed.principal, permissions, SCREEN_REFUSED)
        return signed

    return Depends(check)


def web_write(*permissions: Permission) -> Any:
    """Like `web_permit`, for form posts: also refuses forged cross-site submissions."""

    async def check(
        request: Request, signed: Annotated[SignedIn, Depends(get_signed_in)]
    ) -> SignedIn:
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise Forbidden("a form posted from another site was refused")
        form = await request.form()
        token = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not isinstance(token, str) or not web_service.csrf_ok(signed.csrf_token, token):
            raise Forbidden("this form has expired or came from another site: reload the page")
        _missing(signed.principal, permissions, SCREEN_REFUSED)
        return signed

    return Depends(check)


@dataclass
class Desk:
    """What a console handler works with: the request, the database, the index, the
    settings and the signed-in user."""

    request: Request
    session: Session
    index: ArticleIndex
    settings: Settings
    signed: SignedIn


def web_desk(*permissions: Permission, write: bool = False) -> Any:
    """`Annotated[Desk, web_desk(P.X)]`: a console page's role check (and, with `write`,
    its forgery check) plus everything the handler needs, in one parameter."""
    gate = web_write(*permissions) if write else web_permit(*permissions)

    def build(
        request: Request,
        session: Annotated[Session, Depends(get_session)],
        index: Annotated[ArticleIndex, Depends(get_index)],
        settings: Annotated[Settings, Depends(get_settings)],
        # a default, not Annotated: the annotation is a string and `gate` a local
        signed: SignedIn = gate,
    ) -> Desk:
        return Desk(request, session, index, settings, signed)

    return Depends(build)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_session)]
Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
SearchIndex = Annotated[ArticleIndex, Depends(get_index)]
CurrentKey = Annotated[Principal, Depends(get_principal)]
KeyCache = Annotated[PrincipalCache, Depends(get_key_cache)]
IfMatch = Annotated[int | None, Depends(get_if_match)]
