"""The audit log of write requests: a committed write carries its row in its own
transaction; a refused or failed one is recorded once it has been answered."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit import service
from app.audit.models import AuditEntry
from app.deps import response_status
from app.errors import database_unavailable

log = logging.getLogger(__name__)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
F = TypeVar("F", bound=Callable[..., Any])
_READS: set[Callable[..., Any]] = set()


def read_only(endpoint: F) -> F:
    """Mark a POST route that changes nothing (e.g. a search with a JSON body): like a
    GET, it is not written to the audit log."""
    _READS.add(endpoint)
    return endpoint


def _audited(scope: Scope) -> bool:
    route = scope.get("route")
    return scope["method"] in WRITES and getattr(route, "endpoint", None) not in _READS


def _entry(scope: Scope, state: Mapping[str, Any], status: int) -> AuditEntry:
    principal = state.get("principal")
    route = scope.get("route")
    return AuditEntry(
        actor=principal.name if principal else None,
        person_id=principal.person_id if principal else None,
        client_id=principal.client_id if principal else None,
        key_id=principal.key_id if principal else None,
        method=scope["method"],
        path=scope["path"][:500],
        action=getattr(route, "summary", None),
        status=status,
        client_ip=(scope.get("client") or ("", 0))[0] or None,
    )


def record_in_transaction(request: Request, session: Session) -> None:
    """The request's commit hook: its audit row, written in the write's own transaction,
    so a committed write always has one (even when its response is never sent)."""
    scope = request.scope
    if _audited(scope):
        entry = _entry(scope, scope.get("state") or {}, response_status(request))
        service.create(session=session, entry=entry)


class AuditLog:
    """ASGI middleware: records the write requests whose transaction did not (refused,
    invalid or failed ones, and writes that use no request transaction)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state = scope.get("state") or {}
            if _audited(scope) and not state.get("committed"):
                # a blocking database write: keep it off the event loop
                await run_in_threadpool(self._record, scope, status)

    @staticmethod
    def _record(scope: Scope, status: int) -> None:
        app = scope.get("app")
        sessions = getattr(getattr(app, "state", None), "sessions", None)
        if sessions is None:
            return
        entry = _entry(scope, scope.get("state") or {}, status)
        try:
            with sessions() as session:
                service.create(session=session, entry=entry)
                session.commit()
        except Exception as exc:  # the log must never turn a served request into an error
            if database_unavailable(exc):  # the request itself was refused with a 503
                log.warning(
                    "no audit entry for %s %s: database unavailable", entry.method, entry.path
                )
            else:
                log.exception("could not write the audit entry for %s %s", entry.method, entry.path)
