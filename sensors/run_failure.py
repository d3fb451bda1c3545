"""Self-healing runs: classify why a Vigil run failed, re-execute the transient ones, file the rest.

A failed run's errors (every step failure, with causes and contexts) are classified as

- `network`: refused or reset connections, timeouts, DNS failures, 502/503/504;
- `rate_limit`: GitHub primary or secondary rate limits (`GitHubRateLimited`, 403/429);
- `lock_timeout`: the warehouse lock (or DuckDB's own file lock) could not be taken in time;
- `bad_data`: inputs that broke a contract: unparsable files, conversion errors, invalid catalogue;
- `code`: anything else, a bug until shown otherwise.

The first three are transient: the run is re-executed from the failure (only the failed steps and
what depends on them) through Dagster's re-execution API (`ReexecutionOptions.from_failure`),
after an exponential backoff with jitter, at most three times per original run. Anything else,
or a transient failure that survives three re-executions, becomes an issue with the diagnosis.
Every decision goes to the ledger.

The re-execution runs inside the sensor's evaluation (the backoff too), so a tick lasts as long
as the re-executed steps; under the daemon, raise DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS for jobs
that take longer than its 60 s default. A failure whose tick timed out after acting is evaluated
again but never re-executed twice: re-executions carry the failed run's id, and that is checked.
"""

import importlib
import os
import random
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

from resources.github import GitHubResource, redact
from resources.issue_tracker import Finding, IssueTrackerResource
from resources.ledger import LedgerResource
from sensors.common import open_issue_tracker, utc_now

ACTOR = "run-failure-sensor"
ATTEMPT_TAG = "vigil/reexecution-attempt"
PARENT_TAG = "vigil/reexecution-of"
CATEGORY_TAG = "vigil/failure-category"
TRANSIENT = frozenset({"network", "rate_limit", "lock_timeout"})
MAX_REEXECUTIONS = 3
DEFAULT_UI_URL = "http://127.0.0.1:3000"


def _rule(classes: Iterable[str], patterns: Iterable[str]) -> tuple[frozenset[str], re.Pattern[str]]:
    return frozenset(classes), re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# Checked in this order: a rate limit or a lock wait often surfaces as a timeout, which is network.
RULES: tuple[tuple[str, tuple[frozenset[str], re.Pattern[str]]], ...] = (
    (
        "rate_limit",
        _rule(
            ["GitHubRateLimited", "RateLimitError", "TooManyRequests"],
            [r"rate.?limit", r"\b429\b", r"x-ratelimit", r"too many requests"],
        ),
    ),
    (
        "lock_timeout",
        _rule(
            ["WarehouseLockTimeout"],
            [
                r"warehouse lock",
                r"could not set lock on file",
                r"conflicting lock",
                r"file lock .* could not be acquired",
                r"database is locked",
            ],
        ),
    ),
    (
        "network",
        _rule(
            [
                "ConnectionError",
                "ConnectTimeout",
                "ReadTimeout",
                "Timeout",
                "TimeoutError",
                "ConnectionRefusedError",
                "ConnectionResetError",
                "ConnectionAbortedError",
                "RemoteDisconnected",
                "ProtocolError",
                "ChunkedEncodingError",
                "NewConnectionError",
                "MaxRetryError",
                "gaierror",
                "IncompleteRead",
            ],  # fmt: skip
            [
                r"connection (refused|reset|aborted|error)",
                r"timed out",
                r"temporary failure in name resolution",
                r"name or service not known",
                r"max retries exceeded",
                r"\b(502|503|504)\b",
                r"server error 5\d\d",
                r"remote end closed connection",
            ],
        ),
    ),
    (
        "bad_data",
        _rule(
            [
                "CatalogueError",
                "ConversionException",
                "InvalidInputException",
                "ParserError",
                "XMLSyntaxError",
                "JSONDecodeError",
                "UnicodeDecodeError",
                "ValidationError",
                "DagsterTypeCheckDidNotPass",
                "ConstraintException",
                "BadZipFile",
                "DefusedXmlException",
            ],  # fmt: skip
            [
                r"warehouse contract",
                r"not in .* contract",
                r"conversion error",
                r"could not convert",
                r"invalid (input|data|value)",
                r"malformed",
                r"not valid (yaml|json|xml)",
                r"schema mismatch",
                r"expectation .* failed",
            ],
        ),
    ),
)


@dataclass(frozen=True)
class ErrorLink:
    """One exception of a failure's chain (the error, its causes and contexts)."""

    cls_name: str
    message: str


@dataclass(frozen=True)
class Diagnosis:
    category: str
    error_class: str
    message: str
    step_key: str | None = None

    @property
    def transient(self) -> bool:
        return self.category in TRANSIENT


def classify(chain: Sequence[ErrorLink]) -> str:
    """The failure category of an error chain (see the module docstring)."""
    for category, (classes, pattern) in RULES:
        for link in chain:
            if link.cls_name.rsplit(".", 1)[-1] in classes or pattern.search(link.message):
                return category
    return "code"


def error_chain(error: object | None) -> list[ErrorLink]:
    """A Dagster SerializableErrorInfo flattened into its error, causes and contexts."""
    links: list[ErrorLink] = []
    seen: set[int] = set()
    stack = [error]
    while stack:
        info = stack.pop()
        if info is None or id(info) in seen:
            continue
        seen.add(id(info))
        links.append(ErrorLink(getattr(info, "cls_name", None) or "", getattr(info, "message", "") or ""))
        stack += [getattr(info, "context", None), getattr(info, "cause", None)]
    return links


def _user_error(chain: Sequence[ErrorLink]) -> ErrorLink:
    # Dagster wraps user errors (DagsterExecutionStepExecutionError ...); name the user's own error.
    for link in chain:
        if link.cls_name and not link.cls_name.startswith("Dagster"):
            return link
    return chain[0] if chain else ErrorLink("unknown", "")


def diagnose_failure(context: dg.RunFailureSensorContext) -> Diagnosis:
    failures: list[tuple[str | None, list[ErrorLink]]] = [
        (event.step_key, error_chain(event.step_failure_data.error if event.step_failure_data else None))
        for event in context.get_step_failure_events()
    ]
    if not failures:
        data = context.failure_event.event_specific_data
        failures = [
            (
                None,
                error_chain(getattr(data, "error", None))
                or [ErrorLink("", context.failure_event.message or "")],
            )
        ]
    # The first failing step is the cause; later failures are usually its consequences.
    step_key, chain = failures[0]
    every_link = [link for _, links in failures for link in links]
    user = _user_error(chain)
    category = classify(chain) if chain else classify(every_link)
    message = redact(user.message.strip().splitlines()[0] if user.message.strip() else "")[:500]
    return Diagnosis(category, user.cls_name.rsplit(".", 1)[-1] or "unknown", message, step_key)


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential with equal jitter: half of base * 2^(attempt-1) fixed, half random."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not cryptography


def job_from_definitions(module: str, attribute: str, job_name: str) -> dg.JobDefinition:
    """Module-level job loader, so `build_reconstructable_job` can rebuild any Definitions job."""
    return getattr(importlib.import_module(module), attribute).resolve_job_def(job_name)


def failure_finding(run: dg.DagsterRun, diagnosis: Diagnosis, attempts: int, reason: str) -> Finding:
    ui = os.environ.get("VIGIL_UI_URL", DEFAULT_UI_URL).rstrip("/")
    partition = run.tags.get("dagster/partition")
    return Finding(
        kind="run-failure",
        key=f"{run.job_name}:{diagnosis.category}:{diagnosis.error_class}",
        title=f"Vigil run failed: {run.job_name} ({diagnosis.category.replace('_', ' ')}: {diagnosis.error_class})",
        summary=(
            f"Run `{run.run_id}` of `{run.job_name}`"
            + (f" (partition {partition})" if partition else "")
            + f" failed in step `{diagnosis.step_key or 'run'}`.\n\n"
            f"**Diagnosis:** {diagnosis.category.replace('_', ' ')}. {reason}\n\n"
            f"```\n{diagnosis.error_class}: {diagnosis.message}\n```"
        ),
        observed_at=utc_now(),
        occurrence=run.run_id,
        figures={
            "job": run.job_name,
            "run": run.run_id,
            "step": diagnosis.step_key or "",
            "category": diagnosis.category,
            "re-executions": attempts,
            "partition": partition or "",
        },
        links=((f"run {run.run_id[:8]} in Dagster", f"{ui}/runs/{run.run_id}"),),
    )


def make_run_failure_sensor(
    definitions_module: str = "observability_assets.definitions",
    definitions_attribute: str = "defs",
    *,
    backoff_base_s: float = 5.0,
    backoff_max_s: float = 60.0,
    max_reexecutions: int = MAX_REEXECUTIONS,
    name: str = "run_failure_sensor",
) -> dg.RunStatusSensorDefinition:
    """The run-failure sensor for the jobs of `definitions_module.definitions_attribute`."""
    if not 0 <= max_reexecutions <= MAX_REEXECUTIONS:
        raise ValueError(f"max_reexecutions must be between 0 and {MAX_REEXECUTIONS}")

    @dg.run_failure_sensor(
        name=name,
        # Runs started from the CLI (execute_in_process) carry no code location; match them by
        # job name below instead of by location.
        monitor_all_code_locations=True,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Failed Vigil runs: network, rate-limit and lock-timeout failures are re-executed from the "
            f"failure with exponential backoff (at most {max_reexecutions} times); bad data and code "
            "errors, and transient failures that persist, open an issue with the diagnosis."
        ),
    )
    def _sensor(
        context: dg.RunFailureSensorContext,
        ledger: LedgerResource,
        issue_tracker: IssueTrackerResource,
        github: GitHubResource,
    ) -> None:
        run = context.dagster_run
        if context.repository_def is not None and not context.repository_def.has_job(run.job_name):
            return
        diagnosis = diagnose_failure(context)
        attempts = int(run.tags.get(ATTEMPT_TAG, "0"))
        the_ledger = ledger.get()
        detail = {
            "job": run.job_name,
            "root_run": run.root_run_id or run.run_id,
            "category": diagnosis.category,
            "transient": diagnosis.transient,
            "error_class": diagnosis.error_class,
            "message": diagnosis.message,
            "step": diagnosis.step_key,
            "reexecutions_so_far": attempts,
        }
        # A failure handled before (a tick that timed out after acting is evaluated again) is not
        # handled twice: its re-execution carries the failed run's id.
        earlier = context.instance.get_runs(filters=dg.RunsFilter(tags={PARENT_TAG: run.run_id}), limit=1)
        if earlier:
            the_ledger.append(
                ACTOR,
                "run.skipped",
                run.run_id,
                detail | {"reason": f"already re-executed as {earlier[0].run_id}"},
            )
            return
        if diagnosis.transient and attempts < max_reexecutions:
            delay = backoff_s(attempts + 1, backoff_base_s, backoff_max_s)
            the_ledger.append(
                ACTOR,
                "run.reexecute",
                run.run_id,
                detail | {"attempt": attempts + 1, "delay_s": round(delay, 3)},
            )
            time.sleep(delay)
            new_run_id, success = _reexecute(context.instance, run, diagnosis, attempts + 1)
            the_ledger.append(
                ACTOR,
                "run.reexecuted",
                run.run_id,
                detail | {"attempt": attempts + 1, "new_run": new_run_id, "success": success},
            )
            context.log.info(f"re-executed {run.run_id} from failure as {new_run_id}: success={success}")
            return
        reason = (
            f"Still failing after {attempts} re-executions from the failure; it is not going away by itself."
            if diagnosis.transient
            else f"A {diagnosis.category.replace('_', ' ')} failure does not go away by re-running; it needs a person."
        )
        finding = failure_finding(run, diagnosis, attempts, reason)
        with open_issue_tracker(issue_tracker, the_ledger, github) as tracker:
            report = tracker.report([finding], drains=["run-failure"])
        the_ledger.append(
            ACTOR,
            "run.escalated",
            run.run_id,
            detail | {"reason": reason, "issue_url": report.urls.get(finding.fingerprint)},
        )

    def _reexecute(
        instance: dg.DagsterInstance, run: dg.DagsterRun, diagnosis: Diagnosis, attempt: int
    ) -> tuple[str, bool]:
        job = dg.build_reconstructable_job(
            "sensors.run_failure",
            "job_from_definitions",
            reconstructable_args=(definitions_module, definitions_attribute, run.job_name),
        )
        tags = {ATTEMPT_TAG: str(attempt), PARENT_TAG: run.run_id, CATEGORY_TAG: diagnosis.category}
        result = dg.execute_job(
            job,
            instance,
            tags=tags,
            reexecution_options=dg.ReexecutionOptions.from_failure(run.run_id, instance),
        )
        return result.run_id, result.success

    return _sensor
