from fastapi.testclient import TestClient

from tests.conftest import key_for


def _site(client: TestClient) -> int:
    return client.post("/sites", json={"hospital": "Royal Infirmary", "department": "MRI"}).json()[
        "id"
    ]


def test_create_asset_needs_a_field_engineer_as_primary(client: TestClient) -> None:
    site_id = _site(client)
    dispatcher_id, _ = key_for(client, "dispatcher")
    body = {
        "site_id": site_id,
        "modality": "MR",
        "manufacturer": "Nordvale Medical",
        "model": "Magnara 3T",
        "serial_number": "MAG3-1",
        "primary_engineer_id": dispatcher_id,
    }
    response = client.post("/assets", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "primary_engineer_id"
    field_id, _ = key_for(client, "field_engineer")
    created = client.post("/assets", json=body | {"primary_engineer_id": field_id})
    assert created.status_code == 201
    assert created.json()["primary_engineer"]["id"] == field_id
    duplicate = client.post("/assets", json=body | {"primary_engineer_id": field_id})
    assert duplicate.status_code == 409


def test_look_up_asset_by_serial_and_site_name(client: TestClient) -> None:
    site_id = _site(client)
    field_id, _ = key_for(client, "field_engineer")
    client.post(
        "/assets",
        json={
            "site_id": site_id,
            "modality": "MR",
            "manufacturer": "N",
            "model": "M",
            "serial_number": "MAG3-0777",
            "primary_engineer_id": field_id,
        },
    )
    assert client.get("/assets/by-serial/mag3-0777").json()["site"]["hospital"] == "Royal Infirmary"
    assert [
        a["serial_number"] for a in client.get("/assets", params={"serial": "0777"}).json()
    ] == ["MAG3-0777"]
    found = client.get("/assets", params={"site": "royal"})
    assert found.headers["x-total-count"] == "1"
    assert client.get("/assets/by-serial/NOPE").status_code == 404


def test_import_csv_reports_bad_lines_and_keeps_good_ones(client: TestClient) -> None:
    key_for(client, "field_engineer", name="Fiona Field")
    client.patch("/people/2", json={"email": "fiona@example.org"})
    csv_text = (
        "hospital,department,modality,manufacturer,model,serial_number,software_version,room,"
        "primary_engineer_email,backup_engineer_email\n"
        "General,CT,CT,Nordvale Medical,Aurion 64,SN-1,VA44,CT1,fiona@example.org,\n"
        "General,CT,PET,Nordvale Medical,Aurion 64,SN-2,,,fiona@example.org,\n"
        "General,CT,CT,Nordvale Medical,Aurion 64,SN-3,,,nobody@example.org,\n"
    )
    report = client.post(
        "/assets/import", content=csv_text, headers={"content-type": "text/csv"}
    ).json()
    assert (report["created"], report["failed"]) == (1, 2)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [
        (3, "modality"),
        (4, "primary_engineer_email"),
    ]
    again = client.post("/assets/import", content=csv_text).json()
    assert (again["created"], again["updated"]) == (0, 1)
    missing_header = client.post("/assets/import", content="serial_number\nX\n")
    assert missing_header.status_code == 422


def test_delete_scanner_with_calls_is_refused(client: TestClient) -> None:
    site_id = _site(client)
    field_id, _ = key_for(client, "field_engineer")
    asset = client.post(
        "/assets",
        json={
            "site_id": site_id,
            "modality": "MR",
            "manufacturer": "N",
            "model": "M",
            "serial_number": "S-1",
            "primary_engineer_id": field_id,
        },
    ).json()
    _, dispatcher = key_for(client, "dispatcher")
    client.post(
        "/calls",
        headers={"X-API-Key": dispatcher},
        json={"caller_name": "A", "asset_id": asset["id"], "urgency": "question"},
    )
    assert client.delete(f"/assets/{asset['id']}").status_code == 409
    assert client.delete(f"/sites/{site_id}").status_code == 409
    assert client.get(f"/assets/{asset['id']}").status_code == 200
    other = client.post("/sites", json={"hospital": "Empty"}).json()
    assert client.delete(f"/sites/{other['id']}").status_code == 204
    assert client.get(f"/sites/{other['id']}").status_code == 404
