"""Coverage reports: totals equal to what the generating tools report; hostile reports rejected.

The reports in tests/data/coverage/ were written by the real tools on small sample projects (its
README says how); the expected figures are the tools' own summaries kept beside them.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from observability_assets.core.coverage import (
    COBERTURA,
    COVERAGEPY_JSON,
    GO_COVER,
    JACOCO,
    LCOV,
    CoverageLimits,
    is_report_name,
    merge_preferred,
    normalise_path,
    parse_report,
    parse_reports,
    sum_files,
)
from observability_assets.core.errors import RejectedInput

DATA = Path(__file__).resolve().parents[1] / "data" / "coverage"


def _coveragepy_report_totals() -> tuple[int, int]:
    """(statements, covered) from the TOTAL line `coverage report` printed."""
    text = (DATA / "python-coveragepy" / "coverage-report.txt").read_text()
    stmts, miss = re.search(r"^TOTAL\s+(\d+)\s+(\d+)", text, re.MULTILINE).groups()
    return int(stmts), int(stmts) - int(miss)


def _coveragepy_json_branches() -> tuple[int, int]:
    totals = json.loads((DATA / "python-coveragepy" / "coverage.json").read_text())["totals"]
    return totals["num_branches"], totals["covered_branches"]


def _nyc_summary(metric: str) -> tuple[int, int]:
    """(total, covered) of a metric from nyc's text-summary ("Lines : 60.86% ( 14/23 )")."""
    text = (DATA / "js-nyc" / "nyc-report.txt").read_text()
    covered, total = re.search(rf"^{metric}\s*:.*\(\s*(\d+)/(\d+)\s*\)", text, re.MULTILINE).groups()
    return int(total), int(covered)


def _gcovr_summary(metric: str) -> tuple[int, int]:
    text = (DATA / "c-gcovr" / "gcovr-summary.txt").read_text()
    covered, total = re.search(rf"^{metric}: .*\((\d+) out of (\d+)\)", text, re.MULTILINE).groups()
    return int(total), int(covered)


def _go_total_percent() -> float:
    text = (DATA / "go-cover" / "go-cover-func.txt").read_text()
    return float(re.search(r"^total:\s+\(statements\)\s+([\d.]+)%", text, re.MULTILINE).group(1))


def _jacoco_root(kind: str) -> tuple[int, int]:
    """JaCoCo's own total: the last counter of the type, the one directly under <report>."""
    text = (DATA / "java-jacoco-pureedgesim" / "jacoco.xml").read_text()
    missed, covered = re.findall(rf'<counter type="{kind}" missed="(\d+)" covered="(\d+)"/>', text)[-1]
    return int(missed) + int(covered), int(covered)


STATEMENTS, COVERED_STATEMENTS = _coveragepy_report_totals()
# (report, format, (lines valid, covered), (branches valid, covered) or None, repo, first paths)
CONFORMANCE = [
    (
        "python-coveragepy/coverage.xml",
        COBERTURA,
        (STATEMENTS, COVERED_STATEMENTS),
        _coveragepy_json_branches(),
        "acme/shapes-py",
        ["shapes/__init__.py", "shapes/geometry.py", "shapes/units.py"],
    ),
    (
        "python-coveragepy/coverage.json",
        COVERAGEPY_JSON,
        (STATEMENTS, COVERED_STATEMENTS),
        _coveragepy_json_branches(),
        "acme/shapes-py",
        ["shapes/__init__.py", "shapes/geometry.py", "shapes/units.py"],
    ),
    (
        "python-coveragepy/coverage.lcov",
        LCOV,
        (STATEMENTS, COVERED_STATEMENTS),
        _coveragepy_json_branches(),
        "acme/shapes-py",
        ["shapes/__init__.py", "shapes/geometry.py", "shapes/units.py"],
    ),
    ("js-nyc/lcov.info", LCOV, _nyc_summary("Lines"), _nyc_summary("Branches"), "acme/shapes-js", None),
    # Istanbul's Cobertura writer drops the branch of the statement-less line 10 (see the README):
    # its lines agree with nyc, its branches are one short, which is why LCOV is preferred.
    ("js-nyc/cobertura-coverage.xml", COBERTURA, _nyc_summary("Lines"), (16, 9), "acme/shapes-js", None),
    (
        "c-gcovr/coverage.xml",
        COBERTURA,
        _gcovr_summary("lines"),
        _gcovr_summary("branches"),
        "acme/shapes-c",
        ["src/geometry.c", "src/test.c"],
    ),
    ("go-cover/cover.out", GO_COVER, (12, 7), None, "acme/shapes-go", ["geometry/geometry.go"]),
    (
        "java-jacoco-pureedgesim/jacoco.xml",
        JACOCO,
        _jacoco_root("LINE"),
        _jacoco_root("BRANCH"),
        "CharafeddineMechalikh/PureEdgeSim",
        None,
    ),
]


@pytest.mark.parametrize(
    ("report", "fmt", "lines", "branches", "repo", "paths"), CONFORMANCE, ids=[c[0] for c in CONFORMANCE]
)
def test_totals_equal_the_generating_tools_own(report, fmt, lines, branches, repo, paths) -> None:
    parsed = parse_report(DATA / report)
    totals = parsed.totals()
    assert parsed.format == fmt
    assert (totals.lines_valid, totals.lines_covered) == lines
    if branches is None:
        assert (totals.branches_valid, totals.branches_covered) == (None, None)
    else:
        assert (totals.branches_valid, totals.branches_covered) == branches
    if paths is not None:
        assert [normalise_path(f.path, roots=parsed.roots, repo=repo) for f in parsed.files] == paths


def test_the_figures_the_tools_printed_are_the_expected_ones() -> None:
    """Guard against a misread summary file: the table's figures are the tools' printed ones."""
    assert (STATEMENTS, COVERED_STATEMENTS) == (32, 21)
    assert _nyc_summary("Lines") == (23, 14) and _nyc_summary("Branches") == (17, 10)
    assert _gcovr_summary("lines") == (17, 14) and _gcovr_summary("branches") == (18, 10)
    assert round(100 * 7 / 12, 1) == _go_total_percent() == 58.3
    assert _jacoco_root("LINE") == (2989, 2734)


def test_per_file_figures_match_coverage_py_for_every_format() -> None:
    expected = {
        path: (s["num_statements"], s["covered_lines"], s["num_branches"], s["covered_branches"])
        for path, s in (
            (p, f["summary"])
            for p, f in json.loads((DATA / "python-coveragepy" / "coverage.json").read_text())[
                "files"
            ].items()
        )
    }
    for name in ("coverage.xml", "coverage.lcov", "coverage.json"):
        parsed = parse_report(DATA / "python-coveragepy" / name)
        got = {
            normalise_path(f.path, roots=parsed.roots, repo="acme/shapes-py"): (
                f.lines_valid,
                f.lines_covered,
                f.branches_valid,
                f.branches_covered,
            )
            for f in parsed.files
        }
        assert got == expected, name


def test_merging_prefers_lcov_over_istanbul_cobertura_and_never_double_counts() -> None:
    reports, rejections = parse_reports(
        [
            ("coverage/cobertura-coverage.xml", DATA / "js-nyc" / "cobertura-coverage.xml"),
            ("coverage/lcov.info", DATA / "js-nyc" / "lcov.info"),
        ]
    )
    assert rejections == []
    merged = merge_preferred(reports, repo="acme/shapes-js")
    assert sorted((entry.path, report_path) for report_path, _, entry in merged) == [
        ("src/geometry.js", "coverage/lcov.info"),
        ("src/units.js", "coverage/lcov.info"),
    ]
    totals = sum_files(entry for _, _, entry in merged)
    assert (totals.lines_valid, totals.lines_covered) == _nyc_summary("Lines")
    assert (totals.branches_valid, totals.branches_covered) == _nyc_summary("Branches")


@pytest.mark.parametrize(
    ("path", "roots", "repo", "expected"),
    [
        ("/home/runner/work/api/api/src/app.py", (), "acme/api", "src/app.py"),
        ("D:\\a\\api\\api\\src\\App.cs", (), "acme/api", "src/App.cs"),
        ("/github/workspace/pkg/x.go", (), None, "pkg/x.go"),
        ("app.py", ("/home/runner/work/api/api/src",), "acme/api", "src/app.py"),
        ("./src/app.py", (), "acme/api", "src/app.py"),
        ("github.com/acme/api/internal/db.go", (), "acme/api", "internal/db.go"),
        ("/opt/elsewhere/app.py", (), "acme/api", "/opt/elsewhere/app.py"),
        ("shapes/geometry.py", ("/tmp/cov/shapes-py",), "acme/shapes-py", "shapes/geometry.py"),
        ("api/models.py", (), "acme/api", "api/models.py"),  # a package named like the repo stays
    ],
)
def test_paths_are_normalised_to_the_repository_root(path, roots, repo, expected) -> None:
    assert normalise_path(path, roots=roots, repo=repo) == expected


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("coverage.xml", True),
        ("reports/cobertura-coverage.xml", True),
        ("target/site/jacoco/jacoco.xml", True),
        ("coverage/lcov.info", True),
        ("coverage.lcov", True),
        ("coverage.json", True),
        ("cover.out", True),
        ("coverage/coverage-final.json", False),  # Istanbul's raw JSON: not coverage.py's
        ("junit.xml", False),
        ("package.json", False),
    ],
)
def test_report_names(name: str, matches: bool) -> None:
    assert is_report_name(name) is matches


# ---------------------------------------------------------------------------------------------
# Hostile and broken reports

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE coverage [
 <!ENTITY a "aaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<coverage><sources><source>&d;</source></sources></coverage>"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE coverage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<coverage><sources><source>&xxe;</source></sources></coverage>"""

DOCTYPE_REASON = (
    "DOCTYPE with an internal subset or an unexpected name is not allowed (possible XXE / entity expansion)"
)
GOOD_COBERTURA = (DATA / "python-coveragepy" / "coverage.xml").read_bytes()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (BILLION_LAUGHS, DOCTYPE_REASON),
        (XXE_FILE, DOCTYPE_REASON),
        (b'<?xml version="1.0"?><!DOCTYPE evil SYSTEM "x.dtd"><evil/>', DOCTYPE_REASON),
        (
            b'<!-- harmless --><!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "r.dtd" [<!ENTITY x "y">]><report/>',
            DOCTYPE_REASON,
        ),
        (b"<coverage><sources><source>&xxe;</source></sources></coverage>", "undeclared entity reference"),
        (GOOD_COBERTURA[: len(GOOD_COBERTURA) // 2], "truncated XML"),
        (b"<testsuites><testsuite/></testsuites>", "not a coverage report: root element <testsuites>"),
        (b"", "empty file"),
        (b"  \n ", "empty file"),
        (b"hello world", "not a coverage report"),
        (b"TN:\nSF:src/a.js\nDA:1,1\n", "truncated LCOV: the record of 'src/a.js' has no end_of_record"),
        (b"SF:a.js\nDA:x,1\nend_of_record\n", "line 2: malformed DA record"),
        (b'{"meta": {"format": 3}, "files": {"a.py": {"summ', "truncated JSON"),
        (b'{"total": {"lines": {"total": 3}}}', "JSON is not a coverage.py report (no meta and files)"),
        (
            b"mode: set\nexample.com/x/a.go:1.1,2.2 1 1\nexample.com/x/a.go:3.1,4",
            "truncated Go profile: line 3",
        ),
        (b"mode: bogus\n", "line 1: unknown cover mode"),
        (
            "<coverage/>".encode("utf-16"),
            "UTF-16/32 coverage reports are not supported (coverage tools write UTF-8)",
        ),
    ],
    ids=[
        "entity-bomb",
        "xxe-file",
        "doctype-wrong-root",
        "jacoco-doctype-with-subset",
        "undeclared-entity",
        "truncated-xml",
        "junit-not-coverage",
        "empty",
        "blank",
        "garbage",
        "truncated-lcov",
        "malformed-lcov",
        "truncated-json",
        "istanbul-summary-json",
        "truncated-go",
        "go-bad-mode",
        "utf16",
    ],
)
def test_hostile_and_broken_reports_are_rejected_with_a_reason(data: bytes, expected: str) -> None:
    with pytest.raises(RejectedInput) as rejected:
        parse_report(data)
    assert rejected.value.reason.startswith(expected), rejected.value.reason


def test_caps_reject_oversized_reports() -> None:
    with pytest.raises(RejectedInput, match="report over the 1000-byte cap"):
        parse_report(GOOD_COBERTURA, limits=CoverageLimits(max_report_bytes=1000, chunk_bytes=256))
    with pytest.raises(RejectedInput, match="report lists over 2 files"):
        parse_report(DATA / "python-coveragepy" / "coverage.lcov", limits=CoverageLimits(max_files=2))
    with pytest.raises(RejectedInput, match="line 1 over 10 characters"):
        parse_report(
            b"SF:" + b"a" * 100 + b"\nend_of_record\n", limits=CoverageLimits(max_text_line_chars=10)
        )


def test_one_bad_report_does_not_stop_the_others() -> None:
    parsed, rejections = parse_reports(
        [("bomb.xml", BILLION_LAUGHS), ("good.xml", DATA / "c-gcovr" / "coverage.xml"), ("xxe.xml", XXE_FILE)]
    )
    assert [path for path, _ in parsed] == ["good.xml"]
    assert [(r.path, r.reason) for r in rejections] == [
        ("bomb.xml", DOCTYPE_REASON),
        ("xxe.xml", DOCTYPE_REASON),
    ]


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b'<!ENTITY leak "fetched">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Recorder,), {"hits": hits}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def test_an_allowed_doctype_is_never_fetched_and_its_entities_never_expand(listener) -> None:
    url, hits = listener
    data = (
        f'<?xml version="1.0"?><!DOCTYPE coverage SYSTEM "{url}/coverage-04.dtd">'
        "<coverage><sources><source>&leak;</source></sources><packages><package><classes>"
        '<class filename="a.py"><lines><line number="1" hits="1"/></lines></class>'
        "</classes></package></packages></coverage>"
    ).encode()
    parsed = parse_report(data)
    assert [(f.path, f.lines_valid, f.lines_covered) for f in parsed.files] == [("a.py", 1, 1)]
    assert "fetched" not in "".join(parsed.roots)
    assert hits == []
