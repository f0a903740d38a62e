"""Article request and response shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.articles.models import ArticleStatus, Modality
from app.schemas import LineError, PartialUpdate, Strict

SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,78}[a-z0-9]$"

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
Slug = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SLUG_PATTERN)]
Phrasing = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]


class Step(Strict):
    """One resolution step, in order; `tier1_allowed=False` marks it for tier 2 only."""

    text: str = Field(min_length=1, max_length=2000)
    tier1_allowed: bool = True
    restriction: str | None = Field(
        None, max_length=200, description="Why tier 1 must not do it (e.g. high voltage)."
    )


class ArticleContent(Strict):
    """The KCS fields an engineer writes."""

    title: str = Field(min_length=3, max_length=200)
    issue: str = Field(
        min_length=3, max_length=4000, description="The issue in the caller's words."
    )
    reported_as: list[Phrasing] = Field(
        default_factory=list,
        max_length=30,
        description="Other ways callers describe this issue (KCS: capture the customer's "
        "words); searched like the issue.",
    )
    modality: Modality
    manufacturer: Short | None = None
    models: list[Short] = Field(default_factory=list, max_length=50)
    software_versions: list[Short] = Field(default_factory=list, max_length=50)
    error_codes: list[Code] = Field(default_factory=list, max_length=50)
    tags: list[Short] = Field(default_factory=list, max_length=50)
    cause: str = Field("", max_length=4000)
    steps: list[Step] = Field(min_length=1, max_length=50, description="Resolution, in order.")
    escalate_when: str = Field("", max_length=4000, description="When to stop and escalate.")

    @field_validator("error_codes")
    @classmethod
    def _codes_have_content(cls, v: list[str]) -> list[str]:
        for code in v:
            if not re.search(r"[0-9A-Za-z]", code):
                raise ValueError(f"error code {code!r} has no letters or digits")
        return v


class ArticleCreate(ArticleContent):
    """A new article; `slug` defaults to one made from the title."""

    slug: Slug | None = None
    status: Literal[ArticleStatus.DRAFT, ArticleStatus.PUBLISHED] = ArticleStatus.DRAFT
    author: Short | None = None


class ArticleUpdate(PartialUpdate):
    """A partial update; `version` (or an If-Match header) names the version it is based on."""

    nullable = frozenset({"version", "manufacturer"})

    version: int | None = Field(None, ge=1, description="The version this edit started from.")
    title: str | None = Field(None, min_length=3, max_length=200)
    issue: str | None = Field(None, min_length=3, max_length=4000)
    reported_as: list[Phrasing] | None = Field(None, max_length=30)
    modality: Modality | None = None
    manufacturer: Short | None = None
    models: list[Short] | None = Field(None, max_length=50)
    software_versions: list[Short] | None = Field(None, max_length=50)
    error_codes: list[Code] | None = Field(None, max_length=50)
    tags: list[Short] | None = Field(None, max_length=50)
    cause: str | None = Field(None, max_length=4000)
    steps: list[Step] | None = Field(None, min_length=1, max_length=50)
    escalate_when: str | None = Field(None, max_length=4000)


class ArticleRead(ArticleContent):
    """An article as stored now."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
    slug: str
    status: ArticleStatus
    author: str
    updated_by: str
    version: int
    source: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class ArticlePage(BaseModel):
    """One page of a listing."""

    items: list[ArticleRead]
    total: int
    limit: int
    offset: int


class ArticleVersionSummary(BaseModel):
    """One saved version, without its content."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    status: ArticleStatus
    change: str
    changed_by: str
    created_at: datetime


class ArticleVersionRead(ArticleVersionSummary):
    """One saved version with the content as it was then."""

    content: ArticleContent


class ImportReport(BaseModel):
    """What an import did, line by line for the failures."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    drafted: int = Field(
        0,
        description="New articles marked published, saved as drafts: the importer may not publish.",
    )
    pending: int = Field(
        0, description="Changes to published articles, waiting for a publisher's review."
    )
    claimed: int = Field(
        0,
        description="New articles marked published that claim an error code another "
        "published article holds: saved as drafts (listed in `held`).",
    )
    failed: int = 0
    errors: list[LineError] = Field(default_factory=list)
    held: list[LineError] = Field(
        default_factory=list,
        description="Lines saved as drafts instead of published, and why.",
    )


ArticleSort = Literal[
    "updated_at", "-updated_at", "created_at", "-created_at", "title", "-title", "id", "-id"
]


class Claimant(BaseModel):
    """Another published article that claims the same error code, with its record."""

    id: int
    slug: str
    title: str
    codes: list[str] = Field(description="The codes it shares with the article.")
    fixed: int = Field(description="Calls it fixed (recorded outcomes).")
    tried: int = Field(description="Calls it was tried on (fixed or not).")
