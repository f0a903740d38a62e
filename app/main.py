"""App factory: settings, database, search index, routers, error handling."""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors
from app.actions.router import router as actions_router
from app.articles.review_router import router as reviews_router
from app.articles.router import router as articles_router
from app.assets.router import router as assets_router
from app.attachments.router import router as attachments_router
from app.audit.middleware import AuditLog, record_in_transaction
from app.audit.router import router as audit_router
from app.auth.cache import PrincipalCache
from app.auth.router import router as auth_router
from app.calls import past as past_calls
from app.calls.router import router as calls_router
from app.config import Settings, get_settings
from app.contacts.router import router as contacts_router
from app.db import hold_sqlite, make_engine, make_sessionmaker, migrate
from app.deps import CommitHook, refuse_nul
from app.feed.follower import FeedFollower
from app.feed.models import Topic
from app.learning import service as learning
from app.notifications import service as notification_service
from app.notifications.email import EmailWorker
from app.notifications.router import router as notifications_router
from app.ratelimit.limiter import RateLimiter
from app.ratelimit.middleware import Hardening
from app.reports.router import router as reports_router
from app.search import slots as index_slots
from app.search.index import ArticleIndex, Encoder
from app.search.router import router as search_router
from app.search.setup import (
    encoder_from_settings,
    index_from_settings,
    limit_search_threads,
    tqdm_progress,
)
from app.targets.worker import TargetWorker
from app.web import render as web_render
from app.web import router as web_router
from app.webhooks import service as webhook_service
from app.webhooks.router import router as webhooks_router
from app.webhooks.service import DeliveryWorker
from app.workorders.router import router as workorders_router

log = logging.getLogger("app")
REPLICA = f"{socket.gethostname()}:{os.getpid()}"

# the docs page's scripts and styles, shipped with the console's static files
VENDOR = "/ui/static/vendor"

DESCRIPTION = """
Tier-1 troubleshooting assistant for medical-imaging equipment service.

A dispatcher describes the caller's symptom; `POST /search` returns ranked fixes from
the article library, with steps (tier-2-only steps are marked) and why each matched.
Engineers write and version articles under `/articles`.

Every endpoint except `/health`, `/docs` and `/openapi.json` needs an API key, sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; roles limit what each key may do
(see docs/permissions.md). A missing or bad key gets 401, a missing permission 403.

Every error has one shape: `application/problem+json` (RFC 9457) with `errors`
listing each field at fault (text holding a NUL character is refused this way too); a
version clash or a refused unique value is a 409. A request's writes are one
transaction, committed before its response is sent.
"""


_UPLOAD = re.compile(r"(?:/ui)?/calls/[^/]+/attachments/?")
FORM_OVERHEAD = 64 * 1024  # the multipart form around an uploaded file


class BodyLimit:
    """Refuse request bodies over the configured size with 413, before they are read whole."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, send, limit)

    def _limit(self, scope: Scope) -> int:
        path = scope["path"]
        if path.rstrip("/").endswith("/articles/import"):
            return self.settings.max_import_bytes
        if scope["method"] == "POST" and _UPLOAD.fullmatch(path):
            # the file's own limit is checked exactly by the attachments service
            return self.settings.max_attachment_bytes + FORM_OVERHEAD
        return self.settings.max_body_bytes

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        response = errors.problem(
            413, "Payload too large", f"the request body is over the limit of {limit} bytes"
        )
        await response(scope, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: Settings | None = None, *, encoder: Encoder | None = None) -> FastAPI:
    """Build the application; heavy resources load in the lifespan, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_search_threads(settings)
        # SQLite serves one process: a second one stops here, saying so
        sqlite_lock = hold_sqlite(settings.effective_database_url)
        engine = make_engine(settings.effective_database_url)
        migrate(engine)
        sessions = make_sessionmaker(engine)
        slot = index_slots.claim(settings.index_dir)
        index = index_from_settings(
            settings,
            encoder or encoder_from_settings(settings),
            path=slot.path,
            write_wait=settings.index_write_wait_seconds,
        )
        principals = PrincipalCache(settings.auth_cache_seconds)
        # every process follows the others' committed changes (docs/deployment.md)
        follower = FeedFollower(
            engine,
            sessions,
            {
                Topic.ARTICLE: lambda session, refs: index.refresh(session, [int(r) for r in refs]),
                Topic.AUTH: lambda _session, _refs: principals.clear(),
                Topic.OUTCOME: lambda session, refs: learning.load(
                    session=session, index=index, article_ids=[int(r) for r in refs]
                ),
                Topic.CASE: lambda session, refs: past_calls.load(
                    session=session, index=index, call_ids=[int(r) for r in refs]
                ),
            },
            poll_seconds=settings.feed_poll_seconds,
            keep_hours=settings.feed_keep_hours,
            resync=lambda: index.sync(sessions),
        )
        # where the feed stands before the index is compared with the database: what is
        # committed meanwhile is followed after, not missed
        since = follower.mark()
        # a missing or stale index is rebuilt here, with a progress bar on stderr
        progress, close_bar = tqdm_progress("indexing")
        try:
            index.open(sessions, progress=progress)
        finally:
            close_bar()
        with sessions() as session:  # the calls' outcomes, which ranking learns from
            learning.load(session=session, index=index)
            past_calls.load(session=session, index=index)  # similar past calls
        # the resolved calls without a vector are encoded behind the start
        backfill = past_calls.Backfill(sessions, index)
        app.state.past_calls = backfill
        app.state.settings = settings
        app.state.principals = principals
        app.state.rate_limiter = RateLimiter.from_settings(settings)
        app.state.index_slot = slot
        follower.start(since)
        app.state.feed = follower
        backfill.start()
        app.state.engine = engine
        app.state.sessions = sessions
        hooks: list[CommitHook] = [
            record_in_transaction,
            lambda _request, session: past_calls.write_pending(session=session, index=index),
        ]
        app.state.commit_hooks = hooks
        app.state.index = index
        worker = DeliveryWorker(sessions, settings=settings)
        app.state.webhooks = worker
        if settings.webhook_worker:
            worker.start()
        # work that runs on a clock: missed targets, overdue actions, e-mail copies
        targets = TargetWorker(sessions, settings)
        mailer = EmailWorker(sessions, settings)
        app.state.targets = targets
        app.state.mailer = mailer
        if settings.scheduler:
            targets.start()
            if settings.smtp_url:
                mailer.start()
        try:
            yield
        finally:
            mailer.stop()
            targets.stop()
            worker.stop()
            backfill.stop()
            follower.stop()
            index.close()
            slot.release()
            engine.dispose()
            if sqlite_lock is not None:
                sqlite_lock.close()

    app = FastAPI(
        title="Imaging service help desk",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(refuse_nul)],
        # the docs page is served below from the service's own files: no CDN
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app, html_errors=web_render.error_page)
    # every event of the outbox also notifies the people it concerns
    webhook_service.listen(notification_service.on_event)
    app.add_middleware(AuditLog)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(Hardening, settings=settings)

    # before the routers: FastAPI prepares an included router's routes when a request
    # first looks through it, so a health check placed after them prepared every route
    # before a load balancer saw the service up (docs/benchmarks.md)
    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """The API's operations, rendered by the Swagger UI shipped with the service."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui.css",
            swagger_favicon_url=f"{VENDOR}/swagger-ui-favicon-32x32.png",
            # its default checks the document against a validator on the internet
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def api_docs_elsewhere() -> RedirectResponse:
        """One docs page: the Swagger UI at /docs."""
        return RedirectResponse("/docs", status_code=308)

    @app.get("/health", tags=["health"], summary="Liveness and index size")
    def health() -> dict[str, Any]:
        """No key needed: for load balancers and monitoring."""
        # the database is not checked: every replica shares it, so a load balancer would
        # take them all out at once, and searches answered from memory with them
        index: ArticleIndex = app.state.index
        feed: FeedFollower = app.state.feed
        return {
            "status": "ok",
            "searchable_articles": len(index),
            # which process answered, and how far it has followed the others' changes
            "replica": REPLICA,
            "changes_applied": feed.position,
        }

    app.include_router(search_router)
    app.include_router(articles_router)
    app.include_router(reviews_router)
    app.include_router(assets_router)
    app.include_router(calls_router)
    app.include_router(attachments_router)
    app.include_router(contacts_router)
    app.include_router(workorders_router)
    app.include_router(actions_router)
    app.include_router(notifications_router)
    app.include_router(auth_router)
    app.include_router(webhooks_router)
    app.include_router(audit_router)
    app.include_router(reports_router)
    web_router.install(app)
    return app


app = create_app()
