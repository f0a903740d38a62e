"""Search request and response shapes."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Set
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.articles.models import Modality
from app.articles.schemas import Step


class SearchFilters(BaseModel):
    """Hard filters: only matching articles can be returned.

    An article that names no manufacturer (or no models) applies to all of them and
    passes those filters.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    modality: Modality | None = None
    manufacturer: str | None = Field(None, min_length=1, max_length=100)
    model: str | None = Field(None, min_length=1, max_length=100)
    error_code: str | None = Field(None, min_length=1, max_length=40)


class SearchRequest(BaseModel):
    """What the dispatcher typed, with optional filters."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1,
        description="The symptom in the caller's words, an error code or a model, or a "
        "whole ticket's body (greeting, context and signature are left out: see `ticket` "
        "in the answer); at most QUERY_MAX_CHARS characters (default 20,000).",
        examples=["CT makes a popping sound and the images have streaks"],
    )
    filters: SearchFilters = Field(default_factory=SearchFilters)
    limit: int | None = Field(
        None, ge=1, description="How many fixes to return (default 5, at most SEARCH_MAX_LIMIT)."
    )


class PastCalls(BaseModel):
    """An article's record on past calls, as it moved this search's ranking."""

    fixed: int = Field(description="Calls it fixed, on the scanners `where` names.")
    tried: int = Field(description="Calls that recorded an outcome for it there.")
    where: str = Field(
        description="The scanners counted: the model searched for, else its maker and "
        "modality, else the modality; empty for every call."
    )
    adjustment: float = Field(
        description="How far the record moved the score, from -1 (always failed) to 1 "
        "(always fixed), times OUTCOME_WEIGHT; 0 without a record."
    )


class SimilarFixes(BaseModel):
    """The similar past calls an article fixed, as they moved this search's ranking."""

    fixed: int = Field(description="Resolved calls on the same model, worded like the query.")
    adjustment: float = Field(
        description="How far they moved the score, from 0 to 1, times SIMILAR_CALLS_WEIGHT "
        "(one person's calls count as one; the person with the most is left out)."
    )


class Why(BaseModel):
    """Why an article matched: the evidence of each lane."""

    semantic: float = Field(
        description="Cosine similarity of the query to the title, issue and its other phrasings."
    )
    semantic_body: float = Field(description="Cosine similarity of the query to the full text.")
    keyword_score: float = Field(description="BM25 relative to the best BM25 hit (0..1).")
    keyword_terms: list[str] = Field(
        description="The query's words, as typed, that the article has (in any form: "
        '"popping" finds "pop"), in the order of the query.'
    )
    error_codes: list[str] = Field(description="Error codes in the query that the article has.")
    models: list[str] = Field(description="Models in the query that the article covers.")
    filters: dict[str, str] = Field(description="Filters the article passed.")
    named: dict[str, list[str]] = Field(
        description="What the query's words name (modality, manufacturer, model), where the "
        "request does not filter on it: a soft filter, articles for others rank below."
    )
    unlike_named: bool = Field(
        description="The article is not for what the query names, so it ranks below those "
        "that are (an exact error code still ranks it above them)."
    )
    past_calls: PastCalls | None = Field(
        None, description="Its outcomes on past calls, when some were recorded."
    )
    similar_calls: SimilarFixes | None = Field(
        None,
        description="Resolved calls on the searched scanner's model, worded like the query, "
        "that it fixed (a search on a scanner only).",
    )
    summary: str


class SearchHit(BaseModel):
    """One ranked fix."""

    rank: int
    id: int
    slug: str
    title: str
    score: float = Field(
        description="The fused ranking score: it orders the hits of one search and means "
        "nothing across searches (read `confidence`)."
    )
    confidence: float = Field(
        ge=0,
        le=1,
        description="The estimated probability that this article fixes what was asked, "
        "calibrated on labelled searches (among hits at 0.8, about 8 in 10 are right; "
        "docs/quality.md).",
    )
    strength: Literal["strong", "possible", "weak"] = Field(
        description="The confidence in words: strong, possible or weak (the thresholds of `match`)."
    )
    modality: Modality
    manufacturer: str | None
    models: list[str]
    error_codes: list[str]
    issue: str
    cause: str
    steps: list[Step]
    escalate_when: str
    version: int
    why: Why


# the SearchHit fields each search fills in; the article's card gives all the others
SEARCHED = ("rank", "score", "confidence", "strength", "why")


class TicketParts(BaseModel):
    """What of a whole ticket the ranking was given: the sentences that describe the fault."""

    searched_for: str = Field(description="The text ranked on: the kept sentences, joined.")
    kept: list[str] = Field(description="The sentences kept, in the ticket's order.")
    dropped: int = Field(
        description="Sentences left out: greetings, signatures, contact lines, quoted "
        "replies, and context further from the library's faults."
    )


class Corrected(BaseModel):
    """A word of the query not in the library, and the library word searched instead."""

    typed: str
    searched: str


class SearchResponse(BaseModel):
    """Ranked fixes, best first."""

    query: str
    ticket: TicketParts | None = Field(
        description="When the query is a whole ticket (several sentences, over 200 "
        "characters), the parts that describe the fault, which the ranking used; null for "
        "a typed query, ranked as typed."
    )
    filters: SearchFilters
    expanded_with: list[str] = Field(
        description="Equivalent terms from the glossary that the query was widened with."
    )
    corrected: list[Corrected] = Field(
        description="Misspelled words the keyword lane searched as the library spells them "
        '("pictres" as "pictures"); words with digits (error codes, models) and the '
        "library's own words are never changed. The meaning lanes read the query as typed."
    )
    total: int
    match: Literal["strong", "possible", "none"] = Field(
        description="How well the best hit fits: strong, possible, or none (nothing fits: "
        "escalate or capture an article; the search counts as a knowledge gap). The "
        "results are listed all the same."
    )
    took_ms: float = Field(
        description="Milliseconds the search took on its search thread (a search waiting "
        "for a free one under load does not count the wait)."
    )
    results: list[SearchHit]


class IndexStatus(BaseModel):
    """State of the live search index."""

    documents: int
    loaded_from_disk: bool
    encoder: str
    last_sync: dict[str, int | bool]


@cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, ...], frozenset[str]]:
    return tuple(model.model_fields), frozenset(model.model_fields)


def as_json(
    model: type[BaseModel], values: Mapping[str, Any], *, unset: Collection[str] = ()
) -> dict[str, Any]:
    """`values`, already JSON-ready, as `model` serialises them: each declared field in
    its declared order, without a validation pass (the search path sends what it builds
    this way). The fields in `unset` are None, for the caller to set in place (a key set
    again keeps its place); a field neither given nor unset, or one not declared, is a
    ValueError."""
    order, names = _fields(model)
    given: Set[str] = values.keys() | set(unset) if unset else values.keys()
    if given != names:
        missing, extra = sorted(names - given), sorted(given - names)
        raise ValueError(f"{model.__name__}: missing {missing}, not declared {extra}")
    return {name: values.get(name) for name in order}


class SimilarRequest(BaseModel):
    """An article being written or captured, as far as it goes."""

    title: str = Field(min_length=1, max_length=200)
    issue: str = Field("", max_length=4000)
    reported_as: list[str] = Field(default_factory=list, max_length=30)
    error_codes: list[str] = Field(default_factory=list, max_length=50)
    exclude_id: int | None = Field(
        None, ge=1, description="The article itself, when it exists already (an edit)."
    )
    limit: int = Field(5, ge=1, le=20)


class SimilarArticle(BaseModel):
    """A published article close to the one being written."""

    id: int
    slug: str
    title: str
    modality: Modality
    error_codes: list[str]
    score: float = Field(description="Its search score for the new article's text.")
    likely_duplicate: bool = Field(
        description="The score reaches DUPLICATE_SCORE: probably the same fault."
    )
    shared_error_codes: list[str] = Field(
        description="Error codes of the new article that it claims too."
    )


class SimilarResponse(BaseModel):
    """The closest published articles, best first."""

    threshold: float = Field(description="DUPLICATE_SCORE: a likely duplicate from here.")
    results: list[SimilarArticle]
