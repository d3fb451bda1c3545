"""Redaction of secrets and personal data from free text, before anything is written.

Test failure messages, stack traces, probe and shadow errors routinely carry credentials (a token
in a URL, a connection string, an ``Authorization`` header an HTTP client printed) and personal
data (e-mail and IP addresses). Every free-text column passes through a `Redactor` at ingest; the
secret is replaced by a typed, stable placeholder::

    [REDACTED:github_token:3f2a]

The four hex digits are a keyed hash (HMAC-SHA256 with a per-deployment key) of the secret:
equal secrets give equal placeholders, so failures still cluster by message, while nobody without
the key can confirm a guess, let alone reverse it. No secret text is ever kept: callers get the
redacted text and counts per kind only.

Speed (bench/bench_junit.py measures redaction on/off in one run). Almost every text holds no
secret, so each rule carries a cheap *hint*: one combined regular expression of literal cues
(``ghp_``, ``AKIA``, ``@``, ``password``...). A text that matches no hint is returned untouched
after a single scan; only hinted texts run the full rules. Over Arrow columns only the unique
values are scanned, and the hint scan runs in C (RE2 via ``pyarrow.compute``) before any Python.

Why not detect-secrets (Yelp)? Its plugins are the reference for what to look for, and the rule
shapes below follow its GitHub, AWS, Slack, JWT, private-key and keyword plugins. But it is built
to audit repositories line by line: about 1,500 lines a second here (0.1 MB/s, with its default
plugins), four orders of magnitude short of a million-row JUnit day, and it reports findings
rather than spans to replace. Its last release is 1.5.0 (May 2024). The rules are plain data, so
`config/redaction.yaml` adds patterns and an allow-list without code.

Pure: no Dagster, no DuckDB, no I/O (the key and the YAML are read by the caller). A `Redactor`
pickles, so JUnit parsing redacts inside its worker processes and no unredacted row ever reaches
even a temporary spill file.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

PLACEHOLDER_PREFIX = "[REDACTED:"
# A placeholder is never itself a finding: rules skip text inside one (see `_inside_placeholder`).
_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z0-9_]+:[0-9a-f]{4}\]")
HASH_HEX_DIGITS = 4

# Kinds of finding, as they appear in placeholders, asset metadata and ops.redactions.
GITHUB_TOKEN = "github_token"
AWS_ACCESS_KEY = "aws_access_key"
AWS_SECRET_KEY = "aws_secret_key"
GOOGLE_API_KEY = "google_api_key"
SLACK_TOKEN = "slack_token"
SLACK_WEBHOOK = "slack_webhook"
JWT = "jwt"
PRIVATE_KEY = "private_key"
URL_CREDENTIALS = "url_credentials"
PASSWORD = "password"
AUTHORIZATION = "authorization"
COOKIE = "cookie"
EMAIL = "email"
IPV4 = "ipv4"
IPV6 = "ipv6"
HIGH_ENTROPY = "high_entropy_secret"


@dataclass(frozen=True)
class Rule:
    """One detector: `pattern` finds candidates; the `group` it names is what gets replaced
    (the whole match when 0), so ``password=`` stays readable and only the value goes.
    `hint` is a regular expression every match must contain (RE2-compatible, no look-arounds):
    texts without it skip the rule. `accept` may veto a candidate (entropy, address checks)."""

    kind: str
    pattern: re.Pattern[str]
    hint: str
    group: int = 0
    accept: Callable[[str], bool] | None = None


def shannon_entropy(text: str) -> float:
    """Bits per character of `text` (the detect-secrets measure of randomness)."""
    if not text:
        return 0.0
    counts = Counter(text)
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def _high_entropy(value: str) -> bool:
    """A value assigned to a secret-sounding name that looks random, not a word or a number.

    Hex (a commit sha, a digest) is left alone unless long *and* assigned to such a name, since
    hashes fill ordinary traces; 3.0 and 4.0 bits are detect-secrets' defaults for hex and base64
    less a margin for short values."""
    value = value.strip("'\"")
    if len(value) < 12 or _PLACEHOLDER.fullmatch(value):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", value):
        return len(value) >= 32 and shannon_entropy(value) >= 3.0
    if value.isalpha() and (value.islower() or value.isupper()):
        return False  # a word: token=expired, secret=NOTSET
    return shannon_entropy(value) >= 3.3


def _not_a_placeholder(value: str) -> bool:
    """False for a header value that an earlier, more specific rule already replaced
    ("Bearer [REDACTED:jwt:1a2b]"): one secret, one finding."""
    return _PLACEHOLDER.fullmatch(value.split()[-1] if value.split() else value) is None


def _public_ipv4(text: str) -> bool:
    """A host address: not loopback, and not ending or starting in 0, which four-part version
    numbers do (.NET's "Version=4.0.0.0") and host addresses do not. A version like 2.4.6.1 is
    indistinguishable from an address and is redacted: the price of redacting addresses."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return False
    if text.startswith("0") or text.endswith(".0"):
        return False
    return not address.is_loopback


def _ipv6(text: str) -> bool:
    # Runs of hex and colons are common in traces (C++ "std::", timestamps): it must parse, carry
    # at least three groups and not be loopback.
    if text.count(":") < 2 or sum(1 for part in text.split(":") if part) < 3:
        return False
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


_SECRET_NAME = (
    r"(?:api[_-]?key|apikey|access[_-]?key|auth[_-]?key|client[_-]?secret|secret[_-]?key|"
    r"private[_-]?key|priv[_-]?key|secret|token|passphrase|credentials?|signing[_-]?key)"
)


def default_rules(*, redact_ip: bool = True) -> tuple[Rule, ...]:
    """The built-in detectors, most specific first: a GitHub token inside a URL's password is a
    github_token, not url_credentials."""
    ignore = re.IGNORECASE
    rules = [
        Rule(
            PRIVATE_KEY,
            # A truncated trace may cut the END line: then everything after BEGIN goes.
            re.compile(
                r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----.*?"
                r"(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
                re.DOTALL,
            ),
            r"-----BEGIN",
        ),
        Rule(
            GITHUB_TOKEN,
            re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})"),
            r"gh[pousr]_|github_pat_",
        ),
        Rule(
            AWS_ACCESS_KEY,
            re.compile(r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
            r"A3T|AKIA|ASIA|ABIA|ACCA",
        ),
        Rule(
            AWS_SECRET_KEY,
            re.compile(
                r"(?i)aws.{0,20}?(?:secret|sk|private).{0,20}?['\"]?\s*[:=]\s*['\"]?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
            ),
            r"(?i:aws)",
            group=1,
        ),
        Rule(GOOGLE_API_KEY, re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), r"AIza"),
        Rule(
            SLACK_WEBHOOK,
            re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/_-]+", ignore),
            r"(?i:hooks\.slack\.com)",
        ),
        Rule(
            SLACK_TOKEN,
            re.compile(r"\bxox[abposr]-(?:[0-9A-Za-z]+-)*[0-9A-Za-z]{6,}", ignore),
            r"(?i:xox[abposr]-)",
        ),
        Rule(JWT, re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"), r"eyJ"),
        Rule(
            AUTHORIZATION,
            re.compile(
                r"(?i)\b(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?"
                r"((?:(?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256)\s+)?[^\s'\",;}]+"
                r"(?:[ ,]+[A-Za-z]+=[^\s'\",;}]+)*)"
            ),
            r"(?i:authorization)",
            group=1,
            accept=_not_a_placeholder,
        ),
        Rule(
            AUTHORIZATION,  # a bare "Bearer <token>" without its header name
            re.compile(r"\b(?:Bearer|bearer|BEARER)\s+([A-Za-z0-9._~+/=-]{16,})"),
            r"(?i:bearer)",
            group=1,
        ),
        Rule(
            COOKIE,
            re.compile(r"(?i)\b(?:set-)?cookie['\"]?\s*[:=]\s*['\"]?([^\r\n'\"}]+)"),
            r"(?i:cookie)",
            group=1,
            accept=_not_a_placeholder,
        ),
        Rule(
            URL_CREDENTIALS,
            # user:password@ in any URL (postgres://, https://, amqp://, redis://...).
            re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://([^\s/@:'\"]+:[^\s/@'\"]*)@"),
            r"://",
            group=1,
            # A token already replaced in the password part leaves the user name (x-access-token).
            accept=lambda userinfo: not _PLACEHOLDER.fullmatch(userinfo.partition(":")[2]),
        ),
        Rule(
            PASSWORD,
            # Connection strings and key=value lines: Password=...; pwd=...; "password": "..."
            re.compile(r"(?i)\b(?:password|passwd|pwd)['\"]?\s*[:=]\s*['\"]?([^\s;'\",&)}\]]+)"),
            r"(?i:passw|pwd)",
            group=1,
            accept=lambda value: value.lower() not in _NOT_A_PASSWORD and not _PLACEHOLDER.fullmatch(value),
        ),
        Rule(
            HIGH_ENTROPY,
            re.compile(
                rf"(?i)\b[\w.-]*{_SECRET_NAME}[\w.-]*['\"]?\s*[:=]\s*['\"]?([A-Za-z0-9+/=_\-.~]{{12,}})"
            ),
            r"(?i:key|secret|token|passphrase|credential)",
            group=1,
            accept=_high_entropy,
        ),
        Rule(
            EMAIL,
            re.compile(
                r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
            ),
            r"@",
        ),
    ]
    if redact_ip:
        rules += [
            Rule(
                IPV4,
                re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w-]|\.\d)"),
                r"\d\.\d+\.\d+\.\d",
                accept=_public_ipv4,
            ),
            Rule(
                IPV6,
                re.compile(
                    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
                ),
                r"[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:|::[0-9A-Fa-f]",
                accept=_ipv6,
            ),
        ]
    return tuple(rules)


# Values after "password=" that are not a password (documentation, masked output, empty).
_NOT_A_PASSWORD = frozenset(
    {"", "none", "null", "nil", "true", "false", "required", "****", "***", "xxx", "redacted"}
)


@dataclass(frozen=True)
class RedactionSettings:
    """What `config/redaction.yaml` holds (see there)."""

    redact_ip: bool = True
    # (kind, regex) pairs: the whole match, or its first group when it has one, is replaced.
    extra_patterns: tuple[tuple[str, str], ...] = ()
    # Exact values or regexes (fullmatch) never redacted, e.g. a test fixture's fake address.
    allow: tuple[str, ...] = ()


def settings_from_mapping(data: Mapping[str, Any] | None) -> RedactionSettings:
    """Settings from the parsed YAML; unknown keys are an error, so a typo never silently
    switches redaction off."""
    data = dict(data or {})
    known = {"redact_ip", "extra_patterns", "allow"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown redaction settings: {', '.join(sorted(unknown))}")
    extras = []
    for entry in data.get("extra_patterns") or []:
        if not isinstance(entry, Mapping) or not entry.get("kind") or not entry.get("pattern"):
            raise ValueError(f"an extra pattern needs a kind and a pattern: {entry!r}")
        kind = str(entry["kind"])
        if not re.fullmatch(r"[a-z0-9_]+", kind):
            raise ValueError(f"kind {kind!r}: lower-case letters, digits and _ only")
        re.compile(str(entry["pattern"]))  # fail at load, not mid-ingest
        extras.append((kind, str(entry["pattern"])))
    return RedactionSettings(
        redact_ip=bool(data.get("redact_ip", True)),
        extra_patterns=tuple(extras),
        allow=tuple(str(value) for value in data.get("allow") or []),
    )


@dataclass
class RedactionCounts:
    """Findings per kind (never their text)."""

    by_kind: Counter[str] = field(default_factory=Counter)

    def add(self, other: Mapping[str, int]) -> None:
        self.by_kind.update(other)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.by_kind.items()))

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


class Redactor:
    """Replaces findings with keyed placeholders. Picklable (compiled patterns pickle by source),
    so worker processes get their own copy with the same key."""

    def __init__(self, key: bytes, settings: RedactionSettings = RedactionSettings()) -> None:
        if len(key) < 16:
            raise ValueError("the redaction key must be at least 16 bytes")
        self._key = key
        self.settings = settings
        rules = list(default_rules(redact_ip=settings.redact_ip))
        for kind, pattern in settings.extra_patterns:
            compiled = re.compile(pattern)
            # No hint can be derived from an arbitrary pattern: the pattern is its own hint.
            rules.insert(0, Rule(kind, compiled, pattern, group=1 if compiled.groups else 0))
        self._rules = tuple(rules)
        self._hint = re.compile("|".join(f"(?:{rule.hint})" for rule in self._rules))
        self._rule_hints = tuple(re.compile(rule.hint) for rule in self._rules)
        self._allow = tuple(re.compile(value) for value in settings.allow)
        self._allow_exact = frozenset(settings.allow) | _ALWAYS_ALLOWED

    def __repr__(self) -> str:  # never the key
        return f"Redactor(rules={len(self._rules)}, redact_ip={self.settings.redact_ip})"

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self._key, "settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["key"], state["settings"])  # type: ignore[misc]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.kind for rule in self._rules))

    @property
    def hint_pattern(self) -> str:
        """The combined cue every finding contains, for a vectorised prefilter (RE2 syntax)."""
        return self._hint.pattern

    def placeholder(self, kind: str, secret: str) -> str:
        digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"{PLACEHOLDER_PREFIX}{kind}:{digest[:HASH_HEX_DIGITS]}]"

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        """`text` with every finding replaced, and the findings per kind."""
        found: Counter[str] = Counter()
        if not text or not self._hint.search(text):
            return text, found
        for rule, hint in zip(self._rules, self._rule_hints, strict=True):
            if hint.search(text):
                text = self._apply(rule, text, found)
        return text, found

    def redact_text(self, text: str | None) -> str | None:
        """`redact` for callers that only need the text (ledger, issue bodies, error strings)."""
        return None if text is None else self.redact(text)[0]

    def _apply(self, rule: Rule, text: str, found: Counter[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            start, end = match.span(rule.group)
            if start < 0 or _inside_placeholder(text, start):
                return whole
            secret = match.group(rule.group)
            if not secret or self._allowed(secret) or (rule.accept is not None and not rule.accept(secret)):
                return whole
            found[rule.kind] += 1
            offset = match.start()
            return whole[: start - offset] + self.placeholder(rule.kind, secret) + whole[end - offset :]

        return rule.pattern.sub(replace, text)

    def _allowed(self, value: str) -> bool:
        return value in self._allow_exact or any(pattern.fullmatch(value) for pattern in self._allow)

    def redact_values(self, values: Iterable[str | None]) -> tuple[list[str | None], Counter[str]]:
        """Redact many texts; each distinct text is scanned once."""
        memo: dict[str, tuple[str, Counter[str]]] = {}
        total: Counter[str] = Counter()
        out: list[str | None] = []
        for value in values:
            if value is None:
                out.append(None)
                continue
            if value not in memo:
                memo[value] = self.redact(value)
            redacted, found = memo[value]
            total.update(found)
            out.append(redacted)
        return out, total

    def redact_arrow(
        self, column: pa.Array | pa.ChunkedArray
    ) -> tuple[pa.Array | pa.ChunkedArray, Counter[str]]:
        """Redact a string column; findings count once per row that holds them.

        Only distinct values are looked at, and of those only the ones the combined hint matches
        (RE2 in C); a column without any hint comes back as the same object, copy-free."""
        import pyarrow as pa
        import pyarrow.compute as pc

        found: Counter[str] = Counter()
        if len(column) == 0 or column.null_count == len(column):
            return column, found
        distinct = pc.unique(column)
        hinted = pc.filter(
            distinct, pc.fill_null(pc.match_substring_regex(distinct, self.hint_pattern), False)
        )
        if len(hinted) == 0:
            return column, found
        originals: list[str] = []
        replacements: list[str] = []
        per_value: list[Counter[str]] = []
        for value in hinted.to_pylist():
            redacted, kinds = self.redact(value)
            if kinds:
                originals.append(value)
                replacements.append(redacted)
                per_value.append(kinds)
        if not originals:
            return column, found
        lookup = pa.array(originals, pa.string())
        index = pc.index_in(column, value_set=lookup)
        # Rows per changed value, to count findings per row (a secret repeated in 1,000 failing
        # tests is 1,000 findings, as a per-row scan would report).
        rows = pc.value_counts(pc.drop_null(index)).to_pylist()
        for entry in rows:
            for kind, count in per_value[entry["values"]].items():
                found[kind] += count * entry["counts"]
        swapped = pc.take(pa.array(replacements, pa.string()), index)
        result = pc.if_else(pc.is_null(index), column, swapped)
        return result, found


# Loopback and documentation-only addresses that carry no personal data.
_ALWAYS_ALLOWED = frozenset({"127.0.0.1", "0.0.0.0", "::1", "localhost"})


def _inside_placeholder(text: str, position: int) -> bool:
    start = text.rfind(PLACEHOLDER_PREFIX, max(0, position - 48), position + 1)
    return start >= 0 and text.find("]", start) >= position


def redact_mapping(redactor: Redactor, value: Any) -> Any:
    """`value` with every string in it (keys included) redacted: JSON details, issue evidence."""
    if isinstance(value, str):
        return redactor.redact(value)[0]
    if isinstance(value, Mapping):
        return {redactor.redact(str(k))[0]: redact_mapping(redactor, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_mapping(redactor, v) for v in value]
    return value
