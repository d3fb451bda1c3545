"""JUnit dialects and parser semantics, on small samples shaped like what each tool emits."""

from __future__ import annotations

import io
import random
from pathlib import Path

import duckdb
import lxml.etree
import pytest

from observability_assets.core import junit
from observability_assets.core.errors import RejectedInput
from observability_assets.core.junit import (
    ARROW_SCHEMA,
    TEST_ID_SQL,
    ParseLimits,
    _LongCdataCutter,
    parse_many,
    parse_report,
)

# Renamed: pytest would collect a module-level `test_id` as a test.
stable_id = junit.test_id


def rows(xml: str | bytes, **limits: int) -> list[dict]:
    data = xml.encode() if isinstance(xml, str) else xml
    return parse_report(data, limits=ParseLimits(**limits)).table.to_pylist()


def outcomes(xml: str) -> list[tuple[str, str, int]]:
    return [(r["test_name"], r["outcome"], r["attempt"]) for r in rows(xml)]


# ---------------------------------------------------------------------------------------------
# Dialects

SUREFIRE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd"
  version="3.0" name="com.acme.CalcTest" time="0.05" tests="4" errors="1" skipped="1" failures="1">
  <properties>
    <property name="java.version" value="17.0.9"/>
    <property name="user.dir" value="/home/runner/work/acme"/>
  </properties>
  <testcase name="adds" classname="com.acme.CalcTest" time="0.001"/>
  <testcase name="divides" classname="com.acme.CalcTest" time="0.012">
    <failure message="expected: &lt;2&gt; but was: &lt;3&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <2> but was: <3>
	at com.acme.CalcTest.divides(CalcTest.java:21)
]]></failure>
    <system-out><![CDATA[dividing 6 by 2
]]></system-out>
  </testcase>
  <testcase name="connects" classname="com.acme.CalcTest" time="0.030">
    <error message="Connection refused" type="java.net.ConnectException"><![CDATA[java.net.ConnectException: Connection refused
	at com.acme.CalcTest.connects(CalcTest.java:30)]]></error>
  </testcase>
  <testcase name="later" classname="com.acme.CalcTest" time="0">
    <skipped message="not implemented yet"/>
  </testcase>
</testsuite>
"""


def test_surefire_outcomes_messages_and_stack_traces() -> None:
    result = rows(SUREFIRE)
    assert [(r["test_name"], r["outcome"]) for r in result] == [
        ("adds", "passed"),
        ("divides", "failed"),
        ("connects", "error"),
        ("later", "skipped"),
    ]
    divides = result[1]
    assert divides["suite"] == "com.acme.CalcTest"
    assert divides["classname"] == "com.acme.CalcTest"
    assert divides["message"] == "expected: <2> but was: <3>"
    assert divides["stack_trace"].startswith(
        "org.opentest4j.AssertionFailedError: expected: <2> but was: <3>"
    )
    assert "CalcTest.java:21" in divides["stack_trace"]
    assert "dividing 6 by 2" not in divides["stack_trace"]  # system-out is not the trace
    assert divides["duration_s"] == pytest.approx(0.012)
    assert result[3]["message"] == "not implemented yet"
    assert result[3]["stack_trace"] is None
    assert all(r["attempt"] == 0 for r in result)


SUREFIRE_FLAKY = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.acme.NetTest" tests="2" failures="0" errors="0" time="3.5">
  <testcase name="retries" classname="com.acme.NetTest" time="1.25">
    <flakyFailure message="timeout 1" type="java.lang.AssertionError">
      <stackTrace><![CDATA[java.lang.AssertionError: timeout 1
	at com.acme.NetTest.retries(NetTest.java:10)]]></stackTrace>
      <system-out>attempt one</system-out>
    </flakyFailure>
    <flakyError message="socket closed" type="java.io.IOException" time="0.5">
      <stackTrace>java.io.IOException: socket closed</stackTrace>
      <system-err>attempt two</system-err>
    </flakyError>
  </testcase>
  <testcase name="stable" classname="com.acme.NetTest" time="0.2"/>
</testsuite>
"""


def test_surefire_flaky_children_are_earlier_failed_attempts_of_a_passing_test() -> None:
    result = rows(SUREFIRE_FLAKY)
    retries = [r for r in result if r["test_name"] == "retries"]
    assert [(r["attempt"], r["outcome"]) for r in retries] == [(0, "failed"), (1, "error"), (2, "passed")]
    assert retries[0]["message"] == "timeout 1"
    assert retries[0]["stack_trace"].startswith("java.lang.AssertionError: timeout 1")
    assert "attempt one" not in retries[0]["stack_trace"]
    assert retries[1]["stack_trace"] == "java.io.IOException: socket closed"
    # The test case's time belongs to the final attempt; flaky ones only have their own, if any.
    assert [r["duration_s"] for r in retries] == [None, 0.5, 1.25]
    assert [(r["test_name"], r["attempt"]) for r in result if r["test_name"] == "stable"] == [("stable", 0)]


FAILSAFE_RERUN = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.acme.CheckoutIT" tests="1" failures="1" errors="0" time="9.0">
  <testcase name="paysWithCard" classname="com.acme.CheckoutIT" time="3.0">
    <failure message="card declined" type="java.lang.AssertionError">java.lang.AssertionError: card declined</failure>
    <rerunFailure message="card declined again" type="java.lang.AssertionError">
      <stackTrace>java.lang.AssertionError: card declined again</stackTrace>
    </rerunFailure>
    <rerunError message="gateway down" type="java.lang.IllegalStateException">
      <stackTrace>java.lang.IllegalStateException: gateway down</stackTrace>
    </rerunError>
  </testcase>
</testsuite>
"""


def test_failsafe_reruns_after_a_failure_are_all_failed_attempts() -> None:
    result = rows(FAILSAFE_RERUN)
    assert [(r["attempt"], r["outcome"], r["message"]) for r in result] == [
        (0, "failed", "card declined"),
        (1, "failed", "card declined again"),
        (2, "error", "gateway down"),
    ]
    assert [r["duration_s"] for r in result] == [3.0, None, None]


PYTEST = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="0.321" timestamp="2024-05-01T10:00:00.123456+00:00" hostname="fv-az123"><testcase classname="tests.test_api" name="test_get[200-ok]" file="tests/test_api.py" line="12" time="0.004" /><testcase classname="tests.test_api" name="test_post" file="tests/test_api.py" line="20" time="0.010"><failure message="assert 500 == 201">def test_post(client):
&gt;       assert client.post("/x").status_code == 201
E       assert 500 == 201

tests/test_api.py:22: AssertionError</failure></testcase><testcase classname="tests.test_api" name="test_db" file="tests/test_api.py" line="30" time="0.000"><error message="failed on setup with &quot;ConnectionError&quot;">fixture 'db' raised ConnectionError</error></testcase><testcase classname="tests.test_api" name="test_teardown" time="0.002"><failure message="assert False">assert False</failure><error message="failed on teardown with &quot;OSError&quot;">OSError</error></testcase><testcase classname="tests.test_api" name="test_windows_only" time="0.000"><skipped type="pytest.skip" message="requires Windows">tests/test_api.py:40: requires Windows</skipped></testcase><testcase classname="tests.test_api" name="test_known_bug" time="0.001"><skipped type="pytest.xfail" message="" /></testcase></testsuite></testsuites>"""


def test_pytest_setup_errors_teardown_errors_skips_and_xfail() -> None:
    result = rows(PYTEST)
    assert [(r["test_name"], r["outcome"]) for r in result] == [
        ("test_get[200-ok]", "passed"),
        ("test_post", "failed"),
        ("test_db", "error"),
        ("test_teardown", "error"),  # a teardown error outranks the failure
        ("test_windows_only", "skipped"),
        ("test_known_bug", "skipped"),
    ]
    assert result[0]["file"] == "tests/test_api.py"
    assert result[1]["stack_trace"].splitlines()[1] == '>       assert client.post("/x").status_code == 201'
    assert result[2]["message"] == 'failed on setup with "ConnectionError"'
    assert result[3]["message"] == 'failed on teardown with "OSError"'
    assert result[4]["message"] == "requires Windows"
    assert result[5]["message"] is None


JEST_JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="4" failures="1" errors="0" time="2.345">
  <testsuite name="src/Button.test.tsx" errors="0" failures="1" skipped="1" timestamp="2024-05-01T10:00:00" time="1.2" tests="3">
    <testcase classname="Button renders" name="Button renders with label" time="0.015">
    </testcase>
    <testcase classname="Button clicks" name="Button clicks calls onClick" time="0.021">
      <failure>Error: expect(jest.fn()).toHaveBeenCalledTimes(expected)

Expected number of calls: 1
Received number of calls: 0
    at Object.&lt;anonymous&gt; (src/Button.test.tsx:18:25)</failure>
    </testcase>
    <testcase classname="Button snapshot" name="Button snapshot matches" time="0">
      <skipped/>
    </testcase>
  </testsuite>
  <testsuite name="src/utils.test.ts" errors="0" failures="0" skipped="0" timestamp="2024-05-01T10:00:01" time="0.3" tests="1">
    <testcase classname="" name="formats dates" time="0.002">
    </testcase>
  </testsuite>
</testsuites>
"""


def test_jest_junit_message_is_first_line_and_empty_classname_is_null() -> None:
    result = rows(JEST_JUNIT)
    assert [r["outcome"] for r in result] == ["passed", "failed", "skipped", "passed"]
    failed = result[1]
    assert failed["message"] == "Error: expect(jest.fn()).toHaveBeenCalledTimes(expected)"
    assert "src/Button.test.tsx:18:25" in failed["stack_trace"]
    assert result[3]["classname"] is None
    assert result[3]["suite"] == "src/utils.test.ts"


MOCHA = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="Mocha Tests" time="0.0120" tests="3" failures="1">
  <testsuite name="Root Suite" timestamp="2024-05-01T10:00:00" tests="0" time="0.0000" failures="0">
  </testsuite>
  <testsuite name="Array #indexOf()" timestamp="2024-05-01T10:00:00" tests="3" file="/repo/test/array.spec.js" time="0.0120" failures="1">
    <testcase name="Array #indexOf() should return -1 when absent" time="0.0010" classname="should return -1 when absent">
    </testcase>
    <testcase name="Array #indexOf() should find the first" time="0.0020" classname="should find the first">
      <failure message="expected 2 to equal 1" type="AssertionError"><![CDATA[AssertionError: expected 2 to equal 1
    at Context.<anonymous> (test/array.spec.js:12:22)]]></failure>
    </testcase>
    <testcase name="Array #indexOf() pending" time="0.0000" classname="pending">
      <skipped/>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_mocha_file_comes_from_the_enclosing_suite() -> None:
    result = rows(MOCHA)
    assert [r["outcome"] for r in result] == ["passed", "failed", "skipped"]
    assert {r["file"] for r in result} == {"/repo/test/array.spec.js"}
    assert {r["suite"] for r in result} == {"Array #indexOf()"}
    assert result[1]["stack_trace"].endswith("(test/array.spec.js:12:22)")


GO_JUNIT_REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1">
\t<testsuite name="github.com/acme/svc/store" tests="3" failures="1" errors="0" id="0" hostname="runner" time="0.013" timestamp="2024-05-01T10:00:00Z">
\t\t<properties>
\t\t\t<property name="go.version" value="go1.22.3 linux/amd64"></property>
\t\t</properties>
\t\t<testcase name="TestPut" classname="github.com/acme/svc/store" time="0.001"></testcase>
\t\t<testcase name="TestGet/missing_key" classname="github.com/acme/svc/store" time="0.010">
\t\t\t<failure message="Failed" type="">    store_test.go:41: got &#34;x&#34;, want &#34;&#34;</failure>
\t\t</testcase>
\t\t<testcase name="TestS3" classname="github.com/acme/svc/store" time="0.000">
\t\t\t<skipped message="store_test.go:60: no AWS credentials"></skipped>
\t\t</testcase>
\t</testsuite>
</testsuites>
"""


def test_go_junit_report() -> None:
    result = rows(GO_JUNIT_REPORT)
    assert [(r["test_name"], r["outcome"]) for r in result] == [
        ("TestPut", "passed"),
        ("TestGet/missing_key", "failed"),
        ("TestS3", "skipped"),
    ]
    assert result[1]["message"] == "Failed"
    assert result[1]["stack_trace"] == 'store_test.go:41: got "x", want ""'
    assert result[2]["message"] == "store_test.go:60: no AWS credentials"


GOTESTSUM_RERUN_FAILS = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" errors="0" time="1.500000">
\t<testsuite tests="4" failures="1" time="1.200000" name="example.com/api" timestamp="2024-05-01T10:00:00Z">
\t\t<properties>
\t\t\t<property name="go.version" value="go1.22.3 linux/amd64"></property>
\t\t</properties>
\t\t<testcase classname="example.com/api" name="TestFlaky" time="0.100000">
\t\t\t<failure message="Failed" type="">=== RUN   TestFlaky&#xA;    api_test.go:9: race&#xA;--- FAIL: TestFlaky (0.10s)&#xA;</failure>
\t\t</testcase>
\t\t<testcase classname="example.com/api" name="TestOK" time="0.010000"></testcase>
\t\t<testcase classname="example.com/api" name="TestFlaky" time="0.090000"></testcase>
\t\t<testcase classname="example.com/other" name="TestFlaky" time="0.050000"></testcase>
\t</testsuite>
</testsuites>
"""


def test_gotestsum_rerun_fails_repeats_the_test_case() -> None:
    assert outcomes(GOTESTSUM_RERUN_FAILS) == [
        ("TestFlaky", "failed", 0),
        ("TestOK", "passed", 0),
        ("TestFlaky", "passed", 1),
        ("TestFlaky", "passed", 0),  # same name in another package is another test
    ]


GRADLE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.acme.OrderServiceTest" tests="3" skipped="1" failures="1" errors="0" timestamp="2024-05-01T10:00:00" hostname="runner" time="0.512">
  <properties/>
  <testcase name="places an order()" classname="com.acme.OrderServiceTest" time="0.201"/>
  <testcase name="rejects empty cart()" classname="com.acme.OrderServiceTest" time="0.3">
    <failure message="org.opentest4j.AssertionFailedError: expected: &lt;true&gt; but was: &lt;false&gt;" type="org.opentest4j.AssertionFailedError">org.opentest4j.AssertionFailedError: expected: &lt;true&gt; but was: &lt;false&gt;
\tat app//com.acme.OrderServiceTest.rejects empty cart(OrderServiceTest.kt:31)
</failure>
  </testcase>
  <testcase name="[1] currency=EUR" classname="com.acme.OrderServiceTest" time="0.0">
    <skipped/>
  </testcase>
  <system-out><![CDATA[12:00:00.000 INFO  OrderService - started
]]></system-out>
  <system-err><![CDATA[]]></system-err>
</testsuite>
"""


def test_gradle_root_testsuite_and_suite_level_output() -> None:
    result = rows(GRADLE)
    assert [(r["test_name"], r["outcome"]) for r in result] == [
        ("places an order()", "passed"),
        ("rejects empty cart()", "failed"),
        ("[1] currency=EUR", "skipped"),
    ]
    assert result[1]["message"] == "org.opentest4j.AssertionFailedError: expected: <true> but was: <false>"
    assert result[2]["duration_s"] == 0.0


BAZEL = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
<testsuite name="//services/auth:auth_test" tests="1" failures="0" errors="1">
<testcase name="//services/auth:auth_test" status="run" duration="12" time="12"><error message="exited with error code 1"></error></testcase>
<system-out>
Generated test.log (if the file is not UTF-8, then this may be unreadable):
<![CDATA[exec ${PAGER:-/usr/bin/less} "$0" || exit 1
FAIL: TestLogin (0.01s) <tricky> ]]]]><![CDATA[> & friends
]]>
</system-out>
</testsuite>
</testsuites>
"""


def test_bazel_generated_xml() -> None:
    assert outcomes(BAZEL) == [("//services/auth:auth_test", "error", 0)]
    assert rows(BAZEL)[0]["message"] == "exited with error code 1"
    assert rows(BAZEL)[0]["duration_s"] == 12.0


PHPUNIT_NESTED = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="/app/phpunit.xml" tests="4" assertions="6" errors="1" failures="1" skipped="1" time="0.020">
    <testsuite name="Unit" tests="4" assertions="6" errors="1" failures="1" skipped="1" time="0.020">
      <testsuite name="App\\Tests\\MathTest" file="/app/tests/MathTest.php" tests="4" assertions="6" errors="1" failures="1" skipped="1" time="0.020">
        <testsuite name="App\\Tests\\MathTest::testAdd" tests="2" assertions="2" errors="0" failures="1" skipped="0" time="0.004">
          <testcase name="testAdd with data set #0" class="App\\Tests\\MathTest" classname="App.Tests.MathTest" file="/app/tests/MathTest.php" line="15" assertions="1" time="0.002"/>
          <testcase name="testAdd with data set #1" class="App\\Tests\\MathTest" classname="App.Tests.MathTest" file="/app/tests/MathTest.php" line="15" assertions="1" time="0.002">
            <failure type="PHPUnit\\Framework\\ExpectationFailedException">App\\Tests\\MathTest::testAdd with data set #1 (1, 2, 4)
Failed asserting that 3 matches expected 4.

/app/tests/MathTest.php:17</failure>
          </testcase>
        </testsuite>
        <testcase name="testDivide" class="App\\Tests\\MathTest" classname="App.Tests.MathTest" file="/app/tests/MathTest.php" line="22" assertions="0" time="0.001">
          <error type="DivisionByZeroError">App\\Tests\\MathTest::testDivide
DivisionByZeroError: Division by zero

/app/src/Math.php:9</error>
        </testcase>
        <testcase name="testLater" class="App\\Tests\\MathTest" classname="App.Tests.MathTest" file="/app/tests/MathTest.php" line="30" assertions="0" time="0.000">
          <skipped/>
        </testcase>
      </testsuite>
    </testsuite>
  </testsuite>
</testsuites>
"""


def test_phpunit_nested_suites_use_the_innermost_suite() -> None:
    result = rows(PHPUNIT_NESTED)
    assert [(r["suite"], r["test_name"], r["outcome"]) for r in result] == [
        ("App\\Tests\\MathTest::testAdd", "testAdd with data set #0", "passed"),
        ("App\\Tests\\MathTest::testAdd", "testAdd with data set #1", "failed"),
        ("App\\Tests\\MathTest", "testDivide", "error"),
        ("App\\Tests\\MathTest", "testLater", "skipped"),
    ]
    assert result[1]["message"] == "App\\Tests\\MathTest::testAdd with data set #1 (1, 2, 4)"
    assert result[2]["stack_trace"].endswith("/app/src/Math.php:9")


CTEST = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux-c++" tests="4" failures="1" disabled="1" skipped="1" hostname="" time="1" timestamp="2024-05-01T10:00:00">
    <testcase name="unit_math" classname="unit_math" time="0.0123" status="run">
        <system-out>All tests passed (12 assertions in 3 test cases)</system-out>
    </testcase>
    <testcase name="unit_io" classname="unit_io" time="0.2" status="fail">
        <failure message="Failed"/>
        <system-out>io_test.cpp:14: FAILED</system-out>
    </testcase>
    <testcase name="unit_gpu" classname="unit_gpu" time="0" status="disabled">
        <skipped message="Disabled"/>
        <system-out/>
    </testcase>
    <testcase name="unit_net" classname="unit_net" time="0" status="notrun">
        <skipped message="Not Run"/>
    </testcase>
</testsuite>
"""


def test_ctest_statuses() -> None:
    assert outcomes(CTEST) == [
        ("unit_math", "passed", 0),
        ("unit_io", "failed", 0),
        ("unit_gpu", "skipped", 0),
        ("unit_net", "skipped", 0),
    ]
    assert rows(CTEST)[2]["message"] == "Disabled"


FLUTTER_JUNITREPORT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite errors="0" failures="1" tests="3" skipped="1" name="test.widget_test" timestamp="2024-05-01T10:00:00">
    <properties>
      <property name="platform" value="vm" />
    </properties>
    <testcase classname="test.widget_test" name="Counter increments smoke test" time="0.412" />
    <testcase classname="test.widget_test" name="Counter decrements" time="0.101">
      <failure message="1 failure, see stacktrace for details">Failure: Test failed. See exception logs above.
Expected: &lt;1&gt;
  Actual: &lt;0&gt;
      </failure>
    </testcase>
    <testcase classname="test.widget_test" name="golden: home screen" time="0.000">
      <skipped message="Golden tests only run on macOS" />
    </testcase>
    <system-out>00:02 +1 -1 ~1: Some tests failed.</system-out>
  </testsuite>
</testsuites>
"""


def test_dart_flutter_junitreport() -> None:
    result = rows(FLUTTER_JUNITREPORT)
    assert [r["outcome"] for r in result] == ["passed", "failed", "skipped"]
    assert result[1]["stack_trace"].endswith("Actual: <0>")  # trailing indentation stripped
    assert result[2]["message"] == "Golden tests only run on macOS"


XCPRETTY = """<?xml version='1.0' encoding='UTF-8'?>
<testsuites name='AppTests.xctest' tests='3' failures='1'>
  <testsuite name='AppTests.LoginTests' tests='3' failures='1'>
    <testcase classname='AppTests.LoginTests' name='testLoginSucceeds' time='0.012'/>
    <testcase classname='AppTests.LoginTests' name='testLoginFails'>
      <failure message='XCTAssertEqual failed: (&quot;401&quot;) is not equal to (&quot;200&quot;)'>/Users/ci/App/AppTests/LoginTests.swift:42</failure>
    </testcase>
    <testcase classname='AppTests.LoginTests' name='testSlow' time='1.5'/>
  </testsuite>
</testsuites>
"""


def test_swift_xcpretty_without_time_attribute() -> None:
    result = rows(XCPRETTY)
    assert [r["outcome"] for r in result] == ["passed", "failed", "passed"]
    assert result[1]["message"] == 'XCTAssertEqual failed: ("401") is not equal to ("200")'
    assert result[1]["stack_trace"] == "/Users/ci/App/AppTests/LoginTests.swift:42"
    assert [r["duration_s"] for r in result] == [0.012, None, 1.5]


XUNIT_STYLE = """<?xml version="1.0" encoding="utf-8"?>
<testsuites disabled="0" errors="0" failures="1" tests="3" time="0,5">
  <testsuite disabled="0" errors="0" failures="1" name="Acme.Tests.dll" skipped="0" tests="3" time="0,5">
    <testcase name="Add_ReturnsSum(a: 1, b: 2)" file="MathTests.cs" time="0,0125"/>
    <testcase name="Parse_Throws" file="ParserTests.cs" time="1,003.5">
      <failure type="Assert.Throws() Failure" message="Expected: typeof(System.FormatException)&#10;Actual: (No exception was thrown)"/>
    </testcase>
    <testcase name="Unicode_Name_é_✓" file="MathTests.cs" time="2.5E-3"/>
  </testsuite>
</testsuites>
"""


def test_xunit_style_with_file_instead_of_classname_and_localised_times() -> None:
    result = rows(XUNIT_STYLE)
    assert [(r["classname"], r["file"], r["outcome"]) for r in result] == [
        (None, "MathTests.cs", "passed"),
        (None, "ParserTests.cs", "failed"),
        (None, "MathTests.cs", "passed"),
    ]
    assert [r["duration_s"] for r in result] == [0.0125, 1003.5, 0.0025]
    assert (
        result[1]["message"] == "Expected: typeof(System.FormatException)\nActual: (No exception was thrown)"
    )
    assert result[2]["test_name"] == "Unicode_Name_é_✓"


def test_default_namespace_is_tolerated() -> None:
    xml = """<testsuites xmlns="urn:example:junit"><testsuite name="s">
        <testcase classname="c" name="ok"/>
        <testcase classname="c" name="bad"><failure message="boom">trace</failure></testcase>
    </testsuite></testsuites>"""
    assert [(r["suite"], r["test_name"], r["outcome"], r["stack_trace"]) for r in rows(xml)] == [
        ("s", "ok", "passed", None),
        ("s", "bad", "failed", "trace"),
    ]


# ---------------------------------------------------------------------------------------------
# Semantics


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("0.25", 0.25),
        ("  2 ", 2.0),
        ("+3", 3.0),
        ("4.50611114501953e-05", 4.50611114501953e-05),
        ("1.4E-5", 1.4e-05),
        ("1,5", 1.5),
        ("1,003.5", 1003.5),
        ("1,003", 1003.0),
        ("", None),
        ("abc", None),
        ("NaN", None),
        ("inf", None),
        ("1e999", None),
        ("-1", None),
        ("-0.5", None),
        ("999638317", None),  # container-structure-test writes nanoseconds: 31 years is no duration
        ("604800", 604800.0),
    ],
)
def test_duration_normalisation(time: str, expected: float | None) -> None:
    xml = f'<testsuite><testcase name="a" time="{time}"/><testcase name="b" time="1"/></testsuite>'
    assert rows(xml)[0]["duration_s"] == (pytest.approx(expected) if expected is not None else None)


def test_missing_time_is_null() -> None:
    assert rows('<testsuite><testcase name="a"/></testsuite>')[0]["duration_s"] is None


@pytest.mark.parametrize("status", ["disabled", "DISABLED", "skipped", "notrun", "ignored"])
def test_skip_status_wins_over_recorded_failure(status: str) -> None:
    xml = f"""<testsuites><testsuite name="s">
      <testcase classname="OS X" name="t" status="{status}"><failure type="x">Assert: check failed.</failure></testcase>
      <testcase classname="OS X" name="u" status="{status}"/>
    </testsuite></testsuites>"""
    result = rows(xml)
    assert [r["outcome"] for r in result] == ["skipped", "skipped"]
    assert result[0]["message"] == "Assert: check failed."
    assert result[0]["stack_trace"] is None


def test_googletest_suppressed_and_skipped_results() -> None:
    xml = """<testsuites><testsuite name="MathTest">
      <testcase name="DISABLED_Slow" status="notrun" result="suppressed" time="0" classname="MathTest"/>
      <testcase name="Skips" status="run" result="skipped" time="0" classname="MathTest"><skipped message="no GPU"/></testcase>
      <testcase name="Works" status="run" result="completed" time="0.001" classname="MathTest"/>
    </testsuite></testsuites>"""
    assert [r["outcome"] for r in rows(xml)] == ["skipped", "skipped", "passed"]


def test_several_failures_in_one_test_case_are_one_execution_with_the_first_message() -> None:
    xml = """<testsuite name="s"><testcase classname="c" name="t">
        <failure message="first">one</failure><failure message="second">two</failure>
    </testcase></testsuite>"""
    assert [(r["outcome"], r["message"], r["stack_trace"]) for r in rows(xml)] == [("failed", "first", "one")]


def test_repeated_test_cases_count_attempts_per_identity_across_flaky_children() -> None:
    xml = """<testsuite name="s">
      <testcase classname="c" name="t"><failure message="1"/></testcase>
      <testcase classname="c" name="t"><flakyFailure message="2"/></testcase>
      <testcase classname="d" name="t"/>
    </testsuite>"""
    assert [(r["classname"], r["attempt"], r["outcome"]) for r in rows(xml)] == [
        ("c", 0, "failed"),
        ("c", 1, "failed"),
        ("c", 2, "passed"),
        ("d", 0, "passed"),
    ]


def test_without_classname_or_file_the_suite_tells_same_named_tests_apart() -> None:
    xml = """<testsuites>
      <testsuite name="a.test.js"><testcase classname="" name="renders"/></testsuite>
      <testsuite name="b.test.js"><testcase classname="" name="renders"/><testcase name="renders"/></testsuite>
    </testsuites>"""
    assert [(r["suite"], r["attempt"]) for r in rows(xml)] == [
        ("a.test.js", 0),
        ("b.test.js", 0),
        ("b.test.js", 1),
    ]


def test_attempts_count_per_report_in_parse_many() -> None:
    xml = b'<testsuite name="s"><testcase classname="c" name="t"/><testcase classname="c" name="t"/></testsuite>'
    table = parse_many([("one.xml", xml), ("two.xml", xml)]).table
    assert list(zip(table["report_path"].to_pylist(), table["attempt"].to_pylist(), strict=True)) == [
        ("one.xml", 0),
        ("one.xml", 1),
        ("two.xml", 0),
        ("two.xml", 1),
    ]


@pytest.mark.parametrize("largest_code", [2**62, 0], ids=["combined-codes", "joined-strings"])
def test_attempts_tell_scope_and_name_apart(monkeypatch: pytest.MonkeyPatch, largest_code: int) -> None:
    """Same name in another scope, or same scope with another name, is another test; both ways of
    coding identities (combined dictionary codes, or joined strings when those would overflow)."""
    monkeypatch.setattr(junit, "_LARGEST_CODE", largest_code)
    xml = (
        b'<testsuite name="s"><testcase classname="a" name="t"/><testcase classname="b" name="t"/>'
        b'<testcase classname="a" name="u"/><testcase classname="a" name="t"/><testcase file="f.py" name="t"/>'
        b'<testcase name="t"/><testcase classname="b" name="t"/><testcase name="t"/></testsuite>'
    )
    table = parse_many([("one.xml", xml), ("two.xml", xml)]).table
    assert table["attempt"].to_pylist() == [0, 0, 0, 1, 0, 0, 1, 1] * 2


def test_attempts_count_across_arrow_chunks() -> None:
    cases = b"".join(
        b'<testcase classname="c" name="t" time="%d"/><testcase classname="c" name="u"/>' % i
        for i in range(5)
    )
    table = parse_report(
        b"<testsuite>" + cases + b"</testsuite>", limits=ParseLimits(batch_rows=3, chunk_bytes=16)
    ).table
    assert table["attempt"].to_pylist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert table["duration_s"].to_pylist()[::2] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_unreadable_report_is_a_rejection(tmp_path: Path) -> None:
    batch = parse_many(
        [("gone.xml", tmp_path / "gone.xml"), ("ok.xml", b"<testsuite><testcase name='t'/></testsuite>")]
    )
    assert [(r.path, r.reason) for r in batch.rejections] == [
        ("gone.xml", "cannot read report: No such file or directory")
    ]
    assert batch.table["report_path"].to_pylist() == ["ok.xml"]


def test_parse_many_drops_every_row_of_a_report_rejected_halfway() -> None:
    good = b'<testsuite name="s"><testcase name="ok"/></testsuite>'
    cases = b"".join(b'<testcase classname="c" name="t%d"/>' % i for i in range(5000))
    truncated = b'<testsuite name="s">' + cases + b"<testcase name="
    batch = parse_many(
        [("good.xml", good), ("cut.xml", truncated), ("good2.xml", good)],
        limits=ParseLimits(chunk_bytes=4096, batch_rows=100),
    )
    assert batch.table["report_path"].to_pylist() == ["good.xml", "good2.xml"]
    assert [(r.path, r.reason.split(":")[0]) for r in batch.rejections] == [("cut.xml", "truncated XML")]


# Shaped like EnricoMi/publish-unit-test-result-action's no-attributes.xml: four bare test cases
# (passed, skipped, failed, errored) in a suite without attributes; that project drops them all.
NAMELESS_REPORT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites>
    <testsuite>
        <testcase/>
        <testcase>
            <skipped/>
        </testcase>
        <testcase>
            <failure/>
        </testcase>
        <testcase>
            <error/>
        </testcase>
    </testsuite>
</testsuites>"""


def test_test_cases_without_a_name_are_skipped_and_counted_per_report() -> None:
    report = parse_report(NAMELESS_REPORT)
    assert (report.num_rows, report.nameless) == (0, 4)
    mixed = b"""<testsuite name="s">
      <testcase classname="c" name="kept"><failure message="m"/></testcase>
      <testcase classname="c" name=""/>
      <testcase classname="c"><flakyFailure message="x"/></testcase>
      <testcase classname="c" name="also kept"/>
    </testsuite>"""
    batch = parse_many([("bare.xml", NAMELESS_REPORT), ("mixed.xml", mixed), ("ok.xml", b"<testsuite/>")])
    assert [(r.path, r.reason) for r in batch.rejections] == [
        ("bare.xml", "4 test cases without a name skipped (no identity to load them under)"),
        ("mixed.xml", "2 test cases without a name skipped (no identity to load them under)"),
    ]
    # The rest of the report loads, attempts unaffected by the skipped cases.
    assert batch.table.select(["report_path", "test_name", "outcome", "attempt"]).to_pylist() == [
        {"report_path": "mixed.xml", "test_name": "kept", "outcome": "failed", "attempt": 0},
        {"report_path": "mixed.xml", "test_name": "also kept", "outcome": "passed", "attempt": 0},
    ]
    single = parse_many([("one.xml", b'<testsuite><testcase name=""/></testsuite>')])
    assert [r.reason for r in single.rejections] == [
        "1 test case without a name skipped (no identity to load them under)"
    ]


def test_empty_report_is_valid_and_has_the_schema() -> None:
    for xml in ("<testsuites/>", '<testsuite name="x" tests="0"></testsuite>'):
        table = parse_report(xml.encode()).table
        assert table.num_rows == 0
        assert table.schema == ARROW_SCHEMA
    assert parse_many([]).table.num_rows == 0


def test_caps_truncate_message_and_stack_with_a_visible_mark() -> None:
    body = "x" * 100_000
    xml = f'<testsuite><testcase name="t"><failure message="{"m" * 5000}">{body}</failure></testcase></testsuite>'
    result = rows(xml, max_message_chars=100, max_stack_chars=200)[0]
    assert len(result["message"]) == 100
    assert len(result["stack_trace"]) == 200
    assert result["message"].endswith("…[truncated]")
    assert result["stack_trace"].endswith("…[truncated]")
    assert result["stack_trace"].startswith("xxx")


def test_over_long_identity_is_rejected_not_truncated() -> None:
    xml = f'<testsuite><testcase classname="{"c" * 70_000}" name="t"/></testsuite>'.encode()
    with pytest.raises(RejectedInput, match="attribute 'classname' of <testcase> over 65536 characters"):
        parse_report(xml)


def test_nested_testcase_is_rejected() -> None:
    with pytest.raises(RejectedInput, match="nested inside <testcase>"):
        parse_report(
            b'<testsuite><testcase name="a"><system-out><testcase name="b"/></system-out></testcase></testsuite>'
        )


def test_every_source_kind(tmp_path: Path) -> None:
    xml = b'<testsuite name="s"><testcase name="t"/></testsuite>'
    path = tmp_path / "r.xml"
    path.write_bytes(xml)

    class Member:
        def open(self) -> io.BytesIO:
            return io.BytesIO(xml)

    for source in (path, str(path), xml, bytearray(xml), memoryview(xml), io.BytesIO(xml), Member()):
        assert parse_report(source).table["test_name"].to_pylist() == ["t"]


def test_stream_that_fails_to_open_rejects_only_that_report() -> None:
    class Broken:
        def open(self) -> io.BytesIO:
            raise RejectedInput("encrypted member")

    batch = parse_many([("a.xml", Broken()), ("b.xml", b"<testsuite><testcase name='t'/></testsuite>")])
    assert [r.reason for r in batch.rejections] == ["encrypted member"]
    assert batch.table["report_path"].to_pylist() == ["b.xml"]


def test_outcome_counts() -> None:
    assert parse_report(SUREFIRE.encode()).outcome_counts() == {
        "passed": 1,
        "failed": 1,
        "error": 1,
        "skipped": 1,
    }


# ---------------------------------------------------------------------------------------------
# Long CDATA sections are cut before libxml2 buffers them


TRICKY_CDATA = """<?xml version="1.0"?>
<testsuite name="s"><!-- a comment with <![CDATA[ inside and ]]> too -->
<?pi <![CDATA[ not a section ?>
<testcase name="t"><failure message="m"><![CDATA[a < b && c > d ]]]]><![CDATA[> ]]]]] <!-- not a comment --> <?not a pi?>]]>tail &amp; more<![CDATA[]]><![CDATA[x]]]]></failure></testcase>
<testcase name="u"><failure><![CDATA[
line1
line2]]></failure></testcase>
</testsuite>"""


def test_cdata_handling_keeps_text_identical_to_libxml2_for_every_chunk_split() -> None:
    reference = [
        "".join(node.itertext()).strip()
        for node in lxml.etree.fromstring(TRICKY_CDATA.encode()).iter("failure")
    ]
    data = TRICKY_CDATA.encode()
    for size in (1, 2, 3, 5, 8, 9, 10, 13, 64):
        got = [r["stack_trace"] for r in rows(data, chunk_bytes=size)]
        assert got == reference, f"chunk size {size}"


@pytest.mark.parametrize("chunk_bytes", [1, 3, 4096])
def test_cutter_passes_a_prefix_of_each_cdata_section_and_never_splits_a_character(chunk_bytes: int) -> None:
    cutter = _LongCdataCutter(keep=5)
    data = "<!-- <![CDATA[ x --><?pi <![CDATA[ ?><a><![CDATA[ééé]]]]><![CDATA[123456789]]></a>".encode()
    out = b"".join(cutter.feed(data[i : i + chunk_bytes]) for i in range(0, len(data), chunk_bytes))
    out += cutter.flush()
    # "ééé]" is 7 bytes: 5 would split the third "é", so 4 bytes pass.
    assert out.decode() == "<!-- <![CDATA[ x --><?pi <![CDATA[ ?><a><![CDATA[éé]]><![CDATA[12345]]></a>"


def test_cutter_never_breaks_utf8_whatever_the_splits() -> None:
    generator = random.Random(20240501)
    alphabet = ["a", "]", ">", "<", "é", "€", "𝄞", "\n"]
    for _ in range(300):
        content = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 60)))
        content = content.replace("]]>", "]] >")
        keep = generator.randint(1, 40)
        data = f"<a><![CDATA[{content}]]></a>".encode()
        cutter = _LongCdataCutter(keep)
        out, position = [], 0
        while position < len(data):
            step = generator.randint(1, 9)
            out.append(cutter.feed(data[position : position + step]))
            position += step
        passed = (b"".join(out) + cutter.flush()).decode()  # raises if a character was split
        kept = passed.removeprefix("<a><![CDATA[").removesuffix("]]></a>")
        assert content.startswith(kept)
        assert kept == content or len(kept.encode()) > keep - 4


def test_long_cdata_is_cut_but_still_marked_truncated() -> None:
    body = "é" * 300_000 + "END"
    xml = f'<testsuite><testcase name="t"><failure message="m"><![CDATA[{body}]]></failure></testcase></testsuite>'
    for chunk_bytes in (7, 1 << 20):
        stack = rows(xml, max_stack_chars=1000, chunk_bytes=chunk_bytes)[0]["stack_trace"]
        assert stack == "é" * (1000 - len(" …[truncated]")) + " …[truncated]"


def test_every_fixture_parses_the_same_with_tiny_chunks(fixtures_dir: Path) -> None:
    for path in sorted((fixtures_dir / "junit").glob("*/*.xml")):
        try:
            expected = parse_report(path).table
        except RejectedInput:
            continue
        assert parse_report(path, limits=ParseLimits(chunk_bytes=7)).table.equals(expected), path.name


# ---------------------------------------------------------------------------------------------
# Stable test id


AWKWARD_IDS = [
    ("acme/api", "tests.test_x", None, "test_param[a-b]", None),
    ("acme/api", "tests.test_x", None, "test_param[\"quoted\" 'single']", None),
    ("acme/api", "Kdyby\\Renderer. | tests/x.phpt [method=testA]", None, "name with | pipes", None),
    ("acme/api", "ÜnïcødéClass", None, "テスト ✓ 🚀", None),
    ("acme/api", "c" * 300, None, "n" * 400, None),
    ("acme/api", "one.Class", None, "same_name", None),
    ("acme/api", "other.Class", None, "same_name", None),
    ("acme/api", None, "src/file.test.js", "renders", "suite"),
    ("acme/api", "", "src/file.test.js", "renders", "suite"),
    ("acme/api", None, None, "renders", "src/a.test.js"),
    ("acme/api", None, None, "renders", None),
    ("acme/web", "one.Class", None, "same_name", None),
    ("acme/api", "a\nb", None, "tab\tand\r\nnewline", None),
]


def test_test_id_matches_the_sql_expression_on_awkward_names() -> None:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE t (repo VARCHAR, classname VARCHAR, file VARCHAR, test_name VARCHAR, suite VARCHAR)"
    )
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", AWKWARD_IDS)
    from_sql = [row[0] for row in connection.execute(f"SELECT {TEST_ID_SQL} FROM t").fetchall()]
    assert from_sql == [stable_id(*row) for row in AWKWARD_IDS]
    assert len(set(from_sql)) == len(AWKWARD_IDS) - 1  # "" and NULL classname are the same test


def test_test_id_is_stable_hex_and_ignores_everything_but_identity() -> None:
    value = stable_id("acme/api", "tests.test_x", "tests/test_x.py", "test_a")
    assert value == "1c7ea7e6050185dc78a5857afe4884f9"  # md5("acme/api\x1ftests.test_x\x1ftest_a")
    assert value == stable_id("acme/api", "tests.test_x", "other/place.py", "test_a", suite="pytest-20240501")
    assert value != stable_id("acme/other", "tests.test_x", "tests/test_x.py", "test_a")


def test_arrow_table_loads_with_ids_hashed_in_duckdb() -> None:
    table = parse_report(GOTESTSUM_RERUN_FAILS.encode()).table
    connection = duckdb.connect()
    connection.register("parsed", table)
    loaded = connection.execute(
        f"SELECT test_name, attempt, {TEST_ID_SQL} AS test_id FROM (SELECT 'acme/api' AS repo, * FROM parsed)"
    ).fetchall()
    assert [(name, attempt) for name, attempt, _ in loaded] == [
        ("TestFlaky", 0),
        ("TestOK", 0),
        ("TestFlaky", 1),
        ("TestFlaky", 0),
    ]
    assert loaded[0][2] == loaded[2][2] == stable_id("acme/api", "example.com/api", None, "TestFlaky")
    assert loaded[3][2] != loaded[0][2]
