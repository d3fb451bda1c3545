"""Quarantine lists: the quarantined tests of one repository as ids and patterns test runners accept.

Vigil knows a test by its JUnit identity (classname, name, file); each runner selects tests its
own way, so the document carries, next to the plain list, what each runner needs:

* **pytest**: node ids for ``--deselect`` (exact prefixes, awkward parameters included) or for a
  ``conftest.py`` hook that marks them ``xfail(strict=False)`` (runs, but cannot fail the build);
  and a ``-k`` expression, which matches substrings and so may deselect more than listed.
* **jest**: the full test names (describe blocks and title joined by spaces, as jest builds them)
  and a ``--testNamePattern`` that runs every test except those.
* **JUnit** (Maven Surefire, Gradle): ``Class#method`` exclusions for ``-Dtest``, Gradle
  ``excludeTestsMatching`` patterns, and the JUnit 5 tag to exclude with ``excludedGroups`` once
  the listed methods carry it. A parametrised invocation can only be excluded with its method.
* **go test**: a ``-skip`` pattern per test (one level per ``/`` of a subtest name).

Which runner wrote a report is guessed from the identity's shape (a `.py` file, jest's ` › `
describe separator, a Java class name, a Go package path); a test whose shape fits none is listed
by identity only. Pure functions, no I/O: the asset writes the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1
PYTEST, JEST, JUNIT, GO = "pytest", "jest", "junit", "go"
JUNIT5_TAG = "quarantined"
JEST_SEPARATOR = " › "  # jest-junit's ancestorSeparator as most projects configure it

# pytest's -k grammar: ident := (\w|:|\+|-|\.|\[|\]|\\|/)+ (src/_pytest/mark/expression.py).
_PYTEST_K_IDENT = re.compile(r"^[\w:+\-.\[\]\\/]+$")
_PYTEST_K_KEYWORDS = frozenset({"and", "or", "not"})
_JAVA_CLASS = re.compile(r"^(?:[a-z_$][\w$]*\.)+[A-Z_$][\w$]*(?:\$[\w$]+)*$")
_JAVA_METHOD = re.compile(r"^[A-Za-z_$][\w$]*")
_GO_PACKAGE = re.compile(r"^[\w.\-~]+(?:/[\w.\-~]+)+$")
_JS_REGEX_SPECIAL = frozenset("\\^$.*+?()[]{}|/")
_GO_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")


@dataclass(frozen=True)
class QuarantinedTest:
    """One test on the list, with the evidence a developer needs to look into it."""

    test_id: str
    classname: str | None
    test_name: str
    file: str | None
    score: float
    flagged_since: str | None = None  # ISO date
    evidence_shas: tuple[str, ...] = ()
    evidence_run_urls: tuple[str, ...] = ()
    runner: str | None = None  # when known; else guessed from the identity

    def guessed_runner(self) -> str | None:
        return self.runner or guess_runner(self.classname, self.test_name, self.file)


def guess_runner(classname: str | None, test_name: str, file: str | None) -> str | None:
    """pytest, jest, junit or go from the shape of the identity; None when nothing fits."""
    if file and file.endswith(".py"):
        return PYTEST
    if file and file.endswith((".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs")):
        return JEST
    if not classname:
        return None
    if JEST_SEPARATOR in classname:
        return JEST
    # Before Java: `tests.test_mod.TestClass` has the shape of a Java class name too.
    if _python_module_parts(classname.split(".")) is not None:
        return PYTEST
    if _JAVA_CLASS.match(classname):
        return JUNIT
    if _GO_PACKAGE.match(classname) and test_name.startswith(("Test", "Example", "Benchmark", "Fuzz")):
        return GO
    return None


# -- pytest ------------------------------------------------------------------------------------


def _python_module_parts(parts: Sequence[str]) -> int | None:
    """How many leading parts of a dotted classname name the module (the last test_* or *_test)."""
    found = None
    for i, part in enumerate(parts):
        if not part.isidentifier():
            return None
        if part.startswith("test_") or part.endswith("_test") or part in ("test", "tests"):
            found = i + 1
    return found if found and parts[found - 1] not in ("test", "tests") else None


def pytest_node_id(classname: str | None, test_name: str, file: str | None) -> str | None:
    """`path/to/test_mod.py::Class::test_name[param]`, as `--deselect` and pytest's output show it."""
    if file and file.endswith(".py"):
        module = file[: -len(".py")].replace("/", ".")
        classes: list[str] = []
        if classname and classname.startswith(module + "."):
            classes = classname[len(module) + 1 :].split(".")
        return "::".join([file, *classes, test_name])
    if not classname:
        return None
    parts = classname.split(".")
    module_parts = _python_module_parts(parts)
    if module_parts is None:
        return None
    path = "/".join(parts[:module_parts]) + ".py"
    return "::".join([path, *parts[module_parts:], test_name])


def pytest_k_expression(test_names: Iterable[str]) -> str | None:
    """`not (a or b)` over the names -k can express; None when none can.

    -k matches case-insensitive substrings of names, so `not test_x` also drops `test_x_y`: use
    the node ids when that matters. Names with quotes, spaces and the like cannot be written.
    """
    names = sorted(
        {n for n in test_names if _PYTEST_K_IDENT.match(n) and n.lower() not in _PYTEST_K_KEYWORDS}
    )
    if not names:
        return None
    return f"not ({' or '.join(names)})"


# -- jest --------------------------------------------------------------------------------------


def jest_full_name(classname: str | None, test_name: str) -> str:
    """The name jest matches `--testNamePattern` against: describe titles and title, space-joined.

    jest-junit's default templates write that full name as both classname and name; projects that
    set `classNameTemplate: "{classname}"` and `titleTemplate: "{title}"` split it in two.
    """
    if not classname or test_name.startswith(classname):
        return test_name
    return " ".join([*classname.split(JEST_SEPARATOR), test_name])


def js_regex_escape(text: str) -> str:
    return "".join("\\" + ch if ch in _JS_REGEX_SPECIAL else ch for ch in text)


def jest_skip_pattern(full_names: Iterable[str]) -> str | None:
    """A `--testNamePattern` that matches every full name except the listed ones (exactly)."""
    names = sorted(set(full_names))
    if not names:
        return None
    return "^(?!(?:" + "|".join(js_regex_escape(n) for n in names) + ")$)"


# -- JUnit (Surefire, Gradle, JUnit 5 tags) -----------------------------------------------------


def junit_method(test_name: str) -> str | None:
    """The Java method of a (possibly parametrised) JUnit name: `parse(String)[1] x` -> `parse`."""
    match = _JAVA_METHOD.match(test_name)
    return match.group(0) if match else None


def surefire_exclusion(classname: str, method: str) -> str:
    """One `-Dtest` term excluding a method: `!com.acme.FooTest#method`."""
    return f"!{classname}#{method}"


def gradle_exclusion(classname: str, method: str) -> str:
    """A Gradle `filter.excludeTestsMatching` pattern: `com.acme.FooTest.method`."""
    return f"{classname}.{method}"


# -- go test -----------------------------------------------------------------------------------


def go_skip_pattern(test_name: str) -> str:
    """`go test -skip` for exactly this (sub)test: one anchored, quoted element per `/` level."""
    return "/".join(
        "^" + "".join("\\" + c if c in _GO_REGEX_SPECIAL else c for c in p) + "$"
        for p in test_name.split("/")
    )


# -- the document ------------------------------------------------------------------------------


def quarantine_document(
    repo: str,
    tests: Sequence[QuarantinedTest],
    *,
    as_of: str | None,
    generated_at: str,
    window_days: int,
) -> dict[str, Any]:
    """The JSON document of one repository's quarantine list (deterministic order)."""
    ordered = sorted(tests, key=lambda t: (t.classname or "", t.test_name, t.test_id))
    entries, node_ids, k_names, jest_names, surefire, gradle, go_tests = [], [], [], [], [], [], []
    for test in ordered:
        runner = test.guessed_runner()
        entry: dict[str, Any] = {
            "test_id": test.test_id,
            "classname": test.classname,
            "test_name": test.test_name,
            "file": test.file,
            "runner": runner,
            "score": round(test.score, 4),
            "flagged_since": test.flagged_since,
            "evidence": {"commits": list(test.evidence_shas), "runs": list(test.evidence_run_urls)},
        }
        if runner == PYTEST and (node_id := pytest_node_id(test.classname, test.test_name, test.file)):
            entry["pytest_node_id"] = node_id
            node_ids.append(node_id)
            k_names.append(test.test_name)
        elif runner == JEST:
            entry["jest_full_name"] = jest_full_name(test.classname, test.test_name)
            jest_names.append(entry["jest_full_name"])
        elif runner == JUNIT and test.classname and (method := junit_method(test.test_name)):
            entry["junit_method"] = f"{test.classname}#{method}"
            surefire.append(surefire_exclusion(test.classname, method))
            gradle.append(gradle_exclusion(test.classname, method))
        elif runner == GO and test.classname:
            entry["go_skip"] = go_skip_pattern(test.test_name)
            go_tests.append({"package": test.classname, "skip": entry["go_skip"]})
        entries.append(entry)
    return {
        "schema_version": SCHEMA_VERSION,
        "repo": repo,
        "as_of": as_of,
        "window_days": window_days,
        "generated_at": generated_at,
        "generator": "vigil (marts.flaky_scores, status quarantined)",
        "tests": entries,
        PYTEST: {"deselect": sorted(set(node_ids)), "k_expression": pytest_k_expression(k_names)},
        JEST: {"full_names": sorted(set(jest_names)), "test_name_pattern": jest_skip_pattern(jest_names)},
        JUNIT: {
            "surefire_test": ", ".join(sorted(set(surefire))) or None,
            "gradle_exclude_patterns": sorted(set(gradle)),
            "junit5_tag": JUNIT5_TAG,
            "junit5_excluded_groups": f"-DexcludedGroups={JUNIT5_TAG}",
        },
        GO: {"tests": sorted(go_tests, key=lambda t: (t["package"], t["skip"]))},
    }


def quarantine_file_name(repo: str) -> str:
    """`owner__name.json` for `owner/name`; anything but letters, digits, `._-` becomes `_`."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", repo.replace("/", "__")) + ".json"
