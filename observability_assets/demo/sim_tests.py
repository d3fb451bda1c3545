"""The test suites of the simulated repositories: names, files, durations and failure texts.

Each repository speaks one JUnit dialect (pytest, jest-junit, Maven Surefire, go-junit-report) and
carries the awkward names real suites have: parametrised ids with brackets and quotes, unicode, a
300+ character name, and one test name that lives in two classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PYTEST, JEST, SUREFIRE, GO = "pytest", "jest", "surefire", "go"
DIALECTS = (PYTEST, JEST, SUREFIRE, GO)

# Outcome reasons stored per (test job, test case). A case with reason PASS and zero failures passed.
PASS, ASSERT, FLAKY, INFRA, SKIP = 0, 1, 2, 3, 4

# Surefire's rerunFailingTestsCount=2: a failing test runs up to three times inside one report.
SUREFIRE_EXECUTIONS = 3

_NOUNS = (
    "order", "invoice", "customer", "session", "token", "cache", "payment", "report", "schema",
    "router", "queue", "config", "account", "webhook", "export", "search", "index", "metric",
    "alert", "tenant", "quota", "upload", "profile", "price", "cart", "ledger", "shipment",
    "inventory", "refund", "coupon",
)  # fmt: skip
_VERBS = (
    "create", "update", "delete", "parse", "validate", "serialize", "render", "refresh", "expire",
    "retry", "merge", "resolve", "encode", "decode", "sort", "filter", "paginate", "authorize",
    "reject", "migrate",
)  # fmt: skip
_QUALIFIERS = (
    "empty", "large", "invalid", "missing", "duplicate", "concurrent", "expired", "nested",
    "partial", "legacy", "default", "unicode",
)  # fmt: skip
_PARAMS = ("case0", "case1", "utf-8", "latin-1", "None", "0-1", "neg", "max")

_LONG_PARAM = "-".join(f"field_{i:02d}_{_NOUNS[i % len(_NOUNS)]}" for i in range(18))


def dialect_for(repo_name: str, index: int) -> str:
    """The JUnit dialect a repository's tests write; fixed for the demo names, cycled otherwise."""
    known = {"api": SUREFIRE, "web": JEST, "mobile": JEST, "infra": GO, "data": PYTEST}
    return known.get(repo_name, DIALECTS[index % len(DIALECTS)])


@dataclass(frozen=True)
class TestCatalogue:
    """The test cases of one repository, in report order (grouped by report file, then suite)."""

    __test__ = False  # not a pytest test class

    dialect: str
    classname: tuple[str, ...]
    name: tuple[str, ...]
    file: tuple[str | None, ...]
    line: tuple[int, ...]
    suite: tuple[str, ...]
    report_path: tuple[str, ...]
    base_duration_s: np.ndarray  # seconds on Linux, before noise and duration steps
    always_skipped: np.ndarray  # bool, skipped on every platform
    skipped_on_windows: np.ndarray  # bool
    awkward: dict[str, int]  # role -> test index, e.g. "quoted_param", "duplicate_a"
    schedule_only: dict[int, str] = field(default_factory=dict)  # test index -> schedule (sim_nightly)

    def __len__(self) -> int:
        return len(self.name)

    @property
    def max_executions(self) -> int:
        return SUREFIRE_EXECUTIONS if self.dialect == SUREFIRE else 1

    @property
    def has_error_outcome(self) -> bool:
        """Whether infrastructure failures are written as <error> (pytest, Surefire) or <failure>."""
        return self.dialect in (PYTEST, SUREFIRE)

    def runnable(self) -> np.ndarray:
        """Indices of tests that run (not skipped) on every platform."""
        return np.flatnonzero(~self.always_skipped & ~self.skipped_on_windows)


@dataclass(frozen=True)
class _Case:
    group: str  # module, describe file, Java class or Go package
    classname: str
    name: str
    role: str | None = None


def build_catalogue(repo_name: str, dialect: str, n_tests: int, rng: np.random.Generator) -> TestCatalogue:
    """Deterministic test suite of `n_tests` cases for one repository."""
    groups = _group_names(repo_name, dialect, max(2, n_tests // 8), rng)
    cases = _awkward_cases(dialect, groups)
    seen = {(c.classname, c.name) for c in cases}
    while len(cases) < n_tests:
        group = groups[int(rng.integers(len(groups)))]
        name = _plain_name(dialect, rng)
        classname = _classname(dialect, group, int(rng.integers(len(_JEST_CONTEXTS))))
        if (classname, name) not in seen:
            seen.add((classname, name))
            cases.append(_Case(group, classname, name))
    cases = cases[:n_tests]
    # Report order: grouped by module/class/package like the tools write them.
    order = sorted(range(len(cases)), key=lambda i: (groups.index(cases[i].group), i))
    cases = [cases[i] for i in order]

    n = len(cases)
    base = np.exp(rng.normal(np.log(0.25), 1.1, n)).clip(0.002, 8.0)
    slow = rng.choice(n, size=min(3, n), replace=False)
    base[slow] = rng.uniform(6.0, 20.0, len(slow))
    skipped = np.zeros(n, dtype=bool)
    skipped[rng.choice(n, size=max(1, n // 40), replace=False)] = True
    on_windows = np.zeros(n, dtype=bool)
    candidates = np.flatnonzero(~skipped)
    on_windows[rng.choice(candidates, size=max(1, n // 25), replace=False)] = True
    awkward = {c.role: i for i, c in enumerate(cases) if c.role}
    # Awkward tests always run, so they can carry injected faults.
    for i in awkward.values():
        skipped[i] = on_windows[i] = False

    return TestCatalogue(
        dialect=dialect,
        classname=tuple(c.classname for c in cases),
        name=tuple(c.name for c in cases),
        file=tuple(_file(dialect, c.group) for c in cases),
        line=tuple(int(x) for x in rng.integers(8, 400, n)),
        suite=tuple(_suite(dialect, c) for c in cases),
        report_path=tuple(_report_path(dialect, c) for c in cases),
        base_duration_s=base.round(3),
        always_skipped=skipped,
        skipped_on_windows=on_windows,
        awkward=awkward,
    )


def _group_names(repo_name: str, dialect: str, count: int, rng: np.random.Generator) -> list[str]:
    nouns = [str(x) for x in rng.permutation(_NOUNS)]
    groups = []
    for i in range(count):
        noun = nouns[i % len(nouns)] + ("" if i < len(nouns) else str(i // len(nouns)))
        if dialect == PYTEST:
            groups.append(f"tests.test_{noun}")
        elif dialect == JEST:
            area = ("components", "hooks", "lib", "pages")[i % 4]
            groups.append(f"src/{area}/{noun.capitalize()}.test.ts")
        elif dialect == SUREFIRE:
            module = ("core", "service")[i % 2]
            groups.append(
                f"{module}:com.acme.{_java_package(repo_name)}.{module}.{noun.capitalize()}ServiceTest"
            )
        else:
            groups.append(f"github.com/acme/{repo_name}/internal/{noun}")
    return groups


def _java_package(repo_name: str) -> str:
    return "".join(ch for ch in repo_name.lower() if ch.isalnum()) or "app"


_JEST_CONTEXTS = ("rendering", "when input is empty", "with a slow network", "edge cases")
_EDGE_CASES = 3  # the jest describe block awkward tests live in


def _classname(dialect: str, group: str, jest_context: int) -> str:
    if dialect == PYTEST:
        return group  # module-level test functions
    if dialect == JEST:
        component = group.rsplit("/", 1)[1].split(".", 1)[0]
        return f"{component} › {_JEST_CONTEXTS[jest_context]}"
    if dialect == SUREFIRE:
        return group.split(":", 1)[1]
    return group


def _plain_name(dialect: str, rng: np.random.Generator) -> str:
    verb = _VERBS[int(rng.integers(len(_VERBS)))]
    qual = _QUALIFIERS[int(rng.integers(len(_QUALIFIERS)))]
    noun = _NOUNS[int(rng.integers(len(_NOUNS)))]
    parametrised = rng.random() < 0.2
    param = _PARAMS[int(rng.integers(len(_PARAMS)))]
    if dialect == PYTEST:
        return f"test_{verb}_{qual}_{noun}" + (f"[{param}]" if parametrised else "")
    if dialect == JEST:
        third_person = verb + ("es" if verb.endswith(("sh", "ch", "s", "x")) else "s")
        return f"{third_person} {qual} {noun}" + (f" ({param})" if parametrised else "")
    if dialect == SUREFIRE:
        method = f"should{verb.capitalize()}{qual.capitalize()}{noun.capitalize()}"
        return f"{method}(String)[{int(rng.integers(1, 5))}]" if parametrised else method
    name = f"Test{verb.capitalize()}{qual.capitalize()}{noun.capitalize()}"
    return f"{name}/{param}" if parametrised else name


def _awkward_cases(dialect: str, groups: list[str]) -> list[_Case]:
    """The names that break naive parsers and id schemes, adapted to each dialect."""
    first, second = groups[0], groups[1]
    if dialect == PYTEST:
        names = {
            "quoted_param": 'test_parse[a-"b"]',
            "apostrophe_param": "test_x['it''s']",
            "unicode": "test_normalise[naïve-café-日本語]",
            "long_name": f"test_roundtrip_large_payload[{_LONG_PARAM}]",
            "duplicate": "test_roundtrip",
        }
    elif dialect == JEST:
        names = {
            "quoted_param": 'parses a-"b" as a quoted token',
            "apostrophe_param": "escapes 'it''s' in labels",
            "unicode": "renders émoji 🚀 and ünïcode labels",
            "long_name": f"round-trips a large payload with {_LONG_PARAM.replace('-', ' ')}",
            "duplicate": "handles empty input",
        }
    elif dialect == SUREFIRE:
        names = {
            "quoted_param": 'parse(String)[1] input="a-\\"b\\""',
            "apostrophe_param": "parse(String)[2] input='it''s'",
            "unicode": "handlesÜmlautsAndEmoji_🚀",
            "long_name": f"roundTripsLargePayload(Map)[1] {_LONG_PARAM}",
            "duplicate": "shouldRejectNull",
        }
    else:
        names = {
            "quoted_param": 'TestParse/a-"b"',
            "apostrophe_param": "TestParse/'it''s'",
            "unicode": "TestNormalize/ünïcödé_ß_日本",
            "long_name": f"TestRoundTrip/{_LONG_PARAM}",
            "duplicate": "TestRoundTrip",
        }
    cases = []
    for role, name in names.items():
        if role == "duplicate":
            cases.append(_Case(first, _classname(dialect, first, _EDGE_CASES), name, "duplicate_a"))
            cases.append(_Case(second, _classname(dialect, second, _EDGE_CASES), name, "duplicate_b"))
        else:
            cases.append(_Case(first, _classname(dialect, first, _EDGE_CASES), name, role))
    return cases


def _file(dialect: str, group: str) -> str | None:
    if dialect == PYTEST:
        return group.replace(".", "/") + ".py"
    return None  # jest-junit, Surefire and go-junit-report write no file attribute by default


def _suite(dialect: str, case: _Case) -> str:
    if dialect == PYTEST:
        return "pytest"
    if dialect == SUREFIRE:
        return case.classname
    return case.group


def _report_path(dialect: str, case: _Case) -> str:
    if dialect == PYTEST:
        return "test-results/junit.xml"
    if dialect == JEST:
        return "reports/jest-junit.xml"
    if dialect == SUREFIRE:
        module, classname = case.group.split(":", 1)
        return f"{module}/target/surefire-reports/TEST-{classname}.xml"
    return "report.xml"


# -- failure texts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureText:
    element: str  # "failure" or "error"
    message: str
    type: str
    body: str


def failure_text(catalogue: TestCatalogue, test: int, reason: int) -> FailureText:
    """The message and stack trace a test writes for one failing execution (deterministic)."""
    dialect = catalogue.dialect
    name, classname, line = catalogue.name[test], catalogue.classname[test], catalogue.line[test]
    expected, got = 40 + test % 17, 41 + test % 17
    if reason == INFRA:
        return _infra_text(catalogue, test)
    if dialect == PYTEST:
        file = catalogue.file[test]
        if reason == FLAKY:
            msg = "TimeoutError: operation did not complete within 5.0s"
            body = (
                f"    def {name.split('[', 1)[0]}(client):\n>       result = client.wait_for_event(timeout=5.0)\n"
                f"E       {msg}\n\n{file}:{line}: TimeoutError"
            )
            return FailureText("failure", msg, "", body)
        msg = f"AssertionError: assert {got} == {expected}"
        body = (
            f"    def {name.split('[', 1)[0]}(client):\n>       assert compute(client) == {expected}\n"
            f"E       {msg}\n\n{file}:{line}: AssertionError"
        )
        return FailureText("failure", msg, "", body)
    if dialect == JEST:
        file = catalogue.suite[test]
        if reason == FLAKY:
            msg = 'thrown: "Exceeded timeout of 5000 ms for a test."'
            body = (
                f"{msg}\n\nAdd a timeout value to this test to increase the timeout.\n    at {file}:{line}:5"
            )
            return FailureText("failure", "", "", body)
        body = (
            "Error: expect(received).toEqual(expected) // deep equality\n\n"
            f"Expected: {expected}\nReceived: {got}\n    at Object.<anonymous> ({file}:{line}:21)\n"
            "    at processTicksAndRejections (node:internal/process/task_queues:95:5)"
        )
        return FailureText("failure", "", "", body)
    if dialect == SUREFIRE:
        short = classname.rsplit(".", 1)[1]
        method = name.split("(", 1)[0]
        if reason == FLAKY:
            msg = f"Condition with {short} was not fulfilled within 5 seconds."
            type_ = "org.awaitility.core.ConditionTimeoutException"
        else:
            msg = f"expected: <{expected}> but was: <{got}>"
            type_ = "org.opentest4j.AssertionFailedError"
        body = (
            f"{type_}: {msg}\n\tat {classname}.{method}({short}.java:{line})\n"
            "\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)\n"
            "\tat java.base/java.util.ArrayList.forEach(ArrayList.java:1596)\n"
        )
        return FailureText("failure", msg, type_, body)
    file = classname.rsplit("/", 1)[1] + "_test.go"
    if reason == FLAKY:
        body = f"    {file}:{line}: timed out waiting for eviction after 2s"
    else:
        body = f"    {file}:{line}: got {got}, want {expected}"
    return FailureText("failure", "Failed", "", body)


def _infra_text(catalogue: TestCatalogue, test: int) -> FailureText:
    dialect = catalogue.dialect
    if dialect == PYTEST:
        msg = (
            'failed on setup with "psycopg.OperationalError: connection failed: connection to server '
            'at "127.0.0.1", port 5432 failed: Connection refused"'
        )
        body = (
            "    @pytest.fixture\n    def db():\n>       conn = psycopg.connect(DATABASE_URL)\n"
            "E       psycopg.OperationalError: connection failed: Connection refused\n\n"
            "tests/conftest.py:21: OperationalError"
        )
        return FailureText("error", msg, "", body)
    if dialect == JEST:
        body = (
            "Error: connect ECONNREFUSED 127.0.0.1:5432\n"
            "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)"
        )
        return FailureText("failure", "", "", body)
    if dialect == SUREFIRE:
        body = (
            "java.net.ConnectException: Connection refused\n"
            "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)\n"
            "\tat org.postgresql.core.PGStream.<init>(PGStream.java:98)\n"
        )
        return FailureText("error", "Connection refused", "java.net.ConnectException", body)
    return FailureText(
        "failure", "Failed", "", "    db_test.go:31: dial tcp 127.0.0.1:5432: connect: connection refused"
    )


def skip_message(catalogue: TestCatalogue, test: int) -> str:
    if schedule := catalogue.schedule_only.get(test):
        return f"runs in the {schedule} schedule only"
    if catalogue.always_skipped[test]:
        return "requires a GPU runner"
    return "not supported on Windows (path separators)"
