"""The service catalogue (config/services.yaml): what Vigil probes, the SLOs it holds, how it may act.

Parsed from YAML text into frozen dataclasses. Every problem is reported at once, each naming the
service and the field, e.g. ``services[2] 'checkout': slos[0].objective must be between 0 and 1
(exclusive), got 1.5``. Unknown keys are errors too, so a typo never silently turns a setting off.

A ``base_url`` of ``demo://NAME`` stands for the embedded demo service NAME; the demo replaces it
with the loopback URL it started (``ServiceCatalogue.with_base_urls``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

DEMO_SCHEME = "demo"
CONDITIONS = ("down", "high_latency", "high_error_rate", "high_memory", "high_cpu")
ACTIONS = ("restart", "scale", "reload-config", "rollback", "clear-cache")
DEFAULT_RESPONSE_TIME_MS = 2000.0
DEFAULT_ERROR_RATE = 0.05
MAX_WINDOW_DAYS = 365

SloKind = Literal["availability", "latency"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SERVICE_KEYS = {
    "name", "base_url", "health_paths", "thresholds", "slos", "runbook", "allow_remediation", "critical",
    "owner", "description",
}  # fmt: skip
_DEFAULT_KEYS = {"health_paths", "thresholds", "runbook", "allow_remediation", "critical", "owner"}
_THRESHOLD_KEYS = {"response_time_ms", "error_rate"}
_SLO_KEYS = {"name", "kind", "objective", "window_days", "threshold_ms", "description"}


class CatalogueError(ValueError):
    """The catalogue is invalid; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid service catalogue:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Thresholds:
    response_time_ms: float = DEFAULT_RESPONSE_TIME_MS
    error_rate: float = DEFAULT_ERROR_RATE


@dataclass(frozen=True)
class Slo:
    name: str
    kind: SloKind
    objective: float
    window_days: int
    # Latency SLOs only: a request is a good event when it answers within this many milliseconds.
    threshold_ms: float | None = None
    description: str = ""


@dataclass(frozen=True)
class RunbookStep:
    condition: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Service:
    name: str
    base_url: str
    health_paths: tuple[str, ...] = ("/health",)
    thresholds: Thresholds = field(default_factory=Thresholds)
    slos: tuple[Slo, ...] = ()
    runbook: tuple[RunbookStep, ...] = ()
    allow_remediation: bool = False
    critical: bool = False
    owner: str = ""
    description: str = ""

    @property
    def is_demo(self) -> bool:
        return urlsplit(self.base_url).scheme == DEMO_SCHEME

    @property
    def health_urls(self) -> tuple[str, ...]:
        return tuple(self.base_url.rstrip("/") + path for path in self.health_paths)

    def actions_for(self, condition: str) -> tuple[str, ...]:
        """The runbook's actions for ``condition``, in order (empty when it has none)."""
        for step in self.runbook:
            if step.condition == condition:
                return step.actions
        return ()

    def slo(self, name: str) -> Slo:
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise KeyError(f"service {self.name!r} has no SLO {name!r}")


@dataclass(frozen=True)
class ServiceCatalogue:
    services: tuple[Service, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    def get(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r} in the catalogue (known: {', '.join(self.names)})")

    def __iter__(self):
        return iter(self.services)

    def __len__(self) -> int:
        return len(self.services)

    def with_base_urls(self, urls: Mapping[str, str]) -> ServiceCatalogue:
        """Resolve ``demo://NAME`` base URLs through ``urls`` (service name -> URL)."""
        resolved = []
        for service in self.services:
            if service.is_demo:
                demo_name = urlsplit(service.base_url).netloc
                if demo_name not in urls:
                    raise KeyError(
                        f"service {service.name!r} uses {service.base_url} but no such demo service runs"
                    )
                service = replace(service, base_url=urls[demo_name])
            resolved.append(service)
        return ServiceCatalogue(tuple(resolved))


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}" if where else message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unknown_keys(
    raw: Mapping[str, Any], allowed: set[str], where: str, prefix: str, problems: _Problems
) -> None:
    for key in raw:
        if key not in allowed:
            problems.add(
                where, f"unknown field '{prefix}{key}' (expected one of: {', '.join(sorted(allowed))})"
            )


def _number(
    raw: Mapping[str, Any],
    key: str,
    where: str,
    label: str,
    problems: _Problems,
    check: Callable[[float], bool],
    rule: str,
    default: float | None = None,
) -> float | None:
    if key not in raw:
        if default is None:
            problems.add(where, f"{label} is required")
        return default
    value = raw[key]
    if not _is_number(value) or not check(value):
        problems.add(where, f"{label} must be {rule}, got {value!r}")
        return default
    return float(value)


def _parse_thresholds(raw: Any, base: Thresholds, where: str, label: str, problems: _Problems) -> Thresholds:
    if raw is None:
        return base
    if not isinstance(raw, Mapping):
        problems.add(where, f"{label} must be a mapping, got {type(raw).__name__}")
        return base
    _unknown_keys(raw, _THRESHOLD_KEYS, where, f"{label}.", problems)
    response = _number(
        raw, "response_time_ms", where, f"{label}.response_time_ms", problems, lambda v: v > 0, "a positive number",
        base.response_time_ms,
    )  # fmt: skip
    error_rate = _number(
        raw, "error_rate", where, f"{label}.error_rate", problems, lambda v: 0 < v < 1,
        "between 0 and 1 (exclusive)", base.error_rate,
    )  # fmt: skip
    return Thresholds(response, error_rate)


def _parse_runbook(raw: Any, where: str, label: str, problems: _Problems) -> tuple[RunbookStep, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add(where, f"{label} must be a mapping of condition to actions, got {type(raw).__name__}")
        return None
    steps = []
    for condition, actions in raw.items():
        if condition not in CONDITIONS:
            problems.add(
                where,
                f"{label} has unknown condition {condition!r} (expected one of: {', '.join(CONDITIONS)})",
            )
            continue
        if isinstance(actions, str):
            actions = [actions]
        if not isinstance(actions, list) or not actions:
            problems.add(where, f"{label}.{condition} must be a non-empty list of actions, got {actions!r}")
            continue
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            problems.add(
                where,
                f"{label}.{condition} has unknown action {unknown[0]!r} (expected one of: {', '.join(ACTIONS)})",
            )
            continue
        steps.append(RunbookStep(condition, tuple(actions)))
    return tuple(steps)


def _parse_health_paths(raw: Any, where: str, label: str, problems: _Problems) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        problems.add(where, f"{label} must be a non-empty list of paths, got {raw!r}")
        return None
    for index, path in enumerate(raw):
        if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
            problems.add(where, f"{label}[{index}] must be a path starting with '/', got {path!r}")
            return None
    return tuple(raw)


def _parse_slo(raw: Any, where: str, label: str, problems: _Problems) -> Slo | None:
    if not isinstance(raw, Mapping):
        problems.add(where, f"{label} must be a mapping, got {type(raw).__name__}")
        return None
    before = len(problems.items)
    _unknown_keys(raw, _SLO_KEYS, where, f"{label}.", problems)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add(where, f"{label}.name must be lower-case letters, digits and '-', got {name!r}")
    kind = raw.get("kind", "availability")
    if kind not in ("availability", "latency"):
        problems.add(where, f"{label}.kind must be 'availability' or 'latency', got {kind!r}")
    objective = _number(
        raw,
        "objective",
        where,
        f"{label}.objective",
        problems,
        lambda v: 0 < v < 1,
        "between 0 and 1 (exclusive)",
    )
    window = raw.get("window_days", 30)
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= MAX_WINDOW_DAYS:
        problems.add(
            where,
            f"{label}.window_days must be a whole number of days from 1 to {MAX_WINDOW_DAYS}, got {window!r}",
        )
    threshold = None
    if kind == "latency":
        threshold = _number(
            raw,
            "threshold_ms",
            where,
            f"{label}.threshold_ms",
            problems,
            lambda v: v > 0,
            "a positive number",
        )
    elif "threshold_ms" in raw:
        problems.add(where, f"{label}.threshold_ms only applies to latency SLOs")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add(where, f"{label}.description must be text")
    if len(problems.items) > before:
        return None
    return Slo(name, kind, objective, window, threshold, description)


def _parse_base_url(raw: Any, where: str, problems: _Problems) -> str | None:
    if not isinstance(raw, str) or not raw:
        problems.add(where, f"base_url is required and must be text, got {raw!r}")
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https", DEMO_SCHEME) or not parts.netloc:
        problems.add(where, f"base_url must be an http(s):// URL or demo://NAME, got {raw!r}")
        return None
    if parts.username is not None or parts.password is not None:
        # Credentials belong in the environment, never in the catalogue (and never in logs).
        problems.add(where, "base_url must not contain credentials")
        return None
    if parts.scheme == DEMO_SCHEME and (not _NAME.match(parts.netloc) or parts.path not in ("", "/")):
        problems.add(where, f"base_url demo://NAME needs a plain service name, got {raw!r}")
        return None
    if parts.query or parts.fragment:
        problems.add(where, f"base_url must not have a query or fragment, got {raw!r}")
        return None
    return raw.rstrip("/")


def _parse_bool(raw: Mapping[str, Any], key: str, default: bool, where: str, problems: _Problems) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.add(where, f"{key} must be true or false, got {value!r}")
        return default
    return value


def _parse_service(raw: Any, index: int, defaults: Service, problems: _Problems) -> Service | None:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    where = f"services[{index}] {name!r}" if isinstance(name, str) else f"services[{index}]"
    if not isinstance(raw, Mapping):
        problems.add(where, f"must be a mapping, got {type(raw).__name__}")
        return None
    before = len(problems.items)
    _unknown_keys(raw, _SERVICE_KEYS, where, "", problems)
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add(where, f"name must be lower-case letters, digits and '-', got {name!r}")
    base_url = _parse_base_url(raw.get("base_url"), where, problems)
    health_paths = _parse_health_paths(raw.get("health_paths"), where, "health_paths", problems)
    thresholds = _parse_thresholds(raw.get("thresholds"), defaults.thresholds, where, "thresholds", problems)
    runbook = _parse_runbook(raw.get("runbook"), where, "runbook", problems)
    slos_raw = raw.get("slos", [])
    slos: list[Slo] = []
    if not isinstance(slos_raw, list):
        problems.add(where, f"slos must be a list, got {type(slos_raw).__name__}")
    else:
        for slo_index, slo_raw in enumerate(slos_raw):
            slo = _parse_slo(slo_raw, where, f"slos[{slo_index}]", problems)
            if slo is None:
                continue
            if any(s.name == slo.name for s in slos):
                problems.add(where, f"slos[{slo_index}].name {slo.name!r} is used twice")
            slos.append(slo)
    owner = raw.get("owner", defaults.owner)
    description = raw.get("description", "")
    for key, value in (("owner", owner), ("description", description)):
        if not isinstance(value, str):
            problems.add(where, f"{key} must be text, got {value!r}")
    allow_remediation = _parse_bool(raw, "allow_remediation", defaults.allow_remediation, where, problems)
    critical = _parse_bool(raw, "critical", defaults.critical, where, problems)
    if len(problems.items) > before:
        return None
    return Service(
        name=name,
        base_url=base_url,
        health_paths=health_paths or defaults.health_paths,
        thresholds=thresholds,
        slos=tuple(slos),
        runbook=defaults.runbook if runbook is None else runbook,
        allow_remediation=allow_remediation,
        critical=critical,
        owner=owner,
        description=description,
    )


def _parse_defaults(raw: Any, problems: _Problems) -> Service:
    base = Service(name="defaults", base_url="")
    if raw is None:
        return base
    if not isinstance(raw, Mapping):
        problems.add("defaults", f"must be a mapping, got {type(raw).__name__}")
        return base
    _unknown_keys(raw, _DEFAULT_KEYS, "defaults", "", problems)
    owner = raw.get("owner", "")
    if not isinstance(owner, str):
        problems.add("defaults", f"owner must be text, got {owner!r}")
        owner = ""
    return replace(
        base,
        health_paths=_parse_health_paths(raw.get("health_paths"), "defaults", "health_paths", problems)
        or base.health_paths,
        thresholds=_parse_thresholds(
            raw.get("thresholds"), base.thresholds, "defaults", "thresholds", problems
        ),
        runbook=_parse_runbook(raw.get("runbook"), "defaults", "runbook", problems) or (),
        allow_remediation=_parse_bool(raw, "allow_remediation", False, "defaults", problems),
        critical=_parse_bool(raw, "critical", False, "defaults", problems),
        owner=owner,
    )


def parse_catalogue(text: str, source: str = "<services.yaml>") -> ServiceCatalogue:
    """Parse and validate catalogue YAML; raises CatalogueError listing every problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise CatalogueError(
            source, [f"{where}not valid YAML ({getattr(error, 'problem', None) or error})"]
        ) from None
    problems = _Problems()
    if not isinstance(document, Mapping):
        raise CatalogueError(source, ["the file must be a mapping with a 'services' list"])
    _unknown_keys(document, {"defaults", "services"}, "", "", problems)
    defaults = _parse_defaults(document.get("defaults"), problems)
    raw_services = document.get("services")
    if not isinstance(raw_services, list) or not raw_services:
        problems.add("", "services must be a non-empty list")
        raise CatalogueError(source, problems.items)
    services: list[Service] = []
    for index, raw in enumerate(raw_services):
        service = _parse_service(raw, index, defaults, problems)
        if service is None:
            continue
        if service.name in {s.name for s in services}:
            problems.add(f"services[{index}] {service.name!r}", "name is used by an earlier service")
            continue
        services.append(service)
    if problems.items:
        raise CatalogueError(source, problems.items)
    return ServiceCatalogue(tuple(services))


def load_catalogue(path: str | Path) -> ServiceCatalogue:
    path = Path(path)
    return parse_catalogue(path.read_text(encoding="utf-8"), source=str(path))
