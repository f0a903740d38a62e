"""The rate limits where a request's API key is verified (app/auth/deps.py): the key's
budget, and the failed attempts of the caller's address."""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException

from app.ratelimit.limiter import RateLimiter


class TooManyRequests(HTTPException):
    """429 with Retry-After; the app's handler answers it as problem+json."""

    def __init__(self, retry_after: int, detail: str) -> None:
        super().__init__(
            429,
            f"{detail}; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def limiter_of(request: Request) -> RateLimiter | None:
    """The app's limiter (None before the lifespan made one)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    return limiter


def client_address(request: Request) -> str:
    """The caller's address (the client's, not a trusted proxy's: see FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


async def refuse_blocked_address(request: Request) -> None:
    """429 when the caller's address has failed to authenticate too often lately."""
    limiter = limiter_of(request)
    if limiter is not None and (wait := await limiter.address_wait(client_address(request))):
        raise TooManyRequests(wait, "too many failed sign-ins from this address")


async def note_failure(request: Request) -> None:
    """Count a key that failed to authenticate against the caller's address."""
    limiter = limiter_of(request)
    if limiter is not None:
        await limiter.note_failure(client_address(request))


async def charge_key(request: Request, key_id: int) -> None:
    """Count the request against its API key's budget; 429 when the budget is spent."""
    limiter = limiter_of(request)
    if limiter is not None and (wait := await limiter.charge_key(key_id)):
        raise TooManyRequests(wait, "this API key has used up its requests for now")
