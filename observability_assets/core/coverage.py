"""Streaming, hardened parsing of code-coverage reports into per-file line and branch totals.

Five formats, told apart by their content (never by the file name alone):

* **Cobertura XML** (coverage.py ``coverage xml``, Istanbul/nyc ``cobertura``, gcovr ``--cobertura``):
  the ``<line>`` elements directly under each ``<class><lines>`` (the copies under ``<methods>``
  are skipped); a line counts as covered with ``hits`` > 0, branches come from
  ``condition-coverage="50% (1/2)"``. Classes that share a file name (Java inner classes) are
  merged line by line, so no line counts twice.
* **JaCoCo XML**: the ``LINE`` and ``BRANCH`` counters JaCoCo itself computed for each
  ``<sourcefile>``; the path is the package folder plus the file name.
* **LCOV** (``.info``; lcov/genhtml, nyc ``lcovonly``, coverage.py ``coverage lcov``): ``DA`` and
  ``BRDA`` records, merged per line and branch over records of the same file; files that only
  carry the ``LF``/``LH``/``BRF``/``BRH`` summaries use those.
* **coverage.py JSON** (``coverage json``): each file's ``summary``.
* **Go cover profiles** (``go test -coverprofile``): statements of blocks with a count > 0; a
  block listed twice (``-coverpkg`` over several packages) counts once. Go has no branch figures.

Safety is that of `core.junit`: entity expansion, DTD loading and network access are off, and a
DOCTYPE is accepted only in the one shape coverage tools write (a bare public/system identifier
for a ``<coverage>`` or ``<report>`` root, never an internal subset, which is where entity bombs
and XXE live). Reports are read in chunks; XML goes through an lxml parser target (libxml2's
push parser calling back per element, as in `core.junit`): no element tree is built, and a file
costs a byte per line number, so memory follows the files, not the report's size.
Anything unusable raises `RejectedInput` with a reason; `parse_reports` turns it into a
`Rejection` and goes on.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from lxml import etree

from observability_assets.core.errors import RejectedInput, Rejection

# The helpers JUnit parsing already hardened: chunked reading of any source, and libxml2 errors
# turned into reasons (truncated, malformed, undeclared entity, over size limits).
from observability_assets.core.junit import Source, _read_chunks, _syntax_reason

COBERTURA = "cobertura"
JACOCO = "jacoco"
LCOV = "lcov"
COVERAGEPY_JSON = "coveragepy-json"
GO_COVER = "go-cover"
# When two reports of one run cover the same file (nyc writes Cobertura and LCOV side by side),
# the first format here wins: the most faithful first. Istanbul's Cobertura writer drops branches
# on lines that hold no statement (a default parameter), its LCOV keeps them, so LCOV comes first.
FORMATS: tuple[str, ...] = (JACOCO, COVERAGEPY_JSON, LCOV, COBERTURA, GO_COVER)
PREFERENCE: dict[str, int] = {name: rank for rank, name in enumerate(FORMATS)}

# Report file names recognised inside artifacts and landing drops (lower-cased base names).
# Istanbul's coverage-final.json / coverage-summary.json are not coverage.py JSON: not matched.
REPORT_NAME_GLOBS: tuple[str, ...] = (
    "*coverage*.xml",
    "*cobertura*.xml",
    "jacoco*.xml",
    "*.lcov",
    "lcov.info",
    "*lcov*.info",
    "coverage.json",
    "coverage[-_.]py*.json",
    "*.coverprofile",
    "*cover*.out",
)


@dataclass(frozen=True)
class CoverageLimits:
    """Caps that keep one report from costing unbounded memory or time."""

    max_report_bytes: int = 512 << 20
    max_files: int = 1_000_000
    max_path_chars: int = 4096
    max_text_line_chars: int = 64 * 1024  # LCOV and Go profile lines
    max_prolog_bytes: int = 64 * 1024  # XML declaration, comments and DOCTYPE before the root
    chunk_bytes: int = 1 << 20


@dataclass(frozen=True)
class FileCoverage:
    """Totals of one source file; branch figures are None when the format has none (Go)."""

    path: str
    lines_valid: int
    lines_covered: int
    branches_valid: int | None
    branches_covered: int | None


@dataclass(frozen=True)
class Totals:
    lines_valid: int
    lines_covered: int
    branches_valid: int | None
    branches_covered: int | None

    @property
    def line_rate(self) -> float | None:
        return self.lines_covered / self.lines_valid if self.lines_valid else None

    @property
    def branch_rate(self) -> float | None:
        return self.branches_covered / self.branches_valid if self.branches_valid else None


@dataclass(frozen=True)
class CoverageReport:
    """One parsed report: files with paths as the report names them, and the source roots
    (Cobertura ``<source>``) that relative paths are relative to."""

    format: str
    files: tuple[FileCoverage, ...]
    roots: tuple[str, ...] = ()

    def totals(self) -> Totals:
        return sum_files(self.files)


def sum_files(files: Iterable[FileCoverage]) -> Totals:
    lines_valid = lines_covered = 0
    branches_valid = branches_covered = 0
    has_branches = False
    for f in files:
        lines_valid += f.lines_valid
        lines_covered += f.lines_covered
        if f.branches_valid is not None:
            has_branches = True
            branches_valid += f.branches_valid
            branches_covered += f.branches_covered or 0
    if not has_branches:
        return Totals(lines_valid, lines_covered, None, None)
    return Totals(lines_valid, lines_covered, branches_valid, branches_covered)


def is_report_name(path: str) -> bool:
    """Whether a file inside an artifact or drop looks like a coverage report (by its base name)."""
    name = PurePosixPath(path.replace("\\", "/")).name.lower()
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in REPORT_NAME_GLOBS)


def parse_report(source: Source, *, limits: CoverageLimits = CoverageLimits()) -> CoverageReport:
    """Parse one coverage report of any supported format; `RejectedInput` if it is unusable."""
    chunks = _bounded_chunks(source, limits)
    try:
        head = next(chunks)
    except StopIteration:
        raise RejectedInput("empty file") from None
    except OSError as error:
        raise RejectedInput(f"cannot read report: {error.strerror or error}") from None
    stripped = head.lstrip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not stripped:
        raise RejectedInput("empty file")
    if stripped.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00")) or stripped[1:2] == b"\x00":
        raise RejectedInput("UTF-16/32 coverage reports are not supported (coverage tools write UTF-8)")
    stream = _prepend(head, chunks)
    try:
        if stripped.startswith(b"<"):
            return _parse_xml(stream, limits)
        if stripped.startswith(b"{"):
            return _parse_coveragepy_json(stream, limits)
        if stripped.startswith(b"mode:"):
            return _parse_go(stream, limits)
        if re.match(rb"(TN|SF|VER):", stripped):
            return _parse_lcov(stream, limits)
    except OSError as error:
        raise RejectedInput(f"cannot read report: {error.strerror or error}") from None
    raise RejectedInput("not a coverage report (Cobertura, JaCoCo, LCOV, coverage.py JSON or Go profile)")


def parse_reports(
    reports: Iterable[tuple[str, Source]], *, limits: CoverageLimits = CoverageLimits()
) -> tuple[list[tuple[str, CoverageReport]], list[Rejection]]:
    """Parse (report_path, source) pairs; rejected reports become `Rejection`s, the rest go on."""
    parsed: list[tuple[str, CoverageReport]] = []
    rejections: list[Rejection] = []
    for path, source in reports:
        try:
            parsed.append((path, parse_report(source, limits=limits)))
        except RejectedInput as rejected:
            rejections.append(Rejection(path, rejected.reason))
    return parsed, rejections


# ---------------------------------------------------------------------------------------------
# Paths

# Checkout folders of hosted CI runners: everything up to them is the machine, not the repository.
_CI_WORKSPACES = (
    re.compile(r"^/home/runner/work/[^/]+/[^/]+/"),  # GitHub-hosted Linux
    re.compile(r"^/Users/runner/work/[^/]+/[^/]+/"),  # GitHub-hosted macOS
    re.compile(r"^[A-Za-z]:/a/[^/]+/[^/]+/"),  # GitHub-hosted Windows (D:\a\repo\repo)
    re.compile(r"^/github/workspace/"),  # container actions
    re.compile(r"^/builds/[^/]+/[^/]+/"),  # GitLab runners
    re.compile(r"^/var/lib/jenkins/workspace/[^/]+/"),  # Jenkins
    re.compile(r"^/home/circleci/(project|repo)/"),  # CircleCI
)
_ABSOLUTE = re.compile(r"^(/|[A-Za-z]:/)")


def normalise_path(path: str, *, roots: Iterable[str] = (), repo: str | None = None) -> str:
    """A report's file path made relative to the repository root where that can be told.

    Absolute paths lose the CI checkout folder (``/home/runner/work/api/api/``, ...) or else
    everything up to a folder named like the repository; relative paths are joined to a report
    source root when that makes them reducible so. Go import paths lose the module path up to
    the repository's name. Paths that cannot be reduced stay as the report wrote them.
    """
    cleaned = _clean(path)
    name = repo.rpartition("/")[2] if repo else None
    if _ABSOLUTE.match(cleaned):
        return _strip_checkout(cleaned, name) or cleaned
    for root in roots:
        joined = _clean(root).rstrip("/") + "/" + cleaned
        if _ABSOLUTE.match(joined):
            reduced = _strip_checkout(joined, name)
            if reduced:
                return reduced
    first = cleaned.partition("/")[0]
    if name and "." in first and "/" in cleaned:  # a Go import path: example.com/org/repo/pkg/file.go
        segments = cleaned.split("/")
        if name in segments[:-1]:
            return "/".join(segments[segments.index(name) + 1 :])
    return cleaned


def _clean(path: str) -> str:
    cleaned = path.strip().replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    return re.sub(r"/{2,}", "/", cleaned)


def _strip_checkout(path: str, repo_name: str | None) -> str | None:
    for workspace in _CI_WORKSPACES:
        match = workspace.match(path)
        if match:
            return path[match.end() :]
    if repo_name:
        marker = f"/{repo_name}/"
        at = path.find(marker)
        if at >= 0:
            return path[at + len(marker) :]
    return None


# ---------------------------------------------------------------------------------------------
# Reading


def _bounded_chunks(source: Source, limits: CoverageLimits) -> Iterator[bytes]:
    total = 0
    for chunk in _read_chunks(source, limits.chunk_bytes):
        total += len(chunk)
        if total > limits.max_report_bytes:
            raise RejectedInput(f"report over the {limits.max_report_bytes}-byte cap")
        yield chunk


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


def _text_lines(chunks: Iterator[bytes], limits: CoverageLimits) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, ended by a newline) of a UTF-8 text report, lines capped in length."""
    carry = b""
    number = 0
    for chunk in chunks:
        data = carry + chunk
        lines = data.split(b"\n")
        carry = lines.pop()
        if len(carry) > limits.max_text_line_chars:
            raise RejectedInput(
                f"line {number + len(lines) + 1} over {limits.max_text_line_chars} characters"
            )
        for raw in lines:
            number += 1
            yield number, _decode_line(raw, number, limits), True
    if carry:
        yield number + 1, _decode_line(carry, number + 1, limits), False


def _decode_line(raw: bytes, number: int, limits: CoverageLimits) -> str:
    if len(raw) > limits.max_text_line_chars:
        raise RejectedInput(f"line {number} over {limits.max_text_line_chars} characters")
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise RejectedInput(f"line {number} is not UTF-8") from None


class _Files:
    """Per-file results in report order, with the caps on count and path length."""

    def __init__(self, limits: CoverageLimits) -> None:
        self._limits = limits
        self.items: dict[str, FileCoverage] = {}

    def check_path(self, path: str) -> str:
        if not path:
            raise RejectedInput("a file entry without a path")
        if len(path) > self._limits.max_path_chars:
            raise RejectedInput(f"file path over {self._limits.max_path_chars} characters")
        if "\x00" in path:
            raise RejectedInput("NUL byte in a file path")
        if path not in self.items and len(self.items) >= self._limits.max_files:
            raise RejectedInput(f"report lists over {self._limits.max_files} files")
        return path

    def put(self, entry: FileCoverage) -> None:
        self.items[self.check_path(entry.path)] = entry

    def result(self) -> tuple[FileCoverage, ...]:
        return tuple(self.items.values())


# ---------------------------------------------------------------------------------------------
# XML: Cobertura and JaCoCo

_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_PI = re.compile(rb"<\?.*?\?>", re.DOTALL)
_QUOTED = rb"(?:\"[^\"<>\[\]]*\"|'[^'<>\[\]]*')"
# The only DOCTYPEs coverage tools write: Istanbul and gcovr name Cobertura's DTD by a system id,
# JaCoCo names its own by a public and a system id. Never an internal subset ("[...]").
_ALLOWED_DOCTYPE = re.compile(
    rb"<!DOCTYPE\s+(coverage|report)\s+(?:SYSTEM\s+"
    + _QUOTED
    + rb"|PUBLIC\s+"
    + _QUOTED
    + rb"\s+"
    + _QUOTED
    + rb")\s*>"
)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_ROOT_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.:-]*")


def _check_prolog(prolog: bytes) -> None:
    rest = _PI.sub(b"", _COMMENT.sub(b"", prolog)).strip()
    if not rest:
        return
    if not rest.startswith(b"<!DOCTYPE"):
        raise RejectedInput("malformed XML: unexpected markup before the root element")
    match = _ALLOWED_DOCTYPE.fullmatch(rest)
    if match is None:
        raise RejectedInput(
            "DOCTYPE with an internal subset or an unexpected name is not allowed "
            "(possible XXE / entity expansion)"
        )


def _split_prolog(chunks: Iterator[bytes], limits: CoverageLimits) -> tuple[str | None, Iterator[bytes]]:
    """Check everything before the root element; (root element name, all the bytes unchanged)."""
    buffered = b""
    for chunk in chunks:
        buffered += chunk
        scan_from = 0
        while True:
            match = _ROOT_START.search(buffered, scan_from)
            if match is None:
                break
            start = match.start()
            # Skip "<tag" lookalikes inside comments and processing instructions.
            before = buffered[:start]
            if before.count(b"<!--") > before.count(b"-->") or before.count(b"<?") > before.count(b"?>"):
                scan_from = start + 1
                continue
            _check_prolog(before)
            name = _ROOT_NAME.match(buffered, start + 1)
            if name is None or name.end() == len(buffered):  # the name may go on in the next chunk
                break
            return name.group(0).decode("utf-8", "replace"), _prepend(buffered, chunks)
        if len(buffered) > limits.max_prolog_bytes:
            raise RejectedInput(f"no root element within the first {limits.max_prolog_bytes} bytes")
    _check_prolog(buffered)
    return None, iter([buffered])  # no root element at all: the parser says what is wrong


def _parse_xml(chunks: Iterator[bytes], limits: CoverageLimits) -> CoverageReport:
    root, data = _split_prolog(chunks, limits)
    handler: _CoberturaHandler | _JacocoHandler
    if root == "coverage":
        handler = _CoberturaHandler(limits)
    elif root == "report":
        handler = _JacocoHandler(limits)
    elif root is None:
        raise RejectedInput("not a coverage report: no root element")
    else:
        raise RejectedInput(f"not a coverage report: root element <{root[:80]}>")
    # A parser target: libxml2 calls the handler per element, no tree is built (as core.junit).
    parser = etree.XMLParser(
        target=handler,
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
    )
    try:
        for chunk in data:
            parser.feed(chunk)
    except etree.XMLSyntaxError as error:
        raise RejectedInput(_xml_reason(error, at_end=False)) from None
    try:
        parser.close()
    except etree.XMLSyntaxError as error:
        raise RejectedInput(_xml_reason(error, at_end=True)) from None
    return handler.report()


def _xml_reason(error: etree.XMLSyntaxError, *, at_end: bool) -> str:
    """lxml may report a deferred error as "no element found": the last error libxml2 logged
    says what really went wrong (an undeclared entity, a premature end, ...)."""
    logged = error.error_log.filter_from_errors() if error.error_log else []
    if logged:
        error.msg = logged[-1].message
    return _syntax_reason(error, at_end=at_end)


_CONDITION = re.compile(r"\((\d+)\s*/\s*(\d+)\)")
_PRESENT, _COVERED = 1, 3  # line status bits in a file's bytearray, indexed by line number


class _CoberturaHandler:
    """Lines directly under ``class/lines``, merged per file name and line number.

    Each file keeps one byte per line number (absent, present, covered), so classes sharing a
    file name merge exactly and memory stays a byte a line; branch lines keep (taken, total).
    """

    def __init__(self, limits: CoverageLimits) -> None:
        self._files = _Files(limits)
        self._roots: list[str] = []
        self._lines: dict[str, bytearray] = {}
        self._branches: dict[str, dict[int, tuple[int, int]]] = {}
        self._current: bytearray | None = None  # lines of the open <class>
        self._current_branches: dict[int, tuple[int, int]] | None = None
        self._in_methods = 0
        self._text: list[str] | None = None  # text of an open <source>

    def start(self, tag: str, attrib: dict) -> None:
        if tag == "line":
            if self._in_methods == 0 and self._current is not None:
                self._line(attrib)
        elif tag == "method":
            self._in_methods += 1
        elif tag == "class":
            name = self._files.check_path(attrib.get("filename") or attrib.get("name") or "")
            self._current = self._lines.setdefault(name, bytearray())
            self._current_branches = self._branches.setdefault(name, {})
        elif tag == "source":
            self._text = []

    def end(self, tag: str) -> None:
        if tag == "line":
            return
        if tag == "method":
            self._in_methods -= 1
        elif tag == "class":
            self._current = self._current_branches = None
        elif tag == "source" and self._text is not None:
            root = "".join(self._text).strip()
            if root:
                self._roots.append(root)
            self._text = None

    def data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)

    def _line(self, attrib: dict) -> None:
        raw = attrib.get("number")
        if raw is None:
            return
        try:
            number = int(raw)
        except ValueError:
            raise RejectedInput(f"unreadable line number {raw[:40]!r}") from None
        if not 0 <= number < 100_000_000:
            raise RejectedInput(f"line number {number} out of range")
        lines = self._current
        if number >= len(lines):
            lines.extend(bytes(number + 1 - len(lines)))
        hits = attrib.get("hits", "0")
        covered = hits != "0" and (hits.isdigit() or _positive(hits))
        lines[number] |= _COVERED if covered else _PRESENT
        if attrib.get("branch") == "true":
            match = _CONDITION.search(attrib.get("condition-coverage") or "")
            if match:
                taken, total = int(match.group(1)), int(match.group(2))
                branches = self._current_branches
                seen = branches.get(number)
                if seen is None or taken > seen[0]:
                    branches[number] = (min(taken, total), total)

    def doctype(self, name: str | None, public_id: str | None, system_url: str | None) -> None:
        """Checked on the bytes before the root (`_check_prolog`); never loaded."""

    def close(self) -> None:
        """Totals are summed in `report`."""

    def report(self) -> CoverageReport:
        for file, lines in self._lines.items():
            branches = self._branches[file].values()
            self._files.put(
                FileCoverage(
                    file,
                    len(lines) - lines.count(0),
                    lines.count(_COVERED),
                    sum(total for _, total in branches),
                    sum(taken for taken, _ in branches),
                )
            )
        return CoverageReport(COBERTURA, self._files.result(), tuple(self._roots))


def _positive(hits: str) -> bool:
    try:
        return float(hits) > 0
    except ValueError:
        raise RejectedInput(f"unreadable hits count {hits[:40]!r}") from None


class _JacocoHandler:
    """JaCoCo's own LINE and BRANCH counters of each ``<sourcefile>`` in each ``<package>``
    (a sourcefile holds only <line> and <counter> children, so every counter inside it is its own)."""

    def __init__(self, limits: CoverageLimits) -> None:
        self._files = _Files(limits)
        self._package = ""
        self._sourcefile: str | None = None
        self._counters: dict[str, tuple[int, int]] = {}

    def start(self, tag: str, attrib: dict) -> None:
        if tag == "line":
            return
        if tag == "counter":
            if self._sourcefile is not None:
                self._counters[attrib.get("type") or ""] = (
                    _count(attrib.get("missed")),
                    _count(attrib.get("covered")),
                )
        elif tag == "package":
            self._package = attrib.get("name") or ""
        elif tag == "sourcefile":
            name = attrib.get("name") or ""
            self._sourcefile = self._files.check_path(f"{self._package}/{name}" if self._package else name)
            self._counters = {}

    def end(self, tag: str) -> None:
        if tag != "sourcefile" or self._sourcefile is None:
            return
        line_missed, line_covered = self._counters.get("LINE", (0, 0))
        branch_missed, branch_covered = self._counters.get("BRANCH", (0, 0))
        self._files.put(
            FileCoverage(
                self._sourcefile,
                line_missed + line_covered,
                line_covered,
                branch_missed + branch_covered,
                branch_covered,
            )
        )
        self._sourcefile = None

    def data(self, text: str) -> None:
        """JaCoCo keeps everything in attributes."""

    def doctype(self, name: str | None, public_id: str | None, system_url: str | None) -> None:
        """Checked on the bytes before the root (`_check_prolog`); never loaded."""

    def close(self) -> None:
        """Files were collected as their <sourcefile> ended."""

    def report(self) -> CoverageReport:
        return CoverageReport(JACOCO, self._files.result())


def _count(text: str | None) -> int:
    try:
        value = int(text or "0")
    except ValueError:
        raise RejectedInput(f"unreadable counter value {str(text)[:40]!r}") from None
    if value < 0:
        raise RejectedInput("negative counter value")
    return value


# ---------------------------------------------------------------------------------------------
# LCOV


def _parse_lcov(chunks: Iterator[bytes], limits: CoverageLimits) -> CoverageReport:
    files = _Files(limits)
    # Per file: {line: covered}, {branch key: taken}, and the summary lines as a fallback.
    lines: dict[str, dict[str, bool]] = {}
    branches: dict[str, dict[str, bool]] = {}
    summaries: dict[str, dict[str, int]] = {}
    current: str | None = None
    number = 0
    for number, text, _ in _text_lines(chunks, limits):
        if not text or text.startswith("#"):
            continue
        key, _, value = text.partition(":")
        if key == "SF":
            if current is not None:
                raise RejectedInput(f"line {number}: SF before end_of_record of {current[:200]!r}")
            current = files.check_path(value.strip())
            lines.setdefault(current, {})
            branches.setdefault(current, {})
            summaries.setdefault(current, {})
        elif text.strip() == "end_of_record":
            if current is None:
                raise RejectedInput(f"line {number}: end_of_record without SF")
            current = None
        elif key in ("TN", "VER"):
            continue
        elif current is None:
            raise RejectedInput(f"line {number}: {key[:20]} record outside an SF ... end_of_record block")
        elif key == "DA":
            fields = value.split(",")
            if len(fields) < 2 or not fields[0].strip().isdigit():
                raise RejectedInput(f"line {number}: malformed DA record")
            line = fields[0].strip()
            covered = _lcov_count(fields[1], number) > 0
            file_lines = lines[current]
            file_lines[line] = file_lines.get(line, False) or covered
        elif key == "BRDA":
            branch, _, taken = value.rpartition(",")
            if not branch:
                raise RejectedInput(f"line {number}: malformed BRDA record")
            hit = taken.strip() not in ("-", "") and _lcov_count(taken, number) > 0
            file_branches = branches[current]
            file_branches[branch] = file_branches.get(branch, False) or hit
        elif key in ("LF", "LH", "BRF", "BRH"):
            summaries[current][key] = summaries[current].get(key, 0) + _lcov_count(value, number)
    if current is not None:
        raise RejectedInput(f"truncated LCOV: the record of {current[:200]!r} has no end_of_record")
    if number == 0:
        raise RejectedInput("empty file")
    for path, file_lines in lines.items():
        summary = summaries[path]
        file_branches = branches[path]
        if file_lines:
            valid, covered = len(file_lines), sum(file_lines.values())
        else:
            valid, covered = summary.get("LF", 0), summary.get("LH", 0)
        if file_branches:
            branch_valid, branch_covered = len(file_branches), sum(file_branches.values())
        else:
            branch_valid, branch_covered = summary.get("BRF", 0), summary.get("BRH", 0)
        files.put(FileCoverage(path, valid, covered, branch_valid, branch_covered))
    return CoverageReport(LCOV, files.result())


def _lcov_count(text: str, number: int) -> int:
    try:
        # Some tools write execution counts as floats ("1.0") or beyond int64 on hot loops.
        value = int(float(text.strip()))
    except ValueError:
        raise RejectedInput(f"line {number}: unreadable count {text.strip()[:40]!r}") from None
    if value < 0:
        raise RejectedInput(f"line {number}: negative count")
    return value


# ---------------------------------------------------------------------------------------------
# coverage.py JSON


def _parse_coveragepy_json(chunks: Iterator[bytes], limits: CoverageLimits) -> CoverageReport:
    # coverage.py writes one JSON document; the byte cap bounds what json.loads holds.
    try:
        document = json.loads(b"".join(chunks))
    except UnicodeDecodeError:
        raise RejectedInput("JSON report is not UTF-8") from None
    except json.JSONDecodeError as error:
        # An unterminated string is reported where the string starts, still a cut-off document.
        at_end = error.pos >= len(error.doc) - 1 or error.msg.startswith("Unterminated string")
        kind = "truncated" if at_end else "malformed"
        raise RejectedInput(f"{kind} JSON: {error.msg} at line {error.lineno}") from None
    if not (isinstance(document, dict) and isinstance(document.get("files"), dict) and "meta" in document):
        raise RejectedInput("JSON is not a coverage.py report (no meta and files)")
    branch_coverage = bool((document.get("meta") or {}).get("branch_coverage"))
    files = _Files(limits)
    for path, entry in document["files"].items():
        summary = entry.get("summary") if isinstance(entry, dict) else None
        if not isinstance(summary, dict):
            raise RejectedInput(f"file {str(path)[:200]!r} has no summary")
        files.put(
            FileCoverage(
                str(path),
                _json_count(summary, "num_statements", path),
                _json_count(summary, "covered_lines", path),
                _json_count(summary, "num_branches", path) if branch_coverage else None,
                _json_count(summary, "covered_branches", path) if branch_coverage else None,
            )
        )
    return CoverageReport(COVERAGEPY_JSON, files.result())


def _json_count(summary: dict, key: str, path: str) -> int:
    value = summary.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RejectedInput(f"file {str(path)[:200]!r}: {key} is not a count")
    return value


# ---------------------------------------------------------------------------------------------
# Go cover profiles

_GO_BLOCK = re.compile(r"^(.+):(\d+)\.(\d+),(\d+)\.(\d+) (\d+) (\d+)$")


def _parse_go(chunks: Iterator[bytes], limits: CoverageLimits) -> CoverageReport:
    files = _Files(limits)
    # file -> {block position: (statements, covered)}
    blocks: dict[str, dict[str, tuple[int, bool]]] = {}
    mode_seen = False
    for number, text, ended in _text_lines(chunks, limits):
        if not text.strip():
            continue
        if text.startswith("mode:"):
            if text.split(":", 1)[1].strip() not in ("set", "count", "atomic"):
                raise RejectedInput(f"line {number}: unknown cover mode")
            mode_seen = True  # `go test` repeats the mode line when profiles are concatenated
            continue
        match = _GO_BLOCK.match(text)
        if match is None:
            reason = "truncated Go profile" if not ended else "malformed Go profile"
            raise RejectedInput(f"{reason}: line {number}")
        path = files.check_path(match.group(1))
        position = text[len(path) + 1 : text.rindex(" ", 0, text.rindex(" "))]
        statements, count = int(match.group(6)), int(match.group(7))
        file_blocks = blocks.setdefault(path, {})
        seen = file_blocks.get(position)
        file_blocks[position] = (statements, count > 0 or (seen is not None and seen[1]))
    if not mode_seen:
        raise RejectedInput("not a Go cover profile: no mode line")
    for path, file_blocks in blocks.items():
        valid = sum(statements for statements, _ in file_blocks.values())
        covered = sum(statements for statements, hit in file_blocks.values() if hit)
        files.put(FileCoverage(path, valid, covered, None, None))
    return CoverageReport(GO_COVER, files.result())


# ---------------------------------------------------------------------------------------------
# Several reports of one run


def merge_preferred(
    reports: Iterable[tuple[str, CoverageReport]], *, repo: str | None = None
) -> list[tuple[str, CoverageReport, FileCoverage]]:
    """One entry per normalised file path over the reports of one run: (report path, report,
    file with its normalised path).

    The same file in reports of different formats (nyc's Cobertura and LCOV of one test run) is
    taken from the preferred format (`PREFERENCE`); in two reports of the same format (two test
    jobs), the one covering more lines wins: a lower bound of their union, never a double count.
    """
    chosen: dict[str, tuple[str, CoverageReport, FileCoverage]] = {}
    for report_path, report in reports:
        for file in report.files:
            path = normalise_path(file.path, roots=report.roots, repo=repo)
            entry = FileCoverage(
                path, file.lines_valid, file.lines_covered, file.branches_valid, file.branches_covered
            )
            seen = chosen.get(path)
            if seen is None or _better(entry, report.format, seen[2], seen[1].format):
                chosen[path] = (report_path, report, entry)
    return list(chosen.values())


def _better(candidate: FileCoverage, fmt: str, incumbent: FileCoverage, incumbent_fmt: str) -> bool:
    if PREFERENCE[fmt] != PREFERENCE[incumbent_fmt]:
        return PREFERENCE[fmt] < PREFERENCE[incumbent_fmt]
    return candidate.lines_covered > incumbent.lines_covered
