"""Knowledge gaps: what dispatchers searched for that the library did not answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.calls.models import Call, CallEvent, CallState, Escalation, EventKind


@dataclass
class Gap:
    """One query on one call that the library did not answer, and why it counts."""

    call_id: int
    query: str
    at: datetime
    modality: str | None
    draft_article_id: int | None
    best_score: float | None = None
    best_title: str | None = None
    reasons: list[str] = field(default_factory=list)


def _key(call_id: int, query: str) -> tuple[int, str]:
    return call_id, " ".join(query.lower().split())


def find_gaps(
    *, session: Session, threshold: float, limit: int = 100, scan: int = 5000
) -> list[Gap]:
    """Weak or empty searches, and escalated calls resolved with no article; newest first."""
    gaps: dict[tuple[int, str], Gap] = {}
    # the scores live in each event's JSON, which SQLite and PostgreSQL query differently,
    # so the newest `scan` searches are filtered here rather than in SQL
    searches = session.execute(
        select(CallEvent, Call.modality, Call.draft_article_id)
        .join(Call, Call.id == CallEvent.call_id)
        .where(CallEvent.kind == EventKind.SEARCHED)
        .order_by(CallEvent.id.desc())
        .limit(scan)
    ).all()
    latest_query: dict[int, str] = {}
    for event, modality, draft_id in searches:
        query = str(event.data.get("query") or "").strip()
        if not query:
            continue
        latest_query.setdefault(event.call_id, query)
        results = event.data.get("results") or []
        scored = [r for r in results if isinstance(r.get("score"), int | float)]
        best = max(scored, key=lambda r: float(r["score"]), default=None)
        if best is None:
            reason = "no article matched"
        elif float(best["score"]) < threshold:
            reason = f"best score {float(best['score']):.2f} is below {threshold:.2f}"
        else:
            continue
        key = _key(event.call_id, query)
        if key in gaps:  # the same query searched again on the same call: keep the newest
            continue
        gaps[key] = Gap(
            call_id=event.call_id,
            query=query,
            at=event.at,
            modality=modality,
            draft_article_id=draft_id,
            best_score=float(best["score"]) if best else None,
            best_title=str(best.get("title") or "") if best else None,
            reasons=[reason],
        )
    unfixed = session.scalars(
        select(Call)
        .where(
            Call.state.in_([CallState.RESOLVED, CallState.CLOSED]),
            Call.fixed_by_article_id.is_(None),
            Call.id.in_(select(Escalation.call_id)),
        )
        .order_by(Call.resolved_at.desc(), Call.id.desc())
        .limit(limit)
    ).all()
    for call in unfixed:
        query = latest_query.get(call.id) or call.symptom.strip()
        if not query:
            continue
        reason = "escalated, then resolved without a fixing article"
        key = _key(call.id, query)
        if key in gaps:
            gaps[key].reasons.append(reason)
            continue
        gaps[key] = Gap(
            call_id=call.id,
            query=query,
            at=call.resolved_at or call.opened_at,
            modality=call.modality,
            draft_article_id=call.draft_article_id,
            reasons=[reason],
        )
    return sorted(gaps.values(), key=lambda g: g.at, reverse=True)[:limit]
