"""The deploy profile end to end: Dagster on PostgreSQL, runs queued by the daemon, steps on Celery.

Throwaway PostgreSQL and Redis servers start in a temporary folder (deploy/services.py), then a
`dagster-daemon` on deploy/dagster.yaml and two Celery workers (`dagster-celery worker start`).
`dagster job backfill` queues 14 daily partitions of the raw ingest of the simulated
organisation; the daemon launches them; each run hands its steps to the workers. The test checks
that the runs live in PostgreSQL, that both worker processes executed steps (their pids and
Celery host names are in the run events), and that the warehouse holds exactly the rows an
embedded `vigil run` of the same days writes, table by table and row for row.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
BIN = Path(sys.executable).parent
FIRST_DAY = date(2026, 10, 1)
DAYS = 14
KEYS = [(FIRST_DAY + timedelta(days=i)).isoformat() for i in range(DAYS)]
WORKERS = ("vigil-w1", "vigil-w2")
# The simulated organisation, narrowed to two repositories so 14 days stay quick on 2 cores.
DEMO_ENV = {
    "VIGIL_MODE": "demo",
    "VIGIL_DEMO_SEED": "5",
    "VIGIL_DEMO_DAYS": str(DAYS),
    "VIGIL_START_DATE": FIRST_DAY.isoformat(),
    "VIGIL_GITHUB_REPOS": "acme/api,acme/infra",
    # Redaction placeholders are keyed per installation (the data directory's key file): the two
    # installations compared here share one key, as every host of one deployment must.
    "VIGIL_REDACTION_KEY": "deploy-test-redaction-key-0123456789abcdef",
}
# Columns that say when a row was written, which two runs of the same day cannot share.
LOAD_TIME_COLUMNS = {"ingested_at"}
# Upper bounds for a loaded machine; on 2 quiet cores the whole test takes about 3 minutes.
BACKFILL_TIMEOUT_S = 1200.0


def _services_module():
    spec = importlib.util.spec_from_file_location("vigil_deploy_services", DEPLOY / "services.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def deploy_services() -> Iterator[dict[str, str]]:
    """PostgreSQL and Redis, installed from Debian when missing; their settings as environment."""
    services = _services_module()
    missing = services.missing_packages()
    if missing and os.geteuid() == 0:
        services.install_missing()
    elif missing:
        message = f"Debian packages {missing} are missing (`make test` installs them as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with services.running_services() as (postgres, redis):
        yield {**postgres.env(), **redis.env()}


class Processes:
    """Long-running processes of one test, each in its own session so its children stop with it."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for process in self.started:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # Children (run workers, the Celery process) that outlived their parent.
            with_pgid_alive = _session_members(process.pid)
            for pid in with_pgid_alive:
                os.kill(pid, signal.SIGKILL)
        self.started.clear()

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _session_members(sid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after the name: state, ppid, pgrp, session
            members.append(int(stat.parent.name))
    return members


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int, process: subprocess.Popen) -> bool:
    assert process.poll() is None, f"exited with status {process.returncode}"
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait_for(predicate, timeout_s: float, what: str, detail=lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{detail()[-4000:]}")


def _raw_tables(path: Path) -> dict[str, list[str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'raw' ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    tables: dict[str, list[str]] = collections.defaultdict(list)
    for table, column in rows:
        tables[table].append(column)
    return dict(tables)


def _compare_warehouses(distributed: Path, embedded: Path) -> dict[str, tuple[int, int]]:
    """Row count and order-independent checksum of every raw table; rows that differ, both ways."""
    tables = _raw_tables(distributed)
    assert tables == _raw_tables(embedded), "the two warehouses have different raw tables or columns"
    con = duckdb.connect()
    con.execute(f"ATTACH '{distributed}' AS dist (READ_ONLY)")
    con.execute(f"ATTACH '{embedded}' AS emb (READ_ONLY)")
    figures: dict[str, tuple[int, int]] = {}
    try:
        for table, columns in tables.items():
            cols = ", ".join(f'"{c}"' for c in columns if c not in LOAD_TIME_COLUMNS)
            sums = {}
            for db in ("dist", "emb"):
                # Sum (not XOR) of row hashes, so duplicate rows count instead of cancelling out.
                sums[db] = con.execute(
                    f"SELECT count(*), coalesce(sum(hash({cols})::HUGEINT), 0) "
                    f"FROM (SELECT {cols} FROM {db}.raw.{table})"
                ).fetchone()
            only_dist = con.execute(
                f"SELECT {cols} FROM dist.raw.{table} EXCEPT ALL SELECT {cols} FROM emb.raw.{table} LIMIT 3"
            ).fetchall()
            only_emb = con.execute(
                f"SELECT {cols} FROM emb.raw.{table} EXCEPT ALL SELECT {cols} FROM dist.raw.{table} LIMIT 3"
            ).fetchall()
            assert not only_dist and not only_emb, (table, only_dist, only_emb)
            assert sums["dist"] == sums["emb"], (table, sums)
            figures[table] = (int(sums["dist"][0]), int(sums["dist"][1]))
    finally:
        con.close()
    return figures


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts and waits for later; killed if the test ends before they do."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_backfill_through_the_daemon_on_two_celery_workers_equals_the_embedded_run(
    deploy_services: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    background: list[subprocess.Popen],
) -> None:
    import dagster as dg
    from dagster import DagsterEventType, DagsterRunStatus
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    began = time.monotonic()
    home = tmp_path / "deploy_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    site = tmp_path / "distributed"
    (site / "data").mkdir(parents=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        **DEMO_ENV,
        **deploy_services,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_HOME": str(home),
        "VIGIL_EXECUTOR": "celery",
        "VIGIL_DATA_DIR": str(site / "data"),
        "VIGIL_WAREHOUSE": str(site / "data" / "warehouse.duckdb"),
        # Starting a run waits for its process to load the code location: minutes on a busy host.
        "DAGSTER_GRPC_TIMEOUT_SECONDS": "300",
        "PYTHONUNBUFFERED": "1",
    }
    # The embedded default over the same days, meanwhile: `vigil run` in one process, SQLite
    # instance, no services. Its warehouse is the reference the distributed one must equal.
    embedded = tmp_path / "embedded"
    (embedded / "data").mkdir(parents=True)
    (embedded / "dagster_home").mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", embedded / "dagster_home" / "dagster.yaml")
    embedded_env = {
        **os.environ,
        **DEMO_ENV,
        "DAGSTER_HOME": str(embedded / "dagster_home"),
        "VIGIL_DATA_DIR": str(embedded / "data"),
        "VIGIL_WAREHOUSE": str(embedded / "data" / "warehouse.duckdb"),
    }
    embedded_env.pop("VIGIL_EXECUTOR", None)
    with (logs / "embedded.log").open("wb") as embedded_out:
        embedded_run = subprocess.Popen(
            [str(BIN / "vigil"), "run", "--from", KEYS[0], "--to", KEYS[-1], "--ingest-only"],
            env=embedded_env,
            cwd=embedded,
            stdout=embedded_out,
            stderr=subprocess.STDOUT,
        )
    background.append(embedded_run)
    code_server_port = _free_port()
    env["VIGIL_CODE_SERVER_HOST"] = "127.0.0.1"
    env["VIGIL_CODE_SERVER_PORT"] = str(code_server_port)
    workspace = str(DEPLOY / "workspace.yaml")
    processes = Processes(logs)
    with contextlib.ExitStack() as stack:
        stack.callback(processes.stop_all)
        # The code location as its own gRPC server, which the daemon, the CLI and the run
        # launcher share (the layout of the Helm chart's user deployment).
        code_server = processes.start(
            "code_server",
            [
                str(BIN / "dagster"),
                "api",
                "grpc",
                "-m",
                "observability_assets.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(code_server_port),
                "--location-name",
                "vigil",
            ],
            env,
            site,
        )
        workers = {}
        for name in WORKERS:  # started while the code server loads; they load it on their first step
            workers[name] = processes.start(
                name,
                [
                    str(BIN / "dagster-celery"),
                    "worker",
                    "start",
                    "-A",
                    "dagster_celery.app",
                    "-y",
                    str(DEPLOY / "celery.yaml"),
                    "-n",
                    name,
                    "-l",
                    "INFO",
                    "--",
                    # One step at a time in the worker process itself (its pid is in the step
                    # events); no gossip between workers, which a queue of steps does not need.
                    "--pool=solo",
                    "--without-gossip",
                    "--without-mingle",
                ],
                env,
                site,
            )
        _wait_for(
            lambda: _listening(code_server_port, code_server),
            300,
            "the code server",
            lambda: processes.log("code_server"),
        )
        phases = {"code server up": time.monotonic() - began}
        daemon = processes.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace], env, site)
        backfill = subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "backfill",
                "-w",
                str(REPO_ROOT / "workspace.yaml"),
                "-j",
                "ingest_raw",
                "--from",
                KEYS[0],
                "--to",
                KEYS[-1],
                "--noprompt",
            ],
            env=env,
            cwd=site,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        found = re.search(r"Launched backfill job `(\w+)`", backfill.stdout)
        assert backfill.returncode == 0 and found, backfill.stdout[-2000:] + backfill.stderr[-2000:]
        phases["backfill queued"] = time.monotonic() - began
        backfill_id = found.group(1)

        for name, value in {**deploy_services, "DAGSTER_HOME": str(home)}.items():
            monkeypatch.setenv(name, value)
        instance = stack.enter_context(dg.DagsterInstance.get())
        backfill_runs = dg.RunsFilter(tags={"dagster/backfill": backfill_id})

        def finished() -> bool:
            assert daemon.poll() is None, "the daemon exited:\n" + processes.log("daemon")[-3000:]
            runs = instance.get_runs(backfill_runs)
            return len(runs) == DAYS and all(r.is_finished for r in runs)

        _wait_for(
            finished,
            BACKFILL_TIMEOUT_S,
            f"the {DAYS} runs of backfill {backfill_id}",
            lambda: processes.log("daemon") + processes.log(WORKERS[0]),
        )
        worker_pids = {name: _children(p.pid) for name, p in workers.items()}
        backfill_s = time.monotonic() - began
        phases["runs finished"] = backfill_s

        runs = instance.get_runs(backfill_runs)
        assert sorted(r.tags["dagster/partition"] for r in runs) == KEYS
        failed = [r.tags["dagster/partition"] for r in runs if r.status != DagsterRunStatus.SUCCESS]
        assert not failed, f"runs failed for {failed}:\n{processes.log('daemon')[-3000:]}"

        # Dagster's own storage is the PostgreSQL server, and it holds these runs.
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        import psycopg2

        with (
            psycopg2.connect(
                host="127.0.0.1",
                port=int(deploy_services["DAGSTER_PG_PORT"]),
                user=deploy_services["DAGSTER_PG_USER"],
                password=deploy_services["DAGSTER_PG_PASSWORD"],
                dbname=deploy_services["DAGSTER_PG_DB"],
            ) as pg,
            pg.cursor() as cur,
        ):
            cur.execute(
                "SELECT count(DISTINCT run_id) FROM run_tags WHERE key = 'dagster/backfill' AND value = %s",
                (backfill_id,),
            )
            assert cur.fetchone()[0] == DAYS

        # Who executed each step: the pid on its STEP_START event and the Celery worker's host name
        # the executor recorded when the worker picked the step up.
        step_pids: collections.Counter[int] = collections.Counter()
        orchestrator_pids: set[int] = set()
        step_hosts: collections.Counter[str] = collections.Counter()
        for run in runs:
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None:
                    continue
                if event.event_type == DagsterEventType.RUN_START:
                    orchestrator_pids.add(event.pid)
                # A retried step (RetryPolicy) is picked up again and starts as STEP_RESTARTED.
                elif event.event_type in (DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED):
                    step_pids[event.pid] += 1
                elif event.event_type == DagsterEventType.ENGINE_EVENT and event.engine_event_data:
                    host = event.engine_event_data.metadata.get("Celery worker")
                    if host is not None:
                        step_hosts[host.value] += 1
        steps = sum(step_pids.values())
        assert steps >= DAYS * 4, (
            step_pids
        )  # four raw assets a day (runs, test results, benchmarks, commit files)
        celery_pids = {pid for pids in worker_pids.values() for pid in pids}
        assert set(step_pids) <= celery_pids, (step_pids, worker_pids)
        assert len(step_pids) >= 2, f"one worker process executed every step: {step_pids}"
        assert not set(step_pids) & orchestrator_pids, "a step ran inside its run's own process"
        assert {host.split("@")[0] for host in step_hosts} == set(WORKERS), step_hosts
        assert sum(step_hosts.values()) == steps

    embedded_run.communicate(timeout=600)
    embedded_log = (logs / "embedded.log").read_text(errors="replace")
    assert embedded_run.returncode == 0, embedded_log[-3000:]
    embedded_s = sum(float(x) for x in re.findall(r"ingest ok\s+([\d.]+) s", embedded_log))

    figures = _compare_warehouses(site / "data" / "warehouse.duckdb", embedded / "data" / "warehouse.duckdb")
    assert {"ci_runs", "ci_jobs", "test_results"} <= set(figures), figures
    assert all(figures[t][0] > 0 for t in ("ci_runs", "ci_jobs", "test_results")), figures
    con = duckdb.connect(str(site / "data" / "warehouse.duckdb"), read_only=True)
    days = con.execute("SELECT count(DISTINCT partition_day) FROM raw.ci_runs").fetchone()[0]
    con.close()
    assert days == DAYS
    # The figures docs/deploy.md quotes (`pytest -s` shows them).
    print(
        f"\ndistributed backfill: {DAYS} runs, {steps} steps in {backfill_s:.0f} s "
        f"(services, daemon and workers included); steps per worker process {dict(step_pids)}, "
        f"per Celery worker {dict(step_hosts)}; embedded `vigil run` of the same days {embedded_s:.0f} s; "
        f"phases (s since start) { ({k: round(v) for k, v in phases.items()}) }; "
        f"rows { ({t: n for t, (n, _) in figures.items()}) }"
    )
