"""Pending revisions and review decisions over the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.articles.review_models import RevisionStatus
from app.articles.schemas import ArticleContent
from app.schemas import Strict


class RevisionRead(BaseModel):
    """A proposed change to a published article and where its review stands."""

    id: int
    article_id: int
    article_slug: str
    article_title: str = Field(description="The article's title as it is now.")
    based_on: int = Field(description="The article's version this change was made from.")
    current_version: int = Field(description="The article's version now.")
    stale: bool = Field(
        description="Pending, but the article has changed since: approving it is refused."
    )
    change: str = Field(description="The kind of edit: updated, restored version 2, imported.")
    status: RevisionStatus
    proposed_by: str
    proposed_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    changed_fields: list[str] = Field(
        description="The content fields where it differs from the article as it is now."
    )
    content: ArticleContent


class FieldChange(BaseModel):
    """One content field: the article's value now and the proposed one."""

    field: str
    current: Any
    proposed: Any


class RevisionDetail(RevisionRead):
    """A revision with a field-by-field difference from the current article."""

    diff: list[FieldChange]


class RevisionPage(BaseModel):
    """One page of revisions."""

    items: list[RevisionRead]
    total: int
    limit: int
    offset: int


class Approval(Strict):
    """Approve a pending revision, optionally with a note to its author."""

    note: str | None = Field(None, max_length=2000)


class Rejection(Strict):
    """Reject a pending revision: the note tells its author why."""

    note: str = Field(min_length=1, max_length=2000)
