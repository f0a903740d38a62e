"""Attachments on a call over HTTP: upload, list, download."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from fastapi.responses import FileResponse

from app.attachments import service
from app.attachments.content import served_as
from app.attachments.schemas import AttachmentRead
from app.auth.deps import permit
from app.auth.permissions import P
from app.auth.service import Principal
from app.deps import DbSession, Route, SettingsDep
from app.schemas import DbId

router = APIRouter(tags=["calls"], route_class=Route)
Reader = Annotated[Principal, permit(P.CALLS_READ)]
Noter = Annotated[Principal, permit(P.CALLS_NOTE)]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The file is over MAX_ATTACHMENT_BYTES."},
    415: {"description": "The file's content is not of an accepted type."},
}
# RFC 5987 attr-char besides letters and digits: what filename* may carry unencoded
_ATTR_CHARS = "!#$&+-.^_`|~"


def content_disposition(filename: str) -> str:
    """`attachment` with the name for every client: ASCII in `filename`, exact in
    `filename*` (RFC 6266)."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, _ATTR_CHARS)}"


@router.post(
    "/calls/{call_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    summary="Attach a file to a call",
    responses=PROBLEMS,
)
def upload(
    call_id: DbId,
    file: Annotated[UploadFile, File(description="The file (multipart field `file`).")],
    response: Response,
    session: DbSession,
    settings: SettingsDep,
    principal: Noter,
    description: Annotated[str, Form(max_length=300)] = "",
) -> AttachmentRead:
    """A photo, screenshot, log or exported error log, by those who may write on the call
    (a field engineer: on the calls of the scanners they look after, or calls they own).
    Its type is found from its content: PNG, JPEG, GIF, WebP, PDF, UTF-8 text (served as
    text/plain), ZIP or gzip; anything else is a 415, an empty file a 422, one over
    MAX_ATTACHMENT_BYTES a 413, each naming `file`. A note on the timeline says so."""
    attachment, name = service.attach(
        session=session,
        call_id=call_id,
        source=file.file,
        filename=file.filename,
        description=description,
        principal=principal,
        folder=service.folder_in(settings.data_dir),
        max_bytes=settings.max_attachment_bytes,
    )
    response.headers["Location"] = service.download_path(call_id, attachment.id)
    return AttachmentRead.model_validate(service.view(attachment, name))


@router.get("/calls/{call_id}/attachments", summary="List a call's attachments")
def list_attachments(call_id: DbId, session: DbSession, _: Reader) -> list[AttachmentRead]:
    """Oldest first, each with its size, SHA-256 and the path to download it."""
    rows = service.list_for_call(session=session, call_id=call_id)
    return [AttachmentRead.model_validate(service.view(a, name)) for a, name in rows]


@router.get(
    "/calls/{call_id}/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(
    call_id: DbId, attachment_id: DbId, session: DbSession, settings: SettingsDep, _: Reader
) -> FileResponse:
    """The bytes as uploaded, always as a download (Content-Disposition: attachment), with
    the type found from the content, nosniff and a sandboxing Content-Security-Policy, so
    a browser never runs it. An attachment of another call is a 404."""
    attachment, path = service.for_download(
        session=session,
        call_id=call_id,
        attachment_id=attachment_id,
        folder=service.folder_in(settings.data_dir),
    )
    return FileResponse(
        path,
        media_type=served_as(attachment.content_type),
        headers={
            "Content-Disposition": content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-cache",
        },
    )
