"""Query -> ranked fixes with their steps and why each matched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.errors import InvalidInput
from app.search.index import ArticleIndex, Hit, Scanner
from app.search.schemas import SearchRequest, SearchResponse, Why, as_json

MAX_LISTED = 50


@dataclass(frozen=True)
class SearchLimits:
    """The bounds every search is held to, from the settings."""

    default_limit: int
    max_limit: int
    max_chars: int

    @classmethod
    def of(cls, settings: Settings) -> SearchLimits:
        """The configured limits."""
        return cls(
            default_limit=settings.search_default_limit,
            max_limit=settings.search_max_limit,
            max_chars=settings.query_max_chars,
        )


def _check_filters(index: ArticleIndex, passed: dict[str, Any]) -> dict[str, list[str]]:
    """Filters as the index wants them (`passed`: those set, as JSON); an unknown value is
    a 422 listing the valid ones."""
    out: dict[str, list[str]] = {}
    for name, value in passed.items():
        if name != "modality" and not index.has_value(name, value):
            # listing the valid values scans the index: only on the error path
            known = index.known_values(name)
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


def search_payload(
    *,
    session: Session | Callable[[], Session],
    index: ArticleIndex,
    request: SearchRequest,
    limits: SearchLimits,
    scanner: Scanner | None = None,
) -> dict[str, Any]:
    """Ranked published fixes for a query, hard-filtered, as the JSON a SearchResponse
    serialises to (built from prepared hit cards, not validated again). The search
    itself runs in its turn on the index's search threads; `took_ms` is its time there,
    without the wait for a thread. `session` may be a function that opens one, called
    only when a hit's card must be read from the database. `scanner`: the scanner the
    search is for (its records on past calls there count most); by default the one the
    filters name."""
    query = request.query.strip()
    if not query:
        raise InvalidInput(
            "the query is empty", errors=[{"field": "query", "message": "type a symptom"}]
        )
    max_chars, max_limit = limits.max_chars, limits.max_limit
    if len(query) > max_chars:
        raise InvalidInput(
            f"the query is {len(query)} characters; the limit is {max_chars}",
            errors=[{"field": "query", "message": f"at most {max_chars} characters"}],
        )
    limit = request.limit or limits.default_limit
    if limit > max_limit:
        raise InvalidInput(
            f"limit {limit} is over the maximum {max_limit}",
            errors=[{"field": "limit", "message": f"at most {max_limit}"}],
        )
    every = request.filters.model_dump(mode="json")
    passed = {name: value for name, value in every.items() if value is not None}
    filters = _check_filters(index, passed)
    if scanner is None:
        scanner = Scanner(passed.get("modality"), passed.get("manufacturer"), passed.get("model"))
    hits = index.searches.run(_hits, session, index, query, limit, filters, passed, scanner)
    return as_json(
        SearchResponse,
        {
            "query": query,
            "ticket": hits.ticket,
            "filters": every,
            "expanded_with": hits.expanded_with,
            "corrected": hits.corrected,
            "total": len(hits.results),
            "match": hits.match,
            "took_ms": hits.took_ms,
            "results": hits.results,
        },
    )


async def search_json(
    *,
    sessions: sessionmaker[Session],
    index: ArticleIndex,
    request: SearchRequest,
    limits: SearchLimits,
) -> bytes:
    """`search_payload` as JSON bytes, computed and serialised on the search threads
    (in a session of its own), for a route that awaits it on the event loop."""

    opened: list[Session] = []

    def session() -> Session:
        if not opened:
            opened.append(sessions())
        return opened[0]

    def run() -> bytes:
        # hits mostly come from the card cache: a session is opened only for a miss
        # (opening and closing one per search is time under the interpreter lock)
        try:
            payload = search_payload(session=session, index=index, request=request, limits=limits)
        finally:
            for used in opened:
                used.close()
        return orjson.dumps(payload)

    return await asyncio.wrap_future(index.searches.submit(run))


@dataclass(frozen=True)
class _Hits:
    results: list[dict[str, Any]]
    expanded_with: list[str]
    took_ms: float
    match: str
    ticket: dict[str, Any] | None  # what of a whole ticket was searched
    corrected: list[dict[str, str]]  # misspelled words and what was searched instead


def _hits(
    session: Session | Callable[[], Session],
    index: ArticleIndex,
    query: str,
    limit: int,
    filters: dict[str, list[str]],
    passed: dict[str, Any],
    scanner: Scanner,
) -> _Hits:
    started = time.perf_counter()
    extract = index.fault_text(query)
    found = index.search(session, extract.text, limit, filters=filters, scanner=scanner)
    results = [
        _hit(rank, hit, found.query_words, passed, found.named, index.strength(hit.confidence))
        for rank, hit in enumerate(found.hits, start=1)
    ]
    took_ms = round((time.perf_counter() - started) * 1000, 2)
    ticket = (
        None
        if extract.whole
        else {"searched_for": extract.text, "kept": list(extract.kept), "dropped": extract.dropped}
    )
    corrected = [{"typed": typed, "searched": word} for typed, word in found.corrections]
    return _Hits(results, found.expanded_with, took_ms, str(found.match), ticket, corrected)


def search(
    *,
    session: Session,
    index: ArticleIndex,
    request: SearchRequest,
    limits: SearchLimits,
    scanner: Scanner | None = None,
) -> SearchResponse:
    """Ranked published fixes for a query, hard-filtered, as a model."""
    return SearchResponse.model_validate(
        search_payload(
            session=session,
            index=index,
            request=request,
            limits=limits,
            scanner=scanner,
        )
    )


def _hit(
    rank: int,
    hit: Hit,
    query_words: tuple[tuple[str, frozenset[str]], ...],
    filters: dict[str, Any],
    named: dict[str, list[str]],
    strength: str,
) -> dict[str, Any]:
    """One hit's JSON: its card's SearchHit, with what the search found filled in."""
    # the caller's words whose terms the article has, once each, in the query's order
    terms = list(dict.fromkeys(w for w, stems in query_words if stems & hit.card.terms))
    parts = []
    if hit.error_codes:
        parts.append(f"exact error code {', '.join(hit.error_codes)}")
    if hit.models:
        parts.append(f"model {', '.join(hit.models)}")
    parts.append(f"semantic similarity {hit.semantic:.2f}")
    if terms:
        parts.append(f"keywords: {', '.join(terms)}")
    record = hit.record
    if record is not None:
        on = f" on {record.where}" if record.where else ""
        parts.append(f"fixed {record.fixed} of {record.tried} calls{on}")
    if hit.unlike_named:
        parts.append(f"not for the {' or '.join(v for vs in named.values() for v in vs)} named")
    similar = hit.similar
    if similar is not None:
        parts.append(f"fixed {similar.fixed} similar past calls on this model")
    why = {
        "semantic": round(hit.semantic, 4),
        "semantic_body": round(hit.semantic_body, 4),
        "keyword_score": round(hit.keyword_score, 4),
        "keyword_terms": terms,
        "error_codes": list(hit.error_codes),
        "models": list(hit.models),
        "filters": dict(filters),
        "named": dict(named),
        "unlike_named": hit.unlike_named,
        "past_calls": None
        if record is None
        else {
            "fixed": record.fixed,
            "tried": record.tried,
            "where": record.where,
            "adjustment": round(record.adjustment, 4),
        },
        "similar_calls": None
        if similar is None
        else {"fixed": similar.fixed, "adjustment": round(similar.adjustment, 4)},
        "summary": "; ".join(parts),
    }
    shown = hit.card.hit.copy()  # SearchHit's fields in its order; set in place below
    shown["rank"] = rank
    shown["score"] = round(hit.score, 4)
    shown["confidence"] = round(hit.confidence, 4)
    shown["strength"] = strength
    shown["why"] = as_json(Why, why)
    return shown
