"""Resolve the GitHub resource to a client factory and a repository list.

`GITHUB_API_URL=demo` (the default) means the embedded simulated organisation; anything else is a
GitHub REST API base URL (https://api.github.com or a GitHub Enterprise `/api/v3` URL) used with
`GITHUB_TOKEN` and `VIGIL_GITHUB_REPOS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from resources.github import GitHubClient, GitHubError, GitHubRateLimited, GitHubResource

# Answers that another try cannot change: bad credentials, missing permission, unknown repository.
PERMANENT_STATUSES = frozenset({401, 403, 404, 410, 422})


@dataclass(frozen=True)
class GitHubSource:
    make_client: Callable[[], GitHubClient]
    repos: list[str]
    description: str


def open_github(github: GitHubResource) -> GitHubSource:
    if github.is_demo:
        from observability_assets.demo.embedded import embedded_github

        demo = embedded_github()
        repos = _selected(github.repos, demo.repos)
        return GitHubSource(
            make_client=lambda: github.client(base_url=demo.url, token=demo.token),
            repos=repos,
            description="embedded simulated organisation (GITHUB_API_URL=demo)",
        )
    if not github.repos.strip():
        raise ValueError(
            "VIGIL_GITHUB_REPOS is empty: name repositories (owner/name) or organisations to crawl"
        )
    repos = github.client().expand_repos(github.repos)
    return GitHubSource(make_client=github.client, repos=repos, description=github.api_url)


def _selected(spec: str, available: list[str]) -> list[str]:
    """In the demo, VIGIL_GITHUB_REPOS may narrow the simulated repositories."""
    wanted = [item.strip() for item in spec.split(",") if item.strip()]
    if not wanted:
        return available
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ValueError(f"repositories {unknown} are not in the simulated organisation {available}")
    return wanted


@contextmanager
def permanent_github_errors_fail_fast() -> Iterator[None]:
    """Let the asset's RetryPolicy retry transient trouble but not a wrong token or repository."""
    try:
        yield
    except GitHubRateLimited:
        raise
    except GitHubError as error:
        if error.status in PERMANENT_STATUSES:
            raise dg.Failure(
                description=f"GitHub refused the request: {error}", allow_retries=False
            ) from None
        raise
