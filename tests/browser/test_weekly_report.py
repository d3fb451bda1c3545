"""The weekly health report, rendered from known data and opened in Chromium.

The warehouse of report_warehouse.py holds every table the report reads, with incidents, budgets,
flaky tests, drift and cost anomalies put there on purpose, so each section can be held to the
figures it must show; an empty warehouse must give a report that says plainly what is missing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from report_view import SECTION_IDS, charts, sections
from report_warehouse import AS_OF, OUTAGE, build_report_warehouse

from observability_assets.report import data as rd
from observability_assets.report.weekly_report import (
    CHARTS_CHECK,
    REPORT_KEY,
    SECTIONS_CHECK,
    latest_report_path,
    render_weekly_report,
    report_assets,
)
from resources.warehouse import Warehouse, WarehouseResource


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory):
    warehouse = build_report_warehouse(tmp_path_factory.mktemp("report") / "warehouse.duckdb")
    return render_weekly_report(warehouse)


@pytest.mark.browser
def test_every_section_shows_data_and_every_chart_has_ink(full_report, page, artifacts: Path) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(full_report.latest.as_uri())

    assert sections(page) == dict.fromkeys(SECTION_IDS, "ok")
    views = charts(page)
    assert len(views) == len(full_report.charts) >= 12
    blank = [v for v in views if not v.has_data]
    assert not blank, f"charts without data: {blank}"
    # Self-contained: the page itself is the only thing the browser loaded.
    assert requests == [full_report.latest.as_uri()]

    page.screenshot(path=artifacts / "report-full.png", full_page=True)
    page.locator("section#slo").screenshot(path=artifacts / "report-slo.png")


@pytest.mark.browser
def test_sections_show_the_known_incidents_budgets_and_findings(full_report, page) -> None:
    page.goto(full_report.latest.as_uri())

    incidents = page.locator("section#incidents table").first.inner_text()
    outage_start = OUTAGE[1].strftime("%Y-%m-%d %H:%M")
    assert f"checkout\tdown\t{outage_start}" in incidents
    assert "40 min" in incidents and "remediate:restart" in incidents
    summary = page.locator("#summary").inner_text()
    assert "Incidents: 1 outage (40 min down in total), 2 degradations" in summary
    assert "Performance drift: 2 regressions, 2 improvements in 28 days (2 regressions this week)" in summary
    # 40 minutes of 1,440 probes a day down, in a 30-day window of 99.9 %: budget overspent.
    slo = page.locator("section#slo").inner_text()
    assert "checkout\tavailability\t99.90 %" in slo and "ticket" in slo
    flaky = page.locator("section#flaky").inner_text()
    assert "6 flaky, 2 broken, 2 quarantined" in page.locator("#summary").inner_text()
    assert "cleared" in flaky and "newly quarantined" in flaky
    failures = page.locator("section#failures").inner_text()
    # The largest cause first, with its probable module, spread and daily trend; the newest one too.
    largest = page.locator("section#failures table").first.locator("tbody tr").all_inner_texts()
    assert largest[0].startswith(
        "1\tTypeError: Cannot read properties of undefined (reading 'formatISO')\tsrc/lib/dates.ts\t14\t2\t84\t0 %\tbroken"
    )
    assert "com/acme/api/core/Db.java\t40\t1\t61\t95 %" in largest[1]
    newest = page.locator("section#failures table").nth(1).locator("tbody tr").first.inner_text()
    assert newest.startswith("AssertionError: assert 41 == 40\ttests/test_order.py")
    assert "167 failures from 4 causes; the largest, 84 failures in 14 tests, at src/lib/dates.ts" in (
        page.locator("#summary").inner_text()
    )
    assert "shared causes" in failures
    ci = page.locator("section#ci").inner_text()
    spike_day = (AS_OF - timedelta(days=4)).date().isoformat()
    assert f"acme/web|ci|all runners\t{spike_day}\t$6.44\t$19.33\t$12.89\t+200 %" in ci
    # One anomaly, one red dot on the cost chart.
    assert page.locator("figure[data-chart='ci-cost-repo'] [id$='-data-3'] use").count() == 1
    recommendations = page.locator("section#recommendations li").all_inner_texts()
    assert recommendations[0].startswith("act now")
    assert any("checkout availability has spent its error budget" in r for r in recommendations)
    assert any("Review CI spend of acme/web|ci|all runners" in r for r in recommendations)
    # The week's automation figures are summed from daily counts: 10 of 14 healed, MTTR
    # weighted by healed episodes ((3 x 2 x 6 + 4 x 1 x 12) / 10 min), 1 of 28 false positives.
    automation = page.locator("section#automation .tiles").inner_text()
    assert "71 %" in automation and "8.4 min" in automation and "3.6 %" in automation


@pytest.mark.browser
def test_an_empty_warehouse_gives_a_report_that_says_what_is_missing(tmp_path: Path, page) -> None:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    report = render_weekly_report(warehouse)
    page.goto(report.latest.as_uri())

    states = sections(page)
    assert states.pop("recommendations") == "ok"
    assert set(states.values()) == {"missing"}
    assert page.locator("figure.chart").count() == 0
    flaky = page.locator("section#flaky").inner_text()
    assert "marts.flaky_scores" in flaky and "materialize the asset marts/flaky_scores" in flaky
    assert "Build the tables behind" in page.locator("section#recommendations").inner_text()


def test_the_asset_links_the_report_and_summarises_it(tmp_path: Path) -> None:
    warehouse_path = tmp_path / "warehouse.duckdb"
    build_report_warehouse(warehouse_path)
    [asset] = report_assets([dg.AssetKey(["marts", "flaky_scores"]), dg.AssetKey(["raw", "ci_runs"])])
    # Lineage only to the tables the code location defines: no phantom assets.
    assert asset.asset_deps[REPORT_KEY] == {dg.AssetKey(["marts", "flaky_scores"])}
    assert asset.group_names_by_key[REPORT_KEY] == "reports"

    result = dg.materialize([asset], resources={"warehouse": WarehouseResource(path=str(warehouse_path))})

    assert result.success
    [materialization] = result.asset_materializations_for_node(asset.node_def.name)
    metadata = materialization.metadata
    path = Path(metadata["path"].value)
    assert path.exists() and path.parent == tmp_path / "reports"
    assert path.name == "weekly-2026-W44.html"
    assert metadata["open"].value == path.as_uri()
    summary = metadata["summary"].value
    assert "**Weekly health report 2026-W44**" in summary
    assert "**Flaky tests**: 6 flaky" in summary and "First recommendations" in summary
    assert metadata["slos_over_budget"].value == 2
    assert metadata["flaky_tests"].value == 6
    assert metadata["cost_anomalies"].value == 1
    assert metadata["drift_regressions"].value == 2
    assert metadata["self_healing_rate"].value == round(10 / 14, 4)
    assert "| marts.flaky_scores | 40 |" in metadata["source_rows"].value
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {SECTIONS_CHECK: True, CHARTS_CHECK: True}
    assert latest_report_path(Warehouse(warehouse_path)) == (tmp_path / "reports" / "latest.html").resolve()


def test_a_mart_built_empty_is_reported_as_empty_and_one_never_built_as_missing(tmp_path: Path) -> None:
    report = render_weekly_report(Warehouse(tmp_path / "warehouse.duckdb"), built={rd.DRIFT, rd.FLAKY})

    by_id = {s.id: s for s in report.sections}
    assert by_id["drift"].status == "empty" and "No change points found." in by_id["drift"].body
    assert by_id["flaky"].status == "empty"
    assert by_id["slo"].status == "missing"
    assert "marts.slo_compliance" in by_id["slo"].body
    assert report.missing_sections == [
        s.title for s in report.sections if s.id not in {"drift", "flaky", "recommendations"}
    ]


def test_automation_outside_the_report_week_shows_its_latest_week_and_says_so(tmp_path: Path) -> None:
    # Sensors act in the present while a simulated history ends in the past.
    warehouse = build_report_warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.write("move the automation a month on") as con:
        con.execute("UPDATE marts.automation_kpis SET day = day + INTERVAL 30 DAY")

    report = render_weekly_report(warehouse)

    [automation] = [s for s in report.sections if s.id == "automation"]
    assert automation.status == "ok"
    assert "No automated activity in the report week; shown instead: the latest week with activity" in (
        automation.body
    )
    assert (
        automation.headline
        == "self-healing 71 %, MTTR 8.4 min, false positives 3.6 % (latest week with activity)"
    )


@pytest.mark.browser
def test_the_chart_check_tells_a_blank_chart_from_one_with_data(tmp_path: Path, page) -> None:
    from observability_assets.report import charts as report_charts
    from observability_assets.report.html import figure

    days = np.array(["2026-10-01", "2026-10-02", "2026-10-03"], dtype="datetime64[D]")
    drawn = report_charts.line_chart("drawn", "drawn", {"a": (days, np.array([1.0, 3.0, 2.0]))}, "x")
    blank = report_charts.line_chart("blank", "blank", {"a": (days[:0], np.array([]))}, "x")
    # Data artists present but drawn in the background colour: the pixel check must catch it.
    # (lines and, for short series, their point markers)
    invisible = drawn.svg.replace("stroke: #2563eb", "stroke: #ffffff").replace(
        "fill: #2563eb", "fill: #ffffff"
    )
    ghost = report_charts.Chart("ghost", "ghost", invisible.replace('id="drawn-', 'id="ghost-'), drawn.points)
    html_file = tmp_path / "charts.html"
    html_file.write_text(
        "<html><body>" + "".join(figure(c) for c in (drawn, blank, ghost)) + "</body></html>"
    )
    page.goto(html_file.as_uri())

    verdicts = {view.key: view.has_data for view in charts(page)}

    assert verdicts == {"drawn": True, "blank": False, "ghost": False}
