"""Hostile and broken JUnit input: rejected with a precise reason, never read, fetched or expanded."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from observability_assets.core.errors import RejectedInput
from observability_assets.core.junit import ParseLimits, _parse_group, parse_many, parse_report

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCTYPE_REASON = "DOCTYPE/entity declarations are not allowed (possible XXE / entity expansion)"


def reason(data: bytes) -> str:
    with pytest.raises(RejectedInput) as rejected:
        parse_report(data)
    return rejected.value.reason


class _CountingHandler(BaseHTTPRequestHandler):
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
    """A loopback HTTP server that records every request an entity or DTD would make."""
    hits: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------
# Entities and DTDs


def test_xxe_file_entity_is_rejected_and_the_file_never_shows_up(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a")
    payloads = [
        f'<?xml version="1.0"?><!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<testsuite><testcase name="&xxe;"><failure message="&xxe;">&xxe;</failure></testcase></testsuite>',
        f'<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "{secret}">]><testsuite><testcase name="&xxe;"/></testsuite>',
    ]
    for payload in payloads:
        batch = parse_many([("evil.xml", payload.encode())])
        assert batch.table.num_rows == 0
        assert [r.reason for r in batch.rejections] == [DOCTYPE_REASON]
        assert "TOP-SECRET" not in repr(batch)


def test_network_entities_and_external_dtds_are_never_fetched(listener: tuple[str, list[str]]) -> None:
    url, hits = listener
    payloads = [
        f'<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "{url}/entity">]><testsuite><testcase name="&xxe;"/></testsuite>',
        f'<!DOCTYPE testsuite SYSTEM "{url}/external.dtd"><testsuite><testcase name="t"/></testsuite>',
        f'<!DOCTYPE testsuite PUBLIC "-//Evil//EN" "{url}/public.dtd"><testsuite/>',
        f'<!DOCTYPE testsuite [<!ENTITY % remote SYSTEM "{url}/parameter.dtd"> %remote;]><testsuite/>',
    ]
    for payload in payloads:
        assert reason(payload.encode()) == DOCTYPE_REASON
    # XInclude needs no DOCTYPE: the report parses, and the include is just an unknown element.
    xinclude = (
        '<testsuite xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="{url}/xinclude" parse="text"/><testcase name="t"/></testsuite>'
    )
    assert parse_report(xinclude.encode()).table["test_name"].to_pylist() == ["t"]
    time.sleep(0.05)  # a fetch, had one been started, would have reached the server by now
    assert hits == []


def test_hostile_files_parsed_in_worker_processes_are_rejected_the_same_way(
    tmp_path: Path, listener: tuple[str, list[str]]
) -> None:
    """Big days are parsed in worker processes: the same parser settings must hold there."""
    url, hits = listener
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a")
    good = '<testsuite name="s"><testcase classname="c" name="ok"/></testsuite>'
    files = {
        "good-1.xml": good,
        "xxe-file.xml": f'<!DOCTYPE t [<!ENTITY x SYSTEM "file://{secret}">]><testsuite><testcase name="&x;"/></testsuite>',
        "xxe-http.xml": f'<!DOCTYPE t [<!ENTITY x SYSTEM "{url}/entity">]><testsuite><testcase name="&x;"/></testsuite>',
        "dtd.xml": f'<!DOCTYPE testsuite SYSTEM "{url}/external.dtd"><testsuite/>',
        "truncated.xml": '<testsuite><testcase name="t">',
        "good-2.xml": good,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    pairs = [(name, str(tmp_path / name)) for name in files]
    expected = [
        ("xxe-file.xml", DOCTYPE_REASON),
        ("xxe-http.xml", DOCTYPE_REASON),
        ("dtd.xml", DOCTYPE_REASON),
        ("truncated.xml", "truncated XML"),
    ]
    batch = parse_many(pairs, workers=2, parallel_min_bytes=0)
    assert batch.table["report_path"].cast("string").to_pylist() == ["good-1.xml", "good-2.xml"]
    assert [(r.path, r.reason.split(":")[0]) for r in batch.rejections] == expected
    assert "TOP-SECRET" not in repr(batch)
    # Which process took which file above depends on timing; here all of them go to a worker.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        table, (rejections, _) = pool.submit(_parse_group, pairs, ParseLimits(), None).result()
    assert table["test_name"].to_pylist() == ["ok", "ok"]
    assert [(r.path, r.reason.split(":")[0]) for r in rejections] == expected
    time.sleep(0.05)
    assert hits == []


def test_billion_laughs_is_rejected_at_once() -> None:
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    payload = f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(levels)}]><testsuite name="&lol9;"/>'
    started = time.perf_counter()
    assert reason(payload.encode()) == DOCTYPE_REASON
    assert time.perf_counter() - started < 1.0


def test_quadratic_blowup_is_rejected_at_once() -> None:
    big = "A" * 100_000
    payload = f'<!DOCTYPE t [<!ENTITY a "{big}">]><testsuite><testcase name="t">{"&a;" * 10_000}</testcase></testsuite>'
    started = time.perf_counter()
    assert reason(payload.encode()) == DOCTYPE_REASON
    assert time.perf_counter() - started < 1.0


def test_undeclared_entity_reference_is_rejected_not_expanded() -> None:
    assert reason(b'<testsuite><testcase name="&foo;"/></testsuite>').startswith(
        "undeclared entity reference (entities are never expanded): Entity 'foo' not defined"
    )


# ---------------------------------------------------------------------------------------------
# Broken documents


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'<testsuite><testcase name="a"', "truncated XML: "),
        (b'<testsuite><testcase name="a', "truncated XML: "),
        (
            b"<testsuite><testcase name='a'><failure><![CDATA[half a trace",
            "truncated XML: ends inside a CDATA section",
        ),
        (b"<testsuite><!-- unfinished", "truncated XML: ends inside a comment"),
        (b"<testsuite><?pi unfinished", "truncated XML: ends inside a processing instruction"),
        (
            b'<testsuite name="s"><testcase name="a"/>',
            "truncated XML: Premature end of data in tag testsuite",
        ),
        (b'<?xml version="1.0"', "truncated XML: "),
    ],
)
def test_truncated_xml(data: bytes, expected: str) -> None:
    assert reason(data).startswith(expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<html><body>404 Not Found</body></html>", "not a JUnit report: root element <html>"),
        (b'<test-run id="2" testcasecount="1"/>', "not a JUnit report: root element <test-run>"),
        (b"<testcase name='orphan'/>", "not a JUnit report: root element <testcase>"),
        (b"<testsuite/><testsuite/>", "malformed XML: Extra content at the end of the document"),
        (b"not xml at all", "malformed XML: Start tag expected, '<' not found"),
        (bytes(range(256)) * 4, "malformed XML: "),
        (
            b'<testsuite><testcase name="a\x01"/></testsuite>',
            "malformed XML: invalid character in attribute value",
        ),
        (
            b'<testsuite><testcase time="<<computed>>"/></testsuite>',
            "malformed XML: Unescaped '<' not allowed",
        ),
    ],
)
def test_not_junit_or_not_well_formed(data: bytes, expected: str) -> None:
    assert reason(data).startswith(expected)


@pytest.mark.parametrize("data", [b"", b"   \n\t ", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_empty_file(data: bytes) -> None:
    assert reason(data) == "empty file"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            '<testsuite><testcase name="café"/></testsuite>'.encode("latin-1"),
            "Invalid bytes in character encoding",
        ),
        (
            b'<?xml version="1.0" encoding="UTF-8"?><testsuite name="\xff\xfe"/>',
            "Invalid bytes in character encoding",
        ),
        (b'<?xml version="1.0" encoding="bogus-8"?><testsuite/>', "Unsupported encoding: bogus-8"),
        (
            b'<?xml version="1.0" encoding="UTF-16"?><testsuite/>',
            "declares UTF-16 but the bytes are not UTF-16",
        ),
    ],
)
def test_undeclared_or_invalid_encodings(data: bytes, expected: str) -> None:
    message = reason(data)
    assert message.startswith("invalid or undeclared encoding: ")
    assert expected in message


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (
            '<?xml version="1.0" encoding="ISO-8859-1"?><testsuite><testcase name="café"/></testsuite>',
            "latin-1",
        ),
        (
            '<?xml version="1.0" encoding="windows-1252"?><testsuite><testcase name="café"/></testsuite>',
            "cp1252",
        ),
        ('<?xml version="1.0" encoding="UTF-16"?><testsuite><testcase name="café"/></testsuite>', "utf-16"),
        ('<?xml version="1.0" encoding="UTF-8"?><testsuite><testcase name="café"/></testsuite>', "utf-8-sig"),
    ],
)
def test_declared_encodings_are_honoured(data: str, name: str) -> None:
    assert parse_report(data.encode(name)).table["test_name"].to_pylist() == ["café"]


def test_huge_attribute() -> None:
    over_our_cap = b'<testsuite><testcase name="' + b"x" * 100_000 + b'"/></testsuite>'
    assert reason(over_our_cap) == "attribute 'name' of <testcase> over 65536 characters"
    # A 20 MB value stops libxml2 itself before the value is ever handed to Python.
    over_libxml2 = b'<testsuite><testcase classname="c" hostname="' + b"x" * (20 << 20) + b'"/></testsuite>'
    assert reason(over_libxml2).startswith("over libxml2 size limits")
    huge_message = (
        b'<testsuite><testcase name="t"><failure message="' + b"m" * 200_000 + b'"/></testcase></testsuite>'
    )
    assert len(parse_report(huge_message).table["message"][0].as_py()) == 4096  # truncated, not rejected


def test_deep_nesting() -> None:
    assert reason(b"<testsuites>" + b"<testsuite>" * 500 + b"</testsuite>" * 500 + b"</testsuites>") == (
        "<testsuite> nested more than 100 levels deep"
    )


# ---------------------------------------------------------------------------------------------
# Bounded memory, measured in a fresh interpreter

# Peak RSS of the child itself: /proc's VmHWM. ru_maxrss would not do, Linux carries the parent's
# high-water mark (pytest's, hundreds of MB) across fork and exec, hiding any growth below it.
_MEASURE = """
import json, sys
import pandas, pyarrow  # imported before the baseline: their import is not the parser's memory
from observability_assets.core.junit import parse_report

def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

pyarrow.array(["warm-up"])
before = peak_mib()
report = parse_report(sys.argv[1])
after = peak_mib()
stacks = [len(s) for s in report.table["stack_trace"].to_pylist() if s]
print(json.dumps({"rows": report.num_rows, "growth_mib": after - before, "stacks": stacks}))
"""


def measure(path: Path) -> dict:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc (Linux)")
    completed = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True,
    )
    return json.loads(completed.stdout)


@pytest.mark.slow
def test_million_testcase_report_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "million.xml"
    with path.open("w") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="big">\n')
        for start in range(0, 1_000_000, 10_000):
            handle.write(
                "".join(
                    f'<testcase classname="pkg.Cls{i % 100}" name="test_{i}" time="0.001"/>\n'
                    for i in range(start, start + 10_000)
                )
            )
        handle.write("</testsuite>\n")
    result = measure(path)
    assert result["rows"] == 1_000_000
    # The 66 MB file holds about 66 MB of Arrow output; a full lxml tree of it takes ~920 MB.
    assert result["growth_mib"] < 300


@pytest.mark.slow
def test_huge_bodies_stream_through_capped(tmp_path: Path) -> None:
    """60 MB of CDATA system-out and a 30 MB failure body: libxml2 alone would buffer or refuse them."""
    path = tmp_path / "chatty.xml"
    line = b"0123456789 <log> & more ]] text\n" * 32  # 1 KiB
    with path.open("wb") as handle:
        handle.write(b'<testsuite name="s"><testcase classname="c" name="chatty"><system-out><![CDATA[')
        for _ in range(60 * 1024):
            handle.write(line)
        handle.write(b']]></system-out></testcase><testcase classname="c" name="fails"><failure message="m">')
        for _ in range(30 * 1024):
            handle.write(line.replace(b"&", b"&amp;").replace(b"<", b"&lt;"))
        handle.write(b"</failure></testcase></testsuite>")
    result = measure(path)
    assert result["rows"] == 2
    assert result["stacks"] == [16 * 1024]
    assert result["growth_mib"] < 60
