"""Kayenta's published test vectors, reproduced.

Sources (github.com/spinnaker/kayenta):
- MW  = kayenta-mannwhitney/src/test/scala/com/netflix/kayenta/mannwhitney/MannWhitneySuite.scala
- CS  = kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ClassifierSuite.scala
- SS  = kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ScorerSuite.scala
- ES  = kayenta-judge/src/test/scala/com/netflix/kayenta/judge/EffectSizeSuite.scala
The classifier tests run with Kayenta's ``MannWhitneyClassifier(tolerance, confLevel, ...)`` settings
and without the judge's outlier removal, exactly as the Scala suites call the classifier.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from observability_assets.core.canary import (
    Classification,
    Direction,
    EffectSizeMeasure,
    MetricConfig,
    MetricResult,
    NaNStrategy,
    Verdict,
    _wilcoxon_z,
    classify_metric,
    cles,
    commons_math_u_test,
    hodges_lehmann,
    judge,
    mann_whitney,
    mean_ratio,
    remove_outliers,
    score,
    verdict,
)

# ---- data from CS ---------------------------------------------------------------------------------
NORMAL_10 = [
    9.7767343120109462, 10.587071850477695, 7.8375506388901766, 9.3243326886113884,
    8.3774505409784421, 8.9359264399606282, 8.2707663324728511, 9.7484308126716925,
    11.623746715547156, 9.2753442679633942, 8.1538047749171518, 10.562020975754294,
    13.498135575451835, 11.054419256110332, 6.9538903590055092, 12.521008342195479,
    9.0216358603546443, 4.9234856699531662, 11.251360203607172, 11.598449508040337,
    8.435232204668182, 11.110228516867279, 10.70063380164755, 8.9212773652115249,
    10.086167067942661, 11.42107515483087, 9.3792347813644952, 7.7980320148552593,
    10.62339807275746, 11.909642062063739,
]  # fmt: skip
CONTROL_10 = [
    11.1453586774086, 9.9618059885597017, 7.068574306369829, 7.3012661810483657,
    9.7944630265656727, 9.6037918603687302, 6.1867793350339388, 12.345599159550174,
    10.371891733859533, 8.6094300785016724, 9.913162673361084, 10.361375299003466,
    14.206800387518818, 10.946153754753301, 10.215876627044048, 11.739760899484603,
    10.907627468626439, 12.823353694464775, 8.1018609771732137, 8.4981616408804932,
    12.113441374697231, 13.272210809932028, 10.114579381663297, 6.9463958767978067,
    6.2105278541727778, 10.160401684903775, 8.3457712066455461, 8.383822063895833,
    7.0020205070083765, 10.755757401808442,
]  # fmt: skip
HIGH_20 = [
    20.878412601720026, 21.78550581191622, 19.70828084717019, 15.859946903461562,
    19.510058772176841, 19.392005525270303, 22.926528314912101, 17.156530276709894,
    18.655117916226171, 23.422607911610392, 24.055817684156644, 22.62689958516501,
    21.979472967817678, 21.659318607218694, 20.067707574072426, 22.119570836305414,
    16.44037132663307, 21.559622826341268, 21.000181443489218, 17.779369411412663,
    17.806006358943584, 18.537200618386109, 20.555550300210797, 19.552928184468378,
    21.771118944087092, 21.809622806176627, 20.961762909905271, 20.977571577503021,
    19.106303205498794, 16.976918966987078,
]  # fmt: skip
CONTROL_20 = [
    20.758113589510348, 22.802059629464559, 20.612340363492208, 20.973274654749986,
    23.469237330498622, 21.53133988954805, 21.767353687439805, 18.308050730374301,
    19.062145167827566, 25.879498436001779, 18.982629726336128, 19.387920182269266,
    18.995398251246982, 24.228420230932805, 20.050985172694688, 18.2340451091756,
    17.870515494460435, 23.058103863806618, 18.400259567501134, 16.971352091177167,
    19.467529066052151, 17.90465423342031, 17.553948617825831, 16.104611843907193,
    24.38171081433039, 15.919294339922635, 20.479409626304697, 19.08307201492406,
    17.455788050722866, 18.853826823235142,
]  # fmt: skip


def _sparse(nonzero: dict[int, float], length: int) -> list[float]:
    values = [0.0] * length
    for index, value in nonzero.items():
        values[index] = value
    return values


# "High Metric (Large Input)": mostly zeros with sparse positives (written index -> value for brevity).
LARGE_EXPERIMENT = _sparse(
    {8: 1.6666666666666572, 15: 3.703703703703681, 22: 1.5625000000000142, 27: 3.333333333333343,
     29: 1.7543859649122737, 31: 1.8518518518518476, 34: 1.8518518518518476, 37: 1.5151515151515156,
     47: 1.7857142857142776, 48: 1.3333333333333286, 50: 3.125000000000014, 51: 1.9607843137255117,
     52: 1.4492753623188293, 53: 2.439024390243887, 54: 1.6393442622950687, 62: 1.6129032258064484,
     63: 1.9607843137255117, 64: 1.5873015873015817, 67: 2.8169014084507182, 70: 3.0303030303030454,
     73: 3.3898305084745743, 76: 1.234567901234584, 81: 1.7241379310344769, 86: 1.6949152542372872,
     94: 1.470588235294116, 97: 1.3698630136986196, 98: 3.225806451612911, 99: 1.754385964912288,
     100: 3.4482758620689538, 102: 3.333333333333343, 106: 1.818181818181813, 109: 1.4285714285714448,
     112: 1.8867924528301927, 113: 2.0000000000000284, 117: 2.985074626865682, 120: 1.6666666666666714,
     123: 1.5625, 124: 1.9230769230769198, 126: 1.8518518518518619, 128: 2.702702702702709,
     132: 1.3513513513513544, 134: 1.818181818181813, 136: 1.6666666666666572, 144: 1.818181818181813,
     146: 1.4285714285714164, 149: 4.1095890410959015, 153: 1.8518518518518619, 156: 1.8518518518518476,
     157: 1.3888888888888857, 162: 1.8867924528301785, 163: 1.4285714285714164, 166: 1.5625,
     167: 1.8867924528301927, 172: 2.040816326530603, 173: 1.818181818181813, 176: 1.6393442622950687,
     178: 1.7241379310344769, 179: 1.5151515151515156, 180: 2.564102564102555, 185: 5.555555555555557,
     188: 4.081632653061206, 197: 3.5714285714285836, 199: 2.040816326530603, 200: 3.1746031746031633},
    210,
)  # fmt: skip
LARGE_CONTROL = _sparse(
    {8: 1.5625000000000142, 19: 1.3888888888888857, 27: 1.5384615384615614, 43: 1.492537313432834,
     47: 1.6949152542373014, 61: 1.470588235294116, 66: 1.754385964912288, 73: 1.8518518518518619,
     90: 1.6393442622950687, 97: 1.7241379310344769, 116: 1.5873015873015817, 132: 1.492537313432834,
     136: 3.124999999999986, 146: 1.492537313432834, 167: 2.9850746268656536, 169: 2.5000000000000284,
     206: 1.7857142857142776},
    210,
)  # fmt: skip


def test_large_input_vectors_have_the_published_shape():
    # Guards the sparse transcription above: both CS arrays have 210 values, 64 and 17 of them non-zero.
    assert len(LARGE_EXPERIMENT) == len(LARGE_CONTROL) == 210
    assert sum(v > 0 for v in LARGE_EXPERIMENT) == 64
    assert sum(v > 0 for v in LARGE_CONTROL) == 17


# ---- MW: the one vector with asserted numbers -----------------------------------------------------


@pytest.mark.parametrize("confidence", [0.95, 0.98])
def test_kayenta_mann_whitney_suite_vector(confidence):
    # MW "returns expected values": interval (6, 39), estimate 22.5, to 1e-6 (asserted at 0.95; the
    # interval is already the full range of shifts there, so 0.98 cannot widen it).
    result = mann_whitney([10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0], confidence)
    assert result.lower == pytest.approx(6.0, abs=1e-6)
    assert result.upper == pytest.approx(39.0, abs=1e-6)
    assert result.estimate == pytest.approx(22.5, abs=1e-6)


def test_p_value_is_commons_math_normal_approximation():
    # U = 16 of 16 pairs; z = (0 - 8) / sqrt(16 * 9 / 12); p = 2 * Phi(z) = 0.020921...
    # (MW's commented-out 0.0286 is R's exact p-value, which commons-math does not compute.)
    u, p = commons_math_u_test([10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0])
    assert u == 16.0
    assert p == pytest.approx(2 * 0.5 * math.erfc((8 / math.sqrt(12)) / math.sqrt(2)), rel=1e-12)
    assert p == pytest.approx(0.0209213, abs=1e-7)


def _r_style_root(x, y, quantile):
    """R's ``root()`` from wilcox.test with scipy's Brent solver, as Kayenta runs it (oracle)."""
    brentq = pytest.importorskip("scipy.optimize").brentq
    x, y = np.asarray(x), np.asarray(y)
    lo, hi = x.min() - y.max(), x.max() - y.min()
    f = lambda d: _wilcoxon_z(x, y, d) - quantile  # noqa: E731
    if f(lo) <= 0:
        return lo
    if f(hi) >= 0:
        return hi
    return brentq(f, lo, hi, xtol=1e-10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interval_matches_iterative_root_finding(seed):
    rng = np.random.default_rng(seed)
    control = rng.normal(10, 2, 40).round(1)  # rounding creates ties
    experiment = rng.normal(11, 3, 35).round(1)
    result = mann_whitney(experiment, control, 0.98)
    z = 2.3263478740408408  # NormalDist().inv_cdf(0.99)
    assert result.lower == pytest.approx(_r_style_root(experiment, control, z), abs=1e-6)
    assert result.upper == pytest.approx(_r_style_root(experiment, control, -z), abs=1e-6)
    assert result.lower <= result.estimate <= result.upper
    assert result.estimate == hodges_lehmann(experiment, control)


def test_estimate_solves_kayentas_estimating_equation():
    # Kayenta's estimate is a root of z(shift) = 0; the Hodges-Lehmann median is always one.
    rng = np.random.default_rng(7)
    control, experiment = rng.exponential(5, 31), rng.exponential(7, 29)
    estimate = mann_whitney(experiment, control).estimate
    assert _wilcoxon_z(experiment, control, estimate) == 0.0


def test_constant_samples_collapse_the_interval_to_the_difference():
    result = mann_whitney([10.0] * 5, [1.0] * 5)
    assert (result.lower, result.estimate, result.upper) == (9.0, 9.0, 9.0)


# ---- CS: classifier vectors -----------------------------------------------------------------------

CASES = [
    # (CS test name, control, experiment, direction, config overrides, tolerance, confidence, expected, critical)
    ("Pass Metric", CONTROL_10, NORMAL_10, Direction.EITHER, {}, 0.10, 0.95, "Pass", False),
    ("High Metric", CONTROL_10, HIGH_20, Direction.EITHER, {}, 0.10, 0.95, "High", False),
    ("Low Metric", CONTROL_20, NORMAL_10, Direction.EITHER, {}, 0.10, 0.95, "Low", False),
    ("Directional Test: Increase", CONTROL_20, NORMAL_10, Direction.INCREASE, {}, 0.10, 0.95, "Pass", False),
    ("Directional Test: Decrease", CONTROL_10, HIGH_20, Direction.DECREASE, {}, 0.10, 0.95, "Pass", False),
    ("Directional Test: High Metric", CONTROL_10, HIGH_20, Direction.INCREASE, {}, 0.10, 0.95, "High", False),
    ("Directional Test: Low Metric", CONTROL_20, NORMAL_10, Direction.DECREASE, {}, 0.10, 0.95, "Low", False),
    ("High Metric (Large Input)", LARGE_CONTROL, LARGE_EXPERIMENT, Direction.EITHER, {}, 0.10, 0.95, "High", False),
    ("Mean Ratio Effect Size: High", [1.0, 2.2, 1.1, 2.5, 3.0], [20.0, 22.0, 21.0, 25.0, 30.0], Direction.EITHER,
     {"allowed_decrease": 0.8, "allowed_increase": 1.2}, 0.10, 0.95, "High", False),
    ("Mean Ratio Effect Size: Low", CONTROL_20, NORMAL_10, Direction.DECREASE,
     {"allowed_decrease": 0.8, "allowed_increase": 1.2}, 0.10, 0.95, "Low", False),
    ("Mean Ratio Effect Size: Pass", [20.0, 22.0, 21.0, 25.0, 30.0], [10.0, 12.2, 10.1, 12.5, 23.0], Direction.EITHER,
     {"allowed_decrease": 0.5, "allowed_increase": 1.0}, 0.10, 0.95, "Pass", False),
    ("Mean Ratio Effect Size: Pass (Large Input)", LARGE_CONTROL, LARGE_EXPERIMENT, Direction.EITHER,
     {"allowed_decrease": 1.0, "allowed_increase": 5.0}, 0.10, 0.95, "Pass", False),
    ("Critical Effect Size: Critical High", [1.0, 2.2, 1.1, 2.5, 3.0], [20.0, 22.0, 21.0, 25.0, 30.0],
     Direction.EITHER, {"critical": True, "critical_decrease": 1.0, "critical_increase": 1.2}, 0.10, 0.95,
     "High", True),
    ("Critical Effect Size: Critical Low", [10.0, 20.2, 10.1, 20.5, 30.0], [2.0, 2.0, 2.0, 2.0, 3.0],
     Direction.EITHER, {"critical": True, "critical_decrease": 1.2, "critical_increase": 1.0}, 0.10, 0.95,
     "Low", True),
    ("Critical Effect Size: High", [1.0, 2.2, 1.1, 2.5, 3.0], [20.0, 22.0, 21.0, 25.0, 30.0], Direction.EITHER,
     {"critical": True, "allowed_decrease": 1.0, "allowed_increase": 5.0, "critical_increase": 13.0},
     0.10, 0.95, "High", False),
    ("Critical Effect Size: Pass", [1.0, 2.2, 1.1, 2.5, 3.0], [20.0, 22.0, 21.0, 25.0, 30.0], Direction.EITHER,
     {"critical": True, "allowed_decrease": 1.0, "allowed_increase": 13.0, "critical_increase": 15.0},
     0.10, 0.95, "Pass", False),
    ("Critical Effect Size: Critical High (Default Thresholds)", [1.0, 2.2, 1.1, 2.5, 3.0],
     [20.0, 22.0, 21.0, 25.0, 30.0], Direction.EITHER, {"critical": True}, 0.10, 0.95, "High", True),
    ("Tied Observations", [1.0, 1.0], [1.0, 1.0, 1.0], Direction.DECREASE, {}, 0.10, 0.95, "Pass", False),
    ("Identical Populations", [5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0], Direction.DECREASE, {},
     0.10, 0.95, "Pass", False),
    ("Leading Zero Identical Population", [1.0] * 5, [0.0, 1.0, 1.0, 1.0, 1.0], Direction.DECREASE, {},
     0.10, 0.95, "Pass", False),
    ("Missing Experiment Data", [1.0, 2.0, 3.0, 4.0, 5.0], [], Direction.DECREASE, {}, 0.10, 0.95, "Nodata", False),
    ("Missing Experiment Data: Critical Metric", [1.0, 2.0, 3.0, 4.0, 5.0], [], Direction.DECREASE,
     {"critical": True}, 0.10, 0.95, "Nodata", True),
    ("Missing Experiment Data with NaN Replacement", [1.0, 2.0, 3.0, 4.0, 5.0], [], Direction.DECREASE,
     {"nan_strategy": NaNStrategy.REPLACE}, 0.10, 0.95, "Pass", False),
    ("Majority Tied Observations", [1.0] * 5, [1.0, 1.0, 1.0, 1.0, 10.0], Direction.EITHER, {}, 0.10, 0.95,
     "Pass", False),
    ("Tied Ranks", [1.0] * 5, [10.0] * 5, Direction.EITHER, {}, 0.10, 0.95, "High", False),
    ("Tied Ranks With Zeros", [0.0] * 5, [10.0] * 5, Direction.EITHER, {}, 0.10, 0.95, "High", False),
    ("Zero Mean: High Metric with Effect Size", [0.0] * 5, [54.9, 54.5, 55.1, 55.6, 57.4], Direction.EITHER,
     {"allowed_decrease": 0.8, "allowed_increase": 1.2}, 0.10, 0.95, "High", False),
    ("Zero Mean: Low Metric with Effect Size", [54.9, 54.5, 55.1, 55.6, 57.4], [0.0] * 5, Direction.EITHER,
     {"allowed_decrease": 0.8, "allowed_increase": 1.2}, 0.10, 0.95, "Low", False),
    ("Zero Mean: Critical Metric", [0.0] * 10,
     [0.05000000074505806, 0.05000000074505806, 0.01666666753590107, 0.01666666753590107, 0.01666666753590107,
      0.05000000074505806, 0.03333333507180214, 0.05000000260770321, 0.05000000260770321, 0.13333333656191826],
     Direction.EITHER, {"critical": True, "nan_strategy": NaNStrategy.REPLACE, "critical_decrease": 0.8,
                        "critical_increase": 1.2}, 0.10, 0.95, "High", True),
    ("Zero Mean: Pass Metric", [0.0] * 5, [0.0] * 5, Direction.EITHER,
     {"allowed_decrease": 0.8, "allowed_increase": 1.2}, 0.10, 0.95, "Pass", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("control", "experiment", "direction", "overrides", "tolerance", "confidence", "expected", "critical"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_kayenta_classifier_suite(
    control, experiment, direction, overrides, tolerance, confidence, expected, critical
):
    config = MetricConfig(name="metric", direction=direction, **overrides)
    result = classify_metric(
        control, experiment, config, tolerance=tolerance, confidence_level=confidence, outliers=False
    )
    assert result.classification == expected
    assert result.critical is critical


CLES_CONTROL_PASS = [
    0, 0, 0, 0, 0, 0, 0, 0, 2.91528191e-05, 0, 0, 0, 2.98284862e-05, 5.99916012e-05, 0, 5.92276712e-05, 0,
    2.98053709e-05, 0, 2.97309350e-05, 5.92153960e-05, 0, 0, 0, 2.92800047e-05, 0, 2.94550810e-05, 0, 0, 0,
    5.83958656e-05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2.88600289e-05, 2.90334756e-05, 2.91740817e-05, 0, 0, 0, 0, 0, 0,
    2.92765758e-05, 0, 0, 0, 0, 0, 2.94637596e-05, 5.89136326e-05, 0, 0, 0,
]  # fmt: skip
CLES_EXPERIMENT_PASS = [
    0, 0, 1.46580998e-04, 0, 0, 0, 7.94701987e-05, 0, 0, 0, 2.68889486e-05, 0, 0, 2.64935753e-05, 0, 0, 0,
    2.61608895e-05, 1.27824931e-04, 0, 0, 0, 2.54511211e-05, 2.58665287e-05, 7.63339355e-05, 0, 2.54239443e-05,
    0, 0, 0, 2.61001201e-05, 5.20101940e-05, 0, 2.64452319e-05, 5.27551370e-05, 7.83719533e-05, 5.19467027e-05,
    2.58344528e-05, 2.58899676e-05, 0, 2.59497613e-05, 2.57938043e-05, 7.78553448e-05, 2.60593110e-05,
    2.61001201e-05, 0, 0, 2.59349551e-05, 2.60559160e-05, 0, 0, 0, 0, 0, 0, 2.58819267e-05, 0, 2.58825965e-05,
    2.57572635e-05, 2.56877906e-05,
]  # fmt: skip
CLES_EXPERIMENT_HIGH = [
    0.00689808, 0.00568664, 0.00680876, 0.00642045, 0.00561825, 0.00472294, 0.00398378, 0.00392403, 0.00421201,
    0.0047529, 0.00460853, 0.00439888, 0.00561875, 0.01998866, 0.0124369, 0.00624391, 0.00444361, 0.00442059,
    0.00372095, 0.00540736, 0.00715402, 0.00425974, 0.00414409, 0.01172436, 0.0125959, 0.00371891, 0.00429855,
    0.00369876, 0.00325709, 0.00415943, 0.00371754, 0.00445212, 0.00521721, 0.00443938, 0.00380859, 0.01602997,
    0.00788885, 0.0038155, 0.00326921, 0.00336928, 0.00365917, 0.00333869, 0.00427639, 0.00355911, 0.00381224,
    0.00360057, 0.00349305, 0.00401164, 0.00351947, 0.00356299, 0.003407, 0.00414397, 0.00393346, 0.00413318,
    0.00359041, 0.00366314, 0.00309383, 0.00383733, 0.00363324, 0.00280674,
]  # fmt: skip
CLES_CONTROL_HIGH = [
    0.00081956, 0.00239282, 0.00133685, 0.00094917, 0.00029518, 0.00035344, 0.00048194, 0.00034893, 0.0003202,
    0.00079814, 0.00090881, 0.00072599, 0.00037819, 0.00038286, 0.00057604, 0.00064821, 0.00032194, 0.0002245,
    0.00025202, 0.00071997, 0.00022721, 0.00042578, 0.00042496, 0.00045613, 0.00037072, 0.0003317, 0.00032889,
    0.00032749, 0.00036093, 0.00029285, 0.00038401, 0.00044467, 0.00071086, 0.00036692, 0.00052079, 0.00074974,
    0.00128791, 0.00062046, 0.00086345, 0.00118563, 0.00103379, 0.00028913, 0.00057628, 0.00057943, 0.00048735,
    0.00029409, 0.0002005, 0.00016612, 0.00089312, 0.00059367, 0.00061706, 0.00163313, 0.00097784, 0.00029305,
    0.00058839, 0.00085212, 0.00048298, 0.00035546, 0.00025866, 0.00038767,
]  # fmt: skip
CLES_EXPERIMENT_LOW = [
    24.24693907, 26.13330099, 22.50056744, 24.36646841, 23.19935673, 19.43801304, 20.99654102, 18.90793651,
    21.31949881, 21.83528381, 21.64211206, 23.13365968, 21.09163134, 19.45540615, 20.74783158, 22.25527831,
    19.82051791, 20.9865487, 19.94450026, 23.2904056, 18.18408424, 22.13843542, 19.42896044, 19.84140464,
    23.91557662, 21.00981557, 21.8594633, 23.11630163, 22.95700392, 17.80045135,
]  # fmt: skip
CLES_CONTROL_LOW = [
    25.09626848, 26.15032198, 24.88431438, 24.18870163, 22.14684987, 28.01743443, 21.29910501, 27.24688773,
    28.64187535, 27.03504445, 24.67888311, 22.35137878, 27.41640397, 26.00225548, 23.02118534, 25.99647292,
    22.77446912, 25.56704719, 25.57025827, 21.2721602, 23.12987357, 24.59111604, 27.48865016, 27.21967755,
    23.5951111, 22.5429607, 25.83015564, 23.31965305, 24.3911644, 25.11468194,
]  # fmt: skip


@pytest.mark.parametrize(
    ("control", "experiment", "thresholds", "expected"),
    [
        (CLES_CONTROL_PASS, CLES_EXPERIMENT_PASS, (0.5, 0.8), "Pass"),
        (CLES_CONTROL_HIGH, CLES_EXPERIMENT_HIGH, (0.2, 0.8), "High"),
        (CLES_CONTROL_LOW, CLES_EXPERIMENT_LOW, (0.2, 0.8), "Low"),
    ],
    ids=["CLES Effect Size: Pass", "CLES Effect Size: High", "CLES Effect Size: Low"],
)
def test_kayenta_cles_classifier_suite(control, experiment, thresholds, expected):
    config = MetricConfig(
        name="metric",
        effect_size_measure=EffectSizeMeasure.CLES,
        allowed_decrease=thresholds[0],
        allowed_increase=thresholds[1],
    )
    result = classify_metric(
        control, experiment, config, tolerance=0.20, confidence_level=0.98, outliers=False
    )
    assert result.classification == expected


def test_missing_data_reason_and_required_data():
    # CS "Missing Data: Reason String" and the mustHaveData rule of MannWhitneyClassifier.classify.
    critical = classify_metric([], [], MetricConfig(name="latency", critical=True), outliers=False)
    assert critical.classification == Classification.NODATA and critical.reason
    required = classify_metric([1.0], [], MetricConfig(name="latency", must_have_data=True))
    assert required.classification == Classification.NODATA_FAIL and not required.critical


def test_nan_values_are_removed_or_replaced():
    control = [float("nan")] + [10.0 + 0.1 * i for i in range(20)]
    experiment = [float("nan")] * 20
    removed = classify_metric(control, experiment, MetricConfig(name="m"))
    assert removed.classification == Classification.NODATA
    assert removed.control_count == 20
    replaced = classify_metric(control, experiment, MetricConfig(name="m", nan_strategy=NaNStrategy.REPLACE))
    assert replaced.classification == Classification.LOW  # NaN -> 0, far below ~11
    assert replaced.control_count == 21


def test_zero_inflated_tie_is_decided_by_the_test():
    # CS "High Metric (Large Input)": interval end and estimate are both exactly 0 (a step of the rank
    # statistic); the test at shift 0 gives z = 5.94 > 1.96, so the canary is significantly higher.
    result = classify_metric(LARGE_CONTROL, LARGE_EXPERIMENT, MetricConfig("m"), tolerance=0.1,
                             confidence_level=0.95, outliers=False)  # fmt: skip
    assert (result.test.lower, result.test.estimate) == (0.0, 0.0)
    assert _wilcoxon_z(np.array(LARGE_EXPERIMENT), np.array(LARGE_CONTROL), 0.0) == pytest.approx(
        5.941, abs=1e-3
    )
    assert result.classification == Classification.HIGH


# ---- ES: effect sizes -----------------------------------------------------------------------------


def test_effect_sizes():
    assert (
        cles([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0]) == 0.5
    )  # ES "CLES Effect Size: Identical"
    control = [25.31531073, 25.19450817, 24.6288846, 24.37991861, 26.40999244, 25.28524759, 24.99788745,
               26.13841676, 22.93604649, 24.56817832]  # fmt: skip
    experiment = [2.27776335, 2.61149434, 3.26894105, 2.91672701, 1.40656921, 2.18292082, 3.47901292,
                  3.00034118, 3.02402043, 4.69912745]  # fmt: skip
    assert cles(control, experiment) == 0.0  # ES "CLES Effect Size: Different (No Overlap)"
    assert math.isnan(mean_ratio([0.0, 0.0], [1.0, 2.0]))  # ES mean ratio with a zero mean is NaN
    assert mean_ratio([1.0, 3.0], [4.0, 8.0]) == 3.0


def test_outlier_fence_uses_commons_math_percentiles():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1000.0]
    # p25 = 2.75, p75 = 8.25 (R type 6); fence 8.25 + 3 * 5.5 = 24.75 < p99 = 1000, so with reduced
    # sensitivity (Kayenta's judge) nothing goes; with plain Tukey fences the 1000 does.
    assert len(remove_outliers(values)) == 10
    assert list(remove_outliers(values, reduce_sensitivity=False)) == values[:-1]


# ---- SS: scorer -----------------------------------------------------------------------------------


def _metric(label: str, group: str = "test-group", critical: bool = False) -> MetricResult:
    return MetricResult(
        name=f"m-{label}", classification=Classification(label), reason=f"{label} reason", deviation=1.0,
        effect_size=1.0, critical=critical, groups=(group,), control_count=1, experiment_count=1,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("metrics", "weights", "expected"),
    [
        ([_metric("Pass")], {}, 100.0),  # Single Metric Pass
        ([_metric("High")], {}, 0.0),  # Single Metric Fail
        ([_metric("Pass"), _metric("High")], {}, 50.0),  # One Group, Two Metrics
        ([_metric("Pass"), _metric("High"), _metric("Low")], {}, 33.33),  # One Group, Three Metrics
        ([_metric("Pass", "group-1"), _metric("Pass", "group-1"), _metric("High", "group-2")],
         {"group-1": 75.0, "group-2": 25.0}, 75.0),  # Two Groups, Three Metrics
        ([_metric("Pass", "group-1"), _metric("High", "group-1"), _metric("High", "group-2")],
         {"group-1": 50.0, "group-2": 50.0}, 25.0),  # Two Groups, Three Metrics (Equal Weight)
        ([_metric("Nodata")], {}, 0.0),  # No Data
        ([_metric("Pass"), _metric("High", critical=True)], {}, 0.0),  # one good, one critical fail
        ([_metric("Low"), _metric("Pass", critical=True)], {}, 50.0),  # one low, one good critical
    ],
)  # fmt: skip
def test_kayenta_scorer_suite(metrics, weights, expected):
    summary, _, _ = score(metrics, weights)
    assert summary == expected


def test_unweighted_groups_share_the_remaining_weight():
    metrics = [_metric("Pass", "a"), _metric("High", "b"), _metric("Pass", "c")]
    assert score(metrics, {"a": 50.0})[0] == 75.0  # b and c get 25 each


def test_nodata_counts_as_neutral_until_half_the_metrics_have_none():
    assert score([_metric("Pass"), _metric("Pass"), _metric("Nodata")])[0] == 100.0
    summary, reason, _ = score([_metric("Pass"), _metric("Nodata")])
    assert summary == 0.0 and "NODATA" in reason


@pytest.mark.parametrize(
    ("summary", "expected"),
    [(100.0, Verdict.PASS), (95.0, Verdict.PASS), (94.99, Verdict.MARGINAL), (75.0, Verdict.MARGINAL),
     (74.99, Verdict.FAIL), (0.0, Verdict.FAIL)],
)  # fmt: skip
def test_score_thresholds(summary, expected):
    assert verdict(summary) == expected


def test_judge_end_to_end_with_kayenta_defaults():
    rng = np.random.default_rng(42)
    baseline_latency = rng.normal(100, 10, 120)
    judgement = judge(
        [
            (MetricConfig("latency_ms", direction=Direction.INCREASE), baseline_latency, rng.normal(100, 10, 120)),
            (MetricConfig("error_rate", direction=Direction.INCREASE), rng.uniform(0, 0.01, 120),
             rng.uniform(0, 0.01, 120)),
        ]
    )  # fmt: skip
    assert judgement.verdict == Verdict.PASS and judgement.score == 100.0
    slower = judge(
        [
            (MetricConfig("latency_ms", direction=Direction.INCREASE), baseline_latency, rng.normal(160, 10, 120)),
            (MetricConfig("error_rate", direction=Direction.INCREASE), rng.uniform(0, 0.01, 120),
             rng.uniform(0, 0.01, 120)),
        ]
    )  # fmt: skip
    assert [r.classification for r in slower.results] == [Classification.HIGH, Classification.PASS]
    assert slower.score == 50.0 and slower.verdict == Verdict.FAIL


def test_unusable_metric_is_an_error_and_does_not_count():
    judgement = judge(
        [
            (MetricConfig("broken"), ["fast", "slow"], [1.0, 2.0]),
            (MetricConfig("latency_ms"), [10.0, 11.0, 12.0], [10.0, 11.0, 12.0]),
        ]
    )
    assert [r.classification for r in judgement.results] == [Classification.ERROR, Classification.PASS]
    assert judgement.score == 100.0 and judgement.verdict == Verdict.PASS
