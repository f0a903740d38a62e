"""Knowledge gaps grouped by meaning: the unanswered searches of `app/calls/reuse.py`,
similar ones together, so that an engineer writes one article per group."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from app.calls.reuse import Gap, find_gaps, weak_reason
from app.reports.schemas import GapGroup, GapReport
from app.search.index import ArticleIndex

Vectors = npt.NDArray[np.float32]

MAX_GAPS = 500  # the newest gaps read and grouped: older ones are answered or forgotten
EXAMPLES = 5
CALL_IDS = 10
TITLE_CHARS = 150


def _same(text: str) -> str:
    """A query's text as the gaps compare it (case and spacing aside)."""
    return " ".join(text.lower().split())


def cluster(gaps: Sequence[Gap], vectors: Vectors, similarity: float) -> list[list[int]]:
    """The gaps' indices in groups, in the order given (newest first): a gap joins the
    group whose centroid is nearest when the cosine is at least `similarity` (the first
    such group on a tie), else starts one; a text seen before goes where it went."""
    sums = np.zeros((len(gaps), vectors.shape[1] if len(gaps) else 0), dtype=np.float64)
    groups: list[list[int]] = []
    placed: dict[str, int] = {}
    for i, gap in enumerate(gaps):
        key = _same(gap.query)
        chosen = placed.get(key)
        if chosen is None and groups:
            totals = sums[: len(groups)]
            cosines = (totals @ vectors[i]) / np.maximum(np.linalg.norm(totals, axis=1), 1e-12)
            best = int(np.argmax(cosines))
            chosen = best if cosines[best] >= similarity else None
        if chosen is None:
            chosen = len(groups)
            groups.append([])
        groups[chosen].append(i)
        sums[chosen] += vectors[i]
        placed.setdefault(key, chosen)
    return groups


def _reasons(members: Sequence[Gap], best: float | None) -> list[str]:
    """Its gaps' reasons, the most frequent first; the no-good-match ones said once, with
    the group's best confidence."""
    counts: Counter[str] = Counter()
    for gap in members:
        for reason in gap.reasons:
            # reuse words each weak search with its own confidence: the group names its best
            if reason == weak_reason(gap.best_confidence):
                reason = weak_reason(best)
            counts[reason] += 1
    return [reason for reason, _ in counts.most_common()]


def _title(phrasing: str) -> str:
    return phrasing[:1].upper() + phrasing[1:TITLE_CHARS]


def summarise(members: Sequence[Gap], vectors: Vectors) -> GapGroup:
    """One group from its gaps (newest first) and their vectors."""
    centroid = vectors.sum(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    closeness = vectors @ centroid
    phrasings: dict[str, tuple[float, str]] = {}
    for gap, near in zip(members, closeness, strict=True):
        phrasings.setdefault(_same(gap.query), (-float(near), gap.query.strip()))
    # most central first; equally central: the newest (dicts keep the order seen)
    examples = [text for _, text in sorted(phrasings.values(), key=lambda p: p[0])]
    scored = [g for g in members if g.best_confidence is not None]
    best = max(scored, key=lambda g: g.best_confidence or 0.0, default=None)
    confidence = best.best_confidence if best else None
    calls = list(dict.fromkeys(g.call_id for g in members))
    drafts = dict.fromkeys(g.draft_article_id for g in members if g.draft_article_id)
    return GapGroup(
        size=len(members),
        calls=len(calls),
        modalities=sorted({g.modality for g in members if g.modality}),
        newest=max(g.at for g in members),
        oldest=min(g.at for g in members),
        suggested_title=_title(examples[0]),
        examples=examples[:EXAMPLES],
        best_title=best.best_title if best else None,
        best_confidence=round(confidence, 4) if confidence is not None else None,
        reasons=_reasons(members, confidence),
        call_ids=calls[:CALL_IDS],
        draft_article_ids=list(drafts)[:CALL_IDS],
    )


def group(
    *,
    session: Session,
    index: ArticleIndex,
    similarity: float,
    limit: int | None = None,
) -> list[GapGroup]:
    """The newest gaps (searches with no good match, unfixed escalations) grouped by the
    meaning of their queries, largest group first, then the newest; the first `limit`
    (None: all)."""
    gaps = find_gaps(session=session, limit=MAX_GAPS)
    vectors = index.encode([g.query for g in gaps])
    groups = [
        summarise([gaps[i] for i in members], vectors[members])
        for members in cluster(gaps, vectors, similarity)
    ]
    groups.sort(key=lambda g: (-g.size, -g.newest.timestamp()))
    return groups if limit is None else groups[:limit]


def report(*, session: Session, index: ArticleIndex, similarity: float, limit: int) -> GapReport:
    """The `limit` largest groups, with how many gaps and groups there are in all."""
    groups = group(session=session, index=index, similarity=similarity)
    return GapReport(
        no_match_below=index.calibration.possible,
        similarity=similarity,
        gaps=sum(g.size for g in groups),
        groups_total=len(groups),
        groups=groups[:limit],
    )
