"""`make bench`: the product against a near-limit reference and a naive script, on one synthetic corpus.

The corpus (benchmarks/corpus.py) is served over loopback HTTP by threaded servers on several loopback
addresses (127.0.0.1 .. 127.0.0.H, so per-host limits behave as with a real feed list), with ETag /
If-None-Match -> 304 for unchanged feeds. Every pipeline runs as a subprocess; we measure wall time, peak
RSS of its largest process (its high-water mark) and of its whole process tree (sampled from /proc).

Scenarios, in order:
  fixed     the product on 1 tiny feed: Dagster start-up + per-step overhead
  reference benchmarks/reference.py on the whole corpus (the floor: lxml for XML and HTML)
  libraries the same script with feedparser + BeautifulSoup, the libraries the product is built on
  naive     benchmarks/naive.py on the whole corpus (the row the 10x target is judged on); its one-table
            variant on the first 100 feeds, extrapolated as items/s (for comparison)
  cold      `python -m feeds_etl run` on an empty database, whole corpus (what `make run` does)
  steady    the same after mutating 5% of the feeds (same hour: a second attempt, mostly 304s)
  steady10x the archive grown to 10x its size (past hours' bodies), then another steady hour: its time and the
            bytes it writes must not grow with the archive
  backfill  `python -m feeds_etl backfill --from <now-167h> --to <now>` (re-derives from the archive)

    python benchmarks/bench.py                      # full: 1,000 feeds x 25 items (~several minutes)
    python benchmarks/bench.py --pairs 2            # 2 more (reference, naive, cold) runs: median ratios (make bench)
    python benchmarks/bench.py --feeds 100          # quick (< 1 minute)
    python benchmarks/bench.py --naive-feeds 100    # the naive script on 100 feeds only, extrapolated (faster)
    python benchmarks/bench.py --only cold,steady --keep   # keep temp dirs for inspection
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from corpus import Corpus  # noqa: E402

SCENARIOS = ("fixed", "reference", "libraries", "naive", "cold", "steady", "steady10x", "backfill")
REFERENCE_TITLES = {
    "reference": "reference (threads + 2 procs of lxml + 1 Arrow load)",
    "libraries": "reference with feedparser + bs4 instead of lxml",
}
# The naive script twice: writing the product's four layers row by row (what the 10x target is judged
# against), and the smaller one-wide-table job earlier versions of this benchmark used (shown beside it).
NAIVE_VARIANTS = {"naive": [], "naive-items-only": ["--items-only"]}
# The one-table variant is context, not a target: it runs on this many feeds only, extrapolated.
ONE_TABLE_FEEDS = 100
NAIVE_TITLES = {
    "naive": "naive (sequential, defaults, html.parser, executemany; 4 layers)",
    "naive-items-only": "naive, one wide table only (items, text, tags in one row)",
}
TARGETS = {"cold_vs_reference": 2.5, "naive_speedup": 10.0, "peak_mb": 1536.0, "steady_s": 15.0}


# -- serving ----------------------------------------------------------------------------------------


class CorpusServer:
    """Threaded HTTP/1.1 servers on H loopback addresses; feed i lives on host i % H."""

    def __init__(self, corpus: Corpus, hosts: int, latency_ms: float = 0.0, port: int = 0) -> None:
        self.corpus, self.latency = corpus, latency_ms / 1000
        self.counts: Counter[int] = Counter()
        self._lock = threading.Lock()
        self.servers: list[ThreadingHTTPServer] = []
        handler = self._handler()
        for h in range(hosts):
            server = ThreadingHTTPServer((f"127.0.0.{h + 1}", port), handler)
            server.daemon_threads = True
            self.servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def url(self, index: int) -> str:
        host, port = self.servers[index % len(self.servers)].server_address[:2]
        return f"http://{host}:{port}/feeds/{self.corpus.feeds[index].name}.xml"

    def take_counts(self) -> dict[int, int]:
        with self._lock:
            counts, self.counts = dict(self.counts), Counter()
        return counts

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self
        pattern = re.compile(r"^/feeds/bench-(\d+)\.xml$")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                match = pattern.match(self.path)
                index = int(match.group(1)) if match else -1
                if outer.latency:
                    time.sleep(outer.latency)
                if not 0 <= index < outer.corpus.n_feeds:
                    self._reply(404, b"not found", {"Content-Type": "text/plain"})
                    return
                etag = outer.corpus.etag(index)
                if self.headers.get("If-None-Match") == etag:
                    self._reply(304, b"", {"ETag": etag})
                    return
                self._reply(
                    200, outer.corpus.body(index), {"ETag": etag, "Content-Type": outer.corpus.content_type(index)}
                )

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                with outer._lock:
                    outer.counts[status] += 1
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# -- measuring a subprocess -------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    wall_s: float
    returncode: int
    maxrss_mb: float  # largest single process in the tree (its VmHWM, sampled)
    tree_mb: float  # sampled peak of the summed RSS of the whole process tree (counts shared pages per process)
    pss_mb: float  # sampled peak (once a second) of the summed PSS: shared pages split between sharers
    cpu_s: float  # user+sys of every process in the tree (sampled every 0.2 s, so a slight undercount)
    output: str
    extra: dict[str, Any] = field(default_factory=dict)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _proc_kb(pid: int, file: str, *fields: str) -> list[int]:
    """kB figures from one read of /proc/<pid>/<file> (VmRSS: in status, Pss: in smaps_rollup), in the order
    asked; 0 for each once the process is gone."""
    found = dict.fromkeys(fields, 0)
    try:
        with open(f"/proc/{pid}/{file}") as handle:
            for line in handle:
                name = line[: line.find(":") + 1]
                if name in found:
                    found[name] = int(line.split()[1])
    except OSError:
        pass
    return list(found.values())


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime of the process itself
    except (OSError, IndexError, ValueError):
        return 0


def _tree_sample(root: int, cpu: dict[int, int], with_pss: bool) -> tuple[int, int, int]:
    """Summed RSS, PSS when asked (else 0), and the largest process's peak RSS so far (kB) of the tree; records
    each process's CPU ticks so far in `cpu`.

    The peak is the kernel's high-water mark (VmHWM): only what a process gains in its last 0.2 s before it
    exits goes unseen. Not wait4's ru_maxrss: a child keeps the high-water mark of the process it was forked
    from across exec, so with a 2 GB corpus in this process every product run "peaked" at 2 GB."""
    children, rss, pss, hwm, todo = _children_map(), 0, 0, 0, [root]
    while todo:
        pid = todo.pop()
        now, high = _proc_kb(pid, "status", "VmRSS:", "VmHWM:")
        rss, hwm = rss + now, max(hwm, high)
        if with_pss:
            pss += _proc_kb(pid, "smaps_rollup", "Pss:")[0]
        cpu[pid] = max(cpu.get(pid, 0), _cpu_ticks(pid))
        todo.extend(children.get(pid, []))
    return rss, pss, hwm


# RSS and CPU ticks are counters the kernel keeps: reading them is cheap. PSS walks every page table of every
# process, ~30 ms per 1,000-feed tree: at every sample that was 4-7 CPU s per cold import, taken from a pipeline
# that keeps both cores busy (up to 3 s of its wall time). One sample in five (once a second) costs ~1 s.
SAMPLE_SECONDS = 0.2
PSS_EVERY = 5


def run_measured(name: str, cmd: list[str], env: dict[str, str], log_dir: Path, cwd: Path = REPO) -> Measured:
    log = log_dir / f"{name}.log"
    peak = peak_pss = peak_process = 0
    cpu: dict[int, int] = {}
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_pss, peak_process
            count = 0
            while not done.wait(SAMPLE_SECONDS):
                count += 1
                rss, pss, hwm = _tree_sample(proc.pid, cpu, with_pss=count % PSS_EVERY == 1)
                peak, peak_pss, peak_process = max(peak, rss), max(peak_pss, pss), max(peak_process, hwm)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    cpu_s = sum(cpu.values()) / os.sysconf("SC_CLK_TCK")
    output = log.read_text(errors="replace")
    if proc.returncode != 0:
        print(f"!! {name} exited {proc.returncode}; last lines of {log}:\n{output[-3000:]}", file=sys.stderr)
    return Measured(name, wall, proc.returncode, peak_process / 1024, peak / 1024, peak_pss / 1024, cpu_s, output)


# -- the product's own account of where time went -----------------------------------------------------


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def dagster_breakdown(dagster_home: Path, output: str) -> dict[str, Any]:
    """Step wall times and the pipeline's `durations_s` metadata, read from the run's event log."""
    match = re.search(r"run ([0-9a-f-]{36}) ", output)
    if not match:
        return {}
    db = dagster_home / "history" / "runs" / f"{match.group(1)}.db"
    if not db.exists():
        return {}
    steps: dict[str, dict[str, float]] = {}
    durations: dict[str, dict[str, float]] = {}
    materializations: Counter[str] = Counter()
    first = last = None
    with contextlib.closing(sqlite3.connect(db)) as con:
        for (raw,) in con.execute("SELECT event FROM event_logs ORDER BY id"):
            event = json.loads(raw)
            stamp = event.get("timestamp")
            first = stamp if first is None else first
            last = stamp
            dagster_event = event.get("dagster_event") or {}
            kind, step = dagster_event.get("event_type_value"), dagster_event.get("step_key")
            if kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE") and step:
                steps.setdefault(step, {})[kind] = stamp
            if kind == "ASSET_MATERIALIZATION" and step:
                materializations[step] += 1
                if step not in durations:
                    for node in _walk(dagster_event):
                        if node.get("label") == "durations_s" or node.get("key") == "durations_s":
                            data = next((n["data"] for n in _walk(node) if isinstance(n.get("data"), dict)), None)
                            if data is not None:
                                durations[step] = data
                                break
    step_s = {
        step: round(times.get("STEP_SUCCESS", times.get("STEP_FAILURE", 0)) - times["STEP_START"], 2)
        for step, times in steps.items()
        if "STEP_START" in times
    }
    return {
        "run_s": round((last or 0) - (first or 0), 2),
        "steps": step_s,
        "durations": durations,
        "materializations": dict(materializations),
    }


# -- scenarios --------------------------------------------------------------------------------------


def write_feed_list(path: Path, server: CorpusServer, indices: range) -> None:
    # The corpus is served on loopback addresses; its items' links lead to example hosts, not article pages.
    # full_text is left at its default, `auto`: the corpus's feeds carry full text, so no page is fetched (the
    # cold import prints how many were); 15% of the items are short posts, but within full-text feeds.
    lines = ["allow_private_networks: true", "feeds:"]
    for i in indices:
        lines += [f"  - name: {server.corpus.feeds[i].name}", f"    url: {server.url(i)}"]
    path.write_text("\n".join(lines) + "\n")


def product_env(root: Path, feeds_file: Path) -> dict[str, str]:
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "FEEDS_ETL_FEEDS": str(feeds_file),
        "FEEDS_ETL_CATALOG": str(root / "feeds.sqlite"),
        "FEEDS_ETL_DATA_PATH": f"{root / 'lake'}/",
        "FEEDS_ETL_DATABASE": str(root / "feeds.duckdb"),
        "DAGSTER_HOME": str(home),
        "PYTHONWARNINGS": "ignore",
    }


def lake_bytes(root: Path) -> tuple[int, int]:
    """(Parquet files, catalog with its WAL) in bytes."""
    data = sum(p.stat().st_size for p in (root / "lake").rglob("*") if p.is_file())
    catalog = sum(p.stat().st_size for p in root.glob("feeds.sqlite*") if p.is_file() and not p.name.endswith(".lock"))
    return data, catalog


def lake_mb(root: Path) -> str:
    data, catalog = lake_bytes(root)
    return f"{data / 1e6:.0f} (+{catalog / 1e6:.0f} catalog)"


def lake_of(root: Path) -> Any:
    from feeds_etl.warehouse import LakeConfig

    return LakeConfig(str(root / "feeds.sqlite"), f"{root / 'lake'}/")


def count_items(root: Path) -> int:
    from feeds_etl.warehouse import readers

    if not (root / "feeds.sqlite").exists():
        return 0
    with readers.connect(config=lake_of(root)) as con:
        return con.execute("SELECT count(*) FROM items").fetchone()[0]


def article_counts(root: Path) -> tuple[int, int]:
    """(items whose article page was wanted, article page fetches stored) in the lake under `root`."""
    from feeds_etl.warehouse import readers

    with readers.connect(config=lake_of(root)) as con:
        wanted = con.execute("SELECT count(*) FROM item_text WHERE article_status IS NOT NULL").fetchone()[0]
        return wanted, con.execute("SELECT count(*) FROM article_pages").fetchone()[0]


def grow_archive(root: Path, factor: int) -> int:
    """The archive made `factor` times its size: copies of every stored body in past days' hours, as months of
    hourly runs leave them. Returns the bytes the lake then holds."""
    from feeds_etl.warehouse import Warehouse

    warehouse = Warehouse(lake_of(root))
    for copy in range(1, factor):
        with warehouse.writing() as con:
            con.execute("SET memory_limit = '4GB'")  # a copy of every body at once; the runs keep their bound
            con.execute(
                """INSERT INTO feed_snapshots
                   SELECT * REPLACE (
                       snapshot_id || '-' || $copy AS snapshot_id,
                       strftime(fetched_at - to_days($copy * 7), '%Y-%m-%d-%H:00') AS partition_key,
                       fetched_at - to_days($copy * 7) AS fetched_at,
                       content_sha256 || '-' || $copy AS content_sha256)
                   FROM feed_snapshots WHERE has_body AND NOT contains(snapshot_id, '-')""",
                {"copy": copy},
            )
    warehouse.close()
    return sum(lake_bytes(root))


def last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.strip().splitlines()):
        with contextlib.suppress(ValueError):
            return json.loads(line)
    return {}


@dataclass
class Row:
    scenario: str
    size: str
    wall_s: float
    items: int
    items_per_s: float
    maxrss_mb: float
    tree_mb: float
    pss_mb: float
    cpu_s: float
    db_mb: str
    notes: str

    @classmethod
    def from_run(cls, scenario: str, size: str, m: Measured, items: int, rate: float, db_mb: str, notes: str) -> Row:
        return cls(scenario, size, m.wall_s, items, rate, m.maxrss_mb, m.tree_mb, m.pss_mb, m.cpu_s, db_mb, notes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=25)
    parser.add_argument(
        "--naive-feeds",
        type=int,
        help="the naive script runs on this many feeds, its items/s extrapolated (default: the whole corpus, the "
        "job issue 7's target names; fewer feeds are quicker, but sample a tenth of the work and of the drift)",
    )
    parser.add_argument("--hosts", type=int, default=16, help="loopback addresses to spread feeds over")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="server think time per request")
    parser.add_argument("--mutate", type=float, default=0.05, help="fraction of feeds changed before steady")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--live-code",
        action="store_true",
        help="run the product from the working tree (default: a copy taken at start, so edits made "
        "while the benchmark runs cannot change code between scenarios)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="after the scenarios, this many more (reference, naive, cold import) runs, one after the other: "
        "on a machine whose speed drifts, the median of their ratios says more than one pair",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--wrap",
        default="",
        help="a command the product runs under, e.g. 'py-spy record -o cold.svg --' (its cost is measured too)",
    )
    args = parser.parse_args()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(wanted) - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {sorted(unknown)}")
    if {"steady", "steady10x", "backfill"} & set(wanted):
        wanted = list(dict.fromkeys(["cold", *wanted]))  # they build on the cold import
    wanted = [s for s in SCENARIOS if s in wanted]

    tmp = Path(tempfile.mkdtemp(prefix="feeds_etl_bench_"))
    python = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
    t0 = time.perf_counter()
    corpus = Corpus(args.feeds, args.items, args.seed)
    corpus_mb = corpus.total_bytes() / 1e6
    total_items = args.feeds * args.items
    print(
        f"corpus: {args.feeds} feeds x {args.items} items, {corpus_mb:.0f} MB of XML, "
        f"built in {time.perf_counter() - t0:.1f}s; work dir {tmp}",
        flush=True,
    )
    product_cwd = REPO
    if not args.live_code:
        product_cwd = tmp / "src"
        shutil.copytree(REPO / "feeds_etl", product_cwd / "feeds_etl", ignore=shutil.ignore_patterns("__pycache__"))
    print(f"code: {code_version()}{'' if args.live_code else f' (frozen copy in {product_cwd})'}", flush=True)
    server = CorpusServer(corpus, args.hosts, args.latency_ms)
    rows: list[Row] = []
    results: dict[str, Any] = {}
    pairs: list[Pair] = []
    try:
        full_list = tmp / "feeds.yaml"
        write_feed_list(full_list, server, range(args.feeds))

        def reference_cmd(root: Path, parser_name: str) -> list[str]:
            script = str(HERE / "reference.py")
            database = str(root / "ref.duckdb")
            return [python, script, "--feeds-file", str(full_list), "--database", database, "--parser", parser_name]

        def product(name: str, root: Path, feeds_file: Path, *cli: str) -> Measured:
            env = product_env(root, feeds_file)
            print(f"-> {name}: python -m feeds_etl {' '.join(cli)}", flush=True)
            measured = run_measured(name, [*args.wrap.split(), python, "-m", "feeds_etl", *cli], env, tmp, product_cwd)
            measured.extra = dagster_breakdown(root / "dagster_home", measured.output)
            measured.extra["http"] = server.take_counts()
            results[name] = {**measured.__dict__, "output": measured.output[-2000:]}
            print(
                f"   {measured.wall_s:.1f}s, rc={measured.returncode}, http={measured.extra['http']}, "
                f"steps={measured.extra.get('steps')}",
                flush=True,
            )
            return measured

        if "fixed" in wanted:
            root = tmp / "fixed"
            root.mkdir()
            tiny = Corpus(1, 1, args.seed, short_fraction=1.0)
            (root / "tiny.xml").write_bytes(tiny.body(0))
            (root / "feeds.yaml").write_text(
                f"allow_local_files: true\nfeeds:\n  - name: tiny\n    url: {root / 'tiny.xml'}\n"
            )
            m = product("fixed", root, root / "feeds.yaml", "run")
            env = product_env(root, root / "feeds.yaml")
            imp = run_measured("import", [python, "-c", "import feeds_etl.definitions"], env, tmp, product_cwd)
            rows.append(
                Row.from_run(
                    "Dagster fixed cost (1 tiny feed)",
                    "1x1",
                    m,
                    count_items(root),
                    0,
                    lake_mb(root),
                    f"import feeds_etl.definitions alone {imp.wall_s:.1f}s",
                )
            )

        for scenario in ("reference", "libraries"):
            if scenario not in wanted:
                continue
            root = tmp / scenario
            root.mkdir()
            print(f"-> {scenario}", flush=True)
            parser_name = "lxml" if scenario == "reference" else "libraries"
            m = run_measured(scenario, reference_cmd(root, parser_name), dict(os.environ), tmp)
            info = last_json(m.output)
            server.take_counts()
            results[scenario] = {**m.__dict__, "output": m.output[-2000:], "info": info}
            items = info.get("items", 0)
            rows.append(
                Row.from_run(
                    REFERENCE_TITLES[scenario],
                    f"{args.feeds}x{args.items}",
                    m,
                    items,
                    items / m.wall_s,
                    f"{(root / 'ref.duckdb').stat().st_size / 1e6:.0f}" if m.returncode == 0 else "-",
                    f"fetch {info.get('fetch_s')}s, parse tail {info.get('parse_wait_s')}s, load {info.get('load_s')}s",
                )
            )

        naive_feeds = {
            "naive": min(args.naive_feeds or args.feeds, args.feeds),
            "naive-items-only": min(args.naive_feeds or ONE_TABLE_FEEDS, ONE_TABLE_FEEDS, args.feeds),
        }

        def naive(variant: str, root: Path) -> tuple[Measured, dict[str, Any], float]:
            """One naive run on its first feeds: its measurement, its own JSON line and items/s."""
            naive_n = naive_feeds[variant]
            root.mkdir(parents=True)
            subset = root / "feeds.yaml"
            write_feed_list(subset, server, range(naive_n))
            print(f"-> {variant} on {naive_n} feeds", flush=True)
            script = [python, str(HERE / "naive.py"), "--feeds-file", str(subset)]
            cmd = [*script, "--database", str(root / "naive.duckdb"), *NAIVE_VARIANTS[variant]]
            m = run_measured(variant, cmd, dict(os.environ), tmp)
            info = last_json(m.output)
            server.take_counts()
            return m, info, (info.get("items", 0) / m.wall_s if m.wall_s else 0.0)

        if "naive" in wanted:
            for variant in NAIVE_VARIANTS:
                m, info, rate = naive(variant, tmp / variant)
                results[variant] = {**m.__dict__, "output": m.output[-2000:], "info": info}
                rows.append(
                    Row.from_run(
                        NAIVE_TITLES[variant],
                        f"{naive_feeds[variant]}x{args.items}",
                        m,
                        info.get("items", 0),
                        rate,
                        "-",
                        (
                            f"=> ~{total_items / rate:.0f}s for {args.feeds}x{args.items}; "
                            if naive_feeds[variant] < args.feeds
                            else ""
                        )
                        + f"fetch {info.get('fetch_s')}s"
                        f" parse {info.get('parse_s')}s clean {info.get('clean_s')}s load {info.get('load_s')}s"
                        f" ({sum((info.get('rows') or {}).values())} rows)",
                    )
                )

        root = tmp / "product"
        root.mkdir()
        if "cold" in wanted:
            m = product("cold", root, full_list, "run")
            items = count_items(root)
            wanting, pages = article_counts(root)
            results["cold"]["articles"] = {"items_wanting_one": wanting, "pages_fetched": pages}
            print(f"   full_text auto: {wanting} item(s) wanted an article page, {pages} page fetch(es)", flush=True)
            rows.append(
                Row.from_run(
                    "product cold import (python -m feeds_etl run)",
                    f"{args.feeds}x{args.items}",
                    m,
                    items,
                    items / m.wall_s,
                    lake_mb(root),
                    _step_note(m.extra),
                )
            )

        def steady(name: str, label: str) -> None:
            """A steady hour after `mutate`, with the bytes it added to the lake."""
            changed = corpus.mutate(args.mutate)
            before = sum(lake_bytes(root))
            m = product(name, root, full_list, "run")
            written = sum(lake_bytes(root)) - before
            results[name]["bytes_written"] = written
            rows.append(
                Row.from_run(
                    f"product steady hour{label} ({len(changed)} feeds changed)",
                    f"{args.feeds}x{args.items}",
                    m,
                    count_items(root),
                    0,
                    lake_mb(root),
                    f"wrote {written / 1e6:.1f} MB to a {before / 1e6:.0f} MB lake; http {m.extra.get('http')}; "
                    + _step_note(m.extra),
                )
            )

        if "steady" in wanted:
            steady("steady", "")
        if "steady10x" in wanted:
            print("-> growing the archive to 10x", flush=True)
            grow_archive(root, 10)
            steady("steady10x", ", archive 10x")
        if "backfill" in wanted:
            now = datetime.now(UTC)
            first = (now - timedelta(hours=167)).strftime("%Y-%m-%d-%H:00")
            last = now.strftime("%Y-%m-%d-%H:00")
            m = product("backfill", root, full_list, "backfill", "--from", first, "--to", last)
            rows.append(
                Row.from_run(
                    "product backfill, 168 hourly partitions",
                    f"{args.feeds}x{args.items}",
                    m,
                    count_items(root),
                    0,
                    lake_mb(root),
                    f"http {m.extra.get('http')}; materializations {m.extra.get('materializations')}; "
                    + _step_note(m.extra),
                )
            )
        for n in range(1, args.pairs + 1):
            pair_root = tmp / f"pair{n}"
            (pair_root / "product").mkdir(parents=True)
            print(f"-> pair {n}: reference", flush=True)
            ref = run_measured(f"pair{n}-reference", reference_cmd(pair_root, "lxml"), dict(os.environ), tmp)
            server.take_counts()
            naive_rate = naive("naive", pair_root / "naive")[2] if "naive" in wanted else 0.0
            cold = product(f"pair{n}-cold", pair_root / "product", full_list, "run")
            pairs.append(Pair(ref, cold, naive_rate, total_items))
    finally:
        server.close()

    print_table(rows, args, corpus_mb)
    print_verdict(rows, results, args)
    if pairs:
        print_pairs(rows, pairs)
    print_breakdowns(results)
    if args.json:
        args.json.write_text(json.dumps({"rows": [r.__dict__ for r in rows], "runs": results}, indent=2, default=str))
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r.get("returncode") == 0 for r in results.values()) else 1


@dataclass
class Pair:
    """One (reference, naive, cold import) run one after the other: their ratios drift less than their seconds."""

    reference: Measured
    cold: Measured
    naive_rate: float  # items/s of the four-layer naive script, 0 when it did not run
    items: int

    @property
    def naive_speedup(self) -> float:
        return self.items / self.cold.wall_s / self.naive_rate if self.naive_rate else 0.0


def print_pairs(rows: list[Row], pairs: list[Pair]) -> None:
    """Cold import / reference (wall and CPU) and cold import / naive, for the table's runs and each extra pair."""
    ref = next((r for r in rows if r.scenario.startswith("reference (")), None)
    cold = next((r for r in rows if r.scenario.startswith("product cold")), None)
    naive_row = next((r for r in rows if r.scenario == NAIVE_TITLES["naive"]), None)
    measured = [(p.reference.wall_s, p.reference.cpu_s, p.cold.wall_s, p.cold.cpu_s, p.naive_speedup) for p in pairs]
    if ref and cold:
        speedup = cold.items_per_s / naive_row.items_per_s if naive_row and naive_row.items_per_s else 0.0
        measured.insert(0, (ref.wall_s, ref.cpu_s, cold.wall_s, cold.cpu_s, speedup))
    print("\nreference, naive and cold import run one after the other (the machine's speed drifts):")
    for ref_wall, ref_cpu, cold_wall, cold_cpu, speedup in measured:
        print(
            f"  reference {ref_wall:5.1f}s ({ref_cpu:5.1f} CPU s)   cold {cold_wall:5.1f}s ({cold_cpu:5.1f} CPU s)"
            f"   wall {cold_wall / ref_wall:.2f}x   CPU {cold_cpu / ref_cpu:.2f}x"
            + (f"   naive {speedup:.1f}x" if speedup else "")
        )
    walls = [c / r for r, _, c, _, _ in measured]
    cpus = [c / r for _, r, _, c, _ in measured]
    speedups = [x for *_, x in measured if x]
    print(
        f"  median of {len(measured)}: wall {statistics.median(walls):.2f}x "
        f"(target <= {TARGETS['cold_vs_reference']}x), CPU {statistics.median(cpus):.2f}x"
        + (
            f"; cold vs naive {statistics.median(speedups):.1f}x (target >= {TARGETS['naive_speedup']}x)"
            if speedups
            else ""
        )
    )


def _step_note(extra: dict[str, Any]) -> str:
    steps = extra.get("steps") or {}
    assets = ("raw_feed_xml", "parsed_items", "cleaned_text", "tag_aggregates")
    parts = [f"{s.split('_')[0]} {steps[s]:.1f}" for s in assets if s in steps]
    checks = sum(v for k, v in steps.items() if k not in assets)
    return "steps s: " + ", ".join(parts) + f", checks {checks:.1f}"


def code_version() -> str:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.rstrip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "feeds_etl").splitlines()]
    return f"feeds_etl at {git('rev-parse', '--short', 'HEAD').strip()}" + (f" + uncommitted {dirty}" if dirty else "")


def machine() -> str:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def print_table(rows: list[Row], args: argparse.Namespace, corpus_mb: float) -> None:
    print()
    print(f"machine: {machine()}")
    print(
        f"corpus: {args.feeds} feeds x {args.items} items ({corpus_mb:.0f} MB XML), {args.hosts} loopback hosts, "
        f"latency {args.latency_ms:g} ms; load average at end {os.getloadavg()[0]:.1f}"
    )
    headers = [
        "scenario",
        "size",
        "wall s",
        "CPU s",
        "items",
        "items/s",
        "peak RSS MB (largest proc)",
        "peak RSS MB (tree)",
        "peak PSS MB (tree)",
        "DB MB",
        "notes",
    ]
    cells = [
        [
            r.scenario,
            r.size,
            f"{r.wall_s:.1f}",
            f"{r.cpu_s:.1f}",
            str(r.items),
            f"{r.items_per_s:.0f}" if r.items_per_s else "-",
            f"{r.maxrss_mb:.0f}",
            f"{r.tree_mb:.0f}",
            f"{r.pss_mb:.0f}",
            r.db_mb,
            r.notes,
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |")


def print_verdict(rows: list[Row], results: dict[str, Any], args: argparse.Namespace) -> None:
    walls = {name: r["wall_s"] for name, r in results.items()}
    by = {r.scenario.split(" ")[0] + ("-cold" if "cold" in r.scenario else ""): r for r in rows}
    print()
    if "cold" in walls and "reference" in walls:
        ratio = walls["cold"] / walls["reference"]
        verdict = "OK" if ratio <= TARGETS["cold_vs_reference"] else "MISSED"
        print(f"cold / reference wall:  {ratio:.2f}x   (target <= {TARGETS['cold_vs_reference']}x)  {verdict}")
        cpu_ratio = results["cold"]["cpu_s"] / max(results["reference"]["cpu_s"], 1e-9)
        print(f"cold / reference CPU:   {cpu_ratio:.2f}x   (less sensitive to other load on the machine)")
    if "cold" in walls and "libraries" in walls:
        ratio = walls["cold"] / walls["libraries"]
        print(f"cold / libraries wall:  {ratio:.2f}x   (no target: the same script on feedparser + bs4)")
    cold = by.get("product-cold")
    for title, label, judged in (
        (NAIVE_TITLES["naive"], "naive", True),
        (NAIVE_TITLES["naive-items-only"], "one-table", False),
    ):
        naive = next((r for r in rows if r.scenario == title), None)
        if cold and naive and naive.items_per_s:
            speedup = cold.items_per_s / naive.items_per_s
            verdict = ("OK" if speedup >= TARGETS["naive_speedup"] else "MISSED") if judged else "(for comparison)"
            target = TARGETS["naive_speedup"]
            print(f"{'cold vs ' + label + ' items/s:':24s}{speedup:.1f}x   (target >= {target}x)  {verdict}")
    if cold:
        # PSS counts a page shared by the forkserver and its workers (libraries, language model) once.
        verdict = "OK" if cold.pss_mb < TARGETS["peak_mb"] else "MISSED"
        print(
            f"cold peak PSS (tree):   {cold.pss_mb:.0f} MB (target < {TARGETS['peak_mb']:.0f} MB)  {verdict}"
            f"   [summed RSS {cold.tree_mb:.0f} MB; flat in feed count? compare --feeds 250, 1000, 2000]"
        )
    if "steady" in walls:
        verdict = "OK" if walls["steady"] < TARGETS["steady_s"] else "MISSED"
        print(f"steady hourly run:      {walls['steady']:.1f}s   (target < {TARGETS['steady_s']:.0f}s)  {verdict}")
    if "steady" in results and "steady10x" in results:
        one, ten = results["steady"], results["steady10x"]
        print(
            f"steady hour vs archive:  1x {one['wall_s']:.1f}s, wrote {one['bytes_written'] / 1e6:.1f} MB;"
            f"  10x {ten['wall_s']:.1f}s, wrote {ten['bytes_written'] / 1e6:.1f} MB"
        )


def print_breakdowns(results: dict[str, Any]) -> None:
    print()
    print("product breakdown (Dagster step wall s; pipeline durations_s from run metadata):")
    for name in ("fixed", "cold", "steady", "backfill"):
        extra = results.get(name, {}).get("extra")
        if not extra:
            continue
        print(f"  {name}: process {results[name]['wall_s']:.1f}s, event log span {extra.get('run_s')}s")
        for step, seconds in extra.get("steps", {}).items():
            inner = extra.get("durations", {}).get(step)
            print(f"    {step:45s} {seconds:7.2f}s  {json.dumps(inner) if inner else ''}")


if __name__ == "__main__":
    raise SystemExit(main())
