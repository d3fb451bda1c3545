"""Every real report in the shared fixtures parses to the right number of executions per outcome.

How EXPECTED was derived (independently of Vigil's parser): a throwaway script parsed each file
into a full lxml tree and counted with XPath, applying the documented dialect rules:

* skipped  = count(//testcase[<skip status> or (skipped and not(failure) and not(error))]),
  where <skip status> is @status in disabled/skipped/skip/notrun/not run/ignored (any case)
  or @result in skipped/suppressed;
* error    = count(//testcase[not(<skip status>) and error])
             + count(//testcase/flakyError) + count(//testcase/rerunError);
* failed   = count(//testcase[not(<skip status>) and failure and not(error)])
             + count(//testcase/flakyFailure) + count(//testcase/rerunFailure);
* passed   = executions - skipped - error - failed, where
  executions = count(//testcase) + count of flaky*/rerun* children;
* reruns   = executions - number of distinct identities (classname, else file, else the
  nearest ancestor testsuite's file, else its name; plus the test name): the executions
  whose attempt is above 0.

The numbers were then checked by hand against the fixtures README and the suites' own
counters where those are right (e.g. issues__testDisabled.xml declares disabled=10,
failures=4, errors=2; the pulsar report declares failures=1, skipped=14).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from observability_assets.core.errors import RejectedInput
from observability_assets.core.junit import parse_many, parse_report

# file (relative to junit/) -> (passed, failed, error, skipped, reruns)
EXPECTED: dict[str, tuple[int, int, int, int, int]] = {
    "action-junit-report/catch2__report.xml": (0, 1, 0, 0, 0),
    "action-junit-report/container-structure__test.xml": (3, 0, 0, 0, 0),
    "action-junit-report/cunit__testEmpty.xml": (0, 0, 0, 0, 0),
    "action-junit-report/cunit__testFailure.xml": (3, 1, 0, 0, 0),
    "action-junit-report/flaky_retries__flaky_all_failures.xml": (0, 2, 1, 0, 2),
    "action-junit-report/flaky_retries__flaky_success_first.xml": (1, 1, 1, 0, 2),
    "action-junit-report/flaky_retries__flaky_with_classname_file.xml": (3, 1, 1, 0, 2),
    "action-junit-report/issues__testDisabled.xml": (6, 4, 2, 10, 0),
    "action-junit-report/issues__testFailedDisabled.xml": (0, 0, 0, 1, 0),
    "action-junit-report/junit-server-test__report.xml": (2, 1, 0, 1, 1),
    "action-junit-report/junit_flaky_failure__marathon_junit_report.xml": (1, 1, 0, 0, 1),
    "action-junit-report/junit_flaky_failure__mixed_flaky_and_passed.xml": (3, 1, 0, 0, 1),
    "action-junit-report/marathon_tests__com.mikepenz.DummyTest#test_02_dummy.xml": (1, 0, 0, 0, 0),
    "action-junit-report/marathon_tests__com.mikepenz.DummyTest3#test_01.xml": (0, 1, 0, 0, 0),
    "action-junit-report/marathon_tests__com.mikepenz.DummyUtilTest#test_01_dummy.xml": (0, 1, 0, 0, 0),
    "action-junit-report/maven_surefire_flaky__surefire-report.xml": (1, 1, 0, 0, 1),
    "action-junit-report/mocha__mocha.xml": (1, 0, 0, 0, 0),
    "action-junit-report/multiple__test_10.xml": (3, 0, 0, 0, 0),
    "action-junit-report/multiple__test_11.xml": (2, 1, 0, 0, 0),
    "action-junit-report/multiple__test_12.xml": (2, 0, 0, 1, 0),
    "action-junit-report/multiple_failures__test_multiple_errors.xml": (1, 0, 2, 0, 0),
    "action-junit-report/multiple_failures__test_multiple_failures.xml": (1, 2, 0, 1, 0),
    "action-junit-report/nested__junit.xml": (2, 3, 0, 0, 0),
    "action-junit-report/nested__multi-level.xml": (3, 0, 0, 0, 0),
    "action-junit-report/nextest__basic.xml": (2, 1, 0, 0, 0),
    "action-junit-report/perl__result.xml": (1, 0, 0, 0, 0),
    "action-junit-report/python__report.xml": (1, 2, 0, 0, 0),
    "action-junit-report/python__report_flaky.xml": (2, 2, 0, 0, 0),
    "action-junit-report/tests__email__target__surefire-reports__TEST-action.surefire.report.email.EmailAddressTest.xml": (
        2,
        2,
        5,
        0,
        0,
    ),
    "action-junit-report/tests__utils__target__surefire-reports__TEST-action.surefire.report.calc.AllOkTest.xml": (
        1,
        0,
        0,
        0,
        0,
    ),
    "action-junit-report/tests__utils__target__surefire-reports__TEST-action.surefire.report.calc.CalcUtilsTest.xml": (
        0,
        2,
        0,
        0,
        0,
    ),
    "action-junit-report/tests__utils__target__surefire-reports__TEST-action.surefire.report.calc.StringUtilsTest.xml": (
        2,
        2,
        0,
        1,
        0,
    ),
    "action-junit-report/xunit__report.xml": (3, 1, 0, 0, 0),
    "action-junit-report/xunit__report_fl_on_f.xml": (3, 1, 0, 0, 0),
    "dorny-test-reporter/empty__java-junit.xml": (0, 0, 0, 0, 0),
    "dorny-test-reporter/empty__jest-junit-empty-testsuite.xml": (0, 0, 0, 0, 0),
    "dorny-test-reporter/empty__jest-junit.xml": (0, 0, 0, 0, 0),
    "dorny-test-reporter/empty__phpunit-empty.xml": (0, 0, 0, 0, 0),
    "dorny-test-reporter/external__java__TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml": (
        0,
        1,
        0,
        1,
        1,
    ),
    "dorny-test-reporter/external__java__empty_failures.xml": (2, 1, 0, 0, 0),
    "dorny-test-reporter/external__java__pulsar-test-report.xml": (793, 1, 0, 14, 138),
    "dorny-test-reporter/external__jest__jest-react-component-test-results.xml": (1, 0, 0, 0, 0),
    # One of its 4,239 test cases has name="" (and classname=""): skipped, see NAMELESS.
    "dorny-test-reporter/external__jest__jest-test-results.xml": (4206, 2, 0, 30, 257),
    "dorny-test-reporter/external__phpunit__phpcheckstyle-phpunit.xml": (28, 2, 0, 0, 0),
    "dorny-test-reporter/jest-junit-eslint.xml": (1, 0, 0, 0, 0),
    "dorny-test-reporter/jest-junit.xml": (1, 4, 0, 1, 0),
    "dorny-test-reporter/junit-with-message.xml": (0, 1, 0, 0, 0),
    "dorny-test-reporter/nette-tester__BootstrapFormRenderer-report.xml": (4, 0, 0, 0, 0),
    "dorny-test-reporter/nette-tester__tester-v1.7-report.xml": (61, 1, 0, 3, 0),
    "dorny-test-reporter/phpunit__phpunit-paths.xml": (0, 6, 0, 0, 0),
    "dorny-test-reporter/phpunit__phpunit.xml": (10, 2, 0, 0, 0),
    "dorny-test-reporter/python-xunit-pytest.xml": (6, 2, 0, 2, 0),
    "dorny-test-reporter/python-xunit-unittest.xml": (4, 1, 1, 2, 0),
    "dorny-test-reporter/swift-xunit.xml": (2, 1, 0, 0, 0),
    "dorny-test-reporter/test-errors__jest__jest-test-results.xml": (0, 0, 2, 0, 0),
}

# Test cases without a name, per report: not loaded, counted in a rejection of that report.
NAMELESS: dict[str, int] = {"dorny-test-reporter/external__jest__jest-test-results.xml": 1}

# Broken on purpose upstream (see the fixtures README): rejected, with the reason.
REJECTED: dict[str, str] = {
    "action-junit-report/corrupt-junit__e2e-tests__corrupt__target__sf-reports__TEST-test.CorruptTest.xml": (
        "truncated XML: ends inside a CDATA section"
    ),
    # time="<<computed>>" has a raw "<" in an attribute value: not well-formed XML.
    "action-junit-report/junit-web-test__expected.xml": (
        "malformed XML: Unescaped '<' not allowed in attributes values, line 9"
    ),
    "action-junit-report/junit-web-test__expectedRetries.xml": (
        "malformed XML: Unescaped '<' not allowed in attributes values, line 9"
    ),
}


@pytest.fixture(scope="module")
def junit_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "junit"


def test_every_fixture_is_covered(junit_dir: Path) -> None:
    found = {path.relative_to(junit_dir).as_posix() for path in junit_dir.glob("*/*.xml")}
    assert found == set(EXPECTED) | set(REJECTED)


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_fixture_outcomes(junit_dir: Path, relative: str) -> None:
    report = parse_report(junit_dir / relative)
    counts = report.outcome_counts()
    reruns = pc.sum(pc.greater(report.table["attempt"], 0)).as_py() or 0
    assert (counts["passed"], counts["failed"], counts["error"], counts["skipped"], reruns) == EXPECTED[
        relative
    ]


@pytest.mark.parametrize("relative", sorted(REJECTED))
def test_broken_fixture_is_rejected_with_reason(junit_dir: Path, relative: str) -> None:
    with pytest.raises(RejectedInput) as rejected:
        parse_report(junit_dir / relative)
    assert rejected.value.reason.startswith(REJECTED[relative])


def test_whole_folder_in_one_batch(junit_dir: Path) -> None:
    paths = sorted(junit_dir.glob("*/*.xml"))
    batch = parse_many((path.relative_to(junit_dir).as_posix(), path) for path in paths)
    assert batch.table.num_rows == sum(sum(expected[:4]) for expected in EXPECTED.values())
    assert {rejection.path for rejection in batch.rejections} == set(REJECTED) | set(NAMELESS)
    assert {r.path: r.reason for r in batch.rejections if r.path in NAMELESS} == {
        path: f"{count} test case{'s' if count > 1 else ''} without a name skipped (no identity to load them under)"
        for path, count in NAMELESS.items()
    }
    per_report = pc.value_counts(batch.table["report_path"].cast("string")).to_pylist()
    assert {entry["values"]: entry["counts"] for entry in per_report} == {
        relative: sum(expected[:4]) for relative, expected in EXPECTED.items() if sum(expected[:4])
    }


def test_published_fixture_totals(junit_dir: Path) -> None:
    """The README counts 5,201 <testcase> elements in dorny-test-reporter, 4,239 of them jest's;
    one of jest's has an empty name and is skipped."""
    dorny = parse_many(
        (path.name, path) for path in sorted((junit_dir / "dorny-test-reporter").glob("*.xml"))
    )
    assert dorny.table.num_rows == 5201 - 1  # no flaky children there: one row per named <testcase>
    jest = parse_report(junit_dir / "dorny-test-reporter/external__jest__jest-test-results.xml")
    assert (jest.num_rows, jest.nameless) == (4239 - 1, 1)


def test_parallel_parse_equals_serial(junit_dir: Path) -> None:
    """Spread over worker processes, the whole folder (broken fixtures included) parses to the
    same rows in the same order and the same rejections as in one process."""
    pairs = [(path.relative_to(junit_dir).as_posix(), path) for path in sorted(junit_dir.glob("*/*.xml"))]
    serial = parse_many(pairs, workers=1)
    parallel = parse_many(pairs, workers=2, parallel_min_bytes=0)
    assert parallel.table.combine_chunks().equals(serial.table)
    assert parallel.rejections == serial.rejections
    assert {rejection.path for rejection in parallel.rejections} == set(REJECTED) | set(NAMELESS)
