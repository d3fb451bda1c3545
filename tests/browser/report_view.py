"""What a person sees of the weekly report in Chromium: sections, their state, and chart ink.

A chart "has data" when (1) matplotlib drew data artists into it (elements whose id ends in
`-data-N`, each with a non-empty bounding box), and (2) its pixels show coloured ink: axes, text
and grid are grey, every data series is drawn in a saturated palette colour.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

SECTION_IDS = (
    "uptime",
    "latency",
    "errors",
    "incidents",
    "slo",
    "flaky",
    "failures",
    "drift",
    "ci",
    "automation",
    "data-trust",
    "coverage",
    "advisories",
    "recommendations",
)
# Share of a chart's pixels in saturated colours below which it counts as blank.
MIN_INK = 0.002

_CHART_DOM = """
figures => figures.map(f => {
  const data = [...f.querySelectorAll('svg [id*="-data-"]')];
  const boxes = data.map(g => { const b = g.getBBox(); return b.width * b.height > 0 || b.width > 0 || b.height > 0; });
  return {
    key: f.dataset.chart,
    points: Number(f.dataset.points),
    dataElements: data.length,
    drawnElements: boxes.filter(Boolean).length,
    marks: data.reduce((n, g) => n + g.querySelectorAll('path, use').length, 0),
  };
})
"""


@dataclass(frozen=True)
class ChartView:
    key: str
    points: int
    data_elements: int
    drawn_elements: int
    marks: int
    ink: float

    @property
    def has_data(self) -> bool:
        return self.points > 0 and self.drawn_elements > 0 and self.marks > 0 and self.ink >= MIN_INK


def coloured_share(png: bytes) -> float:
    """Share of pixels whose channels differ by more than 60: palette colours, not greys."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    return float((spread > 60).mean())


def sections(page) -> dict[str, str]:
    """Section id -> data-status as rendered."""
    return dict(
        page.eval_on_selector_all("section.report-section", "els => els.map(e => [e.id, e.dataset.status])")
    )


def charts(page) -> list[ChartView]:
    found = page.eval_on_selector_all("figure.chart", _CHART_DOM)
    views = []
    for index, chart in enumerate(found):
        element = page.locator("figure.chart").nth(index)
        element.scroll_into_view_if_needed()
        ink = coloured_share(element.locator("svg").screenshot())
        views.append(
            ChartView(
                chart["key"],
                chart["points"],
                chart["dataElements"],
                chart["drawnElements"],
                chart["marks"],
                ink,
            )
        )
    return views
