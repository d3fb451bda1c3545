"""The GitHub resource as a client factory and a repository list, and how its errors fail a run.

The composition root decides which GitHub serves: a REST API base URL (https://api.github.com or
a GitHub Enterprise `/api/v3` URL) with `GITHUB_TOKEN` and `VIGIL_GITHUB_REPOS`, or, in demo
mode only, the simulated organisation's resource. Both answer `client()`, `repositories()` and
`describe()`; this module never asks which one it has.
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
    return GitHubSource(make_client=github.client, repos=github.repositories(), description=github.describe())


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
