"""`dagster dev` as a subprocess on a free loopback port, and the Chromium the browser tests drive.

The browser is Debian's Chromium (`/usr/bin/chromium`), driven by Playwright's Python package
with `executable_path`; Playwright's own browser download (`playwright install`) is never used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("VIGIL_CHROMIUM", "/usr/bin/chromium"))
# Quiet, offline, sandbox-free (containers run as root): nothing reaches the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DagsterDev:
    """One `dagster dev` (webserver, daemon, code server) for a test module."""

    cwd: Path
    env: Mapping[str, str]
    workspace: Path = REPO_ROOT / "workspace.yaml"
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> None:
        self.launch()
        self.wait_until_loaded(timeout_s)

    def launch(self) -> None:
        """Start the processes without waiting (so a caller can do other work meanwhile)."""
        dagster = Path(sys.executable).with_name("dagster")
        self.log_path = self.log_path or self.cwd / "dagster-dev.log"
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", str(self.workspace)],
            cwd=self.cwd,
            env=dict(self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown reaches every child
        )

    def wait_until_loaded(self, timeout_s: float) -> None:
        try:
            self._wait_until_loaded(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_until_loaded(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                entries = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )["workspaceOrError"]["locationEntries"]
            except (OSError, urllib.error.URLError, KeyError, TypeError) as error:
                last = str(error)
                time.sleep(0.5)
                continue
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [
                    e["locationOrLoadError"]
                    for e in entries
                    if e["locationOrLoadError"]["__typename"] == "PythonError"
                ]
                if errors:
                    raise RuntimeError(f"the code location failed to load: {errors[0]['message']}")
                return
            last = json.dumps(entries)
            time.sleep(0.5)
        raise TimeoutError(f"dagster dev did not load within {timeout_s:.0f} s ({last}):\n{self.log_tail()}")

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def wait_for_run(self, run_id_prefix: str, timeout_s: float = 180.0) -> dict[str, Any]:
        """The run whose id starts with `run_id_prefix` (as the UI's toast shows it), once finished."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = self.graphql(
                "{ runsOrError(limit: 20) { ... on Runs { results { runId status jobName "
                "assetSelection { path } } } } }"
            )["runsOrError"]["results"]
            mine = [r for r in runs if r["runId"].startswith(run_id_prefix)]
            if mine and mine[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return mine[0]
            time.sleep(1)
        raise TimeoutError(f"run {run_id_prefix} did not finish within {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # dagster dev shuts its children down on SIGINT (as on Ctrl-C); anything left is killed.
        self.process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def dismiss_community_modal(page, timeout_ms: int = 3000) -> bool:
    """Click "Skip" on the "Join the Dagster community" modal if it shows.

    The instance remembers the answer, so only the first page of a fresh DAGSTER_HOME shows it;
    call this once the page's own content is there.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    skip = page.get_by_role("button", name="Skip")
    with contextlib.suppress(PlaywrightTimeout):
        skip.wait_for(state="visible", timeout=timeout_ms)
    if not skip.is_visible():
        return False
    skip.click()
    skip.wait_for(state="hidden")
    return True


def keep_picture(source: Path, docs_name: str) -> None:
    """Copy a screenshot into docs/ for the README when VIGIL_DOCS_PICTURES=1."""
    if os.environ.get("VIGIL_DOCS_PICTURES") == "1":
        shutil.copyfile(source, REPO_ROOT / "docs" / docs_name)


_TRUNCATED = re.compile(r"^(?P<head>.*)…(?P<tail>.*)$")


def label_matches(shown: str, name: str) -> bool:
    """The graph middle-truncates long names ("repo_def…_branches")."""
    if shown == name:
        return True
    match = _TRUNCATED.match(shown)
    return bool(match) and name.startswith(match["head"]) and name.endswith(match["tail"])
