"""Simulated Dependabot alerts: a history of advisories per repository, as GitHub serves them.

Each repository gets a handful of alerts on packages of its ecosystem, opened during the window
and then fixed, dismissed or left open. Payloads follow GitHub's documented shape for
`GET /repos/{owner}/{repo}/dependabot/alerts` (dependency, security_advisory with identifiers and
vulnerabilities, security_vulnerability, state and the fixed/dismissed/auto-dismissed times), as
of the end of the simulated window.

Ground truth beside the feature: `labels()` names the repository built to breach the critical SLA
(an open critical alert older than 7 days at the window's end) and the one built to hold it.
Its own random stream (`{seed}:advisories`) leaves the other features' draws alone.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

# Repositories built to pass and to fail the advisory gate (no critical open > 7 days).
CLEAN_REPO, BREACHING_REPO = "api", "web"
_ECOSYSTEM = {"pytest": "pip", "jest": "npm", "surefire": "maven", "go": "go"}
_MANIFEST = {"pip": "requirements.txt", "npm": "package-lock.json", "maven": "pom.xml", "go": "go.sum"}
_PACKAGES = {
    "pip": ("django", "requests", "urllib3", "jinja2", "pyyaml", "cryptography", "pillow"),
    "npm": ("lodash", "axios", "minimist", "semver", "express", "ws", "follow-redirects"),
    "maven": (
        "com.fasterxml.jackson.core:jackson-databind",
        "org.apache.logging.log4j:log4j-core",
        "org.springframework:spring-web",
        "org.yaml:snakeyaml",
        "commons-io:commons-io",
    ),
    "go": ("golang.org/x/net", "golang.org/x/crypto", "github.com/gin-gonic/gin", "google.golang.org/grpc"),
}
_SEVERITIES = ("low", "medium", "high", "critical")
_GHSA_ALPHABET = "23456789cfghjmpqrvwx"
_WEB = "https://github.com"
_API = "https://api.github.com"


class AdvisorySimulation:
    def __init__(self, org: Any) -> None:
        """`org` is the simulator's Organisation (not imported: the simulator imports this module)."""
        spec = org.spec
        rng = random.Random(f"{spec.seed}:advisories")
        start = datetime(spec.start.year, spec.start.month, spec.start.day, tzinfo=UTC)
        self.as_of = start + timedelta(days=spec.days)
        self._alerts: dict[str, list[dict[str, Any]]] = {}
        for repo in org._repos:
            ecosystem = _ECOSYSTEM[repo.dialect]
            alerts = []
            for number in range(1, rng.randint(5, 9) + 1):
                severity = rng.choices(_SEVERITIES, weights=(3, 4, 3, 1))[0]
                if repo.name == CLEAN_REPO and severity == "critical":
                    severity = "high"
                created = start + timedelta(seconds=rng.randint(0, spec.days * 86400 - 3600))
                fate = rng.choices(("fixed", "dismissed", "open"), weights=(5, 1, 3))[0]
                closed = created + timedelta(hours=rng.expovariate(1 / 96))
                if fate != "open" and closed >= self.as_of:
                    fate = "open"
                alerts.append(
                    self._alert(repo.full_name, number, ecosystem, severity, created, fate, closed, rng)
                )
            if repo.name == BREACHING_REPO and spec.days > 8:
                created = start + timedelta(days=1, hours=3)
                alerts.append(
                    self._alert(
                        repo.full_name, len(alerts) + 1, ecosystem, "critical", created, "open", created, rng
                    )
                )
            if repo.name == CLEAN_REPO:  # a critical alert fixed within a day: it never breaches
                created = start + timedelta(days=2)
                alerts.append(
                    self._alert(
                        repo.full_name,
                        len(alerts) + 1,
                        ecosystem,
                        "critical",
                        created,
                        "fixed",
                        created + timedelta(hours=20),
                        rng,
                    )
                )
            self._alerts[repo.full_name] = alerts
        self._owner = spec.owner

    def _alert(
        self,
        full_name: str,
        number: int,
        ecosystem: str,
        severity: str,
        created: datetime,
        fate: str,
        closed: datetime,
        rng: random.Random,
    ) -> dict[str, Any]:
        name = rng.choice(_PACKAGES[ecosystem])
        ghsa = "GHSA-" + "-".join("".join(rng.choice(_GHSA_ALPHABET) for _ in range(4)) for _ in range(3))
        cve = (
            f"CVE-{created.year - rng.randint(0, 1)}-{rng.randint(10000, 49999)}"
            if rng.random() < 0.85
            else None
        )
        major, minor = rng.randint(1, 5), rng.randint(0, 20)
        patched = f"{major}.{minor + 1}.0" if rng.random() < 0.85 else None
        vulnerable = f"< {patched}" if patched else f">= {major}.0.0"
        package = {"ecosystem": ecosystem, "name": name}
        vulnerability = {
            "package": package,
            "severity": severity,
            "vulnerable_version_range": vulnerable,
            "first_patched_version": {"identifier": patched} if patched else None,
        }
        identifiers = [{"value": ghsa, "type": "GHSA"}] + ([{"value": cve, "type": "CVE"}] if cve else [])
        closed_text = _iso(closed) if fate != "open" else None
        url = f"{_API}/repos/{full_name}/dependabot/alerts/{number}"
        return {
            "number": number,
            "state": fate,
            "dependency": {
                "package": package,
                "manifest_path": _MANIFEST[ecosystem],
                "scope": rng.choice(("runtime", "development")),
                "relationship": rng.choice(("direct", "transitive")),
            },
            "security_advisory": {
                "ghsa_id": ghsa,
                "cve_id": cve,
                "summary": f"{severity.capitalize()} severity vulnerability in {name}",
                "description": f"Versions of {name} {vulnerable} are affected.",
                "vulnerabilities": [vulnerability],
                "severity": severity,
                "cvss": {
                    "vector_string": None,
                    "score": {"low": 3.1, "medium": 5.3, "high": 7.5, "critical": 9.8}[severity],
                },
                "cwes": [],
                "identifiers": identifiers,
                "references": [{"url": f"https://github.com/advisories/{ghsa}"}],
                "published_at": _iso(created - timedelta(days=rng.randint(0, 30))),
                "updated_at": _iso(created),
                "withdrawn_at": None,
            },
            "security_vulnerability": vulnerability,
            "url": url,
            "html_url": f"{_WEB}/{full_name}/security/dependabot/{number}",
            "created_at": _iso(created),
            "updated_at": closed_text or _iso(created),
            "dismissed_at": closed_text if fate == "dismissed" else None,
            "dismissed_by": {"login": "octocat", "id": 1, "type": "User"} if fate == "dismissed" else None,
            "dismissed_reason": "tolerable_risk" if fate == "dismissed" else None,
            "dismissed_comment": "Not reachable from our code." if fate == "dismissed" else None,
            "fixed_at": closed_text if fate == "fixed" else None,
            "auto_dismissed_at": None,
        }

    def alerts(self, full_name: str) -> list[dict[str, Any]]:
        """The repository's alerts, newest first (GitHub's default sort: created, desc)."""
        return sorted(self._alerts.get(full_name, []), key=lambda a: a["created_at"], reverse=True)

    def labels(self) -> dict[str, Any]:
        return {
            "as_of": _iso(self.as_of),
            "critical_sla_holds": f"{self._owner}/{CLEAN_REPO}",
            "critical_sla_breached": f"{self._owner}/{BREACHING_REPO}",
            "alerts": {repo: len(alerts) for repo, alerts in sorted(self._alerts.items())},
        }


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
