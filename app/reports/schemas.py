"""The service desk's figures over the API: what a report is asked for and what it answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class GroupBy(StrEnum):
    """What the rows of a desk report are."""

    PERIOD = "period"  # a day, an ISO week or a month of opening (UTC)
    MODALITY = "modality"
    MODEL = "model"  # the scanner's manufacturer and model
    SITE = "site"
    DISPATCHER = "dispatcher"  # who opened the call


class Period(StrEnum):
    """The length of a period bucket (weeks start on Monday, UTC)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class ArticleSort(StrEnum):
    """What the article report is sorted by (largest first)."""

    SHOWN = "shown"
    TRIED = "tried"
    FIXED = "fixed"
    FIX_RATE = "fix_rate"


class DeskFigures(BaseModel):
    """Every figure of one group of calls (or of all of them): counts, then the rates
    they give (null when the denominator is 0, rounded to 4 decimals)."""

    key: str | int | None = Field(
        description="The group: a period's first day (YYYY-MM-DD; YYYY-MM for a month), "
        "a modality, a model, a site id, a dispatcher's person id; null for the calls "
        "without one, and for the total."
    )
    label: str = Field(description="The group for people; `total` for the total row.")
    calls_opened: int
    calls_resolved: int = Field(description="Resolved or closed now.")
    resolved_tier1: int
    tier1_resolution_rate: float | None = Field(description="resolved_tier1 / calls_resolved")
    first_contact_resolved: int = Field(
        description="Resolved at tier 1, never escalated, never reopened."
    )
    first_contact_resolution_rate: float | None = Field(
        description="first_contact_resolved / calls_resolved"
    )
    calls_escalated: int = Field(description="Calls with at least one escalation.")
    escalation_rate: float | None = Field(description="calls_escalated / calls_opened")
    resolved_with_article: int = Field(description="Resolved naming the article that fixed it.")
    kcs_link_rate: float | None = Field(description="resolved_with_article / calls_resolved")
    responses_due: int = Field(
        description="Escalations accepted, or whose response target has passed."
    )
    responses_met: int = Field(description="Escalations accepted on or before their due time.")
    response_target_met_rate: float | None = Field(description="responses_met / responses_due")
    resolutions_due: int = Field(
        description="Calls resolved, or whose resolution target has passed."
    )
    resolutions_met: int = Field(description="Calls resolved within their resolution target.")
    resolution_target_met_rate: float | None = Field(
        description="resolutions_met / resolutions_due"
    )
    median_minutes_to_resolve: float | None = Field(description="Opening to resolution.")
    median_minutes_to_escalate: float | None = Field(description="Opening to first escalation.")
    calls_with_scanner: int = Field(description="Calls about a known scanner.")
    scanners: int = Field(description="Distinct scanners called about.")
    calls_per_scanner: float | None = Field(description="calls_with_scanner / scanners")
    repeat_fault_calls: int = Field(
        description="Calls that made 3 or more on their scanner within 30 days (the "
        "repeat-fault flag of a call's scanner history)."
    )
    repeat_fault_scanners: int = Field(description="Scanners with a repeat-fault call.")


class DeskReport(BaseModel):
    """The desk's figures over calls opened in [from, to), by group and in total."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="First instant counted (UTC).")
    to: datetime = Field(description="First instant not counted (UTC).")
    group_by: GroupBy | None
    period: Period | None
    generated_at: datetime = Field(description="The `now` that targets were measured against.")
    groups: list[DeskFigures] = Field(
        description="One row per group: periods in order (empty ones included), other "
        "groups by calls opened, most first. Empty without group_by."
    )
    total: DeskFigures


class ArticleFigures(BaseModel):
    """What happened to one article on the calls of the range."""

    article_id: int
    slug: str
    title: str
    shown: int = Field(description="Calls where a search suggested it.")
    opened: int = Field(description="Calls where it was opened.")
    tried: int = Field(description="Calls with an outcome recorded for it.")
    fixed: int = Field(description="Calls resolved naming it as the fix.")
    fix_rate: float | None = Field(description="fixed / tried")


class ArticleReport(BaseModel):
    """Articles used on calls opened in [from, to), sorted and paged."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    sort: ArticleSort
    limit: int
    offset: int
    articles_total: int = Field(description="Articles used in the range, over every page.")
    articles: list[ArticleFigures]


class GapGroup(BaseModel):
    """Unanswered searches of similar meaning: one article would answer them all."""

    size: int = Field(description="Gaps in the group (a query on a call, counted once).")
    calls: int = Field(description="Distinct calls among them.")
    modalities: list[str] = Field(description="The calls' modalities, sorted.")
    newest: datetime
    oldest: datetime
    suggested_title: str = Field(description="The most central phrasing, as a title.")
    examples: list[str] = Field(
        description="Up to 5 distinct phrasings, the most central (closest to the group's "
        "mean meaning) first."
    )
    best_title: str | None = Field(
        description="The most likely article any of its searches found (null: none found one)."
    )
    best_confidence: float | None = Field(
        description="That article's confidence (below `no_match_below`: no good match)."
    )
    reasons: list[str] = Field(description="Why its gaps are gaps, the most frequent first.")
    call_ids: list[int] = Field(description="Up to 10 of the calls, newest first.")
    draft_article_ids: list[int] = Field(
        description="Drafts already captured from those calls (up to 10)."
    )


class GapReport(BaseModel):
    """Knowledge gaps grouped by meaning, largest group first, then the newest."""

    no_match_below: float = Field(
        description="The confidence under which a search's best hit is no good match (its "
        "match is none): such a search is a gap (the calibration's `possible` threshold)."
    )
    similarity: float = Field(description="GAP_GROUP_SIMILARITY: the cosine to join a group.")
    gaps: int = Field(description="Gaps read and grouped (the newest, at most 500).")
    groups_total: int = Field(description="Groups they make, over every one not returned.")
    groups: list[GapGroup]
