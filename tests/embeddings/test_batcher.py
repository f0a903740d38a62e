import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pytest

from embeddings.batcher import MicroBatcher
from embeddings.encoder import Encoder


def _in_threads(work: Callable[[Any], None], args: Iterable[Any]) -> None:
    """`work(arg)` for every arg, each on a thread of its own; returns when all are done."""
    threads = [threading.Thread(target=work, args=(arg,)) for arg in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_encodes_share_batches_and_match_direct_encoding(
    encoder: Encoder,
) -> None:
    texts = [f"the table will not move, case {i}" for i in range(24)]
    batcher = MicroBatcher(encoder.encode, max_batch=16, max_wait_ms=20)
    out: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(len(texts))

    def work(i: int) -> None:
        barrier.wait()
        out[i] = batcher.encode_one(texts[i])

    _in_threads(work, range(len(texts)))
    batcher.close()
    assert batcher.items == len(texts)
    assert batcher.batches < len(texts), "concurrent requests were batched"
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    batched = np.stack([out[i] for i in range(len(texts))])
    # int8 dynamic quantization scales activations per batch, so a vector moves a little
    # with its batch-mates; it must stay the same vector for ranking purposes
    assert (alone * batched).sum(axis=1).min() > 0.98  # int8 vs fp32 differ as much


def test_encoder_failure_reaches_every_waiter() -> None:
    def broken(_texts, max_tokens=None):
        raise RuntimeError("model crashed")

    batcher = MicroBatcher(broken, max_wait_ms=1)
    futures = [batcher.submit("x"), batcher.submit("y")]
    for future in futures:
        with pytest.raises(RuntimeError, match="model crashed"):
            future.result(timeout=5)
    batcher.close()


def test_without_a_wait_texts_queued_while_the_encoder_is_busy_form_the_next_batch(
    encoder: Encoder,
) -> None:
    busy = threading.Event()
    release = threading.Event()
    sizes: list[int] = []
    threads: list[str] = []

    def gated(texts, max_tokens=None):  # the real encoder, held while the queue fills
        sizes.append(len(texts))
        threads.append(threading.current_thread().name)
        busy.set()
        release.wait(timeout=30)
        return encoder.encode(texts, max_tokens=max_tokens)

    batcher = MicroBatcher(gated, max_batch=32, max_wait_ms=0)
    first = batcher.submit("the table will not move")
    assert busy.wait(timeout=30)
    queued = [batcher.submit(f"no image on the monitor, case {i}") for i in range(10)]
    release.set()
    assert first.result(timeout=30).shape == (encoder.dim,)
    assert all(f.result(timeout=30).shape == (encoder.dim,) for f in queued)
    batcher.close()
    assert sizes == [1, 10], "a lone text goes at once; the queued ones go together"
    # the first caller to wait encodes the queued texts itself: no hand-over and back
    assert threads == ["encoder_0", threading.current_thread().name]


def test_two_workers_encode_two_batches_at_once(encoder: Encoder) -> None:
    """Under load a second batch must not wait for the first (a barrier inside the
    encoder only opens when two batches are in it at once)."""
    inside = threading.Barrier(2, timeout=10)

    def encode(texts, max_tokens=None):  # type: ignore[no-untyped-def]
        inside.wait()
        return encoder.encode(texts)

    batcher = MicroBatcher(encode, max_batch=1, workers=2)
    vectors: dict[str, np.ndarray] = {}

    def search(text: str) -> None:
        vectors[text] = batcher.encode_one(text, timeout=20)

    _in_threads(search, ("gantry grinds", "table stuck"))
    batcher.close()
    assert batcher.batches == 2
    np.testing.assert_allclose(
        vectors["gantry grinds"], encoder.encode(["gantry grinds"])[0], atol=0.02
    )
    with pytest.raises(ValueError, match="workers"):
        MicroBatcher(encode, workers=0)


def test_one_worker_never_encodes_two_batches_at_once(encoder: Encoder) -> None:
    """The torch encoder is not safe for threads: with workers=1 the callers that encode
    in their own threads take turns."""
    lock = threading.Lock()
    inside, most = 0, 0

    def encode(texts, max_tokens=None):  # type: ignore[no-untyped-def]
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            time.sleep(0.005)
            return encoder.encode(texts)
        finally:
            with lock:
                inside -= 1

    batcher = MicroBatcher(encode, max_batch=2, workers=1)
    barrier = threading.Barrier(12)

    def search(i: int) -> None:
        barrier.wait()
        batcher.encode_one(f"no image on the monitor, case {i}", timeout=30)

    _in_threads(search, range(12))
    batcher.close()
    assert batcher.items == 12
    assert most == 1


def test_lone_text_is_encoded_on_the_batchers_thread_before_its_caller_waits(
    encoder: Encoder,
) -> None:
    """A search starts its encode, then runs its keyword lane: the encode must already
    be under way on another thread (the other core), not wait for `result()`."""
    ran_on: list[str] = []
    done = threading.Event()

    def encode(texts, max_tokens=None):  # type: ignore[no-untyped-def]
        ran_on.append(threading.current_thread().name)
        out = encoder.encode(texts)
        done.set()
        return out

    batcher = MicroBatcher(encode, workers=2)
    pending = batcher.submit("the table will not move")
    assert done.wait(timeout=30), "nothing encoded the text before its caller asked"
    assert pending.result(timeout=5).shape == (encoder.dim,)
    batcher.close()
    assert ran_on == ["encoder_0"]


def test_caller_waiting_for_a_turn_times_out_and_the_batcher_goes_on(
    encoder: Encoder,
) -> None:
    busy, release = threading.Event(), threading.Event()

    def gated(texts, max_tokens=None):  # type: ignore[no-untyped-def]
        busy.set()
        release.wait(timeout=30)
        return encoder.encode(texts)

    batcher = MicroBatcher(gated, max_batch=1, workers=1)
    first = batcher.submit("gantry grinds")
    assert busy.wait(timeout=30)
    second = batcher.submit("table stuck")
    with pytest.raises(TimeoutError):
        second.result(timeout=0.2)
    release.set()
    assert first.result(timeout=30).shape == (encoder.dim,)
    assert second.result(timeout=30).shape == (encoder.dim,)
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("after close")


def test_encoder_not_safe_for_threads_gets_one_worker_and_serves_concurrent_searches(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """Searches encode their own queries under load: with the torch encoder (its tokenizer
    is reconfigured per call) they must take turns and still get their own vectors."""
    from app.search.index import ArticleIndex
    from embeddings.encoder import make_encoder

    torch = make_encoder("torch", cache_dir=tmp_path)
    index = ArticleIndex(torch, None, encoder_workers=2, search_concurrency=4, query_cache_size=0)
    queries = [f"the table will not move, case {i}" for i in range(8)]
    alone = {q: torch.encode([q])[0] for q in queries}
    got: dict[str, list[np.ndarray]] = {q: [] for q in queries}

    def search(query: str) -> None:
        got[query].append(index.searches.run(lambda: index.query_vector(query)()))

    try:
        assert index.batcher.workers == 1
        _in_threads(search, queries * 3)
    finally:
        index.close()
    assert index.batcher.items == len(queries) * 3
    for query, vectors in got.items():
        assert len(vectors) == 3
        assert min(float(v @ alone[query]) for v in vectors) > 0.999, query


def test_text_submitted_while_other_searches_run_is_encoded_by_its_caller(
    encoder: Encoder,
) -> None:
    """Among other searches, handing a text to another thread and back costs more than
    it overlaps: the caller encodes it when it asks for the vector."""
    ran_on: list[str] = []
    started = threading.Event()

    def encode(texts, max_tokens=None):  # type: ignore[no-untyped-def]
        ran_on.append(threading.current_thread().name)
        started.set()
        return encoder.encode(texts)

    busy = True
    batcher = MicroBatcher(encode, workers=2, others_busy=lambda: busy)
    pending = batcher.submit("the table will not move")
    assert not started.wait(timeout=0.2), "the batcher's thread took a busy caller's text"
    assert pending.result(timeout=30).shape == (encoder.dim,)
    assert ran_on == [threading.current_thread().name]
    busy = False
    started.clear()
    pending = batcher.submit("no image on the monitor")
    assert started.wait(timeout=30), "a lone text waited for its caller"
    assert pending.result(timeout=30).shape == (encoder.dim,)
    batcher.close()
    assert ran_on[1:] == ["encoder_0"]
