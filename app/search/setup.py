"""The live index built as the settings say: the encoder, FAISS's threads, the article
index with its outcome and case books; and a progress bar for the jobs that fill it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.config import Settings
from app.search.index import ArticleIndex, Calibration
from embeddings.cases import CaseBook
from embeddings.encoder import Encoder, make_encoder
from embeddings.outcomes import OutcomeBook
from embeddings.store import Progress
from embeddings.vector_index import set_search_threads


def limit_search_threads(settings: Settings) -> None:
    """FAISS's own threads per search (FAISS_THREADS): concurrent requests already use the
    cores, and its threads would fight them."""
    set_search_threads(settings.faiss_threads)


def encoder_from_settings(settings: Settings, *, threads: int | None = None) -> Encoder:
    """The configured encoder (backend, model, export cache); `threads` overrides
    ENCODER_THREADS, e.g. for jobs that have the machine to themselves."""
    return make_encoder(
        settings.encoder_backend,
        model_path=settings.model_path,
        cache_dir=settings.model_cache_dir,
        threads=threads or settings.encoder_threads,
    )


def index_from_settings(
    settings: Settings,
    encoder: Encoder,
    *,
    save_delay: float | None = None,
    path: Path | None = None,
    write_wait: float | None = None,
) -> ArticleIndex:
    """The live article index as configured (save_delay overrides INDEX_SAVE_DELAY; path,
    the folder: the process's index slot; write_wait: how long an article write waits for
    the index, None for jobs, which wait until it is done)."""
    return ArticleIndex(
        encoder,
        path or settings.index_dir,
        save_delay=settings.index_save_delay if save_delay is None else save_delay,
        glossary=settings.glossary_path,
        batch_max_size=settings.batch_max_size,
        batch_max_wait_ms=settings.batch_max_wait_ms,
        encoder_workers=settings.encoder_workers,
        body_max_tokens=settings.body_max_tokens,
        card_cache_size=settings.hit_cache_size,
        query_cache_size=settings.query_cache_size,
        search_concurrency=settings.search_concurrency,
        bm25_fields=settings.bm25_fields,
        write_wait=write_wait,
        calibration=(
            Calibration.load(settings.confidence_path) if settings.confidence_path else None
        ),
        outcomes=OutcomeBook(
            half_life_days=settings.outcome_half_life_days,
            per_voter=settings.outcome_votes_per_person,
        ),
        outcome_weight=settings.outcome_weight,
        cases=CaseBook(
            half_life_days=settings.outcome_half_life_days,
            per_voter=settings.outcome_votes_per_person,
        ),
        similar_calls_weight=settings.similar_calls_weight,
    )


def tqdm_progress(desc: str) -> tuple[Progress, Callable[[], None]]:
    """A progress callback drawing a bar on stderr once there is work, and its closer."""
    from tqdm import tqdm

    bars: list[tqdm] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=desc, unit="doc", leave=True))
        bars[0].total = total
        bars[0].n = done
        bars[0].refresh()

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close
