"""A FAISS vector index keyed by integer ids: exact below a size threshold, IVF above,
with allow-list filtering that never leaves a page short, and atomic persistence."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from embeddings.encoder import Vectors

Ids = npt.NDArray[np.int64]
IVF_THRESHOLD = 5_000  # beyond, a flat scan weighs on every search (docs/benchmarks.md)
RECALL_TARGET = 0.995  # on the calibration sample, so real queries keep >= 0.99

_search_threads = 0  # 0: OpenMP's default (every core)
_pinned = threading.local()


def set_search_threads(n: int) -> None:
    """OpenMP threads per FAISS search from now on, in every thread that searches.

    OpenMP keeps its thread count per calling thread, so setting it once at start-up
    leaves the server's worker threads on the default; their idle OpenMP helpers then
    spin after every search (several times the CPU of a single-client search, measured;
    docs/benchmarks.md). Each searching thread applies this setting before its next
    search.
    """
    global _search_threads
    _search_threads = max(n, 0)
    if _search_threads:
        faiss.omp_set_num_threads(_search_threads)
        _pinned.threads = _search_threads


def _pin_threads() -> None:
    if _search_threads and getattr(_pinned, "threads", None) != _search_threads:
        faiss.omp_set_num_threads(_search_threads)
        _pinned.threads = _search_threads


class VectorIndex:
    """Inner-product search over unit vectors; ids are the caller's int64 keys.

    Below `ivf_threshold` vectors the index is an exact flat scan. At the threshold it is
    rebuilt as IVF (trained on the vectors it holds; retrained each time it doubles),
    which removes ids natively and searches `nprobe` of its lists, the smallest number
    measured to keep recall@10 against exact search at RECALL_TARGET. A filtered search that
    comes back short is repeated over every list, so filters stay exact at any size.
    `add` replaces an id that is already present (FAISS itself would keep both copies).
    """

    def __init__(
        self, dim: int, *, ivf_threshold: int = IVF_THRESHOLD, nprobe: int | None = None
    ) -> None:
        self.dim = dim
        self.ivf_threshold = ivf_threshold
        self.nprobe = nprobe
        self._ids: set[int] = set()
        self._trained_on = 0
        self.recall = 1.0  # measured recall@10 of the current IVF setting
        self._quantizer: faiss.Index | None = None
        self._owner: object = None
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def kind(self) -> str:
        """ "flat" (exact) or "ivf"."""
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: int) -> bool:
        return int(key) in self._ids

    def ids(self) -> Ids:
        """All ids currently in the index."""
        return np.fromiter(self._ids, dtype=np.int64, count=len(self._ids))

    def add(self, ids: Iterable[int], vectors: Vectors) -> None:
        """Insert or replace vectors for the given ids."""
        id_arr = np.asarray(list(ids), dtype=np.int64)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(id_arr) != len(vecs):
            raise ValueError(f"{len(id_arr)} ids for {len(vecs)} vectors")
        if len(np.unique(id_arr)) != len(id_arr):
            raise ValueError("duplicate ids in one add")
        self.remove(id_arr)
        if len(id_arr) == 0:
            return
        self._index.add_with_ids(vecs, id_arr)
        self._ids.update(id_arr.tolist())
        if len(self) >= self.ivf_threshold and len(self) >= 2 * max(self._trained_on, 1):
            self._rebuild_ivf()

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids (absent ids are ignored); returns how many were removed."""
        present = [int(i) for i in ids if int(i) in self._ids]
        if not present:
            return 0
        arr = np.asarray(present, dtype=np.int64)
        if self.kind == "ivf":
            # the IVF hashtable direct map only accepts an array selector
            self._index.remove_ids(faiss.IDSelectorArray(len(arr), faiss.swig_ptr(arr)))
        else:
            self._index.remove_ids(faiss.IDSelectorBatch(arr))
        self._ids.difference_update(present)
        return len(present)

    def get(self, ids: Iterable[int]) -> Vectors:
        """Stored vectors for ids (all must be present)."""
        id_arr = np.ascontiguousarray(list(ids), dtype=np.int64)
        if len(id_arr) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # one call, the id look-ups in C++ (a Python loop of reconstructs was a measurable
        # part of each search lane)
        out: Vectors = self._index.reconstruct_batch(id_arr)
        return out

    def _rebuild_ivf(self) -> None:
        ids = np.sort(self.ids())
        vecs = self.get(ids)
        # about 4·sqrt(n) lists, but at least ~40 training points per list
        nlist = max(16, min(int(4 * math.sqrt(len(ids))), len(ids) // 40))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vecs)
        # a hashtable direct map lets IVF reconstruct and remove by id
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        ivf.add_with_ids(vecs, ids)
        ivf.nprobe = self.nprobe or self._calibrate(ivf, ids, vecs)
        self._quantizer, self._index, self._trained_on = quantizer, ivf, len(ids)

    def _calibrate(self, ivf: faiss.IndexIVF, ids: Ids, vecs: Vectors) -> int:
        """Smallest nprobe whose recall@10 against an exact scan is >= RECALL_TARGET, on
        query-like probes: stored vectors pushed away from themselves (cosine about 0.65,
        as a query is to the article it finds)."""
        rng = np.random.default_rng(0)
        sample = vecs[rng.choice(len(ids), size=min(200, len(ids)), replace=False)]
        noise = rng.normal(size=sample.shape).astype(np.float32)
        noise *= 1.2 / np.linalg.norm(noise, axis=1, keepdims=True)
        queries = sample + noise
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
        truth = [set(ids[row].tolist()) for row in exact]
        nprobe = 8
        while nprobe < ivf.nlist:
            params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
            _, found = ivf.search(queries, 10, params=params)
            hits = sum(len(t & set(f.tolist())) for t, f in zip(truth, found, strict=True))
            self.recall = hits / (10 * len(truth))
            if self.recall >= RECALL_TARGET:
                return nprobe
            nprobe *= 2
        self.recall = 1.0
        return int(ivf.nlist)

    def search(
        self, queries: Vectors, k: int, *, allowed: Ids | None = None
    ) -> tuple[npt.NDArray[np.float32], Ids]:
        """Top-k (scores, ids) per query; `allowed` restricts the search to those ids.

        Rows are padded with id -1 only when fewer than k vectors qualify.
        """
        _pin_threads()
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = max(1, min(k, len(self) or 1))
        if len(self) == 0 or (allowed is not None and len(allowed) == 0):
            return (
                np.zeros((len(q), k), dtype=np.float32),
                np.full((len(q), k), -1, dtype=np.int64),
            )
        selector = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        if self.kind == "flat":
            params = faiss.SearchParameters(sel=selector) if selector else None  # type: ignore[call-arg]
            return self._index.search(q, k, params=params)
        ivf: faiss.IndexIVF = self._index  # type: ignore[assignment]
        params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)  # type: ignore[call-arg]
        scores, found = ivf.search(q, k, params=params)
        wanted = min(k, len(self) if allowed is None else len(allowed))
        if (found >= 0).sum(axis=1).min() < wanted:
            # the probed lists held too few allowed vectors: scan every list (exact)
            params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nlist)  # type: ignore[call-arg]
            scores, found = ivf.search(q, k, params=params)
        return scores, found

    def save(self, path: Path) -> None:
        """Write the index and its id list atomically (temp file, fsync, rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        ids_path = path.with_suffix(".ids.npy")
        ids_tmp = path.with_suffix(".ids.tmp.npy")
        np.save(ids_tmp, self.ids())
        os.replace(ids_tmp, ids_path)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, dim: int, *, ivf_threshold: int = IVF_THRESHOLD) -> VectorIndex:
        """Read an index written by `save`; ValueError if it does not fit `dim` or is
        incomplete."""
        raw = faiss.read_index(str(path))
        if raw.d != dim:
            raise ValueError(f"{path}: index dimension {raw.d}, expected {dim}")
        obj = cls(dim, ivf_threshold=ivf_threshold)
        faiss_index = faiss.downcast_index(raw)
        # the downcast wrapper does not own the C++ object: keep its owner alive
        obj._owner = raw
        if not isinstance(faiss_index, faiss.IndexIDMap2 | faiss.IndexIVF):
            raise ValueError(f"{path}: not an id-keyed index")
        obj._index = faiss_index
        ids = np.load(path.with_suffix(".ids.npy"))
        if len(ids) != faiss_index.ntotal:
            raise ValueError(f"{path}: {faiss_index.ntotal} vectors but {len(ids)} ids")
        obj._ids = set(ids.tolist())
        if isinstance(faiss_index, faiss.IndexIVF):
            obj._trained_on = int(faiss_index.ntotal)
        return obj
