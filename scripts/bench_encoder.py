"""Query encoder cost on this CPU: fp32 against the int8 export, one query at a time.

    python -m scripts.bench_encoder [--data-dir data] [--rounds 3]

Times onnxruntime on one thread over the evaluation queries (the length of real
dispatcher queries), for each model file of the service's export folder under
DATA_DIR/models (made on first use: the service or `make load` creates it). Prints a
table (ms per query, ms per token) and one JSON line. This is the piece that sets a
search's cost: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from app.config import Settings
from embeddings.encoder import OnnxInt8Encoder
from scripts.benchmark import eval_queries


def main(argv: list[str] | None = None) -> int:
    """Time every model file of the export and print the table and JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    import onnxruntime

    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    encoder = OnnxInt8Encoder(cache_dir=settings.model_cache_dir, threads=1)
    queries = eval_queries()
    encoded = [encoder.tokenize(q) for q in queries]
    tokens = float(np.mean([len(ids) for ids, _ in encoded]))
    results = {}
    for path in sorted((encoder.folder / "onnx").glob("*.onnx")):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        names = {i.name for i in session.get_inputs()}
        feeds = []
        for token_ids, mask in encoded:
            ids = np.array([token_ids], dtype=np.int64)
            feed = {
                "input_ids": ids,
                "attention_mask": np.array([mask], dtype=np.int64),
                "token_type_ids": np.zeros_like(ids),
            }
            feeds.append({k: v for k, v in feed.items() if k in names})
        for feed in feeds[:10]:  # warm-up
            session.run(None, feed)
        started = time.process_time()
        for _ in range(args.rounds):
            for feed in feeds:
                session.run(None, feed)
        per_query = 1000 * (time.process_time() - started) / (args.rounds * len(feeds))
        results[path.name] = round(per_query, 2)
        print(
            f"{path.name:28} {per_query:6.2f} ms per query  {per_query / tokens:5.3f} ms per token",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "benchmark": "encoder",
                "scheme": encoder.scheme,
                "queries": len(queries),
                "mean_tokens": round(tokens, 1),
                "ms_per_query": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
