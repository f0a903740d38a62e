"""Records that follow their answer. On SQLite (one writer) an in-call search answers
first and its line on the call's timeline is written just after (docs/calls.md): a
dispatcher on a live call must not wait for the writer. Whoever reads or writes that call
next waits for the record, so the timeline keeps its order. One process serves a SQLite
database (`app/db.py:hold_sqlite`), so a registry in the process is enough."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable

from fastapi import BackgroundTasks, Request
from sqlalchemy.orm import Session

from app.deps import CommitHook

log = logging.getLogger(__name__)
# a record that has not landed by then has failed, and the log has said why
WAIT_SECONDS = 10.0
Key = tuple[int, int]  # the database (its engine), the call


class _Pending:
    """Records still to be written."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._counts: Counter[Key] = Counter()

    def add(self, key: Key) -> None:
        """A record is on its way."""
        with self._changed:
            self._counts[key] += 1

    def done(self, key: Key) -> None:
        """A record has been written, or has failed."""
        with self._changed:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]
            self._changed.notify_all()

    def empty(self) -> bool:
        """Nothing on its way (read without the lock: a hint for the common case)."""
        return not self._counts

    def wait(self, database: int, call_id: int | None) -> None:
        """Until no record for the call (with None: for any call) is on its way."""

        def clear() -> bool:
            return not any(d == database and call_id in (None, c) for d, c in self._counts)

        with self._changed:
            if not self._changed.wait_for(clear, WAIT_SECONDS):
                log.warning("a search record is late: reading call %s without it", call_id)


_PENDING = _Pending()


def answers_first(session: Session) -> bool:
    """Whether a record follows its answer (SQLite) or is written with it."""
    return session.get_bind().dialect.name == "sqlite"


def wait_for_records(session: Session, call_id: int | None = None) -> None:
    """Before reading or writing a call (with None: before reading records in bulk)."""
    if not _PENDING.empty():
        _PENDING.wait(id(session.get_bind()), call_id)


def record_after_answer(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    call_id: int,
    write: Callable[[Session], None],
) -> None:
    """Run `write` in a transaction of its own once the answer has been sent, with the
    app's commit hooks (the request's audit row), which the request's transaction skips."""
    key = (id(session.get_bind()), call_id)
    _PENDING.add(key)
    request.state.hooks_later = True
    state = request.app.state

    def run() -> None:
        try:
            with state.sessions() as later:
                write(later)
                hooks: list[CommitHook] = state.commit_hooks
                for hook in hooks:
                    hook(request, later)
                later.commit()
        except Exception:  # the answer has gone: the log is the only place left to say it
            log.exception("could not record %s %s", request.method, request.url.path)
        finally:
            _PENDING.done(key)

    background.add_task(run)
