"""Retrieval quality: MRR@10, nDCG@10, Recall@1/5/10 for lexical, dense and hybrid.

Sets:
  seed      knowledge/eval/queries.jsonl over the seed library (knowledge/articles)
  stackfaq  ../shared/data/stackfaq/beir-thread (dev = even thread numbers, test = odd);
            skipped with a note when the folder is absent

    python -m scripts.evaluate [--sets seed stackfaq] [--tune]

--tune grid-searches the fusion weights on the StackFAQ dev split only (never on test).
Prints a table per set and one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from app.articles.markdown import parse_file
from app.articles.models import Article, ArticleStatus
from app.articles.schemas import ArticleCreate
from app.search.index import KEYWORD_FIELDS, to_document
from embeddings.encoder import Encoder, SentenceTransformerEncoder
from embeddings.fusion import FusionWeights
from embeddings.hybrid import Document, HybridIndex

ROOT = Path(__file__).resolve().parent.parent
STACKFAQ = ROOT.parent / "shared" / "data" / "stackfaq" / "beir-thread"


@dataclass
class Query:
    """One evaluation query."""

    id: str
    text: str
    relevant: set[int]
    filters: dict[str, list[str]]
    kind: str = ""


@dataclass
class Metrics:
    """Averages over a query set."""

    n: int
    mrr10: float
    ndcg10: float
    r1: float
    r5: float
    r10: float


def score(ranked: Sequence[Sequence[int]], queries: Sequence[Query]) -> Metrics:
    """Standard metrics at cut-off 10 (binary relevance)."""
    mrr = ndcg = r1 = r5 = r10 = 0.0
    for ids, q in zip(ranked, queries, strict=True):
        top = list(ids)[:10]
        first = next((i for i, d in enumerate(top) if d in q.relevant), None)
        mrr += 1 / (first + 1) if first is not None else 0
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(top) if d in q.relevant)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(q.relevant), 10)))
        ndcg += dcg / ideal if ideal else 0
        for k, acc in ((1, "r1"), (5, "r5"), (10, "r10")):
            hit = len(q.relevant & set(top[:k])) / len(q.relevant)
            if acc == "r1":
                r1 += hit
            elif acc == "r5":
                r5 += hit
            else:
                r10 += hit
    n = len(queries) or 1
    return Metrics(len(queries), mrr / n, ndcg / n, r1 / n, r5 / n, r10 / n)


def run(
    index: HybridIndex, queries: Sequence[Query], vectors: np.ndarray, weights: FusionWeights
) -> list[list[int]]:
    """Rank every query with the given weights."""
    return [
        [c.id for c in index.search(q.text, 10, filters=q.filters, weights=weights, query_vector=v)]
        for q, v in zip(queries, vectors, strict=True)
    ]


def modes(weights: FusionWeights) -> dict[str, FusionWeights]:
    """The three configurations compared."""
    return {
        "lexical": weights.lexical_only(),
        "dense": weights.dense_only(),
        "hybrid": weights,
    }


def load_seed(encoder: Encoder) -> tuple[HybridIndex, list[Query]]:
    """The seed library in memory, and its queries mapped to document ids."""
    articles: list[Article] = []
    for n, path in enumerate(sorted((ROOT / "knowledge" / "articles").rglob("*.md")), start=1):
        data: ArticleCreate = parse_file(path)
        fields = data.model_dump(mode="json", exclude={"status", "author"})
        articles.append(Article(id=n, version=1, status=ArticleStatus.PUBLISHED, **fields))
    index = HybridIndex(encoder, None, keyword_fields=KEYWORD_FIELDS)
    index.upsert([to_document(a) for a in articles])
    by_slug = {a.slug: a.id for a in articles}
    queries = []
    for line in (ROOT / "knowledge" / "eval" / "queries.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        missing = [s for s in raw["relevant"] if s not in by_slug]
        if missing:
            raise SystemExit(f"queries.jsonl: {raw['id']}: unknown article ids {missing}")
        queries.append(
            Query(
                raw["id"],
                raw["query"],
                {by_slug[s] for s in raw["relevant"]},
                {k: [v] for k, v in (raw.get("filters") or {}).items()},
                raw.get("kind", ""),
            )
        )
    return index, queries


def load_stackfaq(encoder: Encoder) -> tuple[HybridIndex, list[Query], list[Query]]:
    """StackFAQ thread view: (index, dev queries, test queries)."""
    corpus = [json.loads(x) for x in (STACKFAQ / "corpus.jsonl").read_text().splitlines() if x]
    ids = {c["_id"]: n for n, c in enumerate(corpus, start=1)}
    docs = [
        Document(
            id=ids[c["_id"]],
            version=1,
            headline=c["title"],
            body=f"{c['title']}\n{c['text']}",
            keywords={"modality": ["IT"]},
        )
        for c in corpus
    ]
    index = HybridIndex(encoder, None, keyword_fields=KEYWORD_FIELDS)
    index.upsert(docs)
    qrels: dict[str, set[int]] = {}
    for line in (STACKFAQ / "qrels.test.tsv").read_text().splitlines()[1:]:
        qid, cid, _ = line.split("\t")
        qrels.setdefault(qid, set()).add(ids[cid])
    dev: list[Query] = []
    test: list[Query] = []
    for line in (STACKFAQ / "queries.jsonl").read_text().splitlines():
        raw = json.loads(line)
        q = Query(raw["_id"], raw["text"], qrels[raw["_id"]], {})
        (dev if int(raw["_id"][1:4]) % 2 == 0 else test).append(q)
    return index, dev, test


def tune(index: HybridIndex, dev: list[Query], vectors: np.ndarray) -> FusionWeights:
    """Grid search of body and lexical weights on the dev split (headline fixed at 1)."""
    best: tuple[float, FusionWeights] | None = None
    for body, lexical in itertools.product([0, 0.05, 0.1, 0.2, 0.3], [0, 0.04, 0.08, 0.12, 0.2]):
        w = FusionWeights(body=body, lexical=lexical)
        m = score(run(index, dev, vectors, w), dev).mrr10
        print(f"  tune body={body} lexical={lexical}: dev MRR@10 {m:.4f}", file=sys.stderr)
        if best is None or m > best[0]:
            best = (m, w)
    assert best is not None
    return best[1]


def table(name: str, results: dict[str, Metrics]) -> None:
    """Print one set's figures."""
    print(f"\n{name}")
    print(f"{'mode':<8} {'n':>5} {'MRR@10':>7} {'nDCG@10':>8} {'R@1':>6} {'R@5':>6} {'R@10':>6}")
    for mode, m in results.items():
        print(
            f"{mode:<8} {m.n:>5} {m.mrr10:>7.4f} {m.ndcg10:>8.4f} {m.r1:>6.3f} {m.r5:>6.3f} "
            f"{m.r10:>6.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    """Evaluate the requested sets and print tables and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["seed", "stackfaq"])
    parser.add_argument("--tune", action="store_true", help="tune weights on StackFAQ dev")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    encoder = SentenceTransformerEncoder()
    weights = FusionWeights()
    out: dict[str, object] = {"weights": asdict(weights)}
    if "stackfaq" in args.sets:
        if not STACKFAQ.exists():
            print(f"StackFAQ not found at {STACKFAQ}; skipped")
        else:
            print("encoding StackFAQ ...", file=sys.stderr)
            index, dev, test = load_stackfaq(encoder)
            dev_v = encoder.encode([q.text for q in dev])
            test_v = encoder.encode([q.text for q in test])
            if args.tune:
                weights = tune(index, dev, dev_v)
                out["weights"] = asdict(weights)
                print(f"tuned weights: {weights}")
            for split, qs, vs in (("dev", dev, dev_v), ("test", test, test_v)):
                res = {m: score(run(index, qs, vs, w), qs) for m, w in modes(weights).items()}
                table(f"StackFAQ beir-thread, {split} split", res)
                out[f"stackfaq_{split}"] = {m: asdict(r) for m, r in res.items()}
    if "seed" in args.sets:
        print("encoding the seed library ...", file=sys.stderr)
        index, queries = load_seed(encoder)
        vectors = encoder.encode([q.text for q in queries])
        res = {}
        ranked_by_mode = {}
        for mode, w in modes(weights).items():
            ranked_by_mode[mode] = run(index, queries, vectors, w)
            res[mode] = score(ranked_by_mode[mode], queries)
        table("Seed library (knowledge/eval/queries.jsonl)", res)
        out["seed"] = {m: asdict(r) for m, r in res.items()}
        kinds = sorted({q.kind for q in queries})
        print("\nhybrid by kind")
        per_kind = {}
        for kind in kinds:
            pick = [i for i, q in enumerate(queries) if q.kind == kind]
            m = score([ranked_by_mode["hybrid"][i] for i in pick], [queries[i] for i in pick])
            per_kind[kind] = asdict(m)
            print(f"  {kind:<12} n={m.n:<3} MRR@10 {m.mrr10:.4f} R@1 {m.r1:.3f} R@5 {m.r5:.3f}")
        out["seed_by_kind"] = per_kind
        misses = [
            (q.id, q.text)
            for q, ids in zip(queries, ranked_by_mode["hybrid"], strict=True)
            if not q.relevant & set(ids[:5])
        ]
        for qid, text in misses:
            print(f"  not in top 5: {qid}: {text}")
        codes = [i for i, q in enumerate(queries) if q.kind == "error_code"]
        firsts = sum(
            1 for i in codes if ranked_by_mode["hybrid"][i][:1] == [*queries[i].relevant][:1]
        )
        out["error_code_first"] = f"{firsts}/{len(codes)}"
        print(f"error-code-only queries ranking their article first: {firsts}/{len(codes)}")
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
