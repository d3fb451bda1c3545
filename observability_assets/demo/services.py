"""Local demo services with injectable faults: small JSON APIs on 127.0.0.1 for the demo and tests.

Each ``DemoService`` listens on two free loopback ports:

- ``url``: the service itself: ``GET /health``, ``GET /api/items``, ``GET /api/items/<id>``,
  ``GET /api/search?q=``, ``POST /api/orders`` (and the admin endpoints below while it is up);
- ``admin_url``: the admin endpoints only. It stays reachable when a fault refuses connections on
  ``url``, like an orchestrator's API outlives the process it restarts, so remediation webhooks
  should target it.

Admin endpoints need the ``X-Vigil-Admin-Token`` header:

    POST /admin/restart        down and high-CPU faults clear after ``restart_delay_s`` (503 meanwhile)
    POST /admin/reload-config  error bursts stop
    POST /admin/clear-cache    the high-memory flag clears
    POST /admin/scale          replicas double; injected latency is divided by the replicas
    POST /admin/rollback       the candidate version is replaced by the baseline
    POST /admin/faults         JSON body with any of the ``inject`` arguments
    POST /admin/clear-faults   back to a healthy baseline
    GET  /admin/state          faults, actions taken, request count

Remediation actions are always answered 202 Accepted; with a ``sticky`` fault they change nothing,
so only probing afterwards tells whether they worked (the unrecoverable case). The same faults and
actions are available from Python (``inject``, ``perform``). Responses carry a ``request_id`` and a
``served_at`` field, the noise a shadow comparison has to filter out; error draws and item
catalogues come from a fixed seed.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import random
import secrets
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

ADMIN_TOKEN_HEADER = "X-Vigil-Admin-Token"
DEFAULT_DEMO_SERVICES = ("checkout", "search", "payments", "auth")
ACTIONS = ("restart", "reload-config", "clear-cache", "scale", "rollback")
MAX_REPLICAS = 16
Version = Literal["baseline", "candidate"]
DownMode = Literal["503", "refuse"]

_ADJECTIVES = ("red", "quiet", "swift", "solid", "bright", "tiny", "vintage", "smart", "rugged", "classic")
_NOUNS = ("lamp", "kettle", "backpack", "keyboard", "mug", "jacket", "speaker", "bottle", "chair", "watch")


@dataclass(frozen=True)
class Faults:
    """What is currently wrong with a service (all defaults: healthy baseline)."""

    down: bool = False
    down_mode: DownMode = "503"  # "refuse": the service port stops accepting connections
    latency_ms: float = 0.0  # added to every service request, divided by the replicas
    error_rate: float = 0.0  # share of service requests answered 500 (an error burst)
    high_memory: bool = False
    high_cpu: bool = False
    sticky: bool = False  # no remediation action has any effect
    version: Version = "baseline"
    candidate_error_rate: float = 0.0  # extra 500s while the candidate version runs
    candidate_latency_ms: float = 0.0  # extra latency while the candidate version runs
    candidate_body_change: bool = False  # the candidate prices orders and items differently
    replicas: int = 1


def _number_in(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def _validated(faults: Faults) -> Faults:
    problems = [
        f"{name} must be a fraction between 0 and 1, got {getattr(faults, name)!r}"
        for name in ("error_rate", "candidate_error_rate")
        if not _number_in(getattr(faults, name), 0, 1)
    ]
    problems += [
        f"{name} must be between 0 and 60000 ms, got {getattr(faults, name)!r}"
        for name in ("latency_ms", "candidate_latency_ms")
        if not _number_in(getattr(faults, name), 0, 60_000)
    ]
    problems += [
        f"{name} must be true or false, got {getattr(faults, name)!r}"
        for name in ("down", "high_memory", "high_cpu", "sticky", "candidate_body_change")
        if not isinstance(getattr(faults, name), bool)
    ]
    if faults.down_mode not in ("503", "refuse"):
        problems.append(f"down_mode must be '503' or 'refuse', got {faults.down_mode!r}")
    if faults.version not in ("baseline", "candidate"):
        problems.append(f"version must be 'baseline' or 'candidate', got {faults.version!r}")
    if not isinstance(faults.replicas, int) or not _number_in(faults.replicas, 1, MAX_REPLICAS):
        problems.append(f"replicas must be a whole number from 1 to {MAX_REPLICAS}, got {faults.replicas!r}")
    if problems:
        raise ValueError("; ".join(problems))
    return faults


_FAULT_FIELDS = {f.name for f in fields(Faults)}


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    delay_s: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of concurrent clients on a busy machine would
    # overflow it, and a dropped SYN costs the client a 1 s retransmit (a connect timeout here).
    request_queue_size = 128
    block_on_close = False

    def __init__(self, address: tuple[str, int], service: DemoService, admin_only: bool) -> None:
        self.service = service
        self.admin_only = admin_only
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client giving up on a slow response is part of the game.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            logger.exception("demo service %s: error serving %s", self.service.name, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a refusing service really refuses the next request.
    protocol_version = "HTTP/1.0"
    server_version = "VigilDemo/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: headers may carry the admin token."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        response = self.server.service.handle(
            self.command,
            self.path,
            self.headers.get(ADMIN_TOKEN_HEADER),
            raw,
            admin_only=self.server.admin_only,
        )
        if response.delay_s:
            time.sleep(response.delay_s)
        body = json.dumps(response.body, sort_keys=True).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class DemoService:
    """One demo service; see the module docstring for its endpoints and faults."""

    def __init__(
        self,
        name: str,
        *,
        admin_token: str,
        seed: int = 0,
        version: Version = "baseline",
        restart_delay_s: float = 0.2,
        host: str = "127.0.0.1",
        twin_of: str | None = None,
    ) -> None:
        """``twin_of``: the service this one is a copy of (its items say so); defaults to ``name``."""
        if not admin_token:
            raise ValueError("an admin token is required")
        self.name = name
        self.restart_delay_s = restart_delay_s
        self._admin_token = admin_token
        self._host = host
        self._lock = threading.RLock()
        self._faults = _validated(Faults(version=version))
        self._rng = random.Random(seed)
        self._items = _catalogue(random.Random(seed), twin_of or name)
        self._restarting = False
        self._restart_timer: threading.Timer | None = None
        self._started_at = time.monotonic()
        self._restarts = 0
        self._orders = 0
        self._requests = 0
        self._actions: list[dict[str, Any]] = []
        self._app: _Server | None = None
        self._admin: _Server | None = None
        self._port = 0
        self.url = ""
        self.admin_url = ""

    def __repr__(self) -> str:
        return f"DemoService(name={self.name!r}, url={self.url!r})"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        with self._lock:
            if self._admin is None:
                self._admin = _Server((self._host, 0), self, admin_only=True)
                self.admin_url = f"http://{self._host}:{self._admin.server_address[1]}"
                _serve_in_background(self._admin)
            if not (self._faults.down and self._faults.down_mode == "refuse"):
                self._open_app()
            return self.url

    def stop(self) -> None:
        with self._lock:
            if self._restart_timer is not None:
                self._restart_timer.cancel()
            servers = [s for s in (self._app, self._admin) if s is not None]
            self._app = self._admin = None
        for server in servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> DemoService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_app(self) -> None:
        if self._app is not None:
            return
        # The same port again after a refusing outage, so URLs in the catalogue stay valid.
        self._app = _Server((self._host, self._port), self, admin_only=False)
        self._port = self._app.server_address[1]
        self.url = f"http://{self._host}:{self._port}"
        _serve_in_background(self._app)

    def _close_app(self) -> None:
        server, self._app = self._app, None
        if server is not None:
            # shutdown() waits for the serve loop, which runs in another thread than any handler.
            server.shutdown()
            server.server_close()

    # -- faults and actions ----------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    @property
    def actions(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._actions)

    @property
    def requests(self) -> int:
        """Service (non-admin) requests served so far."""
        with self._lock:
            return self._requests

    def inject(self, **changes: Any) -> Faults:
        """Change faults by name (the fields of ``Faults``); returns the new faults."""
        unknown = sorted(set(changes) - _FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r} (known: {', '.join(sorted(_FAULT_FIELDS))})")
        with self._lock:
            self._set(_validated(replace(self._faults, **changes)))
            return self._faults

    def clear_faults(self) -> Faults:
        with self._lock:
            self._set(Faults())
            return self._faults

    def _set(self, faults: Faults) -> None:
        self._faults = faults
        if self._admin is None:
            return  # not started: start() opens or keeps closed the service port
        if faults.down and faults.down_mode == "refuse":
            self._close_app()
        else:
            self._open_app()

    def perform(self, action: str) -> dict[str, Any]:
        """Run a remediation action, as its admin endpoint does."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        with self._lock:
            sticky = self._faults.sticky
            self._actions.append({"action": action, "at": _now(), "effective": not sticky})
            if action == "restart":
                self._begin_restart(sticky)
            elif not sticky:
                faults = self._faults
                self._set(
                    {
                        "reload-config": replace(faults, error_rate=0.0),
                        "clear-cache": replace(faults, high_memory=False),
                        "scale": replace(faults, replicas=min(faults.replicas * 2, MAX_REPLICAS)),
                        "rollback": replace(faults, version="baseline"),
                    }[action]
                )
        return {"service": self.name, "action": action, "accepted": True}

    def _begin_restart(self, sticky: bool) -> None:
        if self._restart_timer is not None:
            self._restart_timer.cancel()
        self._restarting = True
        self._restart_timer = threading.Timer(self.restart_delay_s, self._finish_restart, args=(sticky,))
        self._restart_timer.daemon = True
        self._restart_timer.start()

    def _finish_restart(self, sticky: bool) -> None:
        with self._lock:
            self._restarting = False
            self._restart_timer = None
            self._restarts += 1
            self._started_at = time.monotonic()
            if not sticky:
                self._set(replace(self._faults, down=False, high_cpu=False))

    # -- requests --------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, token: str | None, raw_body: bytes, admin_only: bool
    ) -> Response:
        path = urlsplit(target).path
        if path.startswith("/admin/") or admin_only:
            return self._handle_admin(method, path, token, raw_body)
        with self._lock:
            self._requests += 1
            faults, restarting = self._faults, self._restarting
            error_draw = self._rng.random()
            request_id = f"{self.name}-{self._requests:06d}-{self._rng.getrandbits(32):08x}"
        candidate = faults.version == "candidate"
        delay_s = (
            faults.latency_ms / faults.replicas + (faults.candidate_latency_ms if candidate else 0.0)
        ) / 1000
        if restarting:
            return Response(503, {"service": self.name, "status": "restarting"})
        if faults.down:
            return Response(503, {"service": self.name, "status": "down"})
        error_rate = faults.error_rate + (faults.candidate_error_rate if candidate else 0.0)
        if error_draw < error_rate:
            return Response(500, {"error": "internal error", "request_id": request_id}, delay_s)
        response = self._route(method, target, raw_body, faults)
        stamp = {"request_id": request_id, "served_at": _now()}
        body = response.body | stamp if isinstance(response.body, dict) else response.body
        return Response(response.status, body, delay_s)

    def _route(self, method: str, target: str, raw_body: bytes, faults: Faults) -> Response:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        markup = 1.1 if faults.version == "candidate" and faults.candidate_body_change else 1.0
        if method == "GET" and path == "/health":
            return Response(200, self._health(faults))
        if method == "GET" and path == "/api/items":
            items = [_priced(item, markup) for item in self._items]
            return Response(200, {"items": items, "count": len(items)})
        if method == "GET" and path.startswith("/api/items/"):
            item = self._item(path.removeprefix("/api/items/"))
            return Response(200, _priced(item, markup)) if item else Response(404, {"error": "no such item"})
        if method == "GET" and path == "/api/search":
            query = parse_qs(parts.query).get("q", [""])[0].strip().lower()
            if not query:
                return Response(400, {"error": "query parameter q is required"})
            results = [_priced(i, markup) for i in self._items if query in i["name"]]
            return Response(200, {"query": query, "results": results, "count": len(results)})
        if method == "POST" and path == "/api/orders":
            return self._create_order(raw_body, markup)
        return Response(404, {"error": f"no route for {method} {path}"})

    def _health(self, faults: Faults) -> dict[str, Any]:
        with self._lock:
            uptime, restarts = time.monotonic() - self._started_at, self._restarts
        return {
            "service": self.name,
            "status": "degraded" if faults.high_memory or faults.high_cpu else "ok",
            "version": faults.version,
            "replicas": faults.replicas,
            "memory_mb": 3900 if faults.high_memory else 180,
            "memory_limit_mb": 4096,
            "high_memory": faults.high_memory,
            "cpu_percent": 97.0 if faults.high_cpu else 7.5,
            "high_cpu": faults.high_cpu,
            "uptime_s": round(uptime, 3),
            "restarts": restarts,
        }

    def _item(self, item_id: str) -> dict[str, Any] | None:
        return next((i for i in self._items if str(i["id"]) == item_id), None)

    def _create_order(self, raw_body: bytes, markup: float) -> Response:
        try:
            order = json.loads(raw_body or b"{}")
            item = self._item(str(order["item_id"]))
            quantity = order.get("quantity", 1)
        except (ValueError, KeyError, TypeError):
            return Response(400, {"error": "body must be JSON with item_id (and optional quantity)"})
        if (
            item is None
            or not isinstance(quantity, int)
            or isinstance(quantity, bool)
            or not 1 <= quantity <= 100
        ):
            return Response(400, {"error": "unknown item_id or quantity not between 1 and 100"})
        with self._lock:
            self._orders += 1
            order_id = self._orders
        total = round(_priced(item, markup)["price"] * quantity, 2)
        return Response(
            201,
            {
                "order": {
                    "id": order_id,
                    "item_id": item["id"],
                    "quantity": quantity,
                    "total": total,
                    "status": "created",
                }
            },
        )

    def _handle_admin(self, method: str, path: str, token: str | None, raw_body: bytes) -> Response:
        if token is None or not hmac.compare_digest(token.encode(), self._admin_token.encode()):
            return Response(401, {"error": f"admin endpoints need the {ADMIN_TOKEN_HEADER} header"})
        action = path.removeprefix("/admin/")
        if method == "POST" and action in ACTIONS:
            return Response(202, self.perform(action))
        if method == "POST" and action == "faults":
            try:
                changes = json.loads(raw_body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object of faults")
                return Response(200, {"faults": asdict(self.inject(**changes))})
            except ValueError as error:
                return Response(400, {"error": str(error)})
        if method == "POST" and action == "clear-faults":
            return Response(200, {"faults": asdict(self.clear_faults())})
        if method == "GET" and action == "state":
            with self._lock:
                state = {"faults": asdict(self._faults), "restarting": self._restarting}
                state |= {"actions": list(self._actions), "requests": self._requests}
            return Response(200, {"service": self.name} | state)
        return Response(404, {"error": f"no admin route for {method} {path}"})


def _serve_in_background(server: _Server) -> None:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


def _now() -> str:
    # Microseconds: two replicas answering one replayed request within the same millisecond would
    # agree on the stamp, and the noise filter could not tell it is noise for that request.
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _catalogue(rng: random.Random, service: str) -> list[dict[str, Any]]:
    names = [f"{a} {n}" for a in _ADJECTIVES for n in _NOUNS]
    rng.shuffle(names)
    return [
        {
            "id": i + 1,
            "name": name,
            "price": round(rng.uniform(3, 250), 2),
            "stock": rng.randint(0, 40),
            "seller": service,
        }
        for i, name in enumerate(sorted(names[:24]))
    ]


def _priced(item: dict[str, Any], markup: float) -> dict[str, Any]:
    return item if markup == 1.0 else item | {"price": round(item["price"] * markup, 2)}


@dataclass(frozen=True)
class DemoServiceSpec:
    name: str
    version: Version = "baseline"
    # A copy of another service (same seed, same items): a shadow replica or a candidate build.
    twin_of: str | None = None


class DemoServices:
    """Several demo services started together; a context manager.

    Each service's seed derives from ``seed`` and its name (or the name it is a twin of), so adding
    a service does not change the behaviour of the others. For traffic shadowing start the baseline,
    a twin of it (the second baseline that exposes noise) and a candidate twin::

        DemoServices(["shop", DemoServiceSpec("shop-replay", twin_of="shop"),
                      DemoServiceSpec("shop-candidate", version="candidate", twin_of="shop")])
    """

    def __init__(
        self,
        services: Iterable[str | DemoServiceSpec] = DEFAULT_DEMO_SERVICES,
        *,
        seed: int = 7,
        admin_token: str | None = None,
        restart_delay_s: float = 0.2,
    ) -> None:
        specs = [DemoServiceSpec(s) if isinstance(s, str) else s for s in services]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique, got {names}")
        self._admin_token = admin_token or secrets.token_hex(16)
        self._services = {
            spec.name: DemoService(
                spec.name,
                admin_token=self._admin_token,
                seed=seed ^ zlib.crc32((spec.twin_of or spec.name).encode()),
                version=spec.version,
                restart_delay_s=restart_delay_s,
                twin_of=spec.twin_of,
            )
            for spec in specs
        }

    def __repr__(self) -> str:
        return f"DemoServices({list(self._services)})"

    @property
    def admin_token(self) -> str:
        return self._admin_token

    @property
    def names(self) -> list[str]:
        return list(self._services)

    @property
    def urls(self) -> dict[str, str]:
        return {name: service.url for name, service in self._services.items()}

    @property
    def admin_urls(self) -> dict[str, str]:
        return {name: service.admin_url for name, service in self._services.items()}

    def __getitem__(self, name: str) -> DemoService:
        return self._services[name]

    def __iter__(self) -> Iterator[DemoService]:
        return iter(self._services.values())

    def start(self) -> dict[str, str]:
        for service in self._services.values():
            service.start()
        return self.urls

    def stop(self) -> None:
        for service in self._services.values():
            with contextlib.suppress(OSError):
                service.stop()

    def __enter__(self) -> DemoServices:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
