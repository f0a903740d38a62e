"""Attachments on a call: photos, log files, screenshots, exported error logs.

The bytes live under DATA_DIR/attachments, named by a random key (never the user's
name); the row is written in the request's transaction. A file whose transaction does not
commit is deleted again, so no file outlives a refused or failed upload (and without its
row none is ever served). The type is found from the content, never from the name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from app.attachments.content import ACCEPTED, Kind, Sniffer, clean_filename
from app.attachments.models import Attachment
from app.auth.models import Person
from app.auth.service import Principal
from app.calls import service as call_service
from app.calls.models import EventKind
from app.calls.work import check_may_write
from app.db import utcnow
from app.errors import DomainError, Forbidden, InvalidInput, NotFound, PayloadTooLarge

log = logging.getLogger(__name__)
CHUNK = 1 << 16
FIELDS = (
    "id",
    "call_id",
    "filename",
    "content_type",
    "size",
    "sha256",
    "description",
    "uploaded_at",
)


class UnsupportedType(DomainError):
    """The file's content is of a type not accepted."""

    status = 415
    title = "Unsupported media type"


def folder_in(data_dir: Path) -> Path:
    """Where the attachments' files live."""
    return data_dir / "attachments"


def download_path(call_id: int, attachment_id: int) -> str:
    """The API path that serves an attachment's bytes."""
    return f"/calls/{call_id}/attachments/{attachment_id}"


def view(attachment: Attachment, uploader_name: str) -> dict[str, Any]:
    """The attachment as AttachmentRead reads it."""
    out: dict[str, Any] = {name: getattr(attachment, name) for name in FIELDS}
    out["uploaded_by"] = {"id": attachment.uploaded_by, "name": uploader_name}
    out["download_path"] = download_path(attachment.call_id, attachment.id)
    return out


# -- files that must not outlive a transaction that did not commit -------------------------

_PENDING = "attachment_files"


def _delete_unless_committed(session: Session, path: Path) -> None:
    session.info.setdefault(_PENDING, []).append(path)


@event.listens_for(Session, "after_commit")
def _keep_committed(session: Session) -> None:
    session.info.pop(_PENDING, None)


# after_transaction_end, not after_rollback: a session closed after a failed commit (or a
# failed commit hook) ends its transaction without a rollback event
@event.listens_for(Session, "after_transaction_end")
def _delete_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint; the outer transaction decides
    for path in session.info.pop(_PENDING, []):
        try:
            path.unlink(missing_ok=True)
        except OSError:  # left without a row: never served
            log.exception("could not delete the file of an attachment not committed: %s", path)


# -- receiving ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """An uploaded file, checked, in a temporary file of the attachments folder."""

    path: Path
    size: int
    sha256: str
    kind: Kind


def _receive(source: BinaryIO, folder: Path, max_bytes: int) -> Received:
    """Copy the upload in chunks to a temporary file beside its final place, counting,
    hashing and sniffing as it goes; too large, empty or of a refused type, it is deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".upload-", dir=folder)
    path = Path(name)
    try:
        digest, sniffer, size = hashlib.sha256(), Sniffer(), 0
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"the file is over the limit of {max_bytes} bytes",
                        field="file",
                        max_bytes=max_bytes,
                    )
                digest.update(chunk)
                sniffer.feed(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise InvalidInput(
                "the file is empty", errors=[{"field": "file", "message": "the file is empty"}]
            )
        kind = sniffer.kind()
        if kind is None:
            raise UnsupportedType(
                "the file's content is not of an accepted type: images (PNG, JPEG, GIF, "
                "WebP), PDF, UTF-8 text (logs, CSV), ZIP or gzip",
                field="file",
                accepted=ACCEPTED,
            )
        return Received(path, size, digest.hexdigest(), kind)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable before the row that names the file commits."""
    if not hasattr(os, "O_DIRECTORY"):
        return  # not POSIX: the rename is all there is
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):  # some file systems refuse to sync a folder
            os.fsync(handle)
    finally:
        os.close(handle)


def attach(
    *,
    session: Session,
    call_id: int,
    source: BinaryIO,
    filename: str | None,
    description: str,
    principal: Principal,
    folder: Path,
    max_bytes: int,
) -> tuple[Attachment, str]:
    """Store a file on a call, by those who may write on it; with its uploader's name."""
    call = call_service.get(session=session, call_id=call_id)
    check_may_write(session, call, principal, "attach files")
    if principal.person_id is None:
        raise Forbidden("an attachment names the person who uploaded it: use a person's key")
    received = _receive(source, folder, max_bytes)
    key = secrets.token_hex(16)
    stored = folder / key
    os.replace(received.path, stored)
    _delete_unless_committed(session, stored)
    _sync_folder(folder)
    attachment = Attachment(
        call_id=call.id,
        filename=clean_filename(filename, received.kind),
        content_type=received.kind.content_type,
        size=received.size,
        sha256=received.sha256,
        storage_key=key,
        description=description.strip(),
        uploaded_by=principal.person_id,
        uploaded_at=utcnow(),
    )
    session.add(attachment)
    session.flush()
    what = f"Attached {attachment.filename} ({attachment.content_type}, {attachment.size} bytes)"
    call_service.add_event(
        session,
        call,
        EventKind.ATTACHMENT,
        principal,
        text=what + (f": {attachment.description}" if attachment.description else ""),
        attachment_id=attachment.id,
    )
    session.flush()
    return attachment, principal.name


# -- reading ------------------------------------------------------------------------------


def listed(session: Session, call_id: int) -> list[tuple[Attachment, str]]:
    """A call's attachments, oldest first, each with its uploader's name."""
    rows = session.execute(
        select(Attachment, Person.name)
        .join(Person, Person.id == Attachment.uploaded_by)
        .where(Attachment.call_id == call_id)
        .order_by(Attachment.id)
    ).all()
    return [(attachment, name) for attachment, name in rows]


def list_for_call(*, session: Session, call_id: int) -> list[tuple[Attachment, str]]:
    """The attachments of a call that exists (else 404)."""
    call = call_service.get(session=session, call_id=call_id)
    return listed(session, call.id)


def for_download(
    *, session: Session, call_id: int, attachment_id: int, folder: Path
) -> tuple[Attachment, Path]:
    """An attachment of this call and the file holding its bytes; 404 for one of another
    call, as for one that does not exist."""
    call = call_service.get(session=session, call_id=call_id)
    attachment = session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.call_id == call.id)
    )
    if attachment is None:
        raise NotFound(f"call {call.id} has no attachment {attachment_id}")
    path = folder / attachment.storage_key
    if not path.is_file():
        log.error("attachment %s: its file %s is missing", attachment.id, path)
        raise NotFound(f"the file of attachment {attachment.id} is missing from storage")
    return attachment, path
