"""The demo as a person meets it: `vigil demo`, then the Dagster UI and the weekly report in Chromium.

One module-wide site: `vigil demo` over a short window in a temporary folder, and `dagster dev`
(started while the demo runs) on the same instance and warehouse, so the UI shows the demo's runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster_ui import REPO_ROOT, DagsterDev, dismiss_community_modal, keep_picture, label_matches
from report_view import SECTION_IDS, charts, sections

from observability_assets.report.weekly_report import REPORT_KEY, latest_report_path
from resources.warehouse import Warehouse

pytestmark = pytest.mark.browser

# A short demo keeps `make test` quick; the README's pictures come from a full one:
#   VIGIL_DOCS_PICTURES=1 VIGIL_BROWSER_DEMO_DAYS=28 .venv/bin/pytest --timeout=1800 tests/browser/test_dagster_ui.py
DEMO_DAYS = int(os.environ.get("VIGIL_BROWSER_DEMO_DAYS", "3"))
# Settings of the environment that must not leak from a developer's shell into the demo.
PRIVATE = ("GITHUB_API_URL", "GITHUB_TOKEN", "VIGIL_GITHUB_REPOS", "VIGIL_WAREHOUSE", "VIGIL_ISSUES")


@dataclass(frozen=True)
class Site:
    root: Path
    warehouse: Path
    demo: subprocess.CompletedProcess
    ui: DagsterDev


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE}
    python_path = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    # The warehouse is the default data/warehouse.duckdb under the site, as after `make demo`.
    env.update(
        # The repository's service catalogue, as `make demo` in the repository finds it.
        VIGIL_SERVICES=str(REPO_ROOT / "config" / "services.yaml"),
        DAGSTER_HOME=str(root / ".dagster_home"),
        VIGIL_DEMO_DAYS=str(DEMO_DAYS),
        PYTHONPATH=os.pathsep.join(python_path),
    )
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    (root / ".dagster_home").mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", root / ".dagster_home" / "dagster.yaml")
    env = _environment(root)
    ui = DagsterDev(cwd=root, env=env)
    ui.launch()  # loads while the demo runs
    try:
        # Checked by the demo's own test, so the UI tests still run when the demo fails.
        demo = subprocess.run(
            [str(Path(sys.executable).with_name("vigil")), "demo"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        ui.wait_until_loaded(timeout_s=180)
        yield Site(root, root / "data" / "warehouse.duckdb", demo, ui)
    finally:
        ui.stop()


def expected_assets() -> dict[str, str]:
    """Every asset the code location materializes, as `a/b` -> group, from the Definitions."""
    from observability_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).group_name for key in graph.materializable_asset_keys}


def test_the_demo_ends_with_a_report_where_every_section_and_chart_has_data(
    site: Site, page, artifacts: Path
) -> None:
    assert site.demo.returncode == 0, site.demo.stdout[-3000:] + site.demo.stderr[-3000:]
    report = latest_report_path(Warehouse(site.warehouse))
    assert report is not None, (
        "vigil demo wrote no weekly report (is reports/weekly_health in definitions.py?)"
    )
    assert str(report) in site.demo.stdout, "vigil demo does not say where the report is"

    page.goto(report.as_uri())
    # Pictures first: when an assertion fails, they show what a person would have seen.
    page.screenshot(path=artifacts / "report-demo-full.png", full_page=True)
    shot = artifacts / "report.png"
    page.screenshot(path=shot, clip={"x": 0, "y": 0, "width": 1400, "height": 2400}, full_page=True)

    states = sections(page)
    assert list(states) == list(SECTION_IDS)
    not_built = [name for name, state in states.items() if state == "missing"]
    assert not not_built, f"sections whose tables the demo did not build: {not_built}"
    views = charts(page)
    assert views, "the demo report has no charts"
    blank = [v for v in views if not v.has_data]
    assert not blank, f"charts without data: {blank}"
    keep_picture(shot, "report.png")


def test_the_asset_graph_shows_every_group_and_asset(site: Site, browser, artifacts: Path) -> None:
    expected = expected_assets()
    # A tall page: the whole graph fits at a zoom where Dagster still draws every node's name
    # (zoomed further out it draws bare boxes), and the picture stays readable in the README.
    context = browser.new_context(viewport={"width": 2000, "height": 2600}, device_scale_factor=1.5)
    page = context.new_page()
    page.goto(f"{site.ui.url}/asset-groups")
    page.locator("foreignObject").first.wait_for()
    dismiss_community_modal(page)
    # Every group open, top to bottom: the graph then fits the page and every node is drawn.
    settings = page.locator("button:has([aria-label='settings'])").last
    settings.click()
    page.locator("text=Expand all groups >> visible=true").first.click()
    # The opened graph re-renders its toolbar for a moment; its menu items detach under a click.
    page.wait_for_timeout(2000)
    settings.click()
    # A graph may already open top to bottom: the menu then offers the horizontal one instead.
    vertical = page.locator("text=Change graph to vertical orientation >> visible=true").first
    horizontal = page.locator("text=Change graph to horizontal orientation >> visible=true").first
    vertical.or_(horizontal).wait_for()
    if vertical.is_visible():
        vertical.click()
    else:
        page.keyboard.press("Escape")
    page.get_by_text("Hide navigation").click()
    page.reload()
    page.locator("foreignObject.group").first.wait_for()
    page.wait_for_timeout(1000)

    shot = artifacts / "lineage.png"
    page.screenshot(path=shot, clip=_bounding_box(page, "foreignObject.group", margin=12))

    groups = set(page.locator("foreignObject.group").all_text_contents())
    assert groups == set(expected.values())
    shown = page.locator("foreignObject:not(.group)").all_text_contents()
    shown = [s for s in shown if s]
    names = [key.rsplit("/", 1)[-1] for key in expected]
    unmatched = [n for n in names if not any(label_matches(s, n) for s in shown)]
    assert not unmatched, f"assets missing from the graph: {unmatched}"
    assert len(shown) == len(names)
    keep_picture(shot, "lineage.png")

    # The catalog lists the full keys, one row each.
    page.set_viewport_size({"width": 1600, "height": 4000})
    page.goto(f"{site.ui.url}/assets")
    page.locator("a[href^='/assets/']").first.wait_for()
    links = {
        h.removeprefix("/assets/")
        for h in page.locator("a[href^='/assets/']").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
    }
    assert set(expected) <= links
    context.close()


def _bounding_box(page, selector: str, margin: int) -> dict[str, float]:
    """The smallest rectangle around every element matching `selector`, plus a margin."""
    return page.eval_on_selector_all(
        selector,
        f"""els => {{
          const boxes = els.map(e => e.getBoundingClientRect());
          const left = Math.min(...boxes.map(b => b.left)) - {margin};
          const top = Math.min(...boxes.map(b => b.top)) - {margin};
          return {{x: Math.max(left, 0), y: Math.max(top, 0),
                   width: Math.max(...boxes.map(b => b.right)) + {margin} - Math.max(left, 0),
                   height: Math.max(...boxes.map(b => b.bottom)) + {margin} - Math.max(top, 0)}};
        }}""",
    )


def test_a_report_materialized_from_the_ui_succeeds_and_links_its_file(
    site: Site, page, artifacts: Path
) -> None:
    key = REPORT_KEY.to_user_string()
    assert key in expected_assets(), "reports/weekly_health is not in the Definitions"
    page.goto(f"{site.ui.url}/assets/{key}")
    dismiss_community_modal(page)

    page.locator("button:has-text('Materialize')").first.click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    # The UI asks first when an upstream asset was never materialized (the demo's own test
    # reports that); a person would confirm, and so does this test.
    confirm = page.get_by_role("dialog").get_by_role("button", name="Confirm")
    toast.or_(confirm).first.wait_for()
    if confirm.is_visible():
        confirm.click()
    toast.wait_for()
    run_id = re.search(r"[0-9a-f]{8}", toast.inner_text()).group(0)
    run = site.ui.wait_for_run(run_id)

    assert run["status"] == "SUCCESS", site.ui.log_tail()
    assert [s["path"] for s in run["assetSelection"]] == [list(REPORT_KEY.path)]
    report = latest_report_path(Warehouse(site.warehouse))
    page.reload()
    metadata = page.locator("table:has-text('sections_with_data')")
    metadata.wait_for()
    assert str(report.parent) in metadata.inner_text()
    page.screenshot(path=artifacts / "report-asset.png", full_page=True)
