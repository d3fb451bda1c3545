"""Stack traces of the common test runners → frames, the root-cause headline and the probable frame.

Understands Python (pytest long and short tracebacks, plain tracebacks), Java/Kotlin (Surefire,
TestNG, `Caused by:` chains — the last cause is the root), JavaScript/TypeScript (jest, mocha,
node), Go (`go test` `file_test.go:N:` lines and panics), C# (`at X in file:line N`), Ruby
(`file.rb:N:in 'm'`) and a generic `path:line` form (PHP, C/C++, Rust, tsc).

Frames are returned innermost first (where the error was raised), so "the deepest frame inside the
repository" is the first frame whose `in_repo` is true. A frame is outside the repository when it
lives in an installed package (site-packages, node_modules, the Go module cache, gems, vendor/), in
the language runtime (JDK, node internals, GOROOT, CPython) or in the test runner itself.

Pure: no I/O, only `re`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PYTHON, JAVA, JAVASCRIPT, GO, CSHARP, RUBY, GENERIC = (
    "python",
    "java",
    "javascript",
    "go",
    "csharp",
    "ruby",
    "generic",
)


@dataclass(frozen=True)
class Frame:
    file: str  # repository-relative where the CI checkout prefix is recognisable, "/" separators
    function: str | None
    line: int | None
    in_repo: bool


@dataclass(frozen=True)
class ParsedTrace:
    dialect: str | None  # None: nothing recognisable
    headline: str  # root cause "Type: message" (first line of it), or the message
    frames: tuple[Frame, ...]  # innermost first; for Java the root cause's frames come first


@dataclass(frozen=True)
class ProbableFrame:
    frame: Frame | None
    source: str  # "stack" (deepest in-repo frame), "test_file" (fallback) or "none"
    reason: str  # why there is no in-repo frame, "" when source is "stack"


# -- where a path belongs -----------------------------------------------------------------------

# Checkout prefixes of hosted CI runners; what follows is the repository-relative path.
_CHECKOUT = re.compile(
    r"^(?:/home/runner/work/(?P<a>[^/]+)/(?P=a)/|/Users/runner/work/(?P<b>[^/]+)/(?P=b)/|/__w/(?P<c>[^/]+)/(?P=c)/|"
    r"[A-Za-z]:/a/(?P<d>[^/]+)/(?P=d)/|/builds/[^/]+/[^/]+/|/github/workspace/|/workspace/[^/]+/|"
    r"/var/lib/jenkins/workspace/[^/]+/|/home/circleci/project/|/app/|/src/)"
)
_OUTSIDE_PATH = re.compile(
    r"(?:site-packages/|dist-packages/|/lib/python\d|/lib64/python\d|^<|node_modules/|^node:|^internal/[\w/]+\.js$|"
    r"/usr/local/go/|/usr/lib/go|/hostedtoolcache/|/go/pkg/mod/|/pkg/mod/|^runtime/|^testing/|/gems/|/rubies/|/\.rbenv/|"
    r"/ruby/\d|/vendor/|/_pytest/|/pluggy/|^/usr/lib/|/jdk[^/]*/|/Microsoft\.NET/|^\[native code\])"
)
_JAVA_OUTSIDE = re.compile(
    r"^(?:java|javax|jdk|sun|com\.sun|kotlin|kotlinx|scala|org\.junit|junit|org\.testng|org\.apache\.maven|"
    r"org\.gradle|worker\.org\.gradle|org\.hamcrest|org\.assertj|org\.mockito|org\.opentest4j|org\.awaitility|"
    r"android|androidx|dalvik|com\.android|org\.springframework|io\.netty|org\.postgresql|com\.zaxxer|"
    r"okhttp3|reactor|io\.reactivex|com\.fasterxml|com\.google|org\.slf4j|ch\.qos|org\.apache\.(?:commons|http)|"
    r"org\.eclipse|com\.intellij|net\.bytebuddy|org\.spockframework|io\.kotest)\."
)
_CSHARP_OUTSIDE = re.compile(r"^(?:System|Microsoft|NUnit|Xunit|Castle|Moq|FluentAssertions|MSTest)\.")


def repo_relative(path: str) -> str:
    """Forward slashes, without a recognisable CI checkout prefix."""
    path = path.replace("\\", "/").strip()
    if path.startswith("file://"):
        path = path[len("file://") :]
    return _CHECKOUT.sub("", path, count=1)


def path_in_repo(path: str) -> bool:
    return not _OUTSIDE_PATH.search(path.replace("\\", "/"))


# -- the dialects ----------------------------------------------------------------------------------

_PY_TRACEBACK = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (\S+))?', re.M)
_PY_LOCATION = re.compile(
    r"^\s*(\S[^\n]*?\.py):(\d+):(?: in (\S+)| (\w[\w.]*))?[ \t]*$", re.M
)  # pytest long/short
_PY_E_LINE = re.compile(r"^\s*E\s+(\S.*)$", re.M)
_JAVA_AT = re.compile(
    r"^\s*at ([\w$.<>/ -]+?)\.([\w$<>\- ]+)\(((?:[\w$.-]+\.(?:java|kt|kts|scala|groovy|clj))|Native Method|Unknown Source)"
    r"(?::(\d+))?\)\s*$",
    re.M,
)
_JAVA_HEAD = re.compile(
    r"^(?:Caused by: )?((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable|Failure)\b.*)$", re.M
)
_JS_AT = re.compile(r"^\s*at (?:(.+?) \()?((?:[A-Za-z]:)?[^():\s][^()]*?):(\d+):(\d+)\)?\s*$", re.M)
_GO_TESTLINE = re.compile(r"^\s+(\w[\w.-]*\.go):(\d+): (.*)$", re.M)
_GO_PANIC_FRAME = re.compile(r"^(\S[^\n]*)\([^\n]*\)\n\t(\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$", re.M)
_CS_AT = re.compile(r"^\s*at ([\w.`<>\[\]+]+)\.([\w`<>\[\]]+)\(.*?\)(?: in (.+?):line (\d+))?\s*$", re.M)
_RUBY_FRAME = re.compile(r"^\s*(?:# )?((?:\./|/)?[^\s:]+\.rb):(\d+):in [`'](?:[\w:]+[#.])?([^'`]+)'", re.M)
_GENERIC_LOCATION = re.compile(
    r"(?:^|\s|at )((?:[A-Za-z]:)?[\w./\\@-]*\w\.(?:php|phpt|c|cc|cpp|cxx|h|hpp|rs|ts|tsx|js|mjs|cjs|go|py|rb|java|kt|cs|swift|json))"
    r"(?::(\d+)(?::\d+)?|\((\d+)\))"
)
_FILE_LINE = re.compile(r"^File: (\S+)\nLine: (\d+)", re.M)  # CUnit


def parse_stack_trace(
    text: str | None, *, message: str | None = None, test_classname: str | None = None
) -> ParsedTrace:
    """Frames and root-cause headline of one failure; `message` fills in when the trace has none."""
    text = (text or "").replace("\r\n", "\n")
    for markers, parser in _PARSERS:
        if any(m in text for m in markers):
            parsed = parser(text, test_classname)
            if parsed is not None:
                return parsed
    return _generic(text, message)


def _first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _python(text: str, _classname: str | None) -> ParsedTrace | None:
    if _PY_TRACEBACK.search(text):
        frames = [_path_frame(m.group(1), m.group(3), int(m.group(2))) for m in _PY_TRACEBACK.finditer(text)]
        tail = text[list(_PY_TRACEBACK.finditer(text))[-1].end() :]
        exception_lines = [ln for ln in tail.split("\n") if ln and not ln.startswith((" ", "\t"))]
        return ParsedTrace(
            PYTHON, exception_lines[-1].strip() if exception_lines else "", tuple(reversed(frames))
        )
    locations = list(_PY_LOCATION.finditer(text))
    if not locations:
        return None
    frames = []
    for m in locations:
        function = m.group(3)
        if function is None:  # pytest long: "file.py:12: ExcType"; the function is in the code above
            function = _pytest_function(text[: m.start()])
        frames.append(_path_frame(m.group(1), function, int(m.group(2))))
    e_lines = _PY_E_LINE.findall(text)
    headline = e_lines[0].strip() if e_lines else (locations[-1].group(4) or "")
    return ParsedTrace(PYTHON, headline, tuple(reversed(frames)))


_PY_DEF = re.compile(r"^\s*(?:async )?def (\w+)\(", re.M)


def _pytest_function(before: str) -> str | None:
    defs = _PY_DEF.findall(before)
    return defs[-1] if defs else None


def _java(text: str, classname: str | None) -> ParsedTrace | None:
    if not _JAVA_AT.search(text):
        return None
    # The root cause is the last "Caused by:" segment; its frames come first, then the enclosing ones.
    segments = re.split(r"^\s*Caused by: ", text, flags=re.M)
    ordered = list(reversed(segments))
    frames: list[Frame] = []
    for segment in ordered:
        for m in _JAVA_AT.finditer(segment):
            frames.append(_java_frame(m, classname))
    root = ordered[0]
    head = _first_line(root)
    if _JAVA_AT.match(head) or head.startswith("at "):
        head = ""
    return ParsedTrace(JAVA, head, tuple(frames))


def _java_frame(m: re.Match[str], classname: str | None) -> Frame:
    qualified, method, source, line = m.group(1), m.group(2), m.group(3), m.group(4)
    qualified = qualified.rsplit("/", 1)[-1]  # "java.base/java.lang.X" module prefix
    package = qualified.rsplit(".", 1)[0] if "." in qualified else ""
    file_name = source if source and source not in ("Native Method", "Unknown Source") else ""
    file = f"{package.replace('.', '/')}/{file_name}" if package and file_name else file_name or qualified
    in_repo = bool(file_name) and not _JAVA_OUTSIDE.match(qualified)
    root = _package_root(classname)
    if in_repo and root and not _JAVA_OUTSIDE.match(classname or ""):
        in_repo = qualified.startswith(root)
    return Frame(file, f"{qualified.rsplit('.', 1)[-1]}.{method}", int(line) if line else None, in_repo)


def _package_root(classname: str | None) -> str | None:
    """The first two package components of the test class (com.acme.): the organisation's code."""
    if not classname or "." not in classname or "/" in classname or " " in classname:
        return None
    parts = classname.split(".")
    return ".".join(parts[:2]) + "." if len(parts) >= 3 else None


def _javascript(text: str, _classname: str | None) -> ParsedTrace | None:
    matches = list(_JS_AT.finditer(text))
    if not matches:
        return None
    frames = [_path_frame(m.group(2), (m.group(1) or "").strip() or None, int(m.group(3))) for m in matches]
    head = text[: matches[0].start()]
    return ParsedTrace(JAVASCRIPT, _first_line(head), tuple(frames))


def _go(text: str, _classname: str | None) -> ParsedTrace | None:
    if "goroutine " in text and (panics := list(_GO_PANIC_FRAME.finditer(text))):
        frames = [_path_frame(m.group(2), m.group(1), int(m.group(3))) for m in panics]
        panic = re.search(r"^panic: (.*)$", text, re.M)
        return ParsedTrace(GO, panic.group(1).strip() if panic else _first_line(text), tuple(frames))
    lines = list(_GO_TESTLINE.finditer(text))
    if not lines:
        return None
    frames = [_path_frame(m.group(1), None, int(m.group(2))) for m in reversed(lines)]
    return ParsedTrace(GO, lines[-1].group(3).strip(), tuple(frames))


def _csharp(text: str, _classname: str | None) -> ParsedTrace | None:
    matches = [m for m in _CS_AT.finditer(text) if m.group(3)]
    if not matches or " in " not in text or ":line " not in text:
        return None
    frames = []
    for m in _CS_AT.finditer(text):
        qualified, method, path, line = m.group(1), m.group(2), m.group(3), m.group(4)
        file = repo_relative(path) if path else qualified
        in_repo = bool(path) and path_in_repo(file) and not _CSHARP_OUTSIDE.match(qualified)
        frames.append(
            Frame(file, f"{qualified.rsplit('.', 1)[-1]}.{method}", int(line) if line else None, in_repo)
        )
    head = text[: text.find(matches[0].group(0).strip())]
    return ParsedTrace(CSHARP, _first_line(head), tuple(frames))


def _ruby(text: str, _classname: str | None) -> ParsedTrace | None:
    matches = list(_RUBY_FRAME.finditer(text))
    if not matches:
        return None
    frames = [_path_frame(m.group(1).removeprefix("./"), m.group(3), int(m.group(2))) for m in matches]
    head = text[: matches[0].start()]
    return ParsedTrace(RUBY, _first_line(head) or _first_line(text), tuple(frames))


def _generic(text: str, message: str | None) -> ParsedTrace:
    frames = [_path_frame(m.group(1), None, int(m.group(2))) for m in _FILE_LINE.finditer(text)]
    for m in _GENERIC_LOCATION.finditer(text):
        frames.append(_path_frame(m.group(1), None, int(m.group(2) or m.group(3))))
    head = _first_line(message or "") or _first_line(text)
    return ParsedTrace(GENERIC if frames else None, head, tuple(frames))


# (substrings one of which a trace of the dialect contains, its parser): cheap tests first, so a
# trace meets only the regexes of the dialects it might be.
_PARSERS = (
    (('File "', ".py:"), _python),
    ((".java", ".kt", ".scala", ".groovy", ".clj", "Native Method", "Unknown Source"), _java),
    ((":line ",), _csharp),
    (("at ",), _javascript),
    ((".go:",), _go),
    ((".rb:",), _ruby),
)


def _path_frame(path: str, function: str | None, line: int | None) -> Frame:
    file = repo_relative(path)
    return Frame(file, function, line, path_in_repo(file))


# -- the probable frame ---------------------------------------------------------------------------


def probable_frame(trace: ParsedTrace, *, test_file: str | None = None) -> ProbableFrame:
    """The deepest frame inside the repository; else the test's own file; else why there is none."""
    for frame in trace.frames:
        if frame.in_repo:
            return ProbableFrame(frame, "stack", "")
    if trace.frames:
        reason = "every frame is in a dependency, the runtime or the test runner"
    elif trace.dialect is None:
        reason = "no stack frames in the failure text"
    else:
        reason = "no frames"
    if test_file:
        return ProbableFrame(Frame(repo_relative(test_file), None, None, True), "test_file", reason)
    return ProbableFrame(None, "none", reason)


def module_of(file: str) -> str:
    """The module a repository file belongs to: its directory (Java: its package path)."""
    return file.rsplit("/", 1)[0] if "/" in file else ""
