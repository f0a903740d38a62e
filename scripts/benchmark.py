"""Search speed, ours against a plain baseline, at several library sizes.

    python -m scripts.benchmark [--sizes 1000 10000] [--seconds 10] [--clients 16] [--keep DIR]
                                [--client light|httpx] [--baseline-vectors torch|index]

For each size it generates that many published articles from the seed library by
variation (see `variants`), ingests them (database + embedding, with progress), then
measures: in-process search latency; over HTTP on 127.0.0.1 with 1 client and with
`--clients` concurrent clients (throughput and latency); write-to-searchable time;
start-up time from the persisted index; RSS. The baseline (scripts/baseline_app.py:
torch encode per request + exact FAISS scan behind one route) is measured in the same
run on the same articles, and our figures are printed as ratios against it. The load
comes from scripts/loadgen.py on the same machine (its CPU per search is printed beside
the server's, and the server's per role of its threads: event loop, search threads,
encoder). Prints a table and one JSON line, which names the machine (CPU model, cores,
the encoder's int8 scheme).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from app.articles import imports as article_imports
from app.articles.markdown import parse_file
from app.articles.schemas import ArticleCreate
from app.auth import service as auth_service
from app.config import Settings
from app.db import transaction
from app.search import service as search_service
from app.search.documents import headline_text
from app.search.schemas import SearchRequest
from app.search.setup import encoder_from_settings
from embeddings.encoder import SentenceTransformerEncoder, quantization_config, read_cpuinfo
from embeddings.vector_index import VectorIndex, set_search_threads
from scripts import loadgen
from scripts.context import open_context

ROOT = Path(__file__).resolve().parent.parent
# more fictional makers so that variants spread over many manufacturer/model filters
MAKERS = ["Corvane Imaging", "Lyra Systems", "Halden Medtech", "Osprey Radiology", "Veyra Health"]
MODEL_WORDS = ["Nova", "Vista", "Prime", "Axis", "Crest", "Terra", "Pulse", "Zenith"]


def _glossary() -> dict[str, list[str]]:
    groups = yaml.safe_load((ROOT / "knowledge" / "glossary.yaml").read_text()) or []
    by_word: dict[str, list[str]] = {}
    for group in groups:
        singles = [t for t in group if " " not in t]
        for term in singles:
            by_word.setdefault(term, [t for t in singles if t != term])
    return by_word


def variants(n: int, seed: int = 7) -> Iterator[ArticleCreate]:
    """n articles: the seed library first, then variants of it. A variant moves an
    article to another (fictional) manufacturer and model, gives its error codes new
    numbers, and swaps some words of its title, issue and steps for glossary synonyms,
    the way the same fault is written up for another product line."""
    rng = random.Random(seed)
    seeds = [parse_file(p) for p in sorted((ROOT / "knowledge" / "articles").rglob("*.md"))]
    synonyms = _glossary()

    def reword(text: str) -> str:
        def swap(m: re.Match[str]) -> str:
            word = m.group(0)
            options = synonyms.get(word.lower())
            return rng.choice(options) if options and rng.random() < 0.3 else word

        return re.sub(r"[A-Za-z]+", swap, text)

    for i in range(n):
        base = seeds[i % len(seeds)]
        if i < len(seeds):
            yield base
            continue
        k = i // len(seeds)
        maker = MAKERS[k % len(MAKERS)]
        model = f"{rng.choice(MODEL_WORDS)} {10 * (k % 50) + rng.randint(1, 9)}"
        codes = [
            f"{re.sub(r'[^A-Z]', '', c) or 'E'}-{k:03d}{j}{i % 97:02d}"
            for j, c in enumerate(base.error_codes)
        ]
        yield base.model_copy(
            update={
                "slug": f"{base.slug}-v{k}"[:80].rstrip("-"),
                "title": reword(base.title)[:200],
                "issue": reword(base.issue),
                "manufacturer": maker,
                "models": [model],
                "error_codes": codes,
                "steps": [s.model_copy(update={"text": reword(s.text)}) for s in base.steps],
            }
        )


def build(size: int, folder: Path) -> dict[str, float]:
    """Ingest `size` articles into a new data dir; returns timings."""
    settings = Settings(data_dir=folder, database_url=None, index_save_delay=0)
    started = time.perf_counter()
    with open_context(settings=settings) as ctx:
        opened = time.perf_counter()
        with ctx.sessions() as session:
            for n, data in enumerate(variants(size), start=1):
                article_imports.upsert(session=session, data=data, actor="benchmark")
                if n % 1000 == 0:
                    session.commit()
            session.commit()
        stored = time.perf_counter()
        ctx.index.sync(ctx.sessions, progress=_progress(f"embedding {size}"))
        ctx.index.save()
        indexed = time.perf_counter()
        with transaction(ctx.sessions) as session:
            key = auth_service.bootstrap_admin(session=session, name="bench", only_if_empty=False)
        (folder / "key").write_text(key or "")
    return {
        "open_s": opened - started,
        "store_s": stored - opened,
        "embed_s": indexed - stored,
        "ingest_per_s": size / (indexed - opened),
    }


def _progress(desc: str):  # type: ignore[no-untyped-def]
    from app.search.setup import tqdm_progress

    update, _close = tqdm_progress(desc)
    return update


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    app: str, env: dict[str, str], *, tree: Path | None = None
) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start uvicorn on a free loopback port; returns (process, url, seconds to ready).

    `tree`: another checkout to serve, with its own `.venv` (default: this one)."""
    port = _free_port()
    python = str(tree / ".venv" / "bin" / "python") if tree else sys.executable
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        cwd=tree,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = started + 600
    # one client for every probe: `httpx.get` makes a new one each time, and its TLS set-up
    # took much of a core from the starting server (docs/benchmarks.md)
    with httpx.Client(timeout=1) as probe:
        while time.perf_counter() < deadline:
            try:
                if probe.get(f"{url}/health").status_code == 200:
                    return proc, url, time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"{app} exited with {proc.returncode}")
            time.sleep(0.02)
    proc.kill()
    raise SystemExit(f"{app} did not start")


def server_env(folder: Path) -> dict[str, str]:
    """The service's settings for a benchmark folder (other settings: the caller's
    environment, e.g. BODY_MAX_TOKENS)."""
    return {
        "DATA_DIR": str(folder),
        "DATABASE_URL": "",
        "WEBHOOK_WORKER": "false",
        "HF_HUB_OFFLINE": "1",
        "ORT_DISABLE_TELEMETRY": "1",
        # the queries are cycled: every search must pay for its encode, as a new one would
        "QUERY_CACHE_SIZE": "0",
        # the per-key limit stays on (its cost is part of a search) but never refuses the
        # load's one key
        "RATE_LIMIT": "1000000/minute",
    }


def machine(cpuinfo: str | None = None) -> dict[str, Any]:
    """What the figures were measured on: the CPU's model name, its cores and the int8
    scheme the encoder uses on it (VNNI or not decides most of a query's encode time);
    `cpuinfo` is /proc/cpuinfo's text (read when not given)."""
    if cpuinfo is None:
        cpuinfo = read_cpuinfo()

    def read(name: str) -> str | None:
        found = re.search(rf"^{name}\s*:\s*(.*?)\s*$", cpuinfo, re.MULTILINE)
        return found.group(1) if found else None

    family, model = read("cpu family"), read("model")
    numbers = {
        key: int(value)
        for key, value in (("cpu_family", family), ("model", model))
        if value and value.isdigit()
    }
    scheme = quantization_config(cpuinfo)
    name = read("model name") or "unknown"
    return {"cpu": name, **numbers, "cores": os.cpu_count(), "int8_scheme": scheme}


def eval_queries() -> list[str]:
    """The evaluation queries, which the benchmarks cycle through (dispatchers' wording
    and length)."""
    return [
        json.loads(line)["query"]
        for line in (ROOT / "knowledge" / "eval" / "queries.jsonl").read_text().splitlines()
        if line.strip()
    ]


def checkouts(
    parser: argparse.ArgumentParser, data_dir: Path, trees: Sequence[Path]
) -> list[Path | None]:
    """This checkout (None) and `trees`, for the scripts that serve a kept folder from
    several checkouts; a usage error unless DATA_DIR holds a persisted index and every
    other checkout has its own `.venv`."""
    if not (data_dir / "index" / "manifest.json").exists():
        parser.error(f"{data_dir} holds no persisted index (index/manifest.json)")
    others = [t.resolve() for t in trees]
    for tree in others:
        if not (tree / ".venv" / "bin" / "python").exists():
            parser.error(f"{tree} has no .venv: run make install there first")
    return [None, *others]


def add_other_data(parser: argparse.ArgumentParser) -> None:
    """The `--other-data` option of the scripts that compare checkouts."""
    parser.add_argument(
        "--other-data",
        type=Path,
        default=None,
        help="the folder the --tree checkouts serve (default: DATA_DIR), a copy of it",
    )


def data_folders(
    parser: argparse.ArgumentParser,
    data_dir: Path,
    other_data: Path | None,
    trees: Sequence[Path | None],
) -> dict[Path | None, Path]:
    """The folder each checkout serves: DATA_DIR for this one (None), `--other-data`
    (checked like DATA_DIR) or else DATA_DIR for the others."""
    if other_data is not None:
        if len(trees) < 2:
            parser.error("--other-data is the folder of the --tree checkouts: give one")
        checkouts(parser, other_data, [])
    other = other_data or data_dir
    return {tree: (data_dir if tree is None else other).resolve() for tree in trees}


def checkout_name(tree: Path | None) -> str:
    """How the scripts that compare checkouts name one in their output."""
    return str(tree or "this checkout")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU so far, seconds, from a /proc `stat` file (process or thread)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far, seconds."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far per role of a server's threads: the event loop (the main
    thread), the search threads, the encoder, others (named by the app, see
    embeddings/threads.py; unnamed ones keep the executable's name)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            seconds = _stat_cpu_seconds(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        role = "event_loop" if task.name == str(pid) else re.sub(r"_\d+$", "", comm)
        out[role] = out.get(role, 0.0) + seconds
    return out


def pct(values: list[float], p: float) -> float:
    """Percentile (nearest rank) in milliseconds of seconds values."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def http_single(
    url: str, headers: dict[str, str], queries: list[str], n: int, client: str = "light"
) -> list[float]:
    """n sequential searches from one client."""
    if client == "light":
        requests = loadgen.search_requests(url, headers, queries)
        return loadgen.run(url, requests, count=n).checked().latencies
    out = []
    with httpx.Client(headers=headers, timeout=30) as http:
        for i in range(n):
            t = time.perf_counter()
            r = http.post(f"{url}/search", json={"query": queries[i % len(queries)], "limit": 5})
            out.append(time.perf_counter() - t)
            r.raise_for_status()
    return out


def http_concurrent(
    url: str,
    headers: dict[str, str],
    queries: list[str],
    clients: int,
    seconds: float,
    client: str = "light",
) -> tuple[float, list[float], float]:
    """`clients` connections searching for `seconds`; returns (searches/s, latencies,
    client CPU ms per search)."""
    if client == "light":
        requests = loadgen.search_requests(url, headers, queries)
        result = loadgen.run(url, requests, clients=clients, seconds=seconds).checked()
        return result.per_s, result.latencies, 1000 * result.client_cpu / len(result.latencies)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def run(c: int) -> None:
        with httpx.Client(headers=headers, timeout=30) as http:
            i = c
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = http.post(
                    f"{url}/search", json={"query": queries[i % len(queries)], "limit": 5}
                )
                latencies[c].append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors.append(r.text)
                i += clients

    threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
    cpu, started = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} failed searches, e.g. {errors[0][:200]}")
    flat = [x for lat in latencies for x in lat]
    return len(flat) / elapsed, flat, 1000 * (time.process_time() - cpu) / len(flat)


def in_process(folder: Path, queries: list[str], n: int) -> list[float]:
    """Search latency inside the process (no HTTP), through the search service as the
    route calls it."""
    settings = Settings(data_dir=folder, database_url=None, query_cache_size=0)
    # measure with the server's encoder threads, not the job default of every core
    encoder = encoder_from_settings(settings)
    set_search_threads(settings.faiss_threads)
    out = []
    with open_context(settings=settings, encoder=encoder) as ctx, ctx.sessions() as session:
        for i in range(n):
            t = time.perf_counter()
            search_service.search_payload(
                session=session,
                index=ctx.index,
                request=SearchRequest(query=queries[i % len(queries)], limit=5),
                limits=search_service.SearchLimits.of(settings),
            )
            out.append(time.perf_counter() - t)
    return out


def write_to_searchable(url: str, headers: dict[str, str]) -> float:
    """Seconds from sending a published article to finding it by its unique phrase."""
    marker = f"zq{random.randint(10**6, 10**7)}"
    body = {
        "title": f"Benchmark probe {marker}",
        "issue": f"Probe {marker} for write latency.",
        "modality": "IT",
        "steps": [{"text": "Nothing to do."}],
        "status": "published",
    }
    started = time.perf_counter()
    with httpx.Client(headers=headers, timeout=30) as client:
        client.post(f"{url}/articles", json=body).raise_for_status()
        while time.perf_counter() - started < 30:
            hits = client.post(f"{url}/search", json={"query": marker, "limit": 1}).json()
            if hits["results"] and marker in hits["results"][0]["title"]:
                return time.perf_counter() - started
    return float("inf")


def baseline_vectors(folder: Path, size: int) -> None:
    """The baseline's index: title+issue of the same articles, encoded with torch."""
    encoder = SentenceTransformerEncoder(threads=2)
    from app.articles.models import Article

    texts, ids = [], []
    for n, data in enumerate(variants(size), start=1):
        fields = data.model_dump(mode="json", exclude={"status", "author"})
        texts.append(headline_text(Article(**fields)))
        ids.append(n)
    progress = _progress(f"baseline: embedding {size} with torch")
    parts = []
    for start in range(0, len(texts), 1024):
        parts.append(encoder.encode(texts[start : start + 1024]))
        progress(min(start + 1024, len(texts)), len(texts))
    _save_baseline(folder, ids, np.concatenate(parts) if parts else np.zeros((0, encoder.dim)))


def _save_baseline(folder: Path, ids: list[int], vectors: np.ndarray) -> None:
    """The baseline's ids and vectors, as `scripts/baseline_app.py` reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ids.json").write_text(json.dumps(ids))
    # written last and atomically: its presence is what says "done" to a later run
    with open(folder / "vectors.npy.tmp", "wb") as fh:
        np.save(fh, vectors)
    os.replace(folder / "vectors.npy.tmp", folder / "vectors.npy")


def baseline_vectors_from_index(folder: Path, base_dir: Path) -> None:
    """The baseline's index from our headline lane in `folder` instead of torch: the same
    texts (title and issue) encoded by our int8 encoder. The baseline still encodes each
    query with torch and scans exactly, so its speed is the same; only its document
    vectors differ slightly (int8 against fp32). Saves embedding the library a second
    time, with torch (docs/benchmarks.md)."""
    manifest = json.loads((folder / "index" / "manifest.json").read_bytes())
    lane = VectorIndex.load(folder / "index" / "headline.faiss", manifest["fingerprint"]["dim"])
    ids = sorted(lane.ids().tolist())
    _save_baseline(base_dir, ids, lane.get(ids))


def measure(size: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure for one library size."""
    folder = work / f"ours-{size}"
    load_before = os.getloadavg()[0]
    saved = folder / "ingest.json"
    if saved.exists() and (folder / "key").exists():
        # a kept work folder from an earlier run: measure on it without ingesting again
        print(f"\n== {size} articles: reusing {folder}", file=sys.stderr)
        ingest = json.loads(saved.read_text())
    else:
        print(f"\n== {size} articles: ingest", file=sys.stderr)
        ingest = build(size, folder)
        saved.write_text(json.dumps(ingest))
    key = (folder / "key").read_text()
    headers = {"X-API-Key": key}
    queries = eval_queries()
    proc, url, startup = serve("app.main:app", server_env(folder))
    try:
        # ready means ready to search: what is prepared on the first request shows here
        first = http_single(url, headers, queries, 1, "httpx")[0]
        http_single(url, headers, queries, 20, args.client)  # warm-up
        single = http_single(url, headers, queries, args.requests, args.client)
        server_cpu, by_thread = cpu_seconds(proc.pid), thread_cpu(proc.pid)
        throughput, conc, client_cpu = http_concurrent(
            url, headers, queries, args.clients, args.seconds, args.client
        )
        server_cpu = cpu_seconds(proc.pid) - server_cpu
        by_thread = {
            role: seconds - by_thread.get(role, 0.0)
            for role, seconds in thread_cpu(proc.pid).items()
        }
        rss = rss_mb(proc.pid)
        w2s = write_to_searchable(url, headers)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    inproc = in_process(folder, queries, args.requests)

    print(f"== {size} articles: baseline", file=sys.stderr)
    base_dir = work / f"baseline-{size}"
    if not (base_dir / "vectors.npy").exists():
        if args.baseline_vectors == "index":
            baseline_vectors_from_index(folder, base_dir)
        else:
            baseline_vectors(base_dir, size)
    bproc, burl, bstartup = serve("scripts.baseline_app:app", {"BASELINE_DIR": str(base_dir)})
    try:
        bfirst = http_single(burl, {}, queries, 1, "httpx")[0]
        http_single(burl, {}, queries, 20, args.client)
        bsingle = http_single(burl, {}, queries, args.requests, args.client)
        bthroughput, bconc, _ = http_concurrent(
            burl, {}, queries, args.clients, args.seconds, args.client
        )
        brss = rss_mb(bproc.pid)
    finally:
        bproc.terminate()
        bproc.wait(timeout=30)
    return {
        "size": size,
        "ingest_articles_per_s": round(ingest["ingest_per_s"], 1),
        "inproc_ms": {p: round(pct(inproc, p), 2) for p in (50, 95, 99)},
        "http1_ms": {p: round(pct(single, p), 2) for p in (50, 95, 99)},
        "http_concurrent": {
            "clients": args.clients,
            "per_s": round(throughput, 1),
            "p50_ms": round(pct(conc, 50), 2),
            "p99_ms": round(pct(conc, 99), 2),
            # CPU per search: the server's, and the load generator's on the same cores
            "server_cpu_ms": round(1000 * server_cpu / len(conc), 2),
            # the same per role of the server's threads (where a search's time goes)
            "server_cpu_ms_by_thread": {
                role: round(1000 * seconds / len(conc), 2)
                for role, seconds in sorted(by_thread.items(), key=lambda kv: -kv[1])
                if 1000 * seconds / len(conc) >= 0.005  # idle threads left out
            },
            "client_cpu_ms": round(client_cpu, 2),
            "client": args.client,
        },
        "write_to_searchable_ms": round(w2s * 1000, 1),
        # before: what others were running (over ~1 on 2 cores: a busy machine); after:
        # includes this run itself
        "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "startup_s": round(startup, 2),
        "first_search_ms": round(1000 * first, 1),
        "rss_mib": round(rss, 1),
        "baseline": {
            "http1_ms": {p: round(pct(bsingle, p), 2) for p in (50, 95, 99)},
            "http_concurrent": {"per_s": round(bthroughput, 1), "p99_ms": round(pct(bconc, 99), 2)},
            "startup_s": round(bstartup, 2),
            "first_search_ms": round(1000 * bfirst, 1),
            "rss_mib": round(brss, 1),
        },
        "ratio": {
            "throughput_x": round(throughput / bthroughput, 2),
            "http1_p50_x": round(pct(bsingle, 50) / pct(single, 50), 2),
            "concurrent_p99_x": round(pct(bconc, 99) / pct(conc, 99), 2),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table and JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--client",
        choices=["light", "httpx"],
        default="light",
        help="load generator: light (scripts/loadgen.py, raw keep-alive HTTP/1.1 on one "
        "asyncio loop) or httpx (one thread per client, as in the first runs)",
    )
    parser.add_argument(
        "--baseline-vectors",
        choices=["torch", "index"],
        default="torch",
        help="where the baseline's document vectors come from when the work folder has "
        "none yet: torch (embed the articles' titles and issues again, as the baseline "
        "would) or index (our headline lane's vectors of the same texts; the baseline's "
        "speed is the same, and the run is ~45 min shorter at 100k)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="work folder to keep; a size already ingested there is measured without "
        "ingesting again (its ingest figures are the ones saved then)",
    )
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-"))
    results = []
    try:
        for size in args.sizes:
            results.append(measure(size, work, args))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    host = machine()
    print(
        f"\nmachine: {host['cpu']} (family {host.get('cpu_family', '?')} model "
        f"{host.get('model', '?')}), {host['cores']} cores, int8 {host['int8_scheme']}; "
        f"{time.strftime('%Y-%m-%d')}"
    )
    head = (
        f"{'size':>7} {'ingest/s':>8} {'inproc p50/p99':>15} {'http1 p50/p95/p99':>19} "
        f"{'16c /s':>7} {'16c p99':>8} {'w2s ms':>7} {'start s':>7} {'1st ms':>7} {'RSS MiB':>8}"
    )
    print(head)
    for r in results:
        for who, d in (("ours", r), ("base", r["baseline"])):
            h1 = d["http1_ms"]
            conc = d["http_concurrent"]
            print(
                f"{r['size']:>7} "
                f"{(r['ingest_articles_per_s'] if who == 'ours' else 0):>8} "
                + (
                    f"{r['inproc_ms'][50]:>6}/{r['inproc_ms'][99]:<8}"
                    if who == "ours"
                    else f"{'':>15}"
                )
                + f" {h1[50]:>6}/{h1[95]}/{h1[99]:<6} {conc['per_s']:>7} {conc['p99_ms']:>8} "
                + (f"{r['write_to_searchable_ms']:>7}" if who == "ours" else f"{'':>7}")
                + f" {d['startup_s']:>7} {d['first_search_ms']:>7} {d['rss_mib']:>8}  {who}"
            )
        print(
            f"{'':>7} ratio vs baseline: throughput x{r['ratio']['throughput_x']}, "
            f"1-client p50 x{r['ratio']['http1_p50_x']} faster, "
            f"{args.clients}-client p99 x{r['ratio']['concurrent_p99_x']} better"
        )
        conc = r["http_concurrent"]
        print(
            f"{'':>7} CPU per search under {args.clients} clients: server "
            f"{conc['server_cpu_ms']} ms, load generator ({conc['client']}) "
            f"{conc['client_cpu_ms']} ms"
        )
        roles = ", ".join(f"{k} {v}" for k, v in conc["server_cpu_ms_by_thread"].items())
        print(f"{'':>7} server CPU per search by thread (ms): {roles}")
    print(json.dumps({"benchmark": "search", "machine": host, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
