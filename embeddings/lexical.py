"""BM25 lexical lane on tantivy: incremental add/remove, keyword filters, persisted on disk."""

from __future__ import annotations

import functools
import re
import shutil
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tantivy

ANALYZER = "en_bm25"
_ID = "id"
_WORD = re.compile(r"[0-9a-z]+")
# a word as the caller typed it, its apostrophes kept ("isn't", not "isn" and "t")
_TYPED = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def _analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class FieldsChanged(ValueError):
    """The index on disk was built with other fields than asked for."""


@dataclass
class LexicalDoc:
    """One document: weighted text fields and exact keyword fields used as filters."""

    id: int
    text: Mapping[str, str]
    keywords: Mapping[str, Sequence[str]] = field(default_factory=dict)


class LexicalIndex:
    """BM25 over a fixed set of text fields with per-field boosts.

    `path=None` keeps the index in memory (used by evaluations and tests of the library).
    Opening a folder indexed with other text or keyword fields raises `FieldsChanged`;
    boosts apply at query time and may change freely.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        text_fields: Mapping[str, float],
        keyword_fields: Sequence[str] = (),
    ) -> None:
        self.text_fields = dict(text_fields)
        self.keyword_fields = tuple(keyword_fields)
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field(_ID, stored=True, indexed=True, fast=True)
        for name in self.text_fields:
            builder.add_text_field(name, stored=False, tokenizer_name=ANALYZER)
        for name in self.keyword_fields:
            builder.add_text_field(name, stored=False, tokenizer_name="raw", index_option="basic")
        self._schema = builder.build()
        self.path = path
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            try:
                self._index = tantivy.Index(self._schema, path=str(path), reuse=True)
            except ValueError as exc:
                if "schema does not match" in str(exc):
                    raise FieldsChanged(f"{path}: {exc}") from exc
                raise
        else:
            self._index = tantivy.Index(self._schema)
        self._index.register_tokenizer(ANALYZER, _analyzer())
        self._analyze = _analyzer()
        # queries and glossary phrases come back again and again, and each search needs
        # the query's terms three times (glossary, BM25, the response's keywords)
        self._remembered = functools.lru_cache(maxsize=4096)(self._terms_tuple)
        self._typed = functools.lru_cache(maxsize=4096)(self._words_tuple)
        # a query is a boosted term query per term and field, made anew by two calls
        # into tantivy each; the same terms recur from query to query
        self._term_query = functools.lru_cache(maxsize=16384)(self._boosted_term)
        self._writer: tantivy.IndexWriter | None = self._index.writer(
            heap_size=50_000_000, num_threads=1
        )
        self._lock = threading.Lock()
        self._index.reload()

    def close(self) -> None:
        """Release the directory lock (one writer per index directory at a time)."""
        with self._lock:
            if self._writer is not None:
                self._writer.commit()
                self._writer.wait_merging_threads()
                self._writer = None

    @staticmethod
    def destroy(path: Path) -> None:
        """Delete an on-disk index (used before a full rebuild)."""
        shutil.rmtree(path, ignore_errors=True)

    def terms(self, text: str) -> list[str]:
        """The analysed terms (lowercased, stop words removed, stemmed) of a text."""
        return [t for t in self._analyze.analyze(text) if t]

    def _terms_tuple(self, text: str) -> tuple[str, ...]:
        return tuple(self.terms(text))

    def _boosted_term(self, name: str, term: str, boost: float) -> tantivy.Query:
        q = tantivy.Query.term_query(self._schema, name, term, index_option="freq")
        return tantivy.Query.boost_query(q, boost)

    def query_terms(self, text: str) -> tuple[str, ...]:
        """`terms` of a short text (a query, a glossary phrase), remembered."""
        return self._remembered(text)

    def query_words(self, text: str) -> tuple[tuple[str, frozenset[str]], ...]:
        """Each word of a short text as typed, with its analysed terms (stop words left
        out), remembered: what the "why" of a hit shows is the caller's word, not a stem."""
        return self._typed(text)

    def _words_tuple(self, text: str) -> tuple[tuple[str, frozenset[str]], ...]:
        found = ((m.group(), frozenset(self.terms(m.group()))) for m in _TYPED.finditer(text))
        return tuple((word, terms) for word, terms in found if terms)

    def __len__(self) -> int:
        return int(self._index.searcher().num_docs)

    def upsert(self, docs: Iterable[LexicalDoc], *, commit: bool = True) -> None:
        """Insert or replace documents by id."""
        with self._lock:
            for doc in docs:
                self._writable().delete_documents_by_term(_ID, int(doc.id))
                tdoc = tantivy.Document()
                tdoc.add_integer(_ID, doc.id)
                for name in self.text_fields:
                    tdoc.add_text(name, doc.text.get(name, ""))
                for name in self.keyword_fields:
                    for value in doc.keywords.get(name, ()):
                        if value:
                            tdoc.add_text(name, value)
                self._writable().add_document(tdoc)
            if commit:
                self._commit()

    def remove(self, ids: Iterable[int], *, commit: bool = True) -> None:
        """Remove documents by id (absent ids are ignored)."""
        with self._lock:
            for key in ids:
                self._writable().delete_documents_by_term(_ID, int(key))
            if commit:
                self._commit()

    def clear(self) -> None:
        """Remove every document."""
        with self._lock:
            self._writable().delete_all_documents()
            self._commit()

    def commit(self) -> None:
        """Make pending writes durable and visible."""
        with self._lock:
            self._commit()

    def _writable(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise RuntimeError("the lexical index is closed")
        return self._writer

    def _commit(self) -> None:
        self._writable().commit()
        self._index.reload()

    def search(
        self,
        text: str,
        k: int,
        *,
        filters: Mapping[str, Sequence[str]] | None = None,
        extra: Sequence[str] = (),
        extra_boost: float = 0.5,
        extra_fields: Collection[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (id, bm25 score) for a free-text query; filters are exact keyword matches.

        Within a filter field any listed value matches; across fields all must match.
        `extra` texts (e.g. synonyms) count with `extra_boost` of a query term's weight, in
        `extra_fields` only (None: every text field).
        """
        own = dict.fromkeys(self.query_terms(text), 1.0)
        added: dict[str, float] = {}
        for phrase in extra:
            for term in self.query_terms(phrase):
                if term not in own:
                    added.setdefault(term, extra_boost)
        if not own and not added:
            return []
        widened = {**own, **added}
        should = tantivy.Occur.Should
        query = tantivy.Query.boolean_query(
            [
                (should, self._term_query(name, term, boost * weight))
                for name, boost in self.text_fields.items()
                for term, weight in (
                    widened if extra_fields is None or name in extra_fields else own
                ).items()
            ]
        )
        if filters:
            musts: list[tuple[tantivy.Occur, tantivy.Query]] = [(tantivy.Occur.Must, query)]
            for name, values in filters.items():
                if name not in self.keyword_fields:
                    raise KeyError(f"unknown filter field {name!r}")
                alts = [
                    (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, name, v))
                    for v in values
                ]
                musts.append((tantivy.Occur.Must, tantivy.Query.boolean_query(alts)))
            query = tantivy.Query.boolean_query(musts)
        searcher = self._index.searcher()
        hits = searcher.search(query, limit=k, count=False).hits
        # the ids from their column in one call, not a stored document per hit
        ids = searcher.fast_field_values(_ID, [address for _, address in hits])
        return [
            (int(i), float(score))
            for i, (score, _) in zip(ids, hits, strict=True)
            if i is not None  # every segment has the column: the id field is fast
        ]

    def ids(self) -> set[int]:
        """Every id in the index (for consistency checks)."""
        searcher = self._index.searcher()
        n = searcher.num_docs
        if n == 0:
            return set()
        result = searcher.search(tantivy.Query.all_query(), limit=n, count=False)
        return {int(searcher.doc(a)[_ID][0]) for _, a in result.hits}
