"""GitHub REST client and Dagster resource: paginated, rate-limit aware, conditional, token-safe.

The client is what every GitHub-facing asset and sensor uses, against github.com, GitHub
Enterprise or the local demo server alike. It:

- follows `Link: rel="next"` pagination, and splits `created` windows in halves whenever a
  workflow-run query reports more than the 1,000 results GitHub lets a filtered listing reach;
- waits out rate limits: `retry-after` on 403/429, `x-ratelimit-reset` when the primary limit is
  spent, exponential backoff with jitter for secondary limits without `retry-after`, 5xx and
  connection errors. Waits GitHub dictates beyond `max_wait_s` raise `GitHubRateLimited`;
- sends `If-None-Match` from a persistent ETag cache (SQLite, shared by processes), so an
  unchanged re-crawl costs 304s, which GitHub does not count against the rate limit;
- never sends the token anywhere but the API origin (artifact blob redirects go without it), and
  redacts it from exception messages, log lines and reprs.

POSTs (new issues, comments) are not repeated after a 5xx or a dropped connection: GitHub may have
applied them, and a second issue is worse than an error the caller can reconcile by searching.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urljoin, urlsplit

import dagster as dg
import lazy_loader
from pydantic import Field

from resources.paths import data_path

if TYPE_CHECKING:
    from requests.structures import CaseInsensitiveDict

# The HTTP stack loads with the first request, not with the definitions (docs/architecture.md).
requests = lazy_loader.load("requests")
urllib3 = lazy_loader.load("urllib3")

logger = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
# GitHub caps filtered workflow-run listings at 1,000 results.
LISTING_CAP = 1000
PER_PAGE = 100

# ---------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
REDACTED = "***"
# (pattern, replacement): GitHub token formats (classic, OAuth, app and fine-grained tokens),
# Authorization-style "Bearer/token <value>", and the credential query parameter of signed URLs.
_TOKEN_PATTERNS = [
    (re.compile(r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9_.\-]{20,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)\b(sig|signature|x-amz-signature)=[^&\s\"']+"), r"\1=" + REDACTED),
]


def register_secret(secret: str | None) -> None:
    """Remember a secret so `redact` removes it from any text from now on."""
    if secret and len(secret) >= 4:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: str) -> str:
    """Text with every registered secret and anything shaped like a GitHub token replaced."""
    with _SECRETS_LOCK:
        known = sorted(_SECRETS, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _TOKEN_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Logging filter that redacts secrets from the formatted message (attach to loggers or handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# urllib3 logs request lines (with the query) at DEBUG; filter it too, as it could echo a secret.
for _logger_name in (__name__, "urllib3.connectionpool"):
    logging.getLogger(_logger_name).addFilter(RedactingFilter())


class _Secret:
    """Holds a token without ever showing it in a repr, str or traceback-local dump."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


# ---------------------------------------------------------------------------------------------
# Errors, responses, stats
# ---------------------------------------------------------------------------------------------


class GitHubError(RuntimeError):
    """A GitHub request failed; the message is redacted and names the method and path."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(redact(message))
        self.status = status


class GitHubNotFound(GitHubError):
    """404 from GitHub."""


class GitHubRateLimited(GitHubError):
    """GitHub asked for a wait longer than `max_wait_s`, or kept limiting past `max_retries`."""


class ArtifactTooLarge(GitHubError):
    """An artifact download passed `max_bytes` and was aborted."""


@dataclass(frozen=True)
class GitHubResponse:
    """The parts of a response callers use; a 304 is served as the cached 200 (`from_cache`)."""

    status_code: int
    url: str
    headers: CaseInsensitiveDict[str]
    content: bytes
    from_cache: bool = False

    def json(self) -> Any:
        return json.loads(self.content) if self.content else None

    @property
    def links(self) -> dict[str, str]:
        """Link header relations: {"next": url, "last": url, ...}."""
        header = self.headers.get("Link")
        if not header:
            return {}
        return {
            link["rel"]: link["url"] for link in requests.utils.parse_header_links(header) if "rel" in link
        }


@dataclass
class GitHubStats:
    """Counters for one client; the rate-limit fields come from the latest response."""

    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_reset: int | None = None
    seconds_waited: float = 0.0


@dataclass(frozen=True)
class _Wait:
    seconds: float
    reason: str
    # True when GitHub named the wait (retry-after, reset); those are not shortened.
    dictated: bool


# ---------------------------------------------------------------------------------------------
# ETag cache
# ---------------------------------------------------------------------------------------------


class _EtagCache:
    """URL -> (ETag, body, Link) in SQLite; WAL mode so several processes can share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        # One connection per thread, kept open: closing the last connection to a WAL database
        # checkpoints it, which would cost a millisecond or more on every request.
        self._local = threading.local()
        db = self._db()
        with db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " url TEXT PRIMARY KEY, etag TEXT NOT NULL, link TEXT, body BLOB NOT NULL, stored_at REAL NOT NULL)"
            )

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            # A cache may lose its last writes on power loss, never its consistency (WAL): no fsyncs.
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get(self, url: str) -> tuple[str, str | None, bytes] | None:
        row = self._db().execute("SELECT etag, link, body FROM responses WHERE url = ?", (url,)).fetchone()
        return (row[0], row[1], bytes(row[2])) if row else None

    def put(self, url: str, etag: str, link: str | None, body: bytes) -> None:
        db = self._db()
        with db:
            db.execute(
                "INSERT OR REPLACE INTO responses (url, etag, link, body, stored_at) VALUES (?, ?, ?, ?, ?)",
                (url, etag, link, body, time.time()),
            )

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


def _host_key(url: str) -> str:
    """`https://ghe.example.com:8443/api/v3` -> `ghe.example.com_8443`: a folder name per API host."""
    parts = urlsplit(url)
    host = (parts.hostname or "unknown").lower()
    return f"{host}_{parts.port}" if parts.port else host


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _github_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached GitHub (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    # urllib3's NewConnectionError (refused, DNS) is a ConnectTimeoutError subclass.
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)


_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO_ITEM = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$")


class GitHubClient:
    """GitHub REST API client; see the module docstring for its guarantees."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: tuple[float, float] = (5, 30),
        max_retries: int = 5,
        max_wait_s: float = 120.0,
        backoff_base_s: float = 1.0,
        secondary_min_wait_s: float = 60.0,
        cache_path: Path | None = None,
        artifact_dir: Path | None = None,
        user_agent: str = "vigil",
    ) -> None:
        """`secondary_min_wait_s`: GitHub asks for at least a minute after a secondary limit
        without retry-after; still capped by `max_wait_s`."""
        self.base_url = base_url.rstrip("/")
        self._token = _Secret(token) if token else None
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.backoff_base_s = backoff_base_s
        self.secondary_min_wait_s = secondary_min_wait_s
        self.stats = GitHubStats()
        self._stats_lock = threading.Lock()
        self._cache = _EtagCache(cache_path) if cache_path else None
        self.artifact_dir = artifact_dir
        self._api_origin = _origin(self.base_url)
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": user_agent,
            }
        )
        # Blob hosts get a session that has never seen the token.
        self._blob_session = requests.Session()
        self._blob_session.headers["User-Agent"] = user_agent

    def __repr__(self) -> str:
        return f"GitHubClient(base_url={self.base_url!r}, authenticated={self._token is not None})"

    def close(self) -> None:
        self._session.close()
        self._blob_session.close()
        if self._cache:
            self._cache.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            if _origin(path_or_url) != self._api_origin:
                raise GitHubError(
                    f"refusing to send the token to another origin: {_without_query(path_or_url)}"
                )
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    def _count(self, **increments: float) -> None:
        with self._stats_lock:
            for name, value in increments.items():
                setattr(self.stats, name, getattr(self.stats, name) + value)

    def _note_rate_limit(self, response: requests.Response) -> None:
        remaining, reset = (
            response.headers.get("x-ratelimit-remaining"),
            response.headers.get("x-ratelimit-reset"),
        )
        with self._stats_lock:
            if remaining is not None and remaining.isdigit():
                self.stats.rate_limit_remaining = int(remaining)
            if reset is not None and reset.isdigit():
                self.stats.rate_limit_reset = int(reset)

    def _backoff(self, attempt: int, floor: float = 0.0) -> float:
        # Exponential with "equal jitter": half fixed, half random, so retries spread out.
        ceiling = max(floor, self.backoff_base_s * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not cryptography

    def _retry_wait(self, response: requests.Response, attempt: int) -> _Wait | None:
        """How long to wait before retrying `response`, or None when it is final."""
        status = response.status_code
        if status in (403, 429):
            retry_after = response.headers.get("retry-after", "")
            if retry_after.strip().isdigit():
                return _Wait(float(retry_after), f"{status} with retry-after", dictated=True)
            reset = response.headers.get("x-ratelimit-reset", "")
            if response.headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
                # One second of slack for clock skew and the rounding of `reset`.
                seconds = max(0.0, int(reset) - time.time()) + 1.0
                return _Wait(seconds, "primary rate limit spent", dictated=True)
            if status == 429 or "secondary rate limit" in response.text.lower():
                return _Wait(self._backoff(attempt, self.secondary_min_wait_s), "secondary rate limit", False)
            return None
        if status >= 500:
            return _Wait(self._backoff(attempt), f"server error {status}", dictated=False)
        return None

    def _sleep(self, wait: _Wait, what: str, attempt: int) -> None:
        if wait.dictated and wait.seconds > self.max_wait_s:
            raise GitHubRateLimited(
                f"GitHub {what}: {wait.reason} asks for a {wait.seconds:.0f}s wait, "
                f"more than max_wait_s={self.max_wait_s:.0f}s; try again later"
            )
        seconds = min(wait.seconds, self.max_wait_s)
        logger.warning(
            "GitHub %s: %s; retry %d/%d in %.1fs", what, wait.reason, attempt + 1, self.max_retries, seconds
        )
        time.sleep(seconds)
        self._count(retries=1, seconds_waited=seconds)

    def _send(
        self,
        method: str,
        url: str,
        *,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One logical request with retries; returns the final response (any status)."""
        session = session or self._session
        all_headers = dict(headers or {})
        if session is self._session and self._token is not None:
            all_headers["Authorization"] = f"Bearer {self._token.reveal()}"
        idempotent = method in ("GET", "HEAD", "PUT", "PATCH", "DELETE")
        what = f"{method} {_without_query(url)}"
        attempt = 0
        while True:
            try:
                response = session.request(method, url, headers=all_headers, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                retryable = idempotent or _never_sent(exc)
                if not retryable or attempt >= self.max_retries:
                    hint = "" if retryable else " (not retried: GitHub may have applied it)"
                    raise GitHubError(f"GitHub {what} failed{hint}: {type(exc).__name__}: {exc}") from None
                self._count(requests=1)
                self._sleep(_Wait(self._backoff(attempt), f"{type(exc).__name__}", False), what, attempt)
                attempt += 1
                continue
            self._count(requests=1)
            self._note_rate_limit(response)
            wait = self._retry_wait(response, attempt)
            rate_limited = response.status_code in (403, 429)
            if wait is None or not (idempotent or rate_limited):
                return response
            if attempt >= self.max_retries:
                error = GitHubRateLimited if rate_limited else GitHubError
                raise error(
                    f"GitHub {what} still failing after {attempt} retries: {wait.reason}",
                    status=response.status_code,
                )
            response.close()
            self._sleep(wait, what, attempt)
            attempt += 1

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        if response.status_code < 400:
            return
        try:
            message = response.json().get("message", "")
        except (ValueError, AttributeError):
            message = response.text[:200]
        error = GitHubNotFound if response.status_code == 404 else GitHubError
        raise error(f"GitHub {what} -> {response.status_code}: {message}", status=response.status_code)

    def request(self, method: str, path: str, *, json_body: Any = None) -> GitHubResponse:
        """A non-GET API call; raises GitHubError for 4xx/5xx."""
        url = self._url(path)
        response = self._send(method, url, json=json_body)
        self._raise_for_status(response, f"{method} {_without_query(url)}")
        return GitHubResponse(response.status_code, response.url, response.headers, response.content)

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, immutable: bool = False
    ) -> GitHubResponse:
        """GET an API path (or an absolute URL on the API origin), conditionally when cached.

        `immutable`: the answer can never change (a commit addressed by its full SHA), so a cached
        copy is served without asking GitHub at all, not even conditionally.
        """
        url = str(requests.Request("GET", self._url(path), params=dict(params or {})).prepare().url)
        cached = self._cache.get(url) if self._cache else None
        if cached and immutable:
            etag, link, body = cached
            headers = requests.structures.CaseInsensitiveDict(
                {"ETag": etag, **({"Link": link} if link else {})}
            )
            return GitHubResponse(200, url, headers, body, from_cache=True)
        headers = {"If-None-Match": cached[0]} if cached else {}
        response = self._send("GET", url, headers=headers)
        if response.status_code == 304 and cached:
            self._count(not_modified=1)
            etag, link, body = cached
            headers = requests.structures.CaseInsensitiveDict(response.headers)
            if link:
                headers["Link"] = link
            return GitHubResponse(200, url, headers, body, from_cache=True)
        self._raise_for_status(response, f"GET {_without_query(url)}")
        etag = response.headers.get("ETag")
        if self._cache and etag and response.status_code == 200:
            self._cache.put(url, etag, response.headers.get("Link"), response.content)
        return GitHubResponse(response.status_code, url, response.headers, response.content)

    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        item_key: str | None = None,
        reported: list[int] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Items of every page, following Link rel="next". `item_key` for wrapped lists;
        `reported` receives the first page's `total_count` (the API's own count), if it has one."""
        response = self.get(path, {"per_page": PER_PAGE, **(params or {})})
        if reported is not None:
            first = response.json()
            if isinstance(first, dict) and isinstance(first.get("total_count"), int):
                reported.append(first["total_count"])
        while True:
            data = response.json()
            yield from data[item_key] if item_key else data
            next_url = response.links.get("next")
            if not next_url:
                return
            response = self.get(next_url)

    # -- repositories and runs -----------------------------------------------------------------

    def expand_repos(self, spec: str) -> list[str]:
        """Expand `acme/api, acme` to acme/api plus every repository of acme, in order, no repeats."""
        repos: list[str] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if not _REPO_ITEM.match(item):
                raise ValueError(f"not an owner or owner/name: {item!r}")
            if "/" in item:
                repos.append(item)
            else:
                repos.extend(repo["full_name"] for repo in self.paginate(f"/orgs/{item}/repos"))
        return list(dict.fromkeys(repos))

    def list_runs_created(
        self, repo: str, start: datetime, end: datetime, reported: list[int] | None = None
    ) -> list[dict[str, Any]]:
        """Every workflow run (latest attempt) created in [start, end), oldest first.

        GitHub only lets a filtered listing reach 1,000 runs, so a window reporting more is split
        in halves until each part fits. Precision is one second, as in GitHub's date syntax.
        `reported` receives the `total_count` GitHub gave for the whole window.
        """
        first = _utc(start).replace(microsecond=0)
        end = _utc(end)
        last = end.replace(microsecond=0) - timedelta(seconds=0 if end.microsecond else 1)
        runs: dict[int, dict[str, Any]] = {}
        if last >= first:
            self._collect_runs(repo, first, last, runs, reported)
        return sorted(runs.values(), key=lambda r: (r["created_at"], r["id"]))

    def _collect_runs(
        self,
        repo: str,
        first: datetime,
        last: datetime,
        into: dict[int, dict[str, Any]],
        reported: list[int] | None = None,
    ) -> None:
        """Runs created in [first, last] (whole seconds, inclusive) into `into`, keyed by id."""
        path = f"/repos/{repo}/actions/runs"
        params = {"created": f"{_github_time(first)}..{_github_time(last)}", "per_page": PER_PAGE}
        response = self.get(path, params)
        page = response.json()
        if reported is not None:
            reported.append(int(page["total_count"]))
        if page["total_count"] > LISTING_CAP:
            if first == last:
                raise GitHubError(
                    f"{repo}: {page['total_count']} runs created at {_github_time(first)}, more than GitHub "
                    f"lists for one query ({LISTING_CAP}); cannot split a single second"
                )
            middle = first + timedelta(seconds=((last - first).total_seconds() + 1) // 2)
            self._collect_runs(repo, first, middle - timedelta(seconds=1), into)
            self._collect_runs(repo, middle, last, into)
            return
        while True:
            # Offset pagination can repeat a run when new ones arrive meanwhile; ids dedupe.
            for run in page["workflow_runs"]:
                into.setdefault(int(run["id"]), run)
            next_url = response.links.get("next")
            if not next_url:
                return
            response = self.get(next_url)
            page = response.json()

    def get_run_attempt(self, repo: str, run_id: int, attempt: int) -> dict[str, Any]:
        return self.get(f"/repos/{repo}/actions/runs/{int(run_id)}/attempts/{int(attempt)}").json()

    def list_jobs(
        self, repo: str, run_id: int, filter: str = "all", reported: list[int] | None = None
    ) -> list[dict[str, Any]]:
        """Jobs of a run: `all` attempts (default) or only the `latest`; `reported` receives the
        listing's `total_count`."""
        return list(
            self.paginate(
                f"/repos/{repo}/actions/runs/{int(run_id)}/jobs", {"filter": filter}, "jobs", reported
            )
        )

    def list_attempt_jobs(self, repo: str, run_id: int, attempt: int) -> list[dict[str, Any]]:
        path = f"/repos/{repo}/actions/runs/{int(run_id)}/attempts/{int(attempt)}/jobs"
        return list(self.paginate(path, None, "jobs"))

    def get_commit(self, repo: str, sha: str, files_per_page: int | None = None) -> dict[str, Any]:
        """A commit with every changed file (`files` gathered across its pages).

        GitHub lists 300 files per page and Link-paginates past that; the page's static commit
        fields repeat on each page. Addressed by full SHA, a commit is immutable: with the cache,
        fetching it again costs no request.
        """
        immutable = bool(_FULL_SHA.match(sha))
        params = {"per_page": files_per_page} if files_per_page else None
        response = self.get(f"/repos/{repo}/commits/{sha}", params, immutable=immutable)
        commit = response.json()
        files = list(commit.get("files") or [])
        while next_url := response.links.get("next"):
            response = self.get(next_url, immutable=immutable)
            files += response.json().get("files") or []
        return {**commit, "files": files}

    def compare(self, repo: str, base: str, head: str) -> dict[str, Any]:
        """`GET /compare/{base}...{head}`: files changed since the merge base (first page, up to 300
        files) and the commit count; immutable between full SHAs."""
        immutable = bool(_FULL_SHA.match(base) and _FULL_SHA.match(head))
        return self.get(f"/repos/{repo}/compare/{base}...{head}", immutable=immutable).json()

    def list_artifacts(self, repo: str, run_id: int) -> list[dict[str, Any]]:
        return list(self.paginate(f"/repos/{repo}/actions/runs/{int(run_id)}/artifacts", None, "artifacts"))

    def download_artifact(self, repo: str, artifact_id: int, dest: Path, max_bytes: int) -> Path:
        """Stream an artifact zip to `dest`; raises ArtifactTooLarge past `max_bytes`.

        The API answers with a 302 to a signed blob URL. The token goes only to the API origin,
        so a blob on another host (GitHub's storage) never sees it.
        """
        what = f"artifact {artifact_id} of {repo}"
        redirect = self._send(
            "GET", self._url(f"/repos/{repo}/actions/artifacts/{int(artifact_id)}/zip"), allow_redirects=False
        )
        self._raise_for_status(redirect, f"download {what}")
        location = redirect.headers.get("Location")
        if redirect.status_code not in (301, 302, 303, 307, 308) or not location:
            raise GitHubError(f"download {what}: expected a redirect, got {redirect.status_code}")
        same_origin = _origin(location) == self._api_origin
        blob = self._send(
            "GET", location, session=self._session if same_origin else self._blob_session, stream=True
        )
        with blob:
            if blob.status_code >= 400:
                raise GitHubError(
                    f"download {what}: blob answered {blob.status_code}", status=blob.status_code
                )
            declared = blob.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ArtifactTooLarge(
                    f"download {what}: {declared} bytes is over the {max_bytes}-byte limit"
                )
            return _stream_to_file(blob, dest, max_bytes, what)

    def cached_artifact(self, repo: str, artifact_id: int, max_bytes: int) -> Path:
        """The artifact's zip under `artifact_dir/<owner>__<repo>/<id>.zip`, downloaded once.

        Artifacts never change once uploaded, so the id (within one API host) names the content."""
        if self.artifact_dir is None:
            raise ValueError("this client has no artifact_dir to cache downloads in")
        target = self.artifact_dir / repo.replace("/", "__") / f"{int(artifact_id)}.zip"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # One partial file per process and thread: concurrent downloads never share one.
            partial = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
            self.download_artifact(repo, artifact_id, partial, max_bytes=max_bytes)
            os.replace(partial, target)
        return target

    # -- Dependabot ----------------------------------------------------------------------------

    def list_dependabot_alerts(self, repo: str, state: str | None = None) -> list[dict[str, Any]]:
        """Every Dependabot alert of a repository (all states unless `state` narrows them), through
        the ETag cache. Needs the "Dependabot alerts" read permission; GitHub answers 403 when
        alerts are disabled for the repository."""
        params = {"state": state} if state else None
        return list(self.paginate(f"/repos/{repo}/dependabot/alerts", params))

    # -- issues --------------------------------------------------------------------------------

    def create_issue(
        self, repo: str, title: str, body: str = "", labels: list[str] | None = None
    ) -> dict[str, Any]:
        payload = {"title": title, "body": body, "labels": list(labels or [])}
        return self.request("POST", f"/repos/{repo}/issues", json_body=payload).json()

    def update_issue(self, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        """PATCH fields: title, body, state ("open"/"closed"), state_reason, labels."""
        return self.request("PATCH", f"/repos/{repo}/issues/{int(number)}", json_body=fields).json()

    def get_issue(self, repo: str, number: int) -> dict[str, Any]:
        return self.get(f"/repos/{repo}/issues/{int(number)}").json()

    def list_issues(
        self, repo: str, state: str = "open", labels: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Issues of a repository; pull requests (which the API also lists) are left out."""
        params: dict[str, Any] = {"state": state}
        if labels:
            params["labels"] = ",".join(labels)
        return [i for i in self.paginate(f"/repos/{repo}/issues", params) if "pull_request" not in i]

    def create_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        return self.request(
            "POST", f"/repos/{repo}/issues/{int(number)}/comments", json_body={"body": body}
        ).json()

    def search_issues(self, query: str) -> list[dict[str, Any]]:
        """Issue search (`q` syntax). Eventually consistent: new issues show up after a delay."""
        return list(self.paginate("/search/issues", {"q": query}, "items"))


def _stream_to_file(response: requests.Response, dest: Path, max_bytes: int, what: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    written = 0
    try:
        with partial.open("wb") as handle:
            for chunk in response.iter_content(chunk_size=1 << 16):
                written += len(chunk)
                if written > max_bytes:
                    raise ArtifactTooLarge(f"download {what}: more than the {max_bytes}-byte limit; aborted")
                handle.write(chunk)
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


# ---------------------------------------------------------------------------------------------
# Dagster resource
# ---------------------------------------------------------------------------------------------


class GitHubResource(dg.ConfigurableResource):
    """Where Vigil reads CI data and files issues: a GitHub REST API (github.com or Enterprise).

    Give the token with `dg.EnvVar("GITHUB_TOKEN")` so it never appears in run configuration. The
    demo plugs in a subclass (`observability_assets.demo.resources`) that serves the simulated
    organisation; nothing here knows about it.
    """

    api_url: str = Field(description="REST API base URL, e.g. https://api.github.com.")
    token: str | None = None
    repos: str = Field(default="", description="Comma-separated owner/name, or owners to expand.")
    cache_dir: str = Field(
        default_factory=lambda: data_path("cache"),
        description="ETag cache and downloaded artifacts, one folder per API host.",
    )
    max_wait_s: float = 120.0
    # Whether this GitHub serves simulated data (the demo's subclass says so).
    simulated: ClassVar[bool] = False

    @property
    def cache_namespace(self) -> str:
        """The API host (and port), so GHE and github.com never share cached answers or artifacts."""
        return _host_key(self.api_url)

    def client(self) -> GitHubClient:
        return self._client(self.api_url, self.token)

    def _client(self, url: str, token: str | None) -> GitHubClient:
        return GitHubClient(
            url,
            token,
            max_wait_s=self.max_wait_s,
            cache_path=Path(self.cache_dir) / self.cache_namespace / "etags.sqlite",
            artifact_dir=Path(self.cache_dir) / self.cache_namespace / "artifacts",
        )

    def repositories(self) -> list[str]:
        """The repositories to crawl: `repos`, with bare owners expanded through the API."""
        if not self.repos.strip():
            raise ValueError(
                "VIGIL_GITHUB_REPOS is empty: name repositories (owner/name) or organisations to crawl"
            )
        with self.client() as client:
            return client.expand_repos(self.repos)

    def describe(self) -> str:
        return self.api_url

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (REDACTED if name == "token" and value else value)
