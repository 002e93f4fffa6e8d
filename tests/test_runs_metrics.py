import math

import pytest

from grader.runs.metrics import agreement, mae, pearson, qwk, spearman


def test_pearson_and_spearman_known_values():
    x = [1, 2, 3, 4, 5]
    assert pearson(x, [2, 4, 6, 8, 10]) == pytest.approx(1.0)
    assert pearson(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman(x, [1, 4, 9, 16, 25]) == pytest.approx(1.0)  # monotone, not linear
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_spearman_handles_ties():
    # ranks of [1,2,2,3] are [1,2.5,2.5,4]
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(pearson([1, 2.5, 2.5, 4], [1, 2, 3, 4]))


def test_qwk_known_values():
    assert qwk([0, 5, 10], [0, 5, 10]) == pytest.approx(1.0)
    # hand computed: ratings 0..2 on a 0..2 scale
    a, b = [0, 1, 2, 2], [0, 2, 2, 1]
    # observed weighted disagreement: (1-2)^2/4 + (2-1)^2/4 = 0.5 ; expected from marginals
    ha, hb = [1, 1, 2], [1, 1, 2]
    exp = sum(((i - j) ** 2 / 4) * ha[i] * hb[j] / 4 for i in range(3) for j in range(3))
    assert qwk(a, b, 0, 2) == pytest.approx(1 - 0.5 / exp)


def test_qwk_rounds_half_up_on_the_0_10_scale():
    assert qwk([4.5, 7.49], [5, 7]) == pytest.approx(1.0)


def test_agreement_fields():
    a = agreement([0, 5, 10], [1, 5, 9])
    assert set(a) == {"n", "pearson", "spearman", "qwk", "mae"} and a["n"] == 3
    assert a["mae"] == pytest.approx(mae([1, 5, 9], [0, 5, 10]), abs=1e-4)
