"""How an article becomes the index's document: its texts, keywords and identifiers (part
of the façade, `app/search/index.py`)."""

from __future__ import annotations

import logging
from pathlib import Path

from app.articles.models import Article
from embeddings.hybrid import Document
from embeddings.synonyms import read_groups

log = logging.getLogger(__name__)

# filter field -> whether an article with no value applies to all values
KEYWORD_FIELDS = {"modality": False, "manufacturer": True, "model": True, "error_code": False}


def read_glossary(path: Path) -> list[list[str]]:
    """Synonym groups from a YAML list of lists (none when the file is absent)."""
    if not path.exists():
        log.warning("glossary %s not found: queries are not widened with synonyms", path)
        return []
    return read_groups(path)


def headline_text(article: Article) -> str:
    """Title and the issue in the callers' words (with its other phrasings): what a query
    most resembles."""
    return "\n".join([article.title, article.issue, *(article.reported_as or [])])


def body_text(article: Article) -> str:
    """Every searchable field in one text."""
    parts = [
        article.title,
        article.issue,
        article.cause,
        " ".join(s["text"] for s in article.steps),
        article.escalate_when,
        article.manufacturer or "",
        " ".join(article.models),
        " ".join(article.error_codes),
        " ".join(article.tags),
        # last: the body vector sees a bounded window, which the steps should fill first
        "\n".join(article.reported_as or []),
    ]
    return "\n".join(p for p in parts if p)


def to_document(article: Article) -> Document:
    """The index's view of an article."""
    return Document(
        id=article.id,
        version=article.version,
        headline=headline_text(article),
        body=body_text(article),
        keywords={
            "modality": [article.modality],
            "manufacturer": [article.manufacturer] if article.manufacturer else [],
            "model": list(article.models),
            "error_code": list(article.error_codes),
        },
        codes=list(article.error_codes),
        models=list(article.models),
    )
