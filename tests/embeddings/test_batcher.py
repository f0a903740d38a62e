import threading

import numpy as np
import pytest

from embeddings.batcher import MicroBatcher
from embeddings.encoder import Encoder


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

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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

    def gated(texts, max_tokens=None):  # the real encoder, held while the queue fills
        sizes.append(len(texts))
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


def test_two_workers_encode_two_batches_at_once(encoder: Encoder) -> None:
    """Under load a second batch must not wait for the first: each worker encodes on its
    own thread (a barrier inside the encoder only opens when both are in it at once)."""
    inside = threading.Barrier(2, timeout=10)

    def encode(texts, max_tokens=None):  # type: ignore[no-untyped-def]
        inside.wait()
        return encoder.encode(texts)

    batcher = MicroBatcher(encode, max_batch=1, workers=2)
    futures = [batcher.submit(text) for text in ("gantry grinds", "table stuck")]
    vectors = [f.result(timeout=20) for f in futures]
    batcher.close()
    assert batcher.batches == 2
    np.testing.assert_allclose(vectors[0], encoder.encode(["gantry grinds"])[0], atol=0.02)
    with pytest.raises(ValueError, match="workers"):
        MicroBatcher(encode, workers=0)


def test_encoder_not_safe_for_threads_gets_one_worker(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app.search.index import ArticleIndex
    from embeddings.encoder import make_encoder

    torch = make_encoder("torch", cache_dir=tmp_path)  # its tokenizer is reconfigured per call
    index = ArticleIndex(torch, None, encoder_workers=2)
    try:
        assert len(index.batcher._threads) == 1
    finally:
        index.close()
