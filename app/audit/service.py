"""Record and read the audit log (there is no update or delete)."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.later import wait_for_records


def create(*, session: Session, entry: AuditEntry) -> None:
    """Append one entry (in the caller's transaction)."""
    session.add(entry)
    session.flush()


def list(
    *,
    session: Session,
    actor: str | None = None,
    key_id: int | None = None,
    method: str | None = None,
    path_prefix: str | None = None,
    status: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[builtins.list[AuditEntry], int]:
    """Filtered entries, newest first, and the total."""
    wait_for_records(session)  # a search's audit row may follow its answer
    stmt = select(AuditEntry)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if key_id is not None:
        stmt = stmt.where(AuditEntry.key_id == key_id)
    if method:
        stmt = stmt.where(AuditEntry.method == method.upper())
    if path_prefix:
        stmt = stmt.where(AuditEntry.path.startswith(path_prefix))
    if status is not None:
        stmt = stmt.where(AuditEntry.status == status)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    return builtins.list(rows), int(total)
