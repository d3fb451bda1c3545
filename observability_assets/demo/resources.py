"""The simulator's resource implementations, which the composition root plugs in in demo mode.

The simulator itself (pandas, numpy, the servers) is imported on first use, not when the
definitions load.

- `DemoGitHubResource`: the simulated organisation served by a loopback GitHub-compatible server
  started once per process (`embedded.embedded_github`), so the CLI, Dagster step processes and
  tests see identical data over real HTTP, through the same client as github.com.
- `DemoServicesResource`: `demo://NAME` services started inside the process, their simulated
  probe history for the days of the demo window, and their admin endpoints for remediation.

Production modules never import this package: they see a `GitHubResource` and a
`ServiceRuntimeResource` and cannot tell.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from observability_assets.core.service_catalogue import DEMO_SCHEME, Service, ServiceCatalogue
from observability_assets.demo.settings import DEFAULT_DEMO_DAYS, DEFAULT_DEMO_START
from resources.github import GitHubClient, GitHubResource
from resources.paths import data_path
from resources.remediator import RemediatorResource, ServiceTarget
from resources.service_runtime import ServiceRuntimeResource

if TYPE_CHECKING:
    import pandas as pd

DEMO_API_URL = "demo"


class DemoGitHubResource(GitHubResource):
    """The simulated organisation (`VIGIL_DEMO_SEED`, `VIGIL_START_DATE`, `VIGIL_DEMO_DAYS`)."""

    api_url: str = DEMO_API_URL
    simulated: ClassVar[bool] = True
    state_dir: str = Field(
        default_factory=lambda: data_path("demo"),
        description="Where the demo server keeps the issues it was sent, shared by every process.",
    )

    @property
    def cache_namespace(self) -> str:
        # The server's port changes with every process; the organisation does not.
        return "demo"

    def client(self) -> GitHubClient:
        from observability_assets.demo.embedded import embedded_github

        demo = embedded_github(state_dir=self.state_dir)
        return self._client(demo.url, demo.token)

    def repositories(self) -> list[str]:
        """All simulated repositories, or those `VIGIL_GITHUB_REPOS` narrows them to."""
        from observability_assets.demo.embedded import embedded_github

        available = embedded_github(state_dir=self.state_dir).repos
        wanted = [item.strip() for item in self.repos.split(",") if item.strip()]
        if not wanted:
            return available
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise ValueError(f"repositories {unknown} are not in the simulated organisation {available}")
        return wanted

    def describe(self) -> str:
        return "embedded simulated organisation (demo mode)"


class DemoServicesResource(ServiceRuntimeResource):
    """The embedded demo services (``demo://NAME`` URLs) and their simulated history.

    The simulated history covers the demo window, `days` UTC days from `start_date`, the same
    window as the simulated GitHub organisation (`VIGIL_START_DATE`, `VIGIL_DEMO_DAYS`).
    """

    seed: int = Field(default=7, description="Seed of the demo services and their simulated history.")
    start_date: str = Field(default=DEFAULT_DEMO_START, description="First day (UTC) of the demo window.")
    days: int = Field(default=DEFAULT_DEMO_DAYS, description="Length of the demo window in days (1 to 366).")
    labels_path: str = Field(
        default_factory=lambda: data_path("demo", "health_labels.json"),
        description="Where the labels of the simulated incidents are written.",
    )

    def window(self) -> tuple[date, date]:
        """First and last day of the demo window."""
        if not 1 <= self.days <= 366:
            raise ValueError(f"the demo window must last 1 to 366 days, got {self.days}")
        first = date.fromisoformat(self.start_date)
        return first, first + timedelta(days=self.days - 1)

    def resolver(self, urls: Iterable[str]) -> Callable[[str], str]:
        """demo:// URLs resolve to this process's embedded demo services (started on first use)."""
        from observability_assets.demo.embedded_services import embedded_services

        return embedded_services(self.seed).resolve

    def recorded_days(self, catalogue: ServiceCatalogue, days: Sequence[date]) -> list[date]:
        """Past days of the demo window load the simulated history (and write its labels)."""
        if not any(s.is_demo for s in catalogue):
            return []
        first, last = self.window()
        today = datetime.now(UTC).date()
        recorded = [d for d in days if first <= d <= last and d < today]
        if recorded:
            self._write_labels(catalogue)
        return recorded

    def recorded_day(self, catalogue: ServiceCatalogue, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the day's simulated probes, the warm-up probes before it) for the catalogue's demo services."""
        from observability_assets.demo.health_history import plan_incidents, simulate_day
        from observability_assets.ingest.health_probes import STATE_WARMUP

        demo_services = [s for s in catalogue if s.is_demo]
        targets = [(s.name, url) for s in demo_services for url in s.health_urls]
        first, _ = self.window()
        incidents = plan_incidents([s.name for s in demo_services], first, self.days, self.seed)
        frame = simulate_day(targets, day, incidents, self.seed)
        previous = simulate_day(targets, day - timedelta(days=1), incidents, self.seed)
        midnight = datetime.combine(day, datetime.min.time())
        warmup = previous[previous["probed_at"] >= midnight - STATE_WARMUP].reset_index(drop=True)
        return frame, warmup

    def _write_labels(self, catalogue: ServiceCatalogue) -> Path:
        """Write the labels of the simulated incidents (deterministic: same file for the same settings)."""
        from observability_assets.demo.health_history import labels_document, plan_incidents

        first, _ = self.window()
        names = [s.name for s in catalogue if s.is_demo]
        incidents = plan_incidents(names, first, self.days, self.seed)
        document = labels_document(incidents, catalogue, seed=self.seed, first_day=first, days=self.days)
        path = Path(self.labels_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path

    def target(self, service: Service, remediator: RemediatorResource) -> ServiceTarget:
        """The embedded demo service for `demo://` URLs (same process); others as configured."""
        from observability_assets.demo.embedded_services import embedded_services

        if urlsplit(service.base_url).scheme != DEMO_SCHEME:
            return remediator.target_for(service)
        registry = embedded_services(self.seed)
        demo = registry.service(urlsplit(service.base_url).netloc)
        return ServiceTarget(
            tuple(demo.url + path for path in service.health_paths), demo.admin_url, registry.admin_token
        )
