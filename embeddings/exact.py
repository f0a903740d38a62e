"""Exact lane for identifiers (error codes, model numbers): never fuzzed, only normalised."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

_TOKEN = re.compile(r"[0-9a-z]+")
MAX_NGRAM = 4
MIN_LENGTH = 3


@lru_cache(maxsize=65536)  # the same few thousand codes and models recur across articles
def normalise(term: str) -> str:
    """Case, spaces, hyphens and other punctuation do not matter: "HV-417" == "hv 417"."""
    return "".join(_TOKEN.findall(term.lower()))


def query_keys(text: str) -> set[str]:
    """Every normalised run of 1..MAX_NGRAM consecutive tokens in the text."""
    tokens = _TOKEN.findall(text.lower())
    keys: set[str] = set()
    for start in range(len(tokens)):
        for end in range(start + 1, min(start + MAX_NGRAM, len(tokens)) + 1):
            keys.add("".join(tokens[start:end]))
    return keys


class _Saved:
    """An index as loaded (`ExactIndex.postings()` columns), read in place: a key's
    documents become a dict when first asked for, not at start-up (turning every key of
    a large library into dicts was a measurable part of the start-up)."""

    def __init__(self, postings: Mapping[str, Sequence[Any]]) -> None:
        self.postings = postings
        keys, self.spellings, self.docs = postings["keys"], postings["spellings"], postings["docs"]
        if not len(keys) == len(self.spellings) == len(self.docs):
            raise ValueError("the postings' columns differ in length")
        self.rows: dict[str, int] = dict(zip(keys, range(len(keys)), strict=True))
        self.more: dict[str, list[tuple[str, list[int]]]] = {}
        for key, term, ids in postings["more"]:
            if key not in self.rows:
                raise ValueError(f"a further spelling of the unknown key {key!r}")
            self.more.setdefault(key, []).append((term, ids))
        # searches fill it side by side: each builds the same dict for a key, one is kept
        self.cache: dict[str, dict[int, str]] = {}

    def entry(self, key: str) -> dict[int, str] | None:
        """Document -> spelling for one key (None when no document has it)."""
        found = self.cache.get(key)
        if found is not None:
            return found
        row = self.rows.get(key)
        if row is None:
            return None
        ids, term = self.docs[row], self.spellings[row]
        found = dict.fromkeys(ids, term) if isinstance(ids, list) else {ids: term}
        for other, more in self.more.get(key, ()):
            found.update(dict.fromkeys(more, other))
        self.cache[key] = found
        return found

    def all(self) -> dict[str, dict[int, str]]:
        """Every key's entry."""
        return {key: self.entry(key) or {} for key in self.rows}


class ExactIndex:
    """Maps normalised keys to the documents that carry them, each as spelled there.

    Serves the exact lanes (identifiers, keys of at least MIN_LENGTH characters) and the
    keyword filters (`min_length=1`). Loaded from disk (`from_postings`), it reads the
    saved columns in place until the first write turns them into dicts
    (`prepare_writes`).
    """

    def __init__(self, *, min_length: int = MIN_LENGTH) -> None:
        self.min_length = min_length
        # key -> {document id: the key as that document spells it}
        self._docs: dict[str, dict[int, str]] = {}
        # document -> its keys, to forget it
        self._keys: dict[int, list[str]] = {}
        # the loaded columns while nothing was written since (then `_docs` is unused)
        self._saved: _Saved | None = None

    def _entry(self, key: str) -> dict[int, str] | None:
        saved = self._saved  # once: a write's preparation may drop it meanwhile
        return saved.entry(key) if saved is not None else self._docs.get(key)

    def _entries(self) -> dict[str, dict[int, str]]:
        saved = self._saved
        return saved.all() if saved is not None else self._docs

    def __len__(self) -> int:
        """How many documents carry at least one key."""
        held: set[int] = set()
        for docs in self._entries().values():
            held.update(docs)
        return len(held)

    def keyed(self, terms: Iterable[str]) -> dict[str, str]:
        """Normalised key -> spelling of the terms long enough to be keys."""
        out: dict[str, str] = {}
        for term in terms:
            key = normalise(term)
            if len(key) >= self.min_length:
                out[key] = term
        return out

    def put(self, doc_id: int, terms: Iterable[str]) -> None:
        """Replace the identifiers of one document (original spellings are kept for display)."""
        self.remove([doc_id])
        self.add(doc_id, self.keyed(terms))

    def add(self, doc_id: int, spelled: Mapping[str, str]) -> None:
        """Add the keys (key -> spelling) of a document this index does not hold yet."""
        self.prepare_writes()
        for key, term in spelled.items():
            self._docs.setdefault(key, {})[doc_id] = term
        if spelled:
            self._keys[doc_id] = list(spelled)

    def prepare_writes(self) -> None:
        """Turn loaded columns into the dicts writes change, with each document's keys
        (a pass over every posting, once after a load; searches may go on meanwhile)."""
        saved = self._saved
        if saved is None:
            return
        docs = saved.all()
        keys: dict[int, list[str]] = defaultdict(list)
        for key, held in docs.items():
            for doc_id in held:
                keys[doc_id].append(key)
        self._docs, self._keys = docs, dict(keys)
        self._saved = None  # last: a search sees the columns or the finished dicts

    def remove(self, doc_ids: Iterable[int]) -> None:
        """Forget documents (absent ones are ignored)."""
        self.prepare_writes()
        for doc_id in doc_ids:
            for key in self._keys.pop(doc_id, ()):
                docs = self._docs[key]
                docs.pop(doc_id, None)
                if not docs:
                    del self._docs[key]

    def has(self, term: str) -> bool:
        """Whether any document carries this identifier."""
        return self._entry(normalise(term)) is not None

    def held(self, key: str) -> Mapping[int, str]:
        """Document -> spelling for one normalised key (read only)."""
        return self._entry(key) or {}

    def spellings(self, *, skip: str = "") -> set[str]:
        """Every key as the documents spell it (but for the key `skip`)."""
        entries = self._entries()
        return {term for key, docs in entries.items() if key != skip for term in docs.values()}

    def match(self, text: str | set[str]) -> dict[int, list[str]]:
        """Documents whose identifiers occur in the text (or among its `query_keys`),
        with the identifiers found."""
        keys = query_keys(text) if isinstance(text, str) else text
        saved = self._saved
        # most queries carry no identifier: the keys held are picked out in C
        held = (saved.rows.keys() if saved is not None else self._docs.keys()) & keys
        found: dict[int, list[str]] = defaultdict(list)
        for key in held:
            for doc_id, spelled in (self._entry(key) or {}).items():
                found[doc_id].append(spelled)
        return dict(found)

    def postings(self) -> dict[str, list[Any]]:
        """The persisted form (see `from_postings`): columns of keys, spellings and the
        documents (an id, or a list of ids) with each key's first spelling; the rows of
        further spellings of a key apart."""
        saved = self._saved
        if saved is not None:
            return {name: list(column) for name, column in saved.postings.items()}
        keys: list[str] = []
        spellings: list[str] = []
        held: list[int | list[int]] = []
        more: list[tuple[str, str, list[int]]] = []
        for key, docs in self._docs.items():
            if len(set(docs.values())) == 1:  # the usual case, without a step per document
                by_spelling = {next(iter(docs.values())): list(docs)}
            else:
                by_spelling = {}
                for doc_id, term in docs.items():
                    by_spelling.setdefault(term, []).append(doc_id)
            rows = iter(by_spelling.items())
            term, ids = next(rows)
            keys.append(key)
            spellings.append(term)
            held.append(ids[0] if len(ids) == 1 else ids)
            more.extend((key, term, ids) for term, ids in rows)
        return {"keys": keys, "spellings": spellings, "docs": held, "more": more}

    @classmethod
    def from_postings(
        cls, postings: Mapping[str, Sequence[Any]], *, min_length: int = MIN_LENGTH
    ) -> ExactIndex:
        """The index `postings()` was taken from; ValueError, TypeError or KeyError when
        they are malformed."""
        index = cls(min_length=min_length)
        index._saved = _Saved(postings)
        return index
