"""Signing in and out of the web console: sessions bound to an API key."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import ApiKey
from app.auth.service import Principal
from app.db import utcnow
from app.errors import Unauthorized
from app.web.models import WebSession

# last_seen is kept coarse so that page views do not each write to the database
SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    """A live console session and who it belongs to."""

    session_id: int
    csrf_token: str
    principal: Principal


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(*, session: Session, raw_key: str, hours: float) -> str:
    """Start a console session for a person's API key; returns the cookie secret."""
    key = auth_service.find_key(session=session, raw=raw_key or "")
    if key is None:
        raise Unauthorized("that API key is not known: check it was copied whole")
    principal = auth_service.principal_for_key(session=session, key=key)
    if principal.person_id is None:
        raise Unauthorized("integration client keys cannot sign in to the console")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=_hash(token),
            csrf_token=secrets.token_urlsafe(32),
            key_id=key.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.flush()
    return token


def current(*, session: Session, token: str | None) -> SignedIn | None:
    """The signed-in session for a cookie secret (None when absent, ended or expired).

    The key is checked on every request, so revoking it ends its sessions at once."""
    if not token:
        return None
    found = session.scalars(select(WebSession).where(WebSession.token_hash == _hash(token))).first()
    now = utcnow()
    if found is None or found.ended_at is not None or found.expires_at <= now:
        return None
    key = session.get(ApiKey, found.key_id)
    if key is None:
        return None
    try:
        principal = auth_service.principal_for_key(session=session, key=key)
    except Unauthorized:
        return None
    if now - found.last_seen_at > SEEN_RESOLUTION:
        found.last_seen_at = now
        session.flush()
    return SignedIn(found.id, found.csrf_token, principal)


def sign_out(*, session: Session, token: str | None) -> None:
    """End the session for a cookie secret (nothing happens if there is none)."""
    if not token:
        return
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == _hash(token), WebSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    session.flush()


def csrf_ok(expected: str, given: str | None) -> bool:
    """Whether a submitted form carries the session's anti-forgery token."""
    return bool(given) and hmac.compare_digest(expected, given or "")
