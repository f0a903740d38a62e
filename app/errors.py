"""Domain exceptions and their one mapping to HTTP: application/problem+json (RFC 9457)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of every error the services raise on purpose."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    """The thing named does not exist."""

    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state (stale version, illegal transition)."""

    status = 409
    title = "Conflict"


class PreconditionFailed(DomainError):
    """If-Match did not match the current version."""

    status = 412
    title = "Precondition failed"


class PreconditionRequired(DomainError):
    """A write that must say which version it was based on did not."""

    status = 428
    title = "Precondition required"


class InvalidInput(DomainError):
    """Semantically invalid input; `errors` lists each field at fault."""

    status = 422
    title = "Invalid input"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail, **extra)
        self.errors = errors or []


class Unauthorized(DomainError):
    """No key, or a key that is unknown or revoked."""

    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    """The key is valid but lacks a permission."""

    status = 403
    title = "Forbidden"


class PayloadTooLarge(DomainError):
    """The request body is larger than allowed."""

    status = 413
    title = "Payload too large"


class DatabaseUnavailable(DomainError):
    """The database cannot be reached or cannot serve just now (restarting, full pool)."""

    status = 503
    title = "Database unavailable"
    # long enough for a restart to finish, short enough that a dispatcher's retry is prompt
    retry_after = 5

    def __init__(self) -> None:
        super().__init__(
            "the database cannot be reached just now; nothing was changed, retry shortly"
        )


# SQLSTATE classes that mean "not now" rather than "wrong": connection exception,
# insufficient resources, operator intervention (shutdown, restart, cancel), system error
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "58")
# SQLite's primary result codes for a file it cannot use now: busy, locked, I/O error,
# full, cannot open (a bug such as "no such table" stays a 500)
_SQLITE_UNAVAILABLE = {5, 6, 10, 13, 14}


def database_unavailable(exc: BaseException) -> bool:
    """Whether a storage error means the database is away or overloaded (retry later), as
    opposed to a bug or a refused write."""
    if isinstance(exc, PoolTimeout):  # every pooled connection busy past the pool timeout
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # the connection died under the statement
        return True
    if not isinstance(exc, OperationalError):
        return False
    state = getattr(exc.orig, "sqlstate", None)
    if state:
        return str(state)[:2] in _UNAVAILABLE_SQLSTATES
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF in _SQLITE_UNAVAILABLE
    # no SQLSTATE: the driver could not connect, or lost the connection
    return True


class OutageLog:
    """What a background loop logs when a round fails: a database outage once when it
    starts and once when it ends (not a traceback per round), anything else in full."""

    def __init__(self, logger: logging.Logger, loop: str) -> None:
        self.logger = logger
        self.loop = loop
        self.down = False

    def failed(self, exc: BaseException) -> None:
        """Report a failed round."""
        if database_unavailable(exc):
            if not self.down:
                self.logger.warning("%s: the database is unavailable; retrying", self.loop)
                self.down = True
            return
        self.logger.error("%s failed", self.loop, exc_info=exc)

    def succeeded(self) -> None:
        """Report a round that worked (ends an outage)."""
        if self.down:
            self.logger.info("%s: the database answers again", self.loop)
            self.down = False


def problem(
    status: int,
    title: str,
    detail: str,
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "ApiKey"
    return JSONResponse(
        jsonable_encoder(body), status_code=status, media_type=PROBLEM, headers=headers
    )


# the column a unique constraint guards, as SQLite ("UNIQUE constraint failed: t.col") and
# PostgreSQL ("Key (col)=(...) already exists") name it
_UNIQUE = re.compile(r"UNIQUE constraint failed: \w+\.(\w+)|Key \((\w+)\)=")


def storage_conflict(exc: IntegrityError | StaleDataError) -> Conflict:
    """A version clash or a constraint the database refused, as a 409 naming what it can."""
    if isinstance(exc, StaleDataError):
        return Conflict("this was changed by someone else meanwhile; reload it and retry")
    found = _UNIQUE.search(str(exc.orig))
    field = next((g for g in found.groups() if g), None) if found else None
    if field:
        return Conflict(f"{field} is already taken", field=field)
    return Conflict("the change conflicts with data that refers to it or that it refers to")


@contextmanager
def conflicts(detail: str, **extra: Any) -> Iterator[None]:
    """Inside, a version clash or refused constraint becomes a Conflict saying `detail`."""
    try:
        yield
    except (IntegrityError, StaleDataError) as exc:
        raise Conflict(detail, **extra) from exc


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(errors: Any) -> list[dict[str, Any]]:
    """pydantic errors as [{field, message}] (the input value is not echoed back)."""
    return [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in errors]


def domain_problem(request: Request, exc: DomainError) -> JSONResponse:
    """A domain error as problem+json."""
    errors = exc.errors if isinstance(exc, InvalidInput) else None
    return problem(exc.status, exc.title, exc.detail, request, errors=errors, **exc.extra)


HTML_PREFIX = "/ui"


def install(
    app: FastAPI, html_errors: Callable[[Request, DomainError], Response] | None = None
) -> None:
    """Register the handlers: every error leaves the API in the same shape; under the web
    console's prefix, `html_errors` renders them as pages instead."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if html_errors is not None and request.url.path.startswith(HTML_PREFIX):
            return html_errors(request, exc)
        return domain_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(exc.errors())
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        if html_errors is not None and request.url.path.startswith(HTML_PREFIX):
            details = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            return html_errors(request, InvalidInput(f"Fix these fields: {details}", errors))
        return problem(422, "Invalid input", f"Fix these fields: {fields}", request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request)
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail), request, headers)

    @app.exception_handler(IntegrityError)
    @app.exception_handler(StaleDataError)
    async def _storage(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, IntegrityError | StaleDataError)
        return await _domain(request, storage_conflict(exc))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> Response:
        if not database_unavailable(exc):
            raise exc  # a bug: the 500 below, with its traceback logged
        # the driver's message names the server (never shown to the client)
        log.warning("database unavailable (%s): %s", request.url.path, _first_line(exc))
        unavailable = DatabaseUnavailable()
        response = await _domain(request, unavailable)
        response.headers["Retry-After"] = str(unavailable.retry_after)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem(500, "Internal error", "An unexpected error occurred; it was logged.")


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).strip().splitlines()[0] if str(orig) else ''}"


def _leaves(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        # an included router (mounted without a prefix of its own) holds its routes
        inner = getattr(route, "original_router", None)
        yield from _leaves(inner.routes) if inner is not None else (route,)


def _allowed(request: Request) -> str:
    """Every method the path answers to (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in _leaves(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
