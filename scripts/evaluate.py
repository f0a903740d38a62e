"""Retrieval quality: MRR@10, nDCG@10, Recall@1/5/10 for lexical, dense and hybrid.

Sets:
  seed      knowledge/eval/queries.jsonl over the seed library (knowledge/articles)
  stackfaq  ../shared/data/stackfaq/beir-thread (dev = even thread numbers, test = odd);
            skipped with a note when the folder is absent

    python -m scripts.evaluate [--sets seed stackfaq] [--tune] [--outcomes] [--tickets]
                               [--confidence]

--tune grid-searches the fusion weights on the StackFAQ dev split only (never on test).
--outcomes replays the seed library's past calls and measures the ranking learned from
their outcomes (scripts/evaluate_outcomes.py).
--confidence reports the shipped confidence model on the test split (reliability diagram,
ECE, match levels of answerable and off-library searches, AUROC; scripts/calibrate.py).
--tickets ranks whole help-desk tickets against the same faults' short forms
(knowledge/eval/tickets.jsonl, with the seed library).
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from app.articles.models import Article
from app.config import Settings
from app.search.index import DEFAULT_CALIBRATION
from app.search.named import modalities_in, named_in, preferred
from app.search.setup import encoder_from_settings
from embeddings.confidence import Calibration
from embeddings.fusion import FusionWeights
from embeddings.hybrid import HybridIndex
from embeddings.tickets import fault_text, library_names, library_scorer
from scripts import calibrate
from scripts.eval_sets import (
    ROOT,
    STACKFAQ,
    Query,
    QueryVectors,
    is_dev,
    load_seed,
    load_stackfaq,
)
from scripts.evaluate_outcomes import Asked, scanner_of
from scripts.evaluate_outcomes import evaluate as evaluate_outcomes

MARGIN = 0.005  # MRR@10 the fused ranking must gain over each single lane on dev


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
    hybrid_index: HybridIndex,
    queries: Sequence[Query],
    vectors: QueryVectors,
    weights: FusionWeights,
) -> list[list[int]]:
    """Rank every query with the given weights."""
    qv = vectors.get(hybrid_index, queries, weights)
    return [
        [
            c.id
            for c in hybrid_index.search(
                q.text,
                10,
                filters=q.filters,
                weights=weights,
                query_vector=v,
                # what the words name, as the service prefers it (a soft filter)
                prefer=preferred(named_in(q.text, hybrid_index.named), q.filters),
            )
        ]
        for q, v in zip(queries, qv, strict=True)
    ]


def named_modality(
    hybrid_index: HybridIndex,
    queries: Sequence[Query],
    vectors: QueryVectors,
    weights: FusionWeights,
    articles: dict[int, Article],
) -> dict[str, object]:
    """Of the queries that name a modality, the share of top-3 slots taken by articles of
    another one, without the soft filter (`unnamed` 0) and with it; printed and returned."""
    naming = [q for q in queries if modalities_in(q.text)]
    out: dict[str, object] = {"queries": len(naming)}
    for name, w in (("without", replace(weights, unnamed=0.0)), ("with", weights)):
        ranked = run(hybrid_index, naming, vectors, w)
        slots = other = 0
        for q, ids in zip(naming, ranked, strict=True):
            # the named modality, its family and IT (app/search/named.py): not "another"
            named = set(preferred({"modality": modalities_in(q.text)}, None)["modality"])
            slots += len(ids[:3])
            other += sum(articles[d].modality not in named for d in ids[:3])
        out[name] = round(other / slots, 4) if slots else 0.0
        out[f"{name}_mrr10"] = round(score(ranked, naming).mrr10, 4)
    print(
        f"queries naming a modality ({len(naming)}): top-3 slots of another modality "
        f"{out['without']:.1%} without the soft filter, {out['with']:.1%} with it; "
        f"MRR@10 {out['without_mrr10']:.4f} -> {out['with_mrr10']:.4f}"
    )
    return out


def tickets(
    hybrid_index: HybridIndex,
    vectors: QueryVectors,
    weights: FusionWeights,
    articles: dict[int, Article],
    path: Path = ROOT / "knowledge" / "eval" / "tickets.jsonl",
    typed: Sequence[Query] = (),
) -> dict[str, object]:
    """Whole ticket texts, the fault extracted from them (`embeddings/tickets.py`) and
    their short forms, ranked as typed, per split (even ticket numbers are dev), with the
    extraction's time per ticket and how many `typed` queries it leaves unchanged;
    printed and returned."""
    by_slug = {a.slug: a.id for a in articles.values()}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    fault_score, fault_names = library_scorer(hybrid_index), library_names(hybrid_index)
    fault_text(rows[0]["text"], score=fault_score, names=fault_names)  # warm-up
    started = time.perf_counter()
    for r in rows:
        r["extracted"] = fault_text(r["text"], score=fault_score, names=fault_names).text
    per_ticket_ms = (time.perf_counter() - started) / len(rows) * 1000
    same = sum(
        fault_text(q.text, score=fault_score, names=fault_names).text == q.text for q in typed
    )
    out: dict[str, object] = {"extract_ms": round(per_ticket_ms, 1), "typed_unchanged": same}
    print("\ntickets (whole text, its extracted fault and the short form of the same fault)")
    for split in ("dev", "test"):
        chosen = [r for r in rows if is_dev(r["id"]) == (split == "dev")]
        figures = {}
        for form in ("text", "extracted", "short"):
            qs = [Query(r["id"], r[form], {by_slug[r["article"]]}, {}) for r in chosen]
            figures[form] = asdict(score(run(hybrid_index, qs, vectors, weights), qs))
        out[split] = figures
        print(
            f"  {split:<4} n={len(chosen):<3} MRR@10 / R@5: "
            + "; ".join(f"{f} {m['mrr10']:.4f} / {m['r5']:.3f}" for f, m in figures.items())
        )
    print(
        f"  extraction {per_ticket_ms:.1f} ms per ticket; typed queries unchanged "
        f"{same}/{len(typed)}"
    )
    return out


def spelling(
    hybrid_index: HybridIndex,
    queries: Sequence[Query],
    vectors: QueryVectors,
    weights: FusionWeights,
) -> dict[str, object]:
    """Hybrid MRR@10 with the BM25 lane's spelling correction off and on: the misspelled
    queries, every query and each kind, per split (even query numbers are dev); printed
    and returned."""
    ranked = {
        name: run(hybrid_index, queries, vectors, replace(weights, spelling=on))
        for name, on in (("off", False), ("on", True))
    }
    groups = [("misspelling", "misspelling"), ("all", None)]
    groups += [(f"kind {k}", k) for k in sorted({q.kind for q in queries} - {"misspelling"})]
    out: dict[str, object] = {}
    print("\nspelling correction of the BM25 lane: hybrid MRR@10 off -> on")
    for label, kind in groups:
        for split in ("all", "dev", "test") if kind in (None, "misspelling") else ("all",):
            pick = [
                i
                for i, q in enumerate(queries)
                if kind in (None, q.kind) and split in ("all", "dev" if is_dev(q.id) else "test")
            ]
            qs = [queries[i] for i in pick]
            mrr = {n: score([r[i] for i in pick], qs).mrr10 for n, r in ranked.items()}
            out[f"{label.replace('kind ', '')}_{split}"] = {"n": len(qs)} | {
                n: round(v, 4) for n, v in mrr.items()
            }
            print(f"  {label:<18} {split:<4} n={len(qs):<3} {mrr['off']:.4f} -> {mrr['on']:.4f}")
    return out


def confidence(
    hybrid_index: HybridIndex,
    queries: Sequence[Query],
    vectors: QueryVectors,
    weights: FusionWeights,
    settings: Settings,
) -> dict[str, object]:
    """The shipped confidence model (CONFIDENCE_PATH) on the test split of the answerable
    and off-library searches; printed and returned."""
    model = Calibration.load(settings.confidence_path or DEFAULT_CALIBRATION)
    hybrid_index.calibration = model
    _, test = calibrate.splits(
        hybrid_index, queries, vectors, weights, settings.search_default_limit
    )
    return calibrate.report(model, test, "test")


def modes(weights: FusionWeights) -> dict[str, FusionWeights]:
    """The three configurations compared."""
    return {
        "lexical": weights.lexical_only(),
        "dense": weights.dense_only(),
        "hybrid": weights,
    }


def tune(
    dev_sets: Sequence[tuple[HybridIndex, list[Query]]], vectors: QueryVectors
) -> FusionWeights:
    """Grid search on the dev splits only. Objective: the lower of the dev MRR@10s (no set
    is sacrificed for the other), among weights whose fused ranking beats each single
    lane by at least MARGIN on every dev set (so it is not worse on unseen queries)."""
    best: tuple[float, FusionWeights] | None = None
    grid = itertools.product(
        [0.1, 0.3, 0.5], [0.04, 0.08, 0.15], [0.0, 0.3, 0.6, 1.0], [False, True]
    )
    for body, lexical, synonyms, expand_dense in grid:
        w = FusionWeights(body=body, lexical=lexical, synonyms=synonyms, expand_dense=expand_dense)
        per_set = [
            {m: score(run(hybrid_index, qs, vectors, mw), qs).mrr10 for m, mw in modes(w).items()}
            for hybrid_index, qs in dev_sets
        ]
        fused_wins = all(r["hybrid"] >= max(r["dense"], r["lexical"]) + MARGIN for r in per_set)
        objective = min(r["hybrid"] for r in per_set)
        print(
            f"  tune {w}: dev MRR@10 "
            f"{[{m: round(v, 4) for m, v in r.items()} for r in per_set]} fused wins: {fused_wins}",
            file=sys.stderr,
        )
        if fused_wins and (best is None or objective > best[0]):
            best = (objective, w)
    if best is None:
        raise SystemExit("no weights make the fused ranking beat each lane on every dev set")
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


def report(
    name: str, hybrid_index: HybridIndex, qs: list[Query], vectors: QueryVectors, w: FusionWeights
) -> tuple[dict[str, Metrics], list[list[int]]]:
    """Score the three modes on one query set and print the table."""
    res: dict[str, Metrics] = {}
    hybrid: list[list[int]] = []
    for mode, mw in modes(w).items():
        ranked = run(hybrid_index, qs, vectors, mw)
        res[mode] = score(ranked, qs)
        if mode == "hybrid":
            hybrid = ranked
    table(name, res)
    return res, hybrid


def main(argv: list[str] | None = None) -> int:
    """Evaluate the requested sets and print tables and a JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["seed", "stackfaq"])
    parser.add_argument("--tune", action="store_true", help="tune weights on the dev splits")
    parser.add_argument(
        "--outcomes",
        action="store_true",
        help="replay past calls and measure the ranking learned from their outcomes (seed)",
    )
    parser.add_argument(
        "--tickets",
        action="store_true",
        help="whole tickets against their short forms (seed; knowledge/eval/tickets.jsonl)",
    )
    parser.add_argument(
        "--confidence",
        action="store_true",
        help="the shipped confidence model on the test split (seed; scripts/calibrate.py)",
    )
    parser.add_argument(
        "--votes-per-person", type=float, default=None, help="with --outcomes (default: settings)"
    )
    parser.add_argument("--backend", choices=["onnx-int8", "torch"], default=None)
    parser.add_argument(
        "--weights",
        type=json.loads,
        default=None,
        help="override FusionWeights fields, as JSON: '{\"body\": 0.3}'",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = Settings()
    if args.backend:
        settings = settings.model_copy(update={"encoder_backend": args.backend})
    encoder = encoder_from_settings(settings, threads=2)
    print(f"encoder: {encoder.name}")
    vectors = QueryVectors(encoder)
    weights = FusionWeights(**(args.weights or {}))
    sets: dict[str, tuple[HybridIndex, list[Query], list[Query]]] = {}
    if "stackfaq" in args.sets:
        if STACKFAQ.exists():
            print("encoding StackFAQ ...", file=sys.stderr)
            sets["stackfaq"] = load_stackfaq(encoder)
        else:
            print(f"StackFAQ not found at {STACKFAQ}; skipped")
    if "seed" in args.sets:
        print("encoding the seed library ...", file=sys.stderr)
        seed_index, queries, seed_articles = load_seed(encoder)
        sets["seed"] = (
            seed_index,
            [q for q in queries if is_dev(q.id)],
            [q for q in queries if not is_dev(q.id)],
        )
    if args.tune:
        weights = tune([(hybrid_index, dev) for hybrid_index, dev, _ in sets.values()], vectors)
        print(f"tuned weights: {weights}")
    out: dict[str, object] = {"encoder": encoder.name, "weights": asdict(weights)}
    if "stackfaq" in sets:
        hybrid_index, dev, test = sets["stackfaq"]
        for split, qs in (("dev", dev), ("test", test)):
            res, _ = report(
                f"StackFAQ beir-thread, {split} split", hybrid_index, qs, vectors, weights
            )
            out[f"stackfaq_{split}"] = {m: asdict(r) for m, r in res.items()}
    if "seed" in sets:
        hybrid_index, dev, test = sets["seed"]
        everything = sorted(dev + test, key=lambda q: q.id)
        for split, qs in (("all", everything), ("dev", dev), ("test", test)):
            res, hybrid = report(
                f"Seed library, {split} queries", hybrid_index, qs, vectors, weights
            )
            out[f"seed_{split}"] = {m: asdict(r) for m, r in res.items()}
            if split == "all":
                ranked_all = hybrid
        print("\nhybrid by kind (all seed queries)")
        per_kind = {}
        for kind in sorted({q.kind for q in everything}):
            pick = [i for i, q in enumerate(everything) if q.kind == kind]
            m = score([ranked_all[i] for i in pick], [everything[i] for i in pick])
            per_kind[kind] = asdict(m)
            print(f"  {kind:<12} n={m.n:<3} MRR@10 {m.mrr10:.4f} R@1 {m.r1:.3f} R@5 {m.r5:.3f}")
        out["seed_by_kind"] = per_kind
        out["spelling"] = spelling(hybrid_index, everything, vectors, weights)
        out["named_modality"] = named_modality(
            hybrid_index, everything, vectors, weights, seed_articles
        )
        # failures are listed for the dev split only: the test split stays unread
        for q, ids in zip(everything, ranked_all, strict=True):
            if is_dev(q.id) and not q.relevant & set(ids[:5]):
                print(f"  dev query not in top 5: {q.id}: {q.text}")
        if args.tickets:
            out["tickets"] = tickets(
                hybrid_index, vectors, weights, seed_articles, typed=everything
            )
        if args.confidence:
            out["confidence"] = confidence(hybrid_index, everything, vectors, weights, settings)
        if args.outcomes:
            per_voter = args.votes_per_person or settings.outcome_votes_per_person
            for split, qs in (("dev", dev), ("test", test)):
                print(f"\nSeed library, {split} queries, learning from outcomes")
                asked = [
                    Asked(
                        q.id,
                        q.text,
                        q.relevant,
                        q.filters,
                        scanner_of(seed_articles[min(q.relevant)]),
                    )
                    for q in qs
                ]
                out[f"outcomes_{split}"] = evaluate_outcomes(
                    hybrid_index, encoder.encode, weights, seed_articles, asked, per_voter=per_voter
                )
        codes = [i for i, q in enumerate(everything) if q.kind == "error_code"]
        firsts = sum(1 for i in codes if ranked_all[i][0] in everything[i].relevant)
        out["error_code_first"] = f"{firsts}/{len(codes)}"
        print(f"error-code-only queries ranking their article first: {firsts}/{len(codes)}")
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
