"""Streaming, hardened JUnit XML parsing into columns (one row per test execution).

Why it looks the way it does:

* **Speed.** An lxml parser *target* receives start/end/data callbacks straight from libxml2's
  push parser: no element tree is built, so nothing has to be cleared. A passing test case costs
  two tiny callbacks and one tuple; rows are turned into Arrow struct chunks in C every
  `ParseLimits.batch_rows` rows, and everything else (durations, attempts) is computed vectorised
  once per batch of reports. The test id is hashed by DuckDB in the load query (`TEST_ID_SQL`).
  Python callbacks hold the GIL, so `parse_many` spreads big batches of report files over worker
  processes (`core.process_pool`), one per further CPU core. bench/bench_junit.py measures it
  against a bare ``iterparse(tag="testcase")`` pass and against junitparser.
* **Safety.** External entities, DTD loading and network access are off, and any DOCTYPE is
  rejected outright (JUnit never needs one; it is the door for XXE and entity bombs). libxml2's
  own limits stay on (about 10 MB per attribute, text node or name); identities over
  `ParseLimits.max_name_chars` and absurdly nested suites are rejected too. A report that cannot
  be used raises `RejectedInput` with a reason; `parse_many` turns that into a `Rejection` and
  goes on with the next report.
* **Bounded memory.** Input is fed in chunks; text is kept only inside outcome elements and only
  up to the caps, as it streams. libxml2 buffers a CDATA section whole (about three times its
  size) and refuses one over 10 MB, while Surefire writes system-out as CDATA, so a chatty test
  would sink its whole report: `_LongCdataCutter` passes each CDATA section through untouched up
  to a prefix longer than any cap and drops the rest of that section before libxml2 sees it
  (ASCII-compatible encodings; the dropped part is text no column keeps).

Dialect semantics (tests/unit/test_junit_parser.py pins them down):

* Outcome of a test case: a ``status`` of disabled/skipped/notrun/ignored, or a googletest
  ``result`` of skipped/suppressed, means skipped (even with a failure child: it did not run).
  Otherwise an ``<error>`` child means error, else ``<failure>`` failed, else ``<skipped>``
  skipped, else passed. Several children of the winning kind (one execution, several failed
  assertions) give one row with the first one's message.
* Surefire/Failsafe reruns: ``<flakyFailure>``/``<flakyError>`` children are earlier failed
  attempts of a test whose final (passing) attempt is the test case itself; ``<rerunFailure>``/
  ``<rerunError>`` are later failed attempts after the test case's own failure.
* A test case repeated in one report (same identity, see `test_id`) is a rerun: ``attempt``
  counts up 0, 1, 2 in document order, continuing across flaky/rerun children.
* ``suite`` is the innermost enclosing ``<testsuite name>``; ``file`` falls back to the enclosing
  ``<testsuite file>`` (mocha, PHPUnit); empty strings become NULL.
* A test case without a ``name`` (or with an empty one) has no identity: it is not loaded, and
  `parse_many` records one `Rejection` per report saying how many were skipped (the rest of the
  report loads), as EnricoMi/publish-unit-test-result-action counts them unusable.
* Text is what an XML 1.0 parser yields: the predefined entities and character references are
  decoded (``name="a &amp; b"`` is ``a & b``), and the test id is hashed from that decoded text.
* Durations: decimal or scientific notation; a decimal comma ("1,5") and thousands separators
  ("1,003.5", old Surefire) are understood; negative, non-numeric, non-finite or implausible
  (over `ParseLimits.max_duration_s`) values become NULL.
* Message: the ``message`` attribute, else the first line of the element's text (jest, Swift);
  stack trace: the text of a failure/error (or Surefire's nested ``<stackTrace>``). Both are
  truncated to their caps with a visible mark. system-out/system-err and properties are skipped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from observability_assets.core.errors import RejectedInput, Rejection
from observability_assets.core.process_pool import (
    PARALLEL_MIN_BYTES,
    SHARES_PER_WORKER,
    contiguous_shares,
    file_size,
    map_tables,
    usable_cores,
)
from observability_assets.core.redaction import Redactor


class Openable(Protocol):
    """Anything that opens to a binary stream, e.g. `archives.ArchiveMember`. Opening happens
    inside the parse, so a `RejectedInput` raised by `open` rejects just that report."""

    def open(self) -> BinaryIO: ...


# A str is a file path, never XML text (pass bytes for that).
Source = str | Path | bytes | bytearray | memoryview | BinaryIO | Openable

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
OUTCOMES: tuple[str, ...] = (PASSED, FAILED, ERROR, SKIPPED)

ARROW_SCHEMA = pa.schema(
    [
        ("suite", pa.string()),
        ("classname", pa.string()),
        ("test_name", pa.string()),
        ("file", pa.string()),
        ("outcome", pa.string()),
        ("duration_s", pa.float64()),
        ("attempt", pa.int32()),
        ("message", pa.string()),
        ("stack_trace", pa.string()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(ARROW_SCHEMA.names)
# Free text a test writes: where secrets and personal data turn up (identities are code names).
REDACTED_COLUMNS: tuple[str, ...] = ("message", "stack_trace")

# Unit separator: cannot appear in sensible names, so ("a b", "c") and ("a", "b c") never collide.
_ID_SEPARATOR = "\x1f"

# DuckDB expression equal to `test_id` over columns repo, classname, file, suite and test_name, so
# the loader hashes a million ids in C instead of Python. md5, chr, concat_ws, nullif and coalesce
# are spelled the same in Postgres, Spark and Trino.
TEST_ID_SQL = (
    "md5(concat_ws(chr(31), coalesce(repo, ''), "
    "coalesce(nullif(classname, ''), nullif(file, ''), nullif(suite, ''), ''), "
    "coalesce(test_name, '')))"
)

_TRUNCATION_MARK = " …[truncated]"


def test_id(
    repo: str, classname: str | None, file: str | None, test_name: str, suite: str | None = None
) -> str:
    """Stable identity of a test: hex md5 of repo, scope and test name joined by \\x1f.

    The scope is the classname, else the file, else the suite name: jest and nested xunit reports
    leave classname empty, and without the suite every "renders" test of a repo would be one test.
    Never timestamps, host names or report file names, so the id is the same in every run.
    """
    scope = classname or file or suite or ""
    joined = _ID_SEPARATOR.join((repo or "", scope, test_name or ""))
    return hashlib.md5(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class ParseLimits:
    """Caps that keep one report from costing unbounded memory or storage."""

    max_message_chars: int = 4 * 1024
    max_stack_chars: int = 16 * 1024
    # name, classname, file and suite are identities, never truncated: over-long ones reject.
    max_name_chars: int = 64 * 1024
    # PHPUnit, the deepest nester, uses about five levels of <testsuite>.
    max_suite_depth: int = 100
    # Longer than any CI job may run (GitHub stops self-hosted jobs after 5 days): a unit bug.
    max_duration_s: float = 7 * 24 * 3600.0
    chunk_bytes: int = 1 << 20
    # Python row tuples held before they are packed into an Arrow chunk.
    batch_rows: int = 1 << 16


@dataclass(frozen=True)
class ParsedReport:
    """Test executions of one report; `table` has the columns of `ARROW_SCHEMA`.

    `nameless` counts the test cases skipped for want of a name (they have no rows)."""

    table: pa.Table
    nameless: int = 0

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def outcome_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for entry in pc.value_counts(self.table.column("outcome")).to_pylist():
            counts[entry["values"]] = entry["counts"]
        return counts


@dataclass(frozen=True)
class ParsedBatch:
    """Executions of many reports in one table (`ARROW_SCHEMA` plus ``report_path``), and the
    rejections: reports that were rejected whole (they contribute no rows) and reports whose
    nameless test cases were skipped (their other rows are in the table)."""

    table: pa.Table
    rejections: tuple[Rejection, ...] = field(default_factory=tuple)
    # Findings replaced in message and stack_trace, per kind (see `core.redaction`).
    redactions: dict[str, int] = field(default_factory=dict)


def parse_report(source: Source, *, limits: ParseLimits = ParseLimits()) -> ParsedReport:
    """Parse one JUnit/xUnit report given as a file path, bytes or a binary stream.

    Raises `RejectedInput` for anything that is not a well-formed, DOCTYPE-free JUnit document.
    A well-formed report without test cases is valid and gives an empty table.
    """
    rows = _parse_rows(source, limits)
    rows.flush()
    return ParsedReport(_finish_table(rows.chunks, [rows.num_rows], limits), rows.nameless)


def parse_many(
    reports: Iterable[tuple[str, Source]],
    *,
    limits: ParseLimits = ParseLimits(),
    workers: int | None = None,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
    redactor: Redactor | None = None,
) -> ParsedBatch:
    """Parse (report_path, source) pairs into one table; attempts count per report.

    With a `redactor`, secrets and personal data in message and stack_trace are replaced where the
    rows are made (in the worker processes too), before any table leaves the parse.

    Reports given as file paths are spread over `workers` processes (default: one per usable CPU
    core) when they add up to `parallel_min_bytes` or more; this process parses its part too.
    The table and the rejections are the same, in the same order, as a serial parse gives.
    """
    pairs = list(reports)
    workers = usable_cores() if workers is None else workers
    groups = _parallel_groups(pairs, workers, parallel_min_bytes)
    if groups is None:
        return _parse_serial(pairs, limits, redactor)
    # pandas too: pyarrow imports it on its first conversion of Python objects (~0.8 s).
    parsed = map_tables(
        partial(_parse_group, limits=limits, redactor=redactor),
        groups,
        workers=workers,
        preload=[__name__, "pandas"],
    )
    redactions: dict[str, int] = {}
    for _, (_, found) in parsed:
        for kind, count in found.items():
            redactions[kind] = redactions.get(kind, 0) + count
    return ParsedBatch(
        pa.concat_tables([table for table, _ in parsed]),
        tuple(rejection for _, (rejections, _) in parsed for rejection in rejections),
        dict(sorted(redactions.items())),
    )


def redact_table(table: pa.Table, redactor: Redactor | None) -> tuple[pa.Table, dict[str, int]]:
    """`table` with its free-text columns (message, stack_trace) redacted, and findings per kind."""
    if redactor is None or table.num_rows == 0:
        return table, {}
    found: dict[str, int] = {}
    for name in REDACTED_COLUMNS:
        index = table.schema.get_field_index(name)
        redacted, counts = redactor.redact_arrow(table.column(index))
        if counts:
            table = table.set_column(index, table.schema.field(index), redacted)
            for kind, count in counts.items():
                found[kind] = found.get(kind, 0) + count
    return table, dict(sorted(found.items()))


def _parse_serial(
    pairs: Iterable[tuple[str, Source]], limits: ParseLimits, redactor: Redactor | None = None
) -> ParsedBatch:
    collected = _Rows(limits.batch_rows)
    paths: list[str] = []
    counts: list[int] = []
    rejections: list[Rejection] = []
    for path, source in pairs:
        try:
            rows = _parse_rows(source, limits)
        except RejectedInput as rejected:
            rejections.append(Rejection(path, rejected.reason))
            continue
        if rows.nameless:
            rejections.append(Rejection(path, nameless_reason(rows.nameless)))
        paths.append(path)
        counts.append(rows.num_rows)
        collected.absorb(rows)
    collected.flush()
    table = _finish_table(collected.chunks, counts, limits)
    # A report path repeats for each of its rows: a dictionary column costs one int per row.
    indices = pa.array(np.repeat(np.arange(len(paths), dtype=np.int32), counts), pa.int32())
    report_path = pa.DictionaryArray.from_arrays(indices, pa.array(paths, pa.string()))
    table, redactions = redact_table(table, redactor)
    return ParsedBatch(table.append_column("report_path", report_path), tuple(rejections), redactions)


def nameless_reason(count: int) -> str:
    """The `ops.rejected_inputs` reason for a report's test cases that have no name."""
    cases = "test case" if count == 1 else "test cases"
    return f"{count} {cases} without a name skipped (no identity to load them under)"


def _parse_group(
    pairs: list[tuple[str, str]], limits: ParseLimits, redactor: Redactor | None
) -> tuple[pa.Table, tuple[tuple[Rejection, ...], dict[str, int]]]:
    batch = _parse_serial(pairs, limits, redactor)
    return batch.table, (batch.rejections, batch.redactions)


def _parallel_groups(
    pairs: list[tuple[str, Source]], workers: int, min_bytes: int
) -> list[list[tuple[str, str]]] | None:
    """Contiguous shares of about equal bytes, `SHARES_PER_WORKER` per worker, or None when a
    serial parse is the better deal: one worker, sources that are not files (streams and archive
    members cannot be handed to another process), or too little XML to repay a worker's start."""
    if workers <= 1 or len(pairs) < 2 or not all(isinstance(s, str | Path) for _, s in pairs):
        return None
    sizes = [file_size(source) for _, source in pairs]  # type: ignore[arg-type]  # checked above
    if sum(sizes) < max(min_bytes, 1):
        return None
    files = [(path, str(source)) for path, source in pairs]
    return contiguous_shares(files, sizes, workers * SHARES_PER_WORKER)


# ---------------------------------------------------------------------------------------------
# Reading and feeding


def _parse_rows(source: Source, limits: ParseLimits) -> _Rows:
    rows = _Rows(limits.batch_rows)
    target = _ReportTarget(rows.pending, limits)
    parser = etree.XMLParser(
        target=target,
        # Not False: with entity substitution off, libxml2 hands a parser target every "&" of an
        # attribute value re-escaped as "&#38;" (left for a tree builder to decode), so
        # name="a &amp; b" arrived as "a &#38; b". "internal" substitutes only entities declared in
        # the document itself, and a DOCTYPE (the only place to declare one) is rejected by
        # `_ReportTarget.doctype`: what is left are the five predefined entities and character
        # references, decoded exactly as any XML 1.0 parser does. External entities stay unloaded.
        resolve_entities="internal",
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
    )
    cdata: _LongCdataCutter | None = None
    seen_content = False
    try:
        for chunk in _read_chunks(source, limits.chunk_bytes):
            if not seen_content:
                seen_content = bool(chunk.lstrip(b" \t\r\n\xef\xbb\xbf"))
                if seen_content:
                    _check_wide_declaration(chunk)
                    cdata = (
                        _LongCdataCutter(_cdata_keep_bytes(limits)) if _is_ascii_compatible(chunk) else None
                    )
            parser.feed(cdata.feed(chunk) if cdata is not None else chunk)
            if len(rows.pending) >= limits.batch_rows:
                rows.flush()
        if cdata is not None:
            parser.feed(cdata.flush())
    except etree.XMLSyntaxError as error:
        raise RejectedInput(_syntax_reason(error, at_end=False)) from None
    except OSError as error:  # vanished or unreadable file: that report only, not the batch
        raise RejectedInput(f"cannot read report: {error.strerror or error}") from None
    if not seen_content:
        raise RejectedInput("empty file")
    try:
        parser.close()
    except etree.XMLSyntaxError as error:
        if cdata is not None and cdata.open_section:
            # libxml2 has no registered message for some of these ("Unregistered error message").
            raise RejectedInput(f"truncated XML: ends inside a {cdata.open_section}") from None
        raise RejectedInput(_syntax_reason(error, at_end=True)) from None
    rows.nameless = target.nameless
    return rows


def _read_chunks(source: Source, chunk_bytes: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for offset in range(0, len(view), chunk_bytes):
            yield bytes(view[offset : offset + chunk_bytes])
    elif isinstance(source, str | Path):
        with open(source, "rb") as handle:
            yield from _read_stream(handle, chunk_bytes)
    elif hasattr(source, "read"):
        yield from _read_stream(source, chunk_bytes)
    else:
        with source.open() as handle:
            yield from _read_stream(handle, chunk_bytes)


def _read_stream(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    while chunk := stream.read(chunk_bytes):
        yield chunk


_ENCODING_DECLARATION = re.compile(rb"^<\?xml\b[^>]*?\bencoding\s*=\s*[\"']([A-Za-z0-9._:-]+)")
_ASCII_COMPATIBLE = re.compile(r"^(utf-?8|(us-)?ascii|latin-?1|iso[-_]?8859-\d+|(windows|cp)-?125\d)$")


def _is_ascii_compatible(head: bytes) -> bool:
    """True when byte-level CDATA cutting is safe: UTF-8 or a single-byte ASCII superset."""
    head = head.lstrip(b" \t\r\n")
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00", b"<\x00")):
        return False  # UTF-16/32: libxml2 handles CDATA itself (buffered, 10 MB cap)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if not head.startswith(b"<?xml"):
        return True  # no declaration: UTF-8 by definition
    declaration_end = head.find(b"?>")
    if declaration_end < 0:
        return False  # declaration split across chunks: leave CDATA to libxml2
    match = _ENCODING_DECLARATION.match(head[: declaration_end + 2])
    if match is None:
        return True
    return bool(_ASCII_COMPATIBLE.match(match.group(1).decode("ascii").lower()))


def _check_wide_declaration(head: bytes) -> None:
    """ASCII-compatible bytes that declare UTF-16/32: libxml2 would only say "Blank needed here"."""
    match = _ENCODING_DECLARATION.match(head.lstrip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf"))
    if match and match.group(1).lower().startswith((b"utf-16", b"utf16", b"utf-32", b"utf32", b"ucs")):
        declared = match.group(1).decode("ascii")
        raise RejectedInput(
            f"invalid or undeclared encoding: declares {declared} but the bytes are not {declared}"
        )


def _cdata_keep_bytes(limits: ParseLimits) -> int:
    """Bytes of a CDATA section worth passing on: more characters than any cap keeps (a UTF-8
    character is at most 4 bytes), so truncation is still detected and marked."""
    return 4 * (max(limits.max_stack_chars, limits.max_message_chars) + 1)


class _LongCdataCutter:
    """Streaming filter that drops the content of CDATA sections beyond their first `keep` bytes.

    Comments and processing instructions pass through untouched (a CDATA opener inside them is
    not one; a DOCTYPE is rejected later anyway). Tokens split across chunks are carried over.
    Cuts never split a UTF-8 character.
    """

    _TEXT, _CDATA, _COMMENT, _PI = range(4)
    _CLOSERS = {_COMMENT: b"-->", _PI: b"?>"}

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._state = self._TEXT
        self._carry = b""
        self._kept = 0  # content bytes of the current CDATA section passed on so far

    def feed(self, chunk: bytes) -> bytes:
        buffer = self._carry + chunk if self._carry else chunk
        self._carry = b""
        out: list[bytes] = []
        position, end = 0, len(buffer)
        # Next "<!" and "<?" at or after `position` (-2: not searched yet, -1: none left). Cached so
        # a chunk with thousands of CDATA sections is still scanned once, in C.
        bang = question = -2
        while position < end:
            if self._state == self._CDATA:
                position = self._consume_cdata(buffer, position, out)
                continue
            if self._state != self._TEXT:
                position = self._consume_markup(buffer, position, out)
                continue
            if bang != -1 and bang < position:
                bang = _find_markup(buffer, b"!", position)
            if question != -1 and question < position:
                question = _find_markup(buffer, b"?", position)
            opener = min(bang, question) if bang >= 0 and question >= 0 else max(bang, question)
            if opener < 0:
                held = 1 if buffer.endswith(b"<") else 0  # may become "<!" with the next chunk
                out.append(buffer[position : end - held])
                self._carry = buffer[end - held :]
                break
            if end - opener < 9:  # too short to tell "<![CDATA[" from "<!--" or "<!DOCTYPE"
                out.append(buffer[position:opener])
                self._carry = buffer[opener:]
                break
            if buffer.startswith(b"<![CDATA[", opener):
                out.append(buffer[position : opener + 9])
                self._state, self._kept, position = self._CDATA, 0, opener + 9
            elif buffer.startswith(b"<!--", opener):
                out.append(buffer[position : opener + 4])
                self._state, position = self._COMMENT, opener + 4
            elif opener == question:
                out.append(buffer[position : opener + 2])
                self._state, position = self._PI, opener + 2
            else:
                out.append(buffer[position : opener + 2])
                position = opener + 2
        return b"".join(out)

    def flush(self) -> bytes:
        """What is left at the end of input; libxml2 then reports any truncation itself."""
        rest, self._carry = self._carry, b""
        return rest

    @property
    def open_section(self) -> str | None:
        """The construct the input is inside of (at its end: what a truncation cut through)."""
        return {
            self._CDATA: "CDATA section",
            self._COMMENT: "comment",
            self._PI: "processing instruction",
        }.get(self._state)

    def _consume_cdata(self, buffer: bytes, position: int, out: list[bytes]) -> int:
        found = buffer.find(b"]]>", position)
        if found >= 0:
            content_end = found
        else:  # hold back two bytes (maybe "]]" of the closer) and any unfinished character
            content_end = _character_start(buffer, max(position, len(buffer) - 2), position)
        room = self._keep - self._kept
        if room > 0:
            cut = min(content_end, position + room)
            if cut < content_end:  # the section goes on: keep up to a character start, drop the rest
                cut = _character_start(buffer, cut, position)
                self._kept = self._keep
            else:
                self._kept += cut - position
            out.append(buffer[position:cut])
        if found < 0:
            self._carry = buffer[content_end:]
            return len(buffer)
        out.append(b"]]>")
        self._state = self._TEXT
        return found + 3

    def _consume_markup(self, buffer: bytes, position: int, out: list[bytes]) -> int:
        closer = self._CLOSERS[self._state]
        found = buffer.find(closer, position)
        if found < 0:
            keep = max(position, len(buffer) - (len(closer) - 1))  # a possible partial closer
            out.append(buffer[position:keep])
            self._carry = buffer[keep:]
            return len(buffer)
        out.append(buffer[position : found + len(closer)])
        self._state = self._TEXT
        return found + len(closer)


def _character_start(buffer: bytes, index: int, floor: int) -> int:
    """`index`, moved back over at most 3 UTF-8 continuation bytes (never below `floor`)."""
    for _ in range(3):
        if index <= floor or buffer[index] & 0xC0 != 0x80:
            break
        index -= 1
    return index


def _find_markup(buffer: bytes, second: bytes, position: int) -> int:
    """Index of the next "<!" or "<?" from `position`, or -1.

    Searches for the rare second byte (memchr speed) rather than "<", which starts every tag.
    """
    found = buffer.find(second, position + 1)
    while found > 0 and buffer[found - 1] != 0x3C:  # "<"
        found = buffer.find(second, found + 1)
    return found - 1 if found > 0 else -1


# ---------------------------------------------------------------------------------------------
# The parser target: libxml2 calls start/end/data; each execution becomes one row tuple.

_ROW_TYPE = pa.struct(
    [
        ("suite", pa.string()),
        ("classname", pa.string()),
        ("test_name", pa.string()),
        ("file", pa.string()),
        ("outcome", pa.string()),
        ("time", pa.string()),
        ("message", pa.string()),
        ("stack_trace", pa.string()),
    ]
)

_SKIP_STATUSES = frozenset({"disabled", "skipped", "skip", "notrun", "not run", "ignored"})
_SKIP_RESULTS = frozenset({"skipped", "suppressed"})  # googletest's result attribute

# Children of <testcase> that carry an outcome: tag -> (outcome, role).
_MAIN, _FLAKY, _RERUN = "main", "flaky", "rerun"
_RESULT_CHILDREN: dict[str, tuple[str, str]] = {
    "failure": (FAILED, _MAIN),
    "error": (ERROR, _MAIN),
    "skipped": (SKIPPED, _MAIN),
    "flakyFailure": (FAILED, _FLAKY),
    "flakyError": (ERROR, _FLAKY),
    "rerunFailure": (FAILED, _RERUN),
    "rerunError": (ERROR, _RERUN),
}
_MAIN_PRECEDENCE = {ERROR: 0, FAILED: 1, SKIPPED: 2}

_BEFORE_ROOT = object()  # `_ReportTarget._case` until the root element has been checked


class _Rows:
    """Row tuples of finished executions, packed into Arrow struct chunks every `batch_rows`."""

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows
        self.pending: list[tuple] = []  # the target appends here (same list object for life)
        self.chunks: list[pa.StructArray] = []
        self._packed_rows = 0
        self.nameless = 0  # test cases of the report skipped for want of a name

    @property
    def num_rows(self) -> int:
        return self._packed_rows + len(self.pending)

    def flush(self) -> None:
        if self.pending:
            self.chunks.append(pa.array(self.pending, _ROW_TYPE))
            self._packed_rows += len(self.pending)
            self.pending.clear()

    def absorb(self, other: _Rows) -> None:
        """Append a finished report's rows, keeping order (cheap list extend for small ones)."""
        if other.chunks:
            self.flush()
            self.chunks.extend(other.chunks)
            self._packed_rows += other._packed_rows
        self.pending.extend(other.pending)
        if len(self.pending) >= self.batch_rows:
            self.flush()


class _Result:
    """One outcome-carrying child of a test case; its text is kept up to a cap as it streams in."""

    __slots__ = ("message", "outcome", "parts", "role", "room", "time")

    def __init__(self, outcome: str, role: str, attrib: dict, room: int) -> None:
        self.outcome = outcome
        self.role = role
        self.message = attrib.get("message")
        self.time = attrib.get("time")
        self.parts: list[str] = []
        self.room = room

    def add(self, text: str) -> None:
        room = self.room
        if room > 0:
            self.parts.append(text if len(text) <= room else text[:room])
        self.room = room - len(text)

    def body(self, limit: int) -> str | None:
        text = "".join(self.parts).strip()
        if self.room < 0:
            text = _truncate(text + _TRUNCATION_MARK, limit)
        return text or None

    def message_text(self, limit: int) -> str | None:
        message = self.message
        if not message:
            # jest, Swift and friends put everything in the text: its first line is the message.
            message = "".join(self.parts).strip().partition("\n")[0].rstrip()
        return _truncate(message, limit) if message else None


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(_TRUNCATION_MARK))] + _TRUNCATION_MARK


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


class _ReportTarget:
    """lxml parser target turning one report into row tuples in the order of `_ROW_TYPE`.

    Hot path: a passing ``<testcase .../>`` costs one `start`, one `end` and one tuple. Suites,
    outcome children and namespaced tags go through `_start_other`/`_end_other`.
    """

    def __init__(self, rows: list[tuple], limits: ParseLimits) -> None:
        self._append_row = rows.append
        self._limits = limits
        self._max_name = limits.max_name_chars
        self._case: object = _BEFORE_ROOT  # attributes of the open <testcase>, else None
        self._results: list[_Result] | None = None  # outcome children of the open test case
        self._open_result: _Result | None = None
        self._sink: _Result | None = None  # where character data goes right now
        self._case_depth = 0  # nesting below the open <testcase>
        self._outer_suites: list[tuple[str | None, str | None]] = []
        self._suite: str | None = None
        self._suite_file: str | None = None
        self.nameless = 0  # <testcase> elements without a (non-empty) name: skipped, counted

    # -- callbacks ------------------------------------------------------------------------------

    def start(self, tag: str, attrib: dict) -> None:
        if tag == "testcase" and self._case is None:
            self._case = attrib
        else:
            self._start_other(_local_name(tag), attrib)

    def end(self, tag: str) -> None:
        # </testcase> closes all of its children first, so the nesting depth is 0 here.
        if tag != "testcase" or self._results is not None:
            self._end_other(_local_name(tag))
            return
        # A test case without outcome children: passed, or skipped by its status attribute.
        # `_identity` inlined: this runs once per test case and a call costs ~5% of the parse.
        attrib = self._case
        self._case = None
        name = attrib.get("name")
        if not name:
            self.nameless += 1
            return
        classname = attrib.get("classname") or None
        file = attrib.get("file") or self._suite_file
        cap = self._max_name
        if len(name) > cap or (classname is not None and len(classname) > cap) or (file and len(file) > cap):
            raise RejectedInput(_long_identity(attrib, cap))
        status = attrib.get("status")
        outcome = SKIPPED if status is not None and _is_skip_status(status, attrib.get("result")) else PASSED
        self._append_row((self._suite, classname, name, file, outcome, attrib.get("time"), None, None))

    def data(self, text: str) -> None:
        sink = self._sink
        if sink is not None:
            sink.add(text)

    def doctype(self, name: str | None, public_id: str | None, system_url: str | None) -> None:
        raise RejectedInput("DOCTYPE/entity declarations are not allowed (possible XXE / entity expansion)")

    def close(self) -> None:
        """Rows were appended as they completed: nothing is left to hand back."""

    # -- structure ------------------------------------------------------------------------------

    def _start_other(self, tag: str, attrib: dict) -> None:
        case = self._case
        if case is _BEFORE_ROOT:
            if tag not in ("testsuites", "testsuite"):
                raise RejectedInput(f"not a JUnit report: root element <{_printable(tag)}>")
            case = self._case = None
        if case is None:
            if tag == "testsuite":
                self._enter_suite(attrib)
            elif tag == "testcase":
                self._case = attrib
            return
        if tag == "testcase":
            raise RejectedInput("not a JUnit report: <testcase> nested inside <testcase>")
        self._case_depth += 1
        if self._case_depth == 1:
            kind = _RESULT_CHILDREN.get(tag)
            if kind is None:  # system-out, system-err, properties: not kept
                self._open_result = self._sink = None
                return
            result = _Result(kind[0], kind[1], attrib, self._limits.max_stack_chars)
            if self._results is None:
                self._results = []
            self._results.append(result)
            self._open_result = self._sink = result
        elif self._case_depth == 2 and tag == "stackTrace" and self._open_result is not None:
            self._sink = self._open_result  # Surefire nests the trace of flaky/rerun attempts
        else:
            self._sink = None

    def _end_other(self, tag: str) -> None:
        case = self._case
        if case is None or case is _BEFORE_ROOT:
            if tag == "testsuite" and self._outer_suites:
                self._suite, self._suite_file = self._outer_suites.pop()
            return
        if self._case_depth == 0:  # </testcase> of a case with outcome children, or namespaced
            self._emit_case()
            return
        self._case_depth -= 1
        if self._case_depth == 0:
            self._open_result = self._sink = None
        elif self._case_depth == 1:
            self._sink = self._open_result  # text after a nested element still belongs to it
        else:
            self._sink = None

    def _enter_suite(self, attrib: dict) -> None:
        name = attrib.get("name") or None
        if name is not None and len(name) > self._max_name:
            raise RejectedInput(f"attribute 'name' of <testsuite> over {self._max_name} characters")
        if len(self._outer_suites) >= self._limits.max_suite_depth:
            raise RejectedInput(f"<testsuite> nested more than {self._limits.max_suite_depth} levels deep")
        self._outer_suites.append((self._suite, self._suite_file))
        self._suite = name
        self._suite_file = attrib.get("file") or self._suite_file

    def _identity(self, attrib: dict) -> tuple[str, str | None, str | None]:
        """(name, classname, file) of a test case; over-long identities reject the report."""
        name = attrib.get("name") or ""
        classname = attrib.get("classname") or None
        file = attrib.get("file") or self._suite_file
        cap = self._max_name
        if len(name) > cap or (classname is not None and len(classname) > cap) or (file and len(file) > cap):
            raise RejectedInput(_long_identity(attrib, cap))
        return name, classname, file

    def _emit_case(self) -> None:
        attrib = self._case
        results = self._results or []
        self._case = self._results = self._open_result = self._sink = None
        name, classname, file = self._identity(attrib)
        if not name:
            self.nameless += 1
            return
        max_message, max_stack = self._limits.max_message_chars, self._limits.max_stack_chars

        main: _Result | None = None
        for result in results:
            if result.role == _MAIN and (
                main is None or _MAIN_PRECEDENCE[result.outcome] < _MAIN_PRECEDENCE[main.outcome]
            ):
                main = result
        status = attrib.get("status")
        if status is not None and _is_skip_status(status, attrib.get("result")):
            # Disabled wins over a recorded failure: the test did not run (as action-junit-report).
            explained_by = main or (results[0] if results else None)
            message = explained_by.message_text(max_message) if explained_by else None
            final = (SKIPPED, attrib.get("time"), message, None)
        elif main is None:
            final = (PASSED, attrib.get("time"), None, None)
        elif main.outcome == SKIPPED:
            final = (SKIPPED, attrib.get("time"), main.message_text(max_message), None)
        else:
            final = (main.outcome, attrib.get("time"), main.message_text(max_message), main.body(max_stack))

        executions = [_execution(r, max_message, max_stack) for r in results if r.role == _FLAKY]
        executions.append(final)
        executions.extend(_execution(r, max_message, max_stack) for r in results if r.role == _RERUN)
        suite = self._suite
        for outcome, time, message, stack in executions:
            self._append_row((suite, classname, name, file, outcome, time, message, stack))


def _execution(
    result: _Result, max_message: int, max_stack: int
) -> tuple[str, str | None, str | None, str | None]:
    """A Surefire flaky/rerun attempt: its own outcome, time (if any), message and trace."""
    return (result.outcome, result.time, result.message_text(max_message), result.body(max_stack))


def _is_skip_status(status: str, result: str | None) -> bool:
    return status.lower() in _SKIP_STATUSES or (result is not None and result.lower() in _SKIP_RESULTS)


def _long_identity(attrib: dict, cap: int) -> str:
    for attribute in ("name", "classname", "file"):
        if len(attrib.get(attribute) or "") > cap:
            return f"attribute '{attribute}' of <testcase> over {cap} characters"
    return f"attribute 'file' of the enclosing <testsuite> over {cap} characters"


def _printable(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------------------------------------
# Rows to the final table: durations and attempts, vectorised


def _finish_table(chunks: list[pa.StructArray], counts: list[int], limits: ParseLimits) -> pa.Table:
    if not chunks:
        return ARROW_SCHEMA.empty_table()
    # Column-wise views of the struct chunks: no copy of the strings.
    fields = {name: pa.chunked_array([chunk.field(name) for chunk in chunks]) for name in _ROW_TYPE.names}
    suite, classname, test_name, file = (
        fields["suite"],
        fields["classname"],
        fields["test_name"],
        fields["file"],
    )
    return pa.Table.from_arrays(
        [
            suite,
            classname,
            test_name,
            file,
            fields["outcome"],
            _durations(fields["time"], limits.max_duration_s),
            _attempts(pc.coalesce(classname, file, suite, pa.scalar("", pa.string())), test_name, counts),
            fields["message"],
            fields["stack_trace"],
        ],
        schema=ARROW_SCHEMA,
    )


def _attempts(scope: pa.ChunkedArray, test_name: pa.ChunkedArray, counts: list[int]) -> pa.Array:
    """0, 1, 2, ... for each repetition of (report, scope, test name), in row order."""
    size = len(test_name)
    codes = _identity_codes(scope, test_name, counts)
    # A stable radix sort of int64 codes: ~10 ms for a million rows, cheaper than any hash check.
    order = np.argsort(codes, kind="stable")
    grouped = codes[order]
    del codes
    starts_group = np.empty(size, dtype=bool)
    starts_group[0] = True
    np.not_equal(grouped[1:], grouped[:-1], out=starts_group[1:])
    del grouped
    if starts_group.all():  # the usual case: no test ran twice in a report
        return pa.array(np.zeros(size, dtype=np.int32))
    positions = np.arange(size, dtype=np.int32)
    group_start = np.maximum.accumulate(np.where(starts_group, positions, 0))
    attempt = np.empty(size, dtype=np.int32)
    attempt[order] = positions - group_start
    return pa.array(attempt)


_LARGEST_CODE = 2**62


def _identity_codes(scope: pa.ChunkedArray, test_name: pa.ChunkedArray, counts: list[int]) -> np.ndarray:
    """One int64 per row, equal exactly when (report, scope, test name) are.

    Scope and name are dictionary-encoded apart (hashing the strings in place) and their codes
    combined; joining them into new strings first would cost ten times more. Should the codes not
    fit in 63 bits, the joined strings are encoded instead.
    """
    reports = max(1, len(counts))
    names, scopes = pc.dictionary_encode(test_name), pc.dictionary_encode(scope)
    name_count = len(names.chunk(names.num_chunks - 1).dictionary)
    scope_count = len(scopes.chunk(scopes.num_chunks - 1).dictionary)
    if name_count * scope_count * reports < _LARGEST_CODE:
        # One dictionary for all chunks (shared memo), so codes are comparable across chunks.
        codes = _indices(names) * scope_count + _indices(scopes)
    else:
        codes = _indices(pc.dictionary_encode(pc.binary_join_element_wise(scope, test_name, _ID_SEPARATOR)))
    if reports > 1:  # the same test in two reports is two first attempts
        codes = codes * reports + np.repeat(np.arange(reports, dtype=np.int64), counts)
    return codes


def _indices(encoded: pa.ChunkedArray) -> np.ndarray:
    return np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks]).astype(np.int64)


_THOUSANDS = r"^\d{1,3}(,\d{3})+(\.\d*)?$"  # "1,003.5": old Surefire formatted with grouping
_DECIMAL_COMMA = r"^(\d*),(\d+)$"  # "1,5": decimal comma from a localised reporter
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _durations(raw: pa.Array, max_duration_s: float) -> pa.Array:
    """Raw ``time`` strings to seconds; NULL when missing, unreadable, negative or implausible."""
    try:
        seconds = pc.cast(raw, pa.float64())  # the usual case: every value is a plain number
    except pa.ArrowInvalid:
        seconds = _lenient_seconds(raw)
    plausible = pc.and_(pc.greater_equal(seconds, 0.0), pc.less_equal(seconds, max_duration_s))
    return pc.if_else(plausible, seconds, pa.scalar(None, pa.float64()))  # also drops NaN and inf


def _lenient_seconds(raw: pa.Array) -> pa.Array:
    text = pc.utf8_trim_whitespace(raw)
    text = pc.if_else(pc.match_substring_regex(text, _THOUSANDS), pc.replace_substring(text, ",", ""), text)
    text = pc.replace_substring_regex(text, _DECIMAL_COMMA, r"\1.\2")
    readable = pc.match_substring_regex(text, _NUMBER)
    return pc.cast(pc.if_else(readable, text, pa.scalar(None, pa.string())), pa.float64())


# ---------------------------------------------------------------------------------------------
# libxml2 errors to reasons

_ENCODING_HINTS = ("encoding", "utf-8", "utf-16", "invalid bytes")
_LIMIT_HINTS = ("resource limit", "too long", "too big", "excessive depth", "huge")


def _syntax_reason(error: etree.XMLSyntaxError, *, at_end: bool) -> str:
    message = " ".join(str(error.msg or error).split())
    if len(message) > 300:
        message = message[:300] + "…"
    lowered = message.lower()
    if any(hint in lowered for hint in _ENCODING_HINTS):
        return f"invalid or undeclared encoding: {message}"
    if any(hint in lowered for hint in _LIMIT_HINTS):
        return f"over libxml2 size limits (about 10 MB per attribute, text node or name): {message}"
    if "entity" in lowered:
        return f"undeclared entity reference (entities are never expanded): {message}"
    if at_end:
        return f"truncated XML: {message}"
    return f"malformed XML: {message}"
