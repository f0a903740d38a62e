"""The change feed: one row per change that other processes must follow, in commit order."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Topic(StrEnum):
    """What changed, so each process knows which of its caches to bring up to date."""

    ARTICLE = "article"  # ref: the article id (search index, hit cards)
    AUTH = "auth"  # a key or a person changed (the verified-key cache)
    OUTCOME = "outcome"  # ref: an article whose outcome on a call changed (ranking)
    CASE = "case"  # ref: a call resolved or reopened (similar past calls)


class Change(Base):
    """A committed change; ids grow in commit order (writers take the feed's lock)."""

    __tablename__ = "changes"

    # BIGINT on PostgreSQL, the rowid on SQLite (which autoincrements only an INTEGER key)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
