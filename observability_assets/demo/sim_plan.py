"""Commit history and workflow-run schedule of one simulated repository.

Main is a linear history. Developers push straight to main, or open pull requests whose commits
run the CI workflow as `pull_request`; a pull request whose base is still the tip of main is
fast-forward merged, so its head commit then runs again on main as a `push` with the same SHA.
A nightly schedule and an occasional manual release run on the tip of main.

Every commit gets an *effective position*: its position on main, or for a commit that never
reached main the position of the main commit it is based on. A change pushed straight to main at
position X is contained in exactly the commits whose effective position is >= X, which is how
injected breakages, fixes and slow-downs decide which runs they affect.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass, field
from datetime import date

import numpy as np

DAY_S = 86_400
CI, NIGHTLY, RELEASE = "CI", "Nightly", "Release"
WORKFLOW_FILES = {CI: ".github/workflows/ci.yml", NIGHTLY: ".github/workflows/nightly.yml",
                  RELEASE: ".github/workflows/release.yml"}  # fmt: skip
RENOVATE = "renovate[bot]"

# Weekdays carry most pushes; the factors keep a week's mean at runs_per_repo_day.
_WEEKDAY_FACTOR, _WEEKEND_FACTOR = 1.28, 0.30
_DEVELOPERS = (
    "mira-k", "jonas-b", "li-wei", "sam-ortiz", "priya-r", "tomasz-n", "ada-ng", "kofi-m", "elena-v",
    "yuki-t", "omar-h", "ines-c",
)  # fmt: skip
_MAX_OPEN_PRS = 6


@dataclass
class Commits:
    """Columnar commit table of one repository."""

    sha: list[str] = field(default_factory=list)
    branch: list[str] = field(default_factory=list)
    main_position: list[int] = field(default_factory=list)  # -1 when the commit never reached main
    base_position: list[int] = field(default_factory=list)  # main commit it builds on
    at: list[int] = field(default_factory=list)  # epoch seconds
    message: list[str] = field(default_factory=list)
    author: list[str] = field(default_factory=list)
    pr_number: list[int] = field(default_factory=list)  # 0 outside pull requests
    direct: list[bool] = field(default_factory=list)  # pushed straight to main

    def __len__(self) -> int:
        return len(self.sha)

    def effective_position(self) -> np.ndarray:
        main = np.asarray(self.main_position, dtype=np.int64)
        return np.where(main >= 0, main, np.asarray(self.base_position, dtype=np.int64))


@dataclass
class Runs:
    """Columnar planned workflow runs of one repository (one row per run, not per attempt)."""

    workflow: list[str] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    branch: list[str] = field(default_factory=list)
    commit: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    actor: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)
    pr_number: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.created)


@dataclass
class RepoPlan:
    commits: Commits
    runs: Runs
    main: list[int]  # commit index by main position
    developers: tuple[str, ...]
    bot_commits: set[int]


@dataclass
class _PullRequest:
    number: int
    branch: str
    title: str
    author: str
    base: int  # main position
    commits: list[int]


def epoch(day: date) -> int:
    """Epoch seconds of midnight UTC of a date."""
    return calendar.timegm(day.timetuple())


def plan_repo(
    *,
    full_name: str,
    seed: int,
    start_s: int,
    days: int,
    runs_per_day: float,
    forced: dict[int, int],
    volume_spike_day: int | None,
    volume_factor: int,
    rng: np.random.Generator,
) -> RepoPlan:
    """Commits and runs of one repository over the window, in creation order."""
    developers = tuple(str(d) for d in rng.choice(_DEVELOPERS, size=5, replace=False))
    builder = _Builder(full_name, seed, developers, rng)
    builder.direct_commit(start_s - 10 * 3600, "Release v1.0.0", developers[0])

    for day in range(days):
        day_s = start_s + day * DAY_S
        weekday = (day_s // DAY_S + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        slots = _day_slots(day, weekday, runs_per_day, forced, volume_spike_day, volume_factor, rng)
        for offset, kind in slots:
            builder.run_slot(kind, day_s + offset)
    return RepoPlan(builder.commits, builder.runs, builder.main, developers, builder.bot_commits)


def _day_slots(
    day: int,
    weekday: int,
    runs_per_day: float,
    forced: dict[int, int],
    volume_spike_day: int | None,
    volume_factor: int,
    rng: np.random.Generator,
) -> list[tuple[int, str]]:
    """(seconds after midnight, slot kind) for every run created that day, in time order."""
    is_weekday = weekday < 5
    mean = runs_per_day * (_WEEKDAY_FACTOR if is_weekday else _WEEKEND_FACTOR)
    total = forced[day] if day in forced else 1 + int(rng.poisson(max(mean - 1.0, 0.0)))
    slots: list[tuple[int, str]] = []
    if total >= 1:
        slots.append((2 * 3600 + int(rng.integers(0, 900)), "nightly"))  # schedules start late
    releases = int(day not in forced and is_weekday and total >= 2 and rng.random() < 0.2)
    if releases:
        slots.append((_business_second(rng), "release"))
    ci = total - len(slots)
    if day in forced:
        # A forced count is spread over the whole day.
        slots += [(int(s), "ci") for s in rng.integers(0, DAY_S, ci)]
    else:
        slots += [(_business_second(rng), "ci") for _ in range(ci)]
    if day == volume_spike_day and day not in forced:
        bots = int(round((volume_factor - 1) * max(mean - 1.0, 1.0)))
        slots += [(int(s), "bot") for s in rng.integers(10 * 3600, 16 * 3600, bots)]
    slots.sort()
    return slots


def _business_second(rng: np.random.Generator) -> int:
    """Most pushes fall in (European/American overlap) office hours, some at any time."""
    if rng.random() < 0.15:
        return int(rng.integers(0, DAY_S))
    return int(np.clip(rng.normal(14 * 3600, 3 * 3600), 0, DAY_S - 1))


class _Builder:
    def __init__(self, full_name: str, seed: int, developers: tuple[str, ...], rng: np.random.Generator):
        self.full_name, self.seed, self.developers, self.rng = full_name, seed, developers, rng
        self.commits, self.runs = Commits(), Runs()
        self.main: list[int] = []
        self.open: list[_PullRequest] = []
        self.next_pr = 100 + int(rng.integers(0, 800))
        self.bot_pr: _PullRequest | None = None
        self.bot_commits: set[int] = set()
        self.branches: set[str] = set()

    # -- commits --------------------------------------------------------------------------------

    def _commit(
        self, at: int, message: str, author: str, branch: str, main_pos: int, base: int, pr: int
    ) -> int:
        index = len(self.commits)
        digest = hashlib.sha1(f"{self.full_name}\0{self.seed}\0{index}".encode(), usedforsecurity=False)
        c = self.commits
        c.sha.append(digest.hexdigest())
        c.branch.append(branch)
        c.main_position.append(main_pos)
        c.base_position.append(base)
        c.at.append(at)
        c.message.append(message)
        c.author.append(author)
        c.pr_number.append(pr)
        c.direct.append(main_pos >= 0)
        return index

    def direct_commit(self, at: int, message: str, author: str) -> int:
        position = len(self.main)
        index = self._commit(at, message, author, "main", position, position, 0)
        self.main.append(index)
        return index

    @property
    def tip(self) -> int:
        return len(self.main) - 1

    # -- runs -----------------------------------------------------------------------------------

    def _run(self, workflow: str, event: str, branch: str, commit: int, created: int, actor: str,
             title: str, pr: int = 0) -> None:  # fmt: skip
        r = self.runs
        r.workflow.append(workflow)
        r.event.append(event)
        r.branch.append(branch)
        r.commit.append(commit)
        r.created.append(created)
        r.actor.append(actor)
        r.title.append(title)
        r.pr_number.append(pr)

    def run_slot(self, kind: str, at: int) -> None:
        rng = self.rng
        if kind == "nightly":
            self._run(NIGHTLY, "schedule", "main", self.main[-1], at, self.developers[0], NIGHTLY)
        elif kind == "release":
            actor = self._developer()
            self._run(RELEASE, "workflow_dispatch", "main", self.main[-1], at, actor, RELEASE)
        elif kind == "bot":
            self._bot_push(at)
        elif rng.random() < 0.25:
            author = self._developer()
            message = _commit_message(rng)
            commit = self.direct_commit(at - int(rng.integers(20, 600)), message, author)
            self._run(CI, "push", "main", commit, at, author, message)
        elif not self.open or (len(self.open) < _MAX_OPEN_PRS and rng.random() < 0.35):
            self._open_pull_request(at)
        else:
            pr = self.open[int(rng.integers(len(self.open)))]
            if rng.random() < 0.4:
                self._merge(pr, at)
            else:
                self._pr_commit(pr, at, _follow_up_message(rng))

    def _developer(self) -> str:
        return self.developers[int(self.rng.integers(len(self.developers)))]

    def _open_pull_request(self, at: int) -> None:
        rng = self.rng
        author = self._developer()
        verb, qual, noun = _words(rng)
        branch = f"{author.split('-')[0]}/{verb}-{qual}-{noun}"
        while branch in self.branches:
            branch += "-2"
        self.branches.add(branch)
        pr = _PullRequest(self.next_pr, branch, f"{verb.capitalize()} {qual} {noun}", author, self.tip, [])
        self.next_pr += 1
        self.open.append(pr)
        self._pr_commit(pr, at, pr.title)

    def _pr_commit(self, pr: _PullRequest, at: int, message: str) -> None:
        commit = self._commit(
            at - int(self.rng.integers(20, 600)), message, pr.author, pr.branch, -1, pr.base, pr.number
        )
        pr.commits.append(commit)
        self._run(CI, "pull_request", pr.branch, commit, at, pr.author, pr.title, pr.number)

    def _merge(self, pr: _PullRequest, at: int) -> None:
        if pr.base != self.tip:
            # Update the branch first; the merge commit contains main, so it can fast-forward later.
            pr.base = self.tip
            self._pr_commit(pr, at, f"Merge branch 'main' into {pr.branch}")
            return
        head = pr.commits[-1]
        self.commits.main_position[head] = len(self.main)
        self.main.append(head)
        self.open.remove(pr)
        self._run(CI, "push", "main", head, at, pr.author, self.commits.message[head])

    def _bot_push(self, at: int) -> None:
        """Renovate rebasing its lock-file PR again and again: a burst of CI runs."""
        if self.bot_pr is None:
            title = "chore(deps): lock file maintenance"
            self.bot_pr = _PullRequest(
                self.next_pr, "renovate/lock-file-maintenance", title, RENOVATE, self.tip, []
            )
            self.next_pr += 1
        pr = self.bot_pr
        pr.base = self.tip
        commit = self._commit(at - 5, pr.title, RENOVATE, pr.branch, -1, pr.base, pr.number)
        pr.commits.append(commit)
        self.bot_commits.add(commit)
        self._run(CI, "pull_request", pr.branch, commit, at, RENOVATE, pr.title, pr.number)


_NOUNS = ("invoice", "session", "cache", "router", "queue", "webhook", "export", "search", "quota",
          "ledger", "profile", "retry", "config", "metrics")  # fmt: skip
_VERBS = ("fix", "add", "refactor", "speed-up", "tidy", "support", "harden", "simplify")
_QUALS = ("empty", "legacy", "async", "partial", "nested", "timeout", "unicode", "batch")


def _words(rng: np.random.Generator) -> tuple[str, str, str]:
    return (
        _VERBS[int(rng.integers(len(_VERBS)))],
        _QUALS[int(rng.integers(len(_QUALS)))],
        _NOUNS[int(rng.integers(len(_NOUNS)))],
    )


def _commit_message(rng: np.random.Generator) -> str:
    verb, qual, noun = _words(rng)
    if rng.random() < 0.15:
        a, b = int(rng.integers(1, 30)), int(rng.integers(0, 9))
        return f"Bump {noun}-client from 2.{a}.{b} to 2.{a}.{b + 1}"
    return f"{verb.capitalize().replace('-', ' ')} {qual} {noun} handling"


def _follow_up_message(rng: np.random.Generator) -> str:
    options = ("Address review comments", "Fix tests", "wip", "Rename per review", "Add missing test")
    return options[int(rng.integers(len(options)))]
