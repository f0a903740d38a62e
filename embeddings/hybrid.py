"""The hybrid index: two dense fields, a BM25 lane, an exact lane and keyword filters.

It owns persistence and consistency of all lanes; the caller owns the documents (the
database is the source of truth) and repairs the index from it with `sync`.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
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

# 2: the manifest holds each lookup as columns (`ExactIndex.postings`) instead of a record
# per document; a format 1 manifest is read and rewritten (`_from_records`)
FORMAT = 2
ANY = "*"  # keyword stored for an empty list: "applies to all" for wildcard fields
TEXT_FIELDS = ("headline", "body")
DEFAULT_BM25_FIELDS: Mapping[str, float] = {"headline": 2.0, "body": 1.0}
# applied at query time: a persisted index stays valid when they change (the BM25 lane
# checks its own fields when it opens)
_QUERY_TIME_SETTINGS = ("lexical_boosts",)
Progress = Callable[[int, int], None]
# field -> normalised value -> document -> the value as that document spells it
Filters = dict[str, ExactIndex]


def _filters(fields: Iterable[str]) -> Filters:
    return {name: ExactIndex(min_length=1) for name in fields}


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    # no collection first: at start-up it found nothing to free and cost 0.15 s (machine
    # E); at worst the freeze below keeps a little garbage of the imports
    gc.disable()
    try:
        yield
    finally:
        # what was loaded lives as long as the process: kept out of every later
        # collection, which would otherwise walk it (~0.3 M objects at 100k)
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
class _Lookups:
    """Everything but the vectors and the BM25 lane, as persisted in the manifest."""

    versions: dict[int, int]
    filters: Filters
    codes: ExactIndex
    models: ExactIndex

    def lanes(self) -> list[ExactIndex]:
        """Every lookup keyed by document."""
        return [*self.filters.values(), self.codes, self.models]


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


def _lexical_doc(doc: Document, keywords: Mapping[str, Mapping[str, str]]) -> LexicalDoc:
    values = {name: list(spelled) for name, spelled in keywords.items()}
    return LexicalDoc(doc.id, {"headline": doc.headline, "body": doc.body}, values)


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
        self._prepare_lock = threading.Lock()
        self.loaded_from_disk = False
        self.lexical = self._open_lexical()
        self.glossary = Glossary(glossary_groups, self.lexical.query_terms)
        self._reset_memory()

    # -- state ---------------------------------------------------------------------------

    def _reset_memory(self) -> None:
        self.headline = VectorIndex(self.encoder.dim)
        self.body = VectorIndex(self.encoder.dim)
        # postings only, no record per document: 100k documents load from disk as a few
        # long lists (a record each meant ~1.5 M objects to rebuild at every start)
        self._lookups = _Lookups({}, _filters(self.keyword_fields), ExactIndex(), ExactIndex())

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

    @property
    def codes(self) -> ExactIndex:
        """The exact lane of error codes."""
        return self._lookups.codes

    @property
    def models(self) -> ExactIndex:
        """The exact lane of model names."""
        return self._lookups.models

    @property
    def _versions(self) -> dict[int, int]:
        return self._lookups.versions

    def __len__(self) -> int:
        return len(self._versions)

    def version(self, doc_id: int) -> int | None:
        """The indexed version of one document (None when it is not indexed)."""
        return self._versions.get(doc_id)

    def versions(self) -> dict[int, int]:
        """id -> indexed version, for comparison with the source of truth."""
        with self._lock.read():
            return dict(self._versions)

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

    def _keyword_values(self, doc: Document) -> dict[str, dict[str, str]]:
        """Each filter field's normalised values (ANY for none on a wildcard field), with
        the document's spelling of each."""
        out: dict[str, dict[str, str]] = {}
        for name, wildcard in self.keyword_fields.items():
            spelled = {normalise(v): v for v in doc.keywords.get(name, ()) if normalise(v)}
            if not spelled and wildcard:
                spelled = {ANY: ANY}
            out[name] = dict(sorted(spelled.items()))
        return out

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
        with self._lock.write():
            self._forget(ids)
            self.headline.add(ids, heads)
            self.body.add(ids, bodies)
            lexdocs = []
            for doc in batch:
                kw = self._keyword_values(doc)
                for name, spelled in kw.items():
                    self._lookups.filters[name].add(doc.id, spelled)
                self.codes.add(doc.id, self.codes.keyed(doc.codes))
                self.models.add(doc.id, self.models.keyed(doc.models))
                self._versions[doc.id] = doc.version
                lexdocs.append(_lexical_doc(doc, kw))
            self.lexical.upsert(lexdocs)

    def prepare_writes(self) -> None:
        """Turn the lookups a load left as read-only columns into what writes change
        (once after a load, ~0.5-1 s of CPU at 100k; under the read lock, so that searches
        go on meanwhile). Writes call it first: the first write after a start pays for it,
        not the start and not the searches."""
        with self._lock.read(), self._prepare_lock:
            for lane in self._lookups.lanes():
                lane.prepare_writes()

    def _forget(self, ids: Iterable[int]) -> None:
        """Drop documents from the lookups (the caller holds the write lock)."""
        gone = [i for i in ids if self._versions.pop(i, None) is not None]
        for lane in self._lookups.lanes():
            lane.remove(gone)

    def remove(self, ids: Iterable[int]) -> None:
        """Remove documents (absent ids are ignored)."""
        id_list = [int(i) for i in ids]
        self.prepare_writes()
        with self._lock.write():
            self._forget(id_list)
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
            return self._lookups.filters[name].spellings(skip=ANY)

    def has_value(self, name: str, value: str) -> bool:
        """Whether any document carries this keyword value (normalised)."""
        lane = self._lookups.filters.get(name)
        return lane is not None and bool(lane.held(normalise(value)))

    def allowed_ids(self, filters: Mapping[str, Sequence[str]]) -> set[int] | None:
        """Ids passing all filters (None: no filter). Unknown fields raise KeyError."""
        allowed: set[int] | None = None
        for name, values in filters.items():
            if name not in self.keyword_fields:
                raise KeyError(name)
            lane = self._lookups.filters[name]
            keys = {normalise(v) for v in values}
            if self.keyword_fields[name]:
                keys.add(ANY)
            ids: set[int] = set()
            for key in keys:
                ids.update(lane.held(key))
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
                    text,
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
            # a document the BM25 lane holds but the vectors do not (see `_load`) has none;
            # the other lanes only find documents the vectors hold
            versions = self._versions
            unknown = [i for i in lex_ids.tolist() if i not in versions]
            known = ~np.isin(ids, unknown) if unknown else slice(None)
            held = ids[known]
            headline[known] = self.headline.get(held) @ q[0]
            body[known] = self.body.get(held) @ q[0]
        scores = np.zeros(n)
        scores[np.searchsorted(ids, lex_ids)] = lex_scores
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
            self._save_manifest(self.path)

    def _save_manifest(self, path: Path) -> None:
        """Write the manifest atomically (the caller holds the read and save locks)."""
        manifest = {
            "fingerprint": self.fingerprint(),
            "ids": list(self._versions),
            "versions": list(self._versions.values()),
            "filters": {name: lane.postings() for name, lane in self._lookups.filters.items()},
            "codes": self.codes.postings(),
            "models": self.models.postings(),
        }
        tmp = path / "manifest.json.tmp"
        with open(tmp, "wb") as fh:
            fh.write(orjson.dumps(manifest))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path / "manifest.json")

    def load(self) -> bool:
        """Load the persisted state if it is complete and fits this encoder; else start empty.

        Returns whether the persisted state was reused.
        """
        # the lookups are hundreds of thousands of objects: with the cyclic collector
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
                saved = manifest.get("fingerprint")
                older = isinstance(saved, dict) and saved.get("format") == 1
                _check_fingerprint(saved, {**self.fingerprint(), "format": 1 if older else FORMAT})
                lookups = self._from_records(manifest["docs"]) if older else self._read(manifest)
                headline, body = (lane.result() for lane in lanes)
                expected = np.sort(np.fromiter(lookups.versions, np.int64, len(lookups.versions)))
                if not all(
                    np.array_equal(np.sort(lane.ids()), expected) for lane in (headline, body)
                ):
                    raise ValueError("the vector lanes disagree with the manifest")
            except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as exc:
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
        if lexical_count != len(lookups.versions):
            log.warning(
                "the BM25 lane in %s holds %d documents, the manifest %d: the next sync "
                "indexes their texts again (the vectors are kept)",
                self.path,
                lexical_count,
                len(lookups.versions),
            )
        with self._lock.write():
            self.headline, self.body = headline, body
            self._lookups = lookups
        if older:
            # once: the next start reads the quicker format (the vector files are unchanged)
            with self._lock.read(), self._save_lock:
                self._save_manifest(self.path)
            log.info("search index in %s: manifest rewritten in format %d", self.path, FORMAT)
        self.loaded_from_disk = True
        return True

    def _read(self, manifest: Mapping[str, Any]) -> _Lookups:
        """The lookups of a format 2 manifest: a few long lists, read in place (no step
        per document in Python; see `ExactIndex.from_postings`)."""
        ids, versions = manifest["ids"], manifest["versions"]
        by_id = dict(zip(ids, versions, strict=True))
        if len(by_id) != len(ids):
            raise ValueError("the manifest lists a document twice")
        saved = manifest["filters"]
        return _Lookups(
            by_id,
            {n: ExactIndex.from_postings(saved[n], min_length=1) for n in self.keyword_fields},
            ExactIndex.from_postings(manifest["codes"]),
            ExactIndex.from_postings(manifest["models"]),
        )

    def _from_records(self, records: Mapping[str, Any]) -> _Lookups:
        """The lookups of a format 1 manifest (a record per document)."""
        out = _Lookups({}, _filters(self.keyword_fields), ExactIndex(), ExactIndex())
        for key, meta in records.items():
            doc_id = int(key)
            out.versions[doc_id] = int(meta["version"])
            labels = meta["labels"]
            for name, values in meta["keywords"].items():
                spelled = {normalise(v): v for v in labels.get(name, ())}
                out.filters[name].add(doc_id, {v: spelled.get(v, v) for v in values})
            out.codes.add(doc_id, out.codes.keyed(meta["codes"]))
            out.models.add(doc_id, out.models.keyed(meta["models"]))
        return out

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
            lexical_short = len(self.lexical) != len(self._versions)
        if lexical_short:
            self._reindex_lexical(fetch, progress=progress)
        indexed = self.versions()
        if indexed == current and not lexical_short:
            return SyncReport()  # the usual start: one comparison in C, no loop per document
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
