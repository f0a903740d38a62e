"""The search façade (`ArticleIndex`) on the seed library, and the search response built
from its one declared shape."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.search.index import ArticleIndex
from app.search.schemas import SearchHit, SearchResponse, Why, as_json
from tests.conftest import KNOWLEDGE

APP = Path(__file__).resolve().parents[2] / "app"


def _index(client: TestClient) -> ArticleIndex:
    index: ArticleIndex = client.app.state.index  # type: ignore[attr-defined]
    return index


def _sessions(client: TestClient) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = client.app.state.sessions  # type: ignore[attr-defined]
    return sessions


def test_facade_answers_what_the_app_asks(seeded_read_only: TestClient) -> None:
    index = _index(seeded_read_only)
    assert len(index) == len(list(KNOWLEDGE.rglob("*.md")))
    assert index.loaded_from_disk
    assert index.encoder_name == seeded_read_only.get("/search/index").json()["encoder"]
    assert index.has_value("manufacturer", "nordvale  MEDICAL")
    assert not index.has_value("manufacturer", "Acme")
    assert not index.has_value("colour", "red")  # not a filter field
    assert "Nordvale Medical" in index.known_values("manufacturer")
    assert index.error_codes_in("the console says hv 417, then HV417 again") == ["HV-417"]
    assert index.error_codes_in("a popping sound, no code shown") == []


def test_facade_search_gives_hits_with_cards_expansions_and_query_terms(
    seeded_read_only: TestClient,
) -> None:
    index = _index(seeded_read_only)
    with _sessions(seeded_read_only)() as session:
        found = index.search(session, "hv 417 popping", 3, filters={"modality": ["CT"]})
        couch = index.search(session, "the couch won't move", 3)
    assert len(found.hits) == 3
    top = found.hits[0]
    assert top.card.hit["slug"] == "ct-tube-arcing-popping"
    assert top.error_codes == ["HV-417"]
    assert {h.card.hit["modality"] for h in found.hits} == {"CT"}
    assert [h.score for h in found.hits] == sorted((h.score for h in found.hits), reverse=True)
    assert ("popping", frozenset({"pop"})) in found.query_words
    assert couch.expanded_with, "the glossary widens 'couch'"
    assert "table" in couch.expanded_with


def test_search_response_keys_follow_the_declared_models_in_order(
    seeded_read_only: TestClient,
) -> None:
    response = seeded_read_only.post("/search", json={"query": "HV-417 popping streaks"})
    assert response.status_code == 200, response.text
    got = response.json()
    assert list(got) == list(SearchResponse.model_fields)
    assert got["results"]
    for hit in got["results"]:
        assert list(hit) == list(SearchHit.model_fields)
        assert list(hit["why"]) == list(Why.model_fields)
    assert SearchResponse.model_validate(got).model_dump(mode="json") == got


def test_as_json_orders_the_declared_fields_and_refuses_others() -> None:
    why = {
        "semantic": 0.5,
        "semantic_body": 0.4,
        "keyword_score": 1.0,
        "keyword_terms": ["tabl"],
        "error_codes": [],
        "models": [],
        "filters": {},
        "named": {},
        "unlike_named": False,
        "past_calls": None,
        "similar_calls": None,
        "summary": "semantic similarity 0.50",
    }
    assert list(as_json(Why, dict(reversed(why.items())))) == list(Why.model_fields)
    with pytest.raises(ValueError, match=r"missing \['summary'\], not declared \[\]"):
        as_json(Why, {k: v for k, v in why.items() if k != "summary"})
    with pytest.raises(ValueError, match=r"missing \[\], not declared \['extra'\]"):
        as_json(Why, {**why, "extra": 1})
    later = ("summary", "semantic")
    template = as_json(Why, {k: v for k, v in why.items() if k not in later}, unset=later)
    assert list(template) == list(Why.model_fields)
    assert template["semantic"] is template["summary"] is None
    with pytest.raises(ValueError, match=r"missing \['summary'\]"):
        as_json(Why, {k: v for k, v in why.items() if k not in later}, unset=["semantic"])


def test_app_reaches_the_hybrid_index_only_through_the_facade() -> None:
    """Routes and services call `ArticleIndex`; only app/search/index.py holds the
    hybrid index behind it (with documents.py, the façade's view of an article)."""
    facade = {APP / "search" / "index.py", APP / "search" / "documents.py"}
    reaching = [
        f"{path.relative_to(APP)}:{n}"
        for path in APP.rglob("*.py")
        if path not in facade
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\.hybrid\b|\b_hybrid\b|embeddings\.hybrid", line)
    ]
    assert reaching == []
