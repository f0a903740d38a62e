"""Shared fixtures: the real model, real databases (SQLite always, PostgreSQL when
TEST_DATABASE_URL is set) and the app over real HTTP semantics (TestClient)."""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.auth import service as auth_service
from app.config import Settings
from app.db import transaction
from app.main import create_app
from embeddings.encoder import Encoder, make_encoder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge" / "articles"
PG_URL = os.environ.get("TEST_DATABASE_URL")


def _pg_available() -> str | None:
    if not PG_URL:
        return "TEST_DATABASE_URL is not set"
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at TEST_DATABASE_URL does not answer: {exc.__class__.__name__}"
    return None


PG_SKIP = _pg_available()
if PG_SKIP and os.environ.get("REQUIRE_POSTGRES"):
    raise pytest.UsageError(f"REQUIRE_POSTGRES is set but {PG_SKIP}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"postgresql: {'skipped: ' + PG_SKIP if PG_SKIP else 'on (' + str(PG_URL) + ')'}"


@pytest.fixture(scope="session")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    """The packaged all-MiniLM-L6-v2 through the default backend (ONNX int8, exported
    once per session from the packaged model), loaded once."""
    return make_encoder(Settings().encoder_backend, cache_dir=tmp_path_factory.mktemp("models"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with pg_schema() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh empty PostgreSQL database, for what only PostgreSQL does (several
    processes on one database)."""
    with pg_schema() as url:
        yield url


@contextmanager
def pg_schema() -> Iterator[str]:
    """A private schema of the test PostgreSQL database, dropped afterwards."""
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    assert PG_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with admin.begin() as conn:
            # an app still running (fixtures may stop it after this one) holds locks that
            # the drop would deadlock with: its connections go first
            conn.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where application_name = :name and pid <> pg_backend_pid()"
                ),
                {"name": schema},
            )
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


AppFactory = Callable[..., TestClient]


def open_app(
    encoder: Encoder, database_url: str, data_dir: Path, **overrides: object
) -> TestClient:
    """Start the app (lifespan included) with an admin key in its headers; the caller
    closes it (`client.__exit__(None, None, None)`)."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "index_save_delay": 0,
        "webhook_allowed_networks": ["127.0.0.1"],  # the tests' webhook receivers
        # tests search for what they have just written: on a loaded machine an article
        # write must not answer before the index has it (the service waits 1 s)
        "index_write_wait_seconds": 60,
    }
    settings = Settings(**(values | overrides))  # type: ignore[arg-type]
    client = TestClient(create_app(settings, encoder=encoder), raise_server_exceptions=False)
    client.__enter__()
    with transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        admin_key = auth_service.bootstrap_admin(
            session=session, name="Test admin", only_if_empty=False
        )
    assert admin_key
    client.headers["X-API-Key"] = admin_key
    return client


@pytest.fixture
def make_client(encoder: Encoder, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Start the app (lifespan included) on a database and data dir; closed after the test."""
    opened: list[TestClient] = []

    def start(database_url: str, data_dir: Path | None = None, **overrides: object) -> TestClient:
        client = open_app(encoder, database_url, data_dir or tmp_path / "data", **overrides)
        opened.append(client)
        return client

    yield start
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory, database_url: str) -> TestClient:
    """The app on an empty database (each backend)."""
    return make_client(database_url)


@pytest.fixture(scope="session")
def seeded_template(encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the whole seed library loaded through the loader, built once."""
    from scripts.load_knowledge import load_library

    data_dir = tmp_path_factory.mktemp("seeded")
    settings = Settings(data_dir=data_dir, database_url=None, index_save_delay=0)
    report = load_library(settings=settings, folder=KNOWLEDGE, encoder=encoder)
    assert report.invalid == [], report.invalid
    return data_dir


@pytest.fixture
def seeded(make_client: AppFactory, seeded_template: Path, tmp_path: Path) -> TestClient:
    """The app on a private copy of the seeded SQLite database and index."""
    data_dir = tmp_path / "seeded"
    shutil.copytree(seeded_template, data_dir)
    return make_client(f"sqlite:///{data_dir / 'helpdesk.db'}", data_dir)


# what a test may send through `seeded_read_only`: reads, and the searches' POST
READ_ONLY_REQUESTS = ("GET", "HEAD", "OPTIONS", "POST /search")


@pytest.fixture(scope="module")
def seeded_read_only(
    encoder: Encoder, seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The app on a copy of the seeded library shared by every test of a module that
    takes it, for tests that only read (searches, GETs): one start-up per module instead
    of one per test. A request that could write fails the test that sends it: a test
    that writes takes `seeded`, its own app."""

    def refuse_writes(request: httpx.Request) -> None:
        if request.method not in READ_ONLY_REQUESTS and (
            f"{request.method} {request.url.path}" not in READ_ONLY_REQUESTS
        ):
            pytest.fail(
                f"{request.method} {request.url.path} through the shared seeded app: "
                "a test that writes takes `seeded`"
            )

    data_dir = tmp_path_factory.mktemp("seeded-read-only") / "seeded"
    shutil.copytree(seeded_template, data_dir)
    client = open_app(encoder, f"sqlite:///{data_dir / 'helpdesk.db'}", data_dir)
    client.event_hooks["request"] = [refuse_writes]
    yield client
    client.__exit__(None, None, None)


_CODES = itertools.count(1)


def article_payload(**overrides: object) -> dict[str, object]:
    """A valid ArticleCreate body, with an error code of its own (a second published claim
    on a code needs a confirmation)."""
    body: dict[str, object] = {
        "title": "Gantry rotation stops with grinding noise",
        "issue": "The scanner grinds loudly when it spins up and then stops the scan.",
        "modality": "CT",
        "manufacturer": "Nordvale Medical",
        "models": ["Aurion 64"],
        "error_codes": [f"GNT-{next(_CODES)}"],
        "cause": "Worn gantry bearing.",
        "steps": [
            {"text": "Stop scanning and note the error on the console."},
            {"text": "Inspect the bearing.", "tier1_allowed": False, "restriction": "covers"},
        ],
        "escalate_when": "Any grinding noise.",
        "status": "published",
    }
    body.update(overrides)
    return body


def key_for(client: TestClient, *roles: str, name: str | None = None) -> tuple[int, str]:
    """Create a person with these roles through the API; returns (person id, API key)."""
    person = client.post(
        "/people",
        json={
            "name": name or f"{'/'.join(roles)} {uuid.uuid4().hex[:6]}",
            "roles": list(roles),
            "phone": "+44 20 7946 0000",
            "email": "someone@example.org",
        },
    )
    assert person.status_code == 201, person.text
    key = client.post("/keys", json={"name": "test", "person_id": person.json()["id"]})
    assert key.status_code == 201, key.text
    return person.json()["id"], key.json()["key"]
