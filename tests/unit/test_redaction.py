"""Redaction at ingest (core/redaction.py): each kind found and replaced by a stable keyed
placeholder, ordinary trace content left alone, Arrow columns equal to per-value redaction."""

from __future__ import annotations

import pickle
import re

import pyarrow as pa
import pytest

from observability_assets.core.junit import parse_many
from observability_assets.core.redaction import (
    RedactionSettings,
    Redactor,
    settings_from_mapping,
)

KEY = b"unit-test-key-0123456789abcdef"
REDACTOR = Redactor(KEY)
PLACEHOLDER = re.compile(r"\[REDACTED:([a-z0-9_]+):[0-9a-f]{4}\]")

# (text, secret that must disappear, kind reported). Shapes follow detect-secrets' plugin tests
# and the providers' documented formats; none is a live credential.
FINDINGS = [
    ("Bad credentials for ghp_" + "a1B2c3D4e5" * 4, "ghp_" + "a1B2c3D4e5" * 4, "github_token"),
    ("GITHUB_TOKEN=gho_" + "Z9y8X7w6V5" * 4, "gho_" + "Z9y8X7w6V5" * 4, "github_token"),
    (
        "token github_pat_11AAAAAAA0abcdefghijkl_" + "m" * 59,
        "github_pat_11AAAAAAA0abcdefghijkl_" + "m" * 59,
        "github_token",
    ),
    ("InvalidClientTokenId: AKIAZ3MTR5X2QW7PLK9D", "AKIAZ3MTR5X2QW7PLK9D", "aws_access_key"),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_key",
    ),
    (
        "GET /maps?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY 403",
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "google_api_key",
    ),
    (
        "slack said invalid_auth for xoxb-2048-4096-AbCdEfGhIjKlMnOp",
        "xoxb-2048-4096-AbCdEfGhIjKlMnOp",
        "slack_token",
    ),
    (
        "POST https://hooks.slack.com/services/T0A1B2C3D/B4E5F6G7H/q1w2e3r4t5y6u7i8o9p0 -> 404",
        "T0A1B2C3D/B4E5F6G7H/q1w2e3r4t5y6u7i8o9p0",
        "slack_webhook",
    ),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U expired",
        "eyJzdWIiOiJqYW5lIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "jwt",
    ),
    (
        "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
        "private_key",
    ),
    (
        "could not connect to postgres://svc_app:Tr0ub4dor3@db.acme.internal/app",
        "svc_app:Tr0ub4dor3",
        "url_credentials",
    ),
    ("Server=sql1;Database=app;User Id=sa;Password=P@ssw0rd2024!;", "P@ssw0rd2024!", "password"),
    ('{"password": "correct-horse-battery"}', "correct-horse-battery", "password"),
    ("> Authorization: Basic YWxpY2U6c2VjcmV0cGFzcw==", "YWxpY2U6c2VjcmV0cGFzcw==", "authorization"),
    ("headers={'Cookie': 'sessionid=9a8b7c6d5e4f3a2b1c0d'}", "9a8b7c6d5e4f3a2b1c0d", "cookie"),
    ("AssertionError: expected owner jane.doe+ci@example.co.uk", "jane.doe+ci@example.co.uk", "email"),
    ("ConnectTimeout: 203.0.113.42:443 after 10s", "203.0.113.42", "ipv4"),
    ("reset by peer [2001:db8:85a3::8a2e:370:7334]:8443", "2001:db8:85a3::8a2e:370:7334", "ipv6"),
    ("client_secret: 'q8Zp2LrX7vNc4TmW9sKd'", "q8Zp2LrX7vNc4TmW9sKd", "high_entropy_secret"),
]

# Ordinary trace content that must survive untouched.
ORDINARY = [
    "AssertionError: assert 'f1d2d2f924e986ac86fdf7b36c94bcdf32beec15' == '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b'",
    "KeyError: request 550e8400-e29b-41d4-a716-446655440000 not found",
    "expected body SGVsbG8sIFdvcmxkISBUaGlzIGlzIGEgdGVzdCBwYXlsb2FkLg== to equal ''",
    "\tat com.acme.auth.TokenService.validate(TokenService.java:118)",
    '  File "/src/app/secrets_manager.py", line 42, in rotate',
    "thread 'main' panicked at 'index out of bounds', src/std::vec::Vec.rs:12:5 at 12:00:03.117",
    "requires python 3.11.7, numpy 2.4.6 and System.Runtime, Version=4.2.2.0",
    "AssertionError: token=expired, password=None",
    "connect 127.0.0.1:5432 refused",
    "Expected: 1\nReceived: 2\n    at Object.<anonymous> (src/api.test.js:17:5)",
    "digest sha256:4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b",
]


@pytest.mark.parametrize(
    ("text", "secret", "kind"), FINDINGS, ids=[f[2] + str(i) for i, f in enumerate(FINDINGS)]
)
def test_each_kind_is_found_and_replaced_by_its_typed_placeholder(text: str, secret: str, kind: str) -> None:
    redacted, found = REDACTOR.redact(text)
    assert secret not in redacted
    assert kind in found, (redacted, found)
    assert kind in PLACEHOLDER.findall(redacted)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_trace_content_survives(text: str) -> None:
    assert REDACTOR.redact(text) == (text, {})


def test_placeholders_are_stable_keyed_and_idempotent() -> None:
    text = "mail jane@example.org then jane@example.org and bob@example.org"
    once, found = REDACTOR.redact(text)
    assert found == {"email": 3}
    jane, jane_again, bob = PLACEHOLDER.finditer(once)
    assert jane.group(0) == jane_again.group(0) != bob.group(0)  # equal secrets stay equal
    assert REDACTOR.redact(once) == (once, {})  # redacting twice changes nothing
    other_key = Redactor(b"another-deployment-key-000000000")
    assert other_key.redact(text)[0] != once  # the hash is keyed: not a dictionary lookup


def test_settings_extra_patterns_allow_list_and_ip_switch() -> None:
    settings = settings_from_mapping(
        {
            "redact_ip": False,
            "extra_patterns": [{"kind": "npm_token", "pattern": "npm_[A-Za-z0-9]{36}"}],
            "allow": ["ci@acme\\.example"],
        }
    )
    redactor = Redactor(KEY, settings)
    text = "npm_" + "a" * 36 + " from ci@acme.example and dev@acme.example at 203.0.113.9"
    redacted, found = redactor.redact(text)
    assert found == {"npm_token": 1, "email": 1}
    assert "ci@acme.example" in redacted and "203.0.113.9" in redacted and "dev@acme" not in redacted
    with pytest.raises(ValueError, match="unknown redaction settings"):
        settings_from_mapping({"redact_ips": False})


def test_arrow_columns_match_per_value_redaction_and_count_per_row() -> None:
    values = [text for text, _, _ in FINDINGS] * 3 + ORDINARY + [None]
    column = pa.chunked_array([pa.array(values[:20]), pa.array(values[20:])])
    redacted, found = REDACTOR.redact_arrow(column)
    expected = [None if v is None else REDACTOR.redact(v)[0] for v in values]
    assert redacted.to_pylist() == expected
    per_value = REDACTOR.redact_values(values)[1]
    assert found == per_value and sum(found.values()) >= 3 * len(FINDINGS)
    untouched = pa.chunked_array([pa.array(ORDINARY)])
    assert REDACTOR.redact_arrow(untouched)[0] is untouched  # nothing hinted: no copy


def test_redactor_pickles_for_worker_processes_without_showing_its_key() -> None:
    copy = pickle.loads(pickle.dumps(REDACTOR))
    assert copy.redact(FINDINGS[0][0]) == REDACTOR.redact(FINDINGS[0][0])
    assert KEY.decode() not in repr(REDACTOR)
    with pytest.raises(ValueError):
        Redactor(b"short", RedactionSettings())


def test_junit_parse_redacts_messages_and_traces_in_worker_processes_too(tmp_path) -> None:
    reports = []
    for index in range(4):
        path = tmp_path / f"TEST-{index}.xml"
        path.write_text(
            '<testsuite name="s"><testcase classname="c" name="t{}">'
            '<failure message="login as jane.doe@example.org failed">'
            "requests.exceptions.HTTPError: 401 for https://api.acme.test/?access_token=ghp_{}\n"
            "Authorization: Bearer abcdefghijklmnop0123456789</failure></testcase></testsuite>".format(
                index, "x1Y2z3W4v5" * 4
            ),
            encoding="utf-8",
        )
        reports.append((path.name, path))
    serial = parse_many(reports, workers=1, redactor=REDACTOR)
    parallel = parse_many(reports, workers=2, parallel_min_bytes=0, redactor=REDACTOR)
    assert serial.table.equals(parallel.table.combine_chunks())
    assert serial.redactions == parallel.redactions == {"authorization": 4, "email": 4, "github_token": 4}
    text = " ".join(
        serial.table.column("message").to_pylist() + serial.table.column("stack_trace").to_pylist()
    )
    assert "jane.doe" not in text and "ghp_" not in text and "abcdefghijklmnop" not in text
