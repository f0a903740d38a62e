"""Webhook signing secrets encrypted at rest with Fernet (AES-CBC + HMAC), the key from
SECRET_KEY or, when unset, DATA_DIR/secret.key made on first use.

A stored value starting with `fernet:` is encrypted; anything else was written before
encryption and is read as plain text until `seal_plain` encrypts it."""

from __future__ import annotations

import logging
import os
import stat
import uuid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import split_keys
from app.webhooks.models import Subscription

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger(__name__)
PREFIX = "fernet:"
KEY_FILE = "secret.key"


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys decrypts."""


class SecretBox:
    """Encrypts with the first key, decrypts with any (so keys can be rotated)."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, plain: str) -> str:
        """The value to store for `plain`."""
        return PREFIX + self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        """The plain secret of a stored value (a value without the prefix is plain text)."""
        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise SecretUnreadable("not encrypted with the configured SECRET_KEY") from exc


def is_sealed(stored: str) -> bool:
    """Whether a stored value is encrypted."""
    return stored.startswith(PREFIX)


def _key_file(data_dir: Path) -> bytes:
    """The key in DATA_DIR/secret.key, made (mode 0600) when there is none."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # written whole under another name, then linked: a process starting at the same
        # time reads a complete key or makes none, never half of one
        tmp = data_dir / f".{KEY_FILE}.{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            log.warning(
                "webhook secrets are encrypted with a key generated into %s: processes on "
                "several machines, or with their own DATA_DIR, must share one key: set "
                "SECRET_KEY to its content on every one of them",
                path,
            )
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users: chmod 600 it", path)
    return path.read_bytes().strip()


@lru_cache(maxsize=16)
def _box(secret_key: str | None, data_dir: Path) -> SecretBox:
    if secret_key:
        return SecretBox(split_keys(secret_key))
    return SecretBox([_key_file(data_dir)])


def box_for(settings: Settings) -> SecretBox:
    """The box for these settings (its key file is made on first use)."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    return _box(key, settings.data_dir.resolve())


def seal_plain(*, session: Session, box: SecretBox) -> int:
    """Encrypt the secrets stored before encryption; returns how many."""
    sealed = 0
    for sub_id, stored in session.execute(
        select(Subscription.id, Subscription.secret).where(~Subscription.secret.startswith(PREFIX))
    ).all():
        # only if unchanged: another process may be sealing the same row
        sealed += session.execute(
            update(Subscription)
            .where(Subscription.id == sub_id, Subscription.secret == stored)
            .values(secret=box.seal(stored))
        ).rowcount  # type: ignore[attr-defined]
    return sealed
