"""`vigil baselines`: check the golden baselines, or update them with a recorded reason.

    vigil baselines check                      compare every baseline with the current output
    vigil baselines update --reason "why" [NAME ...]
    vigil baselines update --reason "why" --accept-regression SERIES_OR_FINGERPRINT [...]

Goldens change only through `update`: it stores the current output as the new golden and appends
one line per baseline to `<baselines>/history.jsonl` (when, who, why, old and new SHA-256) and one
row to the hash-chained `ops.ledger`, so every change of what counts as correct is on record.

`--accept-regression` accepts the new level of a performance regression instead (a series
`series_kind:series_key`, or the fingerprint of its issue): one `regression.accepted` ledger row
with the level (the `after_value` of the series' latest regression in marts.regression_drift),
who and why. The findings sensor then closes the regression's issue, and a later change is a new
finding only when it goes beyond the accepted level. Goldens are updated too only when NAMEs are
given.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ACTOR = "vigil baselines update"


@dataclass(frozen=True)
class UpdateRecord:
    at: str
    by: str
    reason: str
    baseline: str
    golden: str
    old_sha256: str | None
    new_sha256: str
    changed: bool


def register(subparsers: Any) -> None:
    """Add `baselines check` and `baselines update` to the `vigil` command line."""
    baselines = subparsers.add_parser("baselines", help="golden baselines: check them or update them")
    actions = baselines.add_subparsers(dest="baselines_command", required=True)
    check = actions.add_parser("check", help="compare every baseline with the current output")
    update = actions.add_parser("update", help="store the current outputs as the new goldens, with a reason")
    update.add_argument("--reason", required=True, help="why the expected output changed (recorded)")
    update.add_argument("names", nargs="*", help="baselines to update (default: every baseline)")
    update.add_argument(
        "--accept-regression",
        action="append",
        default=[],
        metavar="SERIES_OR_FINGERPRINT",
        help="accept the new level of a regression (series_kind:series_key, or its issue's fingerprint); "
        "repeatable. Goldens are then updated only when NAMEs are given.",
    )
    for parser in (check, update):
        parser.add_argument("--baselines", help="baselines folder (default: VIGIL_BASELINES or baselines/)")
        parser.add_argument(
            "--warehouse", help="warehouse file (default: VIGIL_WAREHOUSE or data/warehouse.duckdb)"
        )
        parser.add_argument(
            "--candidates", help="base folder of file sources (default: VIGIL_GOLDEN_CANDIDATES or .)"
        )
    check.set_defaults(handler=_cmd_check)
    update.set_defaults(handler=_cmd_update)


def _locations(args: argparse.Namespace) -> tuple[Path, Any, Path]:
    from observability_assets.derived.baselines import baselines_dir
    from resources.warehouse import Warehouse, warehouse_from_env

    folder = Path(args.baselines) if args.baselines else baselines_dir()
    warehouse = Warehouse(args.warehouse) if args.warehouse else warehouse_from_env()
    candidates = Path(args.candidates or os.environ.get("VIGIL_GOLDEN_CANDIDATES") or ".")
    return folder, warehouse, candidates


def _cmd_check(args: argparse.Namespace, out=sys.stdout) -> int:
    from observability_assets.derived.baselines import compare, current_output, load_manifest

    folder, warehouse, candidates = _locations(args)
    worst = 0
    for spec in load_manifest(folder):
        if not spec.applies():
            # Same rule as the baseline_drift asset: a golden recorded under another environment.
            print(f"{spec.name}: skipped (recorded under {spec.when_env})", file=out)
            continue
        results = compare(spec, folder, current_output(spec, warehouse, candidates))
        failed = [r for r in results if r.status == "fail"]
        drifted = [r for r in results if r.status == "drift"]
        verdict = "FAIL" if failed else "drift" if drifted else "ok"
        print(f"{spec.name}: {verdict} ({len(failed)} failed, {len(drifted)} drifted fields)", file=out)
        for r in (failed + drifted)[:10]:
            print(
                f"  {r.status} {r.field or '(whole)'}: {r.expected} -> {r.actual} ({r.tolerance})", file=out
            )
        worst = max(worst, 1 if failed else 0)
    return worst


def _cmd_update(args: argparse.Namespace, out=sys.stdout) -> int:
    folder, warehouse, candidates = _locations(args)
    try:
        if args.accept_regression:
            for line in accept_regressions(warehouse, args.accept_regression, args.reason, _who()):
                print(line, file=out)
            if not args.names:
                return 0
        records = update_baselines(folder, warehouse, candidates, args.reason, args.names, _who())
    except ValueError as error:
        print(f"vigil baselines update: {error}", file=sys.stderr)
        return 2
    for r in records:
        change = f"{(r.old_sha256 or 'none')[:12]} -> {r.new_sha256[:12]}" if r.changed else "unchanged"
        print(f"{r.baseline}: {change}", file=out)
    return 0


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


def update_baselines(
    folder: Path,
    warehouse: Any,
    candidates: Path,
    reason: str,
    names: list[str] | None = None,
    by: str = "unknown",
) -> list[UpdateRecord]:
    """Store the current outputs as goldens and record each update (history file and ledger)."""
    from observability_assets.derived.baselines import (
        HISTORY,
        current_output,
        golden_bytes,
        load_manifest,
        sha256_of,
    )

    reason = reason.strip()
    if not reason:
        raise ValueError("--reason must say why the expected output changed")
    specs = load_manifest(folder)
    unknown = sorted(set(names or []) - {s.name for s in specs})
    if unknown:
        raise ValueError(f"no baselines named {unknown} in {folder}")
    chosen = [s for s in specs if not names or s.name in names]
    outputs = {s.name: current_output(s, warehouse, candidates) for s in chosen}
    missing = [name for name, output in outputs.items() if output is None]
    if missing:
        raise ValueError(f"no current output for {missing}: produce it before updating")
    records = []
    at = datetime.now(UTC).isoformat(timespec="seconds")
    for spec in chosen:
        target = folder / spec.golden
        old = sha256_of(target)
        _write_atomically(target, golden_bytes(spec, outputs[spec.name]))
        new = sha256_of(target) or ""
        records.append(UpdateRecord(at, by, reason, spec.name, spec.golden, old, new, old != new))
    with (folder / HISTORY).open("a", encoding="utf-8") as history:
        for record in records:
            history.write(json.dumps(asdict(record), sort_keys=True) + "\n")
    _record_in_ledger(warehouse, records)
    return records


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _record_in_ledger(warehouse: Any, records: list[UpdateRecord]) -> None:
    from observability_assets.core.ledger import LedgerRecord
    from resources.ledger import Ledger

    Ledger(warehouse).append_many(
        [
            LedgerRecord(
                ACTOR,
                "baseline_update" if r.changed else "baseline_update_unchanged",
                r.baseline,
                {
                    "reason": r.reason,
                    "by": r.by,
                    "golden": r.golden,
                    "old_sha256": r.old_sha256,
                    "new_sha256": r.new_sha256,
                },
            )
            for r in records
        ]
    )


_LATEST_REGRESSION_SQL = (
    "SELECT change_at, before_value, after_value FROM marts.regression_drift "
    "WHERE series_kind || ':' || series_key = ? AND direction = 'regression' ORDER BY change_at DESC LIMIT 1"
)


def accept_regressions(warehouse: Any, keys: list[str], reason: str, by: str) -> list[str]:
    """Record in the ledger that the new level of each regression is accepted; one line each.

    A key is `series_kind:series_key` or the fingerprint of the regression's issue. Raises
    ValueError (nothing recorded) when a key names no detected regression.
    """
    from observability_assets.core.ledger import LedgerRecord
    from resources.issue_tracker import Finding
    from resources.ledger import Ledger

    reason = reason.strip()
    if not reason:
        raise ValueError("--reason must say why the new level is accepted")
    records, lines = [], []
    with warehouse.read("regressions to accept") as con:
        for key in keys:
            series, fingerprint = key.strip(), None
            if re.fullmatch(r"[0-9a-f]{16}", series):
                found = con.execute(
                    "SELECT evidence FROM ops.issues WHERE fingerprint = ? AND kind = 'perf-regression'",
                    [series],
                ).fetchall()
                if not found or not found[0][0]:
                    raise ValueError(f"no performance-regression issue with fingerprint {series}")
                fingerprint, series = series, Finding.from_json(found[0][0]).key
            latest = con.execute(_LATEST_REGRESSION_SQL, [series]).fetchall()
            if not latest:
                raise ValueError(f"no regression detected for series {series!r} in marts.regression_drift")
            change_at, before, after = latest[0]
            detail = {
                "level": float(after),
                "before": float(before),
                "change_at": change_at.isoformat(sep=" "),
                "reason": reason,
                "by": by,
            } | ({"fingerprint": fingerprint} if fingerprint else {})
            records.append(LedgerRecord(ACTOR, "regression.accepted", series, detail))
            lines.append(f"{series}: accepted the level {float(after):,.4g} (was {float(before):,.4g})")
    Ledger(warehouse).append_many(records)
    return lines
