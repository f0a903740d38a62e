"""Bulk writes of the article library: upsert by slug and the JSON Lines import, each bad
line reported by line and field; a new article claiming an error code that another
published article holds is saved as a draft (`app/articles/claims.py`)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable
from enum import StrEnum

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.articles import claims
from app.articles.models import Article, ArticleStatus
from app.articles.schemas import ArticleCreate, ImportReport
from app.articles.service import (
    CONTENT_FIELDS,
    ArticleIndexer,
    apply_content,
    bump,
    content_hash,
    insert,
    notify,
    slugify,
)
from app.errors import DomainError, InvalidInput
from app.errors import validation_errors as _validation_errors
from app.schemas import LineError, nul_fields


class UpsertOutcome(StrEnum):
    """What an upsert did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    # a non-publisher's import (app/articles/review.py): held back from dispatchers
    DRAFTED = "drafted"  # new, marked published, saved as a draft
    # new, marked published, claiming another published article's error code: a draft
    CLAIMED = "claimed"
    PENDING = "pending"  # a change to a published article, waiting for review


def upsert(
    *,
    session: Session,
    data: ArticleCreate,
    actor: str,
    source: str | None = None,
    change: str = "imported",
) -> tuple[Article, UpsertOutcome]:
    """Create by slug, or make a new version when the content differs; not committed.

    The status of an existing article is kept: a re-import never republishes an
    archived article.
    """
    slug = import_slug(data)
    existing = session.scalars(select(Article).where(Article.slug == slug)).first()
    content = data.model_dump(include=set(CONTENT_FIELDS), mode="json")
    if existing is None:
        held = data.status == ArticleStatus.PUBLISHED and claims.claimants(
            session=session, article=None, codes=data.error_codes
        )
        update = {"slug": slug} | ({"status": ArticleStatus.DRAFT} if held else {})
        article = insert(
            session=session,
            data=data.model_copy(update=update),
            actor=actor,
            source=source,
            change=change,
        )
        return article, UpsertOutcome.CLAIMED if held else UpsertOutcome.CREATED
    if content_hash(content) == existing.content_hash:
        return existing, UpsertOutcome.UNCHANGED
    if existing.status == ArticleStatus.PUBLISHED:
        # a bulk write cannot confirm: a new claim on a published article is refused
        added = claims.added_codes(existing.error_codes, content["error_codes"])
        claims.check(session=session, article=existing, confirmed=False, codes=added)
    apply_content(existing, content)
    existing.source = source or existing.source
    bump(session, existing, change, actor)
    return existing, UpsertOutcome.UPDATED


def import_slug(data: ArticleCreate) -> str:
    """The slug an imported article is matched by: its own, or one made from the title."""
    return data.slug or f"{data.modality.lower()}-{slugify(data.title)}"


def import_jsonl(
    *,
    session: Session,
    payload: bytes,
    actor: str,
    indexer: ArticleIndexer | None,
    upsert_line: Callable[..., tuple[Article, UpsertOutcome]] = upsert,
) -> ImportReport:
    """Import JSON Lines: bad records are reported by line and field, good ones go in;
    `upsert_line` saves each (the review gate's for an importer who may not publish)."""
    report = ImportReport()
    changed: builtins.list[Article] = []
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "the body is not UTF-8 text",
            errors=[{"field": "body", "message": f"invalid byte at offset {exc.start}"}],
        ) from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = _parse_line(line)
        if isinstance(parsed, ArticleCreate):
            try:
                article, outcome = upsert_line(session=session, data=parsed, actor=actor)
                # the import's point: each good line is kept whatever the lines after it hold
                session.commit()
            except (IntegrityError, StaleDataError):
                session.rollback()
                problems = [{"field": "slug", "message": "changed concurrently; retry the import"}]
            except DomainError as exc:  # a line the review gate or a claim refuses
                session.rollback()
                problems = [{"field": exc.extra.get("field", "slug"), "message": exc.detail}]
            else:
                setattr(report, outcome, getattr(report, outcome) + 1)
                if outcome == UpsertOutcome.CLAIMED:
                    report.held.append(LineError(line=number, **_claimed(session, parsed)))
                if outcome not in (UpsertOutcome.UNCHANGED, UpsertOutcome.PENDING):
                    changed.append(article)
                continue
        else:
            problems = parsed
        report.failed += 1
        report.errors.extend(LineError(line=number, **e) for e in problems)
    notify(session, indexer, changed)
    return report


def _claimed(session: Session, data: ArticleCreate) -> dict[str, str]:
    """Why a line marked published was saved as a draft: the claimants of its codes."""
    found = claims.claimants(session=session, article=None, codes=data.error_codes)
    codes = ", ".join(sorted({code for c in found for code in c.codes}))
    names = ", ".join(c.slug for c in found)
    return {
        "field": "error_codes",
        "message": f"{codes} is already claimed by {names}: saved as a draft; publish it "
        "with confirm_claims=true once you have looked at them",
    }


def _parse_line(line: str) -> ArticleCreate | builtins.list[dict[str, str]]:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        return [{"field": "(line)", "message": f"not valid JSON: {exc.msg} at column {exc.colno}"}]
    if not isinstance(raw, dict):
        return [{"field": "(line)", "message": "each line must be one JSON object"}]
    nul = nul_fields(raw)
    if nul:
        return [{"field": name, "message": "contains a NUL character"} for name in nul]
    try:
        return ArticleCreate.model_validate(raw)
    except ValidationError as exc:
        return _validation_errors(exc.errors())
