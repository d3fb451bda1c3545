"""A local GitHub-compatible REST server over a simulated organisation, for the demo and the tests.

It speaks the parts of the GitHub REST API (version 2022-11-28) that Vigil uses, with the behaviour
that makes real crawls hard, so the client is exercised the same way in the demo, the tests and
production:

- bearer/token authentication, `x-ratelimit-*` headers on every response, a primary limit that
  runs out (403 with remaining 0) and injectable secondary-limit 403/429 and 5xx faults;
- offset pagination with a GitHub-style `Link` header, and the 1,000-result cap on filtered
  workflow-run listings (the true `total_count` is still reported);
- ETags on every 200 GET and free 304s for matching `If-None-Match`;
- artifact downloads as a 302 to a signed, short-lived blob URL. Blobs are served from a second
  port of the same server: a different origin, like GitHub's blob storage, so a client that
  forwards its token there is caught (`blob_requests_with_authorization`);
- an Issues API whose state can live in a JSON file shared by several processes, with a search
  index that only sees new issues after `search_lag_s` (GitHub search is eventually consistent).

The organisation is duck-typed (see `Organisation`); `observability_assets.demo.simulator`
produces one, tests may pass any object with the same attributes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import json
import logging
import math
import os
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from filelock import FileLock

logger = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
DOCS_URL = "https://docs.github.com/rest"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
# GitHub caps filtered workflow-run listings (actor, branch, created, event, status, ...) at 1,000.
FILTERED_RESULTS_CAP = 1000
SEARCH_RESULTS_CAP = 1000
RUN_FILTERS = ("actor", "branch", "check_suite_id", "created", "event", "head_sha", "status")

_DAY = timedelta(days=1)
# Smallest step after a datetime bound: `>X` and `..X` are exclusive/inclusive at full precision.
_TICK = timedelta(microseconds=1)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

T = TypeVar("T")


class Organisation(Protocol):
    """What the server needs from a simulated organisation (see demo/simulator.py)."""

    repos: list[str]
    run_attempts: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]

    def artifact_zip(self, artifact_id: int) -> bytes: ...


# ---------------------------------------------------------------------------------------------
# The `created` filter (GitHub search date syntax)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindow:
    """A half-open window [start, end); None means unbounded."""

    start: datetime | None
    end: datetime | None

    def contains(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


def _parse_bound(text: str) -> tuple[datetime, bool]:
    """Parse one date or datetime bound; returns (UTC value, is_date_only)."""
    # A literal '+' in an unencoded query string arrives as a space.
    text = text.strip().replace(" ", "+")
    if _DATE_ONLY.match(text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC), True
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC), False


def _first_instant_after(text: str) -> datetime:
    """The first instant after a bound: the next day for a date, the next tick for a datetime."""
    value, is_date = _parse_bound(text)
    return value + (_DAY if is_date else _TICK)


def parse_created_filter(expression: str) -> TimeWindow:
    """Parse GitHub's date qualifier syntax: `D`, `A..B`, `A..*`, `*..B`, `>=X`, `<=X`, `>X`, `<X`.

    Dates cover the whole UTC day; ranges are inclusive at both ends. Raises ValueError.
    """
    expression = expression.strip()
    for operator in (">=", "<=", ">", "<"):
        if expression.startswith(operator):
            bound = expression[len(operator) :]
            if operator == ">=":
                return TimeWindow(_parse_bound(bound)[0], None)
            if operator == ">":
                return TimeWindow(_first_instant_after(bound), None)
            if operator == "<":
                return TimeWindow(None, _parse_bound(bound)[0])
            return TimeWindow(None, _first_instant_after(bound))
    if ".." in expression:
        low, high = expression.split("..", 1)
        return TimeWindow(
            None if low.strip() == "*" else _parse_bound(low)[0],
            None if high.strip() == "*" else _first_instant_after(high),
        )
    return TimeWindow(_parse_bound(expression)[0], _first_instant_after(expression))


def _parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _utc_now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Rate limits and faults
# ---------------------------------------------------------------------------------------------


class _RateBucket:
    """One primary rate-limit bucket (`core` or `search`) with a fixed window."""

    def __init__(self, resource: str, limit: int, window_s: float) -> None:
        self.resource = resource
        self.limit = limit
        self.window_s = window_s
        self.used = 0
        self.window_end = time.time() + window_s
        self._lock = threading.Lock()

    def _roll(self) -> None:
        now = time.time()
        if now >= self.window_end:
            self.used = 0
            self.window_end = now + self.window_s

    def exhausted(self) -> bool:
        with self._lock:
            self._roll()
            return self.used >= self.limit

    def spend(self) -> None:
        with self._lock:
            self._roll()
            self.used = min(self.limit, self.used + 1)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            self._roll()
            # Rounded up so a client that sleeps until `reset` always finds the window rolled.
            reset = math.ceil(self.window_end)
            return {
                "limit": self.limit,
                "used": self.used,
                "remaining": self.limit - self.used,
                "reset": reset,
            }

    def headers(self) -> dict[str, str]:
        snap = self.snapshot()
        return {
            "x-ratelimit-limit": str(snap["limit"]),
            "x-ratelimit-remaining": str(snap["remaining"]),
            "x-ratelimit-used": str(snap["used"]),
            "x-ratelimit-reset": str(snap["reset"]),
            "x-ratelimit-resource": self.resource,
        }


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    remaining: int
    retry_after: int | None
    secondary: bool


class FaultInjector:
    """Queue of faults served instead of real answers to requests whose path matches a regex."""

    def __init__(self) -> None:
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    def inject(
        self,
        path_regex: str,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        secondary: bool = False,
    ) -> None:
        """Answer the next `times` matching requests (path with query, `re.search`) with `status`.

        `secondary=True` gives GitHub's secondary-rate-limit message (use with 403 or 429);
        `retry_after` adds a `retry-after` header.
        """
        with self._lock:
            self._faults.append(_Fault(re.compile(path_regex), status, times, retry_after, secondary))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def take(self, path_with_query: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.pattern.search(path_with_query):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


# ---------------------------------------------------------------------------------------------
# Issue state (in memory, or a JSON file shared by processes)
# ---------------------------------------------------------------------------------------------


def _empty_issue_state() -> dict[str, Any]:
    return {"next_issue_id": 1, "next_comment_id": 1, "repos": {}}


class IssueStore:
    """Issue state; with a path, every operation reloads and saves it under a file lock."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._memory = _empty_issue_state()
        self._thread_lock = threading.Lock()
        self._file_lock = FileLock(str(path) + ".lock") if path else None

    def transact(self, operation: Callable[[dict[str, Any]], T], *, write: bool) -> T:
        with self._thread_lock:
            if self._path is None or self._file_lock is None:
                return operation(self._memory)
            with self._file_lock:
                state = self._load(self._path)
                result = operation(state)
                if write:
                    self._save(self._path, state)
                return result

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        if not path.exists():
            return _empty_issue_state()
        return json.loads(path.read_text(encoding="utf-8"))

    @staticmethod
    def _save(path: Path, state: dict[str, Any]) -> None:
        # Write-then-rename so a reader never sees half a file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


# ---------------------------------------------------------------------------------------------
# Request plumbing
# ---------------------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    query_pairs: list[tuple[str, str]]
    headers: Any
    # The origin the client used (Host header): links and redirects keep it, like github.com's.
    origin: str
    body: Any = None


@dataclass
class _Response:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.payload is None:
            return b""
        return json.dumps(self.payload, separators=(",", ":")).encode("utf-8")


class _ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def _error_response(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> _Response:
    payload: dict[str, Any] = {"message": message, "documentation_url": DOCS_URL, "status": str(status)}
    if errors:
        payload["errors"] = errors
    return _Response(status, payload)


def _validation_error(field_name: str, message: str) -> _ApiError:
    return _ApiError(422, "Validation Failed", [{"resource": "Issue", "field": field_name, "code": message}])


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        return default
    value = max(low, value)
    return min(high, value) if high is not None else value


def _etag(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False

    def opaque(tag: str) -> str:
        tag = tag.strip()
        return tag[2:] if tag.startswith("W/") else tag

    candidates = [c.strip() for c in if_none_match.split(",")]
    return "*" in candidates or any(opaque(c) == opaque(etag) for c in candidates)


def _stable_id(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode()) + 1_000_000


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(f"^{pattern}$"), handler)
    for method, pattern, handler in [
        ("GET", r"/orgs/(?P<org>[^/]+)/repos", "_list_org_repos"),
        ("GET", _REPO, "_get_repo"),
        ("GET", _REPO + r"/actions/runs", "_list_runs"),
        ("GET", _REPO + r"/actions/runs/(?P<run_id>\d+)", "_get_run"),
        ("GET", _REPO + r"/actions/runs/(?P<run_id>\d+)/attempts/(?P<attempt>\d+)", "_get_run_attempt"),
        ("GET", _REPO + r"/actions/runs/(?P<run_id>\d+)/jobs", "_list_run_jobs"),
        (
            "GET",
            _REPO + r"/actions/runs/(?P<run_id>\d+)/attempts/(?P<attempt>\d+)/jobs",
            "_list_attempt_jobs",
        ),
        ("GET", _REPO + r"/actions/runs/(?P<run_id>\d+)/artifacts", "_list_run_artifacts"),
        ("GET", _REPO + r"/actions/artifacts/(?P<artifact_id>\d+)", "_get_artifact"),
        (
            "GET",
            _REPO + r"/actions/artifacts/(?P<artifact_id>\d+)/(?P<archive_format>[^/]+)",
            "_download_artifact",
        ),
        ("GET", _REPO + r"/commits/(?P<ref>[0-9a-fA-F]{7,40})", "_get_commit"),
        ("GET", _REPO + r"/compare/(?P<base>[0-9a-fA-F]{7,40})\.\.\.(?P<head>[0-9a-fA-F]{7,40})", "_compare"),
        ("GET", _REPO + r"/dependabot/alerts", "_list_dependabot_alerts"),
        ("GET", _REPO + r"/issues", "_list_issues"),
        ("POST", _REPO + r"/issues", "_create_issue"),
        ("GET", _REPO + r"/issues/(?P<number>\d+)", "_get_issue"),
        ("PATCH", _REPO + r"/issues/(?P<number>\d+)", "_update_issue"),
        ("GET", _REPO + r"/issues/(?P<number>\d+)/comments", "_list_comments"),
        ("POST", _REPO + r"/issues/(?P<number>\d+)/comments", "_create_comment"),
        ("GET", r"/search/issues", "_search_issues"),
    ]
]
# Browser page for an issue's html_url (no authentication, like a public repository).
_ISSUE_PAGE = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)$")
_BLOB_PATH = re.compile(r"^/blobs/artifacts/(?P<artifact_id>\d+)\.zip$")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of concurrent clients on a busy machine would
    # overflow it, and a dropped SYN costs the client a 1 s retransmit (a connect timeout here).
    request_queue_size = 128
    # Keep-alive connections may stay open; never wait for their threads on close.
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: GitHubServer):
        self.app = app
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self.connections_lock:
            self.open_connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        # A client that hangs up early (an aborted download, a closed keep-alive) is normal.
        if not isinstance(error, ConnectionError | TimeoutError):
            logger.exception("GitHub demo server: error serving %s", client_address)

    def drop_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 30
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add about 40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _QuietServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; `GitHubServer.request_log` records requests."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        response = self.server.app.handle(self.command, self.path, self.headers, raw_body, self.server)
        body = response.body()
        self.send_response(response.status)
        if response.status != 304:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve


class GitHubServer:
    """A GitHub REST API look-alike on 127.0.0.1 over a simulated organisation."""

    def __init__(
        self,
        org: Organisation,
        token: str = "demo-token",
        *,
        issues_state_path: Path | None = None,
        search_lag_s: float = 0.0,
        rate_limit: int = 5000,
        rate_window_s: float = 3600.0,
        blob_ttl_s: float = 60.0,
    ) -> None:
        self._token = token
        self.search_lag_s = search_lag_s
        self.blob_ttl_s = blob_ttl_s
        self.faults = FaultInjector()
        self.request_log: list[tuple[str, str, int]] = []
        self.blob_requests_with_authorization = 0
        self._core = _RateBucket("core", rate_limit, rate_window_s)
        self._search = _RateBucket("search", rate_limit, rate_window_s)
        self._issues = IssueStore(issues_state_path)
        self._signing_key = secrets.token_bytes(32)
        self._log_lock = threading.Lock()
        self._api: _QuietServer | None = None
        self._blobs: _QuietServer | None = None
        self.url = ""
        self.blob_url = ""
        self._blob_port = 0
        self._index(org)

    def __repr__(self) -> str:
        return f"GitHubServer(url={self.url!r}, repos={len(self._repos)})"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start both listeners on free loopback ports; returns the API base URL."""
        if self._api is not None:
            return self.url
        self._api = _QuietServer(("127.0.0.1", 0), _Handler, self)
        self._blobs = _QuietServer(("127.0.0.1", 0), _Handler, self)
        self.url = f"http://127.0.0.1:{self._api.server_address[1]}"
        self._blob_port = self._blobs.server_address[1]
        self.blob_url = f"http://127.0.0.1:{self._blob_port}"
        for server in (self._api, self._blobs):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.url

    def stop(self) -> None:
        servers = [s for s in (self._api, self._blobs) if s is not None]
        # Shut both listeners down in parallel: each waits up to one poll interval.
        stoppers = [threading.Thread(target=s.shutdown) for s in servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in servers:
            server.server_close()
            server.drop_connections()
        self._api = self._blobs = None

    def __enter__(self) -> GitHubServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- organisation index --------------------------------------------------------------------

    def _index(self, org: Organisation) -> None:
        self._org_name_by_lower: dict[str, str] = {}
        self._repos: dict[str, str] = {}  # lower-case full name -> full name
        for full_name in org.repos:
            self._repos[full_name.lower()] = full_name
            owner = full_name.split("/", 1)[0]
            self._org_name_by_lower[owner.lower()] = owner
        self._org = org

        attempts: dict[int, dict[int, dict[str, Any]]] = {}
        self._run_repo: dict[int, str] = {}
        for run in org.run_attempts:
            attempts.setdefault(int(run["id"]), {})[int(run["run_attempt"])] = run
            self._run_repo[int(run["id"])] = run["repository"]["full_name"]
        self._attempts = attempts
        self._created: dict[int, datetime] = {}
        latest_by_repo: dict[str, list[dict[str, Any]]] = {}
        for run_id, by_attempt in attempts.items():
            latest = by_attempt[max(by_attempt)]
            self._created[run_id] = _parse_timestamp(latest["created_at"])
            latest_by_repo.setdefault(self._run_repo[run_id], []).append(latest)
        for runs in latest_by_repo.values():
            runs.sort(key=lambda r: (self._created[int(r["id"])], int(r["id"])), reverse=True)
        self._latest_runs = latest_by_repo

        self._jobs_by_run: dict[int, list[dict[str, Any]]] = {}
        for job in org.jobs:
            self._jobs_by_run.setdefault(int(job["run_id"]), []).append(job)
        for jobs in self._jobs_by_run.values():
            jobs.sort(key=lambda j: (int(j.get("run_attempt", 1)), int(j["id"])))

        self._artifacts_by_run: dict[int, list[dict[str, Any]]] = {}
        self._artifacts: dict[int, dict[str, Any]] = {}
        for artifact in org.artifacts:
            self._artifacts[int(artifact["id"])] = artifact
            self._artifacts_by_run.setdefault(int(artifact["workflow_run"]["id"]), []).append(artifact)

    # -- dispatch ------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Any, raw_body: bytes, listener: _QuietServer
    ) -> _Response:
        split = urlsplit(target)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        host = headers.get("Host") or f"127.0.0.1:{listener.server_address[1]}"
        request = _Request(
            method, split.path.rstrip("/") or "/", dict(pairs), pairs, headers, f"http://{host}"
        )
        try:
            if listener is self._blobs:
                response = self._serve_blob(request)
            else:
                response = self._serve_api(request, raw_body)
        except Exception:
            # An answer beats a dropped connection; the traceback goes to the server log.
            logger.exception("GitHub demo server failed on %s %s", method, split.path)
            response = _error_response(500, "Server Error")
        with self._log_lock:
            self.request_log.append((method, target, response.status))
        return response

    def _authorized(self, headers: Any) -> bool | None:
        """True for the right token, False for a wrong one, None when none was sent."""
        value = headers.get("Authorization")
        if not value:
            return None
        scheme, _, credential = value.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return False
        return hmac.compare_digest(credential.strip().encode(), self._token.encode())

    def _serve_api(self, request: _Request, raw_body: bytes) -> _Response:
        common = {"x-github-api-version-selected": API_VERSION, "x-github-request-id": secrets.token_hex(8)}
        page = _ISSUE_PAGE.match(request.path)
        if request.method == "GET" and page and not request.path.startswith("/repos/"):
            return self._issue_page(**page.groupdict())

        bucket = self._search if request.path.startswith("/search/") else self._core
        authorized = self._authorized(request.headers)
        if not authorized:
            message = "Requires authentication" if authorized is None else "Bad credentials"
            response = _error_response(401, message)
            response.headers.update({**common, **bucket.headers()})
            return response

        fault = self.faults.take(self._path_with_query(request))
        if fault is not None:
            response = self._fault_response(fault, common["x-github-request-id"])
            response.headers.update({**common, **bucket.headers()})
            return response

        if request.path == "/rate_limit" and request.method == "GET":
            # Free: does not count against the primary limit.
            response = self._rate_limit()
        elif bucket.exhausted():
            response = _error_response(
                403,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                f"please include the request ID {common['x-github-request-id']}.",
            )
        else:
            response = self._dispatch(request, raw_body)
            if request.method == "GET" and response.status == 200:
                etag = _etag(response.body())
                response.headers["ETag"] = etag
                if _etag_matches(request.headers.get("If-None-Match"), etag):
                    # Conditional hits are free on GitHub.
                    response = _Response(304, headers={"ETag": etag})
            if response.status != 304:
                bucket.spend()
        response.headers.update({**common, **bucket.headers()})
        return response

    @staticmethod
    def _path_with_query(request: _Request) -> str:
        return request.path + ("?" + urlencode(request.query_pairs) if request.query_pairs else "")

    @staticmethod
    def _fault_response(fault: _Fault, request_id: str) -> _Response:
        if fault.secondary:
            response = _error_response(fault.status, SECONDARY_LIMIT_MESSAGE.format(request_id=request_id))
        elif fault.status == 429:
            response = _error_response(429, "Too Many Requests")
        elif fault.status >= 500:
            # GitHub's edge answers gateway errors with HTML, not JSON.
            phrase = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(
                fault.status, "Server Error"
            )
            response = _Response(
                fault.status,
                raw=f"<html><body><h1>{fault.status} {phrase}</h1></body></html>".encode(),
                content_type="text/html; charset=utf-8",
            )
        elif fault.status == 403:
            response = _error_response(403, "Resource not accessible by integration")
        else:
            response = _error_response(fault.status, "Injected fault")
        if fault.retry_after is not None:
            response.headers["retry-after"] = str(fault.retry_after)
        return response

    def _dispatch(self, request: _Request, raw_body: bytes) -> _Response:
        for method, pattern, handler_name in _ROUTES:
            match = pattern.match(request.path)
            if not match or method != request.method:
                continue
            try:
                if raw_body:
                    try:
                        request.body = json.loads(raw_body)
                    except json.JSONDecodeError as exc:
                        raise _ApiError(400, "Problems parsing JSON") from exc
                return getattr(self, handler_name)(request, **match.groupdict())
            except _ApiError as exc:
                return _error_response(exc.status, exc.message, exc.errors)
        return _error_response(404, "Not Found")

    # -- commits (the organisation's optional `code` views, see demo/sim_code.py) ---------------

    def _code_view(self, owner: str, repo: str) -> Any:
        view = (getattr(self._org, "code", None) or {}).get(self._repo_name(owner, repo))
        if view is None:
            raise _ApiError(404, "Not Found")
        return view

    def _get_commit(self, request: _Request, owner: str, repo: str, ref: str) -> _Response:
        # GitHub lists a commit's files 300 to a page, with Link headers past that (3,000 at most).
        per_page = _int_param(request.query, "per_page", 300, 1, 300)
        page = _int_param(request.query, "page", 1, 1, None)
        found = self._code_view(owner, repo).commit_object(ref.lower(), page, per_page)
        if found is None:
            raise _ApiError(422, f"No commit found for SHA: {ref}")
        body, pages = found
        rels = [("next", page + 1), ("last", pages)] if page < pages else []
        rels += [("prev", page - 1), ("first", 1)] if page > 1 else []
        link = ", ".join(f'<{self._page_url(request, n)}>; rel="{rel}"' for rel, n in rels)
        return _Response(200, body, {"Link": link} if link else {})

    def _compare(self, request: _Request, owner: str, repo: str, base: str, head: str) -> _Response:
        body = self._code_view(owner, repo).compare_object(base.lower(), head.lower())
        if body is None:
            raise _ApiError(404, "Not Found")
        return _Response(200, body)

    # -- pagination ----------------------------------------------------------------------------

    def _page(
        self, request: _Request, items: list[T], *, cap: int | None = None
    ) -> tuple[list[T], dict[str, str]]:
        """One page of `items` plus its Link header; items past `cap` are unreachable."""
        per_page = _int_param(request.query, "per_page", 30, 1, 100)
        page = _int_param(request.query, "page", 1, 1, None)
        reachable = items if cap is None else items[:cap]
        start = (page - 1) * per_page
        last = max(1, math.ceil(len(reachable) / per_page))
        rels: list[tuple[str, int]] = []
        if page > 1:
            rels.append(("prev", page - 1))
        if page < last:
            rels += [("next", page + 1), ("last", last)]
        if page > 1:
            rels.append(("first", 1))
        headers = {"Link": ", ".join(f'<{self._page_url(request, n)}>; rel="{rel}"' for rel, n in rels)}
        return reachable[start : start + per_page], headers if rels else {}

    def _page_url(self, request: _Request, page: int) -> str:
        pairs = [(k, v) for k, v in request.query_pairs if k != "page"] + [("page", str(page))]
        return f"{request.origin}{request.path}?{urlencode(pairs)}"

    # -- repositories --------------------------------------------------------------------------

    def _repo_name(self, owner: str, repo: str) -> str:
        full_name = self._repos.get(f"{owner}/{repo}".lower())
        if full_name is None:
            raise _ApiError(404, "Not Found")
        return full_name

    def _repo_object(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/", 1)
        return {
            "id": _stable_id("repo", full_name),
            "node_id": f"R_{_stable_id('repo', full_name)}",
            "name": name,
            "full_name": full_name,
            "private": False,
            "owner": {
                "login": owner,
                "id": _stable_id("org", owner),
                "type": "Organization",
                "url": f"{self.url}/orgs/{owner}",
            },
            "html_url": f"{self.url}/{full_name}",
            "url": f"{self.url}/repos/{full_name}",
            "issues_url": f"{self.url}/repos/{full_name}/issues{{/number}}",
            "default_branch": "main",
            "archived": False,
            "disabled": False,
            "visibility": "public",
        }

    def _list_org_repos(self, request: _Request, org: str) -> _Response:
        owner = self._org_name_by_lower.get(org.lower())
        if owner is None:
            raise _ApiError(404, "Not Found")
        names = sorted(n for n in self._repos.values() if n.split("/", 1)[0] == owner)
        page, link = self._page(request, [self._repo_object(n) for n in names])
        return _Response(200, page, link)

    def _get_repo(self, request: _Request, owner: str, repo: str) -> _Response:
        return _Response(200, self._repo_object(self._repo_name(owner, repo)))

    # -- workflow runs, jobs, artifacts --------------------------------------------------------

    def _list_runs(self, request: _Request, owner: str, repo: str) -> _Response:
        full_name = self._repo_name(owner, repo)
        filters = {name: request.query[name] for name in RUN_FILTERS if request.query.get(name)}
        window = None
        if "created" in filters:
            try:
                window = parse_created_filter(filters["created"])
            except ValueError as exc:
                raise _ApiError(422, f"Invalid created filter: {filters['created']!r}") from exc
        matched = [
            run
            for run in self._latest_runs.get(full_name, [])
            if (window is None or window.contains(self._created[int(run["id"])]))
            and _run_matches(run, filters)
        ]
        page, link = self._page(request, matched, cap=FILTERED_RESULTS_CAP if filters else None)
        return _Response(200, {"total_count": len(matched), "workflow_runs": page}, link)

    def _attempts_of(self, owner: str, repo: str, run_id: str) -> dict[int, dict[str, Any]]:
        full_name = self._repo_name(owner, repo)
        attempts = self._attempts.get(int(run_id))
        if attempts is None or self._run_repo[int(run_id)] != full_name:
            raise _ApiError(404, "Not Found")
        return attempts

    def _get_run(self, request: _Request, owner: str, repo: str, run_id: str) -> _Response:
        attempts = self._attempts_of(owner, repo, run_id)
        return _Response(200, attempts[max(attempts)])

    def _get_run_attempt(
        self, request: _Request, owner: str, repo: str, run_id: str, attempt: str
    ) -> _Response:
        attempts = self._attempts_of(owner, repo, run_id)
        if int(attempt) not in attempts:
            raise _ApiError(404, "Not Found")
        return _Response(200, attempts[int(attempt)])

    def _jobs_response(self, request: _Request, jobs: list[dict[str, Any]]) -> _Response:
        page, link = self._page(request, jobs)
        return _Response(200, {"total_count": len(jobs), "jobs": page}, link)

    def _list_run_jobs(self, request: _Request, owner: str, repo: str, run_id: str) -> _Response:
        attempts = self._attempts_of(owner, repo, run_id)
        which = request.query.get("filter", "latest")
        if which not in ("latest", "all"):
            raise _ApiError(422, "Validation Failed: filter must be one of latest, all")
        jobs = self._jobs_by_run.get(int(run_id), [])
        if which == "latest":
            latest = max(attempts)
            jobs = [j for j in jobs if int(j.get("run_attempt", 1)) == latest]
        return self._jobs_response(request, jobs)

    def _list_attempt_jobs(
        self, request: _Request, owner: str, repo: str, run_id: str, attempt: str
    ) -> _Response:
        attempts = self._attempts_of(owner, repo, run_id)
        if int(attempt) not in attempts:
            raise _ApiError(404, "Not Found")
        jobs = [
            j for j in self._jobs_by_run.get(int(run_id), []) if int(j.get("run_attempt", 1)) == int(attempt)
        ]
        return self._jobs_response(request, jobs)

    def _list_run_artifacts(self, request: _Request, owner: str, repo: str, run_id: str) -> _Response:
        self._attempts_of(owner, repo, run_id)
        artifacts = self._artifacts_by_run.get(int(run_id), [])
        page, link = self._page(request, artifacts)
        return _Response(200, {"total_count": len(artifacts), "artifacts": page}, link)

    def _artifact_of(self, owner: str, repo: str, artifact_id: str) -> dict[str, Any]:
        full_name = self._repo_name(owner, repo)
        artifact = self._artifacts.get(int(artifact_id))
        if artifact is None or self._run_repo.get(int(artifact["workflow_run"]["id"])) != full_name:
            raise _ApiError(404, "Not Found")
        return artifact

    def _get_artifact(self, request: _Request, owner: str, repo: str, artifact_id: str) -> _Response:
        return _Response(200, self._artifact_of(owner, repo, artifact_id))

    def _download_artifact(
        self, request: _Request, owner: str, repo: str, artifact_id: str, archive_format: str
    ) -> _Response:
        artifact = self._artifact_of(owner, repo, artifact_id)
        if archive_format != "zip":
            raise _ApiError(404, "Not Found")
        if artifact.get("expired"):
            raise _ApiError(410, "Artifact has expired")
        expires = int(time.time() + self.blob_ttl_s)
        query = urlencode({"expires": expires, "sig": self._sign(int(artifact_id), expires)})
        blob_origin = f"http://{urlsplit(request.origin).hostname}:{self._blob_port}"
        return _Response(
            302, headers={"Location": f"{blob_origin}/blobs/artifacts/{int(artifact_id)}.zip?{query}"}
        )

    # -- Dependabot alerts (sim_advisories) ------------------------------------------------------

    def _list_dependabot_alerts(self, request: _Request, owner: str, repo: str) -> _Response:
        """State, severity and ecosystem filters (comma-separated), newest first, paginated."""
        full_name = self._repo_name(owner, repo)
        source = getattr(self._org, "dependabot_alerts", None)
        if source is None:
            raise _ApiError(403, "Dependabot alerts are disabled for this repository.")
        alerts = source(full_name)
        for name, value in (
            ("state", lambda a: a["state"]),
            ("severity", lambda a: a["security_advisory"]["severity"]),
            ("ecosystem", lambda a: a["dependency"]["package"]["ecosystem"]),
        ):
            wanted = {v for v in request.query.get(name, "").split(",") if v}
            if wanted:
                alerts = [a for a in alerts if value(a) in wanted]
        if request.query.get("direction") == "asc":
            alerts = list(reversed(alerts))
        page, link = self._page(request, alerts)
        return _Response(200, page, link)

    def _sign(self, artifact_id: int, expires: int) -> str:
        return hmac.new(self._signing_key, f"{artifact_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _serve_blob(self, request: _Request) -> _Response:
        if request.headers.get("Authorization"):
            with self._log_lock:
                self.blob_requests_with_authorization += 1
        fault = self.faults.take(self._path_with_query(request))
        if fault is not None:
            return self._fault_response(fault, secrets.token_hex(8))
        match = _BLOB_PATH.match(request.path)
        if request.method != "GET" or not match:
            return _Response(404, raw=b"BlobNotFound", content_type="text/plain")
        artifact_id = int(match["artifact_id"])
        try:
            expires = int(request.query.get("expires", ""))
        except ValueError:
            return _Response(403, raw=b"AuthenticationFailed", content_type="text/plain")
        signature = request.query.get("sig", "")
        if not hmac.compare_digest(signature, self._sign(artifact_id, expires)):
            return _Response(403, raw=b"AuthenticationFailed", content_type="text/plain")
        if time.time() >= expires:
            return _Response(410, raw=b"The signed URL has expired", content_type="text/plain")
        return _Response(200, raw=self._org.artifact_zip(artifact_id), content_type="application/zip")

    def _rate_limit(self) -> _Response:
        core, search = self._core.snapshot(), self._search.snapshot()
        return _Response(200, {"resources": {"core": core, "search": search}, "rate": core})

    # -- issues --------------------------------------------------------------------------------

    def _user(self) -> dict[str, Any]:
        return {
            "login": "vigil-bot",
            "id": 1,
            "node_id": "U_1",
            "type": "Bot",
            "site_admin": False,
            "url": f"{self.url}/users/vigil-bot",
            "html_url": f"{self.url}/vigil-bot",
        }

    def _label(self, repo: str, name: str) -> dict[str, Any]:
        return {
            "id": _stable_id("label", repo, name),
            "node_id": f"LA_{_stable_id('label', repo, name)}",
            "url": f"{self.url}/repos/{repo}/labels/{name}",
            "name": name,
            "description": None,
            "color": "ededed",
            "default": False,
        }

    def _render_issue(self, repo: str, stored: dict[str, Any]) -> dict[str, Any]:
        number = stored["number"]
        api = f"{self.url}/repos/{repo}/issues/{number}"
        return {
            "id": stored["id"],
            "node_id": f"I_{stored['id']}",
            "url": api,
            "repository_url": f"{self.url}/repos/{repo}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{self.url}/{repo}/issues/{number}",
            "number": number,
            "state": stored["state"],
            "state_reason": stored["state_reason"],
            "title": stored["title"],
            "body": stored["body"],
            "user": self._user(),
            "labels": [self._label(repo, name) for name in stored["labels"]],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(stored["comments"]),
            "closed_at": stored["closed_at"],
            "created_at": stored["created_at"],
            "updated_at": stored["updated_at"],
            "closed_by": self._user() if stored["state"] == "closed" else None,
            "author_association": "MEMBER",
        }

    def _render_comment(self, repo: str, number: int, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": comment["id"],
            "node_id": f"IC_{comment['id']}",
            "url": f"{self.url}/repos/{repo}/issues/comments/{comment['id']}",
            "html_url": f"{self.url}/{repo}/issues/{number}#issuecomment-{comment['id']}",
            "body": comment["body"],
            "user": self._user(),
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "issue_url": f"{self.url}/repos/{repo}/issues/{number}",
            "author_association": "MEMBER",
        }

    @staticmethod
    def _label_names(raw: Any) -> list[str]:
        if not isinstance(raw, list):
            raise _validation_error("labels", "invalid")
        names = [item["name"] if isinstance(item, dict) else item for item in raw]
        if not all(isinstance(n, str) and n for n in names):
            raise _validation_error("labels", "invalid")
        return list(dict.fromkeys(names))

    def _body_object(self, request: _Request) -> dict[str, Any]:
        if not isinstance(request.body, dict):
            raise _ApiError(400, "Problems parsing JSON")
        return request.body

    @staticmethod
    def _repo_issues(state: dict[str, Any], repo: str) -> dict[str, Any]:
        return state["repos"].setdefault(repo, {"next_number": 1, "issues": {}})

    @staticmethod
    def _stored_issue(state: dict[str, Any], repo: str, number: str) -> dict[str, Any]:
        stored = state["repos"].get(repo, {}).get("issues", {}).get(str(int(number)))
        if stored is None:
            raise _ApiError(404, "Not Found")
        return stored

    def _create_issue(self, request: _Request, owner: str, repo: str) -> _Response:
        full_name = self._repo_name(owner, repo)
        body = self._body_object(request)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _validation_error("title", "missing_field")
        labels = self._label_names(body.get("labels", []))
        text = body.get("body")
        if text is not None and not isinstance(text, str):
            raise _validation_error("body", "invalid")

        def create(state: dict[str, Any]) -> dict[str, Any]:
            repo_state = self._repo_issues(state, full_name)
            now = _utc_now_text()
            stored = {
                "id": state["next_issue_id"],
                "number": repo_state["next_number"],
                "title": title,
                "body": text,
                "state": "open",
                "state_reason": None,
                "labels": labels,
                "comments": [],
                "created_at": now,
                "updated_at": now,
                "closed_at": None,
                # Sub-second creation time for the search lag.
                "created_epoch": time.time(),
            }
            state["next_issue_id"] += 1
            repo_state["next_number"] += 1
            repo_state["issues"][str(stored["number"])] = stored
            return stored

        stored = self._issues.transact(create, write=True)
        return _Response(201, self._render_issue(full_name, stored))

    def _get_issue(self, request: _Request, owner: str, repo: str, number: str) -> _Response:
        full_name = self._repo_name(owner, repo)
        stored = self._issues.transact(lambda s: self._stored_issue(s, full_name, number), write=False)
        return _Response(200, self._render_issue(full_name, stored))

    def _update_issue(self, request: _Request, owner: str, repo: str, number: str) -> _Response:
        full_name = self._repo_name(owner, repo)
        body = self._body_object(request)
        new_state = body.get("state")
        if new_state is not None and new_state not in ("open", "closed"):
            raise _validation_error("state", "invalid")
        reason = body.get("state_reason")
        if reason is not None and reason not in ("completed", "not_planned", "reopened"):
            raise _validation_error("state_reason", "invalid")
        labels = self._label_names(body["labels"]) if "labels" in body else None
        if "title" in body and (not isinstance(body["title"], str) or not body["title"].strip()):
            raise _validation_error("title", "invalid")

        def update(state: dict[str, Any]) -> dict[str, Any]:
            stored = self._stored_issue(state, full_name, number)
            now = _utc_now_text()
            if "title" in body:
                stored["title"] = body["title"]
            if "body" in body:
                stored["body"] = body["body"]
            if labels is not None:
                stored["labels"] = labels
            if new_state == "closed" and stored["state"] != "closed":
                stored.update(state="closed", closed_at=now, state_reason=reason or "completed")
            elif new_state == "open" and stored["state"] != "open":
                stored.update(state="open", closed_at=None, state_reason="reopened")
            elif "state_reason" in body:
                stored["state_reason"] = reason
            stored["updated_at"] = now
            return stored

        stored = self._issues.transact(update, write=True)
        return _Response(200, self._render_issue(full_name, stored))

    def _list_issues(self, request: _Request, owner: str, repo: str) -> _Response:
        full_name = self._repo_name(owner, repo)
        wanted_state = request.query.get("state", "open")
        if wanted_state not in ("open", "closed", "all"):
            raise _validation_error("state", "invalid")
        wanted_labels = {n.strip() for n in request.query.get("labels", "").split(",") if n.strip()}
        sort_key = request.query.get("sort", "created")
        if sort_key not in ("created", "updated", "comments"):
            raise _validation_error("sort", "invalid")
        stored = self._issues.transact(
            lambda s: list(s["repos"].get(full_name, {}).get("issues", {}).values()), write=False
        )
        matched = [
            i for i in stored if wanted_state in ("all", i["state"]) and wanted_labels.issubset(i["labels"])
        ]
        matched.sort(key=_issue_sort_key(sort_key), reverse=request.query.get("direction", "desc") != "asc")
        page, link = self._page(request, matched)
        return _Response(200, [self._render_issue(full_name, i) for i in page], link)

    def _create_comment(self, request: _Request, owner: str, repo: str, number: str) -> _Response:
        full_name = self._repo_name(owner, repo)
        text = self._body_object(request).get("body")
        if not isinstance(text, str) or not text:
            raise _validation_error("body", "missing_field")

        def comment(state: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            stored = self._stored_issue(state, full_name, number)
            now = _utc_now_text()
            new = {"id": state["next_comment_id"], "body": text, "created_at": now, "updated_at": now}
            state["next_comment_id"] += 1
            stored["comments"].append(new)
            stored["updated_at"] = now
            return stored["number"], new

        issue_number, new = self._issues.transact(comment, write=True)
        return _Response(201, self._render_comment(full_name, issue_number, new))

    def _list_comments(self, request: _Request, owner: str, repo: str, number: str) -> _Response:
        full_name = self._repo_name(owner, repo)
        stored = self._issues.transact(lambda s: self._stored_issue(s, full_name, number), write=False)
        page, link = self._page(request, stored["comments"])
        return _Response(200, [self._render_comment(full_name, stored["number"], c) for c in page], link)

    def _search_issues(self, request: _Request) -> _Response:
        query = request.query.get("q", "").strip()
        if not query:
            raise _validation_error("q", "missing")
        try:
            search = IssueSearch.parse(query)
        except ValueError as exc:
            raise _ApiError(422, f"Validation Failed: {exc}") from exc
        indexed_before = time.time() - self.search_lag_s

        def collect(state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
            return [
                (repo, issue)
                for repo, repo_state in state["repos"].items()
                for issue in repo_state["issues"].values()
                if issue["created_epoch"] <= indexed_before and search.matches(repo, issue)
            ]

        found = self._issues.transact(collect, write=False)
        sort_key = request.query.get("sort", "created")
        found.sort(
            key=lambda pair: _issue_sort_key(sort_key)(pair[1]), reverse=request.query.get("order") != "asc"
        )
        page, link = self._page(request, found, cap=SEARCH_RESULTS_CAP)
        items = [{**self._render_issue(repo, issue), "score": 1.0} for repo, issue in page]
        return _Response(200, {"total_count": len(found), "incomplete_results": False, "items": items}, link)

    def _issue_page(self, owner: str, repo: str, number: str) -> _Response:
        """A minimal HTML view of an issue, so html_url links from the demo open in a browser."""
        try:
            full_name = self._repo_name(owner, repo)
            stored = self._issues.transact(lambda s: self._stored_issue(s, full_name, number), write=False)
        except _ApiError:
            return _Response(404, raw=b"Not Found", content_type="text/plain")
        comments = "".join(f"<hr><pre>{html.escape(c['body'])}</pre>" for c in stored["comments"])
        page = (
            f"<!doctype html><title>{html.escape(stored['title'])}</title>"
            f"<h1>{html.escape(stored['title'])} #{stored['number']}</h1>"
            f"<p>{html.escape(full_name)} &middot; {stored['state']} &middot; "
            f"{html.escape(', '.join(stored['labels']))}</p>"
            f"<pre>{html.escape(stored['body'] or '')}</pre>{comments}"
        )
        return _Response(200, raw=page.encode(), content_type="text/html; charset=utf-8")


def _run_matches(run: dict[str, Any], filters: dict[str, str]) -> bool:
    """Non-date run filters; `status` accepts a status or a conclusion, as on GitHub."""
    checks: dict[str, Callable[[], bool]] = {
        "status": lambda: filters["status"] in (run.get("status"), run.get("conclusion")),
        "branch": lambda: run.get("head_branch") == filters["branch"],
        "event": lambda: run.get("event") == filters["event"],
        "actor": lambda: (run.get("actor") or {}).get("login") == filters["actor"],
        "head_sha": lambda: run.get("head_sha") == filters["head_sha"],
        "check_suite_id": lambda: str(run.get("check_suite_id")) == filters["check_suite_id"],
    }
    return all(check() for name, check in checks.items() if name in filters)


def _issue_sort_key(sort: str) -> Callable[[dict[str, Any]], Any]:
    if sort == "comments":
        return lambda issue: (len(issue["comments"]), issue["number"])
    if sort == "updated":
        return lambda issue: (issue["updated_at"], issue["number"])
    return lambda issue: (issue["created_at"], issue["number"])


_SEARCH_TOKEN = re.compile(r'(?:[\w-]+:)?"[^"]*"|\S+')
# `sort:` is accepted and ignored: ordering comes from the sort/order parameters.
_SEARCH_QUALIFIERS = frozenset({"repo", "is", "state", "type", "label", "in", "sort"})


@dataclass
class IssueSearch:
    """The subset of GitHub issue-search syntax Vigil uses.

    Qualifiers: repo:o/r, is:issue|open|closed, state:open|closed, type:issue, label:x (repeatable,
    all must match), in:title|body|comments (scope of the free terms), sort:... (ignored, use the
    sort parameter). Free terms (words or quoted phrases) must all occur, case-insensitively.
    `is:pr` matches nothing: this server has no pull requests.
    """

    repos: set[str] = field(default_factory=set)
    state: str | None = None
    labels: list[str] = field(default_factory=list)
    scopes: set[str] = field(default_factory=set)
    terms: list[str] = field(default_factory=list)
    pull_requests_only: bool = False

    @classmethod
    def parse(cls, query: str) -> IssueSearch:
        search = cls()
        for token in _SEARCH_TOKEN.findall(query):
            qualifier, separator, value = token.partition(":")
            qualifier, value = qualifier.lower(), value.strip('"')
            if token.startswith('"') or not separator or qualifier not in _SEARCH_QUALIFIERS:
                # Unknown qualifiers are plain text on GitHub too.
                search.terms.append(token.strip('"').lower())
            elif qualifier == "repo":
                search.repos.add(value.lower())
            elif qualifier in ("is", "state", "type"):
                search._apply_is(value.lower())
            elif qualifier == "label":
                search.labels.append(value)
            elif qualifier == "in":
                search.scopes.update(s.strip().lower() for s in value.split(","))
        return search

    def _apply_is(self, value: str) -> None:
        if value in ("open", "closed"):
            self.state = value
        elif value in ("pr", "pull-request"):
            self.pull_requests_only = True
        elif value != "issue":
            raise ValueError(f"unsupported is: value {value!r}")

    def matches(self, repo: str, issue: dict[str, Any]) -> bool:
        if self.pull_requests_only:
            return False
        if self.repos and repo.lower() not in self.repos:
            return False
        if self.state and issue["state"] != self.state:
            return False
        if not all(label in issue["labels"] for label in self.labels):
            return False
        haystack = " ".join(self._texts(issue)).lower()
        return all(term in haystack for term in self.terms)

    def _texts(self, issue: dict[str, Any]) -> Iterator[str]:
        scopes = self.scopes or {"title", "body"}
        if "title" in scopes:
            yield issue["title"]
        if "body" in scopes:
            yield issue["body"] or ""
        if "comments" in scopes:
            yield from (c["body"] for c in issue["comments"])
