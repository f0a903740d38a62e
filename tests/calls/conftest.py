"""A service desk with people, a site, a scanner and part of the seed library."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from app.articles.markdown import parse_file
from tests.conftest import KNOWLEDGE, key_for


@dataclass
class Desk:
    """Handles for a test: the client (admin key) and each person's key."""

    client: TestClient
    dispatcher: str
    dispatcher_id: int
    engineer: str
    engineer_id: int
    engineer2: str
    engineer2_id: int
    field: str
    field_id: int
    asset_id: int
    site_id: int

    def as_(self, key: str) -> dict[str, str]:
        return {"X-API-Key": key}


def load_articles(client: TestClient, every: int = 3) -> None:
    """Import every `every`-th CT article of the seed library (and the tube-arcing one)
    through the JSON Lines import: enough to rank, quick to embed."""
    paths = sorted((KNOWLEDGE / "ct").glob("*.md"))
    chosen = set(paths[::every]) | {KNOWLEDGE / "ct" / "ct-tube-arcing-popping.md"}
    lines = [json.dumps(parse_file(p).model_dump(mode="json")) for p in sorted(chosen)]
    report = client.post("/articles/import", content="\n".join(lines)).json()
    assert report["failed"] == 0, report


@pytest.fixture
def desk(client: TestClient) -> Desk:
    """The desk on the `client` app."""
    return make_desk(client)


def make_desk(client: TestClient) -> Desk:
    """People, a site and a scanner (the field engineer is its primary) on an app."""
    load_articles(client)
    dispatcher_id, dispatcher = key_for(client, "dispatcher", name="Dana Dispatcher")
    engineer_id, engineer = key_for(client, "engineer", name="Tara Tier2")
    engineer2_id, engineer2 = key_for(client, "engineer", name="Omar Tier2")
    field_id, field = key_for(client, "field_engineer", name="Frank Field")
    site = client.post(
        "/sites",
        json={
            "hospital": "St Elsewhere",
            "department": "Radiology",
            "main_phone": "+44 20 7946 0100",
        },
    ).json()
    asset = client.post(
        "/assets",
        json={
            "site_id": site["id"],
            "modality": "CT",
            "manufacturer": "Nordvale Medical",
            "model": "Aurion 64",
            "serial_number": "AUR64-0042",
            "software_version": "VA44",
            "room": "CT 2",
            "primary_engineer_id": field_id,
        },
    ).json()
    return Desk(
        client,
        dispatcher,
        dispatcher_id,
        engineer,
        engineer_id,
        engineer2,
        engineer2_id,
        field,
        field_id,
        asset["id"],
        site["id"],
    )
