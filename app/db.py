"""Engine, sessions and migrations (SQLite by default, PostgreSQL by DATABASE_URL)."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# the newest migration's revision: a database already there starts without importing
# Alembic or reading the migration scripts (a test checks it against the scripts' head)
HEAD_REVISION = "0017"
# pg_advisory_xact_lock's key while migrating (any constant used for nothing else)
MIGRATION_LOCK = 7_310_021_002

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """Current time, UTC, aware."""
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """A time as event payloads carry it (ISO 8601), or None."""
    return value.isoformat() if value is not None else None


CONNECT_TIMEOUT = 5  # seconds to open a PostgreSQL connection
POOL_TIMEOUT = 10  # seconds to wait for a pooled connection when all are in use


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        _writers_take_turns(engine)
        return engine
    # bounded waits, so a request answers 503 while the server is away instead of hanging
    # (app/errors.py): for a new connection, and for a free one from the pool
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url:  # the URL's own value wins
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=POOL_TIMEOUT,
        connect_args=connect_args,
    )


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
WRITER_WAIT = 30.0  # seconds, as SQLite's own busy timeout
_URGENT: ContextVar[bool] = ContextVar("urgent_writes", default=False)


@contextmanager
def urgent_writes() -> Iterator[None]:
    """Writes begun inside go before other waiting writers on SQLite (what a dispatcher
    waits for on a live call: an in-call search's record on the timeline)."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class _Turns:
    """One writer at a time, urgent ones first, the others in the order the OS wakes them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0
        self.waiting = 0  # writers waiting for a turn

    def take(self, *, urgent: bool, timeout: float) -> bool:
        """Wait for the turn (urgent ones first); False when `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._urgent_waiting += urgent
            self.waiting += 1
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._changed.wait(left)
                self._busy = True
                return True
            finally:
                self._urgent_waiting -= urgent
                self.waiting -= 1

    def give(self) -> None:
        """Hand the turn on."""
        with self._changed:
            self._busy = False
            self._changed.notify_all()


def _writers_take_turns(engine: Engine) -> None:
    """SQLite lets one transaction write at a time; its busy handler makes the others
    sleep and retry (up to 100 ms a try, the unlucky ones many times), which put seconds
    on the slowest writes under load. In the one process that serves a SQLite database,
    a transaction takes a turn at its first write and gives it back at its end, so the
    next writer starts at once, an urgent one first (docs/deployment.md)."""
    turns = _Turns()
    held = "writer_turn"

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if held in conn.info or not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        if not turns.take(urgent=_URGENT.get(), timeout=WRITER_WAIT):
            raise sqlite3.OperationalError("database is locked")
        conn.info[held] = True

    def _give(info: dict[Any, Any]) -> None:
        if info.pop(held, None):
            turns.give()

    @event.listens_for(engine, "commit")
    def _committed(conn: Connection) -> None:
        _give(conn.info)

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Connection) -> None:
        _give(conn.info)

    # a connection handed back without either (its pool resets it): the turn goes too
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        _give(record.info)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def current_revision(engine: Engine) -> str | None:
    """The database's migration revision (None for a database never migrated)."""
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config() -> Config:
    """Alembic's configuration for the project's migration scripts."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    if current_revision(engine) == HEAD_REVISION:
        return
    # Alembic's imports are paid only when there is something to do
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # processes starting together migrate one at a time; the later ones find the
            # schema current once the lock is theirs (it goes with the transaction)
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            if _revision(conn) == HEAD_REVISION:
                return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def lock_file(path: Path) -> IO[bytes] | None:
    """An exclusive lock on `path`, held while the returned file stays open and naming
    this process's id in it; None when another process holds it. A POSIX lock, so it goes
    with the process (a crash included) and apps opened in turn in one process share it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+b")  # noqa: SIM115 - held open by the caller
    try:
        fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by another process
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n".encode())
    fh.flush()
    return fh


def hold_sqlite(url: str) -> IO[bytes] | None:
    """Keep other service processes off a SQLite database (it is single-process): an
    exclusive lock on a file beside it, held while the returned file stays open. None for
    other databases and in-memory SQLite."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        return None
    lock_path = Path(f"{path}.service.lock")
    held = lock_file(lock_path)
    if held is None:
        holder = lock_path.read_text(errors="replace").strip() or "another process"
        raise SingleProcessDatabase(
            f"the SQLite database {path} is already served by process {holder}: SQLite "
            "runs one service process (no --workers). For several processes, point "
            "DATABASE_URL at PostgreSQL (docs/deployment.md)."
        )
    return held


class SingleProcessDatabase(RuntimeError):
    """A second service process tried to share a SQLite database."""


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on a normal exit and rolled back on an error
    (what a request gets from its dependency, for scripts and workers)."""
    with factory() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


_AFTER_COMMIT = "after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction has committed; a rollback
    drops it. For in-memory effects (the search index) that must never run for a write
    the database did not keep."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # the write is kept; the index is repaired from the database
            log.exception("an after-commit step failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
