import numpy as np
import pytest

from embeddings.cache import VectorCache


def _vec(x: float) -> np.ndarray:
    return np.full(4, x, dtype=np.float32)


def test_get_vector_after_put_returns_it_read_only() -> None:
    cache = VectorCache(2)
    original = _vec(1.0)
    cache.put("tube arcing", original)
    original[:] = 9.0  # the caller's array may change; the kept copy must not
    kept = cache.get("tube arcing")
    assert kept is not None
    assert kept.tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="read-only"):
        kept[0] = 0.0
    assert (cache.hits, cache.misses) == (1, 0)


def test_put_vector_beyond_size_drops_least_recently_used() -> None:
    cache = VectorCache(2)
    cache.put("a", _vec(1))
    cache.put("b", _vec(2))
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put("c", _vec(3))
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert len(cache) == 2


def test_put_vector_with_size_zero_keeps_nothing() -> None:
    cache = VectorCache(0)
    cache.put("a", _vec(1))
    assert cache.get("a") is None
    assert len(cache) == 0
