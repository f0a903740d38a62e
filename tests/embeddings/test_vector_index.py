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


def _clustered(n: int, dim: int = 64, clusters: int = 200, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    v = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _exact(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-(q @ vecs.T), axis=1)[:, :k]
    return ids[order]


def test_index_past_threshold_is_ivf_with_recall_at_10_of_099() -> None:
    vecs = _clustered(12_000)
    ids = np.arange(1000, 13_000, dtype=np.int64)
    index = VectorIndex(64, ivf_threshold=3_000)
    for start in range(0, len(ids), 2_000):  # incremental adds cross the threshold
        index.add(ids[start : start + 2000], vecs[start : start + 2000])
    assert index.kind == "ivf"
    # queries near the data but not on it, as a query is to the articles it finds
    rng = np.random.default_rng(9)
    queries = vecs[rng.choice(len(vecs), 300)] + 0.15 * rng.normal(size=(300, 64))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    _, found = index.search(queries, 10)
    truth = _exact(vecs, ids, queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.99, recall


def test_ivf_selective_filter_returns_a_full_exact_page() -> None:
    vecs = _clustered(8_000)
    ids = np.arange(8_000, dtype=np.int64)
    index = VectorIndex(64, ivf_threshold=2_000)
    index.add(ids, vecs)
    rng = np.random.default_rng(3)
    allowed = rng.choice(ids, 40, replace=False)
    queries = _clustered(20, seed=5)
    _, found = index.search(queries, 10, allowed=allowed)
    truth = _exact(vecs[allowed], allowed, queries, 10)
    assert (found >= 0).all(), "no filtered-away result leaves a page short"
    assert [set(f) for f in found] == [set(t) for t in truth]


def test_ivf_remove_update_and_reload(tmp_path: Path) -> None:
    vecs = _clustered(5_000)
    ids = np.arange(5_000, dtype=np.int64)
    index = VectorIndex(64, ivf_threshold=1_000)
    index.add(ids, vecs)
    assert index.remove([0, 1, 2]) == 3
    index.add([7], vecs[100:101])  # update in place: id 7 now holds vector 100
    _, found = index.search(vecs[100:101], 2)
    assert set(found[0].tolist()) == {7, 100}
    _, found = index.search(vecs[0:1], 5)
    assert 0 not in found[0].tolist()
    index.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", 64)
    assert loaded.kind == "ivf"
    assert len(loaded) == 4_997
    np.testing.assert_allclose(loaded.get([7]), vecs[100:101], atol=1e-6)
    loaded.remove([7])
    assert 7 not in loaded


def test_search_threads_apply_in_every_searching_thread() -> None:
    """OpenMP keeps its thread count per thread: a server's worker threads must get the
    configured count too, or idle OpenMP helpers spin after every search."""
    import threading

    import faiss

    from embeddings.vector_index import set_search_threads

    index = VectorIndex(8)
    vectors = np.eye(8, dtype=np.float32)
    index.add(range(8), vectors)
    seen: list[int] = []

    def worker() -> None:
        index.search(vectors[:1], 3)
        seen.append(faiss.omp_get_max_threads())

    set_search_threads(1)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    finally:
        set_search_threads(0)
    assert seen == [1]
