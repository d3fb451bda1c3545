"""Where test reports come from: the Dagster resource that configures raw.test_results."""

import dagster as dg
from pydantic import Field

from observability_assets.core.process_pool import usable_cores
from resources.paths import data_path

# "artifact" is upload-artifact's default name, common for a workflow's only report upload.
DEFAULT_ARTIFACT_PATTERNS = "*junit*,*test-results*,*test-report*,*surefire*,artifact"


class JUnitSourceConfig(dg.ConfigurableResource):
    """Where test reports come from and how they are parsed (env `VIGIL_JUNIT_ARTIFACTS`,
    `VIGIL_JUNIT_GLOB`, `VIGIL_JUNIT_LANDING`, `VIGIL_PARSE_WORKERS`)."""

    artifact_patterns: str = Field(
        default=DEFAULT_ARTIFACT_PATTERNS,
        description="Comma-separated globs of artifact names that hold JUnit reports (case-insensitive).",
    )
    report_glob: str = Field(
        default="**/*.xml", description="Glob of report files inside an artifact or drop."
    )
    landing_dir: str = Field(
        default_factory=lambda: data_path("landing", "junit"),
        description="Landing folder for non-GitHub CI systems.",
    )
    max_artifact_bytes: int = Field(default=512 * 1024 * 1024, description="Largest artifact zip downloaded.")
    parse_workers: int = Field(
        default=0,
        ge=0,
        description="Processes that parse a big day's reports: 0 for one per usable CPU core, "
        "1 for the asset's own process only.",
    )

    def workers(self) -> int:
        return self.parse_workers or usable_cores()
