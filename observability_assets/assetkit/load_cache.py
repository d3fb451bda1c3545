"""What sqlglot finds in the SQL the definitions load with, computed ahead and shipped with the code.

Loading the definitions needs, for each SQL model and golden-baseline query, what sqlglot finds
in it (the tables it reads, its output columns, its parameters). Importing sqlglot and parsing
costs more than the rest of a load outside Dagster itself, and Dagster loads the code location in
every run worker and step process. So the findings live in `dbt_like_sql/parse_cache.json`,
keyed by SHA-256 of (what was asked, the sqlglot version, the text) and regenerated with the
warehouse reference (`python -m observability_assets.cli.analyst`). An edited or new file misses
the cache and is parsed at load, as before; loading never writes the cache (no side effects).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

CACHE_PATH = Path(__file__).resolve().parents[2] / "dbt_like_sql" / "parse_cache.json"


@cache
def _parser_version() -> str:
    return version("sqlglot")


def cache_key(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\0{_parser_version()}\0{text}".encode()).hexdigest()


@cache
def _entries() -> dict[str, Any]:
    try:
        return json.loads(CACHE_PATH.read_text())
    except (OSError, ValueError):
        return {}


def cached_parse(kind: str, text: str, compute: Callable[[str], Any]) -> Any:
    """`compute(text)` (JSON-able), from the shipped cache when this exact text is in it.

    Errors `compute` raises are never cached: an invalid file fails every load, as it should."""
    found = _entries().get(cache_key(kind, text))
    return found if found is not None else compute(text)


def write_cache(items: Iterable[tuple[str, str, Callable[[str], Any]]], path: Path = CACHE_PATH) -> Path:
    """Compute and write the findings for every (kind, text, compute); entries not named are dropped."""
    entries = {cache_key(kind, text): compute(text) for kind, text, compute in items}
    path.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    _entries.cache_clear()
    return path
