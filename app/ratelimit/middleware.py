"""One ASGI middleware at the edge of the app: the trusted proxy's headers, the console's
rate limits and the security headers of every response."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings
from app.ratelimit.console import SessionKeys
from app.ratelimit.headers import add_headers, is_console
from app.ratelimit.limiter import RateLimiter
from app.web import render
from app.web.deps import SESSION_COOKIE

LOGIN = "/ui/login"
STATIC = "/ui/static/"


class Hardening:
    """X-Forwarded-Proto and -For believed from FORWARDED_ALLOW_IPS only (so a request
    relayed over HTTPS is seen as HTTPS: Secure cookies, same-origin form checks; and
    limits see the client's address); the console's pages counted against the signed-in
    person's key and its refused sign-ins against the address; security headers added."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        # uvicorn's own implementation, applied here so the app's setting holds whatever
        # server or option runs it (uvicorn applies it too, from the same variable)
        self.proxied = ProxyHeadersMiddleware(
            self._handle,  # type: ignore[arg-type]
            trusted_hosts=settings.forwarded_allow_ips.strip(),
        )
        self.keys: SessionKeys | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing(scope, send))
        elif scope["type"] == "http":
            await self.proxied(scope, receive, send)  # type: ignore[arg-type]
        else:
            await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        send = self._with_headers(path, send)
        limiter: RateLimiter | None = getattr(scope["app"].state, "rate_limiter", None)
        if limiter is None or not is_console(path) or path.startswith(STATIC):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if path == LOGIN and scope["method"] == "POST":
            await self._sign_in(limiter, request, receive, send)
            return
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            key_id = await run_in_threadpool(self._keys(scope).key_for, token)
            wait = await limiter.charge_key(key_id) if key_id is not None else None
            if wait:
                message = "You have made too many requests in a short time."
                await _too_many(request, wait, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _sign_in(
        self, limiter: RateLimiter, request: Request, receive: Receive, send: Send
    ) -> None:
        """A sign-in: refused while its address is past its failures, counted if refused."""
        address = request.client.host if request.client else "unknown"
        wait = await limiter.address_wait(address)
        if wait:
            message = "Too many failed sign-ins from this address."
            await _too_many(request, wait, message)(request.scope, receive, send)
            return
        status = 0

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(request.scope, receive, noting)
        if status == 401:
            await limiter.note_failure(address)

    def _keys(self, scope: Scope) -> SessionKeys:
        sessions = scope["app"].state.sessions
        if self.keys is None or self.keys.sessions is not sessions:
            self.keys = SessionKeys(sessions)
        return self.keys

    @staticmethod
    def _with_headers(path: str, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = add_headers(path, list(message.get("headers") or []))
            await send(message)

        return sending

    @staticmethod
    def _closing(scope: Scope, send: Send) -> Send:
        """The lifespan's `send`, closing the limiter's connections once the app stopped."""

        async def sending(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                limiter: RateLimiter | None = getattr(scope["app"].state, "rate_limiter", None)
                if limiter is not None:
                    await limiter.aclose()
            await send(message)

        return sending


def _too_many(request: Request, wait: int, message: str) -> ASGIApp:
    """The console's 429 page, with Retry-After."""
    response = render.page(
        request,
        "error.html",
        None,
        status=429,
        title="Too many requests",
        message=f"{message} Try again in {wait} seconds.",
    )
    response.headers["Retry-After"] = str(wait)
    return response
