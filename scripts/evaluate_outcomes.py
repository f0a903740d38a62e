"""Ranking that learns from outcomes, measured on the seed library (`scripts.evaluate
--outcomes`; figures in docs/quality.md).

Past calls (knowledge/eval/past_calls.jsonl: descriptions of calls that an article fixed,
written without sight of the evaluation queries and never indexed) are replayed in a
seeded order, each on a scanner of its article's model: the dispatcher tries the results
in rank order, at most `TRIES`; the right article fixes the fault with probability
`P_FIX`, every other one fails; each outcome is recorded as a vote and counts for the
calls after it. Then every evaluation query is asked on a new call of its article's model,
and compared with the ranking without outcomes:
- promoted: of the queries whose article is not first without outcomes, the share that
  reach rank 1 (goal: at least half);
- Recall@5 and MRR@10 with and without outcomes (goal: Recall@5 does not drop);
- the same with 20 % of the outcomes recorded wrongly (goal: still rises);
- one dispatcher recording "fixed" 50 times for an unrelated article (the 5th result) on
  the query's scanner: how many ranks it moves (goal: at most 2).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from app.articles.models import Article
from embeddings.cases import Case, CaseBook
from embeddings.fusion import FusionWeights
from embeddings.hybrid import HybridIndex
from embeddings.outcomes import OutcomeBook, Scanner, Vote

ROOT = Path(__file__).resolve().parent.parent
PAST_CALLS = ROOT / "knowledge" / "eval" / "past_calls.jsonl"
P_FIX = 0.8
TRIES = 5
DISPATCHERS = 12
SEED = 22
SPAM_VOTES = 50
NOW = datetime(2026, 12, 1, tzinfo=UTC)
# past calls spread over this many days before NOW (they decay with age)
SPAN_DAYS = 120


class Texts:
    """Query texts with their vectors, encoded once."""

    def __init__(self, index: HybridIndex, encode: Callable[[list[str]], np.ndarray]) -> None:
        self.index = index
        self.encode = encode
        self._known: dict[str, np.ndarray] = {}

    def vector(self, text: str, weights: FusionWeights) -> np.ndarray:
        dense = self.index.dense_text(text, weights)
        if dense not in self._known:
            self._known[dense] = self.encode([dense])[0]
        return self._known[dense]

    def warm(self, texts: Sequence[str], weights: FusionWeights) -> None:
        """Encode many at once (the replay asks for them one by one)."""
        dense = [self.index.dense_text(t, weights) for t in texts]
        missing = [t for t in dict.fromkeys(dense) if t not in self._known]
        for start in range(0, len(missing), 64):
            batch = missing[start : start + 64]
            for t, v in zip(batch, self.encode(batch), strict=True):
                self._known[t] = v


@dataclass
class Asked:
    """One evaluation query as a new call asks it."""

    id: str
    text: str
    relevant: set[int]
    filters: dict[str, list[str]]
    scanner: Scanner


@dataclass
class Figures:
    """What one replay did to the test queries."""

    mrr10: float
    r1: float
    r5: float
    promoted: float  # of the queries whose article was not first: the share now first
    not_first: int


def scanner_of(article: Article) -> Scanner:
    """A scanner of the article's (first) model."""
    return Scanner(
        article.modality, article.manufacturer, article.models[0] if article.models else None
    )


def read_past_calls(by_slug: dict[str, int], path: Path = PAST_CALLS) -> list[tuple[int, str]]:
    """(article id, description) of every past call; an unknown article names its line."""
    calls = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if raw["article"] not in by_slug:
            raise SystemExit(f"{path}:{n}: unknown article {raw['article']!r}")
        calls.append((by_slug[raw["article"]], raw["text"]))
    return calls


@dataclass
class Learned:
    """What the past calls taught: each article's record, and the calls themselves."""

    book: OutcomeBook
    cases: CaseBook


def rank(
    index: HybridIndex,
    texts: Texts,
    weights: FusionWeights,
    learned: Learned,
    text: str,
    scanner: Scanner,
    filters: dict[str, list[str]] | None = None,
) -> list[int]:
    """The top 10 for a text on a call of `scanner`."""
    vector = texts.vector(text, weights)
    book, cases = learned.book, learned.cases
    adjust = (lambda ids: book.adjustments(ids, scanner)) if len(book) else None
    evidence = (
        (lambda q: {i: e.adjustment for i, e in cases.evidence(q, scanner, NOW).items()})
        if len(cases)
        else None
    )
    found = index.search(
        text,
        10,
        filters=filters,
        weights=weights,
        query_vector=vector,
        adjust=adjust,
        evidence=evidence,
    )
    return [c.id for c in found]


def replay(
    index: HybridIndex,
    texts: Texts,
    weights: FusionWeights,
    articles: dict[int, Article],
    calls: Sequence[tuple[int, str]],
    *,
    noise: float,
    per_voter: float,
    prior_strength: float,
) -> tuple[Learned, dict[int, list[Vote]]]:
    """Every past call worked in turn, learning as it goes; what it learned, the votes."""
    rng = random.Random(SEED)
    learned = Learned(
        OutcomeBook(per_voter=per_voter, prior_strength=prior_strength),
        CaseBook(per_voter=per_voter, prior_strength=prior_strength),
    )
    votes: dict[int, list[Vote]] = defaultdict(list)
    order = list(calls)
    rng.shuffle(order)
    for n, (right, text) in enumerate(order):
        scanner = scanner_of(articles[right])
        at = NOW - timedelta(days=SPAN_DAYS * (len(order) - n) / len(order))
        voter = f"dispatcher {n % DISPATCHERS}"
        resolved_with = None
        for doc in rank(index, texts, weights, learned, text, scanner)[:TRIES]:
            fixed = doc == right and rng.random() < P_FIX
            recorded = (not fixed) if rng.random() < noise else fixed
            votes[doc].append(Vote(recorded, at, voter, scanner))
            learned.book.replace({doc: votes[doc]}, NOW)
            if recorded:
                resolved_with = doc  # the call is resolved with the last one recorded fixed
            if fixed:
                break
        # the call, with what it was resolved with, is a past case for the calls after it
        case = Case(n, scanner, resolved_with, at, voter)
        learned.cases.replace([case], [texts.vector(text, weights)])
    return learned, votes


def measure(
    index: HybridIndex,
    texts: Texts,
    weights: FusionWeights,
    learned: Learned,
    asked: Sequence[Asked],
    base: Sequence[list[int]],
) -> Figures:
    """The queries' figures with what was `learned`, against the ranking without outcomes
    (`base`)."""
    mrr = r1 = r5 = 0.0
    not_first = promoted = 0
    for q, before in zip(asked, base, strict=True):
        ids = rank(index, texts, weights, learned, q.text, q.scanner, q.filters)
        first = next((i for i, d in enumerate(ids) if d in q.relevant), None)
        mrr += 1 / (first + 1) if first is not None else 0.0
        r1 += first == 0
        r5 += first is not None and first < 5
        if before[:1] and before[0] not in q.relevant:
            not_first += 1
            promoted += first == 0
    n = len(asked) or 1
    return Figures(
        round(mrr / n, 4),
        round(r1 / n, 4),
        round(r5 / n, 4),
        round(promoted / not_first, 4) if not_first else 0.0,
        not_first,
    )


def spam_moves(
    index: HybridIndex,
    texts: Texts,
    weights: FusionWeights,
    learned: Learned,
    votes: dict[int, list[Vote]],
    asked: Sequence[Asked],
) -> list[int]:
    """For each query: one dispatcher records "fixed" `SPAM_VOTES` times for its 5th
    result (an unrelated article), on calls worded as the query (the worst case for the
    similar-call evidence); how many ranks that article rises."""
    moves = []
    book, cases = learned.book, learned.cases
    for q in asked:
        before = rank(index, texts, weights, learned, q.text, q.scanner, q.filters)
        if len(before) < 5 or before[4] in q.relevant:
            continue
        target = before[4]
        spam = [Vote(True, NOW, "one busy dispatcher", q.scanner)] * SPAM_VOTES
        book.replace({target: [*votes.get(target, []), *spam]}, NOW)
        spam_cases = [
            Case(-1 - n, q.scanner, target, NOW, "one busy dispatcher") for n in range(SPAM_VOTES)
        ]
        cases.replace(spam_cases, [texts.vector(q.text, weights)] * SPAM_VOTES)
        after = rank(index, texts, weights, learned, q.text, q.scanner, q.filters)
        book.replace({target: votes.get(target, [])}, NOW)
        cases.remove(c.id for c in spam_cases)
        moves.append(4 - after.index(target) if target in after else 0)
    return moves


def evaluate(
    index: HybridIndex,
    encode: Callable[[list[str]], np.ndarray],
    weights: FusionWeights,
    articles: dict[int, Article],
    asked: Sequence[Asked],
    *,
    per_voter: float = 1.0,
    prior_strength: float = 6.0,
    path: Path = PAST_CALLS,
) -> dict[str, object]:
    """Every figure of the module's docstring, for these queries; printed and returned."""
    by_slug = {a.slug: a.id for a in articles.values()}
    calls = read_past_calls(by_slug, path)
    texts = Texts(index, encode)
    texts.warm([t for _, t in calls] + [q.text for q in asked], weights)
    empty = Learned(OutcomeBook(), CaseBook())
    base = [rank(index, texts, weights, empty, q.text, q.scanner, q.filters) for q in asked]
    without = measure(index, texts, weights, empty, asked, base)
    out: dict[str, object] = {
        "past_calls": len(calls),
        "weight": weights.outcome,
        "similar_calls_weight": weights.similar_calls,
        "per_voter": per_voter,
        "prior_strength": prior_strength,
        "without": asdict(without),
    }
    for name, noise in (("learned", 0.0), ("noisy_20pct", 0.2)):
        learned, votes = replay(
            index,
            texts,
            weights,
            articles,
            calls,
            noise=noise,
            per_voter=per_voter,
            prior_strength=prior_strength,
        )
        out[name] = asdict(measure(index, texts, weights, learned, asked, base))
        if name == "learned":
            moves = spam_moves(index, texts, weights, learned, votes, asked)
            out["spam_max_ranks"] = max(moves, default=0)
            out["spam_mean_ranks"] = round(sum(moves) / len(moves), 3) if moves else 0.0
            out["spam_queries"] = len(moves)
    print(f"\noutcomes: {len(calls)} past calls replayed; {len(asked)} queries on a new call")
    print(f"{'':<12} {'MRR@10':>7} {'R@1':>6} {'R@5':>6} {'promoted':>9}")
    for name in ("without", "learned", "noisy_20pct"):
        f = out[name]
        assert isinstance(f, dict)
        print(
            f"{name:<12} {f['mrr10']:>7.4f} {f['r1']:>6.3f} {f['r5']:>6.3f} "
            f"{f['promoted']:>9.3f} (of {f['not_first']} not first)"
        )
    print(
        f"one dispatcher, {SPAM_VOTES} x fixed for the 5th result: moves it up at most "
        f"{out['spam_max_ranks']} ranks (mean {out['spam_mean_ranks']}, "
        f"{out['spam_queries']} queries)"
    )
    return out
