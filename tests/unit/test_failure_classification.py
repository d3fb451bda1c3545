"""Why a Vigil run failed: the classification behind re-execute-or-file, on real error texts."""

from __future__ import annotations

import pytest

from sensors.run_failure import ErrorLink, backoff_s, classify, error_chain

# (class name, message) pairs as the libraries Vigil uses raise them.
CASES = [
    (
        "GitHubRateLimited",
        "GitHub GET /repos/acme/api/actions/runs: 403 with retry-after asks for a 600s wait",
        "rate_limit",
    ),
    (
        "GitHubError",
        "GitHub GET /search/issues -> 429: You have exceeded a secondary rate limit",
        "rate_limit",
    ),
    (
        "WarehouseLockTimeout",
        "warehouse lock data/warehouse.duckdb.lock not acquired within 120 s",
        "lock_timeout",
    ),
    (
        "IOException",
        'IO Error: Could not set lock on file "data/warehouse.duckdb": Conflicting lock is held',
        "lock_timeout",
    ),
    ("Timeout", "The file lock 'data/cache/x.lock' could not be acquired.", "lock_timeout"),
    (
        "ConnectionError",
        "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /health",
        "network",
    ),
    ("GitHubError", "GitHub GET /orgs/acme/repos failed: ConnectionError: Connection refused", "network"),
    (
        "ReadTimeout",
        "HTTPSConnectionPool(host='api.github.com', port=443): Read timed out. (read timeout=30)",
        "network",
    ),
    (
        "GitHubError",
        "GitHub GET /repos/acme/api/actions/runs still failing after 5 retries: server error 503",
        "network",
    ),
    ("gaierror", "[Errno -3] Temporary failure in name resolution", "network"),
    (
        "CatalogueError",
        "config/services.yaml: invalid service catalogue:\n  - services[0]: base_url is required",
        "bad_data",
    ),
    ("ConversionException", "Conversion Error: Could not convert string 'abc' to INT32", "bad_data"),
    ("ValueError", "columns ['oops'] are not in raw.test_results's contract", "bad_data"),
    ("JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", "bad_data"),
    ("TypeError", "unsupported operand type(s) for +: 'int' and 'NoneType'", "code"),
    ("KeyError", "'conclusion'", "code"),
    ("AttributeError", "'NoneType' object has no attribute 'get'", "code"),
]


@pytest.mark.parametrize(("cls_name", "message", "category"), CASES)
def test_classify(cls_name, message, category):
    assert classify([ErrorLink(cls_name, message)]) == category


def test_cause_decides_when_dagster_wraps_the_error():
    chain = [
        ErrorLink("DagsterExecutionStepExecutionError", 'Error occurred while executing op "fetch":'),
        ErrorLink("ConnectionResetError", "[Errno 104] Connection reset by peer"),
    ]
    assert classify(chain) == "network"


def test_error_chain_follows_causes_and_contexts():
    class Info:
        def __init__(self, cls_name, message, cause=None, context=None):
            self.cls_name, self.message, self.cause, self.context = cls_name, message, cause, context

    info = Info(
        "DagsterStepError", "step failed", cause=Info("OSError", "disk", context=Info("KeyError", "x"))
    )
    assert [link.cls_name for link in error_chain(info)] == ["DagsterStepError", "OSError", "KeyError"]
    assert error_chain(None) == []


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (6, 15.0, 30.0)]
)
def test_backoff_doubles_with_equal_jitter_up_to_the_cap(attempt, low, high):
    delays = [backoff_s(attempt, base_s=2.0, max_s=30.0) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high
    assert max(delays) - min(delays) > (high - low) / 4  # jittered, not fixed
