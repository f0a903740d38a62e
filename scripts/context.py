"""What command-line jobs share with the app: settings, database, the search index."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, migrate
from app.search import slots as index_slots
from app.search.index import ArticleIndex
from app.search.setup import encoder_from_settings, index_from_settings, tqdm_progress
from embeddings.encoder import Encoder


@dataclass
class Context:
    """Open resources for a job."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    index: ArticleIndex


@contextmanager
def open_context(
    *, sync: bool = True, settings: Settings | None = None, encoder: Encoder | None = None
) -> Iterator[Context]:
    """Migrate the database and open the index (repairing it, with progress)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = settings or get_settings()
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    # a job has the machine to itself: use every core for embedding
    encoder = encoder or encoder_from_settings(
        settings, threads=max(settings.encoder_threads, os.cpu_count() or 1)
    )
    # an index folder of its own when a running service holds the usual one
    slot = index_slots.claim(settings.index_dir)
    index = index_from_settings(settings, encoder, save_delay=0, path=slot.path)
    if sync:
        progress, close = tqdm_progress("indexing")
        try:
            index.open(sessions, progress=progress)
        finally:
            close()
    try:
        yield Context(settings, engine, sessions, index)
    finally:
        index.close()
        slot.release()
        engine.dispose()


@contextmanager
def serve_in_thread(app: Any, *, port: int = 0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
