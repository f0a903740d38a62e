"""Exact lane for identifiers (error codes, model numbers): never fuzzed, only normalised."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

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


class ExactIndex:
    """Maps normalised identifiers to the ids of the documents that carry them."""

    def __init__(self) -> None:
        self._ids: dict[str, set[int]] = defaultdict(set)
        self._terms: dict[int, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self._terms)

    def put(self, doc_id: int, terms: Iterable[str]) -> None:
        """Replace the identifiers of one document (original spellings are kept for display)."""
        self.remove(doc_id)
        spelled: dict[str, str] = {}
        for term in terms:
            key = normalise(term)
            if len(key) >= MIN_LENGTH:
                spelled[key] = term
        if not spelled:
            return
        self._terms[doc_id] = spelled
        for key in spelled:
            self._ids[key].add(doc_id)

    def remove(self, doc_id: int) -> None:
        """Forget one document."""
        for key in self._terms.pop(doc_id, {}):
            ids = self._ids[key]
            ids.discard(doc_id)
            if not ids:
                del self._ids[key]

    def terms(self, doc_id: int) -> list[str]:
        """The identifiers of one document, as originally spelled."""
        return list(self._terms.get(doc_id, {}).values())

    def has(self, term: str) -> bool:
        """Whether any document carries this identifier."""
        return normalise(term) in self._ids

    def ids(self, term: str) -> set[int]:
        """Documents carrying this identifier."""
        return set(self._ids.get(normalise(term), ()))

    def match(self, text: str | set[str]) -> dict[int, list[str]]:
        """Documents whose identifiers occur in the text (or among its `query_keys`),
        with the identifiers found."""
        found: dict[int, list[str]] = defaultdict(list)
        for key in query_keys(text) if isinstance(text, str) else text:
            for doc_id in self._ids.get(key, ()):
                found[doc_id].append(self._terms[doc_id][key])
        return dict(found)
