"""raw.dependency_alerts: the Dependabot alerts of every crawled repository.

`GET /repos/{owner}/{repo}/dependabot/alerts` lists an alert's current state, so the table is a
snapshot replaced as a whole at each crawl (every state: open alerts for risk, fixed and
dismissed ones for time to fix). Pages follow `Link: rel="next"` and go through the GitHub
client's ETag cache, so an unchanged repository costs a 304 per page. A repository whose alerts
are disabled or not readable with the token (403/404) is recorded in `ops.rejected_inputs` and the
other repositories still load.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import DEPENDENCY_ALERTS
from observability_assets.ingest.github_source import open_github, permanent_github_errors_fail_fast
from resources.github import GitHubError, GitHubResource
from resources.warehouse import Warehouse, WarehouseResource, quote_identifier

SOURCE = "dependabot_alerts"
UNAVAILABLE = frozenset({403, 404})


def alert_row(repo: str, alert: dict[str, Any], fetched_at: datetime) -> dict[str, Any]:
    """One raw.dependency_alerts row from GitHub's alert object."""
    dependency = alert.get("dependency") or {}
    package = dependency.get("package") or {}
    advisory = alert.get("security_advisory") or {}
    vulnerability = alert.get("security_vulnerability") or {}
    patched = (vulnerability.get("first_patched_version") or {}).get("identifier")
    return {
        "repo": repo,
        "number": int(alert["number"]),
        "package": package.get("name"),
        "ecosystem": package.get("ecosystem"),
        "manifest_path": dependency.get("manifest_path"),
        "scope": dependency.get("scope"),
        "severity": advisory.get("severity") or vulnerability.get("severity"),
        "ghsa_id": advisory.get("ghsa_id"),
        "cve_id": advisory.get("cve_id"),
        "summary": (advisory.get("summary") or "")[:1000] or None,
        "state": alert.get("state"),
        "vulnerable_version_range": vulnerability.get("vulnerable_version_range"),
        "first_patched_version": patched,
        "fix_available": patched is not None,
        "created_at": _time(alert.get("created_at")),
        "fixed_at": _time(alert.get("fixed_at")),
        "dismissed_at": _time(alert.get("dismissed_at")),
        "auto_dismissed_at": _time(alert.get("auto_dismissed_at")),
        "dismissed_reason": alert.get("dismissed_reason"),
        "html_url": alert.get("html_url"),
        "fetched_at": fetched_at,
    }


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def to_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=DEPENDENCY_ALERTS.column_names)
    frame["number"] = frame["number"].astype("Int64")
    return frame


def replace_alerts(warehouse: Warehouse, frame: Any) -> int:
    """Replace every row of raw.dependency_alerts in one transaction (the crawl is a snapshot)."""
    columns = ", ".join(quote_identifier(c) for c in DEPENDENCY_ALERTS.column_names)
    with warehouse.write("replace raw.dependency_alerts") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("incoming_alerts", frame)
            con.execute("DELETE FROM raw.dependency_alerts")
            # Column names come from contract.py, never from data.
            insert = f"INSERT INTO raw.dependency_alerts ({columns}) SELECT {columns} FROM incoming_alerts"  # noqa: S608
            con.execute(insert)
            con.unregister("incoming_alerts")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(frame)


@dg.asset(
    key=DEPENDENCY_ALERTS.qualified_name.split("."),
    description=DEPENDENCY_ALERTS.comment,
    group_name="ingest",
    kinds={"github", "duckdb"},
    owners=["team:security"],
    metadata={"dagster/column_schema": column_schema(DEPENDENCY_ALERTS)},
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def dependency_alerts(
    context: AssetExecutionContext, warehouse: WarehouseResource, github: GitHubResource
) -> dg.MaterializeResult:
    """Crawl every repository's Dependabot alerts and replace raw.dependency_alerts with them."""
    fetched_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows: list[dict[str, Any]] = []
    rejections: list[tuple[str, str]] = []
    with permanent_github_errors_fail_fast():
        source = open_github(github)
        client = source.make_client()
        for repo in source.repos:
            try:
                alerts = client.list_dependabot_alerts(repo)
            except GitHubError as error:
                if error.status not in UNAVAILABLE:
                    raise
                rejections.append((f"{repo}/dependabot/alerts", f"alerts not readable: {error}"))
                continue
            rows += [alert_row(repo, alert, fetched_at) for alert in alerts]
    frame = to_frame(rows)
    wh = warehouse.get()
    count = replace_alerts(wh, frame)
    if rejections:
        wh.record_rejections(SOURCE, "", rejections)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": count,
            "repositories": len({r["repo"] for r in rows}),
            "open_alerts": int((frame["state"] == "open").sum()),
            "rejected_inputs": len(rejections),
        }
    )
