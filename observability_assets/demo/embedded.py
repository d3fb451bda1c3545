"""The embedded default: the simulated organisation served over real HTTP inside this process.

In demo mode every process that needs GitHub starts its own
loopback server over the same deterministic organisation, so the CLI, `dagster dev` step
processes and tests all see identical data without any set-up. Issues are shared between those
processes through a state file, so deduplication works across them as it would on github.com.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from observability_assets.demo.settings import DEFAULT_DEMO_DAYS, DEFAULT_DEMO_START
from observability_assets.demo.simulator import OrgSpec
from resources.paths import data_path


@dataclass(frozen=True)
class EmbeddedGitHub:
    url: str
    token: str
    repos: list[str]


def demo_spec_from_env() -> OrgSpec:
    """The demo organisation: `VIGIL_DEMO_SEED`, `VIGIL_DEMO_DAYS`, starting at `VIGIL_START_DATE`."""
    return OrgSpec(
        seed=int(os.environ.get("VIGIL_DEMO_SEED", "7")),
        start=date.fromisoformat(os.environ.get("VIGIL_START_DATE", DEFAULT_DEMO_START)),
        days=int(os.environ.get("VIGIL_DEMO_DAYS", str(DEFAULT_DEMO_DAYS))),
    )


@cache
def embedded_github(spec: OrgSpec | None = None, state_dir: str | None = None) -> EmbeddedGitHub:
    """Start (once per process) the loopback GitHub server for the demo organisation."""
    from observability_assets.demo.github_server import GitHubServer
    from observability_assets.demo.simulator import simulate

    org = simulate(spec or demo_spec_from_env())
    state = Path(state_dir or data_path("demo"))
    state.mkdir(parents=True, exist_ok=True)
    # A fresh random token per process: the demo exercises real Authorization handling, and a
    # token that leaks into a log would be caught by the same tests as a real one.
    token = secrets.token_hex(16)
    # The simulated API is generous: a full demo crawl needs far more than 5,000 requests an hour.
    server = GitHubServer(org, token=token, issues_state_path=state / "github_issues.json", rate_limit=10**9)
    url = server.start()
    return EmbeddedGitHub(url=url, token=token, repos=list(org.repos))
