"""Article tables: the current state and every saved version."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Modality(StrEnum):
    """The fixed list of modalities an article applies to."""

    CT = "CT"
    MR = "MR"
    US = "US"
    XR = "XR"
    MG = "MG"
    RF = "RF"
    XA = "XA"
    NM = "NM"
    IT = "IT"


class ArticleStatus(StrEnum):
    """Lifecycle: draft -> published -> archived (-> published again)."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Article(Base):
    """The current version of a symptom/solution article (KCS structure)."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    issue: Mapped[str] = mapped_column(Text)
    reported_as: Mapped[list[str]] = mapped_column(JSON, default=list)
    modality: Mapped[str] = mapped_column(String(4), index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(100))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    software_versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    error_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    cause: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    escalate_when: Mapped[str] = mapped_column(Text, default="")
    # "|key|key|" of normalised codes and models, so filters stay portable SQL (LIKE)
    codes_key: Mapped[str] = mapped_column(String(2000), default="|")
    models_key: Mapped[str] = mapped_column(String(2000), default="|")
    status: Mapped[str] = mapped_column(String(16), index=True)
    author: Mapped[str] = mapped_column(String(100))
    updated_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # optimistic locking: every UPDATE checks the version it read, so concurrent
    # writers can never silently overwrite each other
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012
    # start-up compares (id, version) of every published article with the index: a
    # covering index answers that without reading the articles' text
    __table_args__ = (Index("ix_articles_status_version_id", "status", "version", "id"),)


class ArticleVersion(Base):
    """An immutable snapshot of an article as saved at one version."""

    __tablename__ = "article_versions"
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(200))
    changed_by: Mapped[str] = mapped_column(String(100))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
