"""The live search index, for the routes and pages that search."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.search.index import ArticleIndex


async def get_index(request: Request) -> ArticleIndex:
    """The live search index."""
    index: ArticleIndex = request.app.state.index
    return index


SearchIndex = Annotated[ArticleIndex, Depends(get_index)]
