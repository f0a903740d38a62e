"""Which API key a console session cookie stands for, so that the console's requests
count against the signed-in person's key like their API requests."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.web.models import WebSession

# a session's key never changes; the cache only spares a look-up per request
KEEP_SECONDS = 60.0
MAX_ENTRIES = 10_000


def digest(token: str) -> str:
    """A cookie secret hashed as app.web.service stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


def key_of_session(*, session: Session, token_hash: str) -> int | None:
    """The API key behind a live console session (None for an unknown, ended or expired
    cookie)."""
    found: int | None = session.scalar(
        select(WebSession.key_id).where(
            WebSession.token_hash == token_hash,
            WebSession.ended_at.is_(None),
            WebSession.expires_at > utcnow(),
        )
    )
    return found


class SessionKeys:
    """Recently looked-up cookies and their keys."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._known: dict[str, tuple[int | None, float]] = {}

    def key_for(self, token: str) -> int | None:
        """The key of a session cookie (blocks on a look-up: call it off the event loop)."""
        now = time.monotonic()
        token_hash = digest(token)
        known = self._known.get(token_hash)
        if known is not None and known[1] > now:
            return known[0]
        with self.sessions() as session:
            key_id = key_of_session(session=session, token_hash=token_hash)
        if len(self._known) >= MAX_ENTRIES:
            self._known.clear()
        self._known[token_hash] = (key_id, now + KEEP_SECONDS)
        return key_id
