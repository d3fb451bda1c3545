"""`vigil gate --repo OWNER/NAME --sha SHA`: the policy gates for one commit, for CI to call.

Reads the warehouse (coverage of the commit and of the default branch it builds on, Dependabot
alerts, flaky scores), judges them by config/policies.yaml (`VIGIL_POLICIES`), prints a Markdown
summary and appends it to `$GITHUB_STEP_SUMMARY` when GitHub Actions provides one (or writes it to
`--summary FILE`, e.g. a check run body). Exit status: 0 when every gate passed or was skipped
for lack of data, 1 when a gate failed, 2 when the gate could not run. The decision is appended
to the ledger.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


def run_gate(repo: str, sha: str, *, summary: Path | None = None, policies: Path | None = None) -> int:
    from observability_assets.core.policies import evaluate, render_markdown
    from observability_assets.derived.policy_gates import (
        ACTOR_GATE,
        gather_facts,
        load_policies,
        record_decision,
    )
    from resources.ledger import Ledger
    from resources.warehouse import warehouse_from_env

    warehouse = warehouse_from_env()
    if not warehouse.path.exists():
        print(f"vigil gate: no warehouse at {warehouse.path}", file=sys.stderr)
        return 2
    facts = gather_facts(warehouse, repo, sha.lower())
    results = evaluate(load_policies(policies), facts)
    markdown = render_markdown(facts, results)
    print(markdown)
    targets = [summary] if summary else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        targets.append(Path(os.environ["GITHUB_STEP_SUMMARY"]))
    for target in targets:
        with open(target, "a", encoding="utf-8") as handle:  # job summaries are appended to
            handle.write(markdown + "\n")
    record_decision(Ledger(warehouse), ACTOR_GATE, facts, results)
    warehouse.publish_snapshot()
    return 1 if any(r.failed for r in results) else 0


def _cmd_gate(args: argparse.Namespace) -> int:
    if not _REPO.match(args.repo):
        print(f"vigil gate: --repo must be OWNER/NAME, not {args.repo!r}", file=sys.stderr)
        return 2
    if not _SHA.match(args.sha):
        print("vigil gate: --sha must be a commit id (7-40 hex digits)", file=sys.stderr)
        return 2
    return run_gate(
        args.repo,
        args.sha,
        summary=Path(args.summary) if args.summary else None,
        policies=Path(args.policies) if args.policies else None,
    )


def register(commands: argparse._SubParsersAction) -> None:
    gate = commands.add_parser(
        "gate", help="check one commit against config/policies.yaml; exit 1 when a gate fails"
    )
    gate.add_argument("--repo", required=True, help="repository as OWNER/NAME")
    gate.add_argument("--sha", required=True, help="commit to judge")
    gate.add_argument("--summary", help="also write the Markdown summary to this file (appended)")
    gate.add_argument("--policies", help="policies file (default: VIGIL_POLICIES or config/policies.yaml)")
    gate.set_defaults(handler=_cmd_gate)
