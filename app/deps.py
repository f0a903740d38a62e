"""Shared request resources: the settings, the request's transaction, the session factory,
the version an edit is based on (If-Match).

Each domain keeps its own dependencies (`app/auth/deps.py` for keys and roles,
`app/web/deps.py` for the console, `app/search/deps.py` for the index); this module
imports none of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import suppress
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.errors import InvalidInput
from app.schemas import nul_fields

# the cheap dependencies are async: FastAPI runs a plain `def` one in the threadpool, a
# thread hop per dependency per request

CommitHook = Callable[[Request, Session], None]


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's one transaction: services flush, and it commits once the handler has
    returned, before the response is sent, so an acknowledged write is a committed one;
    any error rolls it back. The app's commit hooks (the audit row) write in it first."""
    with request.app.state.sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if not getattr(request.state, "hooks_later", False):  # app/later.py writes them
            hooks: list[CommitHook] = request.app.state.commit_hooks
            for hook in hooks:
                hook(request, session)
        session.commit()
        request.state.committed = True


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory, for routes that open a session only when they need one."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def response_status(request: Request) -> int:
    """The status the handler answered with (known once it has returned)."""
    status = getattr(request.state, "status", None)
    if status is None:
        route = request.scope.get("route")
        status = getattr(route, "status_code", None) or 200
    return int(status)


class Route(APIRoute):
    """A route whose handler's status reaches the transaction (for its audit row)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, noting its response's status on the request."""
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            response = await handler(request)
            request.state.status = response.status_code
            return response

        return run


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_nul(request: Request) -> None:
    """Refuse a NUL character in any text (PostgreSQL cannot store one) with a 422 naming
    each field: path segments, query parameters, JSON and form bodies. A bulk import
    reports it per line instead."""
    fields = [name for name, value in request.path_params.items() if "\x00" in str(value)]
    if b"%00" in request.scope["query_string"]:
        pairs = request.query_params.multi_items()
        fields += [name for name, value in pairs if "\x00" in name + value]
    kind = request.headers.get("content-type", "")
    if request.method in {"POST", "PUT", "PATCH"} and kind.startswith("application/json"):
        body = await request.body()  # already read, and kept, by FastAPI
        if b"\\u0000" in body:
            # not JSON: the route's own validation says so
            with suppress(ValueError):
                fields += nul_fields(json.loads(body))
    elif request.method == "POST" and kind.startswith(FORMS):
        form = await request.form()  # parsed once, and kept, for the handler
        entries = form.multi_items()
        fields += [k for k, v in entries if isinstance(v, str) and "\x00" in k + v]
    if fields:
        raise InvalidInput(
            "text may not contain a NUL character (\\u0000): " + ", ".join(fields),
            errors=[{"field": name, "message": "contains a NUL character"} for name in fields],
        )


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


def set_etag(response: Response, version: int) -> None:
    """Answer with the version as ETag: what If-Match sends back to change it."""
    response.headers["ETag"] = f'"{version}"'


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope "function": the exit (the commit) runs before the response is sent
DbSession = Annotated[Session, Depends(get_session, scope="function")]
Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
IfMatch = Annotated[int | None, Depends(get_if_match)]
