"""Records from another tool saved as draft articles one by one, each good one kept
whatever the others hold, with a report of what each became (the JSON Lines import's
style: app/articles/imports.py).

An import from another tool never changes what dispatchers read: new articles are drafts,
and a change to a published (or archived) article waits as the importer's pending
revision even when the importer is a publisher (the review gate of app/articles/review.py,
applied as for a contributor).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.articles import review
from app.articles.imports import UpsertOutcome
from app.articles.models import Article, ArticleStatus, Modality
from app.articles.schemas import ArticleCreate, ImportReport
from app.articles.service import ArticleIndexer, notify, slugify
from app.articles.sources.text import Parts, Problem, keywords
from app.auth.permissions import Permission
from app.auth.service import Principal
from app.errors import DomainError
from app.errors import validation_errors as _validation_errors
from app.schemas import LineError, nul_fields

SOURCE_MAX = 300  # the length of Article.source


class Outcome(StrEnum):
    """What became of one record."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    PENDING = "pending"  # a change to a published or archived article, waiting for review
    SKIPPED = "skipped"
    FAILED = "failed"


class ImportedRecord(BaseModel):
    """One record of an import from another tool and what it became."""

    record: int = Field(description="Its position in the upload, from 1 (files: in path order).")
    name: str = Field(
        description="Its id in its tool (zendesk:360001, servicenow:KB0010001) or its path "
        "in the archive."
    )
    outcome: Outcome
    slug: str | None = Field(None, description="The article it became or changed.")
    field: str | None = Field(None, description="For a failed record: the field at fault.")
    message: str | None = Field(None, description="Why it failed, or was skipped.")


class SourceReport(ImportReport):
    """What an import did: counts, the failures by record (`errors`: `line` is the
    record's number) and, for the formats of other tools, each record's outcome."""

    skipped: int = Field(0, description="Records left out on purpose (`records` says why).")
    records: list[ImportedRecord] = Field(
        default_factory=list,
        description="Each record of a Zendesk, ServiceNow or files import with what it "
        "became; empty for JSON Lines, whose report names lines in `errors`.",
    )


@dataclass
class Record:
    """One record read from an upload, before it is saved."""

    number: int
    name: str
    source: str | None = None  # stored on a new article; a re-import matches by it
    parts: Parts | None = None
    article: ArticleCreate | None = None  # a file in the seed library's own format
    extra: dict[str, Any] = field(default_factory=dict)  # other ArticleCreate fields
    modality: Modality | None = None
    labels: builtins.list[str] = field(default_factory=list)
    fields: Mapping[str, str] = field(default_factory=dict)  # article field -> source field
    problem: Problem | None = None
    skip: str | None = None


def article_of(record: Record, default_modality: Modality | None) -> ArticleCreate:
    """The draft a record becomes; Problem naming the source field at fault."""
    if record.problem is not None:
        raise _renamed(record, record.problem)
    if record.article is not None:
        return record.article.model_copy(update={"status": ArticleStatus.DRAFT})
    modality = record.modality or default_modality
    if modality is None:
        raise _renamed(
            record,
            Problem(
                "modality",
                "no modality: its section, category or folder names none; send "
                "?modality=CT (or another) for the batch",
            ),
        )
    assert record.parts is not None
    phrasings, tags = keywords(record.labels)
    parts = dataclasses.asdict(record.parts)
    parts["reported_as"] = builtins.list(dict.fromkeys(parts["reported_as"] + phrasings))
    raw = {"tags": tags} | record.extra | parts | {"modality": modality, "status": "draft"}
    nul = nul_fields(raw)
    if nul:
        raise _renamed(record, Problem(nul[0], "contains a NUL character"))
    try:
        return ArticleCreate.model_validate(raw)
    except ValidationError as exc:
        first = _validation_errors(exc.errors())[0]
        raise _renamed(record, Problem(first["field"], first["message"])) from exc


def _renamed(record: Record, problem: Problem) -> Problem:
    """The problem named by the source's field, the article's field in the message."""
    ours = problem.field.split(".")[0]
    theirs = record.fields.get(ours)
    if theirs is None or theirs == problem.field:
        return problem
    return Problem(theirs, f"{problem.field}: {problem.message}")


def save_all(
    *,
    session: Session,
    records: Iterable[Record],
    actor: Principal,
    indexer: ArticleIndexer | None,
    default_modality: Modality | None,
    prefix: str,
) -> SourceReport:
    """Save each record as a draft (or a pending revision of a published article) and
    commit it; report each. `prefix` starts the sources of this tool's records."""
    report = SourceReport()
    changed: builtins.list[Article] = []
    # no publisher's shortcut: an import from another tool never publishes
    importer = dataclasses.replace(
        actor, permissions=actor.permissions - {Permission.ARTICLES_PUBLISH}
    )
    save = review.import_line(importer)
    imported = select(Article.source, Article.slug).where(Article.source.like(f"{prefix}%"))
    known = {source: slug for source, slug in session.execute(imported).tuples() if source}
    for record in records:
        entry = ImportedRecord(record=record.number, name=record.name, outcome=Outcome.FAILED)
        report.records.append(entry)
        if record.skip is not None:
            entry.outcome, entry.message = Outcome.SKIPPED, record.skip
            report.skipped += 1
            continue
        try:
            data = article_of(record, default_modality)
        except Problem as problem:
            _fail(report, entry, problem.field, problem.message)
            continue
        data = data.model_copy(update={"slug": _slug(session, record, data, known)})
        try:
            article, outcome = save(session=session, data=data, actor=actor.name)
            if outcome == UpsertOutcome.CREATED and record.source:
                article.source = record.source
            session.commit()
        except (IntegrityError, StaleDataError):
            session.rollback()
            _fail(report, entry, "slug", "changed concurrently; retry the import")
            continue
        except DomainError as exc:  # the review gate's refusal (a candidate's line)
            session.rollback()
            _fail(report, entry, str(exc.extra.get("field", "slug")), exc.detail)
            continue
        if record.source and outcome == UpsertOutcome.CREATED:
            known[record.source] = article.slug
        entry.slug = article.slug
        entry.outcome = Outcome(str(outcome))
        setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome not in (UpsertOutcome.UNCHANGED, UpsertOutcome.PENDING):
            changed.append(article)
    notify(session, indexer, changed)
    return report


def _fail(report: SourceReport, entry: ImportedRecord, field: str, message: str) -> None:
    entry.outcome, entry.field, entry.message = Outcome.FAILED, field, message
    report.failed += 1
    report.errors.append(LineError(line=entry.record, field=field, message=message))


def _slug(session: Session, record: Record, data: ArticleCreate, known: dict[str, str]) -> str:
    """The article a record updates: the one imported from the same source before, or
    the record's own slug; else a new slug from the title that no other article holds."""
    if record.source and record.source in known:
        return known[record.source]
    if data.slug:
        return data.slug
    base = f"{data.modality.lower()}-{slugify(data.title)}"
    taken = set(session.scalars(select(Article.slug).where(Article.slug.like(f"{base}%"))))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def source_of(prefix: str, value: object) -> str | None:
    """The stored source of a record (`zendesk:360001`), None when it has no usable id."""
    text = " ".join(str(value).split()) if value is not None else ""
    if not text or len(prefix) + len(text) > SOURCE_MAX:
        return None
    return f"{prefix}{text}"
