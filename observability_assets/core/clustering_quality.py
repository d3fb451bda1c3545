"""Clustering quality against known classes: homogeneity, completeness and V-measure.

Rosenberg & Hirschberg (2007), "V-Measure: A Conditional Entropy-Based External Cluster
Evaluation Measure": homogeneity h = 1 - H(C|K) / H(C) (each cluster holds one class),
completeness c = 1 - H(K|C) / H(K) (each class sits in one cluster), V = 2hc / (h + c); h = 1
when H(C) = 0 and c = 1 when H(K) = 0. Natural logarithms (the ratios do not depend on the base).
The same definitions as scikit-learn's `homogeneity_completeness_v_measure` (beta = 1).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence


def _entropy(counts: Sequence[int], total: int) -> float:
    return -sum(n / total * math.log(n / total) for n in counts if n)


def _conditional_entropy(pairs: Counter, given: Counter, total: int) -> float:
    """H(X | Y) from joint counts keyed (x, y) and the counts of y."""
    return -sum(n / total * math.log(n / given[y]) for (_, y), n in pairs.items())


def homogeneity_completeness_v(
    classes: Sequence[Hashable], clusters: Sequence[Hashable]
) -> tuple[float, float, float]:
    if len(classes) != len(clusters):
        raise ValueError("classes and clusters must label the same items")
    total = len(classes)
    if total == 0:
        return 1.0, 1.0, 1.0
    class_counts, cluster_counts = Counter(classes), Counter(clusters)
    joint = Counter(zip(classes, clusters, strict=True))
    h_c = _entropy(list(class_counts.values()), total)
    h_k = _entropy(list(cluster_counts.values()), total)
    h_c_given_k = _conditional_entropy(joint, cluster_counts, total)
    h_k_given_c = _conditional_entropy(
        Counter({(k, c): n for (c, k), n in joint.items()}), class_counts, total
    )
    homogeneity = 1.0 if h_c == 0 else 1.0 - h_c_given_k / h_c
    completeness = 1.0 if h_k == 0 else 1.0 - h_k_given_c / h_k
    v = (
        0.0
        if homogeneity + completeness == 0
        else 2 * homogeneity * completeness / (homogeneity + completeness)
    )
    return homogeneity, completeness, v
