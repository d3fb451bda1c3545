"""The text Vigil stores is exactly what an XML 1.0 parser yields.

Every identity field (suite, classname, test name, file), the outcome, the message and the stack
trace of every execution is compared with an independent reader: `xml.etree.ElementTree` (expat,
not libxml2) over the same bytes, applying the documented dialect rules of `core.junit`. Counts
alone would not see a name stored as ``a &#38; b`` instead of ``a & b``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from observability_assets.core import junit
from observability_assets.core.junit import TEST_ID_SQL, ParseLimits, parse_many, parse_report

LIMITS = ParseLimits()
MARK = " …[truncated]"
SKIP_STATUSES = {"disabled", "skipped", "skip", "notrun", "not run", "ignored"}
MAIN = {"error": ("error", 0), "failure": ("failed", 1), "skipped": ("skipped", 2)}
FLAKY = {"flakyFailure": "failed", "flakyError": "error"}
RERUN = {"rerunFailure": "failed", "rerunError": "error"}

Row = tuple[str | None, str | None, str, str | None, str, str | None, str | None]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(MARK)] + MARK


def _body_parts(element: ET.Element) -> str:
    """The element's own text, Surefire's nested <stackTrace> text, and the text after children."""
    parts = [element.text or ""]
    for child in element:
        if _local(child.tag) == "stackTrace":
            parts.append(child.text or "")
        parts.append(child.tail or "")
    return "".join(parts)


def _message(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    message = element.get("message") or _body_parts(element).strip().partition("\n")[0].rstrip()
    return _cap(message, LIMITS.max_message_chars) if message else None


def _stack(element: ET.Element) -> str | None:
    text = _body_parts(element).strip()
    if len(text) > LIMITS.max_stack_chars:
        text = _cap(text[: LIMITS.max_stack_chars] + MARK, LIMITS.max_stack_chars)
    return text or None


def _executions(case: ET.Element) -> Iterator[tuple[str, str | None, str | None]]:
    """(outcome, message, stack trace) of each execution of one test case, in document order."""
    children = list(case)
    status, result = (case.get("status") or "").lower(), (case.get("result") or "").lower()
    main = None
    for child in children:
        kind = MAIN.get(_local(child.tag))
        if kind and (main is None or kind[1] < MAIN[_local(main.tag)][1]):
            main = child
    for child in children:
        if _local(child.tag) in FLAKY:
            yield FLAKY[_local(child.tag)], _message(child), _stack(child)
    if status in SKIP_STATUSES or result in {"skipped", "suppressed"}:
        outcomes = [c for c in children if _local(c.tag) in MAIN | FLAKY | RERUN]
        yield "skipped", _message(main if main is not None else (outcomes[0] if outcomes else None)), None
    elif main is None:
        yield "passed", None, None
    elif _local(main.tag) == "skipped":
        yield "skipped", _message(main), None
    else:
        yield MAIN[_local(main.tag)][0], _message(main), _stack(main)
    for child in children:
        if _local(child.tag) in RERUN:
            yield RERUN[_local(child.tag)], _message(child), _stack(child)


def reference_rows(data: bytes) -> list[Row]:
    """Rows (suite, classname, test name, file, outcome, message, stack trace) read by expat."""
    rows: list[Row] = []

    def walk(element: ET.Element, suite: str | None, suite_file: str | None) -> None:
        tag = _local(element.tag)
        if tag == "testsuite":
            suite, suite_file = element.get("name") or None, element.get("file") or suite_file
        if tag == "testcase":
            name = element.get("name")
            if name:  # nameless test cases are skipped
                identity = (suite, element.get("classname") or None, name, element.get("file") or suite_file)
                rows.extend((*identity, *execution) for execution in _executions(element))
            return
        for child in element:
            walk(child, suite, suite_file)

    walk(ET.fromstring(data), None, None)
    return rows


def vigil_rows(data: bytes) -> list[Row]:
    table = parse_report(data).table
    columns = ("suite", "classname", "test_name", "file", "outcome", "message", "stack_trace")
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def _well_formed_doctype_free(path: Path) -> bool:
    data = path.read_bytes()
    if b"<!DOCTYPE" in data:
        return False
    try:
        ET.fromstring(data)
    except ET.ParseError:
        return False
    return True


def _fixture_files() -> list[Path]:
    """Collected at import for the parametrisation; same folder as the `fixtures_dir` fixture."""
    root = Path(
        os.environ.get("VIGIL_FIXTURES") or Path(__file__).resolve().parents[3] / "shared" / "fixtures"
    )
    return sorted((root / "junit").rglob("*.xml")) if (root / "junit").is_dir() else []


FIXTURES = _fixture_files()


def test_fixture_selection_covers_every_well_formed_report(fixtures_dir: Path) -> None:
    """The parametrised comparison below runs on every well-formed, DOCTYPE-free fixture: all
    58 files but the three broken on purpose upstream (see the fixtures README)."""
    every = sorted((fixtures_dir / "junit").rglob("*.xml"))
    assert every == FIXTURES
    assert len([path for path in every if _well_formed_doctype_free(path)]) == len(every) - 3


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_fixture_text_equals_an_independent_xml_reader(path: Path) -> None:
    if not _well_formed_doctype_free(path):
        pytest.skip("not well-formed upstream on purpose: rejected, covered by test_junit_conformance")
    data = path.read_bytes()
    expected = reference_rows(data)
    assert vigil_rows(data) == expected
    # Not vacuous: every report with test cases compares some names.
    assert all(row[2] for row in expected)


AWKWARD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<testsuites><testsuite name="Suite &amp; co &lt;1&gt;" file="src/a&amp;b.ts">'
    b'<testcase classname="pkg.Tom&#38;Jerry" name="a &amp; b" file="t/&quot;q&quot;.py"/>'
    b'<testcase classname="c&#x26;d" name="&lt;tag attr=&apos;v&apos;&gt; &#233;t&#xE9;"/>'
    b'<testcase classname="c" name="already &amp;amp; escaped &amp;#38;">'
    b'<failure message="expected &quot;x &amp; y&quot; &lt; 3">line 1 &amp; more &#38;\n'
    b"<![CDATA[raw & <cdata> &amp; stays]]>\n&lt;end&gt;</failure></testcase>"
    b'<testcase classname="c" name="text message"><error>first &amp; line\nsecond</error></testcase>'
    b'<testcase classname="c" name="tab&#9;and&#10;newline"/>'
    b"</testsuite></testsuites>"
)


def test_references_decode_exactly_like_an_xml_parser() -> None:
    assert vigil_rows(AWKWARD) == reference_rows(AWKWARD)
    names = parse_report(AWKWARD).table.column("test_name").to_pylist()
    assert names == [
        "a & b",
        "<tag attr='v'> été",
        "already &amp; escaped &#38;",  # double-escaped text stays the literal text it spells
        "text message",
        "tab\tand\nnewline",
    ]


def test_the_ampersand_example_round_trips_into_duckdb_and_the_test_id() -> None:
    data = b'<testsuite><testcase classname="c" name="a &amp; b"/></testsuite>'
    report = parse_report(data)
    assert report.table.column("test_name").to_pylist() == ["a & b"]
    assert report.table.column("classname").to_pylist() == ["c"]

    batch = parse_many([("r.xml", data), ("s.xml", data.replace(b"&amp;", b"&#38;"))])
    con = duckdb.connect()
    loaded = batch.table  # noqa: F841  (read by DuckDB's replacement scan)
    rows = con.execute(
        f"SELECT test_name, {TEST_ID_SQL} AS test_id FROM (SELECT 'o/r' AS repo, * FROM loaded) "
        "ORDER BY report_path"
    ).fetchall()
    assert rows == [("a & b", junit.test_id("o/r", "c", None, "a & b"))] * 2
