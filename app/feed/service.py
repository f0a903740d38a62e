"""Writing and reading the change feed.

A service records what changed (`record`); the rows are written just before the
transaction commits, under a lock that makes ids grow in commit order, so a follower that
has read up to id N never later finds a committed row below N. On PostgreSQL the commit
also wakes every follower (NOTIFY); on SQLite followers poll.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, event, func, select, text
from sqlalchemy.orm import Session

from app.feed.models import Change, Topic

CHANNEL = "helpdesk_changes"
# pg_advisory_xact_lock's key for the feed: any constant the service uses for nothing else
FEED_LOCK = 7_310_021_001
_PENDING = "feed_pending"


def record(*, session: Session, topic: Topic, ref: int | str | None = None) -> None:
    """Add a change to the feed when the session's transaction commits (not if it rolls
    back)."""
    pending: dict[tuple[str, str | None], None] = session.info.setdefault(_PENDING, {})
    pending[(topic.value, None if ref is None else str(ref))] = None


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: dict[tuple[str, str | None], None] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # taken last, so held only while this transaction commits (it waits on no row
        # lock after it); writers on SQLite are one at a time anyway
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK})
    session.add_all(Change(topic=topic, ref=ref) for topic, ref in pending)
    session.flush()
    if postgres:
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def latest(*, session: Session) -> int:
    """The newest change's id (0 for an empty feed)."""
    return int(session.scalar(select(func.max(Change.id))) or 0)


def after(*, session: Session, position: int, limit: int = 1000) -> Sequence[Change]:
    """Changes after `position`, oldest first."""
    return session.scalars(
        select(Change).where(Change.id > position).order_by(Change.id).limit(limit)
    ).all()


def trim(*, session: Session, before: datetime) -> int:
    """Delete changes older than `before`; returns how many."""
    result = session.execute(delete(Change).where(Change.at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def refs(changes: Sequence[Change], topic: Topic) -> builtins.list[str]:
    """The distinct refs of one topic's changes, in feed order."""
    return list(dict.fromkeys(c.ref for c in changes if c.topic == topic and c.ref is not None))
