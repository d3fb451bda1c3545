"""Root causes of the simulated failures, with the texts they write and their ground truth.

Four kinds of cause, each with realistic messages and stack traces in every dialect the simulator
writes (pytest, jest, Surefire, go test), varying per occurrence (ports, addresses, durations, ids,
line numbers of the calling test) the way real failures do:

- **dependency break**: a library bump lands on one day in every repository of one language (the
  language with most repositories) and breaks 6-12 tests in each until a fix one to three days
  later. The tests are added as broken tests (`RepoFaults.broken`), so the flaky-test labels know
  them; the error is raised in the repository's own wrapper around the library.
- **infrastructure outage**: the organisation-wide outage of `sim_faults` (database unreachable),
  written as each language's client reports a refused connection.
- **flaky network error**: most flaky tests of a repository fail with the same connection reset
  from the HTTP client; the remaining flaky tests time out in their own way.
- **single-test failures**: broken tests and pull-request breakages fail their own assertion.

`cause_of` labels every failing execution and `expected_file` names the file a reader would blame
(the deepest frame inside the repository). The labels are per language for the outage and the
network error: the same outage reads differently in psycopg, node, JDBC and Go, and no text-based
grouping can (or should pretend to) know they are one event.

Its own random streams (`random.Random(f"{seed}:failure-causes...")`) keep the other features'
draws where they were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from observability_assets.demo.sim_plan import DAY_S, RepoPlan
from observability_assets.demo.sim_tests import (
    ASSERT,
    FLAKY,
    GO,
    INFRA,
    JEST,
    PYTEST,
    SUREFIRE,
    FailureText,
    TestCatalogue,
)

DEPENDENCY, OUTAGE, NETWORK, OWN_FLAKY, OWN = "dependency", "outage", "network", "own_flaky", "own"


@dataclass(frozen=True)
class DependencyBreak:
    dialect: str
    repos: tuple[str, ...]  # full names
    day: int  # day index the bump lands on
    fix_after_days: int


@dataclass(frozen=True)
class RepoCauses:
    repo: str  # full name
    dialect: str
    dependency_tests: frozenset[int]
    network_tests: frozenset[int]


def plan_dependency_break(
    seed: int, owner: str, names: tuple[str, ...], dialects: tuple[str, ...], days: int
) -> DependencyBreak | None:
    if days < 4:
        return None
    rng = random.Random(f"{seed}:failure-causes")
    counts = {d: dialects.count(d) for d in dialects}
    best = max(counts.values())
    dialect = rng.choice(sorted(d for d, n in counts.items() if n == best))
    repos = tuple(f"{owner}/{n}" for n, d in zip(names, dialects, strict=True) if d == dialect)
    return DependencyBreak(
        dialect, repos, rng.randint(max(1, days // 4), max(1, days // 2)), rng.randint(1, 3)
    )


def add_dependency_break(
    brk: DependencyBreak | None,
    *,
    seed: int,
    full_name: str,
    catalogue: TestCatalogue,
    plan: RepoPlan,
    faults,  # sim_faults.RepoFaults (typed loosely: sim_faults imports nothing from here)
    start_s: int,
):
    """`faults` plus the tests the bump breaks in this repository (as broken tests)."""
    from observability_assets.demo.sim_faults import BrokenTest

    if brk is None or full_name not in brk.repos:
        return faults
    rng = random.Random(f"{seed}:failure-causes:{full_name}")
    taken = set(faults.flaky) | {b.test for b in faults.broken}
    taken |= {t for tests in faults.commit_failures.values() for t in tests}
    candidates = [int(i) for i in catalogue.runnable() if int(i) not in taken]
    if len(candidates) < 2:
        return faults
    tests = sorted(rng.sample(candidates, min(len(candidates), rng.randint(6, 12))))
    c = plan.commits
    direct = [(c.at[i], c.main_position[i]) for i in plan.main if c.direct[i] and c.main_position[i] > 0]
    lands = start_s + brk.day * DAY_S + 9 * 3600
    starts = [(at, pos) for at, pos in direct if at >= lands]
    if not starts:
        return faults
    start_at, start_pos = starts[0]
    fixes = [pos for at, pos in direct if at >= start_at + brk.fix_after_days * DAY_S]
    fix = fixes[0] if fixes else None
    return replace(faults, broken=faults.broken + tuple(BrokenTest(t, start_pos, fix) for t in tests))


def repo_causes(
    brk: DependencyBreak | None, *, seed: int, full_name: str, dialect: str, faults, plain_broken: int
) -> RepoCauses:
    """Which tests fail from a shared cause; `plain_broken`: broken tests planned before the bump."""
    dependency = frozenset(b.test for b in faults.broken[plain_broken:]) if brk else frozenset()
    flaky = sorted(faults.flaky)
    rng = random.Random(f"{seed}:failure-causes:network:{full_name}")
    rng.shuffle(flaky)
    shared = flaky[: max(2, len(flaky) - 1)] if len(flaky) >= 2 else []
    return RepoCauses(full_name, dialect, dependency, frozenset(shared))


def cause_of(causes: RepoCauses, test: int, reason: int) -> tuple[str, str]:
    """(kind, label) of one failing execution; equal labels are one planted cause."""
    if reason == INFRA:
        return OUTAGE, f"{OUTAGE}:{causes.dialect}"
    if reason == FLAKY:
        if test in causes.network_tests:
            return NETWORK, f"{NETWORK}:{causes.dialect}"
        return OWN_FLAKY, f"{OWN_FLAKY}:{causes.repo}:{test}"
    if reason == ASSERT and test in causes.dependency_tests:
        return DEPENDENCY, f"{DEPENDENCY}:{causes.dialect}"
    return OWN, f"{OWN}:{causes.repo}:{test}"


# -- names the texts use ---------------------------------------------------------------------------


def _repo_short(full_name: str) -> str:
    return full_name.rsplit("/", 1)[1]


def _package(full_name: str) -> str:
    return "".join(ch for ch in _repo_short(full_name).lower() if ch.isalnum()) or "app"


def _checkout(full_name: str) -> str:
    name = _repo_short(full_name)
    return f"/home/runner/work/{name}/{name}"


def _java_file(classname: str) -> str:
    return classname.replace(".", "/") + ".java"


def _words(catalogue: TestCatalogue, test: int) -> list[str]:
    """The words of the test's name (verb, qualifier, noun where the scheme has them)."""
    name = catalogue.name[test]
    for sep in ("[", "(", "/"):
        name = name.split(sep, 1)[0]
    if catalogue.dialect == PYTEST:
        return name.removeprefix("test_").split("_")
    if catalogue.dialect == JEST:
        return name.split()
    out, word = [], ""
    for ch in name.removeprefix("Test").removeprefix("should"):
        if ch.isupper() and word:
            out.append(word.lower())
            word = ""
        word += ch
    return [*out, word.lower()] if word else out


def expected_file(causes: RepoCauses, catalogue: TestCatalogue, test: int, kind: str) -> str:
    """The repository file the failure's deepest in-repository frame is in (the truth)."""
    dialect, pkg = catalogue.dialect, _package(causes.repo)
    java_root = f"com/acme/{pkg}"
    shared = {
        (DEPENDENCY, PYTEST): f"src/{pkg}/clients.py",
        (DEPENDENCY, JEST): "src/lib/dates.ts",
        (DEPENDENCY, SUREFIRE): f"{java_root}/core/JsonCodec.java",
        (DEPENDENCY, GO): "internal/config/load.go",
        (OUTAGE, PYTEST): "tests/conftest.py",
        (OUTAGE, JEST): "src/db/pool.ts",
        (OUTAGE, SUREFIRE): f"{java_root}/core/Db.java",
        (OUTAGE, GO): "db_test.go",
        (NETWORK, PYTEST): f"src/{pkg}/clients.py",
        (NETWORK, JEST): "src/lib/apiClient.ts",
        (NETWORK, SUREFIRE): f"{java_root}/service/HttpGateway.java",
        (NETWORK, GO): "http_test.go",
    }
    if (kind, dialect) in shared:
        return shared[(kind, dialect)]
    return _own_file(catalogue, test)


def _own_file(catalogue: TestCatalogue, test: int) -> str:
    dialect = catalogue.dialect
    if dialect == PYTEST:
        return str(catalogue.file[test])
    if dialect == JEST:
        return catalogue.suite[test]
    if dialect == SUREFIRE:
        return _java_file(catalogue.classname[test])
    return catalogue.classname[test].rsplit("/", 1)[1] + "_test.go"


# -- the texts -------------------------------------------------------------------------------------


def failure_text(
    causes: RepoCauses, catalogue: TestCatalogue, test: int, reason: int, occurrence: str
) -> FailureText:
    """The message and stack trace of one failing execution; `occurrence` varies the details."""
    kind, _ = cause_of(causes, test, reason)
    rng = random.Random(f"{occurrence}|{test}")
    writer = {PYTEST: _pytest, JEST: _jest, SUREFIRE: _surefire, GO: _go}[catalogue.dialect]
    return writer(kind, causes, catalogue, test, rng)


def _hex(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(40):x}"


def _pytest(kind: str, causes: RepoCauses, c: TestCatalogue, test: int, rng: random.Random) -> FailureText:
    file, line, name = str(c.file[test]), c.line[test], c.name[test].split("[", 1)[0]
    pkg, root = _package(causes.repo), _checkout(causes.repo)
    venv = f"{root}/.venv/lib/python3.12/site-packages"
    words = _words(c, test)
    noun = words[-1] if words else "item"
    sep = "_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _"
    if kind == OUTAGE:
        port = 5432
        ip = f"172.18.0.{rng.randint(2, 9)}"
        msg = (
            f'failed on setup with "psycopg.OperationalError: connection failed: connection to server at '
            f'"{ip}", port {port} failed: Connection refused"'
        )
        body = (
            f"    @pytest.fixture\n    def db():\n>       conn = psycopg.connect(DATABASE_URL, connect_timeout={rng.randint(2, 10)})\n\n"
            f"tests/conftest.py:21: \n{sep}\n\n"
            f"{venv}/psycopg/connection.py:{rng.choice((119, 121))}: in connect\n    raise last_ex.with_traceback(None)\n"
            f'E   psycopg.OperationalError: connection failed: connection to server at "{ip}", port {port} failed: '
            "Connection refused\nE   \tIs the server running on that host and accepting TCP/IP connections?\n\n"
            f"{venv}/psycopg/connection.py:119: OperationalError"
        )
        return FailureText("error", msg, "", body)
    if kind in (DEPENDENCY, NETWORK):
        call = f"fetch_json(client, '/v1/{noun}s/{rng.randint(1, 99999)}')"
        if kind == DEPENDENCY:
            inner = (
                f"src/{pkg}/clients.py:{rng.choice((41, 42))}: in api_client\n"
                f"    return httpx.Client(base_url=base_url, proxies=proxies, timeout={rng.randint(5, 30)}.0)\n"
                "E   TypeError: Client.__init__() got an unexpected keyword argument 'proxies'\n\n"
                f"src/{pkg}/clients.py:41: TypeError"
            )
            head = "TypeError: Client.__init__() got an unexpected keyword argument 'proxies'"
        else:
            inner = (
                f"src/{pkg}/clients.py:88: in fetch_json\n    response = client.get(path, timeout={rng.randint(2, 9)}.0)\n"
                f"{venv}/httpx/_client.py:1066: in get\n    return self.request(\n"
                f"{venv}/httpx/_transports/default.py:{rng.choice((69, 72))}: in map_httpcore_exceptions\n"
                "    raise mapped_exc(message) from exc\n"
                "E   httpx.ReadError: [Errno 104] Connection reset by peer\n\n"
                f"{venv}/httpx/_transports/default.py:118: ReadError"
            )
            head = "httpx.ReadError: [Errno 104] Connection reset by peer"
        body = f"    def {name}(client):\n>       payload = {call}\n\n{file}:{line}: \n{sep}\n\n{inner}"
        return FailureText("failure", head, "", body)
    if kind == OWN_FLAKY:
        msg = f"TimeoutError: {noun} {words[0] if words else 'event'} event not received within {rng.randint(2, 9)}.0s"
        body = (
            f"    def {name}(client):\n>       client.wait_for('{noun}.{words[0] if words else 'done'}', "
            f"timeout={rng.randint(2, 9)}.0)\nE       {msg}\n\n{file}:{line}: TimeoutError"
        )
        return FailureText("failure", msg, "", body)
    expected = rng.randint(1, 500)
    got = expected + rng.randint(1, 9)
    fn = "_".join(words[:1] + words[-1:]) or "compute"
    msg = f"AssertionError: assert {got} == {expected}"
    body = (
        f"    def {name}(client):\n>       assert {fn}(client, id={rng.randint(1, 9999)}) == {expected}\n"
        f"E       {msg}\nE        +  where {got} = {fn}(<FlaskClient <Flask 'app'>>, id=…)\n\n"
        f"{file}:{line}: AssertionError"
    )
    return FailureText("failure", msg, "", body)


def _jest(kind: str, causes: RepoCauses, c: TestCatalogue, test: int, rng: random.Random) -> FailureText:
    suite, line, root = c.suite[test], c.line[test], _checkout(causes.repo)
    words = _words(c, test)
    caller = f"    at Object.<anonymous> ({root}/{suite}:{line}:{rng.randint(5, 40)})"
    runner = (
        f"    at Promise.then.completed ({root}/node_modules/jest-circus/build/utils.js:298:28)\n"
        f"    at new Promise (<anonymous>)\n"
        f"    at callAsyncCircusFn ({root}/node_modules/jest-circus/build/utils.js:231:10)"
    )
    if kind == OUTAGE:
        body = (
            f"Error: connect ECONNREFUSED 172.18.0.{rng.randint(2, 9)}:5432\n"
            "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)\n"
            f"    at Pool.connect ({root}/node_modules/pg-pool/index.js:45:11)\n"
            f"    at getPool ({root}/src/db/pool.ts:{rng.choice((18, 19))}:{rng.randint(10, 30)})\n{caller}\n{runner}"
        )
    elif kind == DEPENDENCY:
        body = (
            "TypeError: Cannot read properties of undefined (reading 'formatISO')\n"
            f"    at formatIsoDate ({root}/src/lib/dates.ts:14:{rng.choice((22, 23))})\n"
            f"    at render{(words[-1] if words else 'view').capitalize()} ({root}/{suite.rsplit('.test', 1)[0]}.tsx:"
            f"{rng.randint(20, 90)}:{rng.randint(5, 30)})\n{caller}\n{runner}"
        )
    elif kind == NETWORK:
        body = (
            "AxiosError: read ECONNRESET\n"
            f"    at Function.AxiosError.from ({root}/node_modules/axios/lib/core/AxiosError.js:89:14)\n"
            f"    at RedirectableRequest.handleRequestError ({root}/node_modules/axios/lib/adapters/http.js:620:25)\n"
            f"    at fetchJson ({root}/src/lib/apiClient.ts:{rng.choice((31, 33))}:{rng.randint(10, 20)})\n"
            f"{caller}\n{runner}"
        )
    elif kind == OWN_FLAKY:
        label = " ".join(words[1:] + words[:1]) or "content"
        body = (
            f"TestingLibraryElementError: Unable to find an element with the text: {label}. This could be because "
            "the text is broken up by multiple elements.\n\n"
            f'<body>\n  <div data-testid="spinner-{rng.randint(1, 999)}" />\n</body>\n'
            f"    at Object.getElementError ({root}/node_modules/@testing-library/dom/dist/config.js:37:19)\n"
            f"    at waitFor ({root}/node_modules/@testing-library/dom/dist/wait-for.js:{rng.choice((163, 166))}:27)\n"
            f"{caller}\n{runner}"
        )
    else:
        expected = rng.randint(1, 500)
        body = (
            "Error: expect(received).toEqual(expected) // deep equality\n\n"
            f"Expected: {expected}\nReceived: {expected + rng.randint(1, 9)}\n{caller}\n"
            "    at processTicksAndRejections (node:internal/process/task_queues:95:5)"
        )
    return FailureText("failure", "", "", body)


def _surefire(kind: str, causes: RepoCauses, c: TestCatalogue, test: int, rng: random.Random) -> FailureText:
    classname, line = c.classname[test], c.line[test]
    short, method = classname.rsplit(".", 1)[1], c.name[test].split("(", 1)[0]
    pkg = f"com.acme.{_package(causes.repo)}"
    words = _words(c, test)
    caller = f"\tat {classname}.{method}({short}.java:{line})\n"
    jdk = (
        "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)\n"
        "\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)\n"
        "\tat org.junit.platform.commons.util.ReflectionUtils.invokeMethod(ReflectionUtils.java:728)\n"
    )
    if kind == OUTAGE:
        ip = f"172.18.0.{rng.randint(2, 9)}"
        type_ = "org.postgresql.util.PSQLException"
        msg = (
            f"Connection to {ip}:5432 refused. Check that the hostname and port are correct and that the "
            "postmaster is accepting TCP/IP connections."
        )
        body = (
            f"{type_}: {msg}\n"
            "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:342)\n"
            "\tat com.zaxxer.hikari.pool.HikariPool.createPoolEntry(HikariPool.java:476)\n"
            f"\tat {pkg}.core.Db.open(Db.java:{rng.choice((21, 22))})\n{caller}{jdk}"
            "Caused by: java.net.ConnectException: Connection refused\n"
            "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)\n"
            "\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:551)\n"
            f"\t... {rng.randint(40, 60)} more\n"
        )
        return FailureText("error", msg, type_, body)
    if kind == DEPENDENCY:
        type_ = "java.lang.NoSuchMethodError"
        msg = (
            "'com.fasterxml.jackson.databind.ObjectMapper com.fasterxml.jackson.databind.ObjectMapper"
            ".setSerializationInclusion(com.fasterxml.jackson.annotation.JsonInclude$Include)'"
        )
        body = (
            f"{type_}: {msg}\n\tat {pkg}.core.JsonCodec.mapper(JsonCodec.java:{rng.choice((33, 34))})\n"
            f"\tat {pkg}.core.JsonCodec.encode(JsonCodec.java:{rng.randint(40, 60)})\n{caller}{jdk}"
        )
        return FailureText("error", msg, type_, body)
    if kind == NETWORK:
        type_ = "org.springframework.web.client.ResourceAccessException"
        url = f"http://172.18.0.{rng.randint(2, 9)}:{rng.randint(30000, 60000)}/v1/{words[-1] if words else 'item'}s/{rng.randint(1, 99999)}"
        msg = f'I/O error on GET request for "{url}": Connection reset'
        body = (
            f"{type_}: {msg}\n"
            "\tat org.springframework.web.client.RestTemplate.createResourceAccessException(RestTemplate.java:915)\n"
            f"\tat {pkg}.service.HttpGateway.fetch(HttpGateway.java:{rng.choice((57, 58))})\n{caller}{jdk}"
            "Caused by: java.net.SocketException: Connection reset\n"
            "\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:318)\n"
            "\tat java.base/sun.nio.ch.NioSocketImpl.read(NioSocketImpl.java:346)\n"
            f"\t... {rng.randint(30, 50)} more\n"
        )
        return FailureText("failure", msg, type_, body)
    if kind == OWN_FLAKY:
        type_ = "org.awaitility.core.ConditionTimeoutException"
        msg = (
            f"Condition with alias '{' '.join(words) or method}' didn't complete within {rng.randint(2, 9)} seconds "
            f"because condition with lambda expression in {classname} was not fulfilled."
        )
        body = (
            f"{type_}: {msg}\n"
            "\tat org.awaitility.core.ConditionAwaiter.await(ConditionAwaiter.java:167)\n"
            f"{caller}{jdk}"
        )
        return FailureText("failure", msg, type_, body)
    expected = rng.randint(1, 500)
    type_ = "org.opentest4j.AssertionFailedError"
    msg = f"expected: <{expected}> but was: <{expected + rng.randint(1, 9)}>"
    body = (
        f"{type_}: {msg}\n"
        "\tat org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)\n"
        "\tat org.junit.jupiter.api.AssertEquals.assertEquals(AssertEquals.java:150)\n"
        f"{caller}{jdk}"
    )
    return FailureText("failure", msg, type_, body)


def _go(kind: str, causes: RepoCauses, c: TestCatalogue, test: int, rng: random.Random) -> FailureText:
    classname, line = c.classname[test], c.line[test]
    package = classname.rsplit("/", 1)[1]
    own = f"{package}_test.go"
    words = _words(c, test)
    root = _checkout(causes.repo)
    if kind == OUTAGE:
        body = f"    db_test.go:31: dial tcp 172.18.0.{rng.randint(2, 9)}:5432: connect: connection refused"
    elif kind == NETWORK:
        port = rng.randint(30000, 60000)
        body = (
            f'    http_test.go:{rng.choice((44, 45))}: Get "http://127.0.0.1:{port}/v1/{words[-1] if words else "item"}s/'
            f'{rng.randint(1, 99999)}": read tcp 127.0.0.1:{rng.randint(30000, 60000)}->127.0.0.1:{port}: '
            "read: connection reset by peer"
        )
    elif kind == DEPENDENCY:
        test_fn = c.name[test].split("/", 1)[0]
        goroot = "/opt/hostedtoolcache/go/1.23.4/x64/src"
        body = (
            f"panic: yaml: unmarshal errors:\n  line {rng.randint(2, 40)}: cannot unmarshal !!map into []config.Rule "
            f"[recovered]\n\tpanic: yaml: unmarshal errors\n\ngoroutine {rng.randint(5, 90)} [running]:\n"
            f"testing.tRunner.func1.2({{{_hex(rng)}, {_hex(rng)}}})\n\t{goroot}/testing/testing.go:1632 +0x230\n"
            f"panic({{{_hex(rng)}, {_hex(rng)}}})\n\t{goroot}/runtime/panic.go:785 +0x132\n"
            f"github.com/acme/{_repo_short(causes.repo)}/internal/config.MustLoad(...)\n"
            f"\t{root}/internal/config/load.go:{rng.choice((27, 28))} +0x1a5\n"
            f"{classname}.{test_fn}({_hex(rng)})\n\t{root}/{classname.split('/', 3)[3]}/{own}:{line} +0x45\n"
        )
    elif kind == OWN_FLAKY:
        body = (
            f"    {own}:{line}: timed out after {rng.randint(2, 9)}s waiting for {' '.join(words) or 'event'}"
        )
    else:
        expected = rng.randint(1, 500)
        body = f"    {own}:{line}: got {expected + rng.randint(1, 9)}, want {expected}"
    return FailureText("failure", "Failed", "", body)
