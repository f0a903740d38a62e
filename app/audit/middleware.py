"""Writes every write request to the audit log once it has been answered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit import service
from app.audit.models import AuditEntry

log = logging.getLogger(__name__)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
F = TypeVar("F", bound=Callable[..., Any])
_READS: set[Callable[..., Any]] = set()


def read_only(endpoint: F) -> F:
    """Mark a POST route that changes nothing (e.g. a search with a JSON body): like a
    GET, it is not written to the audit log."""
    _READS.add(endpoint)
    return endpoint


class AuditLog:
    """ASGI middleware: records method, path, status and the authenticated key."""

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
            route = scope.get("route")
            if getattr(route, "endpoint", None) not in _READS:
                # a blocking database write: keep it off the event loop
                await run_in_threadpool(self._record, scope, status)

    @staticmethod
    def _record(scope: Scope, status: int) -> None:
        app = scope.get("app")
        state = scope.get("state") or {}
        principal = state.get("principal")
        route = scope.get("route")
        sessions = getattr(getattr(app, "state", None), "sessions", None)
        if sessions is None:
            return
        entry = AuditEntry(
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
        try:
            with sessions() as session:
                service.create(session=session, entry=entry)
        except Exception:  # the log must never turn a served request into an error
            log.exception("could not write the audit entry for %s %s", entry.method, entry.path)
