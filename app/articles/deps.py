"""Request pieces of the article routes: the version an edit is based on, and whatever
follows the library's changes (the search index, without this domain importing it)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Request

from app.articles.service import ArticleIndexer
from app.errors import InvalidInput

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def get_if_match(
    if_match: Annotated[
        str | None,
        Header(description='The version an edit is based on, as returned in ETag: "3".'),
    ] = None,
) -> int | None:
    """The version named by an If-Match header, if any."""
    if if_match is None:
        return None
    match = _ETAG.match(if_match)
    if not match:
        raise InvalidInput(
            'If-Match must be a version as given in ETag, e.g. "3"',
            errors=[{"field": "If-Match", "message": "expected a quoted version number"}],
        )
    return int(match.group(1))


IfMatch = Annotated[int | None, Depends(get_if_match)]


async def get_indexer(request: Request) -> ArticleIndexer:
    """What follows committed article changes: the app's live search index."""
    indexer: ArticleIndexer = request.app.state.index
    return indexer


Indexer = Annotated[ArticleIndexer, Depends(get_indexer)]
