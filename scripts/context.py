"""What command-line jobs share with the app: settings, database, the search index."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, migrate
from app.search.index import ArticleIndex, tqdm_progress
from embeddings.encoder import Encoder, make_encoder


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
    encoder = encoder or make_encoder(
        settings.encoder_backend,
        model_path=settings.model_path,
        cache_dir=settings.model_cache_dir,
        # a job has the machine to itself: use every core for embedding
        threads=max(settings.encoder_threads, os.cpu_count() or 1),
    )
    index = ArticleIndex(
        encoder,
        settings.index_dir,
        save_delay=0,
        glossary=settings.glossary_path,
        body_max_tokens=settings.body_max_tokens,
    )
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
        engine.dispose()
