"""The live article index: maps articles to documents and keeps the hybrid index in step.

The one way the app reaches the retrieval library (`embeddings/`): routes and services
call `ArticleIndex`, never the hybrid index behind it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.articles import service as article_service
from app.articles.models import Article, ArticleStatus
from app.search.cards import Card, CardCache, make_card
from app.search.documents import (
    KEYWORD_FIELDS,
    body_text,
    headline_text,
    read_glossary,
    to_document,
)
from app.search.named import named_in, preferred
from embeddings.batcher import MicroBatcher
from embeddings.cache import VectorCache
from embeddings.cases import Case as Case  # the resolved calls, as past cases
from embeddings.cases import CaseBook, Evidence
from embeddings.cases import Near as Near
from embeddings.confidence import Calibration as Calibration
from embeddings.confidence import CalibrationError as CalibrationError
from embeddings.confidence import Match as Match
from embeddings.confidence import Strength as Strength
from embeddings.encoder import Encoder as Encoder  # the app reaches the library only here
from embeddings.encoder import Vectors
from embeddings.fusion import FusionWeights
from embeddings.hybrid import Document, HybridIndex
from embeddings.outcomes import OutcomeBook, Record
from embeddings.outcomes import Scanner as Scanner  # the app's searches say where they are
from embeddings.outcomes import Vote as Vote
from embeddings.pool import WorkPool
from embeddings.store import Progress, SyncReport
from embeddings.synonyms import Expansion
from embeddings.threads import lower_priority, name_os_thread
from embeddings.tickets import Extract as Extract  # what of a whole ticket was searched
from embeddings.tickets import fault_text, library_names, library_scorer

log = logging.getLogger(__name__)

# the calibration fitted on the seed library (scripts/calibrate.py), when none is given
DEFAULT_CALIBRATION = Path(__file__).resolve().parents[2] / "knowledge" / "confidence.json"


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked article: its card and the evidence of each lane."""

    card: Card
    score: float
    semantic: float  # cosine with the headline (title, issue, other phrasings)
    semantic_body: float  # cosine with the full text
    keyword_score: float  # BM25 relative to the query's best (0..1)
    confidence: float  # the calibrated chance that it fixes what was asked
    error_codes: list[str]  # error codes of the query the article has, as it spells them
    models: list[str]  # models of the query the article covers
    record: Record | None = None  # its outcomes on past calls, for the scanner searched for
    similar: Evidence | None = None  # the similar past calls on the model that it fixed
    unlike_named: bool = False  # not for the modality, maker or model the query names


@dataclass(frozen=True, slots=True)
class Found:
    """A search's hits, best first, with what the query was widened with and its terms."""

    hits: list[Hit]
    expanded_with: list[str]  # glossary equivalents the keyword lane also looked for
    # the query's words as typed, each with its analysed terms, to show which an article has
    query_words: tuple[tuple[str, frozenset[str]], ...]
    named: dict[str, list[str]]  # what the query names, preferred (a soft filter)
    match: Match  # how well the best hit fits
    # the query's misspelled words, each with the library word the keyword lane searched
    corrections: tuple[tuple[str, str], ...] = ()


class ArticleIndex:
    """Published articles in a HybridIndex, saved to disk shortly after each write."""

    def __init__(
        self,
        encoder: Encoder,
        path: Path | None,
        *,
        save_delay: float = 2.0,
        glossary: Path | None = None,
        batch_max_size: int = 32,
        batch_max_wait_ms: float = 0.0,
        encoder_workers: int = 1,
        body_max_tokens: int | None = None,
        card_cache_size: int = 20_000,
        query_cache_size: int = 2048,
        search_concurrency: int = 4,
        bm25_fields: Mapping[str, float] | None = None,
        write_wait: float | None = None,
        outcomes: OutcomeBook | None = None,
        outcome_weight: float | None = None,
        cases: CaseBook | None = None,
        similar_calls_weight: float | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.calibration = calibration or Calibration.load(DEFAULT_CALIBRATION)
        self._hybrid = HybridIndex(
            encoder,
            path,
            keyword_fields=KEYWORD_FIELDS,
            glossary_groups=read_glossary(glossary) if glossary else [],
            body_max_tokens=body_max_tokens,
            lexical_boosts=bm25_fields,
            calibration=self.calibration,
        )
        if outcome_weight is not None:
            self._hybrid.weights = replace(self._hybrid.weights, outcome=outcome_weight)
        if similar_calls_weight is not None:
            self._hybrid.weights = replace(self._hybrid.weights, similar_calls=similar_calls_weight)
        # what past calls say about each article (app/learning fills it from the database)
        self.outcomes = outcomes if outcomes is not None else OutcomeBook()
        # the resolved calls' vectors: similar past calls (app/calls/past.py fills it)
        self.cases = cases if cases is not None else CaseBook()
        # searches compute on these threads only: a search waiting its turn holds no
        # lock and does not compete for the interpreter
        self.searches = WorkPool(search_concurrency, name="search")
        self.batcher = MicroBatcher(
            encoder.encode,
            max_batch=batch_max_size,
            max_wait_ms=batch_max_wait_ms,
            # several at once only where the encoder may be called from several threads
            workers=encoder_workers if getattr(encoder, "thread_safe", False) else 1,
            # a lone search's query is encoded on another core while its keyword lane
            # runs; among others, by the search itself (or the next one that waits)
            others_busy=lambda: self.searches.running > 1,
        )
        # a whole ticket's fault sentences: scored by their closeness to the headlines
        self._sentence_score = library_scorer(self._hybrid)
        self._names_in = library_names(self._hybrid)
        self.cards = CardCache(card_cache_size)
        self.query_vectors = VectorCache(query_cache_size)
        self.save_delay = save_delay
        self.write_wait = write_wait
        self.last_sync = SyncReport()
        # article writes re-embed on this one thread, niced, so searches go first
        self._writer = ThreadPoolExecutor(
            1, thread_name_prefix="index-write", initializer=_background_thread
        )
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()

    # -- what the app asks ---------------------------------------------------------------

    def __len__(self) -> int:
        """Searchable documents (published articles)."""
        return len(self._hybrid)

    @property
    def weights(self) -> FusionWeights:
        """The fusion weights searches use."""
        return self._hybrid.weights

    @property
    def loaded_from_disk(self) -> bool:
        """Whether the start reused the index saved on disk."""
        return self._hybrid.loaded_from_disk

    @property
    def encoder_name(self) -> str:
        """The encoder of the dense lanes, as the saved index records it."""
        return self._hybrid.encoder.name

    def has_value(self, field: str, value: str) -> bool:
        """Whether a published article carries this filter value (any spelling); False
        for a field that is not a filter."""
        return self._hybrid.has_value(field, value)

    def known_values(self, field: str) -> set[str]:
        """A filter field's values over the published articles, as they spell them."""
        return self._hybrid.known_values(field)

    def match(self, best: float | None) -> Match:
        """A search's match level from its best confidence (None: nothing found)."""
        return self.calibration.match(best)

    def strength(self, confidence: float) -> Strength:
        """One hit's strength in words."""
        return self.calibration.strength(confidence)

    def fault_text(self, text: str) -> Extract:
        """The parts of a long text (a whole ticket: greeting, context, signature) that
        describe the fault, to search on; a typed query comes back whole."""
        return fault_text(text, score=self._sentence_score, names=self._names_in)

    def named(self, text: str) -> dict[str, list[str]]:
        """The modalities, makers and models the text names (keyword field -> values)."""
        return named_in(text, self._hybrid.named)

    def error_codes_in(self, text: str) -> list[str]:
        """The error codes of published articles that the text mentions in any spelling
        ("hv 417" finds "HV-417"), as the articles spell them, sorted."""
        return self._hybrid.codes_in(text)

    def search(
        self,
        session: Session | Callable[[], Session],
        query: str,
        limit: int,
        *,
        filters: Mapping[str, Sequence[str]] | None = None,
        scanner: Scanner | None = None,
    ) -> Found:
        """The best `limit` published articles for a query, hard-filtered (field ->
        accepted values), on the calling thread, each moved by its record on past calls on
        `scanner` (or on any). `session` may be a function that opens one, called only
        when a hit's card must be read from the database; an article archived meanwhile
        drops out."""
        hybrid = self._hybrid
        # one glossary look-up serves the dense text, BM25 and the response
        expansion = hybrid.expand(query)
        # encoded on another core while the index runs its lexical lane
        vector = self.query_vector(query, expansion)
        named = self.named(query)
        prefer = preferred(named, filters)
        book, cases = self.outcomes, self.cases
        adjust = (lambda ids: book.adjustments(ids, scanner)) if len(book) else None
        said: dict[int, Evidence] = {}

        def evidence(q: npt.NDArray[np.float32]) -> dict[int, float]:
            said.update(cases.evidence(q, scanner, datetime.now(UTC)))
            return {doc: e.adjustment for doc, e in said.items()}

        candidates = hybrid.search(
            query,
            limit,
            filters=filters,
            query_vector=vector,
            expansion=expansion,
            adjust=adjust,
            evidence=evidence if scanner is not None and len(cases) else None,
            prefer=prefer,
        )
        ids = [c.id for c in candidates]
        cards = self.cards_for(session, ids)
        records = book.records(ids, scanner) if adjust is not None else {}
        hits = [
            Hit(
                card=card,
                score=c.score,
                semantic=c.headline,
                semantic_body=c.body,
                keyword_score=c.lexical_norm,
                confidence=c.confidence or 0.0,
                error_codes=c.codes,
                models=c.models,
                record=records.get(c.id),
                similar=said.get(c.id),
                unlike_named=c.unlike_named,
            )
            for c in candidates
            if (card := cards.get(c.id)) is not None
        ]
        # the keyword lane searched the misspelled words corrected: the why shows those
        corrected = hybrid.correct(query) if hybrid.weights.spelling else None
        words = hybrid.lexical.query_words(corrected.text if corrected else query)
        expanded = hybrid.expansions(query, expansion) if hybrid.weights.synonyms else []
        said_named = {field: named[field] for field in prefer}  # as the words name them
        match = self.match(hits[0].confidence if hits else None)
        changes = corrected.changes if corrected else ()
        return Found(hits, expanded, words, said_named, match, changes)

    def save(self) -> None:
        """Save the index now (jobs that wrote many articles, before they exit)."""
        self._hybrid.save()

    def query_vector(self, text: str, expansion: Expansion | None = None) -> Callable[[], Vectors]:
        """Start encoding the dense query vector (glossary-widened when the weights say
        so) and return the wait for it: a recent identical text is remembered, others are
        encoded together with concurrent queries by the micro-batcher."""
        dense = self._hybrid.dense_text(text, expansion=expansion)
        known = self.query_vectors.get(dense)
        if known is not None:
            return lambda: known
        pending = self.batcher.submit(dense)
        return lambda: self.query_vectors.put(dense, pending.result(timeout=30))

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors of these texts as given (not glossary-widened), one row each; a
        text encoded recently, by a search or here, is taken from the query cache."""
        known = {t: v for t in dict.fromkeys(texts) if (v := self.query_vectors.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:  # one batch, on the calling thread (the encoders guard themselves)
            for text, vector in zip(missing, self._hybrid.encoder.encode(missing), strict=True):
                known[text] = self.query_vectors.put(text, vector)
        if not texts:
            return np.zeros((0, self._hybrid.encoder.dim), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)

    def cards_for(
        self, session: Session | Callable[[], Session], ids: Sequence[int]
    ) -> dict[int, Card]:
        """The hit cards of indexed articles, from the cache or else the database (only
        published articles get one, so an article archived meanwhile drops out);
        `session` may be a function that opens one, called only on a cache miss."""
        found: dict[int, Card] = {}
        missing: list[int] = []
        for article_id in ids:
            version = self._hybrid.version(article_id)
            card = None if version is None else self.cards.get(article_id, version)
            if card is None:
                missing.append(article_id)
            else:
                found[article_id] = card
        if missing:
            db = session() if callable(session) else session
            for article in article_service.get_many(session=db, ids=missing):
                if article.status != ArticleStatus.PUBLISHED:
                    continue
                text = f"{headline_text(article)}\n{body_text(article)}"
                card = make_card(article, self._hybrid.lexical.terms, text)
                self.cards.put(card)
                found[article.id] = card
        return found

    # -- ArticleIndexer ------------------------------------------------------------------

    def sync_articles(
        self, articles: Sequence[Article], *, progress: Progress | None = None
    ) -> None:
        """Index published articles and drop the others (called after each commit), on
        the index's low-priority writing thread: searches meanwhile get the cores first.
        Waits for it up to `write_wait` seconds (None: until done); the rest goes on
        behind the answer."""
        pending = self._writer.submit(self._sync_now, articles, progress)
        if self.write_wait is None:
            pending.result()
            return
        try:
            pending.result(timeout=self.write_wait)
        except TimeoutError:
            pending.add_done_callback(_log_failure)

    def _sync_now(self, articles: Sequence[Article], progress: Progress | None) -> None:
        # every write drops the article's hit card (a new version gets a new one)
        self.cards.forget(a.id for a in articles)
        published = [a for a in articles if a.status == ArticleStatus.PUBLISHED]
        gone = [a.id for a in articles if a.status != ArticleStatus.PUBLISHED]
        if gone:
            self._hybrid.remove(gone)
        if published:
            self._hybrid.upsert([to_document(a) for a in published], progress=progress)
        self._schedule_save()

    def refresh(self, session: Session, ids: Sequence[int]) -> int:
        """Bring these articles up to date with the database (changes made by any
        process); returns how many needed it. An entry already current is left alone."""
        articles = article_service.get_many(session=session, ids=ids)
        stale = [a for a in articles if self._differs(a)]
        found = {a.id for a in articles}
        vanished = [i for i in ids if i not in found and self._hybrid.version(i) is not None]
        if vanished:
            self.cards.forget(vanished)
            self._hybrid.remove(vanished)
        if stale:
            self.sync_articles(stale)
        elif vanished:
            self._schedule_save()
        return len(stale) + len(vanished)

    def _differs(self, article: Article) -> bool:
        indexed = self._hybrid.version(article.id)
        if article.status == ArticleStatus.PUBLISHED:
            return indexed != article.version
        return indexed is not None

    # -- persistence ---------------------------------------------------------------------

    def _schedule_save(self) -> None:
        if self._hybrid.path is None:
            return
        if self.save_delay <= 0:
            self._hybrid.save()
            return
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.save_delay, self._hybrid.save)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        """Flush a pending save and release the index files."""
        with self._timer_lock:
            pending = self._timer is not None and self._timer.is_alive()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if pending:
            self._hybrid.save()
        self._writer.shutdown(wait=True)
        self.searches.close()
        self.batcher.close()
        self._hybrid.close()

    def open(
        self, factory: sessionmaker[Session], *, progress: Progress | None = None
    ) -> SyncReport:
        """Load the persisted index and repair whatever differs from the database."""
        reused = self._hybrid.load()
        report = self.sync(factory, progress=progress)
        # the spelling look-up is built behind the start, on the niced writing thread
        built = self._writer.submit(self._hybrid.prepare_spelling)
        built.add_done_callback(lambda done: _log_failure(done, "building the spelling look-up"))
        # ready means the encoder answers too (it may still be opening on its own thread),
        # and a model that cannot run stops the start-up here, not the first search
        self._hybrid.encoder.encode(["ready"])
        log.info(
            "search index: %s, %d documents (+%d ~%d -%d)",
            "reused from disk" if reused else "built",
            len(self._hybrid),
            report.added,
            report.updated,
            report.removed,
        )
        return report

    def sync(
        self, factory: sessionmaker[Session], *, progress: Progress | None = None
    ) -> SyncReport:
        """Make the index match the published articles in the database."""
        with factory() as session:
            current = article_service.published_versions(session=session)

            def fetch(ids: Sequence[int]) -> list[Document]:
                found = session.scalars(select(Article).where(Article.id.in_(ids)))
                return [to_document(a) for a in found]

            self.last_sync = self._hybrid.sync(current, fetch, progress=progress)
        return self.last_sync

    def rebuild(
        self, factory: sessionmaker[Session], *, progress: Progress | None = None
    ) -> SyncReport:
        """Drop everything and index all published articles again."""
        self._hybrid.clear()
        self.cards.clear()
        report = self.sync(factory, progress=progress)
        self._hybrid.save()
        return report


def _log_failure(done: Future[None], what: str = "indexing an article write") -> None:
    error = done.exception()
    if error is not None:  # a write is committed: the next start repairs the index
        log.error("%s failed", what, exc_info=error)


def _background_thread() -> None:
    name_os_thread()
    lower_priority()
