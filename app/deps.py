"""Dependency aliases used by every router (one place, so auth plugs in here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import InvalidInput
from app.search.index import ArticleIndex


@dataclass(frozen=True)
class Actor:
    """Who is making the request (recorded as author / changed_by)."""

    name: str


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request."""
    with request.app.state.sessions() as session:
        yield session


def get_index(request: Request) -> ArticleIndex:
    """The live search index."""
    index: ArticleIndex = request.app.state.index
    return index


def get_actor(request: Request) -> Actor:
    """The caller. Authentication (API keys and roles) replaces this one function."""
    return Actor(name="local")


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
            'If-Match must be an article version as given in ETag, e.g. "3"',
            errors=[{"field": "If-Match", "message": "expected a quoted version number"}],
        )
    return int(match.group(1))


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_session)]
SearchIndex = Annotated[ArticleIndex, Depends(get_index)]
CurrentActor = Annotated[Actor, Depends(get_actor)]
IfMatch = Annotated[int | None, Depends(get_if_match)]
