"""What the library learns from calls: article reuse figures, drafts captured from
calls, and the searches it did not answer (knowledge gaps)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.articles import service as article_service
from app.articles.models import Article
from app.articles.schemas import ArticleCreate, Step
from app.assets.models import Asset
from app.auth.service import Principal
from app.calls.models import Call, CallArticle, CallEvent, CallState, Escalation, EventKind
from app.calls.package import error_codes_in
from app.calls.schemas import ArticleStats
from app.calls.service import add_event, get
from app.errors import Conflict
from app.later import wait_for_records
from app.search import similar
from app.search.index import ArticleIndex
from app.search.schemas import SimilarArticle


def article_stats(*, session: Session, article_id: int) -> ArticleStats:
    """Suggested, opened, tried, fixed counts and the tier-1 fix rate of an article."""
    article_service.get(session=session, ref=article_id)
    wait_for_records(session)
    links = session.scalars(select(CallArticle).where(CallArticle.article_id == article_id)).all()
    tried = sum(1 for x in links if x.outcome is not None)
    fixed_t1 = sum(1 for x in links if x.fixed_tier == 1)
    return ArticleStats(
        article_id=article_id,
        suggested=sum(1 for x in links if x.suggested),
        opened=sum(1 for x in links if x.opened),
        tried=tried,
        fixed=sum(1 for x in links if x.fixed_tier is not None),
        fixed_tier1=fixed_t1,
        tier1_fix_rate=round(fixed_t1 / tried, 4) if tried else None,
    )


NOTES_RESTRICTION = "from tier-2 notes: review before tier 1 does it"


def _steps(session: Session, call: Call) -> list[Step]:
    """The draft's steps: the fixing article's, else the resolution notes line by line."""
    fixing = session.get(Article, call.fixed_by_article_id) if call.fixed_by_article_id else None
    if fixing is not None:
        return [Step.model_validate(s) for s in fixing.steps]
    # what tier 2 or the field did is not for tier 1 until an engineer says it is
    lines = (call.resolution_notes or "").splitlines()
    steps = [
        Step(text=line.strip(" -*\t"), tier1_allowed=False, restriction=NOTES_RESTRICTION)
        for line in lines
        if line.strip(" -*\t")
    ]
    return steps or [Step(text="Describe the fix that worked.")]


def draft_article(
    *, session: Session, index: ArticleIndex, call_id: int, principal: Principal
) -> tuple[Article, bool]:
    """A draft article prefilled from a resolved or escalated call, linked to it (the
    draft and the link are one write: neither is kept without the other); returns
    (article, created): a call captured before gives its draft again."""
    call = get(session=session, call_id=call_id)
    if call.draft_article_id is not None:
        return article_service.get(session=session, ref=call.draft_article_id), False
    if call.state == CallState.OPEN:
        raise Conflict(
            f"call {call.id} is still open at tier 1; resolve or escalate it first",
            current_state=call.state,
        )
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    symptom = call.symptom or "Symptom not recorded"
    title = re.split(r"(?<=[.!?])\s", symptom, maxsplit=1)[0][:150]
    data = ArticleCreate(
        title=title if len(title) >= 3 else f"Call {call.id}",
        issue=symptom if len(symptom) >= 3 else f"Call {call.id}",
        modality=call.modality or (asset.modality if asset else "IT"),
        manufacturer=asset.manufacturer if asset else None,
        models=[asset.model] if asset else [],
        software_versions=[asset.software_version] if asset and asset.software_version else [],
        error_codes=error_codes_in(index, [call.symptom, call.resolution_notes or ""])[:50],
        cause="",
        steps=_steps(session, call),
        escalate_when="",
        status="draft",
        author=principal.name,
    )
    article = article_service.create(
        session=session,
        data=data,
        actor=principal.name,
        indexer=None,
        source=f"call:{call.id}",
        change=f"drafted from call {call.id}",
    )
    call.draft_article_id = article.id
    made = {"article_id": article.id, "slug": article.slug}
    add_event(session, call, EventKind.DRAFT_CREATED, principal, **made)
    session.flush()
    return article, True


# -- knowledge gaps: what dispatchers searched for that the library did not answer --------


@dataclass
class Gap:
    """One query on one call that the library did not answer, and why it counts."""

    call_id: int
    query: str
    at: datetime
    modality: str | None
    draft_article_id: int | None
    best_confidence: float | None = None
    best_title: str | None = None
    reasons: list[str] = field(default_factory=list)


GapKey = tuple[int, str]


def weak_reason(confidence: float | None) -> str:
    """The reason of a search whose match was none (its best hit's confidence, if known)."""
    if confidence is None:
        return "no good match"
    return f"no good match (best confidence {confidence:.0%})"


def draft_neighbours(
    *, session: Session, index: ArticleIndex, article: Article, threshold: float
) -> list[SimilarArticle]:
    """The published articles closest to a captured draft, likely duplicates marked: the
    engineer looks at them before completing the draft."""
    draft = similar.draft_of(article, exclude_id=article.id)
    found = similar.find(session=session, index=index, draft=draft, threshold=threshold)
    return found.results


def _key(call_id: int, query: str) -> GapKey:
    return call_id, " ".join(query.lower().split())


def _weak_searches(session: Session, scan: int, gaps: dict[GapKey, Gap]) -> dict[int, str]:
    """Add searches that found nothing or no good match (their match level "none");
    returns each call's latest query."""
    # the match lives in each event's JSON, which SQLite and PostgreSQL query differently,
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
        # a search recorded before confidence existed has no match level: only an empty
        # one counts
        scored = [r for r in results if isinstance(r.get("confidence"), int | float)]
        best = max(scored, key=lambda r: float(r["confidence"]), default=None)
        if not results:
            reason = "no article matched"
        elif event.data.get("match") == "none":
            reason = weak_reason(float(best["confidence"]) if best else None)
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
            best_confidence=float(best["confidence"]) if best else None,
            best_title=str(best.get("title") or "") if best else None,
            reasons=[reason],
        )
    return latest_query


def _unfixed_escalations(
    session: Session, limit: int, latest_query: dict[int, str], gaps: dict[GapKey, Gap]
) -> None:
    """Add escalated calls that were resolved without a fixing article."""
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
    reason = "escalated, then resolved without a fixing article"
    for call in unfixed:
        query = latest_query.get(call.id) or call.symptom.strip()
        if not query:
            continue
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


def find_gaps(*, session: Session, limit: int = 100, scan: int = 5000) -> list[Gap]:
    """Searches with no good match or none, and escalated calls resolved with no
    article; newest first."""
    wait_for_records(session)
    gaps: dict[GapKey, Gap] = {}
    latest_query = _weak_searches(session, scan, gaps)
    _unfixed_escalations(session, limit, latest_query, gaps)
    return sorted(gaps.values(), key=lambda g: g.at, reverse=True)[:limit]
