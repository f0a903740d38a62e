"""Attachments over the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Uploader(BaseModel):
    """Who attached the file."""

    id: int
    name: str


class AttachmentRead(BaseModel):
    """One file on a call, as listed; its bytes are at `download_path`."""

    id: int
    call_id: int
    filename: str = Field(description="As uploaded, cleaned; its extension fits the content.")
    content_type: str = Field(description="Found from the content, not the name.")
    size: int = Field(description="In bytes.")
    sha256: str = Field(description="Hex digest of the bytes, to check a download.")
    description: str
    uploaded_by: Uploader
    uploaded_at: datetime
    download_path: str
