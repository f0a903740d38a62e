"""Reading the audit log (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditPage, AuditRead
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, Route
from app.schemas import MAX_ID, DbId

router = APIRouter(tags=["audit"], route_class=Route)


@router.get("/audit", summary="Read the audit log")
def list_audit(
    session: DbSession,
    _: Annotated[Principal, permit(P.AUDIT_READ)],
    actor: Annotated[str | None, Query(max_length=100)] = None,
    key_id: DbId | None = None,
    method: Literal["POST", "PUT", "PATCH", "DELETE"] | None = None,
    path_prefix: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> AuditPage:
    """Every write request (who, which key, what, when, outcome), newest first."""
    items, total = service.list(
        session=session,
        actor=actor,
        key_id=key_id,
        method=method,
        path_prefix=path_prefix,
        status=status,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return AuditPage(
        items=[AuditRead.model_validate(i) for i in items], total=total, limit=limit, offset=offset
    )
