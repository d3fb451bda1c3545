"""JUnit XML reports as four real tools write them, and the artifact zip that carries them.

One test job's results are three arrays over its repository's test catalogue: the reason a case
did not simply pass (see `sim_tests`), how many of its executions failed, and its `time`. The same
arrays feed `executions()`, so the reports and the simulator's truth frame cannot disagree.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from observability_assets.demo import sim_secrets
from observability_assets.demo.sim_tests import (
    GO,
    INFRA,
    JEST,
    PYTEST,
    SKIP,
    SUREFIRE,
    FailureText,
    TestCatalogue,
    failure_text,
    skip_message,
)


@dataclass(frozen=True)
class JobResults:
    """What one test job wrote: per test case reason, failed executions and time attribute."""

    reason: np.ndarray  # int8, sim_tests.PASS/ASSERT/FLAKY/INFRA/SKIP
    fails: np.ndarray  # int8, failed executions (0 .. catalogue.max_executions)
    time_s: np.ndarray  # float, seconds, already rounded to milliseconds


@dataclass(frozen=True)
class ReportContext:
    timestamp: str  # when the test step started, ISO without zone
    hostname: str
    runner_os: str  # Linux, Windows or macOS
    artifact_id: int = 0
    # Seed of the planted secrets corpus (`sim_secrets`); None writes the plain failure texts.
    plant_seed: int | None = None
    # (catalogue, test, reason) -> the failure's text (`sim_failure_causes`); None: sim_tests' plain texts
    failure_texts: Callable[[TestCatalogue, int, int], FailureText] | None = None


def _failure(catalogue: TestCatalogue, test: int, reason: int, context: ReportContext) -> FailureText:
    if context.failure_texts is not None:
        text = context.failure_texts(catalogue, test, reason)
    else:
        text = failure_text(catalogue, test, reason)
    if context.plant_seed is None:
        return text
    return sim_secrets.decorate(text, catalogue.dialect, context.plant_seed, context.artifact_id, test)


def execution_counts(fails: np.ndarray, max_executions: int) -> np.ndarray:
    """How many <testcase>-level executions each case has in the report.

    Without reruns every case is one execution. With Surefire reruns a failing case runs again
    until it passes or has run `max_executions` times.
    """
    if max_executions == 1:
        return np.ones_like(fails, dtype=np.int64)
    return np.where(fails == 0, 1, np.minimum(fails.astype(np.int64) + 1, max_executions))


def final_failed(fails: np.ndarray, max_executions: int) -> np.ndarray:
    """Cases whose last execution failed (they fail the job)."""
    return fails >= max_executions


def executions(catalogue: TestCatalogue, results: JobResults, test: int) -> list[str]:
    """Outcome of each execution of one case, in order: passed, failed, error or skipped."""
    reason, fails = int(results.reason[test]), int(results.fails[test])
    if reason == SKIP:
        return ["skipped"]
    bad = "error" if reason == INFRA and catalogue.has_error_outcome else "failed"
    outcomes = [bad] * fails
    if fails < catalogue.max_executions:
        outcomes.append("passed")
    return outcomes


def render_reports(
    catalogue: TestCatalogue, results: JobResults, context: ReportContext
) -> list[tuple[str, bytes]]:
    """The report files (path inside the artifact, UTF-8 XML bytes) for one test job."""
    writer = {PYTEST: _pytest, JEST: _jest, SUREFIRE: _surefire, GO: _go}[catalogue.dialect]
    files = []
    for path, tests in _by_report(catalogue):
        files.append((path, writer(catalogue, results, context, tests).encode("utf-8")))
    return files


def zip_reports(files: list[tuple[str, bytes]], date_time: tuple[int, int, int, int, int, int]) -> bytes:
    """A deterministic zip: fixed member order, timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _by_report(catalogue: TestCatalogue) -> Iterator[tuple[str, list[int]]]:
    """Test indices grouped by report file, in catalogue order."""
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(catalogue.report_path):
        groups.setdefault(path, []).append(i)
    yield from groups.items()


def _by_suite(catalogue: TestCatalogue, tests: list[int]) -> Iterator[tuple[str, list[int]]]:
    groups: dict[str, list[int]] = {}
    for i in tests:
        groups.setdefault(catalogue.suite[i], []).append(i)
    yield from groups.items()


@dataclass(frozen=True)
class _Counts:
    tests: int
    failures: int
    errors: int
    skipped: int
    time: float


def _counts(catalogue: TestCatalogue, results: JobResults, tests: list[int]) -> _Counts:
    failed = final_failed(results.fails[tests], catalogue.max_executions)
    reasons = results.reason[tests]
    errors = failed & (reasons == INFRA) if catalogue.has_error_outcome else np.zeros_like(failed)
    return _Counts(
        tests=len(tests),
        failures=int((failed & ~errors).sum()),
        errors=int(errors.sum()),
        skipped=int((reasons == SKIP).sum()),
        time=float(results.time_s[tests].sum()),
    )


def _a(value: object) -> str:
    return quoteattr(str(value))


def _t(seconds: float) -> str:
    return f"{seconds:.3f}"


# -- pytest (junit_family=xunit1: classname, name, file, line, time) -------------------------------


def _pytest(catalogue: TestCatalogue, results: JobResults, context: ReportContext, tests: list[int]) -> str:
    c = _counts(catalogue, results, tests)
    out = [
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">',
        f'<testsuite name="pytest" errors="{c.errors}" failures="{c.failures}" skipped="{c.skipped}" '
        f'tests="{c.tests}" time="{_t(c.time)}" timestamp="{context.timestamp}.000000+00:00" '
        f"hostname={_a(context.hostname)}>",
    ]
    for i in tests:
        attrs = (
            f"<testcase classname={_a(catalogue.classname[i])} name={_a(catalogue.name[i])} "
            f'file={_a(catalogue.file[i])} line="{catalogue.line[i]}" time="{_t(results.time_s[i])}"'
        )
        reason, fails = int(results.reason[i]), int(results.fails[i])
        if reason == SKIP:
            msg = skip_message(catalogue, i)
            out.append(
                f'{attrs}><skipped type="pytest.skip" message={_a(msg)}>'
                f"{escape(f'{catalogue.file[i]}:{catalogue.line[i]}: {msg}')}</skipped></testcase>"
            )
        elif fails:
            text = _failure(catalogue, i, reason, context)
            out.append(
                f"{attrs}><{text.element} message={_a(text.message)}>{escape(text.body)}</{text.element}></testcase>"
            )
        else:
            out.append(f"{attrs} />")
    out.append("</testsuite></testsuites>")
    return "\n".join(out)


# -- jest-junit -----------------------------------------------------------------------------------


def _jest(catalogue: TestCatalogue, results: JobResults, context: ReportContext, tests: list[int]) -> str:
    total = _counts(catalogue, results, tests)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="jest tests" tests="{total.tests}" failures="{total.failures}" errors="0" '
        f'time="{_t(total.time)}">',
    ]
    for suite, members in _by_suite(catalogue, tests):
        c = _counts(catalogue, results, members)
        out.append(
            f'  <testsuite name={_a(suite)} errors="0" failures="{c.failures}" skipped="{c.skipped}" '
            f'timestamp="{context.timestamp}" time="{_t(c.time)}" tests="{c.tests}">'
        )
        for i in members:
            out.append(
                f"    <testcase classname={_a(catalogue.classname[i])} name={_a(catalogue.name[i])} "
                f'time="{_t(results.time_s[i])}">'
            )
            if results.reason[i] == SKIP:
                out.append("      <skipped/>")
            elif results.fails[i]:
                out.append(
                    f"      <failure>{escape(_failure(catalogue, i, int(results.reason[i]), context).body)}</failure>"
                )
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out)


# -- Maven Surefire (one TEST-<class>.xml per class, reruns as rerun*/flaky* elements) -------------

_SUREFIRE_XSD = "https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd"


def _surefire(catalogue: TestCatalogue, results: JobResults, context: ReportContext, tests: list[int]) -> str:
    c = _counts(catalogue, results, tests)
    suite = catalogue.suite[tests[0]]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:noNamespaceSchemaLocation="{_SUREFIRE_XSD}" version="3.0" name={_a(suite)} '
        f'time="{_t(c.time)}" tests="{c.tests}" errors="{c.errors}" skipped="{c.skipped}" '
        f'failures="{c.failures}">',
        "  <properties>",
        '    <property name="java.version" value="21.0.5"/>',
        f"    <property name={_a('os.name')} value={_a(context.runner_os)}/>",
        "  </properties>",
    ]
    for i in tests:
        attrs = (
            f"  <testcase name={_a(catalogue.name[i])} classname={_a(catalogue.classname[i])} "
            f'time="{_t(results.time_s[i])}"'
        )
        reason, fails = int(results.reason[i]), int(results.fails[i])
        if reason == SKIP:
            out.append(f"{attrs}>\n    <skipped message={_a(skip_message(catalogue, i))}/>\n  </testcase>")
            continue
        if not fails:
            out.append(f"{attrs}/>")
            continue
        text = _failure(catalogue, i, reason, context)
        kind = text.element.capitalize()  # Failure or Error
        head = f"message={_a(text.message)} type={_a(text.type)}"
        stack = f"      <stackTrace><![CDATA[{text.body}]]></stackTrace>"
        out.append(f"{attrs}>")
        if fails >= catalogue.max_executions:
            out.append(f"    <{text.element} {head}><![CDATA[{text.body}]]></{text.element}>")
            out.extend([f"    <rerun{kind} {head}>", stack, f"    </rerun{kind}>"] * (fails - 1))
        else:
            out.extend([f"    <flaky{kind} {head}>", stack, f"    </flaky{kind}>"] * fails)
        out.append("  </testcase>")
    out.append("</testsuite>")
    return "\n".join(out)


# -- go-junit-report v2 ---------------------------------------------------------------------------


def _go(catalogue: TestCatalogue, results: JobResults, context: ReportContext, tests: list[int]) -> str:
    total = _counts(catalogue, results, tests)
    goos = {"Linux": "linux", "Windows": "windows", "macOS": "darwin"}[context.runner_os]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites tests="{total.tests}" failures="{total.failures}" skipped="{total.skipped}">',
    ]
    for n, (suite, members) in enumerate(_by_suite(catalogue, tests)):
        c = _counts(catalogue, results, members)
        out += [
            f'\t<testsuite name={_a(suite)} tests="{c.tests}" failures="{c.failures}" errors="0" id="{n}" '
            f'hostname={_a(context.hostname)} skipped="{c.skipped}" time="{_t(c.time)}" '
            f'timestamp="{context.timestamp}Z">',
            "\t\t<properties>",
            f'\t\t\t<property name="go.version" value="go1.23.4 {goos}/amd64"></property>',
            "\t\t</properties>",
        ]
        for i in members:
            attrs = (
                f"\t\t<testcase name={_a(catalogue.name[i])} classname={_a(catalogue.classname[i])} "
                f'time="{_t(results.time_s[i])}">'
            )
            if results.reason[i] == SKIP:
                body = (
                    f"    {suite.rsplit('/', 1)[1]}_test.go:{catalogue.line[i]}: {skip_message(catalogue, i)}"
                )
                out.append(
                    f'{attrs}\n\t\t\t<skipped message="Skipped"><![CDATA[{body}]]></skipped>\n\t\t</testcase>'
                )
            elif results.fails[i]:
                text = _failure(catalogue, i, int(results.reason[i]), context)
                out.append(
                    f"{attrs}\n\t\t\t<failure message={_a(text.message)}><![CDATA[{text.body}]]></failure>\n"
                    "\t\t</testcase>"
                )
            else:
                out.append(f"{attrs}</testcase>")
        out.append("\t</testsuite>")
    out.append("</testsuites>")
    return "\n".join(out)
