"""Imports from other help-desk tools through `POST /articles/import?format=...`: Zendesk,
ServiceNow and a folder of files (tests/articles/fixtures: a Zendesk export of 3 articles,
one carrying a script and event handlers; a ServiceNow export of 2 records; a zip of 2
Markdown files, one in the seed library's format, and 1 HTML file)."""

from __future__ import annotations

import copy
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory, key_for

FIXTURES = Path(__file__).parent / "fixtures"
PROBLEM = "application/problem+json"
ZENDESK = json.loads((FIXTURES / "zendesk.json").read_text())
SERVICENOW = json.loads((FIXTURES / "servicenow.json").read_text())
LIBRARY = (FIXTURES / "library.zip").read_bytes()
# what the Zendesk fixture's second article carries that must never be stored
HOSTILE = ("steal", "<script", "onclick", "onerror", "javascript:", "tracker.example", "display")


def _import(
    client: TestClient, fmt: str, body: bytes | str | dict[str, Any], **params: str
) -> dict[str, Any]:
    content = json.dumps(body) if isinstance(body, dict) else body
    response = client.post("/articles/import", params={"format": fmt, **params}, content=content)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def _outcomes(report: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(r["record"], r["name"], r["outcome"]) for r in report["records"]]


def _article(client: TestClient, slug: str) -> dict[str, Any]:
    response = client.get(f"/articles/{slug}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_zendesk_articles_become_drafts_mapped_field_by_field(client: TestClient) -> None:
    report = _import(client, "zendesk", ZENDESK, modality="IT")
    assert (report["created"], report["failed"], report["skipped"]) == (3, 0, 0)
    assert _outcomes(report) == [
        (1, "zendesk:360001000001", "created"),
        (2, "zendesk:360001000002", "created"),
        (3, "zendesk:360001000003", "created"),
    ]
    slugs = [r["slug"] for r in report["records"]]
    gantry, freeze, worklist = (_article(client, s) for s in slugs)
    # Zendesk's "draft": false does not publish: every imported article is a draft
    assert {a["status"] for a in (gantry, freeze, worklist)} == {"draft"}
    assert gantry["source"] == "zendesk:360001000001"
    assert gantry["title"] == "Gantry grinds and stops mid-scan"
    assert gantry["issue"].startswith("The gantry makes a grinding noise when it spins up")
    assert [s["text"] for s in gantry["steps"]] == [
        "Stop scanning and note the error code on the console.",
        "Check nothing touches the gantry cover.",
        "Inspect the bearing.",
    ]
    assert (gantry["steps"][2]["tier1_allowed"], gantry["steps"][2]["restriction"]) == (
        False,
        "covers off",
    )
    assert gantry["escalate_when"] == "If it grinds again after a restart, call tier 2."
    # a label of several words is how callers put it; a single word is a tag
    assert (gantry["reported_as"], gantry["tags"]) == (["grinding noise from the ring"], ["gantry"])
    # the section names the modality; "General questions" names none: ?modality= is used
    assert [a["modality"] for a in (gantry, freeze, worklist)] == ["CT", "US", "IT"]
    # headings naming the sections map them
    assert worklist["issue"] == "The worklist on the scanner shows no patients."
    assert worklist["cause"] == "The query filters on the wrong station name."
    assert len(worklist["steps"]) == 2
    assert worklist["escalate_when"] == "The list stays empty with no filter."


def test_a_script_or_event_handler_never_reaches_the_stored_text(client: TestClient) -> None:
    report = _import(client, "zendesk", ZENDESK, modality="IT")
    freeze = _article(client, report["records"][1]["slug"])
    stored = json.dumps(freeze) + json.dumps(
        client.get(f"/articles/{freeze['slug']}/versions/1").json()
    )
    assert [word for word in HOSTILE if word in stored] == []
    assert freeze["issue"] == "The live image freezes after a few minutes of scanning. Read more"
    assert [s["text"] for s in freeze["steps"]] == [
        "Freeze on the console and then unfreeze.",
        "Save the exam and restart the application.",
        "See the operator manual (https://example.org/manual), chapter 4.",
    ]


def test_bad_records_are_reported_by_number_and_field_and_the_good_ones_saved(
    client: TestClient,
) -> None:
    export = copy.deepcopy(ZENDESK)
    export["articles"][1]["body"] = "<p>No steps in this one, only a paragraph.</p>"
    export["articles"].append("not an article")
    export["articles"].append(
        {
            "id": 360001000005,
            "title": "x",
            "body": "<ol><li>a</li></ol>",
            "section_id": 360000000010,
        }
    )
    report = _import(client, "zendesk", export)
    assert (report["created"], report["failed"]) == (1, 4)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [
        (2, "body"),  # no list to take the steps from
        (3, "section_id"),  # its section names no modality and no ?modality= was sent
        (4, "(record)"),
        (5, "title"),  # shorter than a title may be
    ]
    assert "steps" in report["errors"][0]["message"]
    assert _outcomes(report)[0] == (1, "zendesk:360001000001", "created")
    assert [r["outcome"] for r in report["records"][1:]] == ["failed"] * 4
    assert client.get("/articles").json()["total"] == 1


def test_a_reimport_is_unchanged_and_a_changed_record_updates_the_same_draft(
    client: TestClient,
) -> None:
    first = _import(client, "zendesk", ZENDESK, modality="IT")
    again = _import(client, "zendesk", ZENDESK, modality="IT")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert [r["slug"] for r in again["records"]] == [r["slug"] for r in first["records"]]

    # a retitled article is still the same one: it is matched by its Zendesk id
    export = copy.deepcopy(ZENDESK)
    export["articles"][0]["title"] = "Gantry grinds, then the scan stops"
    changed = _import(client, "zendesk", export, modality="IT")
    assert (changed["updated"], changed["unchanged"]) == (1, 2)
    slug = first["records"][0]["slug"]
    article = _article(client, slug)
    assert (article["title"], article["version"]) == ("Gantry grinds, then the scan stops", 2)
    assert client.get("/articles").json()["total"] == 3


def test_a_change_to_a_published_article_waits_for_review_even_from_a_publisher(
    client: TestClient,
) -> None:
    slug = _import(client, "zendesk", ZENDESK, modality="IT")["records"][0]["slug"]
    published = client.post(f"/articles/{slug}/publish")
    assert published.status_code == 200
    export = copy.deepcopy(ZENDESK)
    export["articles"][0]["body"] = export["articles"][0]["body"].replace("GNT-290", "GNT-291")
    report = _import(client, "zendesk", export, modality="IT")
    assert (report["pending"], report["unchanged"]) == (1, 2)
    assert report["records"][0]["outcome"] == "pending"
    live = _article(client, slug)
    assert (live["status"], live["version"]) == ("published", published.json()["version"])
    assert "GNT-290" in live["issue"]
    revisions = client.get(f"/articles/{slug}/revisions").json()
    assert [(r["status"], r["change"]) for r in revisions] == [("pending", "imported")]


def test_servicenow_records_become_drafts(client: TestClient) -> None:
    report = _import(client, "servicenow", SERVICENOW)
    assert (report["created"], report["failed"]) == (2, 0)
    assert [r["name"] for r in report["records"]] == [
        "servicenow:KB0010001",
        "servicenow:KB0010002",
    ]
    coil, paddle = (_article(client, r["slug"]) for r in report["records"])
    assert (coil["status"], coil["source"], coil["modality"]) == (
        "draft",
        "servicenow:KB0010001",
        "MR",
    )
    assert coil["title"] == "MRI coil not detected"
    assert coil["reported_as"] == ["no coil connected", "coil not found"]
    assert coil["tags"] == ["coil"]
    assert [s["text"] for s in coil["steps"]] == [
        "Unplug the coil and plug it in again until it clicks.",
        "Try the coil in the other socket.",
    ]
    assert (paddle["modality"], paddle["reported_as"]) == ("MG", ["paddle stuck"])

    again = _import(client, "servicenow", SERVICENOW)
    assert (again["created"], again["unchanged"]) == (0, 2)


def test_servicenow_list_export_shape_and_retired_records(client: TestClient) -> None:
    records = copy.deepcopy(SERVICENOW["result"])
    records[1]["workflow_state"] = "retired"
    report = _import(client, "servicenow", {"records": records})
    assert (report["created"], report["skipped"], report["failed"]) == (1, 1, 0)
    skipped = report["records"][1]
    assert (skipped["outcome"], skipped["name"]) == ("skipped", "servicenow:KB0010002")
    assert "retired" in skipped["message"]


def test_a_folder_of_files_imports_as_drafts(client: TestClient) -> None:
    report = _import(client, "files", LIBRARY)
    assert (report["created"], report["failed"]) == (3, 0)
    assert [r["name"] for r in report["records"]] == [
        "library/XR/detector-battery.html",
        "library/ct/ct-file-couch-drifts.md",
        "library/mr/coil-cable-warm.md",
    ]
    battery, couch, coil = (_article(client, r["slug"]) for r in report["records"])
    assert {a["status"] for a in (battery, couch, coil)} == {"draft"}
    # HTML: the <title> is the title, the folder names the modality, the script is gone
    assert (battery["title"], battery["modality"]) == (
        "Detector battery runs out within an hour",
        "XR",
    )
    assert "alert" not in json.dumps(battery)
    assert len(battery["steps"]) == 2
    # the seed library's format keeps its own id, fields and tier-2 marks
    assert couch["slug"] == "ct-file-couch-drifts"
    assert (couch["error_codes"], couch["author"]) == (["TBL-191"], "f.import")
    assert couch["steps"][1]["tier1_allowed"] is False
    assert couch["source"] == "file:library/ct/ct-file-couch-drifts.md"
    # other Markdown: the first heading is the title
    assert (coil["title"], coil["modality"]) == ("Coil cable feels warm", "MR")

    again = _import(client, "files", LIBRARY)
    assert (again["created"], again["unchanged"]) == (0, 3)


def test_a_tar_gz_of_the_same_files_reads_the_same(client: TestClient) -> None:
    packed = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(LIBRARY)) as source,
        tarfile.open(fileobj=packed, mode="w:gz") as target,
    ):
        for info in source.infolist():
            if info.is_dir():
                continue
            data = source.read(info)
            member = tarfile.TarInfo(info.filename)
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
        link = tarfile.TarInfo("library/ct/link.md")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        target.addfile(link)
    report = _import(client, "files", packed.getvalue())
    assert report["created"] == 3
    assert ("library/ct/link.md", "skipped") in [
        (r["name"], r["outcome"]) for r in report["records"]
    ]


def _zip(*files: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return out.getvalue()


GOOD_MD = b"# Coil cable feels warm\n\nThe cable is warm.\n\n1. Stop the exam.\n"


@pytest.mark.parametrize(
    ("fmt", "body", "field"),
    [
        ("zendesk", b"<html>not json</html>", "body"),
        ("zendesk", b'{"results": []}', "articles"),
        ("servicenow", b"[1, 2]", "result"),
        ("servicenow", b"\xff\xfe{}", "body"),
        ("files", b'{"articles": []}', "body"),
        ("files", b"PK\x03\x04 broken", "body"),
        ("files", _zip(("mr/ok.md", GOOD_MD), ("../../etc/cron.d/evil.md", GOOD_MD)), None),
        ("files", _zip(("/abs/evil.md", GOOD_MD)), None),
    ],
    ids=[
        "not-json",
        "no-articles",
        "not-a-list",
        "not-utf8",
        "not-archive",
        "bad-zip",
        "dotdot",
        "abs",
    ],
)
def test_an_unreadable_upload_is_a_422_naming_the_field_and_imports_nothing(
    client: TestClient, fmt: str, body: bytes, field: str | None
) -> None:
    response = client.post("/articles/import", params={"format": fmt}, content=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    fields = [e["field"] for e in response.json()["errors"]]
    if field is None:  # an unsafe path: the problem names the member
        assert "evil.md" in response.json()["detail"]
    else:
        assert fields == [field]
    assert client.get("/articles").json()["total"] == 0


def test_the_import_size_limit_holds_for_uploads_and_unpacked_archives(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url, max_import_bytes=4096)
    too_big = json.dumps({"articles": [{"id": 1, "title": "x" * 5000}]})
    response = client.post("/articles/import", params={"format": "zendesk"}, content=too_big)
    assert response.status_code == 413
    # small packed, large unpacked: refused once the unpacked files pass the limit
    bomb = _zip(("mr/a.md", GOOD_MD + b" " * 100_000))
    assert len(bomb) < 4096
    response = client.post("/articles/import", params={"format": "files"}, content=bomb)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert client.get("/articles").json()["total"] == 0


def test_the_import_needs_articles_write_and_modality_fits_only_other_formats(
    client: TestClient,
) -> None:
    _, key = key_for(client, "field_engineer")
    refused = client.post(
        "/articles/import",
        params={"format": "zendesk"},
        content=json.dumps(ZENDESK),
        headers={"X-API-Key": key},
    )
    assert refused.status_code == 403
    jsonl = client.post("/articles/import", params={"modality": "CT"}, content=b"{}")
    assert jsonl.status_code == 422
    assert [e["field"] for e in jsonl.json()["errors"]] == ["modality"]
    unknown = client.post("/articles/import", params={"format": "confluence"}, content=b"{}")
    assert unknown.status_code == 422


def test_the_openapi_document_describes_each_format(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operation = paths["/articles/import"]["post"]
    content = operation["requestBody"]["content"]
    assert {"application/x-ndjson", "application/json", "application/zip"} <= set(content)
    assert set(content["application/json"]["examples"]) == {"zendesk", "servicenow"}
    fmt = next(p for p in operation["parameters"] if p["name"] == "format")
    assert set(fmt["schema"]["enum"]) == {"jsonl", "zendesk", "servicenow", "files"}
    assert "draft" in operation["description"]
    assert "application/x-ndjson" in paths["/articles/export"]["get"]["responses"]["200"]["content"]
