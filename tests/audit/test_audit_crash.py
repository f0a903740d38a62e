"""A committed write keeps its audit row even when the process dies before answering."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from app.articles.models import Article
from app.audit.models import AuditEntry
from app.auth import service as auth_service
from app.db import make_engine, make_sessionmaker, migrate, transaction
from scripts.benchmark import serve
from tests.conftest import article_payload


def test_a_write_whose_response_was_never_sent_has_its_audit_row(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        key = auth_service.bootstrap_admin(session=session, name="Admin", only_if_empty=False)
    assert key
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "ENCODER_BACKEND": "torch",  # the real model without an ONNX export per run
        "WEBHOOK_WORKER": "false",
        "INDEX_SAVE_DELAY": "0",
        "DIE_ON": "POST /articles",
    }
    proc, url, _ = serve("tests.audit.dying_app:app", env)
    try:
        try:
            httpx.post(
                f"{url}/articles",
                json=article_payload(title="Couch drifts during the scan"),
                headers={"X-API-Key": key},
                timeout=60,
            )
            answered = True
        except httpx.HTTPError:
            answered = False
        assert proc.wait(timeout=60) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not answered, "the process was to die before answering"
    with sessions() as session:
        titles = session.scalars(select(Article.title)).all()
        rows = session.scalars(select(AuditEntry).where(AuditEntry.path == "/articles")).all()
    engine.dispose()
    assert titles == ["Couch drifts during the scan"]
    assert [(r.method, r.status, r.actor) for r in rows] == [("POST", 201, "Admin")]
