"""A failure's signature: what stays the same when the same cause fails again.

The signature of one failing execution is built from

- the root cause's headline ("Type: message"; for Java the last `Caused by:`), and
- the origin frame (where the error was raised: the innermost frame; file name and function,
  never the line number, which moves with every edit and is kept separately),

with everything that changes between occurrences masked: UUIDs, timestamps, temporary paths, hex
addresses (and so object reprs `<Foo object at 0x…>` and Java `Foo@1b6d3586`), IP addresses,
parametrised ids (`test_x[case3]`, `(String)[2]`), and finally every digit run (counts, durations,
ports, line numbers inside messages).

One refinement keeps unrelated failures apart: an *assertion* raised in a test file's own code is
that test's own failure (two tests that both fail `assert <n> == <n>` share nothing), so such a
signature also carries the test's identity. An error raised below the test — in product code, a
library or the runtime — is shared by every test that reaches it, across tests and repositories.

Why not a log-template miner such as drain3: it learns templates online, so the template a message
gets depends on the order messages arrive in (re-running a day could regroup it), it needs a pass of
Python per message (the day's 100,000 failures would cost seconds), its masking is the same regex
list as here, and drain3 0.9.11 pins cachetools 4.2.1 and jsonpickle 1.5.1 (2021). Fixed masks are
deterministic and run inside DuckDB (`MASKS` are RE2- and Python-compatible), so only the distinct
masked texts reach Python.

Pure: `re` and `hashlib` only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from observability_assets.core.stack_traces import ParsedTrace, parse_stack_trace, probable_frame

# (what, pattern, replacement), applied in order. Patterns use only syntax RE2 (DuckDB's
# regexp_replace) and Python's `re` read the same way: no look-around, no back-references,
# ASCII classes spelt out.
MASKS: tuple[tuple[str, str, str], ...] = (
    # Ingestion's redaction placeholders carry a keyed hash of the secret: the kind stays.
    ("redacted", r"\[REDACTED:([a-z0-9_]+):[0-9a-f]+\]", "[REDACTED:\\1]"),
    ("uuid", r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>"),
    (
        "timestamp",
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:[.,][0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?",
        "<ts>",
    ),
    ("date", r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "<date>"),
    ("time", r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?", "<time>"),
    (
        "temp_path",
        r"(?:/private)?(?:/tmp|/var/tmp|/var/folders|/dev/shm|/run/user)\b(?:/[^\s'\",:;()\]]+)*"
        r"|[A-Za-z]:\\(?:[^\\\s'\",]+\\)*(?:Temp|tmp)\b(?:\\[^\s'\",:;()\]]+)*"
        r"|pytest-of-[A-Za-z0-9_.-]+(?:/[^\s'\",:;()\]]+)*",
        "<tmp>",
    ),
    ("java_identity", r"@[0-9a-f]{5,}\b", "@<hex>"),
    ("hex", r"0[xX][0-9a-fA-F]+|\b[0-9a-f]*(?:[0-9][0-9a-f]*[a-f]|[a-f][0-9a-f]*[0-9])[0-9a-f]*\b", "<hex>"),
    ("ip", r"\b[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b|\[[0-9a-fA-F:]*::[0-9a-fA-F:]*\]", "<ip>"),
    ("param_id", r"([A-Za-z0-9_)])\[[^\]\n]{1,200}\]", "\\1[<param>]"),
    ("number", r"[0-9]+", "<n>"),
    ("space", r"\s+", " "),
)
_COMPILED = tuple((re.compile(pattern), replacement) for _, pattern, replacement in MASKS)
# A mask can only match when its text contains one of these (skipping it saves a regex pass).
_NEEDS: dict[str, tuple[str, ...]] = {
    "redacted": ("[REDACTED:",),
    "uuid": ("-",),
    "timestamp": ("-",),
    "date": ("-",),
    "time": (":",),
    "temp_path": ("tmp", "Temp", "folders", "shm", "/run/", "pytest-of"),
    "java_identity": ("@",),
    "ip": (".", "::"),
    "param_id": ("[",),
}
_GATED = tuple(
    (compiled, replacement, _NEEDS.get(name, ()))
    for (name, _, _), (compiled, replacement) in zip(MASKS, _COMPILED, strict=True)
)

HEADLINE_CHARS = 300  # a headline longer than this is cut: what follows is detail (diffs, dumps)

_ASSERTION = re.compile(
    r"(?i)assert|expect\(|\bexpected\b|\bto(?:equal|be|match|contain|have)|\bwant\b|but was|\bgot\b"
)
_TEST_FILE = re.compile(
    r"(?:^|/)(?:test_[^/]*\.py|[^/]*_test\.(?:py|go)|[^/]*\.(?:test|spec)\.[jt]sx?|[^/]*Tests?\.(?:java|kt|cs)|"
    r"[^/]*_spec\.rb|[^/]*IT\.java)$"
)


def normalise(text: str) -> str:
    """`text` with everything that varies between occurrences masked (see MASKS)."""
    for pattern, replacement, needs in _GATED:
        if not needs or any(n in text for n in needs):
            text = pattern.sub(replacement, text)
    return text.strip()


def sql_normalise(column: str) -> tuple[str, list[str]]:
    """A DuckDB expression applying MASKS to `column`, and its parameters (patterns as `?`)."""
    expression, parameters = column, []
    for _, pattern, replacement in MASKS:
        expression = f"regexp_replace({expression}, ?, ?, 'g')"
        parameters += [pattern, replacement]
    return f"trim({expression})", parameters


@dataclass(frozen=True)
class FailureSignature:
    origin: str  # file:function of the innermost frame (unmasked), "" without frames
    base: str  # masked headline @ origin frame; the same for every occurrence of the cause
    base_digest: str  # 16 hex characters of sha1(base)
    per_test: bool  # an assertion in the test's own code: the cluster is the test's own
    headline: str  # unmasked root-cause headline (an example)
    dialect: str | None
    frame_file: str | None  # probable file: deepest frame inside the repository
    frame_function: str | None
    frame_line: int | None  # kept apart from the signature
    frame_source: str  # "stack", "test_file" or "none"
    frame_reason: str  # why no in-repo frame was found ("" when found)


def describe_failure(
    message: str | None,
    stack_trace: str | None,
    *,
    test_classname: str | None = None,
    test_file: str | None = None,
) -> FailureSignature:
    """The signature and probable frame of one failing execution."""
    trace = parse_stack_trace(stack_trace or message, message=message, test_classname=test_classname)
    base = signature_text(trace, message)
    probable = probable_frame(trace, test_file=test_file)
    frame = probable.frame
    origin = trace.frames[0] if trace.frames else None
    per_test = (
        bool(
            origin is not None
            and origin.in_repo
            and _TEST_FILE.search(origin.file)
            and _ASSERTION.search(trace.headline or message or "")
        )
        or not trace.frames
    )  # no frames at all: nothing says the failure is shared
    return FailureSignature(
        origin=f"{origin.file}:{origin.function or ''}" if origin else "",
        base=base,
        base_digest=digest(base),
        per_test=per_test,
        headline=(trace.headline or (message or "").strip())[:HEADLINE_CHARS],
        dialect=trace.dialect,
        frame_file=frame.file if frame else None,
        frame_function=frame.function if frame else None,
        frame_line=frame.line if frame else None,
        frame_source=probable.source,
        frame_reason=probable.reason,
    )


def signature_text(trace: ParsedTrace, message: str | None) -> str:
    headline = (trace.headline or message or "")[:HEADLINE_CHARS]
    if not trace.frames:
        return normalise(headline)
    origin = trace.frames[0]
    return normalise(f"{headline} @ {origin.file.rsplit('/', 1)[-1]}:{origin.function or ''}")


# -- a test's own identity in a failure text ---------------------------------------------------------

_TEST_FUNCTION_PREFIXES = ("test", "Test", "should")
MIN_IDENTITY_CHARS = 4
MIN_NAME_CHARS = 6

# The kinds of token that name a test, in the fixed order they are blanked and filled in (a class
# name before its short name, a file before the function in it). SQL per kind: its value for a row
# of raw.test_results (classname, file, suite, test_name columns), '' when it does not apply.
_SHORT = "string_split(classname, '.')[-1]"
_FUNCTION = "split_part(split_part(split_part(test_name, '[', 1), '(', 1), '/', 1)"
IDENTITY_KINDS: tuple[tuple[str, str], ...] = (
    ("class_path", f"CASE WHEN contains(classname, '.') AND length(classname) >= {MIN_IDENTITY_CHARS} "
                   "THEN replace(classname, '.', '/') ELSE '' END"),
    ("classname", f"CASE WHEN length(classname) >= {MIN_IDENTITY_CHARS} THEN classname ELSE '' END"),
    ("file", f"CASE WHEN length(file) >= {MIN_IDENTITY_CHARS} THEN file ELSE '' END"),
    ("suite", f"CASE WHEN length(suite) >= {MIN_IDENTITY_CHARS} THEN suite ELSE '' END"),
    ("short", f"CASE WHEN contains(classname, '.') AND length({_SHORT}) >= {MIN_NAME_CHARS} THEN {_SHORT} ELSE '' END"),
    ("function", f"CASE WHEN ({_FUNCTION} LIKE 'test%' OR {_FUNCTION} LIKE 'Test%' OR {_FUNCTION} LIKE 'should%') "
                 f"AND length({_FUNCTION}) >= {MIN_NAME_CHARS} THEN {_FUNCTION} ELSE '' END"),
)  # fmt: skip
_NEVER = "chr(1) || chr(2) || chr(3)"  # a string no failure text contains


def identity_tokens(
    classname: str | None, test_name: str | None, file: str | None, suite: str | None
) -> list[tuple[str, str]]:
    """(kind, token) naming the test itself in its failure text, in IDENTITY_KINDS order.

    Blanking them (`identity_blank_sql`) lets the failures of many tests that differ only in the
    calling test share one shape. When a shape's signature or probable frame names its example's
    test (`templated`), each member gets its own test filled back in (`identity_fill_sql`), and the
    signature is per test.
    """
    values: dict[str, str] = {}
    if classname and len(classname) >= MIN_IDENTITY_CHARS:
        if "." in classname:
            values["class_path"] = classname.replace(".", "/")
            short = classname.rsplit(".", 1)[1]
            if len(short) >= MIN_NAME_CHARS:
                values["short"] = short
        values["classname"] = classname
    for kind, value in (("file", file), ("suite", suite)):
        if value and len(value) >= MIN_IDENTITY_CHARS:
            values[kind] = value
    if test_name:
        function = test_name.split("[", 1)[0].split("(", 1)[0].split("/", 1)[0]
        if function.startswith(_TEST_FUNCTION_PREFIXES) and len(function) >= MIN_NAME_CHARS:
            values["function"] = function
    return [(kind, values[kind]) for kind, _ in IDENTITY_KINDS if kind in values]


def _placeholder(kind: str) -> str:
    return f"\x01{kind}\x01"


def templated(value: str | None, tokens: list[tuple[str, str]]) -> tuple[str | None, bool]:
    """`value` with the test's tokens replaced by placeholders, and whether any was there."""
    if not value:
        return value, False
    out = value
    for kind, token in tokens:
        out = out.replace(token, _placeholder(kind))
    return out, out != value


def identity_columns_sql() -> str:
    """DuckDB select-list items `id_<kind>`: each row's identity tokens ('' when a kind does not apply).

    Computed once per row in a subquery, so blanking and filling in are plain `replace` calls.
    """
    return ", ".join(f"coalesce({value}, '') AS id_{kind}" for kind, value in IDENTITY_KINDS)


def identity_blank_sql(text: str) -> str:
    """DuckDB expression: `text` with the row's identity tokens (`id_<kind>` columns) replaced by '#'."""
    expression = text
    for kind, _ in IDENTITY_KINDS:
        expression = f"replace({expression}, CASE WHEN id_{kind} = '' THEN {_NEVER} ELSE id_{kind} END, '#')"
    return expression


def identity_fill_sql(template: str) -> str:
    """DuckDB expression: a `templated` value with the row's own tokens (`id_<kind>` columns) filled in."""
    expression = template
    for kind, _ in IDENTITY_KINDS:
        expression = f"replace({expression}, chr(1) || '{kind}' || chr(1), id_{kind})"
    return expression


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def cluster_signature(base_digest: str, per_test: bool, test_id: str) -> str:
    """The cluster a failure belongs to: its base signature, made the test's own for assertions.

    MD5 because DuckDB computes the same (`CLUSTER_SIGNATURE_SQL`) over a whole day in one query.
    """
    if not per_test:
        return base_digest
    return hashlib.md5(f"{base_digest}|{test_id}".encode(), usedforsecurity=False).hexdigest()[:16]


CLUSTER_SIGNATURE_SQL = (
    "CASE WHEN per_test THEN md5(base_digest || '|' || test_id)[1:16] ELSE base_digest END"
)

# One pass that blanks what varies, only to find the failures that read the same: members of one
# shape share a signature (it is computed once per shape, from one example). Coarser than MASKS
# would be wrong (different signatures in one shape); finer only costs a few more examples.
SHAPE_PATTERN = (
    r"0[xX][0-9a-fA-F]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|@[0-9a-f]{5,}\b|/tmp/[^\s'\",:;()]*|pytest-of-[^\s'\",:;()]*|[0-9]+"
)
