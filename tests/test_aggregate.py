import pytest

from grader.aggregate import DEFAULT_CALIBRATION, aggregate, calibrate
from grader.models import PointResult


def pr(pid, verdict, credit, weight=1.0):
    return PointResult(id=pid, text=f"point {pid}", weight=weight, verdict=verdict, credit=credit, method="keyword")


def test_weights_and_partial_credit():
    a = aggregate([pr("a", "covered", 1.0, 2), pr("b", "partial", 0.5, 1), pr("c", "missing", 0.0, 1)])
    assert a.coverage == pytest.approx((2 + 0.5) / 4)
    assert a.missing_points == ["point c"]


def test_unscored_points_are_left_out_and_listed():
    a = aggregate([pr("a", "covered", 1.0), pr("b", "unscored", 0.0)])
    assert a.coverage == 1.0 and a.unscored_points == ["point b"]


def test_nothing_scored_is_zero_not_an_error():
    a = aggregate([pr("a", "unscored", 0.0)])
    assert a.score == 0 and a.unscored_points == ["point a"]


def test_contradicted_is_missing_and_costs_its_weight():
    a = aggregate([pr("a", "contradicted", 0.0)])
    assert a.missing_points == ["point a"] and a.coverage == 0.0
    b = aggregate([pr("a", "covered", 1.0, 2), pr("b", "covered", 1.0, 1), pr("c", "contradicted", 0.0, 1)])
    assert b.coverage == pytest.approx((3 - 1) / 4)  # the wrong claim takes its weight off the rest


def test_calibration_is_monotone_and_anchored():
    assert calibrate(0.0) == 0.0 and calibrate(1.0) == 1.0
    ys = [calibrate(i / 100) for i in range(101)]
    assert ys == sorted(ys)
    assert DEFAULT_CALIBRATION[0] == (0.0, 0.0) and DEFAULT_CALIBRATION[-1] == (1.0, 1.0)


def test_deterministic():
    pts = [pr("a", "covered", 1.0, 3), pr("b", "partial", 0.5, 1)]
    assert aggregate(pts) == aggregate(list(pts))


def test_a_rubric_may_carry_its_own_calibration():
    from pydantic import ValidationError

    from grader.models import KeyPoint, Rubric

    point = KeyPoint(id="p", text="t", keywords=[["x"]])
    r = Rubric(points=[point], calibration=[(0, 0), (0.5, 0.8), (1, 1)])
    assert r.calibration[1] == (0.5, 0.8)
    for bad in ([(0, 0)], [(0.1, 0), (1, 1)], [(0, 0), (0.5, 0.9), (0.4, 0.95), (1, 1)], [(0, 0), (0.5, 0.9), (0.8, 0.7), (1, 1)]):
        with pytest.raises(ValidationError):
            Rubric(points=[point], calibration=bad)


def test_adhoc_rubrics_give_generous_partial_credit():
    from grader.pipeline import Grader
    from grader.settings import Settings

    ref = "Linked lists grow dynamically. Arrays have a fixed size. Insertion needs no shifting."
    r = Grader(Settings(mode="keyword")).grade_reference(ref, "Linked lists grow dynamically.", question="Lists vs arrays?")
    assert 0 < r.coverage < 1
    # score = 10 * coverage ** 0.6 (11 knots), above what the curated map gives the same coverage
    assert r.score == pytest.approx(10 * r.coverage ** 0.6, abs=0.2)
    assert r.score > 10 * calibrate(r.coverage) + 0.5
