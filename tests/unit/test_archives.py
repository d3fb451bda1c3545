"""Guarded zip extraction: hostile archives give reasons, honest ones give readable members."""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from observability_assets.core.archives import (
    ArchiveLimits,
    ArchiveMember,
    _GuardedReader,
    iter_zip_reports,
)
from observability_assets.core.errors import RejectedInput, Rejection
from observability_assets.core.junit import parse_many

REPORT = b'<testsuite name="s"><testcase classname="c" name="t" time="0.1"/></testsuite>'


def make_zip(
    members: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data, compress_type=compression)
    return buffer.getvalue()


def split(items: list) -> tuple[list[ArchiveMember], dict[str, str]]:
    members = [item for item in items if isinstance(item, ArchiveMember)]
    rejections = {item.path: item.reason for item in items if isinstance(item, Rejection)}
    return members, rejections


def scan(data: bytes, **kwargs: object) -> tuple[list[ArchiveMember], dict[str, str]]:
    return split(list(iter_zip_reports(data, **kwargs)))


def test_good_zip_yields_matching_members_as_streams(tmp_path: Path) -> None:
    data = make_zip(
        [
            ("build/test-results/test/TEST-com.acme.A.xml", REPORT),
            ("build/test-results/test/TEST-com.acme.B.xml", REPORT.replace(b'"t"', b'"u"')),
            ("top.xml", REPORT),
            ("build/reports/index.html", b"<html/>"),
            ("build/", b""),
        ]
    )
    members, rejections = scan(data)
    assert rejections == {}
    assert [m.name for m in members] == [
        "build/test-results/test/TEST-com.acme.A.xml",
        "build/test-results/test/TEST-com.acme.B.xml",
        "top.xml",  # "**/" also matches no directory at all
    ]
    assert members[0].read_bytes() == REPORT
    assert members[0].declared_size == len(REPORT)

    only_gradle, _ = scan(data, pattern="build/**/TEST-*.xml")
    assert [m.name for m in only_gradle] == [m.name for m in members[:2]]
    top_level, _ = scan(data, pattern="*.xml")
    assert [m.name for m in top_level] == ["top.xml"]

    # Every kind of source, and the members feed the parser without touching disk.
    path = tmp_path / "artifact.zip"
    path.write_bytes(data)
    stream = io.BytesIO(data)
    for source in (data, path, str(path), stream):
        batch = parse_many((m.name, m) for m in iter_zip_reports(source) if isinstance(m, ArchiveMember))
        assert batch.table["test_name"].to_pylist() == ["t", "u", "t"]
    assert not stream.closed  # the caller's stream stays the caller's


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/cron.d/evil.xml", "unsafe path: '..' in member name (zip-slip)"),
        ("reports/../../evil.xml", "unsafe path: '..' in member name (zip-slip)"),
        ("/etc/evil.xml", "unsafe path: absolute member name (zip-slip)"),
        ("C:/Windows/evil.xml", "unsafe path: drive letter in member name (zip-slip)"),
        ("reports\\..\\..\\evil.xml", "unsafe path: backslash in member name (possible zip-slip)"),
    ],
)
def test_zip_slip_names_are_rejected_and_the_rest_still_loads(name: str, expected: str) -> None:
    members, rejections = scan(make_zip([(name, REPORT), ("ok/report.xml", REPORT)]))
    assert rejections == {name: expected}
    assert [m.name for m in members] == ["ok/report.xml"]


def test_symlink_member_is_rejected() -> None:
    link = zipfile.ZipInfo("reports/TEST-link.xml")
    link.create_system = 3  # Unix
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    members, rejections = scan(make_zip([(link, b"/etc/passwd"), ("reports/TEST-real.xml", REPORT)]))
    assert rejections == {"reports/TEST-link.xml": "symlink member not followed"}
    assert [m.name for m in members] == ["reports/TEST-real.xml"]


def test_nested_archives_are_reported_not_opened() -> None:
    inner = make_zip([("TEST-inner.xml", REPORT)])
    members, rejections = scan(
        make_zip(
            [
                ("reports/more-reports.zip", inner),
                ("reports/app.jar", inner),
                ("reports/logs.tar.gz", gzip.compress(b"x")),
                ("reports/TEST-disguised.xml", inner),
                ("reports/TEST-gzipped.xml", gzip.compress(REPORT)),
            ]
        )
    )
    assert members == []
    assert rejections == {
        "reports/more-reports.zip": "nested archive not extracted",
        "reports/app.jar": "nested archive not extracted",
        "reports/logs.tar.gz": "nested archive not extracted",
        "reports/TEST-disguised.xml": "nested archive not extracted (archive content under a report name)",
        "reports/TEST-gzipped.xml": "nested archive not extracted (archive content under a report name)",
    }


def test_compression_ratio_bomb_is_rejected_from_the_header() -> None:
    bomb = b"\0" * (64 << 20)  # 64 MiB of zeros deflate to ~64 KiB: ratio ~1000x
    members, rejections = scan(make_zip([("bomb.xml", bomb), ("ok.xml", REPORT)]))
    assert [m.name for m in members] == ["ok.xml"]
    assert rejections["bomb.xml"].startswith("compression ratio")
    assert "over the 100x cap (possible zip bomb)" in rejections["bomb.xml"]


def test_small_highly_compressible_member_is_fine() -> None:
    blank = REPORT + b" " * 500_000  # 300x, but only half a MiB
    members, rejections = scan(make_zip([("padded.xml", blank)]))
    assert rejections == {}
    assert members[0].read_bytes() == blank


def test_absolute_size_caps() -> None:
    incompressible = os.urandom(3 << 20)
    limits = ArchiveLimits(max_member_bytes=2 << 20)
    members, rejections = scan(make_zip([("big.xml", incompressible), ("ok.xml", REPORT)]), limits=limits)
    assert rejections == {
        "big.xml": f"member declares {3 << 20} bytes uncompressed, over the {2 << 20}-byte cap"
    }
    assert [m.name for m in members] == ["ok.xml"]


def test_total_size_is_enforced_while_streaming() -> None:
    """Each member is under its cap; the third one crosses the archive's total as it is read."""
    report = REPORT[:-12] + b"<!--" + os.urandom(200_000).hex().encode() + b"-->" + REPORT[-12:]
    limits = ArchiveLimits(max_total_bytes=1 << 20)
    items = list(iter_zip_reports(make_zip([(f"r{i}.xml", report) for i in range(3)]), limits=limits))
    assert all(isinstance(item, ArchiveMember) for item in items)  # headers alone look fine
    batch = parse_many((m.name, m) for m in items)
    assert batch.table["report_path"].to_pylist() == ["r0.xml", "r1.xml"]
    assert [(r.path, r.reason) for r in batch.rejections] == [
        ("r2.xml", f"archive decompresses to over {1 << 20} bytes in total")
    ]


def test_header_that_understates_the_size_does_not_let_more_through() -> None:
    """Patch both headers to claim 100 bytes for 2 MiB of data: reading stops, the CRC fails."""
    payload = REPORT + b" " * (2 << 20)
    data = bytearray(make_zip([("liar.xml", payload), ("ok.xml", REPORT)]))
    real = struct.pack("<I", len(payload))
    for offset in (i for i in range(len(data) - 3) if data[i : i + 4] == real):
        data[offset : offset + 4] = struct.pack("<I", 100)
    members, rejections = scan(bytes(data))
    assert rejections == {"liar.xml": "corrupt archive member: Bad CRC-32 for file 'liar.xml'"}
    assert [m.name for m in members] == ["ok.xml"]


def test_guarded_reader_stops_past_caps_whatever_the_stream_says() -> None:
    """The counting reader itself: a decompressor that keeps producing is cut off at the caps."""

    class Budget:
        remaining = total = 1 << 30

    endless = io.BytesIO(b"x" * (8 << 20))
    limits = ArchiveLimits(max_member_bytes=4 << 20, max_ratio=100.0)
    by_size = _GuardedReader(endless, 1 << 20, Budget(), limits)  # 1 MiB compressed: ratio stays low
    with pytest.raises(RejectedInput, match="member decompresses to over 4194304 bytes"):
        by_size.read()
    by_ratio = _GuardedReader(io.BytesIO(b"x" * (8 << 20)), 1000, Budget(), limits)
    with pytest.raises(RejectedInput, match="compression ratio over the 100x cap while decompressing"):
        while by_ratio.read(64 * 1024):
            pass


def test_too_many_members_rejects_the_archive_before_reading_its_directory() -> None:
    data = make_zip([(f"r{i}.xml", REPORT) for i in range(50)])
    items = list(iter_zip_reports(data, limits=ArchiveLimits(max_members=10), archive_name="artifact-1.zip"))
    assert items == [Rejection("artifact-1.zip", "archive declares 50 members, over the 10 cap")]


def test_end_record_that_understates_the_directory_is_caught() -> None:
    data = bytearray(make_zip([(f"r{i}.xml", REPORT) for i in range(50)]))
    end_record = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end_record + 8, 1, 1)  # claim a single entry
    assert list(
        iter_zip_reports(bytes(data), limits=ArchiveLimits(max_members=10), archive_name="a.zip")
    ) == [Rejection("a.zip", "archive holds 50 members, over the 10 cap")]
    directory_bytes = struct.unpack_from("<I", data, end_record + 12)[0]
    limits = ArchiveLimits(max_directory_bytes=directory_bytes - 1)
    assert list(iter_zip_reports(bytes(data), limits=limits, archive_name="a.zip")) == [
        Rejection(
            "a.zip", f"archive directory of {directory_bytes} bytes, over the {directory_bytes - 1}-byte cap"
        )
    ]


def test_encrypted_member_is_rejected() -> None:
    data = bytearray(make_zip([("secret.xml", REPORT), ("ok.xml", REPORT)], compression=zipfile.ZIP_STORED))
    # Set the "encrypted" flag bit on the first member in both its local and central headers.
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        data[position + flag_offset] |= 0x1
    members, rejections = scan(bytes(data))
    assert rejections == {"secret.xml": "encrypted member"}
    assert [m.name for m in members] == ["ok.xml"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not a zip file at all",
        os.urandom(4096),
        make_zip([("a.xml", REPORT)])[:40],  # cut before the central directory
    ],
)
def test_corrupt_archive_is_one_rejection(data: bytes) -> None:
    items = list(iter_zip_reports(data, archive_name="artifact.zip"))
    assert len(items) == 1
    assert items[0].path == "artifact.zip"
    assert items[0].reason.startswith("corrupt or not a zip archive: ")


def test_corrupt_member_data_is_a_member_rejection() -> None:
    data = bytearray(make_zip([("a.xml", REPORT * 50), ("b.xml", REPORT)]))
    start = data.find(b"PK\x03\x04") + 30 + len("a.xml")
    data[start + 10 : start + 40] = b"\xff" * 30  # scribble over a's deflate stream
    rejected: list[Rejection] = []

    def members() -> Iterator[tuple[str, ArchiveMember]]:  # what a loader does with the mixed stream
        for item in iter_zip_reports(bytes(data)):
            if isinstance(item, Rejection):
                rejected.append(item)
            else:
                yield item.name, item

    batch = parse_many(members())
    assert batch.table["report_path"].to_pylist() == ["b.xml"]
    rejected.extend(batch.rejections)
    assert [r.path for r in rejected] == ["a.xml"]
    assert rejected[0].reason.startswith("corrupt archive member: ")


def test_missing_archive_file(tmp_path: Path) -> None:
    items = list(iter_zip_reports(tmp_path / "nope.zip", archive_name="nope.zip"))
    assert items == [Rejection("nope.zip", "cannot read archive: No such file or directory")]
