"""All settings in one place, read from the environment (prefix-free names, see README)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# a host name in an allow-list (RFC 1123 labels; underscores as DNS allows them)
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST_NAME = re.compile(rf"(?=.{{1,254}}$)(?:{_LABEL}\.)*{_LABEL}\.?")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowed(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    """Split allow-list entries into networks (CIDR or single address) and host names;
    raises ValueError for an entry that is neither."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in entries:
        text = entry.strip()
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            if not HOST_NAME.fullmatch(text):
                raise ValueError(f"{entry!r} is neither a network nor a host name") from None
            hosts.add(text.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


def split_keys(value: str) -> list[bytes]:
    """SECRET_KEY's keys: one Fernet key, or several separated by commas (the first is used
    to encrypt, all to decrypt). Raises ValueError for a malformed key."""
    keys = [k.strip().encode("ascii") for k in value.split(",") if k.strip()]
    if not keys:
        raise ValueError("no key")
    for key in keys:
        from cryptography.fernet import Fernet

        Fernet(key)  # raises ValueError unless it is 32 url-safe base64-encoded bytes
    return keys


class Settings(BaseSettings):
    """Service configuration; every field maps to an environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the SQLite file and indexes live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file in DATA_DIR."
    )
    knowledge_dir: Path = Field(Path("knowledge/articles"), description="Seed library folder.")
    glossary_path: Path = Field(
        Path("knowledge/glossary.yaml"),
        description="Synonym groups used to widen queries (skipped when the file is absent).",
    )
    model_path: Path | None = Field(
        None, description="Local sentence-transformers model folder; default: the packaged one."
    )
    encoder_backend: Literal["onnx-int8", "torch"] = Field(
        "onnx-int8", description="Query/article encoder: ONNX int8 (fast) or torch fp32."
    )
    encoder_threads: int = Field(
        1, ge=1, le=64, description="Inference threads per process for the encoder."
    )
    body_max_tokens: int = Field(
        256,
        ge=16,
        le=256,
        description="Tokens of an article's full text that its body vector sees.",
    )
    bm25_fields: dict[str, PositiveFloat] = Field(
        default_factory=lambda: {"headline": 2.0, "body": 1.0},
        min_length=1,
        description="Article fields the keyword (BM25) lane searches, each with its weight, as "
        'JSON, e.g. {"body": 1}. A change indexes the texts again at the next start (the '
        "vectors are kept); a change of weights alone, nothing.",
    )
    outcome_weight: float = Field(
        0.3,
        ge=0,
        le=1,
        description="The most an article's record on past calls (fixed or failed, per scanner "
        "model) moves its search score, up or down (0: ranking ignores outcomes; "
        "docs/quality.md).",
    )
    similar_calls_weight: float = Field(
        1.5,
        ge=0,
        le=5,
        description="The most the fixes of similar past calls on the searched scanner's model "
        "move an article's score up (0: ranking ignores them; docs/quality.md).",
    )
    outcome_half_life_days: float = Field(
        180.0, gt=0, description="Days after which a past call's outcome counts half."
    )
    outcome_votes_per_person: float = Field(
        1.0,
        gt=0,
        description="How many calls' outcomes one person's votes for one article weigh at most "
        "together (one busy dispatcher cannot push an article up alone).",
    )
    faiss_threads: int = Field(
        1, ge=1, le=64, description="OpenMP threads per FAISS search (requests run in parallel)."
    )
    encoder_workers: int = Field(
        2,
        ge=1,
        le=64,
        description="Query batches encoded at once (the encoder is most of a search's CPU; "
        "one at a time leaves the other core idle under load). A lone search's query is "
        "encoded on a thread of its own while its keyword lane runs; among others, on the "
        "searching threads.",
    )
    search_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Threads that compute searches, their query encodes included (API, call "
        "screen, console); the other searches wait their turn in order (on 2 cores, four "
        "keep both busy while their threads do not fight over the Python interpreter).",
    )
    batch_max_size: int = Field(
        2,
        ge=1,
        le=512,
        description="Most queries encoded together (measured: padding a batch to its longest "
        "query costs more than batching saves on a CPU without AVX-512; docs/benchmarks.md).",
    )
    batch_max_wait_ms: float = Field(
        0.0,
        ge=0,
        le=100,
        description="How long a query waits for others to batch with (0: it takes what is "
        "already queued and goes).",
    )
    hit_cache_size: int = Field(
        20_000,
        ge=0,
        description="Articles whose prepared hit (steps, terms for the why) is kept in memory "
        "(0: read every hit from the database).",
    )
    query_cache_size: int = Field(
        2048,
        ge=0,
        description="Recent query texts whose vector is kept, so that the same words searched "
        "again (typed, then Enter; a filter toggled) are not encoded again (0: encode every "
        "search).",
    )
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a verified API key is trusted without a database look-up; "
        "revocations and role changes made through the API reach every process at once "
        "(the change feed), a change written to the database by hand within this time "
        "(0: look up every request).",
    )
    search_default_limit: int = Field(5, ge=1, le=50, description="Results when none asked.")
    search_max_limit: int = Field(50, ge=1, le=200, description="Largest `limit` accepted.")
    query_max_chars: int = Field(
        20_000,
        ge=10,
        description="Longest accepted query text: a whole ticket's body, whose fault "
        "sentences are searched.",
    )
    max_body_bytes: int = Field(
        1_000_000, ge=1024, description="Largest request body (except imports)."
    )
    max_import_bytes: int = Field(
        20_000_000, ge=1024, description="Largest JSON Lines import body."
    )
    index_save_delay: float = Field(
        2.0, ge=0, description="Seconds after a write before the vector index is saved."
    )

    response_target_minutes: dict[str, int] = Field(
        default_factory=lambda: {
            "system_down": 30,
            "degraded": 120,
            "intermittent": 480,
            "question": 1440,
        },
        description="Tier-2 response target per urgency, in minutes (JSON).",
    )
    resolution_target_minutes: dict[str, int] = Field(
        default_factory=lambda: {
            "system_down": 480,
            "degraded": 1440,
            "intermittent": 4320,
            "question": 4320,
        },
        description="Resolution target per urgency, in minutes from the call's opening (JSON).",
    )
    target_check_seconds: float = Field(
        15.0,
        gt=0,
        le=60,
        description="How often the scheduler looks for missed targets and overdue actions.",
    )
    scheduler: bool = Field(
        True, description="Run the target and overdue scheduler (and e-mail) in this process."
    )
    smtp_url: str | None = Field(
        None,
        description="E-mail notifications through this server, e.g. smtp://user:pass@host:587 "
        "(smtps:// for TLS from the start; starttls is used when the server offers it); unset: "
        "no e-mail.",
    )
    smtp_from: str = Field("helpdesk@localhost", description="Sender of notification e-mails.")
    max_attachment_bytes: int = Field(
        20_000_000, ge=1024, description="Largest attachment on a call."
    )
    webhook_worker: bool = Field(True, description="Send webhook deliveries in the background.")
    webhook_poll_seconds: float = Field(0.5, gt=0, description="How often due deliveries run.")
    webhook_backoff_seconds: float = Field(
        2.0,
        ge=0,
        description="First retry delay; doubles on each failure (webhooks: up to "
        "WEBHOOK_BACKOFF_MAX_SECONDS).",
    )
    webhook_max_attempts: int = Field(
        8,
        ge=1,
        description="E-mail attempts before a notification's e-mail fails (webhook deliveries "
        "retry for WEBHOOK_RETRY_HOURS instead).",
    )
    web_session_hours: float = Field(
        12, gt=0, le=24 * 30, description="How long a web console sign-in lasts."
    )
    web_secure_cookies: bool = Field(
        False, description="Mark the console's cookies Secure (set when served over HTTPS)."
    )
    duplicate_score: float = Field(
        1.0,
        ge=0,
        description="Search score from which an existing article is marked a likely duplicate "
        "of one being written (POST /articles/similar, the editor).",
    )
    confidence_path: Path | None = Field(
        None,
        description="The calibrated confidence model of every hit, with the thresholds of "
        "a search's match level (strong, possible, none; none is a knowledge gap); default: "
        "this checkout's knowledge/confidence.json, fitted by `python -m scripts.calibrate "
        "--write` (docs/quality.md).",
    )
    gap_group_similarity: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Cosine with a group's centroid at or above which a knowledge gap joins "
        "that group (2026-12-07, the 9 hand-written faults phrased 3 ways each of "
        "tests/reports/test_gaps.py in 500 random orders: 0.45 merged two faults in about 1 "
        "order of 10, 0.50 never; 0.50 kept 5.3 of the 9 faults whole on average, 0.55 3.7, "
        "0.60 2.4).",
    )

    # -- several processes (docs/deployment.md) --
    feed_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often a process reads the change feed when nothing woke it (on "
        "PostgreSQL, LISTEN/NOTIFY wakes every process at each commit; this is the fallback).",
    )
    index_write_wait_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="How long an article write waits for this process's search index before "
        "answering: it is committed already, and the index re-embeds it on a low-priority "
        "thread so that searches go first; past this, the answer goes and the index catches "
        "up behind it (0: answer at commit).",
    )
    feed_keep_hours: float = Field(
        48,
        gt=0,
        description="How long change-feed rows are kept; a process that was away longer "
        "compares its whole index with the database instead.",
    )

    # -- webhook hardening --
    webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Internal receivers webhooks may reach on purpose, as JSON: networks "
        '(CIDR) or addresses, and host names, e.g. ["10.20.0.0/16", "hooks.internal"]. Any '
        "other loopback, private, link-local (cloud metadata), multicast or reserved address "
        "is refused, when subscribing and again at each connection.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet key that encrypts webhook signing secrets in the database (several, "
        "comma-separated, to rotate: the first encrypts). Unset: one is generated into "
        "DATA_DIR/secret.key; processes not sharing that folder must all set this.",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Longest a delivery's HTTP request may take, in all."
    )
    webhook_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Deliveries sent at once by a process, each to a different subscription "
        "(a receiver that hangs holds one of them, up to WEBHOOK_TIMEOUT_SECONDS).",
    )
    webhook_backoff_max_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts of a delivery."
    )
    webhook_retry_hours: float = Field(
        24.0,
        gt=0,
        description="How long after its first attempt a failing delivery is retried before it "
        "is marked failed (re-deliverable).",
    )

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks_or_hosts(cls, v: list[str]) -> list[str]:
        parse_allowed(v)  # raises ValueError naming a bad entry
        return v

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        try:
            split_keys(v.get_secret_value())
        except ValueError:
            raise ValueError(
                "must be Fernet keys (32 url-safe base64-encoded bytes), e.g. from "
                "python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
        return v

    # -- rate limits, proxies, security headers --
    redis_url: str | None = Field(
        None,
        description="Redis holding the rate-limit counters that every process shares, e.g. "
        "redis://127.0.0.1:6379/0; unset: each process counts alone, in memory. When Redis "
        "cannot be reached, requests are let through (fail open), a warning is logged, and "
        "Redis is tried again a few seconds later.",
    )
    rate_limit: str = Field(
        "3000/minute",
        description="Requests allowed per API key over a moving window, the console's "
        "pages included (they count against the signed-in person's key), in the `limits` "
        'notation: "3000/minute", "100/second;3000/minute"; beyond it, 429 with '
        "Retry-After. The default leaves room for an integration searching 20 times a "
        "second and a dispatcher's live search; give a busy integration a key of its own. "
        "Empty or 0: no limit.",
    )
    auth_failure_limit: str = Field(
        "30/minute",
        description="Failed authentications (unknown or revoked key, refused console "
        "sign-in) allowed per client address over a moving window; beyond it, that "
        "address's keys are not checked and get 429 until the window frees (slows key "
        "guessing). Empty or 0: no limit.",
    )
    rate_limit_prefix: str = Field(
        "helpdesk",
        min_length=1,
        max_length=100,
        description="Prefix of the rate-limit counters in Redis (deployments sharing one "
        "Redis use different prefixes).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="Proxies whose X-Forwarded-Proto and X-Forwarded-For are believed "
        "(comma-separated addresses or networks, * for any), as uvicorn's option of the same "
        "name: a request relayed over HTTPS by one of them gets Secure cookies, and rate "
        "limits see the client's address, not the proxy's. Empty: no proxy is believed.",
    )

    @field_validator("rate_limit", "auth_failure_limit")
    @classmethod
    def _limits_notation(cls, v: str) -> str:
        from limits import parse_many

        v = v.strip()
        if v in ("", "0"):
            return ""
        try:
            items = parse_many(v)
        except ValueError as exc:
            raise ValueError(f'not a rate limit such as "600/minute": {exc}') from exc
        if any(item.amount < 1 for item in items):
            raise ValueError("each limit allows at least 1 request (0 alone: no limit)")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v and not v.startswith(("redis://", "rediss://")):
            raise ValueError("a redis:// or rediss:// URL")
        return v or None

    @field_validator("response_target_minutes", "resolution_target_minutes")
    @classmethod
    def _all_urgencies(cls, v: dict[str, int]) -> dict[str, int]:
        missing = {"system_down", "degraded", "intermittent", "question"} - set(v)
        if missing:
            raise ValueError(f"missing targets for {sorted(missing)}")
        return v

    @field_validator("bm25_fields")
    @classmethod
    def _known_text_fields(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - {"headline", "body"})
        if unknown:
            raise ValueError(f"unknown fields {unknown}: choose among headline, body")
        return v

    @field_validator("database_url", "smtp_url")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v or None

    @property
    def effective_database_url(self) -> str:
        """The URL in use: DATABASE_URL, or a SQLite file under DATA_DIR."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'helpdesk.db').as_posix()}"

    @property
    def model_cache_dir(self) -> Path:
        """Where the ONNX export of the model is cached."""
        return self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        """Folder of the persisted search index."""
        return self.data_dir / "index"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
