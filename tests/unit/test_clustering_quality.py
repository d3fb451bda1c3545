"""V-measure against the values scikit-learn's documentation publishes for its examples."""

import pytest

from observability_assets.core.clustering_quality import homogeneity_completeness_v


@pytest.mark.parametrize(
    ("classes", "clusters", "expected"),
    [
        # sklearn.metrics.homogeneity_score / completeness_score / v_measure_score docstrings
        ([0, 0, 1, 1], [1, 1, 0, 0], (1.0, 1.0, 1.0)),
        ([0, 0, 1, 1], [0, 0, 0, 0], (0.0, 1.0, 0.0)),
        ([0, 0, 1, 1], [0, 1, 2, 3], (1.0, 0.5, 0.6666666666666666)),
        ([0, 0, 1, 2], [0, 0, 1, 1], (2 / 3, 1.0, 0.8)),
        ([0, 0, 1, 1], [0, 0, 1, 2], (1.0, 2 / 3, 0.8)),
        ([0, 0, 1, 1], [0, 1, 0, 1], (0.0, 0.0, 0.0)),
        ([0, 1, 2, 3], [0, 0, 0, 0], (0.0, 1.0, 0.0)),
    ],
)
def test_published_values(classes, clusters, expected) -> None:
    got = homogeneity_completeness_v(classes, clusters)
    assert got == pytest.approx(expected, abs=1e-9)
