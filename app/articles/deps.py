"""Request pieces of the article routes: whatever follows the library's changes (the
search index, without this domain importing it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.articles.service import ArticleIndexer


async def get_indexer(request: Request) -> ArticleIndexer:
    """What follows committed article changes: the app's live search index."""
    indexer: ArticleIndexer = request.app.state.index
    return indexer


Indexer = Annotated[ArticleIndexer, Depends(get_indexer)]
