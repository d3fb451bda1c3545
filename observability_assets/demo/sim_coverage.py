"""Simulated code coverage: one `coverage-report` artifact per test-running run attempt.

Each repository has a handful of source files whose coverage is a deterministic function of the
commit under test (its effective main position), so every run of one commit reports the same
figures. Each repository writes the format its ecosystem uses, in the shape the real tool
writes (see tests/data/coverage/ for the real thing): pytest repositories coverage.py's Cobertura
XML (absolute `<source>` on a GitHub runner), jest repositories nyc's LCOV, surefire repositories
JaCoCo XML (with its DOCTYPE), go repositories a `go test -coverprofile` profile (module paths).

Ground truth beside the feature: `truth_frame()` is raw.coverage_files row for row, `labels()` the
injected coverage drop and the repositories built to pass and to fail the coverage gate. The
random stream is this module's own (`{seed}:coverage`), so the other features' draws never move.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

ARTIFACT_NAME = "coverage-report"
# Coverage artifacts live in their own id range, above any JUnit artifact id of the simulation.
ARTIFACT_ID_BASE = 2_900_000_000
FILES_PER_REPO = 8
# Repositories built to pass and to fail the default-branch coverage gate (80 %).
PASSING_REPO, FAILING_REPO = "api", "web"
_LINE_RATE = {PASSING_REPO: 0.9, FAILING_REPO: 0.68}
DROP_POINTS = 15.0  # a commit deletes tests: one file of DROP_REPO loses this many points
DROP_REPO = "mobile"


@dataclass(frozen=True)
class SourceFile:
    report_path: str  # as the tool writes it
    path: str  # normalised to the repository root (what raw.coverage_files holds)
    lines: int
    base_rate: float


@dataclass(frozen=True)
class _Upload:
    artifact_id: int
    repo_index: int
    full_name: str
    run_id: int
    run_attempt: int
    head_sha: str
    branch: str
    position: int  # effective main position of the commit
    created_s: int


class CoverageSimulation:
    """Coverage artifacts of an `Organisation` and their truth."""

    def __init__(self, org: Any) -> None:
        """`org` is the simulator's Organisation (not imported: the simulator imports this module)."""
        self._org = org
        rng = random.Random(f"{org.spec.seed}:coverage")
        self._formats: dict[str, str] = {}
        self._files: dict[str, list[SourceFile]] = {}
        self._drop: dict[str, Any] | None = None
        for repo in org._repos:
            self._formats[repo.full_name] = _FORMAT_BY_DIALECT[repo.dialect]
            self._files[repo.full_name] = _source_files(repo.name, repo.dialect, rng)
        self._uploads = self._plan_uploads()
        self._by_id = {u.artifact_id: u for u in self._uploads}
        drop_repo = next((r for r in org._repos if r.name == DROP_REPO), None)
        if drop_repo is not None and org.spec.inject_ground_truth and len(drop_repo.plan.main) > 4:
            position = len(drop_repo.plan.main) // 2
            self._drop = {
                "repo": drop_repo.full_name,
                "path": self._files[drop_repo.full_name][0].path,
                "main_position": position,
                "sha": drop_repo.plan.commits.sha[drop_repo.plan.main[position]],
                "points": DROP_POINTS,
            }

    def _plan_uploads(self) -> list[_Upload]:
        """The first test job with a JUnit artifact in each run attempt also uploads coverage."""
        org = self._org
        uploads: list[_Upload] = []
        seen: set[tuple[int, int]] = set()
        positions = {repo.index: repo.plan.commits.effective_position() for repo in org._repos}
        for _, g in sorted(org._artifact_job.items()):
            repo, j = org._locate_job(g)
            exe, plan = repo.exe, repo.plan
            attempt = exe.job_attempt[j]
            run = exe.att_run[attempt]
            key = (repo.run_offset + run, int(exe.att_number[attempt]))
            if key in seen:
                continue
            seen.add(key)
            commit = plan.runs.commit[run]
            uploads.append(
                _Upload(
                    artifact_id=0,
                    repo_index=repo.index,
                    full_name=repo.full_name,
                    run_id=int(org.run_ids[repo.run_offset + run]),
                    run_attempt=int(exe.att_number[attempt]),
                    head_sha=plan.commits.sha[commit],
                    branch=plan.runs.branch[run],
                    position=int(positions[repo.index][commit]),
                    created_s=int(exe.job_artifact_at[j]) + 1,
                )
            )
        uploads.sort(key=lambda u: (u.created_s, u.run_id, u.run_attempt))
        return [replace(u, artifact_id=ARTIFACT_ID_BASE + 7 * i) for i, u in enumerate(uploads)]

    # -- figures --------------------------------------------------------------------------------

    def file_figures(self, full_name: str, position: int) -> list[tuple[SourceFile, int, int, int, int]]:
        """(file, lines valid, lines covered, branches valid, branches covered) at a main position."""
        out = []
        for index, file in enumerate(self._files[full_name]):
            rate = min(0.99, file.base_rate + 0.0005 * position)
            drop = self._drop
            if drop and drop["repo"] == full_name and index == 0 and position >= drop["main_position"]:
                rate -= drop["points"] / 100
            covered = round(file.lines * rate)
            branches = 2 * (file.lines // 6)
            branch_covered = min(branches, round(branches * rate * 0.9))
            out.append((file, file.lines, covered, branches, branch_covered))
        return out

    # -- GitHub objects -------------------------------------------------------------------------

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        out = []
        for u in self._uploads:
            url = f"https://api.github.com/repos/{u.full_name}/actions/artifacts/{u.artifact_id}"
            created = _iso(u.created_s)
            out.append(
                {
                    "id": u.artifact_id,
                    "node_id": f"MDg6QXJ0aWZhY3Q{u.artifact_id}",
                    "name": ARTIFACT_NAME,
                    "size_in_bytes": 600 * FILES_PER_REPO,
                    "url": url,
                    "archive_download_url": f"{url}/zip",
                    "expired": False,
                    "created_at": created,
                    "updated_at": created,
                    "expires_at": _iso(u.created_s + 90 * 86400),
                    "workflow_run": {
                        "id": u.run_id,
                        "repository_id": self._org._repos[u.repo_index].id,
                        "head_repository_id": self._org._repos[u.repo_index].id,
                        "head_branch": u.branch,
                        "head_sha": u.head_sha,
                    },
                }
            )
        return out

    def owns(self, artifact_id: int) -> bool:
        return int(artifact_id) in self._by_id

    def artifact_zip(self, artifact_id: int) -> bytes:
        from observability_assets.demo.junit_writer import zip_reports

        upload = self._by_id[int(artifact_id)]
        name = self._org._repos[upload.repo_index].name
        fmt = self._formats[upload.full_name]
        figures = self.file_figures(upload.full_name, upload.position)
        member, data = _RENDERERS[fmt](name, figures)
        at = datetime.fromtimestamp(upload.created_s, UTC)
        return zip_reports([(member, data)], at.timetuple()[:6])

    # -- truth ----------------------------------------------------------------------------------

    def truth_frame(self) -> Any:
        """raw.coverage_files as the ingestion must load it (contract columns but load columns)."""
        import pandas as pd

        rows = []
        for u in self._uploads:
            fmt = self._formats[u.full_name]
            member = _MEMBER[fmt]
            for file, valid, covered, branches, branch_covered in self.file_figures(u.full_name, u.position):
                go = fmt == "go-cover"
                rows.append(
                    {
                        "repo": u.full_name,
                        "run_id": u.run_id,
                        "run_attempt": u.run_attempt,
                        "head_sha": u.head_sha,
                        "branch": u.branch,
                        "path": file.path,
                        "lines_valid": valid,
                        "lines_covered": covered,
                        "branches_valid": None if go else branches,
                        "branches_covered": None if go else branch_covered,
                        "format": fmt,
                        "report_path": f"{ARTIFACT_NAME}/{member}",
                    }
                )
        return pd.DataFrame(rows)

    def labels(self) -> dict[str, Any]:
        return {
            "formats": dict(sorted(self._formats.items())),
            "coverage_gate_passes": f"{self._org.spec.owner}/{PASSING_REPO}",
            "coverage_gate_fails": f"{self._org.spec.owner}/{FAILING_REPO}",
            "drop": self._drop,
            "artifacts": len(self._uploads),
        }


_FORMAT_BY_DIALECT = {"pytest": "cobertura", "jest": "lcov", "surefire": "jacoco", "go": "go-cover"}
_MEMBER = {
    "cobertura": "coverage.xml",
    "lcov": "coverage/lcov.info",
    "jacoco": "jacoco/jacoco.xml",
    "go-cover": "cover.out",
}


def _source_files(name: str, dialect: str, rng: random.Random) -> list[SourceFile]:
    repo_rate = _LINE_RATE.get(name, rng.uniform(0.8, 0.9))
    package = name.replace("-", "_")
    files = []
    for k in range(FILES_PER_REPO):
        stem = ("handlers", "models", "storage", "client", "auth", "billing", "search", "utils")[k]
        if dialect == "pytest":
            path = report = f"src/{package}/{stem}.py"
        elif dialect == "jest":
            path = report = f"src/{stem}.js"
        elif dialect == "surefire":
            path = report = f"com/acme/{package}/{stem.capitalize()}.java"
        else:
            path = f"internal/{stem}/{stem}.go"
            report = f"github.com/acme/{name}/{path}"
        lines = rng.randint(40, 400)
        files.append(SourceFile(report, path, lines, max(0.3, min(0.97, rng.gauss(repo_rate, 0.04)))))
    return files


def _cobertura(name: str, figures: list[tuple[SourceFile, int, int, int, int]]) -> tuple[str, bytes]:
    """coverage.py's Cobertura: a runner's checkout as <source>, file names relative to it."""
    lines_valid = sum(f[1] for f in figures)
    lines_covered = sum(f[2] for f in figures)
    branches_valid = sum(f[3] for f in figures)
    branches_covered = sum(f[4] for f in figures)
    parts = [
        '<?xml version="1.0" ?>\n',
        f'<coverage version="7.18.0" timestamp="0" lines-valid="{lines_valid}" lines-covered="{lines_covered}" '
        f'line-rate="{_rate(lines_covered, lines_valid)}" branches-valid="{branches_valid}" '
        f'branches-covered="{branches_covered}" branch-rate="{_rate(branches_covered, branches_valid)}" complexity="0">\n',
        "\t<!-- Generated by coverage.py: https://coverage.readthedocs.io/en/7.18.0 -->\n",
        f"\t<sources>\n\t\t<source>/home/runner/work/{name}/{name}</source>\n\t</sources>\n",
        '\t<packages>\n\t\t<package name="src" line-rate="0" branch-rate="0" complexity="0">\n\t\t\t<classes>\n',
    ]
    for file, valid, covered, branches, branch_covered in figures:
        parts.append(
            f'\t\t\t\t<class name="{file.report_path.rpartition("/")[2]}" filename="{file.report_path}" '
            f'complexity="0" line-rate="{_rate(covered, valid)}" branch-rate="{_rate(branch_covered, branches)}">\n'
            "\t\t\t\t\t<methods/>\n\t\t\t\t\t<lines>\n"
        )
        taken = _spread(branch_covered, branches // 2)
        for line in range(1, valid + 1):
            hits = 1 if line <= covered else 0
            if line <= branches // 2:
                t = taken[line - 1]
                parts.append(
                    f'\t\t\t\t\t\t<line number="{line}" hits="{hits}" branch="true" '
                    f'condition-coverage="{t * 50}% ({t}/2)" missing-branches="{line + 1}"/>\n'
                )
            else:
                parts.append(f'\t\t\t\t\t\t<line number="{line}" hits="{hits}"/>\n')
        parts.append("\t\t\t\t\t</lines>\n\t\t\t\t</class>\n")
    parts.append("\t\t\t</classes>\n\t\t</package>\n\t</packages>\n</coverage>\n")
    return _MEMBER["cobertura"], "".join(parts).encode()


def _lcov(name: str, figures: list[tuple[SourceFile, int, int, int, int]]) -> tuple[str, bytes]:
    """nyc's lcovonly: one record per file, DA per line, BRDA per branch, then the summaries."""
    parts = []
    for file, valid, covered, branches, branch_covered in figures:
        parts.append(f"TN:\nSF:{file.report_path}\n")
        parts.extend(f"DA:{line},{1 if line <= covered else 0}\n" for line in range(1, valid + 1))
        parts.append(f"LF:{valid}\nLH:{covered}\n")
        taken = _spread(branch_covered, branches // 2)
        for block, t in enumerate(taken):
            parts.append(f"BRDA:{block + 1},{block},0,{1 if t >= 1 else 0}\n")
            parts.append(f"BRDA:{block + 1},{block},1,{1 if t >= 2 else 0}\n")
        parts.append(f"BRF:{branches}\nBRH:{branch_covered}\nend_of_record\n")
    return _MEMBER["lcov"], "".join(parts).encode()


def _jacoco(name: str, figures: list[tuple[SourceFile, int, int, int, int]]) -> tuple[str, bytes]:
    """JaCoCo's XML: its DOCTYPE, one <sourcefile> per file with its own counters, report totals."""
    package = f"com/acme/{name.replace('-', '_')}"
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd">',
        f'<report name="{name}"><sessioninfo id="runner-0" start="0" dump="0"/><package name="{package}">',
    ]
    for file, valid, covered, branches, branch_covered in figures:
        parts.append(f'<sourcefile name="{file.report_path.rpartition("/")[2]}">')
        parts.append(
            f'<counter type="BRANCH" missed="{branches - branch_covered}" covered="{branch_covered}"/>'
        )
        parts.append(f'<counter type="LINE" missed="{valid - covered}" covered="{covered}"/></sourcefile>')
    lines_valid = sum(f[1] for f in figures)
    lines_covered = sum(f[2] for f in figures)
    branches_valid = sum(f[3] for f in figures)
    branches_covered = sum(f[4] for f in figures)
    totals = (
        f'<counter type="BRANCH" missed="{branches_valid - branches_covered}" covered="{branches_covered}"/>'
        f'<counter type="LINE" missed="{lines_valid - lines_covered}" covered="{lines_covered}"/>'
    )
    parts.append(f"{totals}</package>{totals}</report>")
    return _MEMBER["jacoco"], "".join(parts).encode()


def _go(name: str, figures: list[tuple[SourceFile, int, int, int, int]]) -> tuple[str, bytes]:
    """`go test -covermode=count -coverprofile`: one single-statement block per line."""
    parts = ["mode: count\n"]
    for file, valid, covered, _, _ in figures:
        parts.extend(
            f"{file.report_path}:{line}.2,{line}.20 1 {3 if line <= covered else 0}\n"
            for line in range(1, valid + 1)
        )
    return _MEMBER["go-cover"], "".join(parts).encode()


_RENDERERS = {"cobertura": _cobertura, "lcov": _lcov, "jacoco": _jacoco, "go-cover": _go}


def _spread(covered: int, slots: int) -> list[int]:
    """Covered branches over two-way branch points: full ones first, then one half-covered."""
    out = []
    for _ in range(slots):
        t = min(2, covered)
        out.append(t)
        covered -= t
    return out


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.4g}" if whole else "1"


def _iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
