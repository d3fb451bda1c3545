"""The code behind each simulated repository's tests: modules, files, and what every commit changed.

Every test group of the catalogue (a pytest module, a jest test file, a Java test class, a Go
package) tests one source *module* of a few files; some groups also use a shared module (the
repository's common/platform code). Every commit changes files, and the changes explain the
failures the other features injected:

- a pull-request commit that breaks tests (sim_faults' `commit_failures`) changes a source file of
  each broken test's module (or, sometimes, of a module the test depends on);
- the main commit that breaks a test (`broken`) changes such a file, and its fix changes it again;
- flaky failures are explained by no change at all;
- other commits change what developers change: a module and often its tests (or the tests of a
  module that uses it), docs, configuration, build files (Renovate's lock-file pushes, "Bump ..."
  commits).

The draws come from their own stream (`seed:code:repo`), so adding this feature shifts no other
random stream. Ground truth (modules, dependencies, every commit's files and parents) is exposed
through `RepoCode`, the GitHub server serves it as the commit and compare endpoints.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from observability_assets.demo.sim_faults import RepoFaults
from observability_assets.demo.sim_plan import RENOVATE, RepoPlan
from observability_assets.demo.sim_tests import JEST, PYTEST, SUREFIRE, TestCatalogue

SHARED = "shared"  # the module name of each repository's shared code
# Share of breakages caused by a change to a module the broken test depends on (not its own).
DEPENDENCY_BREAK_SHARE = 0.2
MERGE_PREFIX = "Merge branch 'main' into "
PR_FOCUS = 0.85  # share of a pull request's later commits that stay in the module it started on


@dataclass(frozen=True)
class Module:
    name: str
    sources: tuple[str, ...]
    test_file: str | None  # the group's test file; None for the shared module (no tests of its own)
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added, modified, removed, renamed (GitHub's values)
    additions: int
    deletions: int


@dataclass
class CodeBase:
    """The files of one repository and which tests depend on which modules."""

    modules: dict[str, Module]
    test_module: tuple[str, ...]  # per test index: the module its group tests
    docs: tuple[str, ...]
    config: tuple[str, ...]
    build: tuple[str, ...]
    lock_file: str

    def dependencies(self, test: int) -> tuple[str, ...]:
        """Modules test `test` runs code of: its own, then what that module depends on."""
        own = self.modules[self.test_module[test]]
        return (own.name, *own.depends_on)

    def all_files(self) -> list[str]:
        files = [f for m in self.modules.values() for f in (*m.sources, *filter(None, [m.test_file]))]
        return sorted({*files, *self.docs, *self.config, *self.build})


@dataclass
class RepoCode:
    """Ground truth of one repository's code: its structure and each commit's own diff."""

    base: CodeBase
    parents: list[tuple[int, ...]]  # commit indices, first parent first
    changes: list[tuple[FileChange, ...]]  # per commit: the diff against its first parent
    kind: list[str]  # per commit: why it changed what it changed
    breaks: dict[int, tuple[int, ...]] = field(default_factory=dict)  # commit -> tests it breaks
    # Merge commits' own edits (conflict resolutions): part of the branch's changes in a compare.
    resolutions: dict[int, tuple[FileChange, ...]] = field(default_factory=dict)


def build_codebase(repo_name: str, catalogue: TestCatalogue, rng: random.Random) -> CodeBase:
    """Source modules named after the catalogue's test groups, in the dialect's layout."""
    dialect = catalogue.dialect
    groups = [_group_of(catalogue, t) for t in range(len(catalogue))]
    names: dict[str, str] = {}
    for group in dict.fromkeys(groups):
        names[group] = _module_name(dialect, group)
    pkg = re.sub(r"[^a-z0-9]", "", repo_name.lower()) or "app"
    modules: dict[str, Module] = {
        SHARED: Module(SHARED, _sources(dialect, pkg, SHARED, "", shared=True), None)
    }
    module_names = list(dict.fromkeys(names.values()))
    for group, name in names.items():
        if name in modules:
            continue
        # About half the modules use the shared code, a few use another module.
        depends = [SHARED] if rng.random() < 0.5 else []
        if rng.random() < 0.25:
            other = rng.choice([m for m in module_names if m != name])
            depends.append(other)
        modules[name] = Module(
            name, _sources(dialect, pkg, name, group), _test_file(dialect, pkg, group), tuple(depends)
        )
    docs, config, build, lock = _repo_files(dialect, pkg, module_names)
    return CodeBase(modules, tuple(names[g] for g in groups), docs, config, build, lock)


def plan_repo_code(
    repo_name: str, catalogue: TestCatalogue, plan: RepoPlan, faults: RepoFaults, seed: int
) -> RepoCode:
    """Every commit's parents and files, consistent with the failures injected into its runs."""
    rng = random.Random(f"{seed}:code:{repo_name}")
    base = build_codebase(repo_name, catalogue, rng)
    c = plan.commits
    parents = _parents(plan)
    breaks: dict[int, list[int]] = {i: list(t) for i, t in faults.commit_failures.items()}
    fixes: dict[int, list[str]] = {}
    for broken in faults.broken:
        breaks.setdefault(plan.main[broken.start_position], []).append(broken.test)
    changes: list[tuple[FileChange, ...]] = [()] * len(c)
    kinds = [""] * len(c)
    focus: dict[int, Module] = {}  # pull request -> the module it works on
    break_files: dict[int, list[str]] = {}
    for i in range(len(c)):
        if i == 0:
            changes[i], kinds[i] = _initial_commit(base), "initial"
        elif i in breaks:
            files = [_break_file(base, t, rng) for t in breaks[i]]
            break_files[i] = files
            extra = _module_change(base, rng, base.modules[_module_of(base, files[0])])
            changes[i], kinds[i] = _modified([*files, *extra[: rng.randint(0, 1)]], rng), "breaks tests"
        elif c.author[i] == RENOVATE:
            changes[i], kinds[i] = _modified([base.lock_file], rng, big=True), "lock file"
        elif c.message[i].startswith("Bump "):
            changes[i], kinds[i] = _modified([base.build[0], base.lock_file], rng), "dependency bump"
        elif c.pr_number[i] in focus and rng.random() < PR_FOCUS:
            # Follow-up commits of a pull request keep working on its module.
            changes[i], kinds[i] = _modified(_module_change(base, rng, focus[c.pr_number[i]]), rng), "code"
        else:
            files, kinds[i] = _ordinary_change(base, rng)
            changes[i] = _modified(files, rng)
            if c.pr_number[i] and kinds[i] == "code":
                focus.setdefault(c.pr_number[i], base.modules[_module_of(base, files[0])])
    for broken in faults.broken:
        if broken.fix_position is not None:
            start = plan.main[broken.start_position]
            fix = plan.main[broken.fix_position]
            fixes.setdefault(fix, []).append(break_files[start][breaks[start].index(broken.test)])
    for fix, files in fixes.items():
        kept = [f.path for f in changes[fix]]
        changes[fix], kinds[fix] = _modified([*files, *kept], rng), "fixes tests"
    # Merge commits show main's changes; one that breaks tests also resolved a conflict in code.
    resolutions = {i: changes[i] for i in range(len(c)) if len(parents[i]) > 1 and i in breaks}
    _merge_commits(plan, parents, changes, kinds, resolutions)
    return RepoCode(base, parents, changes, kinds, {i: tuple(t) for i, t in breaks.items()}, resolutions)


def compare_files(code: RepoCode, plan: RepoPlan, base: int, head: int) -> list[FileChange] | None:
    """GitHub's three-dot compare: what `head` changed since its merge base with `base`.

    Walks head's first parents down to the merge base (None when none is within reach); merge
    commits bring the base branch's changes, so they are skipped.
    """
    main = plan.commits.main_position
    chain: list[int] = []
    seen = head
    for _ in range(10_000):
        # The merge base: `base` itself, or a main commit `base` (on main) already contains.
        if seen == base or 0 <= main[seen] <= main[base]:
            break
        chain.append(seen)
        if not code.parents[seen]:
            return None
        seen = code.parents[seen][0]
    else:
        return None
    merged: dict[str, FileChange] = {}
    for commit in reversed(chain):
        own = code.resolutions.get(commit, ()) if len(code.parents[commit]) > 1 else code.changes[commit]
        for change in own:
            before = merged.get(change.path)
            merged[change.path] = (
                change
                if before is None
                else FileChange(
                    change.path,
                    before.status if before.status == "added" else change.status,
                    before.additions + change.additions,
                    before.deletions + change.deletions,
                )
            )
    return [merged[p] for p in sorted(merged)]


# -- commit graph ---------------------------------------------------------------------------------


def _parents(plan: RepoPlan) -> list[tuple[int, ...]]:
    c = plan.commits
    last_of_pr: dict[int, int] = {}
    parents: list[tuple[int, ...]] = []
    for i in range(len(c)):
        main_parent = plan.main[c.base_position[i]] if c.base_position[i] >= 0 else None
        if c.pr_number[i] == 0:
            # Pushed straight to main: its parent is the previous main commit.
            position = c.main_position[i]
            parents.append((plan.main[position - 1],) if position > 0 else ())
            continue
        previous = last_of_pr.get(c.pr_number[i])
        if c.author[i] == RENOVATE or previous is None:
            parents.append((main_parent,) if main_parent is not None else ())  # rebased onto main
        elif c.message[i].startswith(MERGE_PREFIX):
            parents.append((previous, main_parent) if main_parent is not None else (previous,))
        else:
            parents.append((previous,))
        last_of_pr[c.pr_number[i]] = i
    return parents


def _merge_commits(
    plan: RepoPlan,
    parents: list[tuple[int, ...]],
    changes: list[tuple[FileChange, ...]],
    kinds: list[str],
    resolutions: dict[int, tuple[FileChange, ...]],
) -> None:
    """A merge of main into a branch shows main's changes since the branch's previous base."""
    c = plan.commits
    introduced = _introduced_by_main(plan, parents, changes, resolutions)
    for i in range(len(c)):
        if not c.message[i].startswith(MERGE_PREFIX) or len(parents[i]) < 2:
            continue
        old_base = c.base_position[parents[i][0]]
        files: dict[str, FileChange] = {}
        for position in range(old_base + 1, c.base_position[i] + 1):
            for change in introduced.get(position, ()):
                files[change.path] = change
        for change in resolutions.get(i, ()):
            files[change.path] = change
        changes[i] = tuple(files[p] for p in sorted(files))
        kinds[i] = "merge main, breaks tests" if i in resolutions else "merge main"


def _introduced_by_main(
    plan: RepoPlan,
    parents: list[tuple[int, ...]],
    changes: list[tuple[FileChange, ...]],
    resolutions: dict[int, tuple[FileChange, ...]],
) -> dict[int, tuple[FileChange, ...]]:
    """Per main position, what reaching it changed (a fast-forwarded branch brings all its commits)."""
    c = plan.commits
    out: dict[int, tuple[FileChange, ...]] = {}
    for position, commit in enumerate(plan.main):
        if c.pr_number[commit] == 0 or position == 0:
            out[position] = changes[commit]
            continue
        files: dict[str, FileChange] = {}
        walk: int | None = commit
        while walk is not None and c.main_position[walk] in (-1, position):
            own = resolutions.get(walk, ()) if len(parents[walk]) > 1 else changes[walk]
            for change in own:
                files.setdefault(change.path, change)
            walk = parents[walk][0] if parents[walk] else None
        out[position] = tuple(files[p] for p in sorted(files))
    return out


# -- what a commit changes --------------------------------------------------------------------------


def _module_of(base: CodeBase, path: str) -> str:
    for module in base.modules.values():
        if path in module.sources or path == module.test_file:
            return module.name
    return SHARED


def _break_file(base: CodeBase, test: int, rng: random.Random) -> str:
    """A source file whose change breaks `test`: its module's, sometimes a dependency's."""
    deps = base.dependencies(test)
    module = deps[0] if len(deps) == 1 or rng.random() >= DEPENDENCY_BREAK_SHARE else rng.choice(deps[1:])
    return rng.choice(base.modules[module].sources)


def _module_change(base: CodeBase, rng: random.Random, module: Module) -> list[str]:
    """One to three source files of `module`, often with the tests of it or of a module using it."""
    files = rng.sample(module.sources, min(len(module.sources), rng.randint(1, 3)))
    if module.test_file and rng.random() < 0.6:
        files.append(module.test_file)
    users = [m for m in base.modules.values() if module.name in m.depends_on and m.test_file]
    if users and rng.random() < 0.5:
        files.append(rng.choice(users).test_file)
    return files


def _ordinary_change(base: CodeBase, rng: random.Random) -> tuple[list[str], str]:
    u = rng.random()
    modules = list(base.modules.values())
    if u < 0.10:
        return rng.sample(base.docs, min(len(base.docs), rng.randint(1, 2))), "docs"
    if u < 0.16:
        return [rng.choice(base.config)], "config"
    if u < 0.24:
        tested = [m for m in modules if m.test_file]
        return [rng.choice(tested).test_file], "tests"
    module = modules[0] if u < 0.30 else rng.choice(modules[1:])  # the shared module, now and then
    files = _module_change(base, rng, module)
    if rng.random() < 0.1:
        files.append(rng.choice(base.docs))
    return files, "code"


def _modified(paths: list[str], rng: random.Random, *, big: bool = False) -> tuple[FileChange, ...]:
    out = []
    for path in sorted(set(paths)):
        added = rng.randint(50, 900) if big else max(1, int(rng.expovariate(1 / 18)))
        out.append(FileChange(path, "modified", added, rng.randint(0, added)))
    return tuple(out)


def _initial_commit(base: CodeBase) -> tuple[FileChange, ...]:
    return tuple(FileChange(p, "added", 40 + len(p) * 3, 0) for p in base.all_files())


# -- layouts ---------------------------------------------------------------------------------------


def _group_of(catalogue: TestCatalogue, test: int) -> str:
    """The catalogue's group (module, test file, Java class or Go package) of a test."""
    if catalogue.dialect == JEST:
        return catalogue.suite[test]
    if catalogue.dialect == SUREFIRE:
        return catalogue.report_path[test].split("/", 1)[0] + ":" + catalogue.suite[test]
    return catalogue.classname[test]


def _module_name(dialect: str, group: str) -> str:
    if dialect == PYTEST:
        return group.rsplit(".", 1)[-1].removeprefix("test_")
    if dialect == JEST:
        return group.rsplit("/", 1)[-1].split(".", 1)[0].lower()
    if dialect == SUREFIRE:
        return group.rsplit(".", 1)[-1].removesuffix("ServiceTest").lower()
    return group.rsplit("/", 1)[-1]


def _sources(dialect: str, pkg: str, name: str, group: str, *, shared: bool = False) -> tuple[str, ...]:
    if dialect == PYTEST:
        folder = f"src/{pkg}/{name}"
        return (f"{folder}/__init__.py", f"{folder}/models.py", f"{folder}/service.py")
    if dialect == JEST:
        if shared:
            return ("src/lib/shared/fetch.ts", "src/lib/shared/format.ts", "src/lib/shared/store.ts")
        area, component = group.split("/")[1], group.rsplit("/", 1)[-1].split(".", 1)[0]
        return (f"src/{area}/{component}.tsx", f"src/{area}/{component}.styles.ts", f"src/api/{name}.ts")
    if dialect == SUREFIRE:
        if shared:
            root = f"core/src/main/java/com/acme/{pkg}/shared"
            return (f"{root}/Db.java", f"{root}/Json.java", f"{root}/Clock.java")
        module, classname = group.split(":", 1)
        root = f"{module}/src/main/java/" + classname.rsplit(".", 1)[0].replace(".", "/")
        noun = classname.rsplit(".", 1)[-1].removesuffix("ServiceTest")
        return (f"{root}/{noun}Service.java", f"{root}/{noun}Repository.java", f"{root}/{noun}.java")
    folder = "internal/platform" if shared else f"internal/{name}"
    return (f"{folder}/{name}.go", f"{folder}/store.go", f"{folder}/errors.go")


def _test_file(dialect: str, pkg: str, group: str) -> str:
    if dialect == PYTEST:
        return group.replace(".", "/") + ".py"
    if dialect == JEST:
        return group
    if dialect == SUREFIRE:
        module, classname = group.split(":", 1)
        return f"{module}/src/test/java/" + classname.replace(".", "/") + ".java"
    name = group.rsplit("/", 1)[-1]
    return f"internal/{name}/{name}_test.go"


def _repo_files(
    dialect: str, pkg: str, modules: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]:
    docs = ("README.md", "CHANGELOG.md", *(f"docs/{m}.md" for m in modules[:4]))
    workflows = (".github/workflows/ci.yml", ".github/workflows/nightly.yml", ".github/workflows/release.yml")
    if dialect == PYTEST:
        return (
            docs,
            ("config/settings.yaml", "config/logging.yaml"),
            ("pyproject.toml", *workflows),
            "uv.lock",
        )
    if dialect == JEST:
        config = (".eslintrc.json", "config/feature-flags.json", ".prettierrc")
        return docs, config, ("package.json", "tsconfig.json", *workflows), "package-lock.json"
    if dialect == SUREFIRE:
        config = ("service/src/main/resources/application.yaml", "config/checkstyle.xml")
        return docs, config, ("pom.xml", "core/pom.xml", "service/pom.xml", *workflows), "pom.xml"
    return docs, ("config/config.yaml", ".golangci.yml"), ("go.mod", "Makefile", *workflows), "go.sum"


# -- GitHub REST objects ----------------------------------------------------------------------------

API = "https://api.github.com"
WEB = "https://github.com"
FILES_PER_PAGE = 300  # GitHub lists a commit's files 300 to a page (3,000 at most)


class CodeView:
    """One repository's commits as GitHub's commit and compare objects (for the demo server)."""

    def __init__(self, full_name: str, plan: RepoPlan, code: RepoCode) -> None:
        self.full_name, self.plan, self.code = full_name, plan, code
        self.index = {sha: i for i, sha in enumerate(plan.commits.sha)}

    def _file(self, change: FileChange) -> dict[str, object]:
        blob = _blob_sha(self.full_name, change.path, change.additions)
        web = f"{WEB}/{self.full_name}"
        return {
            "sha": blob,
            "filename": change.path,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{web}/blob/{blob}/{change.path}",
            "raw_url": f"{web}/raw/{blob}/{change.path}",
            "contents_url": f"{API}/repos/{self.full_name}/contents/{change.path}?ref={blob}",
            "patch": f"@@ -1,{change.deletions} +1,{change.additions} @@",
        }

    def _commit_ref(self, index: int) -> dict[str, str]:
        sha = self.plan.commits.sha[index]
        return {
            "sha": sha,
            "url": f"{API}/repos/{self.full_name}/commits/{sha}",
            "html_url": f"{WEB}/{self.full_name}/commit/{sha}",
        }

    def _commit(self, index: int) -> dict[str, object]:
        from datetime import UTC, datetime

        c = self.plan.commits
        at = datetime.fromtimestamp(c.at[index], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        person = {"name": c.author[index], "email": f"{c.author[index].replace('[bot]', '')}@users.noreply.github.com", "date": at}  # fmt: skip
        return {
            **self._commit_ref(index),
            "node_id": f"C_{c.sha[index][:20]}",
            "comments_url": f"{API}/repos/{self.full_name}/commits/{c.sha[index]}/comments",
            "commit": {
                "url": f"{API}/repos/{self.full_name}/git/commits/{c.sha[index]}",
                "author": person,
                "committer": {**person, "name": "GitHub", "email": "noreply@github.com"},
                "message": c.message[index],
                "tree": {
                    "sha": _blob_sha(self.full_name, "tree", index),
                    "url": f"{API}/repos/{self.full_name}/git/trees/{_blob_sha(self.full_name, 'tree', index)}",
                },  # fmt: skip
                "comment_count": 0,
            },
            "parents": [self._commit_ref(p) for p in self.code.parents[index]],
        }

    def commit_object(self, sha: str, page: int, per_page: int) -> tuple[dict[str, object], int] | None:
        """GET /repos/{o}/{r}/commits/{sha}: the commit with one page of its files, and the page count."""
        index = self.index.get(sha)
        if index is None:
            return None
        files = self.code.changes[index]
        additions = sum(f.additions for f in files)
        deletions = sum(f.deletions for f in files)
        pages = max(1, -(-len(files) // per_page))
        body = {
            **self._commit(index),
            "stats": {"total": additions + deletions, "additions": additions, "deletions": deletions},
            "files": [self._file(f) for f in files[(page - 1) * per_page : page * per_page]],
        }
        return body, pages

    def compare_object(self, base: str, head: str) -> dict[str, object] | None:
        """GET /repos/{o}/{r}/compare/{base}...{head} (first page: files and up to 250 commits)."""
        b, h = self.index.get(base), self.index.get(head)
        if b is None or h is None:
            return None
        files = compare_files(self.code, self.plan, b, h)
        if files is None:
            return None
        commits, walk = [], h
        main = self.plan.commits.main_position
        while walk != b and not 0 <= main[walk] <= main[b] and self.code.parents[walk]:
            commits.append(walk)
            walk = self.code.parents[walk][0]
        commits.reverse()
        web = f"{WEB}/{self.full_name}"
        return {
            "url": f"{API}/repos/{self.full_name}/compare/{base}...{head}",
            "html_url": f"{web}/compare/{base}...{head}",
            "permalink_url": f"{web}/compare/{self.full_name.split('/')[0]}:{base[:7]}...{self.full_name.split('/')[0]}:{head[:7]}",
            "diff_url": f"{web}/compare/{base}...{head}.diff",
            "patch_url": f"{web}/compare/{base}...{head}.patch",
            "base_commit": self._commit(b),
            "merge_base_commit": self._commit(walk),
            "status": "ahead" if walk == b else "diverged",
            "ahead_by": len(commits),
            "behind_by": 0 if walk == b else max(0, main[b] - main[walk]),
            "total_commits": len(commits),
            "commits": [self._commit(i) for i in commits[-250:]],
            "files": [self._file(f) for f in files[:FILES_PER_PAGE]],
        }

    def rows(self) -> list[tuple[str, str, str, str, int, int]]:
        """raw.commit_files rows (without the partition) of every commit's own diff."""
        c = self.plan.commits
        out = []
        for i, changes in enumerate(self.code.changes):
            parent = c.sha[self.code.parents[i][0]] if self.code.parents[i] else None
            n = len(self.code.parents[i])
            out += [
                (self.full_name, c.sha[i], parent, f.path, f.status, f.additions, f.deletions, None, n)
                for f in changes
            ]
        return out


def _blob_sha(*parts: object) -> str:
    import hashlib

    return hashlib.sha1("\0".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()
