"""Fusion of the dense, lexical and exact lanes into one ranking, with the evidence kept."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

# records closer than this count as equal among a code's claimants, so match decides
RECORD_STEP = 0.25


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
        3 is measurably quicker than all on a large library, with dev quality unchanged).
    outcome: the most a document's record on past calls moves its score, up or down
        (`embeddings/outcomes.py`; 0 without votes).
    similar_calls: the most the fixes of similar past calls on the scanner's model move a
        document's score up (`embeddings/cases.py` evidence, in [0, 1); 0 without any).
    unnamed: how far a document drops when the query names a modality, maker or model
        (a soft filter) that the document does not cover: past any difference in match
        and learning, not past an exact error code.
    code_record: among documents that claim the query's error code, the step a better
        record on past calls (its adjustment, in steps of `RECORD_STEP`) moves the score:
        larger than any difference in match, so claimants rank by record, then by match,
        and all stay above documents without the code (while `code` exceeds it).
    synonyms_in_headline: whether BM25 looks for the equivalents in the headline field too,
        not only in the body (which holds the headline's words as well); they were half a
        query's postings, and looking in both fields made BM25 measurably slower on a
        large library for the same dev MRR@10 (docs/quality.md, docs/benchmarks.md).
    spelling: whether BM25 sees the query with its misspelled words corrected against the
        library's vocabulary (`embeddings/spelling.py`); the other lanes see it as typed.
    """

    headline: float = 1.0
    body: float = 0.3
    lexical: float = 0.15
    model: float = 0.05
    code: float = 10.0
    outcome: float = 0.3
    code_record: float = 6.0
    similar_calls: float = 1.5
    unnamed: float = 4.0
    synonyms: float = 1.0
    expand_dense: bool = False
    dense_per_group: int = 1
    lexical_per_group: int = 3
    synonyms_in_headline: bool = False
    spelling: bool = True

    def dense_only(self) -> FusionWeights:
        """Same dense weighting, no lexical or exact lane."""
        return replace(
            self,
            lexical=0.0,
            model=0.0,
            code=0.0,
            outcome=0.0,
            similar_calls=0.0,
            synonyms=0.0,
            lexical_per_group=0,
        )

    def lexical_only(self) -> FusionWeights:
        """BM25 alone."""
        return replace(
            self,
            headline=0.0,
            body=0.0,
            lexical=1.0,
            model=0.0,
            code=0.0,
            outcome=0.0,
            similar_calls=0.0,
            expand_dense=False,
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
    unlike_named: bool = False  # not what the query names (dropped by `unnamed`)
    confidence: float | None = None  # calibrated chance that it fixes (embeddings/confidence.py)


@dataclass
class LaneScores:
    """Every candidate of one query, one row each, with each lane's score (0 where the
    lane did not find it) and the identifiers the exact lanes matched."""

    ids: npt.NDArray[np.int64]
    headline: npt.NDArray[np.float64]
    body: npt.NDArray[np.float64]
    lexical: npt.NDArray[np.float64]
    codes: Mapping[int, list[str]] = field(default_factory=dict)
    models: Mapping[int, list[str]] = field(default_factory=dict)


def fuse(
    lanes: LaneScores,
    weights: FusionWeights,
    k: int,
    adjust: Callable[[Sequence[int]], Mapping[int, float]] | None = None,
    boost: Mapping[int, float] | None = None,
    unlike: npt.NDArray[np.bool_] | None = None,
) -> list[Candidate]:
    """The k best candidates, scored linearly, best first (ties broken by id for
    stability); `adjust` gives some candidates an adjustment in [-1, 1] (their record
    on past calls), weighed by `weights.outcome`; `boost` some an evidence in [0, 1)
    (similar past calls they fixed), weighed by `weights.similar_calls`; `unlike` marks,
    row by row, those that are not what the query names (dropped by `weights.unnamed`)."""
    n = len(lanes.ids)
    if n == 0:
        return []
    # scored as arrays: a search has many candidates and keeps a few, and every Python
    # object made per candidate is time on the interpreter lock, which the searches of
    # all clients share
    top_lexical = float(lanes.lexical.max())
    lexical_norm = lanes.lexical / top_lexical if top_lexical > 0 else np.zeros(n)
    # the same operations in the same order as one candidate at a time in float64, so the
    # scores (and the order of near ties) do not depend on how many were scored together
    score = (
        weights.headline * lanes.headline
        + weights.body * lanes.body
        + weights.lexical * lexical_norm
        + np.where(_flagged(lanes.ids, lanes.models), weights.model, 0.0)
        + np.where(_flagged(lanes.ids, lanes.codes), weights.code, 0.0)
    )
    adjusted = adjust(lanes.ids.tolist()) if adjust is not None and weights.outcome else {}
    if adjusted:
        # without any, the scores are bit for bit those of a search without records
        record = np.fromiter(
            (adjusted.get(i, 0.0) for i in lanes.ids.tolist()), dtype=np.float64, count=n
        )
        score = score + weights.outcome * record
        if lanes.codes:
            # claimants of the code: by record (in steps), then by match; never by age
            steps = np.round(record / RECORD_STEP) * RECORD_STEP
            claims = _flagged(lanes.ids, lanes.codes)
            score = score + np.where(claims, weights.code_record * steps, 0.0)
    if boost and weights.similar_calls:
        score = score + weights.similar_calls * np.fromiter(
            (boost.get(i, 0.0) for i in lanes.ids.tolist()), dtype=np.float64, count=n
        )
    if unlike is not None and weights.unnamed:
        score = score - np.where(unlike, weights.unnamed, 0.0)
    order = np.lexsort((lanes.ids, -score))[:k]
    return [
        Candidate(
            id=int(lanes.ids[r]),
            headline=float(lanes.headline[r]),
            body=float(lanes.body[r]),
            lexical=float(lanes.lexical[r]),
            lexical_norm=float(lexical_norm[r]),
            codes=list(lanes.codes.get(int(lanes.ids[r]), ())),
            models=list(lanes.models.get(int(lanes.ids[r]), ())),
            score=float(score[r]),
            unlike_named=bool(unlike[r]) if unlike is not None else False,
        )
        for r in order.tolist()
    ]


def _flagged(ids: npt.NDArray[np.int64], found: Mapping[int, list[str]]) -> npt.NDArray[np.bool_]:
    """Which of `ids` an exact lane matched."""
    if not found:
        return np.zeros(len(ids), dtype=bool)
    return np.fromiter((i in found for i in ids.tolist()), dtype=bool, count=len(ids))
