"""The transaction helpers: work committed or rolled back as a whole, and in-memory
effects that follow only a commit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.db import after_commit, make_engine, make_sessionmaker, migrate, transaction


def _entry() -> AuditEntry:
    return AuditEntry(method="POST", path="/x", status=201)


def test_after_commit_runs_only_for_a_kept_write(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    ran: list[str] = []

    def fails() -> None:
        with transaction(sessions) as session:
            session.add(_entry())
            after_commit(session, lambda: ran.append("rolled back"))
            session.flush()
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        fails()
    with transaction(sessions) as session:
        session.add(_entry())
        after_commit(session, lambda: ran.append("committed"))
    with sessions() as session:
        kept = session.scalar(select(func.count()).select_from(AuditEntry))
    engine.dispose()
    assert ran == ["committed"]
    assert kept == 1


def test_a_failing_after_commit_step_keeps_the_write(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("index unavailable")

    with transaction(sessions) as session:
        session.add(_entry())
        after_commit(session, broken)
        after_commit(session, lambda: ran.append("next step"))
    with sessions() as session:
        kept = session.scalar(select(func.count()).select_from(AuditEntry))
    engine.dispose()
    assert (kept, ran) == (1, ["next step"])
