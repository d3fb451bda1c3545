"""Issues for findings: created or updated by fingerprint, never twice, never a flood.

A finding (a flaky test, a performance regression, a cost anomaly, an incident, a failed Vigil
run) has a fingerprint: a hash of its kind, repository and stable key. `ops.issues` keeps one row
per fingerprint, and every issue body carries it as a hidden marker
(`<!-- vigil:fingerprint=... -->`). Deduplication rests on those two, never on GitHub's issue
search, which is eventually consistent (a new issue can be missing from it for minutes):

- a finding already in `ops.issues` is a recurrence: a comment on its issue (reopened when Vigil
  had closed it; one a person closed as not planned stays closed);
- before a new issue is created its row is claimed (`creating`) in one short write under the
  cross-process warehouse lock, so two processes never both create it;
- the repository's `vigil` issues are listed (a consistent endpoint) and scanned for the marker,
  so an issue whose row was lost (a crash after the POST, a rebuilt warehouse) is adopted, not
  duplicated. A claim older than `claim_timeout_s` is reconciled the same way.

At most `max_new_per_tick` issues are created per call; the rest wait as `queued` rows and later
calls drain the queue, oldest first, whether or not the findings are seen again: nothing is
dropped. More than `storm_threshold` new findings at once (a storm guard) open one summary issue
per repository at once, listing them; each finding still gets its own issue from the queue (so
every finding has exactly one issue of its own, found by its fingerprint), and the summary closes
once none of its findings waits any more. A storm delays issues, it never swallows them.

When an issue closes depends on its kind (core.issue_lifecycle), judged by the caller's `judge`:
`close_resolved` closes what the judge says is over (a flaky test no longer flagged, a regression
back within tolerance of its old level) or, for regressions, what a person accepted with the label
`vigil:accepted`; `close_clean` closes events (cost anomalies) after `close_after_clean_days` of
data without them. A finding the judge calls over when it is first seen, or while it waits in
the queue, is recorded as `resolved-unopened` and never opened. A tracker never closes an issue
it opened or reopened itself: one tracker serves one sensor tick, so no issue is opened and
closed within one tick.

`mode="github"` (env `VIGIL_ISSUES=github`) opens real issues; anything else only records in
`ops.issues` what would have been opened (`would_open`). Every decision goes to the ledger.
Titles, bodies and comments pass through `scrub` (tokens, secrets, personal data), so no token or secret reaches an issue.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from observability_assets.core.issue_lifecycle import ACCEPTED_LABEL
from observability_assets.core.ledger import canonical_json, jsonable
from resources.github import GitHubClient, GitHubError
from resources.ledger import Ledger, Recorder
from resources.redaction import scrub

if TYPE_CHECKING:
    import duckdb

ACTOR = "issue-tracker"
VIGIL_LABEL = "vigil"
KIND_LABELS: dict[str, tuple[str, ...]] = {
    "flaky-test": ("flaky-test",),
    "perf-regression": ("perf-regression",),
    "cost-anomaly": ("cost-anomaly",),
    "incident": ("incident",),
    "run-failure": ("run-failure",),
}
MARKER_TEMPLATE = "<!-- vigil:fingerprint={} -->"
MARKER = re.compile(r"<!-- vigil:fingerprint=([0-9a-f]{8,64}) -->")
# GitHub refuses bodies over 65,536 characters; stay well under it.
MAX_BODY_CHARS = 60_000
STORM_KEY_PREFIX = "storm:"
MAX_LISTED = 10
MAX_STORM_LINES = 300
MAX_CLOSES_PER_CALL = 50
# ops.issues state of a finding that was over before any issue was filed for it.
RESOLVED_UNOPENED = "resolved-unopened"
# Kinds whose issue a person may close by accepting the new level (the label ACCEPTED_LABEL).
ACCEPTING_KINDS = ("perf-regression",)

Link = tuple[str, str]  # (label, url)

_COLUMNS = (
    "fingerprint", "kind", "repo", "number", "url", "state", "title", "occurrences", "updated_at",
    "last_seen_at", "last_occurrence", "grouped_into", "opened_at", "closed_at", "evidence",
)  # fmt: skip


def fingerprint_of(kind: str, repo: str, key: str) -> str:
    """Stable identity of a finding: SHA-256 (first 16 hex digits) of kind, repository and key."""
    return hashlib.sha256(f"{kind}\x1f{repo}\x1f{key}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    """Something that deserves an issue, with the evidence a developer needs to act on it.

    `key` identifies the problem within its kind and repository (a test id, a series, a cost
    scope, a service); `occurrence` identifies this sighting of it (seeing the same occurrence
    again is not a recurrence). `repo=None` means the configured incident repository.
    """

    kind: str
    key: str
    title: str
    summary: str
    observed_at: datetime
    occurrence: str
    repo: str | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)
    runs: Sequence[Link] = ()
    commits: Sequence[str] = ()
    links: Sequence[Link] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.kind, self.repo or "", self.key)

    def to_json(self) -> str:
        return canonical_json(jsonable(asdict(self)))

    @classmethod
    def from_json(cls, text: str) -> Finding:
        data = json.loads(text)
        return cls(
            kind=data["kind"],
            key=data["key"],
            title=data["title"],
            summary=data["summary"],
            observed_at=datetime.fromisoformat(data["observed_at"]),
            occurrence=data["occurrence"],
            repo=data.get("repo"),
            figures=data.get("figures") or {},
            runs=tuple(tuple(link) for link in data.get("runs") or ()),
            commits=tuple(data.get("commits") or ()),
            links=tuple(tuple(link) for link in data.get("links") or ()),
        )


# A judge says which findings are over, and why: {fingerprint: reason}. It reads the warehouse
# itself (a short read of its own) and is never called while the tracker holds the lock.
Judge = Callable[[Sequence[Finding]], Mapping[str, str]]


# ---------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _evidence_markdown(finding: Finding) -> list[str]:
    lines: list[str] = []
    if finding.figures:
        lines += ["", "| figure | value |", "|---|---|"]
        lines += [f"| {name} | {_figure(value)} |" for name, value in finding.figures.items()]
    if finding.runs:
        shown = ", ".join(f"[{label}]({url})" for label, url in finding.runs[:MAX_LISTED])
        lines += ["", f"**Runs:** {shown}"]
    if finding.commits:
        lines += ["", "**Commits:** " + ", ".join(f"`{sha[:12]}`" for sha in finding.commits[:MAX_LISTED])]
    if finding.links:
        lines += ["", "**Links:** " + ", ".join(f"[{label}]({url})" for label, url in finding.links)]
    return lines


def render_body(finding: Finding, fingerprint: str, clean_days: int) -> str:
    """Issue body: the hidden marker, what was found, the evidence, and what Vigil will do next."""
    lines = [
        MARKER_TEMPLATE.format(fingerprint),
        f"**Vigil** found a `{finding.kind}` problem"
        + (f" in `{finding.repo}`" if finding.repo else "")
        + f" (seen {finding.observed_at:%Y-%m-%d %H:%M} UTC).",
        "",
        finding.summary,
        *_evidence_markdown(finding),
        "",
        f"_Opened automatically by Vigil (fingerprint `{fingerprint}`). Vigil comments here when it sees "
        f"this again and {closing_rule(finding, clean_days)}._",
    ]
    return _bounded(scrub("\n".join(lines)))


def closing_rule(finding: Finding, clean_days: int) -> str:
    """When Vigil closes the issue of `finding`, as the issue body says it (core.issue_lifecycle)."""
    if finding.key.startswith(STORM_KEY_PREFIX):
        return "closes this summary once every finding listed here has its own issue or is over"
    if finding.kind == "flaky-test":
        return "closes the issue when the test is no longer flagged flaky (or quarantined)"
    if finding.kind == "perf-regression":
        return (
            "closes the issue when the series is back within tolerance of its old level, or when the new "
            f"level is accepted (label `{ACCEPTED_LABEL}` here, or `vigil baselines update --accept-regression`)"
        )
    return f"closes the issue after {clean_days} days of data without it"


def render_recurrence(findings: Sequence[Finding], occurrences: int) -> str:
    if len(findings) == 1:
        finding = findings[0]
        lines = [
            f"Seen again ({occurrences} times in all), {finding.observed_at:%Y-%m-%d %H:%M} UTC.",
            "",
            finding.summary,
            *_evidence_markdown(finding),
        ]
    else:
        lines = [f"{len(findings)} of the findings grouped here were seen again:", ""]
        lines += [f"- {f.title} ({f.observed_at:%Y-%m-%d %H:%M} UTC)" for f in findings[:MAX_STORM_LINES]]
    return _bounded(scrub("\n".join(lines)))


def storm_summary(repo: str | None, members: Sequence[Finding], now: datetime, per_tick: int = 5) -> Finding:
    """The one finding that announces a storm of new findings in one repository.

    Each member still gets its own issue, from the queue at the per-tick limit; the summary is
    the place to see them together (they often share a cause) and closes once none still waits.
    """
    kinds = sorted({m.kind for m in members})
    kind = kinds[0] if len(kinds) == 1 else "incident"
    listing = "\n".join(
        f"- [ ] {m.title} (`{m.fingerprint}`)"
        for m in sorted(members, key=lambda m: m.title)[:MAX_STORM_LINES]
    )
    more = len(members) - MAX_STORM_LINES
    return Finding(
        kind=kind,
        key=f"{STORM_KEY_PREFIX}{','.join(kinds)}:{now:%Y-%m-%d}",
        title=f"Vigil: {len(members)} new {' / '.join(kinds)} findings"
        + (f" in {repo}" if repo else "")
        + f" on {now:%Y-%m-%d}",
        summary=(
            f"{len(members)} new findings arrived at once, more than the storm threshold. They often share "
            f"a cause (an infrastructure outage, a broken dependency), so this issue lists them together. "
            f"Each one still gets its own issue, at most {per_tick} per sensor tick; Vigil closes this "
            f"summary once none of them waits any more. Each is listed with its fingerprint.\n\n{listing}"
            + (f"\n- ... and {more} more" if more > 0 else "")
        ),
        observed_at=max(m.observed_at for m in members),
        occurrence=f"storm:{now:%Y-%m-%dT%H:%M}",
        repo=repo,
        figures={"findings": len(members)},
    )


def is_storm_summary(row: Mapping[str, Any]) -> bool:
    """Whether an ops.issues row is a storm summary (its finding's key says so)."""
    try:
        return str(json.loads(row["evidence"] or "{}").get("key", "")).startswith(STORM_KEY_PREFIX)
    except ValueError:
        return False


def _bounded(text: str) -> str:
    if len(text) <= MAX_BODY_CHARS:
        return text
    return text[: MAX_BODY_CHARS - 40] + "\n\n_(truncated by Vigil)_"


# ---------------------------------------------------------------------------------------------
# Planning (no I/O)
# ---------------------------------------------------------------------------------------------


@dataclass
class Creation:
    finding: Finding
    # Findings a storm summary stands for (empty for an ordinary issue).
    members: list[Finding] = field(default_factory=list)
    # The storm summary that announced this finding (None: none did).
    group: str | None = None


@dataclass
class Plan:
    creations: list[Creation] = field(default_factory=list)
    # Findings waiting for a later tick, with the storm summary that announced them (if any).
    queued: list[tuple[Finding, str | None]] = field(default_factory=list)
    # target fingerprint -> findings seen again that it stands for
    recurrences: dict[str, list[Finding]] = field(default_factory=dict)
    observed: list[Finding] = field(default_factory=list)
    # Findings over before any issue was filed (new, or waiting in the queue): why each is over.
    resolved: list[tuple[Finding, str]] = field(default_factory=list)


# States of a row with no issue filed for it (and none being filed).
UNFILED_STATES = ("queued", RESOLVED_UNOPENED)


@dataclass(frozen=True)
class TrackerSettings:
    mode: str = "record"
    incident_repo: str = ""
    max_new_per_tick: int = 5
    storm_threshold: int = 25
    close_after_clean_days: int = 7
    claim_timeout_s: float = 300.0

    @property
    def opens_issues(self) -> bool:
        return self.mode.strip().lower() == "github"


def plan_tick(
    findings: Sequence[Finding],
    rows: Mapping[str, dict[str, Any]],
    settings: TrackerSettings,
    now: datetime,
    over: Mapping[str, str] | None = None,
) -> Plan:
    """Decide what to do with a batch of findings given the rows `ops.issues` holds for them.

    `rows` also holds every queued row and every claim (`creating`), findings or not. `over`
    says, for findings and queued rows that are already over, why: those are never opened.
    """
    over = over or {}
    plan = Plan()
    batch: dict[str, Finding] = {}
    for finding in findings:
        current = batch.get(finding.fingerprint)
        if current is None or finding.observed_at >= current.observed_at:
            batch[finding.fingerprint] = finding
    new: list[Finding] = []
    for fp, finding in batch.items():
        row = rows.get(fp)
        unfiled = row is None or row["state"] in UNFILED_STATES or _unfiled(row, finding, settings)
        if fp in over:
            if unfiled and (row is None or row["state"] != RESOLVED_UNOPENED):
                plan.resolved.append((finding, over[fp]))
            else:
                # Over, and resolved already or with an issue (or a claim): refresh the evidence;
                # closing is the closers' job, and a closed issue is not reopened for it.
                plan.observed.append(finding)
        elif unfiled and (row is None or row["state"] != "queued"):
            new.append(finding)
        elif row["state"] in ("queued", "creating") or finding.occurrence == row["last_occurrence"]:
            plan.observed.append(finding)
        else:
            target = row["grouped_into"] or fp
            plan.recurrences.setdefault(target, []).append(finding)
    stale_claim = now - timedelta(seconds=settings.claim_timeout_s)
    waiting: list[Creation] = []
    for r in sorted(rows.values(), key=lambda r: (r["updated_at"], r["fingerprint"])):
        fp = r["fingerprint"]
        if r["state"] not in ("queued", "creating"):
            continue
        finding = batch.get(fp) or _finding_of(r)
        if finding is None:
            continue  # no usable evidence to open it with: it waits until the finding is seen again
        if r["state"] == "queued" and fp in over:
            if fp not in batch:
                plan.resolved.append((finding, over[fp]))
        elif r["state"] == "queued" or (r["state"] == "creating" and r["updated_at"] <= stale_claim):
            waiting.append(Creation(finding, group=r["grouped_into"]))
    storm: list[Creation] = []
    new.sort(key=lambda f: (f.observed_at, f.fingerprint))
    fresh = [Creation(f) for f in new]
    if len(new) > settings.storm_threshold:
        by_repo: dict[str | None, list[Finding]] = {}
        for finding in new:
            by_repo.setdefault(finding.repo, []).append(finding)
        for repo, members in sorted(by_repo.items(), key=lambda item: item[0] or ""):
            summary = storm_summary(repo, members, now, settings.max_new_per_tick)
            storm.append(Creation(summary, members=members))
            # The summary announces them; each still gets its own issue, from the queue.
            for creation in fresh:
                if creation.finding.repo == repo:
                    creation.group = summary.fingerprint
    # A summary that failed to open earlier may also wait in the queue: create it once.
    in_storm = {c.finding.fingerprint for c in storm}
    queue = [c for c in waiting + fresh if c.finding.fingerprint not in in_storm]
    budget = max(0, settings.max_new_per_tick - len(storm))
    plan.creations = storm + queue[:budget]
    plan.queued = [
        (c.finding, c.group)
        for c in queue[budget:]
        if c.finding.fingerprint not in rows
        or rows[c.finding.fingerprint]["state"] not in ("queued", "creating")
    ]
    return plan


def _unfiled(row: Mapping[str, Any], finding: Finding, settings: TrackerSettings) -> bool:
    """A finding only recorded (`would_open`) earlier that can now be filed on GitHub."""
    return (
        row["state"] == "would_open"
        and settings.opens_issues
        and bool(finding.repo or settings.incident_repo.strip())
    )


# ---------------------------------------------------------------------------------------------
# The tracker
# ---------------------------------------------------------------------------------------------


@dataclass
class TrackerReport:
    opened: list[str] = field(default_factory=list)
    would_open: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    commented: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    grouped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    resolved_unopened: list[str] = field(default_factory=list)
    # fingerprint -> issue link, for every issue opened, adopted or commented on
    urls: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{len(v)} {k.replace('_', ' ')}" for k, v in asdict(self).items() if v and k != "urls"]
        return ", ".join(parts) or "nothing to do"


class IssueTracker:
    """Create-or-update issues for findings; see the module docstring."""

    def __init__(self, ledger: Ledger, settings: TrackerSettings, client: GitHubClient | None) -> None:
        self.ledger = ledger
        self.settings = settings
        self.client = client if settings.opens_issues else None
        # Per report(): repository -> fingerprint -> issue, from the consistent listing endpoint.
        self._marker_index: dict[str, dict[str, dict[str, Any]]] = {}
        # Issues this tracker opened or reopened: never closed by the same tracker (one per tick).
        self._acted: set[str] = set()

    @property
    def mode(self) -> str:
        return "github" if self.client is not None else "record"

    def _repo_of(self, finding: Finding) -> str | None:
        return finding.repo or (self.settings.incident_repo.strip() or None)

    def _files_on_github(self, finding: Finding) -> bool:
        return self.client is not None and self._repo_of(finding) is not None

    # -- reading and writing ops.issues ------------------------------------------------------------

    def _read(self, fingerprints: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(fingerprints))
        with self.ledger.warehouse.read("issues for findings") as con:
            rows = _rows(con, _WITH_PARENTS, [wanted, wanted])
            rows.update(_rows(con, "SELECT * FROM ops.issues WHERE state IN ('queued', 'creating')", []))
            return rows

    # -- reporting findings ----------------------------------------------------------------------

    def report(
        self,
        findings: Sequence[Finding],
        now: datetime | None = None,
        judge: Judge | None = None,
        drains: Iterable[str] | None = None,
    ) -> TrackerReport:
        """Open, queue, comment on or resolve issues for `findings` (one call per sensor tick).

        `judge` says which findings, and which queued ones, are already over: those are recorded
        as `resolved-unopened` and never opened. `drains` names the kinds whose queued findings
        this call opens (None: every kind), so a sensor never opens what only another sensor's
        judge can tell is over.
        """
        now = _naive_utc(now or datetime.now(UTC))
        report = TrackerReport()
        self._marker_index = {}
        rows = self._read(f.fingerprint for f in findings)
        if drains is not None:
            kinds, batch = set(drains), {f.fingerprint for f in findings}
            rows = {
                fp: r
                for fp, r in rows.items()
                if fp in batch or r["kind"] in kinds or r["state"] not in ("queued", "creating")
            }
        over = self._judged(findings, rows, judge)
        plan = plan_tick(findings, rows, self.settings, now, over)
        if not (plan.creations or plan.queued or plan.recurrences or plan.observed or plan.resolved):
            return report
        claimed, recurring = self._claim(plan, rows, now, report)
        outcomes = [self._create(creation, now) for creation in claimed]
        comments = [self._recur(target, seen, rows, now) for target, seen in recurring.items()]
        with self.ledger.transaction("issues: record tick") as (con, recorder):
            wanted = (
                {f.fingerprint for f in findings}
                | set(plan.recurrences)
                | {o["fingerprint"] for o in outcomes}
            )
            current = _rows(con, _WITH_PARENTS, [sorted(wanted)] * 2)
            updates: dict[str, dict[str, Any]] = {}
            for outcome in outcomes:
                self._record_creation(outcome, current, updates, recorder, report, now)
            for comment in comments:
                self._record_recurrence(comment, current, updates, recorder, report, now)
            for finding in plan.observed:
                _observe(finding, current, updates, now)
            _upsert(con, updates.values())
        self._acted.update(report.opened + report.adopted + report.would_open + report.reopened)
        return report

    def _judged(
        self, findings: Sequence[Finding], rows: Mapping[str, dict[str, Any]], judge: Judge | None
    ) -> dict[str, str]:
        """Which of `findings` and of the queued rows are over, and why (no lock held)."""
        if judge is None:
            return {}
        candidates = {f.fingerprint: f for f in findings}
        for fp, row in rows.items():
            if row["state"] == "queued" and fp not in candidates:
                finding = _finding_of(row)
                if finding is not None:
                    candidates[fp] = finding
        if not candidates:
            return {}
        return {fp: reason for fp, reason in judge(list(candidates.values())).items() if fp in candidates}

    def _claim(
        self, plan: Plan, rows: Mapping[str, dict[str, Any]], now: datetime, report: TrackerReport
    ) -> tuple[list[Creation], dict[str, list[Finding]]]:
        """Claim creations and recurrences, queue the overflow and resolve what is over, in one short write.

        Returns the creations and recurrences this call won: another process that got there
        first has already changed the row (a creation) or recorded the occurrence (a recurrence).
        """
        won: list[Creation] = []
        recurring: dict[str, list[Finding]] = {}
        if not (plan.creations or plan.queued or plan.recurrences or plan.resolved):
            return won, recurring
        with self.ledger.transaction("issues: claim") as (con, recorder):
            fps = (
                [c.finding.fingerprint for c in plan.creations]
                + [f.fingerprint for f, _ in plan.queued]
                + [f.fingerprint for f, _ in plan.resolved]
                + [f.fingerprint for seen in plan.recurrences.values() for f in seen]
            )
            current = _rows(
                con,
                "SELECT * FROM ops.issues WHERE fingerprint IN (SELECT unnest(CAST(? AS VARCHAR[])))",
                [fps],
            )

            def unchanged(fp: str) -> bool:
                """Nobody else changed the row since we planned (or neither of us has one)."""
                seen_before, row = rows.get(fp), current.get(fp)
                if row is None:
                    return True
                return seen_before is not None and row["updated_at"] == seen_before["updated_at"]

            updates: dict[str, dict[str, Any]] = {}
            for creation in plan.creations:
                fp = creation.finding.fingerprint
                row = current.get(fp)
                if not unchanged(fp) or (
                    row is not None
                    and row["state"] not in ("queued", "creating", "would_open", *UNFILED_STATES)
                ):
                    continue
                updates[fp] = _new_row(
                    creation.finding, self._repo_of(creation.finding), "creating", now, row
                )
                won.append(creation)
            for finding, group in plan.queued:
                fp = finding.fingerprint
                if not unchanged(fp):
                    continue
                row = _new_row(finding, self._repo_of(finding), "queued", now, current.get(fp))
                row["grouped_into"] = group
                updates[fp] = row
                reason = (
                    "announced by a storm summary; it gets its own issue from the queue"
                    if group
                    else f"over the limit of {self.settings.max_new_per_tick} new issues per tick"
                )
                recorder.record(
                    ACTOR,
                    "issue.queued",
                    fp,
                    {
                        "kind": finding.kind,
                        "repo": self._repo_of(finding),
                        "title": finding.title,
                        "reason": reason,
                    }
                    | ({"storm_summary": group} if group else {}),
                )
                report.queued.append(fp)
            for finding, why in plan.resolved:
                fp = finding.fingerprint
                if not unchanged(fp):
                    continue
                previous = current.get(fp)
                row = _new_row(finding, self._repo_of(finding), RESOLVED_UNOPENED, now, previous)
                row.update(grouped_into=None, closed_at=now)
                updates[fp] = row
                recorder.record(
                    ACTOR,
                    "issue.resolved_unopened",
                    fp,
                    {
                        "kind": finding.kind,
                        "repo": self._repo_of(finding),
                        "title": finding.title,
                        "reason": why,
                        "was": previous["state"] if previous else None,
                        "mode": self.mode,
                    },
                )
                report.resolved_unopened.append(fp)
            for target, seen in plan.recurrences.items():
                fresh = [
                    f
                    for f in seen
                    if f.fingerprint in current and current[f.fingerprint]["last_occurrence"] != f.occurrence
                ]
                for finding in fresh:
                    updates[finding.fingerprint] = dict(current[finding.fingerprint]) | {
                        "last_occurrence": finding.occurrence
                    }
                if fresh:
                    recurring[target] = fresh
            _upsert(con, updates.values())
        return won, recurring

    def _create(self, creation: Creation, now: datetime) -> dict[str, Any]:
        """Open (or adopt, or only record) the issue of one claimed creation. Network, no lock."""
        finding = creation.finding
        fp, repo = finding.fingerprint, self._repo_of(finding)
        outcome: dict[str, Any] = {"fingerprint": fp, "creation": creation, "repo": repo}
        if not self._files_on_github(finding):
            reason = (
                None
                if self.client is None or repo
                else "no incident repository configured (VIGIL_INCIDENT_REPO)"
            )
            return outcome | {"result": "would_open", "reason": reason}
        assert self.client is not None and repo is not None
        try:
            existing = self._find_by_marker(repo, fp)
            if existing is not None:
                return outcome | {"result": "adopted", "issue": existing}
            labels = [VIGIL_LABEL, *KIND_LABELS.get(finding.kind, ())]
            body = render_body(finding, fp, self.settings.close_after_clean_days)
            issue = self.client.create_issue(repo, scrub(finding.title)[:250], body, labels)
            return outcome | {"result": "opened", "issue": issue}
        except GitHubError as error:
            # A 4xx was certainly not applied: queue it again. Anything else may have been: keep the
            # claim, which is reconciled through the marker once it is older than claim_timeout_s.
            certain = error.status is not None and 400 <= error.status < 500
            return outcome | {"result": "failed", "error": str(error), "requeue": certain}

    def _find_by_marker(self, repo: str, fingerprint: str) -> dict[str, Any] | None:
        assert self.client is not None
        if repo not in self._marker_index:
            index: dict[str, dict[str, Any]] = {}
            for issue in self.client.list_issues(repo, state="all", labels=[VIGIL_LABEL]):
                match = MARKER.search(issue.get("body") or "")
                if match:
                    index.setdefault(match.group(1), issue)
            self._marker_index[repo] = index
        return self._marker_index[repo].get(fingerprint)

    def _recur(
        self, target: str, seen: list[Finding], rows: Mapping[str, dict[str, Any]], now: datetime
    ) -> dict[str, Any]:
        row = rows[target]
        occurrences = int(row["occurrences"] or 0) + 1
        outcome: dict[str, Any] = {"target": target, "seen": seen, "occurrences": occurrences}
        if self.client is None or row["number"] is None:
            return outcome | {"result": "recorded"}
        repo, number = row["repo"], int(row["number"])
        try:
            issue = self.client.get_issue(repo, number)
            reopen = issue["state"] == "closed" and issue.get("state_reason") != "not_planned"
            if reopen:
                self.client.update_issue(repo, number, state="open", state_reason="reopened")
            self.client.create_comment(repo, number, render_recurrence(seen, occurrences))
            result = "reopened" if reopen else "commented"
            left_closed = issue["state"] == "closed" and not reopen
            return outcome | {"result": result, "left_closed": left_closed}
        except GitHubError as error:
            return outcome | {"result": "failed", "error": str(error)}

    # -- recording outcomes --------------------------------------------------------------------

    def _record_creation(
        self,
        outcome: dict[str, Any],
        current: Mapping[str, dict[str, Any]],
        updates: dict[str, dict[str, Any]],
        recorder: Recorder,
        report: TrackerReport,
        now: datetime,
    ) -> None:
        creation: Creation = outcome["creation"]
        finding, fp, repo = creation.finding, outcome["fingerprint"], outcome["repo"]
        detail: dict[str, Any] = {
            "kind": finding.kind,
            "repo": repo,
            "title": finding.title,
            "mode": self.mode,
            "figures": dict(finding.figures),
        }
        result = outcome["result"]
        if result == "failed":
            state = "queued" if outcome["requeue"] else "creating"
            updates[fp] = _new_row(finding, repo, state, now, current.get(fp))
            recorder.record(
                ACTOR, "issue.create_failed", fp, detail | {"error": outcome["error"], "next": state}
            )
            report.failed.append(fp)
            return
        row = _new_row(
            finding, repo, "would_open" if result == "would_open" else "open", now, current.get(fp)
        )
        row["opened_at"] = now
        row["closed_at"] = None
        if row["grouped_into"]:
            # Its own issue now: recurrences go here, and the storm summary no longer waits for it.
            detail["storm_summary"] = row["grouped_into"]
            row["grouped_into"] = None
        if result in ("opened", "adopted"):
            issue = outcome["issue"]
            row.update(
                number=int(issue["number"]), url=issue.get("html_url"), state=issue.get("state", "open")
            )
            detail |= {"number": row["number"], "url": row["url"]}
        if outcome.get("reason"):
            detail["reason"] = outcome["reason"]
        updates[fp] = row
        action = {"opened": "issue.opened", "adopted": "issue.adopted", "would_open": "issue.would_open"}[
            result
        ]
        if creation.members:
            action += "_storm_summary"
            detail["members"] = [m.fingerprint for m in creation.members]
        recorder.record(ACTOR, action, fp, detail)
        if row["url"]:
            report.urls[fp] = row["url"]
        {"opened": report.opened, "adopted": report.adopted, "would_open": report.would_open}[result].append(
            fp
        )
        # The members wait in the queue (or were opened this tick): each gets its own issue.
        report.grouped += [m.fingerprint for m in creation.members]

    def _record_recurrence(
        self,
        outcome: dict[str, Any],
        current: Mapping[str, dict[str, Any]],
        updates: dict[str, dict[str, Any]],
        recorder: Recorder,
        report: TrackerReport,
        now: datetime,
    ) -> None:
        target, seen = outcome["target"], outcome["seen"]
        row = dict(updates.get(target) or current[target])
        result = outcome["result"]
        detail = {
            "kind": row["kind"],
            "repo": row["repo"],
            "number": row["number"],
            "url": row["url"],
            "occurrences": outcome["occurrences"],
            "seen": [f.fingerprint for f in seen],
            "mode": self.mode,
        }
        if result == "failed":
            recorder.record(ACTOR, "issue.comment_failed", target, detail | {"error": outcome["error"]})
            report.failed.append(target)
            return
        row.update(occurrences=outcome["occurrences"], updated_at=now)
        row["last_seen_at"] = max([row["last_seen_at"] or _EPOCH] + [_naive_utc(f.observed_at) for f in seen])
        if len(seen) == 1 and seen[0].fingerprint == target:
            row.update(last_occurrence=seen[0].occurrence, evidence=_evidence(seen[0]))
        if result == "reopened":
            row.update(state="open", closed_at=None)
            report.reopened.append(target)
        elif result == "recorded" and row["state"] == "closed":
            row.update(state="would_open", closed_at=None)
            result = "would_reopen"
        if outcome.get("left_closed"):
            detail["note"] = "closed as not planned by a person; left closed"
        recorder.record(
            ACTOR, f"issue.{result}" if result != "recorded" else "issue.recurrence_recorded", target, detail
        )
        report.commented.append(target)
        if row["url"]:
            report.urls[target] = row["url"]
        updates[target] = row
        for finding in seen:
            if finding.fingerprint != target:
                _observe(finding, current, updates, now, count=True)

    # -- closing -------------------------------------------------------------------------------

    def close_clean(
        self, kinds: Iterable[str], as_of: datetime, now: datetime | None = None
    ) -> TrackerReport:
        """Close issues of `kinds` whose finding was last seen more than N days before `as_of`.

        For events (a cost anomaly, an incident) absence is the resolution; the findings sensor
        closes flaky tests and regressions by their state instead (`close_resolved`). `as_of` is
        the data's own clock (the newest evidence time), so replaying history or a pipeline that
        stalled for a week does not close everything at once.
        """
        cutoff = _naive_utc(as_of) - timedelta(days=self.settings.close_after_clean_days)
        with self.ledger.warehouse.read("issues to close") as con:
            rows = _rows(
                con,
                "SELECT * FROM ops.issues WHERE state IN ('open', 'would_open') AND grouped_into IS NULL "
                "AND kind IN (SELECT unnest(CAST(? AS VARCHAR[]))) AND last_seen_at < ? "
                "ORDER BY last_seen_at, fingerprint",
                [sorted(set(kinds)), cutoff],
            )
        days = self.settings.close_after_clean_days
        reasons = {
            fp: f"not seen since {row['last_seen_at']:%Y-%m-%d %H:%M} UTC: {days} clean days"
            for fp, row in rows.items()
            if not is_storm_summary(row)
        }
        return self._close(rows, reasons, now, {"clean_days": days})

    def close_resolved(
        self, kinds: Iterable[str], judge: Judge | None, now: datetime | None = None
    ) -> TrackerReport:
        """Close issues of `kinds` whose finding `judge` says is over, or whose new level a person
        accepted with the label `vigil:accepted` (kinds in ACCEPTING_KINDS, github mode)."""
        with self.ledger.warehouse.read("issues to judge") as con:
            rows = _rows(
                con,
                "SELECT * FROM ops.issues WHERE state IN ('open', 'would_open') AND grouped_into IS NULL "
                "AND kind IN (SELECT unnest(CAST(? AS VARCHAR[]))) ORDER BY updated_at, fingerprint",
                [sorted(set(kinds))],
            )
        findings = {
            fp: finding
            for fp, row in rows.items()
            if fp not in self._acted
            and not is_storm_summary(row)
            and (finding := _finding_of(row)) is not None
        }
        if not findings:
            return TrackerReport()
        reasons = dict(judge(list(findings.values()))) if judge is not None else {}
        accepted = self._accepted_by_label({fp: rows[fp] for fp in findings})
        reasons.update(accepted)
        reasons = {fp: why for fp, why in reasons.items() if fp in findings}
        acceptances = [
            (
                "regression.accepted",
                findings[fp].key,
                {
                    "level": findings[fp].figures.get("after"),
                    "by": f"label {ACCEPTED_LABEL}",
                    "fingerprint": fp,
                    "number": rows[fp]["number"],
                },
            )
            for fp in accepted
        ]
        return self._close(rows, reasons, now, {}, acceptances)

    def close_drained_storms(self, now: datetime | None = None) -> TrackerReport:
        """Close storm summaries none of whose findings still waits in the queue."""
        with self.ledger.warehouse.read("storm summaries") as con:
            rows = _rows(
                con,
                "SELECT * FROM ops.issues AS s WHERE state IN ('open', 'would_open') AND grouped_into IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM ops.issues AS m WHERE m.grouped_into = s.fingerprint "
                "AND m.state IN ('queued', 'creating')) ORDER BY updated_at, fingerprint",
                [],
            )
        reasons = {
            fp: "every finding it announced has its own issue now, or was over before one was needed"
            for fp, row in rows.items()
            if is_storm_summary(row)
        }
        return self._close(rows, reasons, now, {})

    def _close(
        self,
        rows: Mapping[str, dict[str, Any]],
        reasons: Mapping[str, str],
        now: datetime | None,
        extra: Mapping[str, Any],
        acceptances: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> TrackerReport:
        """Close the issues of `rows` that have a reason (never one opened by this tracker), at most
        MAX_CLOSES_PER_CALL, each with a comment saying why; the rest wait for the next call."""
        now = _naive_utc(now or datetime.now(UTC))
        report = TrackerReport()
        chosen = [fp for fp in rows if fp in reasons and fp not in self._acted][:MAX_CLOSES_PER_CALL]
        if not chosen:
            return report
        errors = {fp: self._close_issue(rows[fp], reasons[fp]) for fp in chosen}
        with self.ledger.transaction("issues: close") as (con, recorder):
            current = _rows(
                con,
                "SELECT * FROM ops.issues WHERE fingerprint IN (SELECT unnest(CAST(? AS VARCHAR[])))",
                [chosen],
            )
            updates: dict[str, dict[str, Any]] = {}
            for fp in chosen:
                row = current.get(fp)
                if row is None or row["state"] not in ("open", "would_open"):
                    continue  # changed meanwhile (another tick reopened or closed it)
                detail = {
                    "kind": row["kind"],
                    "repo": row["repo"],
                    "number": row["number"],
                    "url": row["url"],
                    "last_seen_at": row["last_seen_at"],
                    "reason": reasons[fp],
                    "mode": self.mode,
                    **extra,
                }
                if errors[fp]:
                    recorder.record(ACTOR, "issue.close_failed", fp, detail | {"error": errors[fp]})
                    report.failed.append(fp)
                    continue
                updates[fp] = dict(row) | {"state": "closed", "closed_at": now, "updated_at": now}
                recorder.record(ACTOR, "issue.closed", fp, detail)
                report.closed.append(fp)
            for action, subject, detail in acceptances:
                if detail["fingerprint"] in updates:
                    recorder.record(ACTOR, action, subject, detail)
            _upsert(con, updates.values())
        return report

    def _accepted_by_label(self, rows: Mapping[str, dict[str, Any]]) -> dict[str, str]:
        """Issues of ACCEPTING_KINDS a person labelled `vigil:accepted` (one listing per repository)."""
        if self.client is None:
            return {}
        wanted = {fp: r for fp, r in rows.items() if r["kind"] in ACCEPTING_KINDS and r["number"] is not None}
        accepted: dict[str, str] = {}
        for repo in sorted({r["repo"] for r in wanted.values()}):
            try:
                labelled = self.client.list_issues(repo, state="open", labels=[ACCEPTED_LABEL])
            except GitHubError:
                continue  # read again next tick; nothing is closed on a guess
            numbers = {int(i["number"]) for i in labelled}
            for fp, row in wanted.items():
                if row["repo"] == repo and int(row["number"]) in numbers:
                    accepted[fp] = f"the new level was accepted: label `{ACCEPTED_LABEL}` on the issue"
        return accepted

    def _close_issue(self, row: Mapping[str, Any], reason: str) -> str | None:
        if self.client is None or row["number"] is None:
            return None
        try:
            repo, number = row["repo"], int(row["number"])
            self.client.create_comment(
                repo,
                number,
                scrub(
                    f"{reason[:1].upper()}{reason[1:]}. Closing; Vigil reopens this issue if it comes back."
                ),
            )
            self.client.update_issue(repo, number, state="closed", state_reason="completed")
        except GitHubError as error:
            return str(error)
        return None


_EPOCH = datetime(1970, 1, 1)


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _finding_of(row: Mapping[str, Any]) -> Finding | None:
    """The finding a row was last seen as (None: no evidence, or evidence cut short)."""
    try:
        return Finding.from_json(row["evidence"]) if row["evidence"] else None
    except (ValueError, KeyError, TypeError):
        return None


def _evidence(finding: Finding) -> str:
    return scrub(finding.to_json())[:20_000]


def _new_row(
    finding: Finding, repo: str | None, state: str, now: datetime, existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    base = dict(existing) if existing else {c: None for c in _COLUMNS}
    base.update(
        fingerprint=finding.fingerprint,
        kind=finding.kind,
        repo=repo,
        state=state,
        title=scrub(finding.title),
        occurrences=max(1, int(base.get("occurrences") or 0)),
        updated_at=now,
        last_seen_at=max(_naive_utc(finding.observed_at), base.get("last_seen_at") or _EPOCH),
        last_occurrence=finding.occurrence,
        evidence=_evidence(finding),
    )
    return base


def _observe(
    finding: Finding,
    current: Mapping[str, dict[str, Any]],
    updates: dict[str, dict[str, Any]],
    now: datetime,
    count: bool = False,
) -> None:
    """Note a sighting without telling anyone: refresh evidence and the clean-days clock."""
    fp = finding.fingerprint
    row = updates.get(fp) or current.get(fp)
    if row is None:
        return
    row = dict(row)
    seen_at = _naive_utc(finding.observed_at)
    row.update(
        last_seen_at=max(row["last_seen_at"] or _EPOCH, seen_at),
        last_occurrence=finding.occurrence,
        evidence=_evidence(finding),
        updated_at=now,
    )
    if count:
        row["occurrences"] = int(row["occurrences"] or 0) + 1
    updates[fp] = row
    # A storm summary stays open while any finding it stands for is still seen.
    parent_fp = row["grouped_into"]
    parent = updates.get(parent_fp) or current.get(parent_fp) if parent_fp else None
    if parent is not None and (parent["last_seen_at"] or _EPOCH) < seen_at:
        updates[parent_fp] = dict(parent) | {"last_seen_at": seen_at, "updated_at": now}


# Rows for a list of fingerprints plus the storm summaries they are grouped into.
_WITH_PARENTS = (
    "SELECT * FROM ops.issues WHERE fingerprint IN (SELECT unnest(CAST(? AS VARCHAR[]))) OR fingerprint IN "
    "(SELECT grouped_into FROM ops.issues WHERE fingerprint IN (SELECT unnest(CAST(? AS VARCHAR[]))))"
)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> dict[str, dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _upsert(con: duckdb.DuckDBPyConnection, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    con.execute(
        "DELETE FROM ops.issues WHERE fingerprint IN (SELECT unnest(CAST(? AS VARCHAR[])))",
        [[r["fingerprint"] for r in rows]],
    )
    columns = ", ".join(_COLUMNS)
    placeholders = ", ".join("?" for _ in _COLUMNS)
    # A few rows per tick: parameters, not a bulk load.
    con.executemany(
        f"INSERT INTO ops.issues ({columns}) VALUES ({placeholders})",  # noqa: S608
        [[r.get(c) for c in _COLUMNS] for r in rows],
    )


class IssueTrackerResource(dg.ConfigurableResource):
    """Where and how Vigil files issues for its findings (see `resources.issue_tracker`)."""

    mode: str = Field(
        default="record",
        description="github: open issues through the GitHub API (env VIGIL_ISSUES=github); anything "
        "else: only record in ops.issues what would be opened.",
    )
    incident_repo: str = Field(
        default="",
        description="owner/name where incidents and Vigil's own failures are filed (VIGIL_INCIDENT_REPO).",
    )
    max_new_per_tick: int = Field(default=5, ge=0, description="Most new issues one sensor tick may open.")
    storm_threshold: int = Field(
        default=25,
        ge=1,
        description="More new findings than this at once become one summary issue per repository.",
    )
    close_after_clean_days: int = Field(
        default=7, ge=1, description="Close an issue after this many days without its finding."
    )
    claim_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="A creation claim older than this is reconciled through the body marker.",
    )

    @property
    def opens_issues(self) -> bool:
        return self.settings().opens_issues

    def settings(self) -> TrackerSettings:
        return TrackerSettings(
            mode=self.mode,
            incident_repo=self.incident_repo,
            max_new_per_tick=self.max_new_per_tick,
            storm_threshold=self.storm_threshold,
            close_after_clean_days=self.close_after_clean_days,
            claim_timeout_s=self.claim_timeout_s,
        )

    def tracker(self, ledger: Ledger, client: GitHubClient | None) -> IssueTracker:
        """A tracker writing through `ledger`; `client` is used only in github mode."""
        return IssueTracker(ledger, self.settings(), client)
