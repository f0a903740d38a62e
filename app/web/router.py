"""The web console's entry points: sign-in, sign-out, the start screen, static files."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.auth.permissions import P
from app.config import Settings
from app.deps import DbSession, Route, SettingsDep
from app.errors import Unauthorized
from app.web import service
from app.web.deps import SESSION_COOKIE, get_signed_in, web_write
from app.web.render import HERE, page
from app.web.service import SignedIn

LOGIN_COOKIE = "hd_login"
router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)


def _safe_next(target: str | None) -> str:
    # only same-site paths, so the sign-in form cannot bounce a user to another site
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui"


def _login_page(
    request: Request, settings: Settings, next: str, *, error: str | None = None
) -> Response:
    """The sign-in form with a fresh anti-forgery token, in the form and in a cookie."""
    token = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        None,
        status=401 if error else 200,
        login_csrf=token,
        next=_safe_next(next),
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.web_secure_cookies or request.url.scheme == "https",
        path="/ui/login",
    )
    return response


@router.get("/login")
def login_form(request: Request, settings: SettingsDep, next: str = "/ui") -> Response:
    """The sign-in page."""
    return _login_page(request, settings, next)


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    api_key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/ui",
) -> Response:
    """Exchange an API key for an HttpOnly, SameSite=Strict session cookie."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not service.csrf_ok(expected, csrf_token):
        return _login_page(request, settings, next, error="the sign-in form expired: try again")
    try:
        token = service.sign_in(
            session=session, raw_key=api_key.strip(), hours=settings.web_session_hours
        )
    except Unauthorized as exc:
        return _login_page(request, settings, next, error=exc.detail)
    done: Response = RedirectResponse(_safe_next(next), status_code=303)
    done.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.web_session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=settings.web_secure_cookies or request.url.scheme == "https",
        path="/",
    )
    done.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return done


@router.post("/logout")
def logout(request: Request, session: DbSession, _: Annotated[SignedIn, web_write()]) -> Response:
    """End the session: the cookie stops working even if it was copied."""
    service.sign_out(session=session, token=request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("")
def home(request: Request, signed: Annotated[SignedIn, Depends(get_signed_in)]) -> Response:
    """Each role's first screen."""
    p = signed.principal
    if p.can(P.CALLS_ESCALATE) or (p.can(P.CALLS_WORK) and not p.can(P.ESCALATIONS_READ)):
        return RedirectResponse("/ui/calls", status_code=303)
    if p.can(P.WORK_ORDERS_WORK) and not p.can(P.ESCALATIONS_HANDLE):
        return RedirectResponse("/ui/work", status_code=303)
    if p.can(P.ESCALATIONS_READ):
        return RedirectResponse("/ui/escalations", status_code=303)
    if p.can(P.ARTICLES_WRITE):
        return RedirectResponse("/ui/articles", status_code=303)
    return page(
        request,
        "error.html",
        signed,
        status=403,
        title="Not allowed",
        message="your role has no screen in the console; use the API",
    )


def install(app: FastAPI) -> None:
    """Mount the console: its routers and static files."""
    from app.web import (
        call_contacts,
        call_panels,
        calls,
        dashboard,
        escalations,
        intake,
        knowledge,
        markdown,  # noqa: F401  (registers the `md` template filter)
        notifications,
        reviews,
        work,
    )

    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(router)
    app.include_router(intake.router)
    app.include_router(calls.router)
    app.include_router(call_panels.router)
    app.include_router(call_contacts.router)
    app.include_router(escalations.router)
    app.include_router(knowledge.router)
    app.include_router(reviews.router)
    app.include_router(work.router)
    app.include_router(notifications.router)
    app.include_router(dashboard.router)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/ui", status_code=303)
