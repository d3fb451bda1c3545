"""`dbt_like_sql/` as Dagster assets: SQL models and CSV seeds, lineage inferred with sqlglot.

Models live in `dbt_like_sql/<schema>/<table>.sql` (one SELECT each, documented by a header
comment block, see `observability_assets.sql_layer.headers`); seeds in `dbt_like_sql/seeds/`.
Each becomes an asset keyed `[schema, table]`; the tables a model reads become its upstream
assets, whether models, seeds or source assets (the ingestion layer's raw tables). Loading parses
files only: no database is opened until an asset runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from observability_assets.core.contract import TABLES
from observability_assets.sql_layer.assets import build_assets
from observability_assets.sql_layer.headers import SqlLayerError
from observability_assets.sql_layer.project import SqlProject, load_project

SQL_DIR = Path(__file__).resolve().parents[2] / "dbt_like_sql"
MODELS_DIR = SQL_DIR
SEEDS_DIR = SQL_DIR / "seeds"

__all__ = [
    "MODELS_DIR",
    "SEEDS_DIR",
    "SqlLayerError",
    "build_sql_assets",
    "contract_source_keys",
    "load_sql_project",
]


def contract_source_keys() -> dict[str, dg.AssetKey]:
    """Every contract table as a source models may read, keyed like its producing asset.

    `raw.ci_runs` -> ["raw", "ci_runs"]; Python-built marts such as `marts.slo_compliance` too, so
    a SQL model can build on them and no model can take over their name.
    """
    return {t.qualified_name: dg.AssetKey([t.schema, t.name]) for t in TABLES}


def load_sql_project(
    models_dir: Path = MODELS_DIR,
    seeds_dir: Path = SEEDS_DIR,
    source_keys: Mapping[str, dg.AssetKey] | None = None,
) -> SqlProject:
    keys = contract_source_keys() if source_keys is None else source_keys
    return load_project(Path(models_dir), Path(seeds_dir), keys)


def build_sql_assets(
    models_dir: Path = MODELS_DIR,
    seeds_dir: Path = SEEDS_DIR,
    source_keys: Mapping[str, dg.AssetKey] | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Assets for every model and seed, and the asset checks their header tests declare.

    `source_keys` maps each table produced outside the model layer (`raw.ci_runs`, a Python mart)
    to its asset key; by default every contract table keyed [schema, table]. Incremental
    models are partitioned by `partitions_def` (pass the ingestion's daily partitions). Invalid
    files, unknown tables and cycles raise `SqlLayerError` naming the file.
    """
    keys = contract_source_keys() if source_keys is None else dict(source_keys)
    project = load_project(Path(models_dir), Path(seeds_dir), keys)
    return build_assets(project, keys, partitions_def)
