"""Load the seed library from knowledge/ into the database and the search index.

Idempotent: an unchanged file is skipped (content hash); an edited file becomes a new
version of its article. Every file is validated; errors name file, line and field.

    python -m scripts.load_knowledge [--dir knowledge/articles] [--check]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.articles import imports as article_imports
from app.articles.markdown import ArticleFileError, parse_file
from app.articles.models import Article
from app.articles.schemas import ArticleCreate
from app.config import Settings
from app.errors import DomainError
from app.search.setup import tqdm_progress
from embeddings.encoder import Encoder
from scripts.context import open_context


@dataclass
class LoadReport:
    """What a load did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    claimed: int = 0  # marked published, claiming a published article's code: drafts
    searchable: int = 0
    invalid: list[ArticleFileError] = field(default_factory=list)


def read_library(folder: Path) -> tuple[list[tuple[Path, ArticleCreate]], list[ArticleFileError]]:
    """Parse every article file; returns the good ones and the errors."""
    good: list[tuple[Path, ArticleCreate]] = []
    bad: list[ArticleFileError] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.md")):
        try:
            article = parse_file(path)
        except ArticleFileError as exc:
            bad.append(exc)
            continue
        slug = article.slug or path.stem
        if slug in seen:
            bad.append(ArticleFileError(path, 2, "id", f"same id as {seen[slug]}"))
            continue
        seen[slug] = path
        good.append((path, article))
    return good, bad


def load_library(
    *, settings: Settings | None = None, folder: Path | None = None, encoder: Encoder | None = None
) -> LoadReport:
    """Validate every file and load the valid ones (invalid files are reported, not loaded)."""
    with open_context(settings=settings, encoder=encoder) as ctx:
        good, bad = read_library(folder or ctx.settings.knowledge_dir)
        report = LoadReport(invalid=bad)
        changed: list[Article] = []
        with ctx.sessions() as session:
            for path, data in good:
                try:
                    article, outcome = article_imports.upsert(
                        session=session,
                        data=data,
                        actor=data.author or "knowledge-loader",
                        source=path.as_posix(),
                        change="loaded from file",
                    )
                except DomainError as exc:  # refused before it changed anything
                    field = str(exc.extra.get("field", "slug"))
                    report.invalid.append(ArticleFileError(path, 1, field, exc.detail))
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
                if outcome != article_imports.UpsertOutcome.UNCHANGED:
                    changed.append(article)
            # one transaction: a crash half-way loads nothing, and a rerun starts clean
            session.commit()
            progress, close_bar = tqdm_progress("embedding")
            try:
                ctx.index.sync_articles(changed, progress=progress)
            finally:
                close_bar()
        ctx.index.save()
        report.searchable = len(ctx.index)
    return report


def main(argv: list[str] | None = None) -> int:
    """Validate and load; exit 1 if any file is invalid (valid files are still loaded)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="folder of article files")
    parser.add_argument("--check", action="store_true", help="validate only, load nothing")
    args = parser.parse_args(argv)
    if args.check:
        good, bad = read_library(args.dir or Settings().knowledge_dir)
        for err in bad:
            print(f"error: {err}", file=sys.stderr)
        print(f"{len(good)} valid article files, {len(bad)} invalid")
        return 1 if bad else 0
    report = load_library(folder=args.dir)
    for err in report.invalid:
        print(f"error: {err}", file=sys.stderr)
    claimed = (
        f"saved as drafts (their error code is another published article's) {report.claimed}, "
        if report.claimed
        else ""
    )
    print(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"{claimed}invalid {len(report.invalid)}; {report.searchable} articles searchable"
    )
    return 1 if report.invalid else 0


if __name__ == "__main__":
    raise SystemExit(main())
