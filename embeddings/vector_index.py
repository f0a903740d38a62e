"""A FAISS vector index keyed by integer ids, with allow-list filtering and persistence."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from embeddings.encoder import Vectors

Ids = npt.NDArray[np.int64]


class VectorIndex:
    """Exact inner-product search over unit vectors; ids are the caller's int64 keys.

    `add` replaces an id that is already present: FAISS's IndexIDMap2 would silently keep
    both copies, so uniqueness is enforced here.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._owner: object = None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __contains__(self, key: int) -> bool:
        return bool(self._has(np.array([key], dtype=np.int64))[0])

    def _has(self, ids: Ids) -> npt.NDArray[np.bool_]:
        if len(self) == 0:
            return np.zeros(len(ids), dtype=bool)
        present = faiss.vector_to_array(self._index.id_map)
        return np.isin(ids, present)

    def ids(self) -> Ids:
        """All ids currently in the index."""
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: Iterable[int], vectors: Vectors) -> None:
        """Insert or replace vectors for the given ids."""
        id_arr = np.asarray(list(ids), dtype=np.int64)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(id_arr) != len(vecs):
            raise ValueError(f"{len(id_arr)} ids for {len(vecs)} vectors")
        if len(np.unique(id_arr)) != len(id_arr):
            raise ValueError("duplicate ids in one add")
        self.remove(id_arr)
        if len(id_arr):
            self._index.add_with_ids(vecs, id_arr)

    def remove(self, ids: Iterable[int]) -> int:
        """Remove ids (absent ids are ignored); returns how many were removed."""
        id_arr = np.asarray(list(ids), dtype=np.int64)
        if len(id_arr) == 0 or len(self) == 0:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(id_arr)))

    def get(self, ids: Iterable[int]) -> Vectors:
        """Stored vectors for ids (all must be present)."""
        id_arr = np.asarray(list(ids), dtype=np.int64)
        out = np.zeros((len(id_arr), self.dim), dtype=np.float32)
        for row, key in enumerate(id_arr):
            out[row] = self._index.reconstruct(int(key))
        return out

    def search(
        self, queries: Vectors, k: int, *, allowed: Ids | None = None
    ) -> tuple[npt.NDArray[np.float32], Ids]:
        """Top-k (scores, ids) per query; `allowed` restricts the search to those ids.

        Rows are padded with id -1 when fewer than k vectors qualify.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        k = max(1, min(k, len(self) or 1))
        if len(self) == 0 or (allowed is not None and len(allowed) == 0):
            return (
                np.zeros((len(q), k), dtype=np.float32),
                np.full((len(q), k), -1, dtype=np.int64),
            )
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(
                sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))  # type: ignore[call-arg]
            )
        scores, ids = self._index.search(q, k, params=params)
        return scores, ids

    def save(self, path: Path) -> None:
        """Write the index atomically (write to a temp file, fsync, rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, dim: int) -> VectorIndex:
        """Read an index written by `save`; raises ValueError if it does not fit `dim`."""
        raw = faiss.read_index(str(path))
        if raw.d != dim:
            raise ValueError(f"{path}: index dimension {raw.d}, expected {dim}")
        obj = cls(dim)
        obj._index = faiss.downcast_index(raw)  # type: ignore[assignment]
        # the downcast wrapper does not own the C++ object: keep its owner alive
        obj._owner = raw
        if not isinstance(obj._index, faiss.IndexIDMap2):
            raise ValueError(f"{path}: not an id-mapped index")
        return obj
