"""Past calls: each resolved call's text as a unit vector, stored in `call_vectors` (derived
from the calls, so always rebuildable) and held in the index's case book
(`embeddings/cases.py`), which every process keeps in step through the change feed.

A call's text is its symptom, what the screen said, its notes and its resolution notes.
Resolving a call encodes it in the resolving request's transaction (the app's commit
hook), so the vector is committed with the resolution; reopening deletes it. Each process
reads every vector at start, encodes in the background the resolved calls that have none
(or one of another model), and reads a call again when the feed says it was resolved or
reopened. docs/calls.md, "Similar past calls".
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.assets.models import Asset
from app.calls.models import Call, CallEvent, CallState, CallVector, EventKind
from app.db import utcnow
from app.feed import service as feed_service
from app.feed.models import Topic
from app.search.index import ArticleIndex, Case, Scanner

log = logging.getLogger(__name__)

PAST = (CallState.RESOLVED, CallState.CLOSED)
BATCH = 32  # calls encoded at once in the background: searches get the encoder in between
# pg_advisory_lock's key while encoding the calls without a vector (one process does it)
BACKFILL_LOCK = 7_310_021_003
_PENDING = "past_calls_pending"  # session.info: calls resolved in this transaction
_WRITTEN = "past_calls_written"  # session.info: what to put in the book after the commit


def encoder_key(index: ArticleIndex) -> str:
    """The model the vectors come from: vectors of one model are comparable whichever
    backend computed them, so processes on other CPUs share them."""
    return index.encoder_name.split(":", 1)[0]


def text_hash(call_text: str) -> str:
    """The stored text's fingerprint (sha256, hex)."""
    return hashlib.sha256(call_text.encode("utf-8")).hexdigest()


def scanner_of(modality: str | None, asset: Asset | None) -> Scanner:
    """Where a call was: its scanner, or only the modality when no scanner was named."""
    if asset is None:
        return Scanner(modality)
    return Scanner(asset.modality, asset.manufacturer, asset.model)


def texts(session: Session, call_ids: Iterable[int]) -> dict[int, str]:
    """Each call's text: symptom, what the screen said, notes, resolution notes."""
    ids = sorted(set(call_ids))
    if not ids:
        return {}
    notes: dict[int, list[str]] = defaultdict(list)
    for call_id, data in session.execute(
        select(CallEvent.call_id, CallEvent.data)
        .where(CallEvent.call_id.in_(ids), CallEvent.kind == EventKind.NOTE)
        .order_by(CallEvent.id)
    ):
        notes[call_id].append(str(data.get("text", "")))
    found = session.execute(
        select(Call.id, Call.symptom, Call.screen_message, Call.resolution_notes).where(
            Call.id.in_(ids)
        )
    )
    return {
        call_id: "\n".join(
            p.strip()
            for p in (symptom, screen, *notes[call_id], resolution or "")
            if p and p.strip()
        )
        for call_id, symptom, screen, resolution in found
    }


# -- in the request: resolved, reopened ----------------------------------------------------


def resolved(*, session: Session, call_id: int) -> None:
    """The call was resolved: its vector is written before the transaction commits (the
    app's commit hook, `write_pending`), and every process reads it (the change feed)."""
    session.info.setdefault(_PENDING, {})[call_id] = None
    feed_service.record(session=session, topic=Topic.CASE, ref=call_id)


def reopened(*, session: Session, call_id: int) -> None:
    """The call was reopened: it is no past call until it is resolved again."""
    session.info.get(_PENDING, {}).pop(call_id, None)
    session.execute(delete(CallVector).where(CallVector.call_id == call_id))
    feed_service.record(session=session, topic=Topic.CASE, ref=call_id)


def write_pending(*, session: Session, index: ArticleIndex) -> None:
    """The request's commit hook: encode the calls it resolved, in its transaction."""
    pending: dict[int, None] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    cases, vectors = write(session=session, index=index, call_ids=list(pending))
    if cases:
        session.info[_WRITTEN] = (index, cases, vectors)


@event.listens_for(Session, "after_commit")
def _into_the_book(session: Session) -> None:
    # a session without the request's hook (a job) leaves its calls to the feed's reader
    session.info.pop(_PENDING, None)
    written = session.info.pop(_WRITTEN, None)
    if written is not None:  # this process at once; the others through the feed
        index, cases, vectors = written
        index.cases.replace(cases, vectors)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)


# -- vectors: written, read -------------------------------------------------------------


def write(
    *, session: Session, index: ArticleIndex, call_ids: Sequence[int]
) -> tuple[list[Case], np.ndarray]:
    """Encode these calls (those still resolved) and store their vectors; returns their
    cases and vectors."""
    cases = {c.id: c for c in _cases(session, call_ids)}
    if not cases:
        return [], np.zeros((0, 0), dtype=np.float32)
    model = encoder_key(index)
    call_texts = texts(session, cases)
    ids = list(cases)
    hashes = {i: text_hash(call_texts.get(i, "")) for i in ids}
    # what is stored already, from this model and of the same text, is not encoded again
    vectors: dict[int, np.ndarray] = {
        call_id: np.frombuffer(vector, dtype=np.float32)
        for call_id, digest, vector in session.execute(
            select(CallVector.call_id, CallVector.text_hash, CallVector.vector).where(
                CallVector.call_id.in_(ids), CallVector.encoder == model
            )
        )
        if digest == hashes[call_id]
    }
    fresh = [i for i in ids if i not in vectors]
    encoded = index.encode([call_texts.get(i, "") for i in fresh]) if fresh else None
    now = utcnow()
    for n, call_id in enumerate(fresh):
        assert encoded is not None
        vector = np.ascontiguousarray(encoded[n], dtype=np.float32)
        vectors[call_id] = vector
        _upsert(session, call_id, model, hashes[call_id], vector.tobytes(), now)
    session.flush()
    return [cases[i] for i in ids], np.stack([vectors[i] for i in ids])


def _upsert(
    session: Session, call_id: int, model: str, digest: str, vector: bytes, now: datetime
) -> None:
    # the start-up encoding and a resolution may write one call at once: the later wins
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    values = {"encoder": model, "text_hash": digest, "vector": vector, "updated_at": now}
    session.execute(
        insert(CallVector)
        .values(call_id=call_id, **values)
        .on_conflict_do_update(index_elements=[CallVector.call_id], set_=values)
    )


def _cases(session: Session, call_ids: Sequence[int] | None) -> list[Case]:
    """The resolved calls (of `call_ids`, or all) as cases: where, what fixed it, when,
    who resolved it."""
    last = select(CallEvent.call_id, func.max(CallEvent.id).label("event_id")).where(
        CallEvent.kind == EventKind.RESOLVED
    )
    if call_ids is not None:
        last = last.where(CallEvent.call_id.in_(call_ids))
    latest = last.group_by(CallEvent.call_id).subquery()
    resolver = aliased(CallEvent)
    stmt = (
        select(
            Call.id,
            Call.modality,
            Asset.modality,
            Asset.manufacturer,
            Asset.model,
            Call.fixed_by_article_id,
            Call.resolved_at,
            resolver.actor_id,
        )
        .outerjoin(Asset, Asset.id == Call.asset_id)
        .outerjoin(latest, latest.c.call_id == Call.id)
        .outerjoin(resolver, resolver.id == latest.c.event_id)
        .where(Call.state.in_(PAST), Call.resolved_at.is_not(None))
        .order_by(Call.id)
    )
    if call_ids is not None:
        stmt = stmt.where(Call.id.in_(call_ids))
    out = []
    for call_id, modality, a_mod, a_man, a_model, article_id, at, by in session.execute(stmt):
        if at is None:  # excluded by the query: for the type checker
            continue
        scanner = Scanner(a_mod, a_man, a_model) if a_mod else Scanner(modality)
        out.append(Case(call_id, scanner, article_id, at, by))
    return out


def load(*, session: Session, index: ArticleIndex, call_ids: Sequence[int] | None = None) -> int:
    """Read the past calls' vectors into the index's case book (of `call_ids`, or all);
    returns how many calls it holds. A call of `call_ids` that is no longer resolved
    leaves the book; one with no vector of this model is encoded (not stored: the next
    start does that); with every call, those wait for `Backfill`."""
    cases = _cases(session, call_ids)
    stored = select(CallVector.call_id, CallVector.vector).where(
        CallVector.encoder == encoder_key(index)
    )
    if call_ids is not None:
        stored = stored.where(CallVector.call_id.in_([c.id for c in cases]))
    vectors: dict[int, bytes] = dict(session.execute(stored).tuples().all())
    held = [c for c in cases if c.id in vectors]
    matrix = _matrix([vectors[c.id] for c in held])
    if call_ids is None:
        index.cases.reset(held, matrix)
        return len(index.cases)
    missing = [c for c in cases if c.id not in vectors]
    if missing:
        found = texts(session, [c.id for c in missing])
        encoded = index.encode([found.get(c.id, "") for c in missing])
        held += missing
        matrix = np.concatenate([matrix, encoded]) if len(matrix) else encoded
    index.cases.remove(set(call_ids) - {c.id for c in cases})
    index.cases.replace(held, matrix)
    return len(index.cases)


def _matrix(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored vectors as one row each."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)


# -- at start: the resolved calls without a vector ------------------------------------


def without_vector(*, session: Session, index: ArticleIndex) -> list[int]:
    """The resolved calls with no vector of this model, oldest first."""
    stmt = (
        select(Call.id)
        .outerjoin(CallVector, CallVector.call_id == Call.id)
        .where(
            Call.state.in_(PAST),
            Call.resolved_at.is_not(None),
            (CallVector.call_id.is_(None)) | (CallVector.encoder != encoder_key(index)),
        )
        .order_by(Call.id)
    )
    return list(session.scalars(stmt))


@dataclass
class Backfill:
    """A background thread encoding the resolved calls that have no vector of this model
    (new deployment, another model), with progress in the log. On PostgreSQL one process
    does it (an advisory lock) and the others read the vectors through the feed."""

    sessions: sessionmaker[Session]
    index: ArticleIndex

    def __post_init__(self) -> None:
        self.done = threading.Event()
        self.encoded = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start encoding."""
        self._thread = threading.Thread(target=self._run, name="past-calls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the batch under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            engine = self.sessions.kw["bind"]
            if engine.dialect.name != "postgresql":
                self._encode_all()
                return
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                if not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": BACKFILL_LOCK}):
                    log.info("similar past calls: another process encodes the calls")
                    return
                try:
                    self._encode_all()
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": BACKFILL_LOCK})
        except Exception:  # the next start tries again
            log.exception("similar past calls: encoding the resolved calls failed")
        finally:
            self.done.set()

    def _encode_all(self) -> None:
        with self.sessions() as session:
            todo = without_vector(session=session, index=self.index)
        if not todo:
            return
        total = len(todo)
        log.info("similar past calls: encoding %d resolved calls without a vector", total)
        said = 0
        for start in range(0, total, BATCH):
            if self._stop.is_set():
                log.info("similar past calls: stopped at %d of %d", self.encoded, total)
                return
            batch = todo[start : start + BATCH]
            with self.sessions() as session:
                cases, vectors = write(session=session, index=self.index, call_ids=batch)
                if session.get_bind().dialect.name == "postgresql":
                    # the other processes read them through the feed (SQLite has none)
                    for case in cases:
                        feed_service.record(session=session, topic=Topic.CASE, ref=case.id)
                session.commit()
            if cases:
                self.index.cases.replace(cases, vectors)
            self.encoded += len(batch)
            tenth = self.encoded * 10 // total
            if tenth > said:
                said = tenth
                log.info("similar past calls: %d of %d encoded", self.encoded, total)
