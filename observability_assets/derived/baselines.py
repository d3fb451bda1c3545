"""Golden baselines of Vigil's outputs: marts.baseline_drift and its blocking asset check.

The baselines folder (`VIGIL_BASELINES`, default `baselines/`) holds `manifest.json`, the golden
files it names, and `history.jsonl`, the record of every update. Each manifest entry says where
the current output comes from and how it is compared:

    {"name": "demo_cost_by_repo", "kind": "json", "golden": "demo_cost_by_repo.json",
     "source": {"sql": "SELECT repo, round(sum(cost_usd), 4) AS usd FROM marts.ci_cost_daily GROUP BY repo ORDER BY repo"},
     "default_tolerance": {"abs": 0, "rel": 0},
     "tolerances": {"/rows/*/usd": {"abs": 0.05, "rel": 0.02}}}
    {"name": "report_chart", "kind": "image", "golden": "report_chart.png",
     "source": {"file": "data/reports/chart.png"}, "max_distance": 8}

A `sql` source becomes `{"rows": [...]}` (one object per row, dates as ISO text); a `file` source
is read from the candidates folder (`VIGIL_GOLDEN_CANDIDATES`, default the working directory).
Goldens change only through `vigil baselines update --reason "..."` (observability_assets.
baselines_cli), which records who, when, why and the old and new file hashes.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from observability_assets.assetkit.load_cache import cached_parse
from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import BASELINE_DRIFT
from observability_assets.core.golden import (
    DEFAULT_MAX_DISTANCE,
    DRIFT,
    FAIL,
    FieldResult,
    Tolerance,
    compare_image,
    compare_json,
    perceptual_hash,
)
from observability_assets.derived.tables import replace_mart
from resources.warehouse import Warehouse, WarehouseResource

if TYPE_CHECKING:
    import pandas as pd

BASELINE_DRIFT_KEY = dg.AssetKey(BASELINE_DRIFT.qualified_name.split("."))
MANIFEST = "manifest.json"
HISTORY = "history.jsonl"
DEFAULT_BASELINES_DIR = Path(__file__).resolve().parents[2] / "baselines"
KINDS = ("json", "image")


class BaselinesResource(dg.ConfigurableResource):
    """Where golden baselines live (env `VIGIL_BASELINES`) and where file outputs are read from."""

    directory: str = Field(default=str(DEFAULT_BASELINES_DIR), description="Folder with manifest.json.")
    candidates_dir: str = Field(default=".", description="Base folder of `file` sources.")


@dataclass(frozen=True)
class BaselineSpec:
    name: str
    kind: str
    golden: str
    sql: str | None = None
    file: str | None = None
    default_tolerance: Tolerance = Tolerance()
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    max_distance: int = DEFAULT_MAX_DISTANCE
    # Environment the golden was recorded under: {variable: accepted values, "" for unset}. A
    # golden of the demo organisation means nothing for another seed or a real organisation.
    when_env: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def applies(self) -> bool:
        return all(os.environ.get(name, "") in accepted for name, accepted in self.when_env.items())


def baselines_dir() -> Path:
    return Path(os.environ.get("VIGIL_BASELINES") or DEFAULT_BASELINES_DIR)


def load_manifest(directory: Path) -> list[BaselineSpec]:
    """The manifest's entries; a missing manifest means no baselines. Errors name the entry."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8")).get("baselines", [])
    specs, names = [], set()
    for index, entry in enumerate(entries):
        try:
            spec = _spec(entry)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: baseline {index}: {error}") from None
        if spec.name in names:
            raise ValueError(f"{path}: baseline name {spec.name!r} is used twice")
        names.add(spec.name)
        specs.append(spec)
    return specs


def _spec(entry: dict[str, Any]) -> BaselineSpec:
    kind, source, golden = entry["kind"], entry["source"], str(entry["golden"])
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if Path(golden).name != golden:
        raise ValueError("golden must be a file name inside the baselines folder")
    if set(source) not in ({"sql"}, {"file"}) or (kind == "image" and "file" not in source):
        raise ValueError("source is {'sql': ...} or {'file': ...} (images: file only)")
    return BaselineSpec(
        name=str(entry["name"]),
        kind=kind,
        golden=golden,
        sql=source.get("sql"),
        file=source.get("file"),
        default_tolerance=Tolerance.parse(entry.get("default_tolerance")),
        tolerances={str(k): Tolerance.parse(v) for k, v in entry.get("tolerances", {}).items()},
        max_distance=int(entry.get("max_distance", DEFAULT_MAX_DISTANCE)),
        when_env={str(k): tuple(str(x) for x in v) for k, v in entry.get("when_env", {}).items()},
    )


def source_tables(specs: list[BaselineSpec]) -> list[dg.AssetKey]:
    """Tables the SQL sources read (parsed with sqlglot, cached by the query's hash), as asset keys."""
    keys = {
        tuple(name)
        for spec in specs
        if spec.sql
        for name in cached_parse("baseline", spec.sql, baseline_tables)
    }
    return [dg.AssetKey(list(k)) for k in sorted(keys)]


def baseline_tables(sql: str) -> list[list[str]]:
    import sqlglot
    from sqlglot import exp

    found = {(t.db, t.name) for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table) if t.db}
    return [list(k) for k in sorted(found)]


def query_document(warehouse: Warehouse, sql: str) -> dict[str, Any]:
    """`{"rows": [...]}` of a SQL source, JSON-ready (dates as ISO text, NaN as null)."""
    with warehouse.read("golden baseline query") as con:
        frame = con.execute(sql).df()
    return {"rows": json.loads(frame.to_json(orient="records", date_format="iso"))}


def current_output(spec: BaselineSpec, warehouse: Warehouse, candidates_dir: Path) -> Any:
    """The output the golden is compared with: a JSON document, or an image path (None if missing)."""
    if spec.sql is not None:
        return query_document(warehouse, spec.sql)
    path = Path(candidates_dir) / str(spec.file)
    if not path.exists():
        return None
    return path if spec.kind == "image" else json.loads(path.read_text(encoding="utf-8"))


def compare(spec: BaselineSpec, directory: Path, output: Any) -> list[FieldResult]:
    golden = Path(directory) / spec.golden
    if not golden.exists():
        return [FieldResult("", None, None, None, None, "golden missing: run vigil baselines update", FAIL)]
    if spec.kind == "image":
        actual = perceptual_hash(output) if output is not None else None
        return [compare_image(spec.golden, perceptual_hash(golden), actual, spec.max_distance)]
    if output is None:
        return [FieldResult("", None, None, None, None, f"output {spec.file} missing", FAIL)]
    expected = json.loads(golden.read_text(encoding="utf-8"))
    return compare_json(expected, output, spec.tolerances, spec.default_tolerance)


def golden_bytes(spec: BaselineSpec, output: Any) -> bytes:
    """What `vigil baselines update` stores for `output`."""
    if spec.kind == "image":
        return Path(output).read_bytes()
    return (json.dumps(output, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256_of(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def results_frame(results: dict[str, tuple[str, list[FieldResult]]], checked_at: datetime) -> "pd.DataFrame":
    import pandas as pd

    rows = [
        {
            "baseline": name,
            "kind": kind,
            "field": r.field,
            "expected": r.expected,
            "actual": r.actual,
            "abs_diff": r.abs_diff,
            "rel_diff": r.rel_diff,
            "tolerance": r.tolerance,
            "status": r.status,
            "checked_at": checked_at.replace(tzinfo=None),
        }
        for name, (kind, field_results) in results.items()
        for r in field_results
    ]
    return pd.DataFrame(rows, columns=BASELINE_DRIFT.column_names)


def build_baseline_drift(directory: Path | None = None) -> dg.AssetsDefinition:
    """marts.baseline_drift, depending on the tables the manifest's SQL sources read."""
    deps = source_tables(load_manifest(directory or baselines_dir()))

    @dg.asset(
        key=BASELINE_DRIFT_KEY,
        deps=deps,
        description=BASELINE_DRIFT.comment,
        group_name="marts",
        kinds={"python", "duckdb"},
        owners=["team:quality"],
        metadata={"dagster/column_schema": column_schema(BASELINE_DRIFT)},
    )
    def baseline_drift(warehouse: WarehouseResource, baselines: BaselinesResource) -> dg.MaterializeResult:
        """Every golden baseline compared with the current output (see observability_assets.derived.baselines)."""
        wh, folder = warehouse.get(), Path(baselines.directory)
        results = {
            spec.name: (
                spec.kind,
                compare(spec, folder, current_output(spec, wh, Path(baselines.candidates_dir))),
            )
            for spec in load_manifest(folder)
            if spec.applies()
        }
        frame = results_frame(results, datetime.now(UTC))
        rows = replace_mart(wh, BASELINE_DRIFT, frame)
        counts = frame["status"].value_counts().to_dict() if rows else {}
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "baselines": len(results),
                "status": dg.MetadataValue.json({k: int(v) for k, v in counts.items()}),
            }
        )

    return baseline_drift


@dg.asset_check(
    asset=BASELINE_DRIFT_KEY,
    blocking=True,
    description="No golden baseline drifted beyond its tolerance (small drift is reported, not failed).",
)
def baselines_hold(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().read("check baseline_drift") as con:
        rows = con.execute(
            "SELECT baseline, field, expected, actual, tolerance, status FROM marts.baseline_drift "
            "WHERE status <> 'ok' ORDER BY status DESC, baseline, field"
        ).fetchall()
    failures = [r for r in rows if r[5] == FAIL]
    drifts = [r for r in rows if r[5] == DRIFT]

    def listing(items: list[tuple]) -> str:
        lines = [f"- {b} {f or '(whole)'}: {e} -> {a} ({t})" for b, f, e, a, t, _ in items[:20]]
        return "\n".join(lines + ([f"- ... and {len(items) - 20} more"] if len(items) > 20 else [])) or "none"

    return dg.AssetCheckResult(
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "failures": len(failures),
            "drifts": len(drifts),
            "failed_fields": dg.MetadataValue.md(listing(failures)),
            "drifted_fields": dg.MetadataValue.md(listing(drifts)),
        },
    )
