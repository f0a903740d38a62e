"""Fit the search's confidence on the seed library's dev searches and report it on test.

    python -m scripts.calibrate [--write] [--out knowledge/confidence.json]

Answerable searches are the evaluation queries (knowledge/eval/queries.jsonl), the others
the off-library questions (knowledge/eval/off_library.jsonl); even numbers are dev, odd
are test. Every hit shown (the first SEARCH_DEFAULT_LIMIT) is a labelled row: right when
it is a relevant article. The logistic model (embeddings/confidence.py) is fitted on dev
rows; on dev too, `possible` is set so that at most NONE_TARGET of the answerable searches
answer "none", and `strong` so that at most STRONG_TARGET of the off-library ones answer
"strong". The test split is only reported: reliability diagram, expected calibration error
(ECE), the match levels of both kinds, AUROC. `--write` saves the model the service loads.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.config import Settings
from app.search.index import DEFAULT_CALIBRATION
from app.search.named import named_in, preferred
from app.search.setup import encoder_from_settings
from embeddings.confidence import Calibration, Match, features
from embeddings.fusion import Candidate, FusionWeights
from embeddings.hybrid import HybridIndex
from scripts.eval_sets import ROOT, Query, QueryVectors, is_dev, load_seed

OFF_LIBRARY = ROOT / "knowledge" / "eval" / "off_library.jsonl"
NONE_TARGET = 0.02  # answerable dev searches answered "none" (the test goal: 3 %)
STRONG_TARGET = 0.01  # off-library dev searches answered "strong" (the test goal: 2 %)
BINS = 10

Floats = npt.NDArray[np.float64]


@dataclass
class Searched:
    """One evaluation search: its hits' features and labels."""

    query: Query
    answerable: bool
    rows: Floats
    right: Floats
    hits: list[Candidate]


def off_library() -> list[Query]:
    """The questions the library does not answer, as queries with nothing relevant."""
    rows = [json.loads(line) for line in OFF_LIBRARY.read_text().splitlines() if line.strip()]
    return [Query(r["id"], r["text"], set(), {}, r["kind"]) for r in rows]


def collect(
    hybrid_index: HybridIndex,
    queries: Sequence[tuple[Query, bool]],
    vectors: QueryVectors,
    weights: FusionWeights,
    shown: int,
) -> list[Searched]:
    """Search each query as the service does and keep the shown hits' features."""
    qv = vectors.get(hybrid_index, [q for q, _ in queries], weights)
    out = []
    for (q, answerable), v in zip(queries, qv, strict=True):
        hits = hybrid_index.search(
            q.text,
            shown,
            filters=q.filters,
            weights=weights,
            query_vector=v,
            prefer=preferred(named_in(q.text, hybrid_index.named), q.filters),
        )
        terms = len(hybrid_index.lexical.query_terms(q.text))
        rows = features(hits, terms=terms, documents=len(hybrid_index))
        right = np.array([float(h.id in q.relevant) for h in hits])
        out.append(Searched(q, answerable, rows, right, hits))
    return out


def fit(dev: Sequence[Searched]) -> Calibration:
    """The model on dev rows, with thresholds chosen on dev searches."""
    x = np.vstack([s.rows for s in dev if len(s.rows)])
    y = np.concatenate([s.right for s in dev])
    model = Calibration.fit(x, y)
    best = _best(model, dev)
    answerable = np.sort([b for b, s in zip(best, dev, strict=True) if s.answerable])
    others = np.sort([b for b, s in zip(best, dev, strict=True) if not s.answerable])
    # the highest `possible` leaving at most NONE_TARGET of the answerable below it
    allowed = int(NONE_TARGET * len(answerable))
    possible = float(answerable[allowed]) if len(answerable) > allowed else 0.0
    # the lowest `strong` that at most STRONG_TARGET of the others reach
    above = int(STRONG_TARGET * len(others))
    strong = float(others[len(others) - 1 - above]) + 1e-6 if len(others) > above else 0.5
    strong = min(max(strong, possible), 1.0)
    return replace(model, possible=round(possible, 6), strong=round(strong, 6))


def _best(model: Calibration, searched: Sequence[Searched]) -> Floats:
    """Each search's best confidence (0 when it found nothing)."""
    return np.array(
        [float(model.probabilities(s.rows)[0]) if len(s.rows) else 0.0 for s in searched]
    )


def ece(p: Floats, y: Floats, bins: int = BINS) -> float:
    """Expected calibration error over equal-width bins."""
    total = 0.0
    for _, _, members in _bins(p, bins):
        if members.any():
            total += members.sum() / len(p) * abs(p[members].mean() - y[members].mean())
    return float(total)


def _bins(p: Floats, bins: int) -> list[tuple[float, float, npt.NDArray[np.bool_]]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    return [
        (float(lo), float(hi), (p >= lo) & ((p < hi) if i < bins - 1 else (p <= hi)))
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """The chance that a positive outscores a negative (ties count half)."""
    if not len(positive) or not len(negative):
        return float("nan")
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def report(model: Calibration, searched: Sequence[Searched], name: str) -> dict[str, object]:
    """The figures of one split, printed and returned."""
    p = np.concatenate([model.probabilities(s.rows) for s in searched if len(s.rows)])
    y = np.concatenate([s.right for s in searched])
    best = _best(model, searched)
    first_right = np.array([float(len(s.right) > 0 and s.right[0] == 1) for s in searched])
    levels = [
        model.match(float(b) if len(s.rows) else None) for b, s in zip(best, searched, strict=True)
    ]
    answerable = [s.answerable for s in searched]

    def share(kind: bool, level: Match) -> float:
        chosen = [lv for lv, a in zip(levels, answerable, strict=True) if a == kind]
        return round(sum(lv == level for lv in chosen) / max(len(chosen), 1), 4)

    out: dict[str, object] = {
        "searches": len(searched),
        "answerable": sum(answerable),
        "hits": len(p),
        "ece_shown": round(ece(p, y), 4),
        "ece_first": round(ece(best, first_right), 4),
        "answerable_none": share(True, Match.NONE),
        "answerable_strong": share(True, Match.STRONG),
        "off_library_strong": share(False, Match.STRONG),
        "off_library_none": share(False, Match.NONE),
        "auroc_answerable": round(
            auroc(
                [b for b, a in zip(best, answerable, strict=True) if a],
                [b for b, a in zip(best, answerable, strict=True) if not a],
            ),
            4,
        ),
        "auroc_first_right": round(
            auroc(
                [b for b, r in zip(best, first_right, strict=True) if r],
                [b for b, r in zip(best, first_right, strict=True) if not r],
            ),
            4,
        ),
    }
    print(f"\nconfidence, {name} split ({out['searches']} searches, {out['hits']} hits shown)")
    print(f"  {'confidence':<11} {'hits':>5} {'mean':>6} {'right':>6}")
    for lo, hi, members in _bins(p, BINS):
        if members.any():
            print(
                f"  {lo:.1f}-{hi:.1f}     {int(members.sum()):>5} {p[members].mean():>6.3f} "
                f"{y[members].mean():>6.3f}"
            )
    print(
        f"  ECE shown hits {out['ece_shown']:.4f}, first hits {out['ece_first']:.4f}; "
        f"answerable: none {out['answerable_none']:.1%}, strong {out['answerable_strong']:.1%}; "
        f"off-library: strong {out['off_library_strong']:.1%}, none {out['off_library_none']:.1%}; "
        f"AUROC answerable/off-library {out['auroc_answerable']:.4f}, "
        f"first hit right {out['auroc_first_right']:.4f}"
    )
    return out


def splits(
    hybrid_index: HybridIndex,
    queries: Sequence[Query],
    vectors: QueryVectors,
    weights: FusionWeights,
    shown: int,
) -> tuple[list[Searched], list[Searched]]:
    """Every answerable and off-library search, as (dev, test)."""
    every = [(q, True) for q in queries] + [(q, False) for q in off_library()]
    searched = collect(hybrid_index, every, vectors, weights, shown)
    dev = [s for s in searched if is_dev(s.query.id)]
    return dev, [s for s in searched if not is_dev(s.query.id)]


def main(argv: list[str] | None = None) -> int:
    """Fit on dev, report dev and test, optionally write the model."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write", action="store_true", help="save the fitted model")
    parser.add_argument("--out", type=Path, default=None, help="default: CONFIDENCE_PATH")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = Settings()
    encoder = encoder_from_settings(settings, threads=2)
    hybrid_index, queries, _ = load_seed(encoder)
    weights = hybrid_index.weights
    dev, test = splits(
        hybrid_index, queries, QueryVectors(encoder), weights, settings.search_default_limit
    )
    model = fit(dev)
    figures = {"dev": report(model, dev, "dev"), "test": report(model, test, "test")}
    print(f"\nthresholds: possible {model.possible:.4f}, strong {model.strong:.4f}")
    model = replace(
        model,
        fitted={
            "command": "python -m scripts.calibrate --write",
            "encoder": encoder.name,
            "shown": settings.search_default_limit,
            "dev": figures["dev"],
        },
    )
    if args.write:
        path = args.out or settings.confidence_path or DEFAULT_CALIBRATION
        model.save(path)
        print(f"written: {path}")
    print(json.dumps({**figures, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
