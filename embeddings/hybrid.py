"""The hybrid index: two dense fields, a BM25 lane, an exact lane and keyword filters.

It searches and updates all lanes consistently; `store` (embeddings/store.py) persists
them. The caller owns the documents (the database is the source of truth) and repairs
the index from it with `sync`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from embeddings.confidence import Calibration
from embeddings.encoder import Encoder, Vectors
from embeddings.exact import ExactIndex, normalise, query_keys
from embeddings.fusion import Candidate, FusionWeights, LaneScores, fuse
from embeddings.lexical import FieldsChanged, LexicalDoc, LexicalIndex
from embeddings.lookups import ANY, Lookups
from embeddings.rwlock import ReadWriteLock
from embeddings.spelling import Correction, Speller, count_words
from embeddings.store import Fetch, IndexStore, Progress, SyncReport
from embeddings.synonyms import Expansion, Glossary
from embeddings.vector_index import VectorIndex

log = logging.getLogger(__name__)

TEXT_FIELDS = ("headline", "body")
DEFAULT_BM25_FIELDS: Mapping[str, float] = {"headline": 2.0, "body": 1.0}


@dataclass
class Document:
    """What the index needs of one searchable item."""

    id: int
    version: int
    headline: str
    body: str
    keywords: Mapping[str, Sequence[str]] = field(default_factory=dict)
    codes: Sequence[str] = ()
    models: Sequence[str] = ()


def _spelled_texts(doc: Document) -> list[str]:
    """The texts whose words the spelling vocabulary learns from a document: its words as
    searched, and the names it carries (a model name typed is never "corrected")."""
    return [doc.headline, doc.body, *doc.models, *(v for vs in doc.keywords.values() for v in vs)]


def _lexical_doc(doc: Document, keywords: Mapping[str, Mapping[str, str]]) -> LexicalDoc:
    values = {name: list(spelled) for name, spelled in keywords.items()}
    return LexicalDoc(doc.id, {"headline": doc.headline, "body": doc.body}, values)


class HybridIndex:
    """Dense (headline and body vectors) + BM25 + exact identifiers, fused linearly.

    keyword_fields maps a filter field to whether an empty value means "applies to all".
    With `path=None` everything lives in memory.
    """

    def __init__(
        self,
        encoder: Encoder,
        path: Path | None,
        *,
        keyword_fields: Mapping[str, bool],
        weights: FusionWeights | None = None,
        lexical_boosts: Mapping[str, float] | None = None,
        batch_size: int = 128,
        glossary_groups: Sequence[Sequence[str]] = (),
        body_max_tokens: int | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.encoder = encoder
        self.path = path
        self.keyword_fields = dict(keyword_fields)
        self.weights = weights or FusionWeights()
        self.batch_size = batch_size
        self.body_max_tokens = body_max_tokens
        self.lexical_boosts = dict(lexical_boosts or DEFAULT_BM25_FIELDS)
        unknown = sorted(set(self.lexical_boosts) - set(TEXT_FIELDS))
        if unknown or not self.lexical_boosts:
            raise ValueError(
                f"BM25 fields {unknown or '(none)'}: choose among {', '.join(TEXT_FIELDS)}"
            )
        # searches share it (FAISS and tantivy release the GIL, so two run on two cores);
        # writes and the swap of a loaded index take it alone; saves share it
        self.lock = ReadWriteLock()
        self._prepare_lock = threading.Lock()
        self.store = IndexStore(self)
        self.lexical = self._open_lexical()
        self.glossary = Glossary(glossary_groups, self.lexical.query_terms)
        # how sure each hit is (None: no confidence given)
        self.calibration = calibration
        # the library's words, for the BM25 lane's spelling correction (glossary words are
        # never corrected); kept apart from `_reset_memory`, persisted by the store
        self.speller = Speller(
            known=[term for group in glossary_groups for term in group],
            analyze=self.lexical.query_terms,
        )
        self._reset_memory()

    # -- state ---------------------------------------------------------------------------

    def _reset_memory(self) -> None:
        self.headline = VectorIndex(self.encoder.dim)
        self.body = VectorIndex(self.encoder.dim)
        self.lookups = Lookups.empty(self.keyword_fields)

    def _open_lexical(self) -> LexicalIndex:
        path = None if self.path is None else self.path / "lexical"

        def opened() -> LexicalIndex:
            return LexicalIndex(
                path, text_fields=self.lexical_boosts, keyword_fields=list(self.keyword_fields)
            )

        try:
            return opened()
        except FieldsChanged:
            assert path is not None  # only a folder on disk can hold other fields
            # only the texts need indexing again, not the far slower vectors: the lane
            # starts empty, the load notices the count, and the next sync fills it
            log.warning(
                "the BM25 lane in %s was indexed with other fields (now: %s): it is emptied "
                "and the next sync indexes the texts again (the vectors are kept)",
                path,
                ", ".join(self.lexical_boosts),
            )
            LexicalIndex.destroy(path)
            return opened()

    @property
    def codes(self) -> ExactIndex:
        """The exact lane of error codes."""
        return self.lookups.codes

    @property
    def models(self) -> ExactIndex:
        """The exact lane of model names."""
        return self.lookups.models

    @property
    def _versions(self) -> dict[int, int]:
        return self.lookups.versions

    @property
    def loaded_from_disk(self) -> bool:
        """Whether the last `load` reused the persisted state."""
        return self.store.loaded_from_disk

    def __len__(self) -> int:
        return len(self._versions)

    def version(self, doc_id: int) -> int | None:
        """The indexed version of one document (None when it is not indexed)."""
        return self._versions.get(doc_id)

    def versions(self) -> dict[int, int]:
        """id -> indexed version, for comparison with the source of truth."""
        with self.lock.read():
            return dict(self._versions)

    # -- writes --------------------------------------------------------------------------

    def upsert(self, docs: Sequence[Document], *, progress: Progress | None = None) -> None:
        """Insert or replace documents; encodes in batches and reports progress."""
        total = len(docs)
        done = 0
        self.prepare_writes()
        for start in range(0, total, self.batch_size):
            batch = docs[start : start + self.batch_size]
            heads = self.encoder.encode([d.headline for d in batch])
            bodies = self.encoder.encode([d.body for d in batch], max_tokens=self.body_max_tokens)
            self._apply(batch, heads, bodies)
            done += len(batch)
            if progress:
                progress(done, total)

    def _apply(self, batch: Sequence[Document], heads: Vectors, bodies: Vectors) -> None:
        ids = [d.id for d in batch]
        words = count_words(text for doc in batch for text in _spelled_texts(doc))
        with self.lock.write():
            self.lookups.forget(ids)
            self.headline.add(ids, heads)
            self.body.add(ids, bodies)
            lexdocs = []
            for doc in batch:
                kw = self.lookups.keyword_values(doc.keywords)
                self.lookups.add(doc.id, doc.version, kw, doc.codes, doc.models)
                lexdocs.append(_lexical_doc(doc, kw))
            self.lexical.upsert(lexdocs)
            self.speller.add_counts(words)

    def prepare_writes(self) -> None:
        """Turn the lookups a load left as read-only columns into what writes change
        (once after a load, a pass over every posting; under the read lock, so that
        searches go on meanwhile). Writes call it first: the first write after a start
        pays for it, not the start and not the searches."""
        with self.lock.read(), self._prepare_lock:
            self.lookups.prepare_writes()

    def remove(self, ids: Iterable[int]) -> None:
        """Remove documents (absent ids are ignored)."""
        id_list = [int(i) for i in ids]
        self.prepare_writes()
        with self.lock.write():
            self.lookups.forget(id_list)
            self.headline.remove(id_list)
            self.body.remove(id_list)
            self.lexical.remove(id_list)

    def close(self) -> None:
        """Release files held open (the lexical lane's writer lock)."""
        self.lexical.close()

    def clear(self) -> None:
        """Drop every document (the on-disk lexical lane too)."""
        with self.lock.write():
            self._reset_memory()
            self.lexical.clear()
            self.speller.clear()

    def install(self, headline: VectorIndex, body: VectorIndex, lookups: Lookups) -> None:
        """Swap in lanes loaded from disk: a search sees the old ones or the new, whole."""
        with self.lock.write():
            self.headline, self.body, self.lookups = headline, body, lookups

    def reindex_texts(self, docs: Sequence[Document]) -> None:
        """Index these documents' texts again in the BM25 lane only (vectors and lookups
        stay as they are)."""
        with self.lock.write():
            kw = self.lookups.keyword_values
            self.lexical.upsert([_lexical_doc(d, kw(d.keywords)) for d in docs])

    def learn_words(self, docs: Sequence[Document]) -> None:
        """Add these documents' words to the spelling vocabulary only (when its file was
        lost: the lanes stay as they are)."""
        words = count_words(text for doc in docs for text in _spelled_texts(doc))
        with self.lock.write():
            self.speller.add_counts(words)

    def install_vocabulary(self, counts: Mapping[str, int], *, complete: bool = True) -> None:
        """Swap in a spelling vocabulary loaded from disk (word -> count; `complete`
        False: one to be read from the texts, which corrects nothing meanwhile)."""
        with self.lock.write():
            self.speller.replace(counts, complete=complete)

    # -- persistence: see IndexStore -----------------------------------------------------

    def save(self) -> None:
        """Persist the vectors and the manifest (the BM25 lane commits on write)."""
        self.store.save()

    def load(self) -> bool:
        """Reuse the persisted state if it fits, else start empty; whether it was reused."""
        return self.store.load()

    def sync(
        self, current: Mapping[int, int], fetch: Fetch, *, progress: Progress | None = None
    ) -> SyncReport:
        """Make the index match `current` (id -> version), fetching only what differs."""
        return self.store.sync(current, fetch, progress=progress)

    # -- search --------------------------------------------------------------------------

    def known_values(self, name: str) -> set[str]:
        """Values of a keyword field present in the index, as spelled (for messages)."""
        with self.lock.read():
            return self.lookups.known_values(name)

    def codes_in(self, text: str) -> list[str]:
        """The error codes of indexed documents that the text mentions in any spelling,
        as the documents spell them (sorted, each once)."""
        with self.lock.read():
            found = self.codes.match(text)
        return sorted({code for codes in found.values() for code in codes})

    def has_value(self, name: str, value: str) -> bool:
        """Whether any document carries this keyword value (normalised)."""
        # under the lock: a write forgets a document's values before adding them again
        with self.lock.read():
            return self.lookups.has_value(name, value)

    def allowed_ids(self, filters: Mapping[str, Sequence[str]]) -> set[int] | None:
        """Ids passing all filters (None: no filter). Unknown fields raise KeyError."""
        return self.lookups.allowed_ids(filters)

    def expand(self, text: str) -> Expansion:
        """The query's glossary groups, worked out once and shared by every lane."""
        return self.glossary.match(text)

    def prepare_spelling(self) -> None:
        """Build the spelling correction's look-up structure now (blocks). Without it, the
        first query with an unknown word after a load waits for the build."""
        self.speller.prepare()

    def correct(self, text: str) -> Correction:
        """The query as the BM25 lane searches it, its misspelled words corrected against
        the library's words, with each (typed, corrected) change (what to show as
        "searched for")."""
        with self.lock.read():
            return self.speller.correct(text)

    def expansions(self, text: str, expansion: Expansion | None = None) -> list[str]:
        """Glossary terms equivalent to words of the query (what the query is widened with)."""
        return (expansion or self.expand(text)).terms()

    def dense_text(
        self,
        text: str,
        weights: FusionWeights | None = None,
        *,
        expansion: Expansion | None = None,
    ) -> str:
        """The text the dense lanes encode: the query, plus its glossary equivalents when
        the weights ask for dense expansion."""
        w = weights or self.weights
        if not w.expand_dense:
            return text
        extra = (expansion or self.expand(text)).terms(w.dense_per_group)
        return f"{text} ({', '.join(extra)})" if extra else text

    def search(
        self,
        text: str,
        k: int,
        *,
        filters: Mapping[str, Sequence[str]] | None = None,
        weights: FusionWeights | None = None,
        query_vector: Vectors | Callable[[], Vectors] | None = None,
        expansion: Expansion | None = None,
        adjust: Callable[[Sequence[int]], Mapping[int, float]] | None = None,
        evidence: Callable[[npt.NDArray[np.float32]], Mapping[int, float]] | None = None,
        prefer: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Candidate]:
        """Fused top-k for a query, each with the evidence of every lane (`adjust`: the
        candidates' records on past calls; `evidence`: for the query's vector, what
        similar past calls say of each document; `prefer`: keyword values the query names,
        a soft filter: documents without them rank below those with them; `fuse`).

        `query_vector`, when given, must encode `dense_text(text, weights)`; it may be a
        callable that waits for an encode started before the call, which then overlaps
        the lexical lane. `expansion`, when given, must be `expand(text)`.
        """
        w = weights or self.weights
        if expansion is None and (w.synonyms or (w.expand_dense and query_vector is None)):
            expansion = self.expand(text)
        extra = expansion.terms(w.lexical_per_group or None) if w.synonyms and expansion else []
        pool = max(4 * k, 40)
        filters = {n: list(v) for n, v in (filters or {}).items() if v}
        with self.lock.read():
            allowed = self.allowed_ids(filters)
            lexical: list[tuple[int, float]] = []
            codes: dict[int, list[str]] = {}
            models: dict[int, list[str]] = {}
            # the lanes that need no vector go first: a query vector handed in as a
            # callable is being encoded meanwhile on another core
            if w.lexical:
                lex_filters = {
                    n: [normalise(v) for v in vals] + ([ANY] if self.keyword_fields[n] else [])
                    for n, vals in filters.items()
                }
                lexical = self.lexical.search(
                    self.speller.correct(text).text if w.spelling else text,
                    pool,
                    filters=lex_filters,
                    extra=extra,
                    extra_boost=w.synonyms,
                    extra_fields=self._synonym_fields(w),
                )
            if w.code or w.model:
                keys = query_keys(text)  # the query's n-grams, shared by both exact lanes
                exact = ((w.code, self.codes, codes), (w.model, self.models, models))
                for wanted, lane, found_in in exact:
                    if wanted:
                        for doc_id, found in lane.match(keys).items():
                            if allowed is None or doc_id in allowed:
                                found_in[doc_id] = sorted(set(found))
            if callable(query_vector):
                query_vector = query_vector()
            qv = (
                query_vector
                if query_vector is not None
                else self.encoder.encode([self.dense_text(text, w, expansion=expansion)])
            )
            q = np.asarray(qv, dtype=np.float32).reshape(1, -1)
            boost = evidence(q[0]) if evidence is not None else None
            lex_ids = np.array([i for i, _ in lexical], dtype=np.int64)
            lex_scores = np.array([score for _, score in lexical], dtype=np.float64)
            found_ids = [
                lex_ids,
                *(np.fromiter(lane, np.int64, len(lane)) for lane in (codes, models)),
            ]
            dense = bool(w.headline or w.body)
            if dense:
                allowed_arr = None if allowed is None else np.fromiter(allowed, dtype=np.int64)
                for vindex in (self.headline, self.body):
                    # their scores are not kept: every candidate's are computed below
                    hits = vindex.search(q, pool, allowed=allowed_arr)[1][0]
                    found_ids.append(hits[hits >= 0])
            ids = np.unique(np.concatenate(found_ids))
            lanes = self._lane_scores(
                ids, q if dense else None, (lex_ids, lex_scores), codes, models
            )
            unlike = self._unlike(ids, prefer) if prefer else None
        # the first hit's confidence weighs its lead over the second
        ranked = fuse(lanes, w, max(k, 2), adjust, boost, unlike)
        if self.calibration is not None and ranked:
            terms = len(self.lexical.query_terms(text))
            sure = self.calibration.confidences(ranked, terms=terms, documents=len(self._versions))
            for candidate, confidence in zip(ranked, sure, strict=True):
                candidate.confidence = confidence
        return ranked[:k]

    def _unlike(
        self, ids: npt.NDArray[np.int64], prefer: Mapping[str, Sequence[str]]
    ) -> npt.NDArray[np.bool_]:
        """Which candidates lack a preferred value of some field (a document with no value
        of a wildcard field has them all)."""
        covered = np.ones(len(ids), dtype=bool)
        for name, values in prefer.items():
            keys = {normalise(v) for v in values} | ({ANY} if self.keyword_fields[name] else set())
            held = [self.lookups.filters[name].held(key) for key in keys]
            covered &= np.fromiter(
                (any(i in h for h in held) for i in ids.tolist()), dtype=bool, count=len(ids)
            )
        unlike: npt.NDArray[np.bool_] = ~covered
        return unlike

    def named(self, text: str, fields: Sequence[str]) -> dict[str, list[str]]:
        """The values of these keyword fields that the text names, as the documents spell
        them (case, spaces and hyphens aside: "aurion128" names "Aurion 128")."""
        keys = query_keys(text)
        found: dict[str, list[str]] = {}
        with self.lock.read():
            for name in fields:
                lane = self.lookups.filters[name]
                spelled = {s for key in keys if key != ANY for s in lane.held(key).values()}
                if spelled:
                    found[name] = sorted(spelled)
        return found

    def _synonym_fields(self, weights: FusionWeights) -> tuple[str, ...] | None:
        """The BM25 fields the glossary equivalents are looked for in (None: all)."""
        if weights.synonyms_in_headline or "body" not in self.lexical_boosts:
            return None
        return ("body",)

    def _lane_scores(
        self,
        ids: npt.NDArray[np.int64],
        q: Vectors | None,
        lexical: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
        codes: Mapping[int, list[str]],
        models: Mapping[int, list[str]],
    ) -> LaneScores:
        """The candidates' scores in every lane (dense ones only given a query vector `q`);
        a candidate found by one lane only still gets its exact dense scores. `ids` are
        sorted and hold every id of the lexical lane's (ids, scores)."""
        n = len(ids)
        lex_ids, lex_scores = lexical
        headline, body = np.zeros(n), np.zeros(n)
        if q is not None and n:
            # a document the BM25 lane holds but the vectors do not (see `IndexStore.load`)
            # has none; the other lanes only find documents the vectors hold
            versions = self._versions
            unknown = [i for i in lex_ids.tolist() if i not in versions]
            known = ~np.isin(ids, unknown) if unknown else slice(None)
            held = ids[known]
            headline[known] = self.headline.get(held) @ q[0]
            body[known] = self.body.get(held) @ q[0]
        scores = np.zeros(n)
        scores[np.searchsorted(ids, lex_ids)] = lex_scores
        return LaneScores(ids, headline, body, scores, codes, models)
