"""A local cluster: replicas of the service on one PostgreSQL database behind haproxy.

Debian's haproxy balances round robin and checks each replica's /health.

    DATABASE_URL=postgresql+psycopg://user@host/db python -m scripts.cluster \
        [--replicas 3] [--port 8000] [--data-dir DIR] [--first-replica-port 8101]

It loads the seed library first when the database has no articles, starts the first
replica and waits for it (it migrates the database), then the others, then haproxy; it
stays in the foreground and stops everything on Ctrl-C or SIGTERM. `Cluster` is the same
machinery for tests: start, kill and restart replicas, read haproxy's view of them, stop.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "haproxy.cfg.template"
HOST = "127.0.0.1"
STOP_GRACE = 20.0  # seconds a replica gets to finish its requests after SIGTERM


class ClusterError(RuntimeError):
    """The cluster could not be set up or started."""


def haproxy_binary() -> str | None:
    """Where haproxy is (Debian installs it in /usr/sbin, often off a user's PATH)."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")


def require_postgres(url: str | None) -> str:
    """The URL, or ClusterError when it is not PostgreSQL (SQLite is single-process)."""
    if url and url.startswith("postgresql"):
        return url
    why = "SQLite serves one process only" if not url or url.startswith("sqlite") else url
    raise ClusterError(
        "the cluster needs PostgreSQL: set DATABASE_URL, e.g. "
        f"postgresql+psycopg://postgres@127.0.0.1:5432/helpdesk ({why})"
    )


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether nothing listens on host:port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class ClusterSpec:
    """What to start: replicas on one database and data folder, haproxy in front."""

    database_url: str
    data_dir: Path
    replicas: int = 3
    port: int = 8000
    first_replica_port: int = 8101
    replica_ports: list[int] | None = None  # instead of consecutive ports from the first
    stats_port: int = 8404  # haproxy's statistics page; 0 for none
    run_dir: Path | None = None  # config, socket and logs; DATA_DIR/cluster by default
    env: Mapping[str, str] = field(default_factory=dict)  # more settings for the replicas
    start_timeout: float = 300.0  # seconds a replica may take to answer /health

    def ports(self) -> list[int]:
        """Each replica's port."""
        if self.replica_ports is not None:
            return list(self.replica_ports)
        return [self.first_replica_port + i for i in range(self.replicas)]

    def folder(self) -> Path:
        """Where the cluster's own files go."""
        return self.run_dir or self.data_dir / "cluster"


@dataclass
class Replica:
    """One service process."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        """Its own address, past haproxy."""
        return f"http://{HOST}:{self.port}"

    def running(self) -> bool:
        """Whether its process is alive."""
        return self.process is not None and self.process.poll() is None


def get_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, for an error message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def render_config(spec: ClusterSpec, replicas: list[Replica], socket_path: Path) -> str:
    """haproxy's configuration for these replicas, from deploy/haproxy.cfg.template."""
    servers = "\n".join(f"    server {r.name} {HOST}:{r.port}" for r in replicas)
    stats = "frontend stats\n" + "".join(
        f"    {line}\n"
        for line in (
            f"bind {HOST}:{spec.stats_port}",
            "stats enable",
            "stats uri /",
            "stats refresh 2s",
        )
    )
    return string.Template(TEMPLATE.read_text()).substitute(
        stats_socket=str(socket_path),
        bind=f"{HOST}:{spec.port}",
        servers=servers,
        stats=stats if spec.stats_port else "",
    )


class Cluster:
    """Replicas and haproxy, started and stopped together (a context manager)."""

    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        require_postgres(spec.database_url)
        self.folder = spec.folder()
        ports = spec.ports()
        self.replicas = [
            Replica(f"replica-{i + 1}", port, self.folder / f"replica-{i + 1}.log")
            for i, port in enumerate(ports)
        ]
        self.config_path = self.folder / "haproxy.cfg"
        self.socket_path = self.folder / "haproxy.sock"
        self.haproxy_log = self.folder / "haproxy.log"
        self.haproxy: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The service's address, through haproxy."""
        return f"http://{HOST}:{self.spec.port}"

    # -- replicas --

    def replica_env(self) -> dict[str, str]:
        """The environment every replica starts with."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.spec.database_url,
            DATA_DIR=str(self.spec.data_dir),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.spec.env)
        return env

    def start_replica(self, replica: Replica) -> None:
        """Start a replica's process (not waiting for it), its output appended to its log."""
        if replica.running():
            raise ClusterError(f"{replica.name} is running already")
        replica.starts += 1
        with replica.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {replica.name} start {replica.starts} at {stamp} ---\n".encode())
            command = [sys.executable, "-m", "uvicorn", "app.main:app"]
            # keep-alive longer than haproxy keeps an idle connection to reuse it, so
            # haproxy never sends a request on a connection the replica is closing
            command += ["--host", HOST, "--port", str(replica.port), "--timeout-keep-alive", "65"]
            # haproxy's log has every request with the replica that served it; here the
            # health checks alone would be three lines a second
            command.append("--no-access-log")
            replica.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.replica_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own process group: a Ctrl-C reaches this script, which stops the
                # replicas in order
                start_new_session=True,
            )

    def wait_healthy(self, replica: Replica, timeout: float | None = None) -> None:
        """Wait until the replica answers /health with 200 (ClusterError if it exits or
        the time runs out)."""
        deadline = time.monotonic() + (timeout or self.spec.start_timeout)
        while replica.running() and time.monotonic() < deadline:
            if get_status(f"{replica.url}/health") == 200:
                return
            time.sleep(0.2)
        what = "did not answer /health in time" if replica.running() else "exited while starting"
        tail = log_tail(replica.log_path)
        raise ClusterError(f"{replica.name} {what}; the end of {replica.log_path}:\n{tail}")

    def kill(self, replica: Replica, sig: int = signal.SIGKILL) -> None:
        """Send the replica a signal (SIGKILL by default) and wait for it to end."""
        if replica.process is None:
            return
        if replica.process.poll() is None:
            replica.process.send_signal(sig)
        replica.process.wait()

    def restart(self, replica: Replica) -> None:
        """Start a stopped replica again and wait for its /health."""
        self.start_replica(replica)
        self.wait_healthy(replica)

    def stop_replicas(self) -> None:
        """SIGTERM to every replica, SIGKILL to those still there after the grace time."""
        for r in self.replicas:
            if r.running():
                assert r.process is not None
                r.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for r in self.replicas:
            if r.process is None:
                continue
            try:
                r.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                r.process.kill()
                r.process.wait()

    # -- haproxy --

    def write_config(self) -> Path:
        """Write haproxy's configuration and have haproxy check it."""
        binary = haproxy_binary()
        if binary is None:
            raise ClusterError("haproxy is not installed: `make haproxy` installs Debian's")
        self.config_path.write_text(render_config(self.spec, self.replicas, self.socket_path))
        check = subprocess.run(
            [binary, "-c", "-q", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise ClusterError(f"haproxy refused {self.config_path}:\n{check.stdout}{check.stderr}")
        return self.config_path

    def start_haproxy(self) -> None:
        """Start haproxy in the foreground of its own process group, logging to a file."""
        binary = haproxy_binary()
        assert binary is not None
        self.socket_path.unlink(missing_ok=True)
        with self.haproxy_log.open("ab") as log:
            self.haproxy = subprocess.Popen(
                [binary, "-db", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def server_states(self) -> dict[str, str]:
        """haproxy's view of each replica ("UP", "DOWN", ...), from its stats socket."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(self.socket_path))
            s.sendall(b"show stat\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode().lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {
            row["svname"]: row["status"].split(" ")[0]
            for row in rows
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_in_rotation(self, names: list[str] | None = None, timeout: float = 30.0) -> None:
        """Wait until haproxy counts these replicas (all by default) as UP."""
        wanted = names or [r.name for r in self.replicas]
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            if self.haproxy is None or self.haproxy.poll() is not None:
                raise ClusterError(
                    f"haproxy is not running; the end of {self.haproxy_log}:\n"
                    + log_tail(self.haproxy_log)
                )
            try:
                states = self.server_states()
            except OSError:
                states = {}
            if all(states.get(n) == "UP" for n in wanted):
                return
            time.sleep(0.1)
        raise ClusterError(f"haproxy does not count {wanted} as up: {states}")

    # -- all together --

    def start(self) -> None:
        """Start the replicas (the first alone: it migrates the database), then haproxy,
        and wait until haproxy has every replica in rotation."""
        self.folder.mkdir(parents=True, exist_ok=True)
        wanted = [self.spec.port, *(r.port for r in self.replicas)]
        if self.spec.stats_port:
            wanted.append(self.spec.stats_port)
        busy = [p for p in wanted if not port_is_free(p)]
        if busy:
            raise ClusterError(f"port(s) {busy} on {HOST} are in use")
        self.write_config()
        first, *others = self.replicas
        self.start_replica(first)
        self.wait_healthy(first)
        for r in others:
            self.start_replica(r)
        for r in others:
            self.wait_healthy(r)
        self.start_haproxy()
        self.wait_in_rotation()

    def stop(self) -> None:
        """Stop haproxy, then the replicas."""
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait()
        self.stop_replicas()
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the command --


def database_has_articles(url: str) -> bool:
    """Whether the database holds any article (False for a database never migrated)."""
    from sqlalchemy import inspect, text

    from app.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("articles"):
                return False
            return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM articles)")).scalar())
    finally:
        engine.dispose()


def seed(spec: ClusterSpec) -> None:
    """As `make run` does: the seed library on a database without articles, an admin key
    on one without keys, the demo desk on an empty one (each prints what it made)."""
    env = dict(os.environ, DATABASE_URL=spec.database_url, DATA_DIR=str(spec.data_dir))
    jobs = [["scripts.create_admin_key", "--if-none"], ["scripts.load_demo", "--if-empty"]]
    if not database_has_articles(spec.database_url):
        print("the database has no articles: loading the seed library first")
        jobs.insert(0, ["scripts.load_knowledge"])
    for job in jobs:
        subprocess.run([sys.executable, "-m", *job], cwd=ROOT, env=env, check=True)


class Stop(Exception):
    """Ctrl-C, SIGTERM or a closed terminal."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # once: a second Ctrl-C must not cut the stopping short (it is bounded by STOP_GRACE)
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stop


def main(argv: list[str] | None = None) -> int:
    """Seed, start the cluster, watch it until Ctrl-C or SIGTERM, stop it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3, help="service processes (default 3)")
    parser.add_argument("--port", type=int, default=8000, help="haproxy's port (default 8000)")
    parser.add_argument(
        "--first-replica-port", type=int, default=8101, help="replicas on this port and up"
    )
    parser.add_argument("--stats-port", type=int, default=8404, help="haproxy stats; 0: none")
    parser.add_argument("--data-dir", type=Path, help="shared by the replicas (default DATA_DIR)")
    parser.add_argument("--no-seed", action="store_true", help="start on the database as it is")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas: at least 1")

    from app.config import get_settings

    settings = get_settings()
    try:
        url = require_postgres(settings.database_url)
    except ClusterError as exc:
        print(f"cannot start the cluster: {exc}", file=sys.stderr)
        return 2
    data_dir = (args.data_dir or settings.data_dir).resolve()
    spec = ClusterSpec(
        database_url=url,
        data_dir=data_dir,
        replicas=args.replicas,
        port=args.port,
        first_replica_port=args.first_replica_port,
        stats_port=args.stats_port,
    )
    # SIGINT too: a shell starting this in the background would have it ignored
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)
    cluster = Cluster(spec)
    try:
        if not args.no_seed:
            seed(spec)
        print(f"starting {len(cluster.replicas)} replicas and haproxy (logs: {cluster.folder}/)")
        with cluster:
            _announce(cluster)
            _watch(cluster)
    except Stop:
        print("\nstopped")
        return 0
    except (ClusterError, subprocess.CalledProcessError) as exc:
        print(f"cannot start the cluster: {exc}", file=sys.stderr)
        return 1
    return 1


def _announce(cluster: Cluster) -> None:
    print("=" * 72)
    print(f"Web console: {cluster.url}/ui   API docs: {cluster.url}/docs   (through haproxy)")
    for r in cluster.replicas:
        print(f"  {r.name}: {r.url}   log: {r.log_path}")
    if cluster.spec.stats_port:
        print(f"haproxy statistics: http://{HOST}:{cluster.spec.stats_port}/")
    print(f"haproxy config: {cluster.config_path}   log: {cluster.haproxy_log}")
    print("Ctrl-C stops everything.")
    print("=" * 72, flush=True)


def _watch(cluster: Cluster) -> None:
    """Report replicas that exit; return when haproxy does (the cluster is then stopped)."""
    reported: set[str] = set()
    while True:
        if cluster.haproxy is None or cluster.haproxy.poll() is not None:
            print(f"haproxy exited; the end of {cluster.haproxy_log}:", file=sys.stderr)
            print(log_tail(cluster.haproxy_log), file=sys.stderr)
            return
        for r in cluster.replicas:
            if not r.running() and r.name not in reported:
                code = r.process.returncode if r.process else None
                print(f"{r.name} exited (code {code}); see {r.log_path}", file=sys.stderr)
                reported.add(r.name)
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
