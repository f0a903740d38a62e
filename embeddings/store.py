"""Persistence of a hybrid index: fingerprint, manifest (and its older format), load,
save, and the sync that repairs the index from the source of truth.

Each lane persists itself (FAISS files, the tantivy folder, the lookups' postings); the
store writes them side by side and, at load, checks that they still belong together.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson

from embeddings.lookups import Lookups
from embeddings.spelling import Speller
from embeddings.vector_index import VectorIndex

if TYPE_CHECKING:
    from embeddings.hybrid import Document, HybridIndex

log = logging.getLogger(__name__)

# 2: the manifest holds each lookup as columns (`ExactIndex.postings`) instead of a record
# per document; a format 1 manifest is read and rewritten (`Lookups.from_records`)
FORMAT = 2
# applied at query time: a persisted index stays valid when they change (the BM25 lane
# checks its own fields when it opens)
_QUERY_TIME_SETTINGS = ("lexical_boosts",)
# what a saved index that is incomplete, malformed or from other code raises at load
_UNUSABLE = (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError)
# the spelling vocabulary (word -> count): a file of its own, so an index saved before
# it existed is reused as it is (its vocabulary read from the texts by the next sync)
VOCABULARY = "spelling.json"
Progress = Callable[[int, int], None]
Fetch = Callable[[Sequence[int]], Sequence["Document"]]


@dataclass
class SyncReport:
    """What `sync` changed."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    rebuilt: bool = False


def check_fingerprint(saved: object, current: Mapping[str, object]) -> None:
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


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    # no collection first: at start-up it found nothing to free and only cost time; at
    # worst the freeze below keeps a little garbage of the imports
    gc.disable()
    try:
        yield
    finally:
        # what was loaded lives as long as the process: kept out of every later
        # collection, which would otherwise walk all of it
        gc.freeze()
        if enabled:
            gc.enable()


def _fetched(
    ids: Sequence[int], fetch: Fetch, progress: Progress | None, *, chunk: int
) -> Iterator[Sequence[Document]]:
    """The documents of `ids`, fetched `chunk` at a time; progress is reported once the
    caller is done with each chunk."""
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        yield fetch(part)
        if progress:
            progress(start + len(part), len(ids))


class IndexStore:
    """Where a hybrid index lives on disk (its `path`; None: in memory only): the two
    vector files and the manifest beside the BM25 lane's own folder."""

    def __init__(self, hybrid: HybridIndex) -> None:
        self.hybrid = hybrid
        self._save_lock = threading.Lock()  # one save at a time
        self.loaded_from_disk = False
        # the vocabulary file was missing or unreadable: the next sync reads the texts again
        self.vocabulary_lost = False
        self._saved_vocabulary: int | None = None  # the speller's generation on disk

    def fingerprint(self) -> dict[str, object]:
        """What a persisted index must match to be reused."""
        hybrid = self.hybrid
        return {
            "format": FORMAT,
            "encoder": hybrid.encoder.name,
            "dim": hybrid.encoder.dim,
            "keyword_fields": sorted(hybrid.keyword_fields),
            "lexical_boosts": hybrid.lexical_boosts,
            "body_max_tokens": hybrid.body_max_tokens,
        }

    def save(self) -> None:
        """Persist vectors and the manifest atomically (the lexical lane commits on write)."""
        path = self.hybrid.path
        if path is None:
            return
        # searches go on while the files are written
        with self.hybrid.lock.read(), self._save_lock:
            path.mkdir(parents=True, exist_ok=True)
            self.hybrid.headline.save(path / "headline.faiss")
            self.hybrid.body.save(path / "body.faiss")
            # before the manifest: a crash between the two leaves a vocabulary with more
            # words, never one without the words of documents the manifest holds
            self._save_vocabulary(path)
            self._save_manifest(path)

    def _save_vocabulary(self, path: Path) -> None:
        """Write the spelling vocabulary if it changed (the caller holds the locks); one
        still being read again is not written."""
        speller = self.hybrid.speller
        if not speller.complete:
            return
        if speller.generation != self._saved_vocabulary or not (path / VOCABULARY).exists():
            speller.save(path / VOCABULARY)
            self._saved_vocabulary = speller.generation

    def _save_manifest(self, path: Path) -> None:
        """Write the manifest atomically (the caller holds the read and save locks)."""
        manifest = {"fingerprint": self.fingerprint(), **self.hybrid.lookups.postings()}
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
        # the lookups are many small objects: the cyclic collector, running every few
        # thousand allocations, made a large load several times slower
        with _gc_paused():
            return self._load()

    def _load(self) -> bool:
        hybrid, path = self.hybrid, self.hybrid.path
        self.loaded_from_disk = False
        self.vocabulary_lost = False
        if path is None:
            return False
        if not (path / "manifest.json").exists():
            log.info("no search index saved in %s yet: building it", path)
            hybrid.clear()  # whatever a first build stopped half-way left in the lexical lane
            return False
        dim = hybrid.encoder.dim
        # FAISS reads its files without holding the interpreter lock: both vector lanes
        # load on other threads while this one parses the manifest and builds the lookups
        with ThreadPoolExecutor(2, thread_name_prefix="index-load") as loader:
            lanes = [
                loader.submit(VectorIndex.load, path / f"{name}.faiss", dim)
                for name in ("headline", "body")
            ]
            try:
                manifest = orjson.loads((path / "manifest.json").read_bytes())
                saved = manifest.get("fingerprint")
                older = isinstance(saved, dict) and saved.get("format") == 1
                check_fingerprint(saved, {**self.fingerprint(), "format": 1 if older else FORMAT})
                fields = hybrid.keyword_fields
                lookups = (
                    Lookups.from_records(manifest["docs"], fields)
                    if older
                    else Lookups.from_postings(manifest, fields)
                )
                headline, body = (lane.result() for lane in lanes)
                expected = np.sort(np.fromiter(lookups.versions, np.int64, len(lookups.versions)))
                if not all(
                    np.array_equal(np.sort(lane.ids()), expected) for lane in (headline, body)
                ):
                    raise ValueError("the vector lanes disagree with the manifest")
            except _UNUSABLE as exc:
                # a rebuild re-embeds every document, which takes long: say why at once.
                # The files on disk stay as they are until the rebuild saves, so a start
                # with the wrong settings stopped now loses only the BM25 lane (emptied
                # here), which the next load notices and the next sync indexes again
                log.warning(
                    "the search index in %s is not reused (%s: %s): rebuilding it from the "
                    "database",
                    path,
                    type(exc).__name__,
                    exc,
                )
                hybrid.clear()
                return False
        # a count, not the id set (cheaper): the lexical lane commits before the manifest
        # is saved, and a crash between the two, or a rebuild stopped after it emptied the
        # lane, leaves them apart; the vectors still fit, so the next sync indexes the
        # texts again instead of re-embedding them (far slower)
        lexical_count = len(hybrid.lexical)
        if lexical_count != len(lookups.versions):
            log.warning(
                "the BM25 lane in %s holds %d documents, the manifest %d: the next sync "
                "indexes their texts again (the vectors are kept)",
                path,
                lexical_count,
                len(lookups.versions),
            )
        hybrid.install(headline, body, lookups)
        self._load_vocabulary(path, documents=len(lookups.versions))
        if older:
            # once: the next start reads the quicker format (the vector files are unchanged)
            with hybrid.lock.read(), self._save_lock:
                self._save_manifest(path)
            log.info("search index in %s: manifest rewritten in format %d", path, FORMAT)
        self.loaded_from_disk = True
        return True

    def _load_vocabulary(self, path: Path, *, documents: int) -> None:
        """Install the saved spelling vocabulary; without a usable one, correction waits
        for the next sync, which reads it from the texts (not a reason to re-embed)."""
        try:
            counts = Speller.read(path / VOCABULARY)
        except _UNUSABLE as exc:
            self.hybrid.install_vocabulary({}, complete=not documents)
            self.vocabulary_lost = bool(documents)
            if documents:
                log.warning(
                    "the spelling vocabulary in %s is not usable (%s: %s): the next sync "
                    "reads it from the texts (the index is kept)",
                    path,
                    type(exc).__name__,
                    exc,
                )
            return
        self.hybrid.install_vocabulary(counts)
        self._saved_vocabulary = self.hybrid.speller.generation

    def _reindex_texts(
        self, fetch: Fetch, *, lexical: bool, vocabulary: bool, progress: Progress | None = None
    ) -> None:
        """Read the texts of every loaded document again into the BM25 lane (`lexical`)
        and the spelling vocabulary (`vocabulary`), keeping their vectors (documents
        `fetch` no longer returns are left to the sync)."""
        hybrid = self.hybrid
        ids = list(hybrid.versions())
        if lexical:
            hybrid.lexical.clear()
        if vocabulary:
            hybrid.install_vocabulary({}, complete=False)
        for docs in _fetched(ids, fetch, progress, chunk=2048):
            if lexical:
                hybrid.reindex_texts(docs)
            if vocabulary:
                hybrid.learn_words(docs)
        if vocabulary:
            hybrid.speller.complete = True
            self.vocabulary_lost = False

    def sync(
        self, current: Mapping[int, int], fetch: Fetch, *, progress: Progress | None = None
    ) -> SyncReport:
        """Make the index match `current` (id -> version), fetching only what differs."""
        hybrid = self.hybrid
        with hybrid.lock.read():
            # every indexed document is in both lanes, but for what `_load` warns of
            lexical_short = len(hybrid.lexical) != len(hybrid)
        vocabulary_lost = self.vocabulary_lost
        reread = lexical_short or vocabulary_lost
        if reread:
            self._reindex_texts(
                fetch, lexical=lexical_short, vocabulary=vocabulary_lost, progress=progress
            )
        indexed = hybrid.versions()
        if indexed == current and not reread:
            return SyncReport()  # the usual start: one comparison in C, no loop per document
        report = SyncReport(rebuilt=not indexed and bool(current))
        stale = [i for i in indexed if i not in current]
        todo = [i for i, v in current.items() if indexed.get(i) != v]
        report.removed = len(stale)
        report.updated = sum(1 for i in todo if i in indexed)
        report.added = len(todo) - report.updated
        if stale:
            hybrid.remove(stale)
        for docs in _fetched(todo, fetch, progress, chunk=1024):
            hybrid.upsert(list(docs))
        if stale or todo or reread:
            self.save()
        return report
