"""The deployment's redactor: rules from `config/redaction.yaml`, key from the environment.

`VIGIL_REDACTION_CONFIG` names the rules file (default: the shipped config/redaction.yaml).
`VIGIL_REDACTION_KEY` holds the HMAC key of the placeholders; without it a random key is created
once in the data directory (`redaction.key`, mode 0600) and reused, so placeholders stay stable
across runs and processes of one deployment and differ between deployments. Neither the key nor
any secret is ever logged.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import yaml

from observability_assets.core.redaction import Redactor, settings_from_mapping
from resources.paths import data_path

CONFIG_ENV = "VIGIL_REDACTION_CONFIG"
KEY_ENV = "VIGIL_REDACTION_KEY"
DEFAULT_CONFIG_PATH = str(Path(__file__).resolve().parents[1] / "config" / "redaction.yaml")

_lock = threading.Lock()
_cache: dict[tuple[str, str, bytes], Redactor] = {}
# Key files already read, by path: `scrub` runs for every ledger field and issue body.
_keys: dict[str, bytes] = {}


def redaction_key(key_file: str | None = None) -> bytes:
    """The HMAC key: `VIGIL_REDACTION_KEY`, else the data directory's key file (created once)."""
    configured = os.environ.get(KEY_ENV)
    if configured:
        return configured.encode("utf-8")
    path = Path(key_file or data_path("redaction.key"))
    known = _keys.get(str(path))
    if known is not None:
        return known
    try:
        _keys[str(path)] = path.read_bytes()
        return _keys[str(path)]
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_hex(32).encode("ascii")
    try:  # O_EXCL: of two processes creating it at once, one wins and both use its key
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(fresh)
    return fresh


def load_redactor(config_path: str | None = None) -> Redactor:
    """The redactor for this process (cached per rules file, key and its file)."""
    path = config_path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH
    key = redaction_key()
    cache_key = (path, data_path(), key)
    with _lock:
        if cache_key not in _cache:
            with open(path, encoding="utf-8") as handle:
                settings = settings_from_mapping(yaml.safe_load(handle))
            _cache[cache_key] = Redactor(key, settings)
        return _cache[cache_key]


def scrub(text: str) -> str:
    """Text for an issue, a comment or a ledger row: registered secrets (tokens, webhook secrets)
    and GitHub-token shapes masked as before (`resources.github.redact`), then every other
    finding replaced by its placeholder. Text that came from the warehouse is redacted already;
    this catches what was built from anything else (exceptions, URLs, live responses)."""
    from resources.github import redact

    return load_redactor().redact(redact(text))[0]
