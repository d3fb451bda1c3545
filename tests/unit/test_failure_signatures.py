"""Signatures survive what varies between occurrences and keep different causes apart."""

from __future__ import annotations

import duckdb
import pytest

from observability_assets.core.failure_signatures import (
    cluster_signature,
    describe_failure,
    normalise,
    sql_normalise,
)

# (raw text, masked text): one row per kind of variation
MASKED = [
    ("id=8f14e45f-ceea-467f-a0e6-12c5e3f2a1b4 gone", "id=<uuid> gone"),
    ("at 2026-10-03T10:00:01.123Z retrying", "at <ts> retrying"),
    ("started 2026-10-03 10:00:01+00:00", "started <ts>"),
    ("<acme.Session object at 0x7f3a2c1b9e80> closed", "<acme.Session object at <hex>> closed"),
    (
        "pool com.zaxxer.hikari.HikariDataSource@1b6d3586 closed",
        "pool com.zaxxer.hikari.HikariDataSource@<hex> closed",
    ),
    ("No such file: '/tmp/pytest-of-runner/pytest-12/test_export0/out.csv'", "No such file: '<tmp>'"),
    ("No such file: '/var/folders/x1/abc/T/tmpk2/out.csv'", "No such file: '<tmp>'"),
    ("cannot write C:\\Users\\RUNNER~1\\AppData\\Local\\Temp\\tmpab12cd\\x.json", "cannot write <tmp>"),
    (
        'connection to server at "10.1.0.7", port 5432 failed',
        'connection to server at "<ip>", port <n> failed',
    ),
    ("connect ECONNREFUSED 127.0.0.1:54321", "connect ECONNREFUSED <ip>:<n>"),
    ("test_parse[case3-utf-8] failed", "test_parse[<param>] failed"),
    ("parse(String)[2] failed", "parse(String)[<param>] failed"),
    ("Timeout after 5000ms (attempt 3 of 5)", "Timeout after <n>ms (attempt <n> of <n>)"),
    ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 missing", "commit <hex> missing"),
    ("a\n\t  b", "a b"),
]


@pytest.mark.parametrize(("raw", "masked"), MASKED)
def test_masks(raw: str, masked: str) -> None:
    assert normalise(raw) == masked


def test_sql_masks_equal_python_masks() -> None:
    """DuckDB (RE2) applies the same masks as Python, so the clusterer can mask in SQL."""
    expression, parameters = sql_normalise("t")
    with duckdb.connect() as con:
        for raw, masked in MASKED:
            (got,) = con.execute(f"SELECT {expression} FROM (SELECT ? AS t)", [*parameters, raw]).fetchone()
            assert got == masked == normalise(raw)


_PY_LIB = (
    "    def test_{name}(client):\n>       client.get('/orders/{n}')\n\n"
    "/home/runner/work/{repo}/{repo}/.venv/lib/python3.12/site-packages/httpx/_transports/default.py:{line}: in handle_request\n"
    "    raise mapped_exc(message) from exc\n"
    "E   httpx.ConnectError: [Errno 111] Connection refused (port {port})\n"
)


def test_a_library_error_is_one_signature_across_tests_and_repositories() -> None:
    a = describe_failure(None, _PY_LIB.format(name="a", n=1, repo="api", line=69, port=5432))
    b = describe_failure(None, _PY_LIB.format(name="b", n=77, repo="data", line=72, port=6543))
    assert a.base == b.base
    assert (
        a.base == "httpx.ConnectError: [Errno <n>] Connection refused (port <n>) @ default.py:handle_request"
    )
    assert not a.per_test
    assert cluster_signature(a.base_digest, a.per_test, "t1") == cluster_signature(
        b.base_digest, b.per_test, "t2"
    )


def test_an_assertion_in_the_test_itself_is_the_tests_own() -> None:
    body = (
        "    def test_total():\n>       assert total() == {e}\nE       AssertionError: assert {g} == {e}\n\n"
        "tests/test_orders.py:{line}: AssertionError"
    )
    one = describe_failure(None, body.format(e=40, g=41, line=10))
    again = describe_failure(None, body.format(e=7, g=9, line=12))  # moved two lines, other values
    assert one.base == again.base and one.per_test
    assert one.frame_line == 10 and again.frame_line == 12  # the line is kept apart
    assert cluster_signature(one.base_digest, True, "t1") != cluster_signature(one.base_digest, True, "t2")


def test_different_causes_differ() -> None:
    refused = describe_failure(
        "Connection refused",
        "java.net.ConnectException: Connection refused\n\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)\n",
    )
    reset = describe_failure(
        "Connection reset",
        "java.net.SocketException: Connection reset\n\tat java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:318)\n",
    )
    assert refused.base_digest != reset.base_digest
