"""Attachments on a call over HTTP, on both backends: stored by a random key, typed by
their content, served as downloads only to those who may read the call, listed in the
escalation package; a refused or failed upload leaves no file behind."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.requests import Request

from app.attachments.content import TEXT as TEXT_KIND
from app.attachments.content import clean_filename
from tests.attachments.conftest import make_desk
from tests.calls.conftest import Desk
from tests.calls.test_call_flow import _open
from tests.conftest import AppFactory, key_for

LOG = b"2026-03-01 09:14:02 HV-417 arc detected\n2026-03-01 09:14:03 tube cooling\n"


def _png() -> bytes:
    """A valid 1x1 greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _upload(
    client: TestClient,
    call_id: int,
    name: str,
    body: bytes,
    key: str | None = None,
    sent_type: str = "application/octet-stream",
    **form: str,
) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    response: httpx.Response = client.post(
        f"/calls/{call_id}/attachments",
        files={"file": (name, body, sent_type)},
        data=form,
        headers=headers,
    )
    return response


def _folder(client: TestClient) -> Path:
    return Path(client.app.state.settings.data_dir) / "attachments"  # type: ignore[attr-defined]


def _stored(client: TestClient) -> list[str]:
    """Every file in the attachments folder, temporary ones included."""
    folder = _folder(client)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_upload_list_and_download_give_back_the_same_bytes(desk: Desk) -> None:
    c = desk.client
    call = _open(desk)
    png = _png()
    shot = _upload(
        c, call["id"], "console.png", png, desk.field, "image/png", description="error dialog"
    )
    assert shot.status_code == 201, shot.text
    log = _upload(c, call["id"], "scanner.log", LOG, desk.dispatcher, "text/plain")
    assert log.status_code == 201, log.text
    first = shot.json()
    assert shot.headers["location"] == first["download_path"]
    assert first["download_path"] == f"/calls/{call['id']}/attachments/{first['id']}"
    assert first["content_type"] == "image/png"
    assert first["filename"] == "console.png"
    assert first["size"] == len(png)
    assert first["sha256"] == hashlib.sha256(png).hexdigest()
    assert first["description"] == "error dialog"
    assert first["uploaded_by"] == {"id": desk.field_id, "name": "Frank Field"}
    assert log.json()["content_type"] == "text/plain"

    listed = c.get(f"/calls/{call['id']}/attachments", headers=desk.as_(desk.engineer))
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [first["id"], log.json()["id"]]
    assert listed.json()[0] == first

    for sent, body, served in (
        (first, png, "image/png"),
        (log.json(), LOG, "text/plain; charset=utf-8"),
    ):
        got = c.get(sent["download_path"], headers=desk.as_(desk.engineer))
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == sent["sha256"]
        assert got.content == body
        assert got.headers["content-type"] == served
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-security-policy"].startswith("sandbox")
        assert got.headers["content-disposition"] == (
            f"attachment; filename=\"{sent['filename']}\"; filename*=UTF-8''{sent['filename']}"
        )
    # stored under random keys, never the user's names; no temporary file left
    assert len(_stored(c)) == 2
    assert all(len(n) == 32 and n.isalnum() for n in _stored(c))

    timeline = c.get(f"/calls/{call['id']}").json()["timeline"]
    notes = [e for e in timeline if e["data"].get("attachment_id") == first["id"]]
    assert len(notes) == 1
    assert notes[0]["kind"] == "attachment"
    assert notes[0]["actor_id"] == desk.field_id
    assert "console.png" in notes[0]["data"]["text"]
    assert "error dialog" in notes[0]["data"]["text"]


def test_the_type_comes_from_the_content_not_the_name_or_the_sent_type(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    for name, body in (
        ("evil.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 200),
        ("setup.png", b"MZ\x90\x00\x03" + b"\x00" * 200),
        ("photo.jpg", bytes(range(256)) * 4),
        ("utf16.log", "log line\r\n".encode("utf-16")),
        ("latin1.log", "Temp. 40 °C\n".encode("latin-1")),
    ):
        refused = _problem(_upload(c, cid, name, body, sent_type="image/png"), 415)
        assert refused["field"] == "file", name
        assert "image/png" in refused["accepted"]
    assert _stored(c) == []
    assert c.get(f"/calls/{cid}/attachments").json() == []

    # a PNG sent as HTML under no extension is a PNG, and its download name says so
    png = _upload(c, cid, "shot", _png(), sent_type="text/html").json()
    assert (png["content_type"], png["filename"]) == ("image/png", "shot.png")
    # markup is served as plain text under a name no browser runs
    page = b"<!doctype html><html><script>alert(document.cookie)</script></html>\n"
    html = _upload(c, cid, "evil.html", page, sent_type="text/html").json()
    assert (html["content_type"], html["filename"]) == ("text/plain", "evil.html.txt")
    svg = _upload(c, cid, "x.svg", b'<svg onload="alert(1)"/>').json()
    assert (svg["content_type"], svg["filename"]) == ("text/plain", "x.svg.txt")
    got = c.get(html["download_path"])
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.content == page
    # the other accepted kinds, each by its first bytes
    for name, body, kind in (
        ("a.jpeg", b"\xff\xd8\xff\xe0" + b"\x10" * 64, "image/jpeg"),
        ("a.gif", b"GIF89a" + b"\x01" * 64, "image/gif"),
        ("a.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x01" * 64, "image/webp"),
        ("a.pdf", b"%PDF-1.7\n" + b"\x80" * 64, "application/pdf"),
        ("logs.zip", b"PK\x03\x04" + b"\x00" * 64, "application/zip"),
        ("logs.tgz", b"\x1f\x8b\x08" + b"\x00" * 64, "application/gzip"),
        ("run.csv", b"t;kV\n1;120\n", "text/plain"),
        ("ansi.log", "\x1b[31mERROR\x1b[0m HV-417 Ü\t\n".encode(), "text/plain"),
    ):
        sent = _upload(c, cid, name, body)
        assert sent.status_code == 201, sent.text
        assert (sent.json()["content_type"], sent.json()["filename"]) == (kind, name)


def test_an_empty_file_is_refused(desk: Desk) -> None:
    cid = _open(desk)["id"]
    refused = _problem(_upload(desk.client, cid, "empty.log", b""), 422)
    assert refused["errors"] == [{"field": "file", "message": "the file is empty"}]
    missing = desk.client.post(f"/calls/{cid}/attachments", data={"description": "x"})
    assert _problem(missing, 422)["errors"][0]["field"] == "file"
    long = _upload(desk.client, cid, "a.log", LOG, description="d" * 301)
    assert _problem(long, 422)["errors"][0]["field"] == "description"
    nul = _upload(desk.client, cid, "a.log", LOG, description="a\x00b")
    assert _problem(nul, 422)["errors"][0]["field"] == "description"
    assert _stored(desk.client) == []


def test_a_file_over_the_limit_is_413_and_nothing_is_kept(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url, max_attachment_bytes=2048)
    desk = make_desk(client)
    cid = _open(desk)["id"]
    too_big = _problem(_upload(client, cid, "big.log", b"x" * 2049), 413)
    assert too_big["field"] == "file"
    assert too_big["max_bytes"] == 2048
    assert "2048" in too_big["detail"]
    assert _stored(client) == []
    assert client.get(f"/calls/{cid}/attachments").json() == []
    timeline = client.get(f"/calls/{cid}").json()["timeline"]
    assert "attachment" not in [e["kind"] for e in timeline]
    exact = _upload(client, cid, "full.log", b"x" * 2048)
    assert exact.status_code == 201, exact.text
    assert exact.json()["size"] == 2048


def test_a_file_over_a_megabyte_is_taken_up_to_the_limit(
    make_client: AppFactory, database_url: str
) -> None:
    """Needs app/main.py's BodyLimit to allow attachment uploads MAX_ATTACHMENT_BYTES (plus
    the form around the file) instead of MAX_BODY_BYTES."""
    client = make_client(database_url, max_attachment_bytes=3_000_000)
    desk = make_desk(client)
    cid = _open(desk)["id"]
    body = (b"2026-03-01 09:14:02 HV-417 arc detected on tube 1, retrying\n" * 40_000)[:2_500_000]
    sent = _upload(client, cid, "long.log", body)
    assert sent.status_code == 201, sent.text
    assert client.get(sent.json()["download_path"]).content == body
    over = _upload(client, cid, "longer.log", body + body)
    assert over.status_code == 413
    assert len(_stored(client)) == 1


def _raw_upload(client: TestClient, call_id: int, quoted_name: str, body: bytes) -> dict[str, Any]:
    """Upload with the filename parameter exactly as given (UTF-8, backslash escapes), as
    a browser may send it; httpx would percent-encode what we mean to test."""
    boundary = b"attachment-test-boundary"
    content = (
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + quoted_name.encode()
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + body
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    sent = client.post(
        f"/calls/{call_id}/attachments",
        content=content,
        headers={"Content-Type": "multipart/form-data; boundary=" + boundary.decode()},
    )
    assert sent.status_code == 201, sent.text
    result: dict[str, Any] = sent.json()
    return result


def test_the_filename_is_cleaned_and_encoded_for_the_download(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    assert _raw_upload(c, cid, "../../etc/pass\u202ewd.log", LOG)["filename"] == "passwd.log"
    windows = _raw_upload(c, cid, "logs\\\\2026\\\\dose report.log", LOG)
    assert windows["filename"] == "dose report.log"
    assert _raw_upload(c, cid, "..", LOG)["filename"] == "attachment.txt"
    assert _raw_upload(c, cid, ".bashrc", LOG)["filename"] == "bashrc.txt"
    umlaut = _raw_upload(c, cid, 'Röntgen \\"Bild\\"\x07\u00a0.png', _png())
    assert umlaut["filename"] == "Röntgen _Bild_.png"
    got = c.get(umlaut["download_path"])
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"R_ntgen _Bild_.png\"; filename*=UTF-8''R%C3%B6ntgen%20_Bild_.png"
    )
    long = _raw_upload(c, cid, "ä" * 400 + ".log", LOG)
    assert long["filename"] == "ä" * 98 + ".log"
    assert clean_filename("con.log", TEXT_KIND) == "_con.log"
    assert clean_filename(None, TEXT_KIND) == "attachment.txt"


def test_only_those_who_may_read_the_call_see_its_files(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    sent = _upload(c, cid, "scanner.log", LOG, desk.dispatcher).json()
    outsider = c.post("/clients", json={"name": "RIS bridge", "scopes": ["search"]}).json()
    raw = c.post("/keys", json={"name": "ris", "client_id": outsider["id"]}).json()["key"]
    for path in (f"/calls/{cid}/attachments", sent["download_path"]):
        refused = _problem(c.get(path, headers={"X-API-Key": raw}), 403)
        assert refused["missing_permissions"] == ["calls:read"]
    assert _problem(_upload(c, cid, "x.log", LOG, raw), 403)["missing_permissions"] == [
        "calls:note"
    ]

    # a field engineer of another scanner may read the call but not attach to it
    _, other_field = key_for(c, "field_engineer", name="Olga Otherfield")
    seen = c.get(sent["download_path"], headers={"X-API-Key": other_field})
    assert seen.status_code == 200
    assert seen.content == LOG
    assert "attach files" in _problem(_upload(c, cid, "x.log", LOG, other_field), 403)["detail"]
    # an integration client that may read and write calls still has no person to name
    bridge = c.post(
        "/clients", json={"name": "Tool", "scopes": ["calls:read", "calls:work", "calls:note"]}
    ).json()
    tool = c.post("/keys", json={"name": "tool", "client_id": bridge["id"]}).json()["key"]
    assert _upload(c, cid, "x.log", LOG, tool).status_code == 403
    assert len(_stored(c)) == 1


def test_unknown_calls_and_attachments_of_other_calls_are_404(desk: Desk) -> None:
    c = desk.client
    first, second = _open(desk)["id"], _open(desk)["id"]
    sent = _upload(c, first, "scanner.log", LOG).json()
    assert _problem(c.get(f"/calls/{second}/attachments/{sent['id']}"), 404)
    assert _problem(c.get(f"/calls/{first}/attachments/{sent['id'] + 1}"), 404)
    assert _problem(c.get("/calls/999999/attachments"), 404)
    assert _problem(c.get(f"/calls/999999/attachments/{sent['id']}"), 404)
    assert _problem(_upload(c, 999999, "x.log", LOG), 404)
    assert c.get(f"/calls/{second}/attachments").json() == []
    assert _problem(c.get(f"/calls/{first}/attachments/0"), 422)


def test_a_transaction_that_fails_after_the_file_was_written_leaves_no_file(
    desk: Desk,
) -> None:
    c = desk.client
    cid = _open(desk)["id"]

    def fail(request: Request, session: Session) -> None:
        if request.url.path.endswith("/attachments"):
            raise RuntimeError("the commit fails")

    hooks = c.app.state.commit_hooks  # type: ignore[attr-defined]
    hooks.append(fail)
    try:
        failed = _upload(c, cid, "scanner.log", LOG)
    finally:
        hooks.remove(fail)
    assert failed.status_code == 500
    assert _stored(c) == []
    assert c.get(f"/calls/{cid}/attachments").json() == []
    assert _upload(c, cid, "scanner.log", LOG).status_code == 201
    assert len(_stored(c)) == 1


def test_the_escalation_package_lists_the_calls_files(desk: Desk) -> None:
    c = desk.client
    cid = _open(desk)["id"]
    png = _upload(c, cid, "console.png", _png(), desk.field, description="shows HV-417").json()
    c.post(f"/calls/{cid}/notes", json={"text": "caller rebooted"}, headers=desk.as_(desk.field))
    sent = c.post(
        f"/calls/{cid}/escalate",
        json={"reason": "arcing", "safety": {"kind": "smoke", "reason": "smoke at gantry"}},
        headers=desk.as_(desk.dispatcher),
    )
    assert sent.status_code == 201, sent.text
    pkg = c.get(f"/escalations/{sent.json()['id']}", headers=desk.as_(desk.engineer)).json()
    pkg = pkg["package"]
    assert pkg["schema_version"] == 5
    assert pkg["attachments"] == [
        {
            "id": png["id"],
            "filename": "console.png",
            "content_type": "image/png",
            "size": png["size"],
            "sha256": png["sha256"],
            "description": "shows HV-417",
            "uploaded_by": "Frank Field",
            "uploaded_at": png["uploaded_at"],
            "download_path": png["download_path"],
        }
    ]
    assert [n["text"] for n in pkg["notes"]] == ["caller rebooted"]
    assert "HV-417" in pkg["error_codes"]
    brief = c.get(f"/escalations/{sent.json()['id']}/brief", headers=desk.as_(desk.engineer))
    assert "## Attachments" in brief.text
    assert (
        f"console.png (image/png, 1 kB, by Frank Field) — shows HV-417: {png['download_path']}"
        in (brief.text)
    )
