"""Who is calling and what they may do: API keys, principals and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth_service
from app.auth.cache import PrincipalCache
from app.auth.permissions import Licence, Permission, permissions_for
from app.auth.service import Principal
from app.errors import Forbidden, Unauthorized
from app.ratelimit import deps as ratelimit

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")


async def get_key_cache(request: Request) -> PrincipalCache:
    """The cache of recently verified keys (routes that change keys or people clear it)."""
    cache: PrincipalCache = request.app.state.principals
    return cache


def _authenticate(sessions: sessionmaker[Session], raw: str | None) -> Principal:
    # a short transaction of its own, before the request's: it keeps `last_used_at`
    with sessions() as session:
        principal = auth_service.authenticate(session=session, raw=raw)
        session.commit()
        return principal


async def get_principal(
    request: Request,
    cache: Annotated[PrincipalCache, Depends(get_key_cache)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The caller, from its API key (401 when missing or bad); a key verified within
    AUTH_CACHE_SECONDS is not looked up again. 429 past the key's RATE_LIMIT, or from an
    address past AUTH_FAILURE_LIMIT."""
    raw = bearer.credentials if bearer else header
    principal = cache.get(raw) if raw else None
    if principal is None:
        if raw:
            # an address that keeps failing gets no more keys checked for a while
            await ratelimit.refuse_blocked_address(request)
        try:
            # the database look-up blocks: off the event loop
            principal = await run_in_threadpool(_authenticate, request.app.state.sessions, raw)
        except Unauthorized:
            if raw:
                await ratelimit.note_failure(request)
            raise
        if raw:
            cache.put(raw, principal)
    await ratelimit.charge_key(request, principal.key_id)
    request.state.principal = principal  # read by the audit log
    return principal


def refuse_missing(principal: Principal, permissions: tuple[Permission, ...], refusal: str) -> None:
    """403 naming every permission of `permissions` the principal lacks."""
    missing = [p for p in permissions if not principal.can(p)]
    if not missing:
        return
    if missing == [Permission.ARTICLES_PUBLISH] and missing[0] in permissions_for(
        list(principal.roles)
    ):
        # the role may publish, the person's licence may not: say which licence it takes
        raise Forbidden(
            f"only a KCS {Licence.PUBLISHER} may do this; your licence is {principal.licence}",
            missing_permissions=[str(Permission.ARTICLES_PUBLISH)],
            needed_licence=str(Licence.PUBLISHER),
            licence=str(principal.licence),
        )
    raise Forbidden(
        f"{refusal} {', '.join(missing)}", missing_permissions=[str(p) for p in missing]
    )


class Require:
    """A dependency admitting only callers holding every one of `permissions` (else 403);
    it keeps them, so the route table in docs/permissions.md is read off the routes."""

    def __init__(self, *permissions: Permission) -> None:
        self.permissions = permissions

    async def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        refuse_missing(principal, self.permissions, "this key lacks the permission")
        return principal


def require(*permissions: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers holding every one of `permissions` (else 403)."""
    return Require(*permissions)


def permit(*permissions: Permission) -> Any:
    """`Annotated[Principal, permit(P.X)]`: the route's role check, declared on the route."""
    return Depends(require(*permissions))


CurrentKey = Annotated[Principal, Depends(get_principal)]
KeyCache = Annotated[PrincipalCache, Depends(get_key_cache)]
