"""HTTP probing and replay with hard timeouts, and the resources that configure service health.

`HttpProbe` sends one request and always returns an `HttpOutcome`: a status and latency when a
response arrived, otherwise a short, stable error (``connect timeout after 3 s``, ``connection
refused``). Latency runs from sending the request to reading the end of the body, as uptime
monitors (Uptime Kuma, Gatus) measure it. Redirects are not followed: a health endpoint that
answers 3xx is not healthy. Error texts never contain headers or bodies, so credentials a
captured request carries never reach logs or the warehouse.

Resources:

- `HttpProbeResource`: connect and read timeouts, user agent, concurrency.
- `ServiceCatalogueResource`: where the service catalogue lives (env `VIGIL_SERVICES`).

Where the services run (live, or the demo's embedded services) is `resources.service_runtime`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import lazy_loader
from pydantic import Field

from observability_assets.core.service_catalogue import ServiceCatalogue, load_catalogue

# The HTTP stack loads with the first probe, not with the definitions (docs/architecture.md).
requests = lazy_loader.load("requests")

DEFAULT_USER_AGENT = "Vigil-Probe/0.1"
# The shipped catalogue, found from any working directory (the repository is installed editable).
DEFAULT_CATALOGUE_PATH = str(Path(__file__).resolve().parents[1] / "config" / "services.yaml")
# Bodies beyond this are cut (shadow diffs compare what was read); probes only need the status.
MAX_BODY_BYTES = 2_000_000
# Hop-by-hop and framing headers are the transport's business, not the captured request's.
_DROPPED_HEADERS = {
    "host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-authorization", "proxy-connection",
}  # fmt: skip


@dataclass(frozen=True)
class HttpOutcome:
    status: int | None
    latency_ms: float | None
    body: bytes | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx response: what a probe counts as a success."""
        return self.status is not None and 200 <= self.status < 300


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("URLs must not carry credentials")


def _connection_error(error: requests.ConnectionError) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        cause = cause.__cause__ or cause.__context__
    text = str(error).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "host not found"
    return "connection error"


def _read_body(response: requests.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


class HttpProbe:
    """One request at a time per call; safe to share between threads (no shared session)."""

    def __init__(
        self,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        user_agent: str = DEFAULT_USER_AGENT,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.user_agent = user_agent
        self.max_body_bytes = max_body_bytes

    def __repr__(self) -> str:
        return f"HttpProbe(connect_timeout_s={self.connect_timeout_s}, read_timeout_s={self.read_timeout_s})"

    def get(self, url: str) -> HttpOutcome:
        """A health probe: GET without redirects."""
        return self.request("GET", url)

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> HttpOutcome:
        _check_url(url)
        sent = {k: v for k, v in (headers or {}).items() if k.lower() not in _DROPPED_HEADERS}
        sent.setdefault("User-Agent", self.user_agent)
        started = time.perf_counter()
        try:
            # A fresh session per request: every probe pays for its own connection, as a client
            # arriving from outside would, and threads share nothing.
            with requests.Session() as session:
                response = session.request(
                    method,
                    url,
                    headers=sent,
                    data=body,
                    timeout=(self.connect_timeout_s, self.read_timeout_s),
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    content = _read_body(response, self.max_body_bytes)
                latency_ms = (time.perf_counter() - started) * 1000.0
        except requests.ConnectTimeout:
            return HttpOutcome(None, None, error=f"connect timeout after {self.connect_timeout_s:g} s")
        except requests.ReadTimeout:
            return HttpOutcome(None, None, error=f"read timeout after {self.read_timeout_s:g} s")
        except requests.ConnectionError as error:
            # urllib3 reports a read timeout inside a streamed body as a ConnectionError.
            if "timed out" in str(error).lower():
                return HttpOutcome(None, None, error=f"read timeout after {self.read_timeout_s:g} s")
            return HttpOutcome(None, None, error=_connection_error(error))
        except requests.RequestException as error:
            return HttpOutcome(None, None, error=f"request failed: {type(error).__name__}")
        status = response.status_code
        error_text = None if 200 <= status < 300 else f"HTTP {status}"
        return HttpOutcome(status, latency_ms, content, error_text)


class HttpProbeResource(dg.ConfigurableResource):
    """How Vigil probes endpoints and replays shadow traffic."""

    # No pydantic bounds on numbers: values may come from EnvVar, resolved only at run time.
    connect_timeout_s: float = Field(default=3.0, description="Longest wait for a TCP connection.")
    read_timeout_s: float = Field(
        default=10.0, description="Longest wait for response bytes before the probe fails."
    )
    user_agent: str = Field(default=DEFAULT_USER_AGENT, description="User-Agent header of every request.")
    max_concurrency: int = Field(
        default=8, description="Requests in flight at once (probes and shadow replays), 1 to 64."
    )

    def client(self) -> HttpProbe:
        if not 1 <= self.max_concurrency <= 64:
            raise ValueError(f"max_concurrency must be 1 to 64, got {self.max_concurrency}")
        return HttpProbe(self.connect_timeout_s, self.read_timeout_s, self.user_agent)


class ServiceCatalogueResource(dg.ConfigurableResource):
    """The service catalogue file (env `VIGIL_SERVICES`, default config/services.yaml)."""

    path: str = Field(default=DEFAULT_CATALOGUE_PATH, description="YAML service catalogue.")

    def load(self) -> ServiceCatalogue:
        """Parse and validate the catalogue; raises CatalogueError listing every problem."""
        return load_catalogue(Path(self.path))
