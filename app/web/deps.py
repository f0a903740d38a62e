"""The console's dependencies: sign-in from the session cookie, anti-forgery, role checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.auth.deps import refuse_missing
from app.auth.permissions import Permission
from app.config import Settings
from app.deps import DbSession, SettingsDep
from app.errors import Forbidden, Unauthorized
from app.search.deps import SearchIndex
from app.search.index import ArticleIndex
from app.web import service as web_service
from app.web.service import SignedIn

SESSION_COOKIE = "hd_session"
SCREEN_REFUSED = "your role cannot use this screen: it needs the permission"


def get_signed_in(request: Request, session: DbSession) -> SignedIn:
    """The web console user, from the session cookie (pages redirect to sign-in on 401)."""
    signed = web_service.current(session=session, token=request.cookies.get(SESSION_COOKIE))
    if signed is None:
        raise Unauthorized("sign in to continue")
    request.state.principal = signed.principal  # read by the audit log
    request.state.web = signed  # read by the error pages
    return signed


def web_permit(*permissions: Permission) -> Any:
    """`Annotated[SignedIn, web_permit(P.X)]`: a console page's role check."""

    def check(signed: Annotated[SignedIn, Depends(get_signed_in)]) -> SignedIn:
        refuse_missing(signed.principal, permissions, SCREEN_REFUSED)
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
        refuse_missing(signed.principal, permissions, SCREEN_REFUSED)
        return signed

    return Depends(check)


@dataclass
class Console:
    """What a console handler works with: the request, the request's transaction, the
    index, the settings and the signed-in user."""

    request: Request
    session: Session
    index: ArticleIndex
    settings: Settings
    signed: SignedIn


def console(*permissions: Permission, write: bool = False) -> Any:
    """`Annotated[Console, console(P.X)]`: a console page's role check (and, with `write`,
    its forgery check) plus everything the handler needs, in one parameter."""
    gate = web_write(*permissions) if write else web_permit(*permissions)

    def build(
        request: Request,
        session: DbSession,
        index: SearchIndex,
        settings: SettingsDep,
        # a default, not Annotated: the annotation is a string and `gate` a local
        signed: SignedIn = gate,
    ) -> Console:
        return Console(request, session, index, settings, signed)

    return Depends(build)
