"""Many machines: Dagster's instance in PostgreSQL (`DAGSTER_POSTGRES_URL`), a run's steps on Celery workers
(`FEEDS_ETL_EXECUTOR=celery`, `FEEDS_ETL_BROKER`). Without those variables nothing here is used."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dagster as dg
import yaml

from feeds_etl.feeds import REPO_ROOT

# A down broker or database fails a step within this many seconds instead of hanging on a dead socket.
CONNECT_TIMEOUT_S = 10
# Redis hands an unacknowledged step (its worker died) to another worker after this long. It must exceed the
# longest step: a step still running then is started a second time (harmless, steps are idempotent, but slow).
REDIS_VISIBILITY_TIMEOUT_S = int(os.environ.get("FEEDS_ETL_REDELIVER_AFTER_S", "900"))
# Cluster steps retry transient faults (a catalog or broker blip) on whichever worker takes them next.
STEP_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
# First line of the repository's dagster.yaml: a DAGSTER_HOME/dagster.yaml starting with it is ours to rewrite.
_OURS = "# Copied into $DAGSTER_HOME by the Makefile when it has no dagster.yaml of its own."
_MIGRATE_LOCK_KEY = 0x46454544  # pg_advisory_lock key serialising `dagster instance migrate` across machines


def executor_name() -> str:
    name = os.environ.get("FEEDS_ETL_EXECUTOR", "in_process").strip() or "in_process"
    if name not in {"in_process", "celery"}:
        raise ValueError(f"FEEDS_ETL_EXECUTOR={name!r}: use in_process (the default) or celery")
    return name


def on_celery() -> bool:
    return executor_name() == "celery"


def broker_url() -> str:
    broker = os.environ.get("FEEDS_ETL_BROKER", "").strip()
    if not broker:
        # dagster-celery would fall back to amqp://guest@localhost silently: say what is missing instead.
        raise ValueError("FEEDS_ETL_EXECUTOR=celery needs FEEDS_ETL_BROKER (redis://host:6379/0 or amqp://...)")
    return broker


def postgres_url() -> str | None:
    """DAGSTER_POSTGRES_URL with a connect timeout (unless it names one), or None when unset."""
    url = os.environ.get("DAGSTER_POSTGRES_URL", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    return urlunsplit(parts._replace(query=urlencode(query)))


def celery_settings() -> dict[str, Any]:
    """The Celery app settings both the run (which submits steps) and the workers (which take them) use."""
    broker = broker_url()
    settings: dict[str, Any] = {
        # A step is acknowledged when it ends, so one whose worker dies goes back to the queue for another.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_timeout": CONNECT_TIMEOUT_S,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": 3,
        "result_expires": 86400,
        "broker_transport_options": {
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 1,
            "interval_max": 3,
            "socket_timeout": 30,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "visibility_timeout": REDIS_VISIBILITY_TIMEOUT_S,
        },
    }
    if broker.startswith(("redis://", "rediss://")):
        settings["redis_socket_connect_timeout"] = CONNECT_TIMEOUT_S
        settings["redis_socket_timeout"] = 30
        settings["redis_backend_health_check_interval"] = 10
        settings["result_backend_transport_options"] = {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_S}
    else:
        # A worker busy in a long step misses AMQP heartbeats; the broker still notices a dead one (TCP close).
        settings["broker_heartbeat"] = 0
    return settings


def celery_executor_config() -> dict[str, Any]:
    """`execution: config:` for dagster-celery: the same block in the run's config and in the worker's YAML."""
    broker = broker_url()
    backend = broker if broker.startswith(("redis://", "rediss://")) else "rpc://"
    return {"broker": broker, "backend": backend, "config_source": celery_settings()}


def executor() -> dg.ExecutorDefinition:
    """in_process (one process, steps in order) unless FEEDS_ETL_EXECUTOR=celery."""
    if not on_celery():
        return dg.in_process_executor
    from dagster_celery import celery_executor

    config = celery_executor_config()
    # The broker URL may carry a password: runs store the variable's name, not its value.
    config["broker"] = {"env": "FEEDS_ETL_BROKER"}
    if config["backend"] != "rpc://":
        config["backend"] = {"env": "FEEDS_ETL_BROKER"}
    return celery_executor.configured(config, name="celery")


def instance_yaml() -> str:
    """DAGSTER_HOME/dagster.yaml: the repository's, plus PostgreSQL storage when DAGSTER_POSTGRES_URL is set."""
    repository_yaml = REPO_ROOT / "dagster.yaml"
    # Without the repository (an installed package), Dagster's defaults with telemetry off.
    text = f"{_OURS}\ntelemetry:\n  enabled: false\n"
    if repository_yaml.exists():
        text = repository_yaml.read_text(encoding="utf-8")
    if postgres_url() is None:
        return text
    cluster_settings = {
        "storage": {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}},
        # Step logs would land on whichever machine ran the step; the event log (in PostgreSQL) has them all.
        "compute_logs": {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        },
    }
    return (
        text
        + "# DAGSTER_POSTGRES_URL is set: runs, event log and schedules in PostgreSQL.\n"
        + yaml.safe_dump(cluster_settings, sort_keys=False)
    )


def prepare_home(home: Path | None = None) -> Path:
    """Write DAGSTER_HOME/dagster.yaml (unless the user wrote their own) and, on PostgreSQL, migrate the
    instance once, under an advisory lock: workers started together raced on `instance_info already exists`."""
    if home is None:
        home = Path(os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current is None or (current.startswith(_OURS) and current != instance_yaml()):
        path.write_text(instance_yaml(), encoding="utf-8")
    url = postgres_url()
    if url is not None:
        os.environ["DAGSTER_POSTGRES_URL"] = url
        _migrate(url)
    return home


def _migrate(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("SELECT pg_advisory_lock(%s)", [_MIGRATE_LOCK_KEY])
        try:
            with dg.DagsterInstance.get() as instance:
                instance.upgrade(print_fn=lambda _msg: None)
        finally:
            con.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATE_LOCK_KEY])


def worker_yaml(home: Path) -> Path:
    """The worker's config: the broker under `execution: config:` (elsewhere it is ignored, silently)."""
    path = home / "celery_worker.yaml"
    path.write_text(yaml.safe_dump({"execution": {"config": celery_executor_config()}}), encoding="utf-8")
    path.chmod(0o600)  # the broker URL may carry a password
    return path


def worker_command(name: str | None = None, concurrency: int | None = None) -> list[str]:
    """`dagster-celery worker start` for this machine, in the foreground."""
    home = prepare_home()
    # dagster-celery appends "@<hostname>": the UI shows e.g. feeds_etl-1234@host-a for each step.
    node = name or os.environ.get("FEEDS_ETL_WORKER_NAME") or f"feeds_etl-{os.getpid()}"
    slots = concurrency or int(os.environ.get("FEEDS_ETL_WORKER_CONCURRENCY", "2"))
    cli = shutil.which("dagster-celery", path=str(Path(sys.executable).parent)) or "dagster-celery"
    return [
        # -i: the pipeline is imported once, before the pool forks, not by each pool process on its first step.
        cli, "worker", "start", "-A", "dagster_celery.app", "-y", str(worker_yaml(home)), "-n", node,
        "-i", "feeds_etl.definitions",
        "--", f"--concurrency={slots}", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def run_worker(name: str | None = None, concurrency: int | None = None) -> int:
    """One Celery worker in the foreground (`make worker`); ^C stops it."""
    if not on_celery():
        print("feeds_etl: make worker needs FEEDS_ETL_EXECUTOR=celery and FEEDS_ETL_BROKER", file=sys.stderr)
        return 2
    command = worker_command(name, concurrency)
    node = command[command.index("-n") + 1]
    print(f"feeds_etl: worker {node}@{socket.gethostname()} on {broker_label()}", flush=True)
    # dagster-celery starts `celery` from PATH: the one beside this interpreter, also outside an activated venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.execve(command[0], command, {**os.environ, "PATH": path})  # the worker is this process: signals reach it


def broker_label() -> str:
    """The broker without its password, for messages."""
    parts = urlsplit(broker_url())
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"
