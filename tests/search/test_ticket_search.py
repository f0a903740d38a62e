"""A whole ticket's body sent to POST /search: its fault sentences are searched, a typed
query is ranked as typed, and the size limit names the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

TICKETS = [
    json.loads(line)
    for line in (Path(__file__).parent.parent / "hard_tickets.jsonl").read_text().splitlines()
    if line.strip()
]


def _search(client: TestClient, **body: object) -> dict:
    response = client.post("/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("ticket", TICKETS[:4], ids=lambda t: t["id"])
def test_a_ticket_is_searched_on_its_fault_sentences(
    seeded_read_only: TestClient, ticket: dict
) -> None:
    found = _search(seeded_read_only, query=ticket["text"])
    parts = found["ticket"]
    assert parts is not None
    assert parts["dropped"] > 0
    for phrase in ticket["keep"]:
        assert phrase in parts["searched_for"], phrase
    for phrase in ticket["drop"]:
        assert phrase not in parts["searched_for"], phrase
    assert found["query"] == ticket["text"].strip(), "the answer names what was sent"
    assert ticket["article"] in [hit["slug"] for hit in found["results"][:3]]


def test_a_typed_query_is_ranked_as_typed(seeded_read_only: TestClient) -> None:
    typed = "CT makes a popping sound and the images have streaks"
    found = _search(seeded_read_only, query=typed)
    assert found["ticket"] is None
    # the same words as the one sentence of a short ticket give the same ranking
    again = _search(seeded_read_only, query=f"  {typed}  ")
    assert [h["id"] for h in again["results"]] == [h["id"] for h in found["results"]]


def test_the_longest_ticket_is_taken_and_one_more_character_is_refused(
    seeded_read_only: TestClient,
) -> None:
    filler = "We are running the list as normal otherwise and the staff are fine. "
    core = "The CT gantry makes a loud bang mid scan and shows HV-417. "
    text = (filler * 400)[:10_000] + core + (filler * 400)
    text = text[:20_000]
    found = _search(seeded_read_only, query=text)
    assert found["results"][0]["slug"] == "ct-tube-arcing-popping"
    assert "HV-417" in found["ticket"]["searched_for"]

    refused = seeded_read_only.post("/search", json={"query": text + "x"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"field": "query", "message": "at most 20000 characters"}]
