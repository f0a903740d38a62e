"""The signed-in person's notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.deps import CurrentKey
from app.auth.service import Principal
from app.deps import DbSession, Route
from app.errors import InvalidInput
from app.notifications import service
from app.notifications.schemas import MarkedRead, NotificationPage, NotificationRead
from app.schemas import DbId

router = APIRouter(tags=["notifications"], route_class=Route)


def _person(principal: Principal) -> int:
    if principal.person_id is None:
        raise InvalidInput(
            "notifications are a person's: use a person's API key",
            errors=[{"field": "key", "message": "an integration client has none"}],
        )
    return principal.person_id


@router.get("/me/notifications", summary="My notifications")
def my_notifications(
    session: DbSession,
    principal: CurrentKey,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationPage:
    """Unread first, then newest: calls opened on my scanners, escalated to me or to the
    tier-2 queue, accepted, declined, resolved, cancelled; work orders and actions given
    to me. The primary engineer of a scanner hears of every step of its calls."""
    items, count = service.list(
        session=session, person_id=_person(principal), unread_only=unread, limit=limit
    )
    return NotificationPage(items=[NotificationRead.model_validate(n) for n in items], unread=count)


@router.post("/me/notifications/{notification_id}/read", summary="Mark a notification read")
def mark_read(notification_id: DbId, session: DbSession, principal: CurrentKey) -> NotificationRead:
    """Only one's own (someone else's is a 404)."""
    found = service.mark_read(
        session=session, person_id=_person(principal), notification_id=notification_id
    )
    return NotificationRead.model_validate(found)


@router.post("/me/notifications/read-all", summary="Mark all my notifications read")
def mark_all_read(session: DbSession, principal: CurrentKey) -> MarkedRead:
    """Every unread notification of mine."""
    return MarkedRead(marked=service.mark_all_read(session=session, person_id=_person(principal)))
