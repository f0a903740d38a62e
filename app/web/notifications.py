"""The console's notifications: the header's unread count, the list, marking them read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import JSONResponse, Response

from app.auth.permissions import P
from app.deps import Route
from app.notifications import service
from app.notifications.models import Notification
from app.schemas import DbId
from app.web.deps import Console, console
from app.web.render import is_partial, page, redirect, templates

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=Route)
# "any key": one's own notifications, like GET /me/notifications
Anyone = Annotated[Console, console()]
AnyonePost = Annotated[Console, console(write=True)]
Next = Annotated[str, Form(max_length=500)]
DONE = {
    "read": "Marked read.",
    "all": "All notifications marked read.",
}


def _safe_next(target: str) -> str:
    # back to the console page the form was on, never to another site
    if target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui/notifications"


def _work_order(ui: Console, item: Notification) -> int | None:
    """The work order a field engineer's notification is about (its screen links too)."""
    found = item.data.get("work_order_id") if isinstance(item.data, dict) else None
    if (
        item.kind.startswith("work_order.")
        and isinstance(found, int)
        and ui.signed.principal.can(P.WORK_ORDERS_WORK)
    ):
        return found
    return None


def _context(ui: Console) -> dict[str, Any]:
    person = ui.signed.principal.person_id
    if person is None:  # an integration client's key: it has no notifications
        return {"items": [], "unread": None, "person": False}
    items, unread = service.list(session=ui.session, person_id=person, limit=50)
    return {
        "items": [(n, _work_order(ui, n)) for n in items],
        "unread": unread,
        "person": True,
    }


@router.get("/notifications")
def notifications_page(ui: Anyone, done: str | None = None) -> Response:
    """My notifications, unread first (a fragment for the header's menu)."""
    context = _context(ui)
    if is_partial(ui.request):
        return templates.TemplateResponse(
            ui.request,
            "notifications/_menu.html",
            {"csrf": ui.signed.csrf_token, "fragment": True, **context},
        )
    flash: dict[str, Any] = {"flash": DONE[done]} if done in DONE else {}
    return page(
        ui.request,
        "notifications/list.html",
        ui.signed,
        section="notifications",
        title="Notifications",
        **context,
        **flash,
    )


@router.get("/notifications/count")
def unread_count(ui: Anyone) -> Response:
    """How many unread, for the header's count (polled by chrome.js)."""
    person = ui.signed.principal.person_id
    unread = 0
    if person is not None:
        _, unread = service.list(session=ui.session, person_id=person, unread_only=True, limit=1)
    return JSONResponse({"unread": unread}, headers={"Cache-Control": "no-store"})


@router.post("/notifications/{notification_id}/read")
def mark_read(notification_id: DbId, ui: AnyonePost, next: Next = "") -> Response:
    """Mark one of mine read (someone else's is a 404, as in the API)."""
    person = ui.signed.principal.person_id
    if person is not None:
        service.mark_read(session=ui.session, person_id=person, notification_id=notification_id)
    return redirect(ui.request, _safe_next(next or "/ui/notifications?done=read"))


@router.post("/notifications/read-all")
def mark_all_read(ui: AnyonePost, next: Next = "") -> Response:
    """Mark every unread one of mine read."""
    person = ui.signed.principal.person_id
    if person is not None:
        service.mark_all_read(session=ui.session, person_id=person)
    return redirect(ui.request, _safe_next(next or "/ui/notifications?done=all"))
