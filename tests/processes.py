"""Real service processes for tests: uvicorn started as a user would, on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.auth import service as auth_service
from app.db import make_engine, make_sessionmaker, migrate, transaction
from app.models import import_all
from embeddings.encoder import Encoder

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_key(url: str) -> str:
    """Migrate the database `url` names and make an admin key in it, as a deployment does
    before its first start."""
    import_all()
    engine = make_engine(url)
    try:
        migrate(engine)
        with transaction(make_sessionmaker(engine)) as session:
            key = auth_service.bootstrap_admin(session=session, name="Admin", only_if_empty=False)
    finally:
        engine.dispose()
    assert key
    return key


def share_model(encoder: Encoder, data_dir: Path) -> None:
    """Give a server's data folder the model export the tests already made (an export
    per server would take most of its start-up)."""
    folder = getattr(encoder, "folder", None)
    if folder is not None:
        shutil.copytree(folder, data_dir / "models" / Path(folder).name, dirs_exist_ok=True)


def serve(
    env: dict[str, str], *, port: int, log: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    """Start `uvicorn app.main:app` with these settings (added to the test's environment)."""
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    full = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT)


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180
) -> dict[str, Any]:
    """Wait for /health to answer; fails with the server's log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        try:
            response = httpx.get(f"{url}/health", timeout=2)
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not healthy within {timeout} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server as a supervisor would (SIGTERM, then SIGKILL)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
