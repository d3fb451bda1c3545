"""Share of artifact test results attributed to a job, on the simulator; written to docs/quality.md.

For each seed, every JUnit artifact of the simulated organisation goes through the ingestion's own
attribution path: `junit_collect.load_run_contexts` over the runs and jobs frames (what
raw.ci_runs and raw.ci_jobs hold), `RunContext.attempt_at` on the artifact's creation time and
`RunContext.job_for` on its name (`core.job_match`). Rows are the test executions each artifact
holds (the simulator's truth frame). Each attribution is checked against the job that really
uploaded the artifact and against the simulator's label for its naming convention.

Usage: `.venv/bin/python bench/quality_job_attribution.py [--seeds 1 2 3 4 5 7]`.
Section `<!-- quality:job-attribution -->` of docs/quality.md is replaced (or appended).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUTPUT = ROOT / "docs" / "quality.md"
MARKER = "quality:job-attribution"
MATCHES = ("exact", "tokens", "none")


def attribute(seed: int) -> dict:
    """Rows and artifacts per job_match, per naming convention, and the errors, for one seed."""
    from observability_assets.demo.simulator import OrgSpec, simulate
    from observability_assets.ingest.junit_collect import load_run_contexts

    org = simulate(OrgSpec(seed=seed))
    contexts = {(c.repo, c.run_id): c for c in load_run_contexts(org.runs_frame(), org.jobs_frame())}
    truth = org.test_results_truth()
    per_artifact = truth.groupby("artifact_id").agg(
        rows=("job_id", "size"), job_id=("job_id", "first"), repo=("repo", "first")
    )
    per_artifact["expected"] = org.artifact_attribution().set_index("artifact_id")["job_match"]
    rows, artifacts, by_convention = Counter(), Counter(), Counter()
    wrong_job = wrong_label = previous = 0
    for artifact in org.artifacts:
        if artifact["id"] not in per_artifact.index:  # not a test-report artifact (coverage, ...)
            continue
        facts = per_artifact.loc[artifact["id"]]
        ctx = contexts[(facts.repo, artifact["workflow_run"]["id"])]
        created = datetime.fromisoformat(artifact["created_at"].replace("Z", "+00:00")).astimezone(UTC)
        job_id, how = ctx.job_for(ctx.attempt_at(created), artifact["name"])
        rows[how] += int(facts.rows)
        artifacts[how] += 1
        template = _template(org, facts.repo, artifact["name"])
        by_convention[(template, how)] += int(facts.rows)
        wrong_job += int(job_id is not None and job_id != int(facts.job_id))
        attempt_jobs = ctx.jobs.get(ctx.attempt_at(created), [])
        previous += int(facts.rows) * (_previous_rule(artifact["name"], attempt_jobs) is not None)
        wrong_label += int(how != facts.expected)
    return {
        "seed": seed,
        "rows": rows,
        "artifacts": artifacts,
        "by_convention": by_convention,
        "wrong_job": wrong_job,
        "wrong_label": wrong_label,
        "previous": previous,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _previous_rule(name: str, jobs: list[tuple[str, int]]) -> int | None:
    """Vigil's rule before job_match, for comparison: the artifact's slug is the job's slug or
    ends with "-<job slug>" (`junit-<job>`), longest job slug first."""
    for job_slug, job_id in sorted(((_slug(n), i) for n, i in jobs), key=lambda e: -len(e[0])):
        if _slug(name) == job_slug or _slug(name).endswith("-" + job_slug):
            return job_id
    return None


def _template(org, repo: str, name: str) -> str:
    """The naming convention (template) an artifact name of `repo` came from."""
    for convention in org.artifact_conventions[repo].values():
        pattern = re.escape(convention.template)
        for field in ("job", "os", "attempt", "index", "sha7"):
            pattern = pattern.replace(re.escape("{" + field + "}"), ".+")
        if re.fullmatch(pattern, name):
            return convention.template
    return "?"


def _share(counter: Counter, key: str) -> str:
    total = sum(counter.values())
    return f"{100 * counter[key] / total:.1f} %" if total else "–"


def render(results: list[dict], command: str) -> str:
    lines = [
        "## Job attribution of artifact test results",
        "",
        "GitHub does not say which job uploaded an artifact, so Vigil infers it from the names "
        "(`observability_assets/core/job_match.py`) and records how in `raw.test_results.job_match`. "
        "**Rule:** both names are lower-cased and split into tokens on separators and punctuation; "
        "a version stays one token (`3.12`, also out of `py3.12`), `<x>-latest` stays one token "
        "(`ubuntu-latest`); generic words (`junit`, `report(s)`, `result(s)`, `artifact(s)`, `xml`, "
        "`surefire`, and `test` before one of them) and run-attempt suffixes (`attempt-2`) are dropped. "
        "**exact**: one job of the artifact's run attempt has exactly the artifact's token sequence; "
        "**tokens**: else the job sharing most tokens (ties broken by Jaccard similarity) if it is "
        "unique; **none**: else. Unattributed rows are labelled `unknown job` downstream "
        "(`landing` is only for landing-folder reports), and staging keeps each such artifact a unit "
        "of its own so two matrix jobs' executions never fold into one.",
        "",
        "The simulator names artifacts the way real workflows do, one convention per repository and "
        "workflow (`observability_assets/demo/sim_artifact_names.py`): after the job "
        "(`junit-test-ubuntu-latest`), after a matrix value (`test-results-ubuntu-latest`, "
        "`JUnit (windows-latest)`), with the run attempt (`junit-macos-latest-attempt-2`, "
        "`test-results-test-ubuntu-latest-1`), after the strategy's job index (`junit-0`), "
        "upload-artifact's default `artifact`, or a custom name (`test-report-3f2a9c1`).",
        "",
        f"Share of artifact test-result rows by attribution (command: `{command}`):",
        "",
        "| seed | rows | exact | tokens | none | attributed | previous rule | artifacts (exact / tokens / none) | wrong job | label differs |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    total_rows, total_artifacts = Counter(), Counter()
    wrong_job = wrong_label = previous = 0
    for r in results:
        rows, artifacts = r["rows"], r["artifacts"]
        total_rows.update(rows)
        total_artifacts.update(artifacts)
        wrong_job += r["wrong_job"]
        wrong_label += r["wrong_label"]
        previous += r["previous"]
        lines.append(_row(str(r["seed"]), rows, artifacts, r["wrong_job"], r["wrong_label"], r["previous"]))
    lines.append(_row("**all**", total_rows, total_artifacts, wrong_job, wrong_label, previous))
    conventions = Counter()
    for r in results:
        conventions.update(r["by_convention"])
    lines += [
        "",
        "Rows by naming convention, all seeds together (which convention a repository uses is "
        "drawn per seed, so the seeds differ a lot):",
        "",
        "| artifact name template | exact | tokens | none |",
        "|---|---:|---:|---:|",
    ]
    for template in sorted({t for t, _ in conventions}):
        counts = [conventions[(template, how)] for how in MATCHES]
        lines.append(f"| `{template}` | " + " | ".join(f"{c:,}" for c in counts) + " |")
    lines += [
        "",
        '"previous rule" is the share the rule before `job_match` attributed on the same names '
        "(the artifact name is the job's slug or ends with `-<job slug>`). "
        '"wrong job" counts artifacts attributed to a job other than the one that uploaded them; '
        '"label differs" counts artifacts whose attribution differs from the simulator\'s label for '
        "their convention (`demo/verify.py` checks the same against the warehouse in `make demo`). "
        "Names that cannot tell the job (`junit-0`, `artifact`, a commit hash) stay unattributed: "
        "an unknown job is better than a wrong one. The mix of conventions is the simulator's "
        "assumption (written together with the rule, so these shares are not a held-out test); "
        "`tests/unit/test_job_match.py` pins the rule on a table of realistic names, ambiguous "
        "ones included.",
    ]
    return "\n".join(lines)


def _row(
    label: str, rows: Counter, artifacts: Counter, wrong_job: int, wrong_label: int, previous: int
) -> str:
    total = sum(rows.values())
    attributed = rows["exact"] + rows["tokens"]
    shares = " | ".join(_share(rows, how) for how in MATCHES)
    split = " / ".join(f"{artifacts[how]:,}" for how in MATCHES)
    share = f"{100 * attributed / total:.1f} %" if total else "–"
    before = f"{100 * previous / total:.1f} %" if total else "–"
    return f"| {label} | {total:,} | {shares} | {share} | {before} | {split} | {wrong_job} | {wrong_label} |"


def write_section(body: str) -> None:
    existing = OUTPUT.read_text(encoding="utf-8")
    section = f"<!-- {MARKER} -->\n{body.strip()}\n<!-- /{MARKER} -->"
    pattern = re.compile(rf"<!-- {re.escape(MARKER)} -->.*?<!-- /{re.escape(MARKER)} -->", re.S)
    if pattern.search(existing):
        updated = pattern.sub(lambda _: section, existing)
    else:
        updated = existing.rstrip("\n") + "\n\n" + section + "\n"
    OUTPUT.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 7])
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        results.append(attribute(seed))
        r = results[-1]
        print(f"seed {seed}: {dict(r['rows'])}, wrong job {r['wrong_job']}, label differs {r['wrong_label']}")
    command = ".venv/bin/python bench/quality_job_attribution.py --seeds " + " ".join(map(str, args.seeds))
    write_section(render(results, command))
    print(f"wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
