"""Similar past calls: the resolved calls whose text is nearest to a call's, on the same
scanner model first, then the same maker and modality, each with what fixed it
(`app/calls/past.py` keeps their vectors; docs/calls.md, "Similar past calls")."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.articles.models import Article
from app.assets.models import Asset, Site
from app.calls import past
from app.calls.models import Call
from app.calls.package_schemas import PastFix, SimilarCall, SimilarScanner
from app.calls.service import get
from app.search.index import ArticleIndex

DEFAULT_LIMIT = 3
MAX_LIMIT = 10
# a case the book still holds but the database no longer calls resolved (a reopen the
# feed has not brought yet) is skipped: ask for a few more than shown
SPARE = 5


def similar_calls(
    *, session: Session, index: ArticleIndex, call_id: int, limit: int = DEFAULT_LIMIT
) -> list[SimilarCall]:
    """The call's similar past calls (404 for an unknown call)."""
    return for_call(
        session=session, index=index, call=get(session=session, call_id=call_id), limit=limit
    )


def for_call(
    *, session: Session, index: ArticleIndex, call: Call, limit: int = DEFAULT_LIMIT
) -> list[SimilarCall]:
    """Up to `limit` resolved calls like this one (never itself), the same model first,
    each ring by similarity; its text is encoded now, as it stands."""
    text = past.texts(session, [call.id]).get(call.id, "")
    if not text or not len(index.cases):
        return []
    asset = session.get(Asset, call.asset_id) if call.asset_id else None
    near = index.cases.nearest(
        index.encode([text])[0],
        past.scanner_of(call.modality, asset),
        limit + SPARE,
        exclude={call.id},
    )
    if not near:
        return []
    ids = [n.case.id for n in near]
    rows = {
        c.id: (c, a, s, art)
        for c, a, s, art in session.execute(
            select(Call, Asset, Site, Article)
            .outerjoin(Asset, Asset.id == Call.asset_id)
            .outerjoin(Site, Site.id == Call.site_id)
            .outerjoin(Article, Article.id == Call.fixed_by_article_id)
            .where(Call.id.in_(ids), Call.state.in_(past.PAST), Call.resolved_at.is_not(None))
        ).tuples()
    }
    out: list[SimilarCall] = []
    for n in near:
        if n.case.id not in rows:
            continue
        c, a, s, art = rows[n.case.id]
        assert c.resolved_at is not None  # selected so
        out.append(
            SimilarCall(
                id=c.id,
                opened_at=c.opened_at,
                resolved_at=c.resolved_at,
                scanner=SimilarScanner(
                    modality=a.modality if a else c.modality,
                    manufacturer=a.manufacturer if a else None,
                    model=a.model if a else None,
                    site=s.hospital if s else None,
                ),
                symptom=c.symptom,
                similarity=round(n.similarity, 3),
                ring=n.ring_name,
                fix=PastFix(
                    article_id=art.id if art else None,
                    slug=art.slug if art else None,
                    title=art.title if art else None,
                    resolution_notes=c.resolution_notes,
                    resolution_reason=c.resolution_reason,
                ),
            )
        )
    return out[:limit]
