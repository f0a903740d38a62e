"""The scanner's recent calls, shown on a call and carried in its escalation package."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.articles.models import Article
from app.calls.models import Call
from app.calls.package_schemas import PriorCall

HISTORY_DAYS = 90
REPEAT_DAYS = 30
REPEAT_CALLS = 3  # calls on one scanner within REPEAT_DAYS that make a repeat fault


def scanner_history(session: Session, call: Call, limit: int = 20) -> list[PriorCall]:
    """The scanner's other calls opened in the HISTORY_DAYS before this one, newest first."""
    if call.asset_id is None:
        return []
    since = call.opened_at - timedelta(days=HISTORY_DAYS)
    rows = session.execute(
        select(Call, Article.title)
        .outerjoin(Article, Article.id == Call.fixed_by_article_id)
        .where(Call.asset_id == call.asset_id, Call.id != call.id, Call.opened_at >= since)
        .where(Call.opened_at <= call.opened_at)
        .order_by(Call.opened_at.desc(), Call.id.desc())
        .limit(limit)
    ).all()
    return [
        PriorCall(
            id=c.id,
            opened_at=c.opened_at,
            symptom=c.symptom,
            state=c.state,
            resolved_at=c.resolved_at,
            fixed_by_article_id=c.fixed_by_article_id,
            fixed_by_title=title,
            resolution_reason=c.resolution_reason,
            resolution_notes=c.resolution_notes,
        )
        for c, title in rows
    ]


def repeat_fault(session: Session, call: Call) -> bool:
    """Whether this call makes REPEAT_CALLS or more on its scanner within REPEAT_DAYS."""
    if call.asset_id is None:
        return False
    since = call.opened_at - timedelta(days=REPEAT_DAYS)
    count = session.scalar(
        select(func.count())
        .select_from(Call)
        .where(Call.asset_id == call.asset_id, Call.opened_at >= since)
        .where(Call.opened_at <= call.opened_at)
    )
    return (count or 0) >= REPEAT_CALLS
