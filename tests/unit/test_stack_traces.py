"""Probable frames of the real failing test cases in the shared fixtures, dialect by dialect.

EXPECTED was written by reading each stack trace by hand (the frame where the error was raised
inside the project, not in the JDK, node_modules, site-packages or the test runner), not by
running the parser. Every other failing case with a stack trace must still get a frame or a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from observability_assets.core.errors import RejectedInput
from observability_assets.core.junit import parse_report
from observability_assets.core.stack_traces import (
    JAVA,
    JAVASCRIPT,
    PYTHON,
    parse_stack_trace,
    probable_frame,
    repo_relative,
)

_AJR, _DORNY = "action-junit-report", "dorny-test-reporter"
_EMAIL = (
    f"{_AJR}/tests__email__target__surefire-reports__TEST-action.surefire.report.email.EmailAddressTest.xml"
)
_CALC = f"{_AJR}/tests__utils__target__surefire-reports__TEST-action.surefire.report.calc.CalcUtilsTest.xml"
_STRINGS = (
    f"{_AJR}/tests__utils__target__surefire-reports__TEST-action.surefire.report.calc.StringUtilsTest.xml"
)
_EMAIL_DIR = "action/surefire/report/email/EmailAddressTest.java"
_JEST_WIN = "C:/Users/Michal/Workspace/dorny/test-check/reports/jest"

# (report, test name, n-th failing execution of that name in the report) -> (dialect, file, function, line) of the probable frame
EXPECTED: dict[tuple[str, str, int], tuple[str | None, str, str | None, int | None]] = {
    # Java / Kotlin (Surefire, TestNG); the root cause of a `Caused by:` chain comes first
    (f"{_AJR}/maven_surefire_flaky__surefire-report.xml", "createWebhook", 0): (
        JAVA,
        "io/sodadata/dependson/soda/integrations/msteams/MicrosoftTeamsCrudTest.java",
        "MicrosoftTeamsCrudTest.createWebhook",
        58,
    ),
    (_EMAIL, "shouldNotContainInternationalizedHostNames", 0): (
        JAVA,
        _EMAIL_DIR,
        "EmailAddressTest.expectException",
        74,
    ),
    (_EMAIL, "shouldBeStricterThanRfc2822", 0): (JAVA, _EMAIL_DIR, "EmailAddressTest.expectException", 75),
    (_EMAIL, "shouldNotBeBlank", 0): (JAVA, _EMAIL_DIR, "EmailAddressTest.expectException", 74),
    (_EMAIL, "shouldNotMissComponents", 0): (JAVA, _EMAIL_DIR, "EmailAddressTest.expectException", 75),
    (_CALC, "test error handling", 0): (
        JAVA,
        "action/surefire/report/calc/CalcUtilsTest.kt",
        "CalcUtilsTest.scale",
        31,
    ),
    (_CALC, "test scale", 0): (
        JAVA,
        "action/surefire/report/calc/CalcUtilsTest.kt",
        "CalcUtilsTest.test scale",
        15,
    ),
    (_STRINGS, "require_fail", 0): (
        JAVA,
        "action/surefire/report/calc/StringUtils.java",
        "StringUtils.requireNotBlank",
        25,
    ),
    (_STRINGS, "require", 0): (
        JAVA,
        "action/surefire/report/calc/StringUtilsTest.java",
        "StringUtilsTest.require",
        20,
    ),
    (
        f"{_DORNY}/external__java__TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml",
        "testVersionStrings",
        0,
    ): (
        JAVA,
        "org/apache/pulsar/AddMissingPatchVersionTest.java",
        "AddMissingPatchVersionTest.testVersionStrings",
        29,
    ),
    (f"{_AJR}/multiple_failures__test_multiple_failures.xml", "testWithSingleFailure", 0): (
        JAVA,
        "com/example/MultipleFailuresTest.java",
        "MultipleFailuresTest.testWithSingleFailure",
        35,
    ),
    (f"{_AJR}/multiple_failures__test_multiple_errors.xml", "testWithMultipleErrors", 0): (
        JAVA,
        "com/example/MultipleErrorsTest.java",
        "MultipleErrorsTest.testWithMultipleErrors",
        101,
    ),
    # JavaScript / TypeScript (jest): node_modules and node internals skipped
    (f"{_DORNY}/jest-junit.xml", "Failing test", 0): (
        JAVASCRIPT,
        f"{_JEST_WIN}/__tests__/main.test.js",
        "Object.<anonymous>",
        10,
    ),
    (f"{_DORNY}/jest-junit.xml", "Exception in target unit", 0): (
        JAVASCRIPT,
        f"{_JEST_WIN}/lib/main.js",
        "Object.throwError",
        2,
    ),
    (f"{_DORNY}/jest-junit.xml", "Exception in test", 0): (
        JAVASCRIPT,
        f"{_JEST_WIN}/__tests__/main.test.js",
        "Object.<anonymous>",
        21,
    ),
    (f"{_DORNY}/external__jest__jest-test-results.xml", "gets changed files for hg", 0): (
        JAVASCRIPT,
        "/home/dorny/dorny/jest/packages/jest-changed-files/build/hg.js",
        "Object.findChangedFiles",
        99,
    ),
    (f"{_DORNY}/external__jest__jest-test-results.xml", "gets changed files for hg", 1): (
        JAVASCRIPT,
        "/home/dorny/dorny/jest/e2e/__tests__/onlyChanged.test.ts",
        "Object.toMatch",
        360,
    ),
    # Python: pytest long format, pytest xunit output, unittest tracebacks
    (f"{_AJR}/python__report.xml", "test_which_fails", 0): (
        PYTHON,
        "python/test_sample.py",
        "test_which_fails",
        10,
    ),
    (f"{_AJR}/python__report.xml", "test_with_error", 0): (
        PYTHON,
        "python/test_sample.py",
        "test_with_error",
        14,
    ),
    (f"{_DORNY}/python-xunit-pytest.xml", "test_always_fail", 0): (
        PYTHON,
        "tests/test_lib.py",
        "test_always_fail",
        25,
    ),
    (f"{_DORNY}/python-xunit-pytest.xml", "test_error", 0): (PYTHON, "tests/test_lib.py", "test_error", 32),
    (f"{_DORNY}/python-xunit-unittest.xml", "test_error", 0): (
        PYTHON,
        "/Users/foo/Projects/python-test/tests/test_lib.py",
        "test_error",
        31,
    ),
    # path:line forms: C++ (Catch2, CUnit), Rust (nextest), PHP, tsc
    (f"{_AJR}/catch2__report.xml", "is constant evaluated", 0): (
        "generic",
        "test/unit/detail/utility/is_constant_evaluated.cpp",
        None,
        19,
    ),
    (f"{_AJR}/cunit__testFailure.xml", "loadFromXMLString_When_Should2Test", 0): (
        "generic",
        "/dumm/core/tests/testFailure.cpp",
        None,
        77,
    ),
    (f"{_AJR}/nextest__basic.xml", "test_failure", 0): ("generic", "tests/parry3d.rs", None, 154),
    (f"{_DORNY}/phpunit__phpunit-paths.xml", "testParenFailure", 0): (
        "generic",
        "/home/runner/work/repo/src/Paren.php",
        None,
        123,
    ),
    (f"{_DORNY}/phpunit__phpunit-paths.xml", "testWindowsFailure", 0): (
        "generic",
        "C:/repo/src/Win.php",
        None,
        77,
    ),
    (f"{_DORNY}/external__phpunit__phpcheckstyle-phpunit.xml", "testOther", 0): (
        "generic",
        "test/OtherTest.php",
        None,
        24,
    ),
    (f"{_DORNY}/test-errors__jest__jest-test-results.xml", "libs/foo.spec.ts", 0): (
        "generic",
        "tsconfig.json",
        None,
        13,
    ),
}


def _failing_cases(fixtures_dir: Path) -> dict[tuple[str, str, int], dict]:
    cases = {}
    for path in sorted((fixtures_dir / "junit").glob("*/*.xml")):
        try:
            rows = parse_report(path).table.to_pylist()
        except RejectedInput:  # the broken fixtures are rejected; test_junit_hostile covers them
            continue
        seen: dict[str, int] = {}
        for row in rows:
            if row["outcome"] in ("failed", "error") and row["stack_trace"]:
                ordinal = seen[row["test_name"]] = seen.get(row["test_name"], -1) + 1
                cases[(f"{path.parent.name}/{path.name}", row["test_name"], ordinal)] = row
    return cases


def test_expected_frames_across_dialects(fixtures_dir: Path) -> None:
    cases = _failing_cases(fixtures_dir)
    assert len(EXPECTED) >= 20
    got = {}
    for key in EXPECTED:
        row = cases[key]
        trace = parse_stack_trace(row["stack_trace"], message=row["message"], test_classname=row["classname"])
        found = probable_frame(trace, test_file=row["file"])
        assert found.source == "stack", key
        got[key] = (trace.dialect, found.frame.file, found.frame.function, found.frame.line)
    assert got == EXPECTED


def test_every_failing_case_gets_a_frame_or_a_reason(fixtures_dir: Path) -> None:
    cases = _failing_cases(fixtures_dir)
    assert len(cases) >= 50
    sources = {"stack": 0, "test_file": 0, "none": 0}
    for key, row in cases.items():
        trace = parse_stack_trace(row["stack_trace"], message=row["message"], test_classname=row["classname"])
        found = probable_frame(trace, test_file=row["file"])
        sources[found.source] += 1
        if found.source == "stack":
            assert found.frame is not None and found.frame.in_repo and found.reason == "", key
        else:
            assert found.reason, key
    # Most of the real traces point into the project; the rest are messages without frames.
    assert sources["stack"] >= 45, sources


@pytest.mark.parametrize(
    ("text", "classname", "expected"),
    [
        (  # Go panic: runtime and testing frames skipped
            "panic: runtime error: invalid memory address or nil pointer dereference [recovered]\n"
            "goroutine 7 [running]:\ntesting.tRunner.func1.2({0x5a3b20, 0x6c1e40})\n"
            "\t/usr/local/go/src/testing/testing.go:1632 +0x230\n"
            "github.com/acme/infra/internal/cache.(*Cache).Get(0x0, {0x5f1e2a, 0x3})\n"
            "\t/home/runner/work/infra/infra/internal/cache/cache.go:42 +0x1d\n"
            "github.com/acme/infra/internal/cache.TestGet(0xc000103380)\n"
            "\t/home/runner/work/infra/infra/internal/cache/cache_test.go:17 +0x45\n",
            None,
            ("go", "internal/cache/cache.go", "github.com/acme/infra/internal/cache.(*Cache).Get", 42),
        ),
        (  # go test's own file:line prefix
            "    order_test.go:88: got 41, want 40",
            None,
            ("go", "order_test.go", None, 88),
        ),
        (  # C#: frames without a file are the framework's
            "System.InvalidOperationException: Sequence contains no elements\n"
            "   at System.Linq.ThrowHelper.ThrowNoElementsException()\n"
            "   at Acme.Billing.Invoice.Total() in D:\\a\\billing\\billing\\src\\Invoice.cs:line 31\n"
            "   at Acme.Billing.Tests.InvoiceTests.TotalsLines() in D:\\a\\billing\\billing\\tests\\InvoiceTests.cs:line 12",
            None,
            ("csharp", "src/Invoice.cs", "Invoice.Total", 31),
        ),
        (  # Ruby / RSpec: gems skipped
            "NoMethodError: undefined method `id' for nil\n"
            "# /usr/local/bundle/gems/activerecord-7.1.3/lib/active_record/relation.rb:12:in `find'\n"
            "# ./app/models/order.rb:7:in `owner'\n# ./spec/models/order_spec.rb:5:in `block (2 levels) in <top (required)>'",
            None,
            ("ruby", "app/models/order.rb", "owner", 7),
        ),
        (  # Java Caused-by chain: the root cause's deepest project frame, JDK and libraries skipped
            "org.springframework.dao.DataAccessResourceFailureException: could not open\n"
            "\tat org.springframework.orm.jpa.X.translate(X.java:10)\n"
            "\tat com.acme.api.core.OrderRepository.find(OrderRepository.java:55)\n"
            "Caused by: java.net.ConnectException: Connection refused\n"
            "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)\n"
            "\tat org.postgresql.core.PGStream.<init>(PGStream.java:98)\n"
            "\tat com.acme.api.core.Db.open(Db.java:21)\n\t... 12 more",
            "com.acme.api.core.OrderServiceTest",
            ("java", "com/acme/api/core/Db.java", "Db.open", 21),
        ),
        (  # pytest --tb=short: site-packages skipped
            "tests/test_orders.py:14: in test_total\n    total(order)\n"
            "src/acme/orders.py:30: in total\n    return sum(l.price for l in order.lines)\n"
            "/opt/hostedtoolcache/Python/3.12.4/x64/lib/python3.12/site-packages/attr/_make.py:9: in __getattr__\n"
            "    raise AttributeError(name)\nE   AttributeError: price",
            None,
            ("python", "src/acme/orders.py", "total", 30),
        ),
    ],
)
def test_dialects_not_in_the_fixtures(text: str, classname: str | None, expected: tuple) -> None:
    trace = parse_stack_trace(text, test_classname=classname)
    frame = probable_frame(trace).frame
    assert (trace.dialect, frame.file, frame.function, frame.line) == expected


def test_root_cause_headline_is_the_last_caused_by() -> None:
    trace = parse_stack_trace(
        "java.lang.RuntimeException: wrapper\n\tat com.acme.A.b(A.java:1)\n"
        "Caused by: java.io.IOException: disk full\n\tat com.acme.C.d(C.java:2)\n"
    )
    assert trace.headline == "java.io.IOException: disk full"


@pytest.mark.parametrize(
    ("path", "relative"),
    [
        ("/home/runner/work/api/api/src/x.py", "src/x.py"),
        ("D:\\a\\web\\web\\src\\x.ts", "src/x.ts"),
        ("/__w/futures/futures/test/a.cpp", "test/a.cpp"),
        ("/home/runner/work/repo/src/Fake.php", "/home/runner/work/repo/src/Fake.php"),  # not a checkout
    ],
)
def test_repo_relative(path: str, relative: str) -> None:
    assert repo_relative(path) == relative
