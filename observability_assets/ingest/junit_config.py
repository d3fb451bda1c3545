"""Where test reports come from: the Dagster resource that configures raw.test_results."""

import dagster as dg
from pydantic import Field

DEFAULT_ARTIFACT_PATTERNS = "*junit*,*test-results*,*test-report*,*surefire*"


class JUnitSourceConfig(dg.ConfigurableResource):
    """Where test reports come from (env `VIGIL_JUNIT_ARTIFACTS`, `VIGIL_JUNIT_GLOB`, `VIGIL_JUNIT_LANDING`)."""

    artifact_patterns: str = Field(
        default=DEFAULT_ARTIFACT_PATTERNS,
        description="Comma-separated globs of artifact names that hold JUnit reports.",
    )
    report_glob: str = Field(
        default="**/*.xml", description="Glob of report files inside an artifact or drop."
    )
    landing_dir: str = Field(
        default="data/landing/junit", description="Landing folder for non-GitHub CI systems."
    )
    max_artifact_bytes: int = Field(default=512 * 1024 * 1024, description="Largest artifact zip downloaded.")
    cache_dir: str = Field(default="data/cache/artifacts", description="Downloaded artifacts, by id.")
