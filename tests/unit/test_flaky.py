"""core.flaky (decision and hysteresis), core.flaky_quarantine (runner patterns, checked against the
real pytest and node where they are installed) and core.flaky_quality (scoring against labels)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from observability_assets.core import flaky_quarantine as q
from observability_assets.core.flaky import (
    BROKEN,
    CLEARED_EVENT,
    FLAGGED_EVENT,
    FLAKY,
    QUARANTINED,
    STABLE,
    FlakyPolicy,
    FlakyState,
    WindowSignals,
    decide,
    evidence,
    is_broken,
    score,
)
from observability_assets.core.flaky_quality import label_id, measure
from observability_assets.core.junit import test_id as identity

DAY = date(2026, 10, 20)
POLICY = FlakyPolicy()


def signals(
    runs: int = 200,
    failures: int = 0,
    flaky_commits: int = 0,
    isolated: int = 0,
    nondeterministic: int | None = None,
    clean_runs: int | None = None,
    broken_commits: int = 0,
    broken_failures: int = 0,
) -> WindowSignals:
    return WindowSignals(
        runs=runs,
        failures=failures,
        flaky_commits=flaky_commits,
        isolated_failures=isolated,
        nondeterministic_failures=failures if nondeterministic is None else nondeterministic,
        clean_runs=runs if clean_runs is None else clean_runs,
        broken_commits=broken_commits,
        broken_failures=broken_failures,
    )


# ---------------------------------------------------------------------------------------------
# Signals and decisions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "expected_score", "expected_evidence"),
    [
        (signals(runs=0), 0.0, 0),
        (signals(runs=200, failures=10, flaky_commits=8), 0.05, 8),
        (signals(runs=200, failures=10, flaky_commits=1, isolated=2, nondeterministic=4), 0.02, 3),
        # A broken test: failures, none of them non-deterministic.
        (signals(runs=100, failures=40, nondeterministic=0, broken_commits=12, broken_failures=40), 0.0, 0),
    ],
)
def test_score_is_the_share_of_nondeterministic_failures(window, expected_score, expected_evidence) -> None:
    assert score(window) == pytest.approx(expected_score)
    assert evidence(window) == expected_evidence


@pytest.mark.parametrize(
    ("window", "status"),
    [
        (signals(runs=200, failures=4, flaky_commits=3), FLAKY),  # score 0.02, 3 commits
        (signals(runs=200, failures=2, flaky_commits=2), FLAKY),  # exactly the thresholds
        (signals(runs=200, failures=1, flaky_commits=1), STABLE),  # one flip is not enough evidence
        # Few runs are no reason to wait: four commits that both passed and failed are proof.
        (signals(runs=19, failures=5, flaky_commits=4), QUARANTINED),
        (signals(runs=19, failures=1, isolated=1), STABLE),  # one lone failure is not evidence
        (signals(runs=1000, failures=5, flaky_commits=3), STABLE),  # score 0.005 < flag_score
        (signals(runs=200, failures=40, nondeterministic=0, broken_commits=10, broken_failures=40), BROKEN),
    ],
)
def test_flagging_needs_score_and_evidence(window: WindowSignals, status: str) -> None:
    decision = decide(FlakyState(), window, DAY, POLICY)
    flagged = status in (FLAKY, QUARANTINED)
    assert decision.state.flagged is flagged
    assert decision.event == (FLAGGED_EVENT if flagged else None)
    assert decision.status == status


def test_a_flag_holds_between_the_thresholds_and_clears_only_with_clean_runs() -> None:
    state = decide(FlakyState(), signals(failures=6, flaky_commits=5), DAY, POLICY).state
    assert state.flagged and state.flagged_since == DAY and state.first_flagged_on == DAY

    # Score between clear (0.005) and flag (0.01): still flagged, no event.
    between = decide(state, signals(runs=400, failures=3, flaky_commits=2), DAY + timedelta(1), POLICY)
    assert between.state.flagged and between.event is None and between.status == FLAKY

    # Score below clear but the last failure was recent: still flagged.
    recent = signals(runs=400, failures=1, flaky_commits=1, clean_runs=POLICY.clear_clean_runs - 1)
    assert decide(state, recent, DAY + timedelta(2), POLICY).state.flagged

    # Below clear and enough clean runs: cleared, with the day recorded.
    quiet = signals(runs=400, failures=1, flaky_commits=1, clean_runs=POLICY.clear_clean_runs)
    cleared = decide(state, quiet, DAY + timedelta(3), POLICY)
    assert cleared.event == CLEARED_EVENT and cleared.status == STABLE
    assert cleared.state == FlakyState(first_flagged_on=DAY, last_cleared_on=DAY + timedelta(3))

    # Flagged again later: a new episode, the first flag day is kept.
    again = decide(cleared.state, signals(failures=6, flaky_commits=5), DAY + timedelta(9), POLICY)
    assert again.state.flagged_since == DAY + timedelta(9) and again.state.first_flagged_on == DAY


def test_a_score_that_oscillates_between_the_thresholds_never_flaps() -> None:
    state, events = FlakyState(), []
    for day in range(60):
        # Alternates 0.0125 and 0.006: above flag, then between clear and flag.
        failures = 5 if day % 2 == 0 else 3
        window = signals(runs=400, failures=failures, flaky_commits=failures - 1, clean_runs=10)
        decision = decide(state, window, DAY + timedelta(day), POLICY)
        state = decision.state
        events.append(decision.event)
    assert [e for e in events if e] == [FLAGGED_EVENT]


def test_quarantine_follows_a_high_score_and_lasts_until_the_flag_clears() -> None:
    high = signals(runs=100, failures=8, flaky_commits=6)  # score 0.08 >= 0.05
    state = decide(FlakyState(), high, DAY, POLICY).state
    assert state.quarantined
    lower = decide(state, signals(runs=200, failures=3, flaky_commits=3), DAY + timedelta(1), POLICY)
    assert lower.status == QUARANTINED  # sticky within the episode
    quiet = signals(runs=400, failures=0, clean_runs=400)
    assert decide(lower.state, quiet, DAY + timedelta(2), POLICY).state == FlakyState(
        first_flagged_on=DAY, last_cleared_on=DAY + timedelta(2)
    )
    # A low-score flag is flaky, not quarantined.
    assert decide(FlakyState(), signals(failures=4, flaky_commits=3), DAY, POLICY).status == FLAKY


@pytest.mark.parametrize(
    ("broken_commits", "broken_failures", "expected"),
    # Three jobs with two reruns each on one commit: broken; two commits built once: not yet.
    [(1, 9, True), (2, 6, True), (5, 15, True), (2, 4, False), (1, 3, False), (0, 0, False)],
)
def test_broken_means_the_latest_default_branch_commits_only_failed(
    broken_commits, broken_failures, expected
):
    window = signals(failures=broken_failures, nondeterministic=0, broken_commits=broken_commits,
                     broken_failures=broken_failures)  # fmt: skip
    assert is_broken(window, POLICY) is expected
    assert decide(FlakyState(), window, DAY, POLICY).status == (BROKEN if expected else STABLE)


def test_broken_wins_over_a_flag_without_changing_it() -> None:
    flagged = FlakyState(flagged=True, flagged_since=DAY, first_flagged_on=DAY)
    window = signals(runs=200, failures=30, flaky_commits=3, nondeterministic=4, broken_commits=4,
                     broken_failures=12, clean_runs=0)  # fmt: skip
    decision = decide(flagged, window, DAY + timedelta(1), POLICY)
    assert decision.status == BROKEN
    assert decision.state.flagged


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_days": 0},
        {"flag_score": 0.01, "clear_score": 0.02},
        {"significance": 0},
        {"significance": 1},
        {"break_rate": 0},
        {"lookback_days": 0},
        {"broken_min_commits": 0},
    ],
)
def test_policy_rejects_settings_without_hysteresis_or_sense(kwargs) -> None:
    with pytest.raises(ValueError):
        FlakyPolicy(**kwargs)


# ---------------------------------------------------------------------------------------------
# Quarantine patterns
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classname", "name", "file", "expected"),
    [
        ("tests.test_report", "test_roundtrip", "tests/test_report.py", "tests/test_report.py::test_roundtrip"),
        ("tests.test_report.TestApi", "test_get[a-b]", "tests/test_report.py",
         "tests/test_report.py::TestApi::test_get[a-b]"),
        ("tests.test_report", 'test_parse[a-"b"]', None, 'tests/test_report.py::test_parse[a-"b"]'),
        ("pkg.api_test.TestX", "test_y", None, "pkg/api_test.py::TestX::test_y"),
        ("com.acme.FooTest", "shouldWork", None, None),
        (None, "test_x", None, None),
    ],
)  # fmt: skip
def test_pytest_node_ids(classname, name, file, expected) -> None:
    assert q.pytest_node_id(classname, name, file) == expected


@pytest.mark.parametrize(
    ("classname", "name", "file", "runner"),
    [
        ("tests.test_report", "test_roundtrip", "tests/test_report.py", q.PYTEST),
        ("tests.test_report.TestApi", "test_get", None, q.PYTEST),
        ("Order › edge cases", "handles empty input", None, q.JEST),
        ("com.acme.api.core.LedgerServiceTest", 'parse(String)[1] input="a-\\"b\\""', None, q.JUNIT),
        ("github.com/acme/infra/internal/cart", 'TestParse/a-"b"', None, q.GO),
        ("Some suite", "does a thing", None, None),
    ],
)
def test_runner_is_guessed_from_the_identity(classname, name, file, runner) -> None:
    assert q.guess_runner(classname, name, file) == runner


AWKWARD_PARAMS = ['a-"b"', "it's", "naïve-café-日本語", "x" * 300, "[nested]", "a b"]


def test_pytest_deselects_exactly_the_listed_awkward_tests(tmp_path: Path) -> None:
    """Real pytest: node ids from the document deselect those tests and nothing else."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mod.py").write_text(
        textwrap.dedent(
            f"""
            import pytest

            @pytest.mark.parametrize("value", {AWKWARD_PARAMS!r})
            def test_parse(value):
                pass

            def test_roundtrip():
                pass

            def test_roundtrip_large():
                pass

            class TestApi:
                def test_roundtrip(self):
                    pass
            """
        ),
        encoding="utf-8",
    )
    collected = _pytest_collect(tmp_path, [])
    assert len(collected) == len(AWKWARD_PARAMS) + 3
    # What the JUnit report says about the tests to quarantine (pytest's junit_family=xunit1).
    parametrised = [c for c in collected if "test_parse[" in c][:4]
    names = [c.split("::", 1)[1] for c in parametrised]
    tests = [
        q.QuarantinedTest(f"id{i}", "tests.test_mod", name, "tests/test_mod.py", 0.1)
        for i, name in enumerate(names)
    ] + [q.QuarantinedTest("idc", "tests.test_mod.TestApi", "test_roundtrip", "tests/test_mod.py", 0.1)]
    document = q.quarantine_document(
        "acme/data", tests, as_of="2026-10-28", generated_at="now", window_days=14
    )
    deselect = [arg for node in document["pytest"]["deselect"] for arg in ("--deselect", node)]
    remaining = _pytest_collect(tmp_path, deselect)
    assert sorted(set(collected) - set(remaining)) == sorted(
        [*parametrised, "tests/test_mod.py::TestApi::test_roundtrip"]
    )


def _pytest_collect(root: Path, args: list[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests", *args],
        cwd=root,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_pytest_k_expression_parses_and_leaves_out_names_it_cannot_express() -> None:
    from _pytest.mark.expression import Expression

    expression = q.pytest_k_expression(["test_roundtrip", 'test_parse[a-"b"]', "test_get[x-1]", "test_a b"])
    assert expression == "not (test_get[x-1] or test_roundtrip)"
    compiled = Expression.compile(expression)
    assert not compiled.evaluate(lambda ident, **_: ident == "test_roundtrip")
    assert compiled.evaluate(lambda ident, **_: False)
    assert q.pytest_k_expression(['test_parse[a-"b"]']) is None


JEST_NAMES = [
    ("Order › edge cases", "handles empty input"),
    ("Order › edge cases", 'parses a-"b" as a quoted token'),
    ("Order › edge cases", "renders émoji 🚀 and ünïcode labels"),
    ("Metric › rendering", "matches (a|b) [x]* + $1 ^ {2} / back\\slash?"),
]


def test_jest_full_names_follow_jest_junit_templates() -> None:
    assert (
        q.jest_full_name("Order › edge cases", "handles empty input")
        == "Order edge cases handles empty input"
    )
    # Default jest-junit templates write the full name into both attributes.
    assert (
        q.jest_full_name("Order edge cases handles", "Order edge cases handles it")
        == "Order edge cases handles it"
    )
    assert q.jest_full_name(None, "top-level test") == "top-level test"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_jest_pattern_skips_exactly_the_listed_tests_in_javascript() -> None:
    """The pattern is a JavaScript RegExp: jest tests `new RegExp(pattern, "i")` on full names."""
    listed = [q.jest_full_name(c, n) for c, n in JEST_NAMES[1:]]
    others = [
        q.jest_full_name(*JEST_NAMES[0]),
        listed[0] + " again",  # a longer name sharing the prefix still runs
        "Order edge cases parses a-'b' as a quoted token",
    ]
    pattern = q.jest_skip_pattern(listed)
    script = (
        "const [pattern, names] = JSON.parse(process.argv[1]);"
        "const re = new RegExp(pattern, 'i');"
        "console.log(JSON.stringify(names.map((n) => re.test(n))));"
    )
    result = subprocess.run(
        ["node", "-e", script, json.dumps([pattern, listed + others])],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    runs = json.loads(result.stdout)
    assert runs == [False] * len(listed) + [True] * len(others)


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("shouldRejectNull", "shouldRejectNull"),
        ('parse(String)[1] input="a-\\"b\\""', "parse"),
        ("roundTripsLargePayload(Map)[1] field_00", "roundTripsLargePayload"),
        ("testValues[0]", "testValues"),
        ("handlesÜmlautsAndEmoji_🚀", "handlesÜmlautsAndEmoji_"),
        ("[1] weird", None),
    ],
)
def test_junit_methods_behind_parametrised_names(name: str, method: str | None) -> None:
    assert q.junit_method(name) == method


def test_junit_exclusions_for_surefire_and_gradle() -> None:
    tests = [
        q.QuarantinedTest(
            "a", "com.acme.api.core.LedgerServiceTest", 'parse(String)[1] input="x"', None, 0.2
        ),
        q.QuarantinedTest(
            "b", "com.acme.api.core.LedgerServiceTest", "parse(String)[2] input='y'", None, 0.1
        ),
        q.QuarantinedTest("c", "com.acme.api.service.UploadServiceTest", "shouldRefresh", None, 0.1),
    ]
    junit = q.quarantine_document("acme/api", tests, as_of=None, generated_at="now", window_days=14)["junit"]
    # Two invocations of one parametrised method: one exclusion.
    assert junit["surefire_test"] == (
        "!com.acme.api.core.LedgerServiceTest#parse, !com.acme.api.service.UploadServiceTest#shouldRefresh"
    )
    assert junit["gradle_exclude_patterns"] == [
        "com.acme.api.core.LedgerServiceTest.parse",
        "com.acme.api.service.UploadServiceTest.shouldRefresh",
    ]
    assert junit["junit5_excluded_groups"] == "-DexcludedGroups=quarantined"


@pytest.mark.parametrize(
    ("name", "level_names"),
    [
        ("TestRoundTrip", ["TestRoundTrip"]),
        ('TestParse/a-"b"', ["TestParse", 'a-"b"']),
        ("TestParse/'it''s'", ["TestParse", "'it''s'"]),
        ("TestNormalize/ünïcödé_ß_日本", ["TestNormalize", "ünïcödé_ß_日本"]),
        ("TestX/a.b+c(d)[e]$", ["TestX", "a.b+c(d)[e]$"]),
    ],
)
def test_go_skip_patterns_match_each_level_exactly(name: str, level_names: list[str]) -> None:
    levels = q.go_skip_pattern(name).split("/")
    assert len(levels) == len(level_names)
    for pattern, level in zip(levels, level_names, strict=True):
        assert re.fullmatch(pattern, level)  # Go's RE2 reads escaped literals the same way
        assert not re.fullmatch(pattern, level + "x")


def test_document_is_deterministic_and_lists_every_runner_section() -> None:
    tests = [
        q.QuarantinedTest(
            "2", "tests.test_b", "test_z", "tests/test_b.py", 0.3, "2026-10-20", ("abc",), ("u",)
        ),
        q.QuarantinedTest("1", "tests.test_a", "test_y", "tests/test_a.py", 0.123456),
    ]
    one = q.quarantine_document("acme/data", tests, as_of="2026-10-28", generated_at="t", window_days=14)
    two = q.quarantine_document(
        "acme/data", tests[::-1], as_of="2026-10-28", generated_at="t", window_days=14
    )
    assert one == two
    assert [t["test_id"] for t in one["tests"]] == ["1", "2"]
    assert one["tests"][0]["score"] == 0.1235
    assert one["tests"][1]["evidence"] == {"commits": ["abc"], "runs": ["u"]}
    assert set(one) >= {"repo", "as_of", "window_days", "tests", "pytest", "jest", "junit", "go"}
    empty = q.quarantine_document("acme/web", [], as_of=None, generated_at="t", window_days=14)
    assert empty["tests"] == [] and empty["jest"]["test_name_pattern"] is None


@pytest.mark.parametrize(
    ("repo", "file_name"),
    [("acme/api", "acme__api.json"), ("my-org/web.app", "my-org__web.app.json"), ("a/../b", "a__..__b.json")],
)
def test_quarantine_file_names_stay_inside_their_folder(repo: str, file_name: str) -> None:
    assert q.quarantine_file_name(repo) == file_name
    assert "/" not in q.quarantine_file_name(repo)


# ---------------------------------------------------------------------------------------------
# Identities and quality
# ---------------------------------------------------------------------------------------------

AWKWARD = [
    ("acme/data", "tests.test_a", 'test_parse[a-"b"]'),
    ("acme/data", "tests.test_a", "test_x['it''s']"),
    ("acme/data", "tests.test_a", "test_normalise[naïve-café-日本語]"),
    ("acme/data", "tests.test_a", "test_roundtrip_large_payload[" + "-".join(["field"] * 80) + "]"),
    ("acme/data", "tests.test_a", "test_roundtrip"),
    ("acme/data", "tests.test_b", "test_roundtrip"),  # the same name in another class
    ("acme/web", "tests.test_a", "test_roundtrip"),  # and in another repository
]


def test_awkward_names_keep_distinct_stable_identities() -> None:
    ids = [identity(repo, cls, None, name) for repo, cls, name in AWKWARD]
    assert len(set(ids)) == len(AWKWARD)
    assert ids == [identity(repo, cls, None, name) for repo, cls, name in AWKWARD]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    labels = [{"repo": r, "classname": c, "file": None, "test_name": n} for r, c, n in AWKWARD]
    assert [label_id(item) for item in labels] == ids


def test_quality_counts_precision_recall_broken_and_outage_flags() -> None:
    def item(name: str, **extra) -> dict:
        return {"repo": "acme/api", "classname": "com.acme.T", "file": None, "test_name": name, **extra}

    labels = {
        "flaky_tests": [item("f1"), item("f2"), item("f3"), item("gone")],
        "broken_tests": [item("b1", fix_sha=None), item("b2", fix_sha="abc")],
        "outage": {"day": "2026-10-20"},
    }
    ids = {n: label_id(item(n)) for n in ("f1", "f2", "f3", "b1", "b2", "s1", "s2", "gone")}
    final = {
        ids["f1"]: FLAKY, ids["f2"]: QUARANTINED, ids["f3"]: STABLE, ids["b1"]: BROKEN, ids["b2"]: STABLE,
        ids["s1"]: FLAKY, ids["s2"]: STABLE,
    }  # fmt: skip
    flagged_days = [
        (ids["f1"], date(2026, 10, 25)),
        (ids["f2"], date(2026, 10, 26)),
        (ids["s1"], date(2026, 10, 27)),
        (ids["b2"], date(2026, 10, 5)),  # a broken test flagged once, before the outage
        (ids["s2"], date(2026, 10, 21)),  # a false flag while the outage is in the window
    ]
    result = measure(final, flagged_days, labels, as_of=date(2026, 10, 28), window_days=14)
    assert (result.flaky_labelled, result.flagged, result.true_positives) == (3, 3, 2)
    assert result.precision == pytest.approx(2 / 3) and result.recall == pytest.approx(2 / 3)
    assert (result.broken_labelled, result.broken_flagged_flaky) == (2, 1)
    assert (result.still_broken, result.broken_detected) == (1, 1)
    assert (result.false_flags, result.outage_false_flags) == (3, 2)
    assert result.missed == ("com.acme.T::f3",)
