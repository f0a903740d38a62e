"""Imports from other help-desk tools: Zendesk Help Center and ServiceNow knowledge
exports, and a folder of Markdown or HTML files; every record becomes a draft (mapping
and rules: docs/knowledge.md, "Importing from other tools")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sqlalchemy.orm import Session

from app.articles.models import Modality
from app.articles.service import ArticleIndexer
from app.articles.sources.files import files
from app.articles.sources.records import Record, SourceReport, save_all
from app.articles.sources.tools import servicenow, zendesk
from app.auth.service import Principal

Format = Literal["zendesk", "servicenow", "files"]
# each format's reader, and how the sources of its records start
READERS: dict[str, tuple[Callable[[bytes, int], list[Record]], str]] = {
    "zendesk": (lambda payload, _limit: zendesk(payload), "zendesk:"),
    "servicenow": (lambda payload, _limit: servicenow(payload), "servicenow:"),
    "files": (lambda payload, limit: files(payload, max_bytes=limit), "file:"),
}


def import_upload(
    *,
    session: Session,
    format: Format,
    payload: bytes,
    actor: Principal,
    indexer: ArticleIndexer | None,
    modality: Modality | None,
    max_bytes: int,
) -> SourceReport:
    """Read an upload in one of the other tools' formats and save its records as drafts;
    a body that cannot be read at all is a 4xx, a bad record is reported and skipped."""
    read, prefix = READERS[format]
    return save_all(
        session=session,
        records=read(payload, max_bytes),
        actor=actor,
        indexer=indexer,
        default_modality=modality,
        prefix=prefix,
    )
