"""The evaluation sets: the seed library with its queries, StackFAQ, and the query
vectors they share (scripts/evaluate.py, scripts/calibrate.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.articles.markdown import parse_file
from app.articles.models import Article, ArticleStatus
from app.articles.schemas import ArticleCreate
from app.config import Settings
from app.search.documents import KEYWORD_FIELDS, read_glossary, to_document
from embeddings.encoder import Encoder
from embeddings.fusion import FusionWeights
from embeddings.hybrid import Document, HybridIndex

ROOT = Path(__file__).resolve().parent.parent
STACKFAQ = ROOT.parent / "shared" / "data" / "stackfaq" / "beir-thread"
GLOSSARY = ROOT / "knowledge" / "glossary.yaml"


def glossary_groups() -> list[list[str]]:
    """The shipped glossary, if any."""
    return read_glossary(GLOSSARY)


@dataclass
class Query:
    """One evaluation query."""

    id: str
    text: str
    relevant: set[int]
    filters: dict[str, list[str]]
    kind: str = ""


class QueryVectors:
    """Query encodings, cached by the exact text the dense lanes see."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._cache: dict[str, np.ndarray] = {}

    def get(
        self, hybrid_index: HybridIndex, queries: Sequence[Query], w: FusionWeights
    ) -> np.ndarray:
        texts = [hybrid_index.dense_text(q.text, w) for q in queries]
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for t, v in zip(missing, self.encoder.encode(missing), strict=True):
                self._cache[t] = v
        return np.stack([self._cache[t] for t in texts])


def _index(encoder: Encoder) -> HybridIndex:
    settings = Settings()
    return HybridIndex(
        encoder,
        None,
        keyword_fields=KEYWORD_FIELDS,
        glossary_groups=glossary_groups(),
        body_max_tokens=settings.body_max_tokens,
        lexical_boosts=settings.bm25_fields,
    )


def load_seed(encoder: Encoder) -> tuple[HybridIndex, list[Query], dict[int, Article]]:
    """The seed library in memory, its queries mapped to document ids, and the articles
    by id."""
    articles: list[Article] = []
    for n, path in enumerate(sorted((ROOT / "knowledge" / "articles").rglob("*.md")), start=1):
        data: ArticleCreate = parse_file(path)
        fields = data.model_dump(mode="json", exclude={"status", "author"})
        articles.append(Article(id=n, version=1, status=ArticleStatus.PUBLISHED, **fields))
    hybrid_index = _index(encoder)
    hybrid_index.upsert([to_document(a) for a in articles])
    hybrid_index.prepare_spelling()
    by_slug = {a.slug: a.id for a in articles}
    queries = []
    for line in (ROOT / "knowledge" / "eval" / "queries.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        missing = [s for s in raw["relevant"] if s not in by_slug]
        if missing:
            raise SystemExit(f"queries.jsonl: {raw['id']}: unknown article ids {missing}")
        queries.append(
            Query(
                raw["id"],
                raw["query"],
                {by_slug[s] for s in raw["relevant"]},
                {k: [v] for k, v in (raw.get("filters") or {}).items()},
                raw.get("kind", ""),
            )
        )
    return hybrid_index, queries, {a.id: a for a in articles}


def load_stackfaq(encoder: Encoder) -> tuple[HybridIndex, list[Query], list[Query]]:
    """StackFAQ thread view: (hybrid_index, dev queries, test queries)."""
    corpus = [json.loads(x) for x in (STACKFAQ / "corpus.jsonl").read_text().splitlines() if x]
    ids = {c["_id"]: n for n, c in enumerate(corpus, start=1)}
    docs = [
        Document(
            id=ids[c["_id"]],
            version=1,
            headline=c["title"],
            body=f"{c['title']}\n{c['text']}",
            keywords={"modality": ["IT"]},
        )
        for c in corpus
    ]
    hybrid_index = _index(encoder)
    hybrid_index.upsert(docs)
    hybrid_index.prepare_spelling()
    qrels: dict[str, set[int]] = {}
    for line in (STACKFAQ / "qrels.test.tsv").read_text().splitlines()[1:]:
        qid, cid, _ = line.split("\t")
        qrels.setdefault(qid, set()).add(ids[cid])
    dev: list[Query] = []
    test: list[Query] = []
    for line in (STACKFAQ / "queries.jsonl").read_text().splitlines():
        raw = json.loads(line)
        q = Query(raw["_id"], raw["text"], qrels[raw["_id"]], {})
        (dev if int(raw["_id"][1:4]) % 2 == 0 else test).append(q)
    return hybrid_index, dev, test


def is_dev(query_id: str) -> bool:
    """Seed split: queries whose number is even are dev (tune there), odd are test."""
    return int(query_id.rsplit("-", 1)[-1]) % 2 == 0
