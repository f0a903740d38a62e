"""Ranking that learns from outcomes: the calls' recorded outcomes, read as votes into
the index's outcome book (`embeddings/outcomes.py`; docs/quality.md says how it is kept
from burying what nobody tried)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assets.models import Asset
from app.calls.models import COUNTED_OUTCOMES, AttemptOutcome, Call, CallArticle
from app.db import utcnow
from app.feed import service as feed_service
from app.feed.models import Topic
from app.search.index import ArticleIndex, Scanner, Vote


def votes(*, session: Session, article_ids: Iterable[int] | None = None) -> dict[int, list[Vote]]:
    """Every recorded outcome as a vote, per article (of `article_ids`, or all)."""
    stmt = (
        select(
            CallArticle.article_id,
            CallArticle.outcome,
            CallArticle.outcome_at,
            CallArticle.outcome_by,
            Call.id,
            Call.modality,
            Asset.modality,
            Asset.manufacturer,
            Asset.model,
        )
        .join(Call, Call.id == CallArticle.call_id)
        .outerjoin(Asset, Asset.id == Call.asset_id)
        .where(CallArticle.outcome.in_(COUNTED_OUTCOMES), CallArticle.outcome_at.is_not(None))
    )
    ids = None if article_ids is None else sorted(set(article_ids))
    if ids is not None:
        stmt = stmt.where(CallArticle.article_id.in_(ids))
    found: dict[int, list[Vote]] = defaultdict(list)
    for article_id, outcome, at, by, call_id, modality, a_mod, a_man, a_model in session.execute(
        stmt
    ):
        if at is None:  # excluded by the query: for the type checker
            continue
        found[article_id].append(
            Vote(
                fixed=outcome == AttemptOutcome.FIXED,
                at=at,
                # a vote from a key without a person (an integration) stands for its call
                voter=by if by is not None else f"call {call_id}",
                scanner=Scanner(a_mod or modality, a_man, a_model),
            )
        )
    if ids is not None:
        for article_id in ids:
            found.setdefault(article_id, [])
    return dict(found)


def load(*, session: Session, index: ArticleIndex, article_ids: Iterable[int] | None = None) -> int:
    """Read the votes into the index's book (of `article_ids`, or all); returns how many
    articles have a record."""
    if article_ids is None:
        index.outcomes.reset(votes(session=session), utcnow())
    else:
        index.outcomes.replace(votes(session=session, article_ids=article_ids), utcnow())
    return len(index.outcomes)


def changed(*, session: Session, article_id: int) -> None:
    """An outcome of this article was recorded or withdrawn: every process reads its votes
    again once the transaction commits (the change feed)."""
    feed_service.record(session=session, topic=Topic.OUTCOME, ref=article_id)
