"""Guarded extraction of report files from zip archives (CI artifacts), without touching disk.

Every member is either yielded as an `ArchiveMember` (read through a counting stream) or
reported as a `Rejection` with the reason. Nothing is trusted from the headers alone: sizes are
pre-checked from the central directory, then enforced again while decompressing, so a member
whose header lies still stops at the caps. Members are never written to the file system, so a
zip-slip name could do no harm here; such names are still rejected because no honest CI tool
writes them, and the reason tells the operator that someone tried.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from observability_assets.core.errors import RejectedInput, Rejection

MiB = 1 << 20
GiB = 1 << 30

# Names of archive formats inside an artifact: not opened (a bomb can nest them), but reported.
_NESTED_ARCHIVE = re.compile(
    r"\.(zip|jar|war|ear|apk|aar|whl|tar|tgz|gz|bz2|tbz2|xz|txz|zst|lz4|7z|rar)$", re.IGNORECASE
)
# Leading bytes of zip, gzip, bzip2, xz, zstd, 7z and rar: a "report.xml" that is really one.
_ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x28\xb5\x2f\xfd",
    b"7z\xbc\xaf",
    b"Rar!",
)
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps for one archive. Real JUnit XML compresses 7-25x; bombs compress 1,000x and more."""

    max_members: int = 10_000
    # zipfile reads the whole central directory into memory; honest entries take ~100-300 bytes.
    max_directory_bytes: int = 16 * MiB
    max_member_bytes: int = 256 * MiB
    max_total_bytes: int = 1 * GiB
    max_ratio: float = 100.0
    # Below this many uncompressed bytes the ratio is not checked: tiny files of blank lines
    # compress absurdly well and are harmless.
    ratio_floor_bytes: int = 1 * MiB
    read_chunk_bytes: int = 1 * MiB


@dataclass(frozen=True)
class ArchiveMember:
    """A member that passed the header checks; `open` streams it through the running caps.

    The archive stays open as long as a member (or the iterator) references it.
    """

    name: str
    declared_size: int
    _archive: zipfile.ZipFile = field(repr=False, compare=False)
    _info: zipfile.ZipInfo = field(repr=False, compare=False)
    _budget: _Budget = field(repr=False, compare=False)
    _limits: ArchiveLimits = field(repr=False, compare=False)

    def open(self) -> BinaryIO:
        """Stream of the decompressed bytes; `read` raises `RejectedInput` past any cap."""
        try:
            raw = self._archive.open(self._info)
        except NotImplementedError as error:
            raise RejectedInput(f"unsupported compression in member: {error}") from None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
            raise RejectedInput(f"corrupt archive member: {error}") from None
        return _GuardedReader(raw, self._info.compress_size, self._budget, self._limits)

    def read_bytes(self) -> bytes:
        """The whole member (convenient for small files; prefer `open` for reports)."""
        with self.open() as stream:
            return stream.read()


def iter_zip_reports(
    zip_source: Path | str | bytes | BinaryIO,
    *,
    pattern: str = "**/*.xml",
    limits: ArchiveLimits = ArchiveLimits(),
    archive_name: str = "<archive>",
) -> Iterator[ArchiveMember | Rejection]:
    """Members of a zip whose path matches the glob `pattern`, and rejections with reasons.

    Rejected, whatever the pattern: unsafe paths (absolute, drive letters, "..", backslashes,
    NUL), symlinks and nested archives. Rejected when matching: encrypted members and members
    over the size or compression-ratio caps. A corrupt or oversized archive gives a single
    rejection named `archive_name`. `zip_source` must be seekable (zip keeps its index at the end).
    """
    matches = _glob_regex(pattern).fullmatch
    try:
        archive = _open_archive(zip_source, limits)
    except RejectedInput as rejected:
        yield Rejection(archive_name, rejected.reason)
        return
    budget = _Budget(limits.max_total_bytes)
    for info in archive.infolist():
        if info.is_dir():
            continue
        reason = _unsafe_member(info) or _nested_archive(info.filename)
        if reason:
            yield Rejection(info.filename, reason)
        elif matches(info.filename):
            reason = _member_over_limits(info, limits)
            if reason:
                yield Rejection(info.filename, reason)
                continue
            member = ArchiveMember(info.filename, info.file_size, archive, info, budget, limits)
            reason = _disguised_archive(member)
            yield Rejection(info.filename, reason) if reason else member


def _open_archive(source: Path | str | bytes | BinaryIO, limits: ArchiveLimits) -> zipfile.ZipFile:
    """Open after checking the entry count; the ZipFile closes a file it opened when collected."""
    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as handle:
                _check_directory_size(handle, limits)
            archive = zipfile.ZipFile(source)
        else:
            stream = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
            _check_directory_size(stream, limits)
            archive = zipfile.ZipFile(stream)  # a caller's stream stays open: ZipFile does not own it
    except RejectedInput:
        raise
    except OSError as error:
        if isinstance(source, str | Path):
            raise RejectedInput(f"cannot read archive: {error.strerror or error}") from None
        raise RejectedInput(f"corrupt or not a zip archive: {error}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        raise RejectedInput(f"corrupt or not a zip archive: {error}") from None
    if len(archive.infolist()) > limits.max_members:  # the end record understated the count
        raise RejectedInput(
            f"archive holds {len(archive.infolist())} members, over the {limits.max_members} cap"
        )
    return archive


# ---------------------------------------------------------------------------------------------
# Checks on names and headers


def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    # zipfile rewrites os.sep to "/" on Windows only; orig_filename keeps what the archive says.
    name = info.orig_filename
    if not name or "\x00" in name:
        return "unsafe path: empty name or NUL byte"
    if "\\" in name:
        return "unsafe path: backslash in member name (possible zip-slip)"
    if name.startswith("/"):
        return "unsafe path: absolute member name (zip-slip)"
    if _DRIVE_LETTER.match(name):
        return "unsafe path: drive letter in member name (zip-slip)"
    if ".." in name.split("/"):
        return "unsafe path: '..' in member name (zip-slip)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symlink member not followed"
    return None


def _nested_archive(name: str) -> str | None:
    if _NESTED_ARCHIVE.search(name):
        return "nested archive not extracted"
    return None


def _member_over_limits(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted member"
    if info.file_size > limits.max_member_bytes:
        return f"member declares {info.file_size} bytes uncompressed, over the {limits.max_member_bytes}-byte cap"
    if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
        info.compress_size, 1
    ):
        ratio = info.file_size / max(info.compress_size, 1)
        return f"compression ratio {ratio:.0f}x over the {limits.max_ratio:.0f}x cap (possible zip bomb)"
    return None


def _disguised_archive(member: ArchiveMember) -> str | None:
    """A matching name with archive bytes inside (e.g. a zip renamed to report.xml)."""
    try:
        with member.open() as stream:
            head = stream.read(8)
    except RejectedInput as rejected:
        return rejected.reason
    if head.startswith(_ARCHIVE_MAGIC):
        return "nested archive not extracted (archive content under a report name)"
    return None


def _check_directory_size(handle: BinaryIO, limits: ArchiveLimits) -> None:
    """Refuse a huge archive directory before zipfile loads all of it into memory."""
    declared = _declared_directory(handle)
    if declared is None:
        return  # no end record: zipfile will say what is wrong
    entries, directory_bytes = declared
    if entries > limits.max_members:
        raise RejectedInput(f"archive declares {entries} members, over the {limits.max_members} cap")
    if directory_bytes > limits.max_directory_bytes:
        raise RejectedInput(
            f"archive directory of {directory_bytes} bytes, over the {limits.max_directory_bytes}-byte cap"
        )


_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def _declared_directory(handle: BinaryIO) -> tuple[int, int] | None:
    """(entries, directory bytes) from the end-of-central-directory record, zip64 aware."""
    end = handle.seek(0, io.SEEK_END)
    tail_start = max(0, end - (22 + 0xFFFF + 20))  # record + longest comment + zip64 locator
    handle.seek(tail_start)
    tail = handle.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    entries, directory_bytes = struct.unpack_from("<HI", tail, at + 10)
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
        (zip64_offset,) = struct.unpack_from("<Q", tail, locator + 8)
        handle.seek(zip64_offset)
        record = handle.read(56)
        if len(record) == 56 and record.startswith(_ZIP64_EOCD):
            entries, directory_bytes = struct.unpack_from("<QQ", record, 32)
    return entries, directory_bytes


# ---------------------------------------------------------------------------------------------
# Streaming under the caps


class _Budget:
    """Decompressed bytes left for the whole archive, shared by its members."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.total = total


class _GuardedReader(io.RawIOBase):
    """Counts decompressed bytes and stops past the member, archive and ratio caps.

    Header sizes are not trusted: the counts are of bytes actually produced by the decompressor.
    """

    def __init__(self, raw: BinaryIO, compressed_size: int, budget: _Budget, limits: ArchiveLimits) -> None:
        super().__init__()
        self._raw = raw
        self._compressed_size = max(compressed_size, 1)
        self._budget = budget
        self._limits = limits
        self._produced = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self._read_all()
        # Never ask the decompressor for more than one step past the member cap.
        size = min(size, self._limits.max_member_bytes + 1 - self._produced, self._limits.read_chunk_bytes)
        try:
            data = self._raw.read(max(size, 1))
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
            raise RejectedInput(f"corrupt archive member: {error}") from None
        self._account(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()

    def _read_all(self) -> bytes:
        parts = []
        while chunk := self.read(self._limits.read_chunk_bytes):
            parts.append(chunk)
        return b"".join(parts)

    def _account(self, produced: int) -> None:
        limits = self._limits
        self._produced += produced
        self._budget.remaining -= produced
        if self._produced > limits.max_member_bytes:
            raise RejectedInput(
                f"member decompresses to over {limits.max_member_bytes} bytes (header said less)"
            )
        if self._budget.remaining < 0:
            raise RejectedInput(f"archive decompresses to over {self._budget.total} bytes in total")
        if (
            self._produced > limits.ratio_floor_bytes
            and self._produced > limits.max_ratio * self._compressed_size
        ):
            raise RejectedInput(
                f"compression ratio over the {limits.max_ratio:.0f}x cap while decompressing (possible zip bomb)"
            )


# ---------------------------------------------------------------------------------------------
# Helpers


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Glob with "**" (any number of directories, including none), "*" and "?" within one name."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:[^/]*/)*")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))
