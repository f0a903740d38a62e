"""On SQLite an in-call search answers before its record is written (one writer, and a
dispatcher on a live call must not wait for it); the call's next request sees the record,
in order, with its audit row. A real server: the test client would run the record before
handing back the answer."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from embeddings.encoder import Encoder
from tests.calls.conftest import make_desk
from tests.calls.test_call_flow import _open
from tests.processes import admin_key, free_port, serve, share_model, stop, wait_healthy

pytestmark = pytest.mark.slow


def test_an_in_call_search_answers_while_sqlites_writer_is_busy(
    encoder: Encoder, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    share_model(encoder, data_dir)
    database = Settings(data_dir=data_dir).effective_database_url
    key = admin_key(database)
    port, log = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    env = {"DATA_DIR": str(data_dir), "INDEX_SAVE_DELAY": "0", "INDEX_WRITE_WAIT_SECONDS": "60"}
    server = serve(env, port=port, log=log)
    try:
        wait_healthy(url, server, log)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as http:
            desk = make_desk(http)  # type: ignore[arg-type]  # an httpx client, as TestClient is
            dispatcher = desk.as_(desk.dispatcher)
            cid = _open(desk)["id"]

            # another program holds SQLite's one writer (a backup, a bulk job)
            writer = sqlite3.connect(database.split("///", 1)[1], isolation_level=None)
            writer.execute("BEGIN IMMEDIATE")
            try:
                # the answer used to wait for the writer (SQLite's 30 s busy timeout)
                search = {"query": "popping"}
                answer = http.post(
                    f"/calls/{cid}/search", json=search, headers=dispatcher, timeout=10
                )
                assert answer.status_code == 200, answer.text
                shown = [hit["slug"] for hit in answer.json()["results"]]
                assert "ct-tube-arcing-popping" in shown
                with ThreadPoolExecutor(1) as pool:
                    reading = pool.submit(http.get, f"/calls/{cid}", headers=dispatcher)
                    writer.execute("COMMIT")
                    call = reading.result(timeout=60)
            finally:
                writer.close()
            assert call.status_code == 200, call.text
            searched = [e for e in call.json()["timeline"] if e["kind"] == "searched"]
            assert [e["data"]["query"] for e in searched] == ["popping"]
            assert [r["slug"] for r in searched[0]["data"]["results"]] == shown

            # each next request on the call finds the search before it, in order
            for n in range(5):
                search = http.post(
                    f"/calls/{cid}/search", json={"query": f"arcing {n}"}, headers=dispatcher
                )
                assert search.status_code == 200, search.text
                note = http.post(
                    f"/calls/{cid}/notes", json={"text": f"note {n}"}, headers=dispatcher
                )
                assert note.status_code == 201, note.text
            timeline = http.get(f"/calls/{cid}", headers=dispatcher).json()["timeline"]
            order = [
                e["data"].get("query") or e["data"].get("text")
                for e in timeline
                if e["kind"] in ("searched", "note")
            ]
            assert order[-10:] == [x for n in range(5) for x in (f"arcing {n}", f"note {n}")]

            audit = http.get("/audit", params={"path_prefix": f"/calls/{cid}/search"}).json()
            assert audit["total"] == 6
            assert {(a["status"], a["actor"]) for a in audit["items"]} == {(200, "Dana Dispatcher")}
    finally:
        stop(server)
    assert "Traceback" not in log.read_text(), log.read_text()
