"""A cluster of real replicas on a private PostgreSQL schema, with real haproxy in front,
started by the same code as `make cluster` (scripts/cluster.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from app.auth import service as auth_service
from app.db import make_engine, make_sessionmaker, transaction
from scripts.cluster import Cluster, ClusterSpec, haproxy_binary
from tests.calls.conftest import Desk, make_desk
from tests.conftest import pg_schema


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now, all different."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@pytest.fixture(scope="module")
def cluster_database_url() -> Iterator[str]:
    """A private schema on the test PostgreSQL server for this module's cluster."""
    with pg_schema() as url:
        yield url


@pytest.fixture(scope="module")
def cluster(
    cluster_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Three replicas sharing one data folder, haproxy in front, on free ports."""
    if haproxy_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed (`make haproxy` installs Debian's)")
        pytest.skip("haproxy is not installed (`make haproxy` installs Debian's)")
    front, stats, *replicas = free_ports(5)
    root: Path = tmp_path_factory.mktemp("cluster")
    spec = ClusterSpec(
        database_url=cluster_database_url,
        data_dir=root / "data",
        port=front,
        stats_port=stats,
        replica_ports=replicas,
        # the load test measures the cluster, not the per-key rate limit
        env={"RATE_LIMIT": "", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    with Cluster(spec) as running:
        yield running


@pytest.fixture(scope="module")
def admin_key(cluster: Cluster, cluster_database_url: str) -> str:
    """An admin's key, made in the database the cluster migrated."""
    engine = make_engine(cluster_database_url)
    with transaction(make_sessionmaker(engine)) as session:
        key = auth_service.bootstrap_admin(
            session=session, name="Cluster admin", only_if_empty=False
        )
    engine.dispose()
    assert key
    return key


@pytest.fixture(scope="module")
def cluster_desk(cluster: Cluster, admin_key: str) -> Iterator[Desk]:
    """People, a site, a scanner and part of the seed library, made through haproxy."""
    with httpx.Client(
        base_url=cluster.url, headers={"X-API-Key": admin_key}, timeout=300
    ) as client:
        yield make_desk(client)  # type: ignore[arg-type]
