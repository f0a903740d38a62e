"""Query -> ranked fixes with their steps and why each matched."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from app.articles import service as article_service
from app.articles.models import Article, ArticleStatus
from app.errors import InvalidInput
from app.search.index import ArticleIndex, body_text, headline_text
from app.search.schemas import SearchFilters, SearchHit, SearchRequest, SearchResponse, Why
from embeddings.fusion import Candidate

MAX_LISTED = 50


def _check_filters(index: ArticleIndex, filters: SearchFilters) -> dict[str, list[str]]:
    """Filters as the index wants them; an unknown value is a 422 listing the valid ones."""
    out: dict[str, list[str]] = {}
    for name, value in filters.model_dump(exclude_none=True, mode="json").items():
        if name != "modality" and not index.hybrid.has_value(name, value):
            # listing the valid values scans the index: only on the error path
            known = index.hybrid.known_values(name)
            listed = sorted(known)[:MAX_LISTED]
            more = f" (and {len(known) - MAX_LISTED} more)" if len(known) > MAX_LISTED else ""
            raise InvalidInput(
                f"unknown {name} {value!r}",
                errors=[
                    {
                        "field": f"filters.{name}",
                        "message": f"unknown value; valid: {', '.join(listed)}{more}",
                    }
                ],
                valid_values=listed,
            )
        out[name] = [value]
    return out


def search(
    *,
    session: Session,
    index: ArticleIndex,
    request: SearchRequest,
    default_limit: int,
    max_limit: int,
    max_chars: int,
) -> SearchResponse:
    """Ranked published fixes for a query, hard-filtered."""
    started = time.perf_counter()
    query = request.query.strip()
    if not query:
        raise InvalidInput(
            "the query is empty", errors=[{"field": "query", "message": "type a symptom"}]
        )
    if len(query) > max_chars:
        raise InvalidInput(
            f"the query is {len(query)} characters; the limit is {max_chars}",
            errors=[{"field": "query", "message": f"at most {max_chars} characters"}],
        )
    limit = request.limit or default_limit
    if limit > max_limit:
        raise InvalidInput(
            f"limit {limit} is over the maximum {max_limit}",
            errors=[{"field": "limit", "message": f"at most {max_limit}"}],
        )
    filters = _check_filters(index, request.filters)
    vector = index.encode_query(query)
    candidates = index.hybrid.search(query, limit, filters=filters, query_vector=vector)
    articles = article_service.get_many(session=session, ids=[c.id for c in candidates])
    by_id = {a.id: a for a in articles if a.status == ArticleStatus.PUBLISHED}
    query_terms = set(index.hybrid.lexical.terms(query))
    hits: list[SearchHit] = []
    for cand in candidates:
        article = by_id.get(cand.id)
        if article is None:  # archived meanwhile, between index read and DB read
            continue
        hits.append(_hit(len(hits) + 1, article, cand, query_terms, index, request.filters))
    return SearchResponse(
        query=query,
        filters=request.filters,
        expanded_with=index.hybrid.expansions(query) if index.hybrid.weights.synonyms else [],
        total=len(hits),
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        results=hits,
    )


def _hit(
    rank: int,
    article: Article,
    cand: Candidate,
    query_terms: set[str],
    index: ArticleIndex,
    filters: SearchFilters,
) -> SearchHit:
    article_terms = set(
        index.hybrid.lexical.terms(f"{headline_text(article)}\n{body_text(article)}")
    )
    terms = sorted(query_terms & article_terms)
    parts = []
    if cand.codes:
        parts.append(f"exact error code {', '.join(cand.codes)}")
    if cand.models:
        parts.append(f"model {', '.join(cand.models)}")
    parts.append(f"semantic similarity {cand.headline:.2f}")
    if terms:
        parts.append(f"keywords: {', '.join(terms)}")
    return SearchHit(
        rank=rank,
        id=article.id,
        slug=article.slug,
        title=article.title,
        score=round(cand.score, 4),
        modality=article.modality,
        manufacturer=article.manufacturer,
        models=article.models,
        error_codes=article.error_codes,
        issue=article.issue,
        cause=article.cause,
        steps=article.steps,
        escalate_when=article.escalate_when,
        version=article.version,
        why=Why(
            semantic=round(cand.headline, 4),
            semantic_body=round(cand.body, 4),
            keyword_score=round(cand.lexical_norm, 4),
            keyword_terms=terms,
            error_codes=cand.codes,
            models=cand.models,
            filters=filters.model_dump(exclude_none=True, mode="json"),
            summary="; ".join(parts),
        ),
    )
