"""The transaction helpers: work committed or rolled back as a whole, and in-memory
effects that follow only a commit."""

from __future__ import annotations

from pathlib import Path

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


def test_a_sqlite_writers_turn_is_given_back_however_its_transaction_ends(tmp_path: Path) -> None:
    """Committed, rolled back, or a connection closed mid-write: another connection's
    writer goes ahead (a turn kept would hold it for the 30 s busy timeout)."""
    import threading

    from sqlalchemy import Connection, text

    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")

    def writes_on_another_thread(conn: Connection, n: int) -> bool:
        done = threading.Event()

        def write() -> None:
            conn.execute(text("insert into t values (:n)"), {"n": n})
            conn.commit()
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(timeout=10)
        return done.is_set()

    try:
        with engine.begin() as conn:
            conn.execute(text("create table t (n integer)"))
            conn.execute(text("insert into t values (1)"))
        other = engine.connect()  # a connection of its own, as another request's
        first = engine.connect()
        first.execute(text("insert into t values (2)"))
        first.rollback()
        assert writes_on_another_thread(other, 3), "the turn stayed with a rolled-back write"
        first.execute(text("insert into t values (4)"))
        first.close()  # neither committed nor rolled back by hand: the pool resets it
        assert writes_on_another_thread(other, 5), "the turn stayed with a closed connection"
        assert other.execute(text("select n from t order by n")).scalars().all() == [1, 3, 5]
        other.close()
    finally:
        engine.dispose()


def test_an_urgent_sqlite_writer_goes_before_the_writers_already_waiting() -> None:
    """An in-call search's record (urgent) takes the next turn though another writer
    asked first."""
    import threading
    import time

    from app.db import _Turns

    turns = _Turns()
    order: list[str] = []
    assert turns.take(urgent=False, timeout=1)  # a writer holds the turn

    def write(name: str, urgent: bool) -> None:
        assert turns.take(urgent=urgent, timeout=10)
        order.append(name)
        turns.give()

    def wait_until_waiting(count: int) -> None:
        deadline = time.monotonic() + 10
        while turns.waiting < count:
            assert time.monotonic() < deadline
            time.sleep(0.001)

    normal = threading.Thread(target=write, args=("call write", False))
    normal.start()
    wait_until_waiting(1)
    urgent = threading.Thread(target=write, args=("in-call search", True))
    urgent.start()
    wait_until_waiting(2)
    turns.give()
    normal.join(timeout=10)
    urgent.join(timeout=10)
    assert order == ["in-call search", "call write"]
