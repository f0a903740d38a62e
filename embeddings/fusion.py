"""Fusion of the dense, lexical and exact lanes into one ranking, with the evidence kept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FusionWeights:
    """Linear fusion weights; defaults tuned on the dev splits (see docs/quality.md).

    headline: cosine of the query with the title + issue vector.
    body: cosine with the full-text vector.
    lexical: BM25 divided by the best BM25 score of the query (so it lies in 0..1).
    model: bonus when the query names a model the article covers.
    code: bonus for an exact error-code hit, large enough to rank it above any other article.
    synonyms: weight of glossary equivalents of query words in BM25, relative to the
        query's own words (0: no lexical expansion).
    expand_dense: whether the dense lanes encode the query with its glossary equivalents.
    dense_per_group: how many equivalents of each matched glossary group the dense query
        gets (encoding time grows with the query's length).
    lexical_per_group: the same for BM25 (0: all of them; BM25 time grows with the terms:
        3 costs 20% less than all at 100k articles with dev quality unchanged).
    """

    headline: float = 1.0
    body: float = 0.3
    lexical: float = 0.15
    model: float = 0.05
    code: float = 10.0
    synonyms: float = 1.0
    expand_dense: bool = False
    dense_per_group: int = 1
    lexical_per_group: int = 3

    def dense_only(self) -> FusionWeights:
        """Same dense weighting, no lexical or exact lane."""
        return FusionWeights(
            self.headline, self.body, 0.0, 0.0, 0.0, 0.0, self.expand_dense, self.dense_per_group, 0
        )

    def lexical_only(self) -> FusionWeights:
        """BM25 alone."""
        return FusionWeights(
            0.0,
            0.0,
            1.0,
            0.0,
            0.0,
            self.synonyms,
            False,
            self.dense_per_group,
            self.lexical_per_group,
        )


@dataclass
class Candidate:
    """One document's evidence from every lane for one query."""

    id: int
    headline: float = 0.0
    body: float = 0.0
    lexical: float = 0.0
    lexical_norm: float = 0.0
    codes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    score: float = 0.0


def fuse(candidates: Iterable[Candidate], weights: FusionWeights) -> list[Candidate]:
    """Score every candidate and return them best first (ties broken by id for stability)."""
    cands = list(candidates)
    top_lexical = max((c.lexical for c in cands), default=0.0)
    for c in cands:
        c.lexical_norm = c.lexical / top_lexical if top_lexical > 0 else 0.0
        c.score = (
            weights.headline * c.headline
            + weights.body * c.body
            + weights.lexical * c.lexical_norm
            + (weights.model if c.models else 0.0)
            + (weights.code if c.codes else 0.0)
        )
    return sorted(cands, key=lambda c: (-c.score, c.id))
