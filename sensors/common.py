"""What the acting sensors share: opening the issue tracker, finding tables, resolving services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from observability_assets.core.service_catalogue import Service
from resources.github import GitHubResource
from resources.http_probe import DemoServicesResource
from resources.issue_tracker import IssueTracker, IssueTrackerResource
from resources.ledger import Ledger
from resources.remediator import RemediatorResource, ServiceTarget

if TYPE_CHECKING:
    import duckdb

# Sensor and run tag showing whether remediation acts; the UI lists it on every remediation run.
MODE_TAG = "vigil/remediation"


def utc_now() -> datetime:
    """Now as the warehouse stores times: UTC without a zone."""
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def open_issue_tracker(
    issue_tracker: IssueTrackerResource, ledger: Ledger, github: GitHubResource
) -> Iterator[IssueTracker]:
    """The tracker, with a GitHub client only when issues are really opened (`VIGIL_ISSUES=github`).

    `GITHUB_API_URL=demo` resolves to this process's embedded GitHub server.
    """
    if not issue_tracker.opens_issues:
        yield issue_tracker.tracker(ledger, None)
        return
    if github.is_demo:
        from observability_assets.demo.embedded import embedded_github

        demo = embedded_github()
        client = github.client(base_url=demo.url, token=demo.token)
    else:
        client = github.client()
    with client:
        yield issue_tracker.tracker(ledger, client)


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """`schema.name` of every table in the warehouse (marts built by other assets may be missing)."""
    rows = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()
    return {name for (name,) in rows}


def service_target(
    service: Service, remediator: RemediatorResource, demo_services: DemoServicesResource
) -> ServiceTarget:
    """Where to probe and act on `service`: the embedded demo service for `demo://` URLs (same
    process), otherwise the catalogue URLs and the admin endpoint from the remediator's config."""
    if not service.is_demo:
        return remediator.target_for(service)
    from observability_assets.demo.embedded_services import embedded_services

    registry = embedded_services(demo_services.seed)
    demo = registry.service(urlsplit(service.base_url).netloc)
    return ServiceTarget(
        tuple(demo.url + path for path in service.health_paths), demo.admin_url, registry.admin_token
    )
