"""What a search hit shows of an article, prepared once per article version."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.articles.models import Article
from app.articles.schemas import Step
from app.search.schemas import SEARCHED, SearchHit, as_json

Analyzer = Callable[[str], list[str]]


@dataclass(frozen=True)
class Card:
    """An article as a hit shows it and its analysed terms for the "why"."""

    id: int
    version: int
    # a SearchHit's JSON with the article's fields, those a search fills in left None
    hit: dict[str, Any]
    terms: frozenset[str]


def make_card(article: Article, analyze: Analyzer, searchable_text: str) -> Card:
    """The card of one article as it is now (its steps validated like the response's)."""
    fields = {
        "id": article.id,
        "slug": article.slug,
        "title": article.title,
        "modality": article.modality,
        "manufacturer": article.manufacturer,
        "models": list(article.models),
        "error_codes": list(article.error_codes),
        "issue": article.issue,
        "cause": article.cause,
        "steps": [Step.model_validate(s).model_dump(mode="json") for s in article.steps],
        "escalate_when": article.escalate_when,
        "version": article.version,
    }
    return Card(
        id=article.id,
        version=article.version,
        hit=as_json(SearchHit, fields, unset=SEARCHED),
        terms=frozenset(analyze(searchable_text)),
    )


class CardCache:
    """The card of each article's latest seen version, least recently used dropped beyond
    `size`.

    A version's content never changes (every edit and every status change makes a new
    version), so a card asked for by (id, version) cannot be stale; writes still drop the
    article's card at once, so that nothing outlives its version.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._cards: OrderedDict[int, Card] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._cards)

    def get(self, article_id: int, version: int) -> Card | None:
        """The card of that version of the article, if prepared."""
        with self._lock:
            card = self._cards.get(article_id)
            if card is None or card.version != version:
                self.misses += 1
                return None
            self._cards.move_to_end(article_id)
            self.hits += 1
            return card

    def put(self, card: Card) -> None:
        """Keep a card (no-op when the cache size is 0)."""
        if self.size <= 0:
            return
        with self._lock:
            self._cards[card.id] = card
            self._cards.move_to_end(card.id)
            while len(self._cards) > self.size:
                self._cards.popitem(last=False)

    def forget(self, article_ids: Iterable[int]) -> None:
        """Drop the cards of these articles."""
        with self._lock:
            for article_id in article_ids:
                self._cards.pop(article_id, None)

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._cards.clear()
