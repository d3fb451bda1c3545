"""A planted corpus of secrets and personal data in the simulated test failures (issue 20).

Real failure output leaks: an HTTP client prints the URL with its ``access_token``, a database
driver the connection string with its password, a fixture the user's e-mail. To prove that
redaction at ingest catches such leaks everywhere, the simulator writes them into the JUnit
reports: one failing execution cell (artifact × test case) in about eight carries one planted
item of one of 16 kinds, in the message or the trace, phrased as the test's dialect (pytest,
jest, Surefire, go test) would print it. About half of the other failing cells carry *ordinary*
noise that must survive redaction untouched: commit hashes, SHA-256 digests, UUIDs, base64
payloads, ETags.

Everything is a pure function of (seed, artifact id, test index) through its own RNG, so the
other simulated features' random streams do not move and the ground truth (`planted_items`) is
computed without rendering a single report. None of the values is a live credential: they have
the providers' shapes with random bodies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from observability_assets.demo.sim_tests import FailureText

# Share of failing cells with a planted secret, and with ordinary noise.
SECRET_SHARE = 0.12
ORDINARY_SHARE = 0.55

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"

KINDS: tuple[str, ...] = (
    "github_token",
    "aws_access_key",
    "aws_secret_key",
    "google_api_key",
    "slack_token",
    "slack_webhook",
    "jwt",
    "private_key",
    "url_credentials",
    "password",
    "authorization",
    "cookie",
    "email",
    "ipv4",
    "ipv6",
    "high_entropy_secret",
)
# Kinds whose text spans lines: they go into the trace only, never an XML attribute.
_MULTILINE = frozenset({"private_key"})

_FIRST = ("jane", "omar", "li", "sofia", "raj", "maria", "kenji", "ada", "lucas", "fatima", "noah", "ines")
_LAST = ("doe", "haddad", "wei", "rossi", "patel", "garcia", "sato", "lovelace", "martin", "khan", "berg")
_DOMAINS = ("acme-corp.com", "example.org", "mail.acme.io", "contoso.net", "fabrikam.co.uk")


@dataclass(frozen=True)
class PlantedItem:
    """One planted secret: `value` is the part that must never reach disk (the distinctive
    secret text); `line` the text written around it."""

    kind: str
    value: str
    line: str
    in_message: bool


@dataclass(frozen=True)
class OrdinaryItem:
    """Ordinary trace noise that must survive: each of `values` must be found verbatim."""

    values: tuple[str, ...]
    line: str


def _rng(seed: int, artifact_id: int, test: int) -> random.Random:
    return random.Random(f"{seed}:secrets:{artifact_id}:{test}")


def _pick(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return f"{first}.{last}{rng.randint(1, 999)}", rng.choice(_DOMAINS)


def _secret(kind: str, rng: random.Random) -> tuple[str, str]:
    """(value, line) of one planted item of `kind`."""
    if kind == "github_token":
        if rng.random() < 0.25:
            value = f"github_pat_{_pick(rng, UPPER_DIGITS, 22)}_{_pick(rng, ALNUM, 59)}"
        else:
            value = f"{rng.choice(('ghp', 'gho', 'ghu', 'ghs', 'ghr'))}_{_pick(rng, ALNUM, 36)}"
        repo = rng.choice(("acme/api", "acme/infra", "acme/web"))
        return value, f"fatal: could not read from https://x-access-token:{value}@github.com/{repo}.git"
    if kind == "aws_access_key":
        value = "AKIA" + _pick(rng, UPPER_DIGITS, 16)
        return (
            value,
            f"botocore.exceptions.ClientError: InvalidAccessKeyId: The AWS Access Key Id {value} does not exist",
        )
    if kind == "aws_secret_key":
        value = _pick(rng, B64, 40)
        return value, f"loaded profile ci: aws_secret_access_key={value} region=eu-west-1"
    if kind == "google_api_key":
        value = "AIza" + _pick(rng, ALNUM + "_-", 35)
        return (
            value,
            f"HTTP 403 from https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={value}",
        )
    if kind == "slack_token":
        value = f"xoxb-{rng.randint(10**11, 10**12 - 1)}-{rng.randint(10**12, 10**13 - 1)}-{_pick(rng, ALNUM, 24)}"
        return value, f"slack_sdk.errors.SlackApiError: invalid_auth (token {value})"
    if kind == "slack_webhook":
        value = f"T{_pick(rng, UPPER_DIGITS, 8)}/B{_pick(rng, UPPER_DIGITS, 10)}/{_pick(rng, ALNUM, 24)}"
        return value, f"POST https://hooks.slack.com/services/{value} returned 404 no_service"
    if kind == "jwt":
        user, domain = _person(rng)
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(
            json.dumps({"sub": f"{user}@{domain}", "exp": rng.randint(1_700_000_000, 1_900_000_000)}).encode()
        )
        value = f"{header}.{payload}.{_b64url(rng.randbytes(32))}"
        return value, f"jwt.exceptions.ExpiredSignatureError: Signature has expired: {value}"
    if kind == "private_key":
        lines = [_pick(rng, B64, 64) for _ in range(4)]
        block = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"
        return lines[1], f"ssh: no key found in fixture deploy_key:\n{block}"
    if kind == "url_credentials":
        password = _pick(rng, ALNUM, 18)
        scheme, host = rng.choice(
            (("postgresql", "db.internal:5432/app"), ("mongodb", "mongo-0.internal:27017/admin"),
             ("redis", "cache.internal:6379/0"), ("amqp", "rabbit.internal:5672/%2F"))
        )  # fmt: skip
        return password, f"OperationalError: could not connect to {scheme}://svc_ci:{password}@{host}"
    if kind == "password":
        value = _pick(rng, ALNUM, 14) + rng.choice("!#$%*")
        return (
            value,
            f"SqlException: Login failed. ConnectionString: Server=sql.internal;Database=app;User Id=svc;Password={value};",
        )
    if kind == "authorization":
        if rng.random() < 0.5:
            user, _ = _person(rng)
            value = base64.b64encode(f"{user}:{_pick(rng, ALNUM, 12)}".encode()).decode()
            return value, f"> Authorization: Basic {value}"
        value = _pick(rng, HEX, 40)
        return value, f"request headers: {{'Authorization': 'token {value}', 'Accept': 'application/json'}}"
    if kind == "cookie":
        value = _pick(rng, HEX, 32)
        return value, f"> Cookie: sessionid={value}; csrftoken={_pick(rng, ALNUM, 32)}"
    if kind == "email":
        user, domain = _person(rng)
        value = f"{user}@{domain}"
        return value, f"AssertionError: expected invitation mail to {value}, got none"
    if kind == "ipv4":
        value = (
            f"{rng.randint(100, 223)}.{rng.randint(10, 254)}.{rng.randint(10, 254)}.{rng.randint(11, 254)}"
        )
        if value.startswith("127."):
            value = "128" + value[3:]
        return value, f"ConnectTimeoutError: connection to {value}:8443 timed out (connect timeout=10)"
    if kind == "ipv6":
        groups = [f"{rng.randint(0x1000, 0xFFFF):x}" for _ in range(6)]
        value = "2001:db8:" + ":".join(groups)
        return value, f"dial tcp [{value}]:443: connect: network is unreachable"
    if kind == "high_entropy_secret":
        value = _pick(rng, ALNUM, 28)
        return value, f"OAuthError: invalid_client for client_id=ci-bot client_secret='{value}'"
    raise ValueError(f"unknown kind {kind}")


def _ordinary(rng: random.Random) -> OrdinaryItem:
    sha1 = _pick(rng, HEX, 40)
    digest = _pick(rng, HEX, 64)
    request = str(uuid.UUID(bytes=rng.randbytes(16), version=4))
    payload = base64.b64encode(rng.randbytes(rng.randint(18, 48))).decode()
    line = rng.choice(
        (
            f"request {request} failed at commit {sha1}; response body (base64) {payload}",
            f"image digest sha256:{digest} does not match manifest of build {sha1[:12]} (trace {request})",
            f'etag mismatch: W/"{digest[:32]}" != stored; payload={payload} id={request}',
        )
    )
    return OrdinaryItem(tuple(v for v in (sha1, digest, request, payload) if v in line), line)


def plant(seed: int, artifact_id: int, test: int) -> PlantedItem | OrdinaryItem | None:
    """What the failure text of one (artifact, test case) cell carries, if anything."""
    rng = _rng(seed, artifact_id, test)
    roll = rng.random()
    if roll < SECRET_SHARE:
        kind = KINDS[rng.randrange(len(KINDS))]
        value, line = _secret(kind, rng)
        in_message = kind not in _MULTILINE and rng.random() < 0.4
        return PlantedItem(kind, value, line, in_message)
    if roll < SECRET_SHARE + ORDINARY_SHARE:
        return _ordinary(rng)
    return None


def decorate(text: FailureText, dialect: str, seed: int, artifact_id: int, test: int) -> FailureText:
    """`text` with the cell's planted item or ordinary noise written as the dialect prints it."""
    item = plant(seed, artifact_id, test)
    if item is None:
        return text
    line = item.line
    if dialect == "pytest":
        trace_line = "E       " + line.replace("\n", "\nE       ")
    elif dialect == "surefire":
        trace_line = "Caused by: " + line
    elif dialect == "go":
        trace_line = "    " + line.replace("\n", "\n    ")
    else:  # jest: the message is the first line of the body
        trace_line = line
    if isinstance(item, PlantedItem) and item.in_message:
        if dialect == "jest":
            return replace(text, body=f"{line}\n{text.body}")
        return replace(text, message=f"{text.message} ({line})" if text.message else line, body=text.body)
    if dialect == "jest":
        return replace(text, body=f"{text.body}\n{trace_line}")
    return replace(text, body=f"{text.body.rstrip(chr(10))}\n{trace_line}\n")


@dataclass(frozen=True)
class Cell:
    """Where an item was planted: the failing test case `test` (catalogue index) of an artifact."""

    repo: str
    artifact_id: int
    dialect: str
    test: int
    item: PlantedItem | OrdinaryItem


@dataclass(frozen=True)
class Corpus:
    """Ground truth of one simulated organisation's planted corpus."""

    secrets: tuple[Cell, ...]
    ordinary: tuple[Cell, ...]

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.secrets:
            counts[cell.item.kind] = counts.get(cell.item.kind, 0) + 1  # type: ignore[union-attr]
        return dict(sorted(counts.items()))

    def dialects(self) -> set[str]:
        return {cell.dialect for cell in self.secrets}

    def values(self) -> list[str]:
        """Every planted value (what must never be found on disk)."""
        return [cell.item.value for cell in self.secrets]  # type: ignore[union-attr]


def corpus(seed: int, cells: Iterable[tuple[str, int, str, int]]) -> Corpus:
    """The planted corpus of failing cells given as (repo, artifact id, dialect, test index)."""
    secrets, ordinary = [], []
    for repo, artifact_id, dialect, test in cells:
        item = plant(seed, artifact_id, test)
        if isinstance(item, PlantedItem):
            secrets.append(Cell(repo, artifact_id, dialect, test, item))
        elif isinstance(item, OrdinaryItem):
            ordinary.append(Cell(repo, artifact_id, dialect, test, item))
    return Corpus(tuple(secrets), tuple(ordinary))


def fingerprint(value: str) -> str:
    """Short digest of a planted value, for reports that must not print the value itself."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]
