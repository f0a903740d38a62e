"""A desk without articles (attachments need none): people, a site and a scanner whose
primary engineer is the field engineer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.calls.conftest import Desk
from tests.conftest import key_for


def make_desk(client: TestClient) -> Desk:
    """People with keys, a site and a scanner on `client`."""
    dispatcher_id, dispatcher = key_for(client, "dispatcher", name="Dana Dispatcher")
    engineer_id, engineer = key_for(client, "engineer", name="Tara Tier2")
    engineer2_id, engineer2 = key_for(client, "engineer", name="Omar Tier2")
    field_id, field = key_for(client, "field_engineer", name="Frank Field")
    site = client.post("/sites", json={"hospital": "St Elsewhere", "department": "Radiology"})
    assert site.status_code == 201, site.text
    asset = client.post(
        "/assets",
        json={
            "site_id": site.json()["id"],
            "modality": "CT",
            "manufacturer": "Nordvale Medical",
            "model": "Aurion 64",
            "serial_number": "AUR64-0042",
            "primary_engineer_id": field_id,
        },
    )
    assert asset.status_code == 201, asset.text
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
        asset.json()["id"],
        site.json()["id"],
    )


@pytest.fixture
def desk(client: TestClient) -> Desk:
    return make_desk(client)
