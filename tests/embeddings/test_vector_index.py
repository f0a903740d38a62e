from pathlib import Path

import numpy as np

from embeddings.vector_index import VectorIndex


def _unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_add_same_id_twice_replaces_not_duplicates() -> None:
    index = VectorIndex(8)
    vecs = _unit(2)
    index.add([7], vecs[:1])
    index.add([7], vecs[1:])
    assert len(index) == 1
    scores, ids = index.search(vecs[1:], 1)
    assert ids[0][0] == 7
    assert scores[0][0] > 0.999


def test_search_with_allowed_ids_returns_only_those() -> None:
    index = VectorIndex(8)
    vecs = _unit(20)
    index.add(range(20), vecs)
    _, ids = index.search(vecs[:1], 5, allowed=np.array([3, 11], dtype=np.int64))
    assert set(ids[0][ids[0] >= 0].tolist()) == {3, 11}


def test_remove_ids_drops_them_from_results() -> None:
    index = VectorIndex(8)
    vecs = _unit(5)
    index.add(range(5), vecs)
    assert index.remove([0, 99]) == 1
    _, ids = index.search(vecs[:1], 5)
    assert 0 not in ids[0].tolist()


def test_save_and_load_keep_ids_and_vectors(tmp_path: Path) -> None:
    index = VectorIndex(8)
    vecs = _unit(10)
    index.add(range(100, 110), vecs)
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", 8)
    assert sorted(loaded.ids().tolist()) == list(range(100, 110))
    np.testing.assert_allclose(loaded.get([104]), vecs[4:5], atol=1e-6)
