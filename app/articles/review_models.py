"""Pending revisions: an edit of a published article waiting for a publisher."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class RevisionStatus(StrEnum):
    """Lifecycle: pending -> approved, rejected, or superseded by its author's next edit."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class ArticleRevision(Base):
    """Content proposed for a published (or archived) article, based on one version."""

    __tablename__ = "article_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    based_on: Mapped[int] = mapped_column(Integer)  # the article's version it was made from
    change: Mapped[str] = mapped_column(String(200))  # what kind of edit: updated, restored...
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # as ArticleVersion.content
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # the queue: pending ones, newest first
        Index("ix_article_revisions_status_proposed_at", "status", "proposed_at"),
        # an article's own revisions, and its author's pending one
        Index("ix_article_revisions_article_id_status", "article_id", "status"),
    )
