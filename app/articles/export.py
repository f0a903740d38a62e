"""The library as JSON Lines: one ArticleCreate object per line, oldest article first, that
`POST /articles/import` reads back unchanged (docs/knowledge.md, "Export")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.articles.models import Article, ArticleStatus
from app.articles.schemas import ArticleCreate

FIELDS = tuple(ArticleCreate.model_fields)
BATCH = 500


def line(article: Article) -> str:
    """One article as an import line. An archived article is written as a draft: an
    import creates drafts or published articles only, and a draft stays out of search as
    an archived article does."""
    record: dict[str, Any] = {name: getattr(article, name) for name in FIELDS}
    if article.status == ArticleStatus.ARCHIVED:
        record["status"] = ArticleStatus.DRAFT.value
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def lines(sessions: sessionmaker[Session], status: ArticleStatus | None) -> Iterator[bytes]:
    """The articles (of one status, or all) as JSON Lines, read in batches by id, each in
    a short transaction of its own: a slow reader holds no lock while it reads."""
    with sessions() as session:
        after = 0
        while True:
            stmt = select(Article).where(Article.id > after).order_by(Article.id).limit(BATCH)
            if status is not None:
                stmt = stmt.where(Article.status == status)
            batch = list(session.scalars(stmt))
            if not batch:
                return
            yield "".join(line(article) for article in batch).encode("utf-8")
            after = batch[-1].id
            session.expunge_all()  # a large library does not pile up in the session
            session.rollback()
