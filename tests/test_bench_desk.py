"""scripts.bench_desk run for a few seconds against the app served by uvicorn: both loads
set up their own desk, answer without errors and report every operation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth import service as auth_service
from app.config import Settings
from app.db import transaction
from app.main import create_app
from embeddings.encoder import Encoder
from scripts.bench_desk import main
from scripts.context import serve_in_thread


@pytest.fixture
def served(encoder: Encoder, database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The app on an empty database, on a free local port; (url, admin key)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, index_save_delay=0)
    app = create_app(settings, encoder=encoder)
    with serve_in_thread(app) as url:
        with transaction(app.state.sessions) as session:
            key = auth_service.bootstrap_admin(session=session, name="Bench", only_if_empty=False)
        assert key
        yield url, key


def _run(served: tuple[str, str], capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    url, key = served
    assert main(["--url", url, "--key", key, "--no-seed", *args]) == 0
    out = capsys.readouterr().out.splitlines()
    result: dict = json.loads(out[-1])
    assert any(line.startswith("operation") for line in out)  # the table came first
    return result


def _check(result: dict, operations: set[str]) -> None:
    assert result["benchmark"] == "desk"
    examples = {k: v["error_example"] for k, v in result["operations"].items() if v["errors"]}
    assert result["errors"] == 0, examples
    assert operations <= set(result["operations"]), result["operations"].keys()
    for name, op in result["operations"].items():
        assert op["count"] > 0, name
        assert op["errors"] == {}, (name, op)
        assert 0 < op["p50_ms"] <= op["p99_ms"] <= op["max_ms"], (name, op)
    machine = result["machine"]
    assert machine["cpu"]
    assert machine["cores"] >= 1
    assert machine["int8_scheme"]


def test_open_loop_keeps_its_rates_and_reports_each_operation(
    served: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = _run(served, capsys, "--mode", "open", "--seconds", "4", "--scale", "0.5")
    _check(result, {"search", "call_search", "call_write", "article_edit"})
    ops = result["operations"]
    assert ops["search"]["target_per_s"] == 10
    # arrivals are on a clock: the counts follow the rates, whatever the answers took
    assert ops["search"]["count"] == pytest.approx(40, abs=2)
    assert ops["call_search"]["count"] == pytest.approx(10, abs=1)
    assert ops["call_write"]["count"] == sum(
        ops[k]["count"] for k in ("open_call", "attempt", "note") if k in ops
    )
    assert "client_lag_p99_ms" in result


def test_stress_mix_runs_every_kind_of_request(
    served: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    result = _run(served, capsys, "--mode", "stress", "--seconds", "4", "--clients", "4")
    _check(
        result,
        {"search", "call_search", "open_call", "attempt", "note", "escalate", "article_edit"},
    )
    assert result["requests_per_s"] > 0
