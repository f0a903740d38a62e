"""Templates, page rendering and the console's error pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from app.auth.permissions import Permission
from app.auth.service import Principal
from app.errors import DomainError, Forbidden, InvalidInput, Unauthorized, validation_errors
from app.notifications import service as notifications
from app.web.service import SignedIn

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# (key, address, label, permission, only for a person's key)
NAV = (
    ("calls", "/ui/calls", "Calls", Permission.CALLS_WORK, False),
    ("work", "/ui/work", "My work", Permission.ACTIONS_READ, True),
    ("queue", "/ui/escalations", "Escalation queue", Permission.ESCALATIONS_READ, False),
    ("articles", "/ui/articles", "Knowledge", Permission.ARTICLES_WRITE, False),
    ("gaps", "/ui/gaps", "Gaps", Permission.ARTICLES_WRITE, False),
    ("reviews", "/ui/reviews", "Reviews", Permission.ARTICLES_WRITE, False),
    ("dashboard", "/ui/dashboard", "Dashboard", Permission.REPORTS_READ, False),
)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ago(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


templates.env.filters["when"] = _when
templates.env.filters["ago"] = _ago
templates.env.filters["label"] = lambda v: str(v).replace("_", " ") if v is not None else ""


def is_partial(request: Request) -> bool:
    """Whether the console's script asked for fragments instead of a whole page."""
    return request.headers.get("x-partial") == "1"


def page(
    request: Request,
    name: str,
    signed: SignedIn | None,
    *,
    status: int = 200,
    section: str = "",
    **context: Any,
) -> HTMLResponse:
    """Render a template with the signed-in user, the navigation and the form token."""
    principal = signed.principal if signed else None
    nav = [
        (key, href, label)
        for key, href, label, perm, person_only in NAV
        if principal is not None
        and principal.can(perm)
        and (principal.person_id is not None or not person_only)
    ]
    return templates.TemplateResponse(
        request,
        name,
        {
            "me": principal,
            "csrf": signed.csrf_token if signed else "",
            "nav": nav,
            "header_unread": unread_count(request, principal),
            "section": section,
            "can": (lambda p: principal is not None and principal.can(Permission(p))),
            **context,
        },
        status_code=status,
    )


def unread_count(request: Request, principal: Principal | None) -> int | None:
    """The header's unread count: None for no one signed in or an integration client."""
    if principal is None or principal.person_id is None:
        return None
    # its own short read: `page` is not handed the request's session (WAL: no lock waits)
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        _, unread = notifications.list(
            session=session, person_id=principal.person_id, unread_only=True, limit=1
        )
    return unread


def redirect(request: Request, url: str) -> Response:
    """After a post: a 303 for plain forms, an X-Redirect header for the script."""
    if is_partial(request):
        return Response(status_code=204, headers={"X-Redirect": url})
    return RedirectResponse(url, status_code=303)


def field_errors(exc: InvalidInput | ValidationError) -> dict[str, str]:
    """Errors keyed by field, for showing next to the field at fault."""
    items = exc.errors if isinstance(exc, InvalidInput) else validation_errors(exc.errors())
    out: dict[str, str] = {}
    for item in items:
        out.setdefault(str(item.get("field", "")), str(item.get("message", "")))
    return out


def error_page(request: Request, exc: DomainError) -> Response:
    """Domain errors under /ui: sign-in redirect for 401, a page in words otherwise."""
    if isinstance(exc, Unauthorized):
        url = "/ui/login?next=" + quote(request.url.path)
        if is_partial(request):
            return Response(status_code=401, headers={"X-Redirect": url})
        return RedirectResponse(url, status_code=303)
    signed = getattr(request.state, "web", None)
    title = "Not allowed" if isinstance(exc, Forbidden) else exc.title
    return page(request, "error.html", signed, status=exc.status, title=title, message=exc.detail)
