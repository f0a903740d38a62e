"""The hybrid index: two dense fields, a BM25 lane, an exact lane and keyword filters.

It owns persistence and consistency of all lanes; the caller owns the documents (the
database is the source of truth) and repairs the index from it with `sync`.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from embeddings.encoder import Encoder, Vectors
from embeddings.exact import ExactIndex, normalise, query_keys
from embeddings.fusion import Candidate, FusionWeights, LaneScores, fuse
from embeddings.lexical import FieldsChanged, LexicalDoc, LexicalIndex
from embeddings.rwlock import ReadWriteLock
from embeddings.synonyms import Expansion, Glossary
from embeddings.vector_index import VectorIndex

log = logging.getLogger(__name__)

FORMAT = 1
ANY = "*"  # keyword stored for an empty list: "applies to all" for wildcard fields
TEXT_FIELDS = ("headline", "body")
DEFAULT_BM25_FIELDS: Mapping[str, float] = {"headline": 2.0, "body": 1.0}
# applied at query time: a persisted index stays valid when they change (the BM25 lane
# checks its own fields when it opens)
_QUERY_TIME_SETTINGS = ("lexical_boosts",)
Progress = Callable[[int, int], None]


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    # collect first (cheap before the load) so that the freeze below keeps no garbage
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        # what was loaded lives as long as the process: kept out of every later
        # collection, which would otherwise walk millions of objects (1 s at 100k)
        gc.freeze()
        if enabled:
            gc.enable()


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


@dataclass
class SyncReport:
    """What `sync` changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    rebuilt: bool = False


def _check_fingerprint(saved: object, current: Mapping[str, object]) -> None:
    """Raise ValueError naming each setting a persisted index was built with that the
    current settings change."""
    expected = orjson.loads(orjson.dumps(current))
    if saved == expected:
        return
    if not isinstance(saved, dict):
        raise ValueError("the manifest has no fingerprint")
    changed = [
        f"{key} {saved.get(key)!r} -> {value!r}"
        for key, value in expected.items()
        if key not in _QUERY_TIME_SETTINGS and saved.get(key) != value
    ]
    if changed:
        raise ValueError("built with other settings: " + "; ".join(changed))


def _lexical_doc(doc: Document, keywords: Mapping[str, Sequence[str]]) -> LexicalDoc:
    return LexicalDoc(doc.id, {"headline": doc.headline, "body": doc.body}, keywords)


def _fetched(
    ids: Sequence[int],
    fetch: Callable[[Sequence[int]], Sequence[Document]],
    progress: Progress | None,
    *,
    chunk: int,
) -> Iterator[Sequence[Document]]:
    """The documents of `ids`, fetched `chunk` at a time; progress is reported once the
    caller is done with each chunk."""
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        yield fetch(part)
        if progress:
            progress(start + len(part), len(ids))


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
    ) -> None:
        self.encoder = encoder
        self.path = path
        self.keyword_fields = dict(keyword_fields)
        self.weights = weights or FusionWeights()
        self.batch_size = batch_size
        self.body_max_tokens = body_max_tokens
        self._boosts = dict(lexical_boosts or DEFAULT_BM25_FIELDS)
        unknown = sorted(set(self._boosts) - set(TEXT_FIELDS))
        if unknown or not self._boosts:
            raise ValueError(
                f"BM25 fields {unknown or '(none)'}: choose among {', '.join(TEXT_FIELDS)}"
            )
        # searches share it (FAISS and tantivy release the GIL, so two run on two cores);
        # writes and the swap of a loaded index take it alone
        self._lock = ReadWriteLock()
        self._save_lock = threading.Lock()
        self.loaded_from_disk = False
        self.lexical = self._open_lexical()
        self.glossary = Glossary(glossary_groups, self.lexical.query_terms)
        self._reset_memory()

    # -- state ---------------------------------------------------------------------------

    def _reset_memory(self) -> None:
        self.headline = VectorIndex(self.encoder.dim)
        self.body = VectorIndex(self.encoder.dim)
        self.codes = ExactIndex()
        self.models = ExactIndex()
        self._keywords: dict[str, dict[str, set[int]]] = {
            name: defaultdict(set) for name in self.keyword_fields
        }
        self._docs: dict[int, dict[str, object]] = {}

    def _open_lexical(self) -> LexicalIndex:
        path = None if self.path is None else self.path / "lexical"

        def opened() -> LexicalIndex:
            return LexicalIndex(
                path, text_fields=self._boosts, keyword_fields=list(self.keyword_fields)
            )

        try:
            return opened()
        except FieldsChanged:
            assert path is not None  # only a folder on disk can hold other fields
            # only the texts need indexing again (~30 s at 100k), not the vectors: the
            # lane starts empty, `_load` notices the count, and the next sync fills it
            log.warning(
                "the BM25 lane in %s was indexed with other fields (now: %s): it is emptied "
                "and the next sync indexes the texts again (the vectors are kept)",
                path,
                ", ".join(self._boosts),
            )
            LexicalIndex.destroy(path)
            return opened()

    def __len__(self) -> int:
        return len(self._docs)

    def version(self, doc_id: int) -> int | None:
        """The indexed version of one document (None when it is not indexed)."""
        meta = self._docs.get(doc_id)
        return None if meta is None else int(meta["version"])  # type: ignore[call-overload]

    def versions(self) -> dict[int, int]:
        """id -> indexed version, for comparison with the source of truth."""
        with self._lock.read():
            return {i: int(d["version"]) for i, d in self._docs.items()}  # type: ignore[call-overload]

    def fingerprint(self) -> dict[str, object]:
        """What a persisted index must match to be reused."""
        return {
            "format": FORMAT,
            "encoder": self.encoder.name,
            "dim": self.encoder.dim,
            "keyword_fields": sorted(self.keyword_fields),
            "lexical_boosts": self._boosts,
            "body_max_tokens": self.body_max_tokens,
        }

    # -- writes --------------------------------------------------------------------------

    def _keyword_values(self, doc: Document) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, wildcard in self.keyword_fields.items():
            values = sorted({normalise(v) for v in doc.keywords.get(name, ()) if normalise(v)})
            if not values and wildcard:
                values = [ANY]
            out[name] = values
        return out

    def upsert(self, docs: Sequence[Document], *, progress: Progress | None = None) -> None:
        """Insert or replace documents; encodes in batches and reports progress."""
        total = len(docs)
        done = 0
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
        with self._lock.write():
            for doc_id in ids:
                self._forget(doc_id)
            self.headline.add(ids, heads)
            self.body.add(ids, bodies)
            lexdocs = []
            for doc in batch:
                kw = self._keyword_values(doc)
                for name, values in kw.items():
                    for v in values:
                        self._keywords[name][v].add(doc.id)
                self.codes.put(doc.id, doc.codes)
                self.models.put(doc.id, doc.models)
                self._docs[doc.id] = {
                    "version": doc.version,
                    "keywords": kw,
                    "labels": {n: list(v) for n, v in doc.keywords.items() if v},
                    "codes": list(doc.codes),
                    "models": list(doc.models),
                }
                lexdocs.append(_lexical_doc(doc, kw))
            self.lexical.upsert(lexdocs)

    def _forget(self, doc_id: int) -> None:
        old = self._docs.pop(doc_id, None)
        if old is None:
            return
        for name, values in old["keywords"].items():  # type: ignore[attr-defined]
            for v in values:
                self._keywords[name][v].discard(doc_id)
        self.codes.remove(doc_id)
        self.models.remove(doc_id)

    def remove(self, ids: Iterable[int]) -> None:
        """Remove documents (absent ids are ignored)."""
        id_list = [int(i) for i in ids]
        with self._lock.write():
            for doc_id in id_list:
                self._forget(doc_id)
            self.headline.remove(id_list)
            self.body.remove(id_list)
            self.lexical.remove(id_list)

    def close(self) -> None:
        """Release files held open (the lexical lane's writer lock)."""
        self.lexical.close()

    def clear(self) -> None:
        """Drop every document (the on-disk lexical lane too)."""
        with self._lock.write():
            self._reset_memory()
            self.lexical.clear()

    # -- search --------------------------------------------------------------------------

    def known_values(self, name: str) -> set[str]:
        """Values of a keyword field present in the index, as spelled (for messages)."""
        with self._lock.read():
            return {
                v
                for meta in self._docs.values()
                for v in meta["labels"].get(name, ())  # type: ignore[attr-defined]
            }

    def has_value(self, name: str, value: str) -> bool:
        """Whether any document carries this keyword value (normalised)."""
        return bool(self._keywords.get(name, {}).get(normalise(value)))

    def allowed_ids(self, filters: Mapping[str, Sequence[str]]) -> set[int] | None:
        """Ids passing all filters (None: no filter). Unknown fields raise KeyError."""
        allowed: set[int] | None = None
        for name, values in filters.items():
            if name not in self.keyword_fields:
                raise KeyError(name)
            index = self._keywords[name]
            keys = {normalise(v) for v in values}
            if self.keyword_fields[name]:
                keys.add(ANY)
            ids: set[int] = set()
            for key in keys:
                ids |= index.get(key, set())
            allowed = ids if allowed is None else allowed & ids
        return allowed

    def expand(self, text: str) -> Expansion:
        """The query's glossary groups, worked out once and shared by every lane."""
        return self.glossary.match(text)

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
    ) -> list[Candidate]:
        """Fused top-k for a query, each with the evidence of every lane.

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
        with self._lock.read():
            allowed = self.allowed_ids(filters)
            lexical: dict[int, float] = {}
            codes: dict[int, list[str]] = {}
            models: dict[int, list[str]] = {}
            # the lanes that need no vector go first: a query vector handed in as a
            # callable is being encoded meanwhile on another core
            if w.lexical:
                lex_filters = {
                    n: [normalise(v) for v in vals] + ([ANY] if self.keyword_fields[n] else [])
                    for n, vals in filters.items()
                }
                lexical = dict(
                    self.lexical.search(
                        text,
                        pool,
                        filters=lex_filters,
                        extra=extra,
                        extra_boost=w.synonyms,
                        extra_fields=self._synonym_fields(w),
                    )
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
            found_ids = [np.fromiter(lane, np.int64) for lane in (lexical, codes, models)]
            dense = bool(w.headline or w.body)
            if dense:
                allowed_arr = None if allowed is None else np.fromiter(allowed, dtype=np.int64)
                for vindex in (self.headline, self.body):
                    # their scores are not kept: every candidate's are computed below
                    hits = vindex.search(q, pool, allowed=allowed_arr)[1][0]
                    found_ids.append(hits[hits >= 0])
            ids = np.unique(np.concatenate(found_ids))
            lanes = self._lane_scores(ids, q if dense else None, lexical, codes, models)
        return fuse(lanes, w, k)

    def _synonym_fields(self, weights: FusionWeights) -> tuple[str, ...] | None:
        """The BM25 fields the glossary equivalents are looked for in (None: all)."""
        if weights.synonyms_in_headline or "body" not in self._boosts:
            return None
        return ("body",)

    def _lane_scores(
        self,
        ids: npt.NDArray[np.int64],
        q: Vectors | None,
        lexical: Mapping[int, float],
        codes: Mapping[int, list[str]],
        models: Mapping[int, list[str]],
    ) -> LaneScores:
        """The candidates' scores in every lane (dense ones only given a query vector `q`);
        a candidate found by one lane only still gets its exact dense scores."""
        id_list = ids.tolist()
        headline, body = np.zeros(len(ids)), np.zeros(len(ids))
        if q is not None and id_list:
            # a document the BM25 lane holds but the vectors do not (see `_load`) has none
            known = np.fromiter((i in self._docs for i in id_list), dtype=bool, count=len(ids))
            if known.any():
                held = ids[known]
                headline[known] = self.headline.get(held) @ q[0]
                body[known] = self.body.get(held) @ q[0]
        scores = np.fromiter((lexical.get(i, 0.0) for i in id_list), np.float64, len(ids))
        return LaneScores(ids, headline, body, scores, codes, models)

    # -- persistence ---------------------------------------------------------------------

    def save(self) -> None:
        """Persist vectors and the manifest atomically (the lexical lane commits on write)."""
        if self.path is None:
            return
        # one save at a time; searches go on while the files are written
        with self._lock.read(), self._save_lock:
            self.path.mkdir(parents=True, exist_ok=True)
            self.headline.save(self.path / "headline.faiss")
            self.body.save(self.path / "body.faiss")
            manifest = {"fingerprint": self.fingerprint(), "docs": self._docs}
            tmp = self.path / "manifest.json.tmp"
            with open(tmp, "wb") as fh:
                fh.write(orjson.dumps(manifest, default=sorted, option=orjson.OPT_NON_STR_KEYS))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / "manifest.json")

    def load(self) -> bool:
        """Load the persisted state if it is complete and fits this encoder; else start empty.

        Returns whether the persisted state was reused.
        """
        # the manifest is millions of small dicts and lists: with the cyclic collector
        # running every few thousand allocations, loading 100k documents took 4x longer
        with _gc_paused():
            return self._load()

    def _load(self) -> bool:
        self.loaded_from_disk = False
        if self.path is None:
            return False
        if not (self.path / "manifest.json").exists():
            log.info("no search index saved in %s yet: building it", self.path)
            self.clear()  # whatever a first build stopped half-way left in the lexical lane
            return False
        dim = self.encoder.dim
        # FAISS reads its files without holding the interpreter lock: both vector lanes
        # load on other threads while this one parses the manifest and builds the lookups
        # (about 0.1 s of the start-up at 100k articles)
        with ThreadPoolExecutor(2, thread_name_prefix="index-load") as loader:
            lanes = [
                loader.submit(VectorIndex.load, self.path / f"{name}.faiss", dim)
                for name in ("headline", "body")
            ]
            try:
                manifest = orjson.loads((self.path / "manifest.json").read_bytes())
                _check_fingerprint(manifest.get("fingerprint"), self.fingerprint())
                docs = {int(k): v for k, v in manifest["docs"].items()}
                keywords, codes, models = self._lookups(docs)
                headline, body = (lane.result() for lane in lanes)
                expected = set(docs)
                if not (
                    set(headline.ids().tolist()) == expected
                    and set(body.ids().tolist()) == expected
                ):
                    raise ValueError("the vector lanes disagree with the manifest")
            except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
                # a rebuild re-embeds every document (~40 min at 100k): say why at once.
                # The files on disk stay as they are until the rebuild saves, so a start
                # with the wrong settings stopped now loses only the BM25 lane (emptied
                # here), which the next load notices and the next sync indexes again
                log.warning(
                    "the search index in %s is not reused (%s: %s): rebuilding it from the "
                    "database",
                    self.path,
                    type(exc).__name__,
                    exc,
                )
                self.clear()
                return False
        # a count, not the id set (0.4 s at 100k): the lexical lane commits before the
        # manifest is saved, and a crash between the two, or a rebuild stopped after it
        # emptied the lane, leaves them apart; the vectors still fit, so the next sync
        # indexes the texts again (23 s at 100k) instead of re-embedding them (~40 min)
        lexical_count = len(self.lexical)
        if lexical_count != len(docs):
            log.warning(
                "the BM25 lane in %s holds %d documents, the manifest %d: the next sync "
                "indexes their texts again (the vectors are kept)",
                self.path,
                lexical_count,
                len(docs),
            )
        with self._lock.write():
            self.headline, self.body = headline, body
            self.codes, self.models = codes, models
            self._keywords = keywords
            self._docs = docs
        self.loaded_from_disk = True
        return True

    def _lookups(
        self, docs: Mapping[int, Any]
    ) -> tuple[dict[str, dict[str, set[int]]], ExactIndex, ExactIndex]:
        """The keyword filters and the exact lanes of persisted documents."""
        keywords: dict[str, dict[str, set[int]]] = {
            name: defaultdict(set) for name in self.keyword_fields
        }
        codes, models = ExactIndex(), ExactIndex()
        for doc_id, meta in docs.items():
            for name, values in meta["keywords"].items():
                for v in values:
                    keywords[name][v].add(doc_id)
            codes.put(doc_id, meta["codes"])
            models.put(doc_id, meta["models"])
        return keywords, codes, models

    def _reindex_lexical(
        self,
        fetch: Callable[[Sequence[int]], Sequence[Document]],
        *,
        progress: Progress | None = None,
    ) -> None:
        """Index the texts of every loaded document again in the BM25 lane, keeping
        their vectors (documents `fetch` no longer returns are left to the sync)."""
        ids = list(self.versions())
        self.lexical.clear()
        for docs in _fetched(ids, fetch, progress, chunk=2048):
            with self._lock.write():
                self.lexical.upsert([_lexical_doc(d, self._keyword_values(d)) for d in docs])

    def sync(
        self,
        current: Mapping[int, int],
        fetch: Callable[[Sequence[int]], Sequence[Document]],
        *,
        progress: Progress | None = None,
    ) -> SyncReport:
        """Make the index match `current` (id -> version), fetching only what differs."""
        with self._lock.read():
            # every indexed document is in both lanes, but for what `_load` warns of
            lexical_short = len(self.lexical) != len(self._docs)
        if lexical_short:
            self._reindex_lexical(fetch, progress=progress)
        indexed = self.versions()
        report = SyncReport(rebuilt=not indexed and bool(current))
        stale = [i for i in indexed if i not in current]
        todo = [i for i, v in current.items() if indexed.get(i) != v]
        report.removed = len(stale)
        report.updated = sum(1 for i in todo if i in indexed)
        report.added = len(todo) - report.updated
        if stale:
            self.remove(stale)
        for docs in _fetched(todo, fetch, progress, chunk=1024):
            self.upsert(list(docs))
        if stale or todo or lexical_short:
            self.save()
        return report
