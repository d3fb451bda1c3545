"""Fixtures of the browser tests: one headless Chromium per session, a fresh page per test.

Chromium comes from Debian (`apt-get install -y chromium`; the Makefile installs it when missing).
Without it the tests skip on a developer machine and fail in CI (`CI=true`), where skipping would
hide that the UI was never checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_ui import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots kept after the run (git-ignored): test-artifacts/ at the repository root."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
