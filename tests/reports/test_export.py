"""Content negotiation of the reports: every route answers JSON or CSV by Accept, and says
so in `Vary`, so a cache between the client and the service keeps the two apart."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

ROUTES = ("/reports/desk", "/reports/articles", "/reports/gaps")


@pytest.mark.parametrize("path", ROUTES)
def test_json_and_csv_answers_both_vary_by_accept(client: TestClient, path: str) -> None:
    as_csv = client.get(path, headers={"Accept": "text/csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"].startswith("attachment; filename=")
    assert as_csv.headers["vary"] == "Accept"
    for accept in ("application/json", "*/*"):
        as_json = client.get(path, headers={"Accept": accept})
        assert as_json.status_code == 200, as_json.text
        assert as_json.headers["content-type"] == "application/json"
        assert as_json.headers["vary"] == "Accept"
