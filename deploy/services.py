#!/usr/bin/env python3
"""Throwaway PostgreSQL and Redis for the deploy profile, from Debian's packages.

    python deploy/services.py install   # apt-get install postgresql redis-server when missing (root)
    python deploy/services.py up        # start both in a temporary folder, print their settings,
                                        # stop them and delete the folder on Ctrl-C

Each server listens on a free loopback port, keeps its data in a fresh temporary folder and is
stopped cleanly (`pg_ctl stop -m fast`, Redis `SHUTDOWN NOSAVE`) when the context ends, so tests
and people trying the profile by hand never touch a system-wide instance. PostgreSQL refuses to
run as root: as root, `initdb`/`pg_ctl` run as the `postgres` user (`runuser`) over a folder it
owns. Standard library only, so the Makefile can call it before the virtualenv matters.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PACKAGES = {"postgresql": "initdb", "redis-server": "redis-server"}
POSTGRES_USER = "postgres"
START_TIMEOUT_S = 30.0
# A throwaway instance trades durability for speed: nothing in it outlives the test.
POSTGRES_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def postgres_bin_dir() -> Path | None:
    """Debian keeps `initdb` and `pg_ctl` in /usr/lib/postgresql/<major>/bin, off the PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_packages() -> list[str]:
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


def install_missing() -> list[str]:
    """Install the Debian packages that are missing (as the Makefile does for Chromium)."""
    missing = missing_packages()
    if not missing:
        return []
    if os.geteuid() != 0:
        raise SystemExit(
            f"missing Debian packages {missing}: run as root or `sudo apt-get install {' '.join(missing)}`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    return missing


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S:.0f} s")


@dataclass
class Postgres:
    """A running throwaway PostgreSQL server; `database` belongs to `user` (password auth)."""

    data_dir: Path
    port: int
    user: str
    password: str
    database: str
    as_user: list[str]
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """The variables deploy/dagster.yaml reads (and libpq's own, for psql)."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.database,
        }

    def stop(self) -> None:
        subprocess.run(
            [
                *self.as_user,
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            check=False,
            capture_output=True,
        )


@dataclass
class Redis:
    process: subprocess.Popen
    port: int
    password: str

    def url(self, db: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    def env(self) -> dict[str, str]:
        """Broker on database 0, Celery results on database 1."""
        return {"VIGIL_CELERY_BROKER": self.url(0), "VIGIL_CELERY_BACKEND": self.url(1)}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Redis shuts down cleanly on SIGTERM
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _run_as(root: Path) -> list[str]:
    """Root hands the folder to `postgres` and runs the server as that user; anyone else runs it as themselves."""
    if os.geteuid() != 0:
        return []
    account = pwd.getpwnam(POSTGRES_USER)
    for path in (root, *root.rglob("*")):
        os.chown(path, account.pw_uid, account.pw_gid)
    return ["runuser", "-u", POSTGRES_USER, "--"]


def start_postgres(root: Path, database: str = "dagster") -> Postgres:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: run `python deploy/services.py install` as root")
    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    password = secrets.token_hex(16)
    user = "vigil"
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    as_user = _run_as(root)
    try:
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"initdb failed: {exc.stderr.strip()}") from exc
    finally:
        pwfile.unlink(missing_ok=True)
    port = free_port()
    with (data_dir / "postgresql.conf").open("a") as conf:  # appending keeps the owner
        conf.write(f"\nport = {port}\n")
        conf.writelines(f"{name} = {value}\n" for name, value in POSTGRES_SETTINGS.items())
    started = subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(root / "postgres.log"),
            "-w",
            "-t",
            str(int(START_TIMEOUT_S)),
            "start",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        log = (root / "postgres.log").read_text() if (root / "postgres.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log[-2000:]}")
    server = Postgres(data_dir, port, user, password, database, as_user, bin_dir)
    _wait_for_port(port, "PostgreSQL")
    env = {**os.environ, "PGPASSWORD": password}
    created = subprocess.run(
        [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0:
        server.stop()
        raise RuntimeError(f"createdb failed: {created.stderr.strip()}")
    return server


def start_redis(root: Path) -> Redis:
    if shutil.which("redis-server") is None:
        raise RuntimeError("Redis is not installed: run `python deploy/services.py install` as root")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    password = secrets.token_hex(16)
    conf = root / "redis.conf"  # the password goes in a file, not on a command line `ps` shows
    conf.write_text(
        f'port {port}\nbind 127.0.0.1\nrequirepass {password}\ndir {root}\nsave ""\nappendonly no\n'
        f"logfile {root / 'redis.log'}\n"
    )
    conf.chmod(0o600)
    process = subprocess.Popen(
        ["redis-server", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Redis(process, port, password)
    try:
        _wait_for_port(port, "Redis", process)
    except RuntimeError:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_services(root: Path | None = None) -> Iterator[tuple[Postgres, Redis]]:
    """PostgreSQL and Redis in a temporary folder, stopped and deleted however the block ends.

    The folder is made under the system temporary directory (not a test's tmp_path): the `postgres`
    user must be able to reach it, and pytest's folders are private to root.
    """
    owned = root is None
    base = Path(tempfile.mkdtemp(prefix="vigil-services-")) if root is None else root
    base.chmod(0o755)
    postgres: Postgres | None = None
    redis: Redis | None = None
    try:
        postgres = start_postgres(base / "postgres")
        redis = start_redis(base / "redis")
        yield postgres, redis
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)


def _up() -> None:
    with running_services() as (postgres, redis):
        print("# PostgreSQL and Redis are up; in another shell:")
        for name, value in {**postgres.env(), **redis.env()}.items():
            print(f"export {name}='{value}'")
        print("# Ctrl-C stops both and deletes their data.", flush=True)
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
        with contextlib.suppress(KeyboardInterrupt):
            while not stop:
                time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["install", "up"])
    args = parser.parse_args(argv)
    if args.command == "install":
        installed = install_missing()
        if installed:
            print(f"installed {' '.join(installed)}")
    else:
        _up()


if __name__ == "__main__":
    sys.exit(main())
