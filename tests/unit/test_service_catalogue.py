from __future__ import annotations

from pathlib import Path

import pytest

from observability_assets.core.service_catalogue import (
    CatalogueError,
    RunbookStep,
    Thresholds,
    load_catalogue,
    parse_catalogue,
)

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "services.yaml"

MINIMAL = """
services:
  - name: web
    base_url: https://web.example.com/
"""


def test_shipped_catalogue_loads():
    catalogue = load_catalogue(SHIPPED)
    assert catalogue.names == ("checkout", "search", "payments", "auth")
    checkout = catalogue.get("checkout")
    assert checkout.is_demo and checkout.base_url == "demo://checkout"
    assert checkout.critical and checkout.allow_remediation and checkout.owner == "team-commerce"
    assert checkout.thresholds == Thresholds(response_time_ms=800.0, error_rate=0.05)
    latency = checkout.slo("latency-p95")
    assert (latency.kind, latency.threshold_ms, latency.objective, latency.window_days) == (
        "latency",
        500.0,
        0.95,
        30,
    )
    assert checkout.actions_for("high_error_rate") == ("reload-config", "rollback")
    assert checkout.actions_for("high_memory") == ("clear-cache",)
    search = catalogue.get("search")
    assert search.slo("availability").window_days == 28 and search.slo("availability").kind == "availability"
    assert not catalogue.get("payments").allow_remediation
    assert catalogue.get("auth").actions_for("high_latency") == ("scale", "restart")


def test_defaults_apply_to_unset_fields():
    service = parse_catalogue(MINIMAL).get("web")
    assert service.base_url == "https://web.example.com"
    assert service.health_paths == ("/health",)
    assert service.health_urls == ("https://web.example.com/health",)
    assert service.thresholds == Thresholds(2000.0, 0.05)
    assert (service.allow_remediation, service.critical, service.slos, service.runbook) == (
        False,
        False,
        (),
        (),
    )


def test_defaults_section_merges_field_by_field():
    catalogue = parse_catalogue(
        """
defaults:
  thresholds: {error_rate: 0.1}
  runbook: {down: [restart]}
  owner: sre
services:
  - name: a
    base_url: http://a.internal
    thresholds: {response_time_ms: 300}
  - name: b
    base_url: http://b.internal
    owner: team-b
    runbook: {high_cpu: restart}
"""
    )
    a, b = catalogue.get("a"), catalogue.get("b")
    assert a.thresholds == Thresholds(300.0, 0.1)
    assert a.runbook == (RunbookStep("down", ("restart",)),) and a.owner == "sre"
    assert b.runbook == (RunbookStep("high_cpu", ("restart",)),) and b.owner == "team-b"
    assert b.actions_for("down") == ()


def test_demo_urls_are_resolved():
    catalogue = load_catalogue(SHIPPED)
    urls = {name: f"http://127.0.0.1:{9000 + i}" for i, name in enumerate(catalogue.names)}
    resolved = catalogue.with_base_urls(urls)
    assert resolved.get("search").base_url == "http://127.0.0.1:9001"
    assert resolved.get("search").health_urls == ("http://127.0.0.1:9001/health",)
    assert not any(s.is_demo for s in resolved)
    with pytest.raises(KeyError, match="demo://search"):
        catalogue.with_base_urls({"checkout": "http://127.0.0.1:1"})


def _service(**fields) -> str:
    lines = ["services:", "  - name: web", "    base_url: http://web.internal"]
    lines += [f"    {key}: {value}" for key, value in fields.items()]
    return "\n".join(lines)


def _problems(text: str) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, source="services.yaml")
    assert str(caught.value).startswith("services.yaml: invalid service catalogue")
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "services:\n"
            "  - {name: a, base_url: 'http://a'}\n"
            "  - {name: b, base_url: 'http://b'}\n"
            "  - name: checkout\n"
            "    base_url: demo://checkout\n"
            "    slos: [{name: availability, objective: 1.5}]\n",
            "services[2] 'checkout': slos[0].objective must be between 0 and 1 (exclusive), got 1.5",
        ),
        (
            _service(slos="[{name: up, objective: 1}]"),
            "slos[0].objective must be between 0 and 1 (exclusive), got 1",
        ),
        (
            _service(slos="[{name: up, objective: '0.99'}]"),
            "slos[0].objective must be between 0 and 1 (exclusive)",
        ),
        (_service(slos="[{name: up}]"), "services[0] 'web': slos[0].objective is required"),
        (
            _service(slos="[{name: up, objective: 0.99, window_days: 0}]"),
            "slos[0].window_days must be a whole number",
        ),
        (
            _service(slos="[{name: up, objective: 0.99, window_days: 7.5}]"),
            "slos[0].window_days must be a whole",
        ),
        (_service(slos="[{name: fast, kind: latency, objective: 0.95}]"), "slos[0].threshold_ms is required"),
        (
            _service(slos="[{name: up, objective: 0.9, threshold_ms: 5}]"),
            "threshold_ms only applies to latency",
        ),
        (
            _service(slos="[{name: up, kind: speed, objective: 0.9}]"),
            "slos[0].kind must be 'availability' or",
        ),
        (
            _service(slos="[{name: up, objective: 0.9}, {name: up, objective: 0.99}]"),
            "slos[1].name 'up' is used twice",
        ),
        (
            _service(thresholds="{response_time_ms: -5}"),
            "thresholds.response_time_ms must be a positive number",
        ),
        (
            _service(thresholds="{error_rate: 5}"),
            "thresholds.error_rate must be between 0 and 1 (exclusive), got 5",
        ),
        (_service(thresolds="{error_rate: 0.1}"), "unknown field 'thresolds'"),
        (_service(runbook="{down: [reboot]}"), "runbook.down has unknown action 'reboot'"),
        (_service(runbook="{sad: [restart]}"), "runbook has unknown condition 'sad'"),
        (_service(runbook="{down: []}"), "runbook.down must be a non-empty list of actions"),
        (_service(health_paths="[health]"), "health_paths[0] must be a path starting with '/'"),
        (_service(allow_remediation="'yes please'"), "allow_remediation must be true or false"),
        ("services:\n  - name: Web\n    base_url: http://web", "services[0] 'Web': name must be lower-case"),
        (
            "services:\n  - name: web\n    base_url: ftp://web",
            "base_url must be an http(s):// URL or demo://NAME",
        ),
        ("services:\n  - name: web", "services[0] 'web': base_url is required"),
        (
            "services:\n  - name: web\n    base_url: https://u:secret@web",
            "base_url must not contain credentials",
        ),
        ("services: []", "services must be a non-empty list"),
        (
            "services:\n  - {name: web, base_url: 'http://a'}\n  - {name: web, base_url: 'http://b'}",
            "services[1] 'web': name is used by an earlier service",
        ),
        ("services:\n  - name: web\n    base_url: [http://a", "not valid YAML"),
    ],
)
def test_errors_name_the_service_and_field(text, expected):
    problems = _problems(text)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once():
    problems = _problems(
        "services:\n"
        "  - name: a\n    base_url: http://a\n    slos: [{name: x, objective: 2}]\n"
        "  - name: b\n    base_url: nope\n"
    )
    assert len(problems) == 2
    assert problems[0].startswith("services[0] 'a': slos[0].objective")
    assert problems[1].startswith("services[1] 'b': base_url")


def test_credentials_never_appear_in_the_error():
    problems = _problems("services:\n  - name: web\n    base_url: https://u:hunter2@web")
    assert not any("hunter2" in p for p in problems)
