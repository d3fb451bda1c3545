"""Redaction quality on the simulator's planted corpus (issue 20), per seed.

    .venv/bin/python bench/quality_redaction.py --seeds 7 11 23

Every artifact holding a planted item or ordinary noise is parsed and redacted as raw.test_results
does (`parse_many(..., redactor=...)`). Per row (one test execution) it counts:

* planted items whose value survives anywhere in their row's message or stack trace (goal 0);
* ordinary rows (hashes, UUIDs, base64 only) that lost a value or gained any placeholder: the
  false redactions (goal ≤ 1 %).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from observability_assets.core.junit import parse_many
from observability_assets.core.redaction import Redactor
from observability_assets.demo.sim_secrets import OrdinaryItem, PlantedItem
from observability_assets.demo.simulator import OrgSpec, simulate

REDACTOR = Redactor(b"quality-redaction-key-0123456789")


def measure(seed: int, examples: list[str] | None = None) -> dict:
    org = simulate(OrgSpec(seed=seed))
    corpus = org.planted_corpus()
    catalogues = {repo.full_name: repo.catalogue for repo in org._repos}
    cells: dict[tuple[int, str], PlantedItem | OrdinaryItem] = {}
    for cell in corpus.secrets + corpus.ordinary:
        catalogue = catalogues[cell.repo]
        identity = f"{catalogue.classname[cell.test] or None}\x1f{catalogue.name[cell.test]}"
        cells[(cell.artifact_id, identity)] = cell.item
    rows_by_cell: dict[tuple[int, str], list[str]] = {}
    started = time.perf_counter()
    for artifact in sorted({artifact for artifact, _ in cells}):
        archive = zipfile.ZipFile(io.BytesIO(org.artifact_zip(artifact)))
        pairs = [(name, archive.read(name)) for name in archive.namelist() if name.endswith(".xml")]
        table = parse_many(pairs, workers=1, redactor=REDACTOR).table
        columns = ("classname", "test_name", "outcome", "message", "stack_trace")
        for classname, name, outcome, message, trace in zip(
            *(table.column(c).to_pylist() for c in columns), strict=True
        ):
            key = (artifact, f"{classname}\x1f{name}")
            # Executions that failed carry the text; the passing rerun of a flaky test does not.
            if key in cells and outcome in ("failed", "error"):
                rows_by_cell.setdefault(key, []).append(f"{message or ''}\n{trace or ''}")
    seconds = time.perf_counter() - started
    leaked: Counter[str] = Counter()
    planted: Counter[str] = Counter()
    ordinary_rows = false_rows = 0
    for key, item in cells.items():
        for text in rows_by_cell.get(key, []):
            if isinstance(item, PlantedItem):
                planted[item.kind] += 1
                leaked[item.kind] += item.value in text
            else:
                ordinary_rows += 1
                changed = "[REDACTED:" in text or any(v not in text for v in item.values)
                false_rows += changed
                if changed and examples is not None and len(examples) < 5:
                    examples.append(text)
    return {
        "seed": seed,
        "items": len(corpus.secrets),
        "kinds": len(corpus.kinds()),
        "dialects": len(corpus.dialects()),
        "planted_rows": sum(planted.values()),
        "leaked_rows": sum(leaked.values()),
        "ordinary_items": len(corpus.ordinary),
        "ordinary_rows": ordinary_rows,
        "false_rows": false_rows,
        "seconds": seconds,
    }


def main() -> None:
    options = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    options.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    args = options.parse_args()
    print(
        "| seed | planted items | kinds | dialects | planted rows | rows still holding the value "
        "| ordinary items | ordinary rows | ordinary rows changed (false redactions) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seed in args.seeds:
        m = measure(seed)
        share = m["false_rows"] / max(m["ordinary_rows"], 1)
        print(
            f"| {m['seed']} | {m['items']} | {m['kinds']} | {m['dialects']} | {m['planted_rows']:,} | "
            f"{m['leaked_rows']} | {m['ordinary_items']:,} | {m['ordinary_rows']:,} | {m['false_rows']} ({share:.2%}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
