"""SM-2 scheduling, question picking and statistics: pure functions, fixed dates."""

from datetime import date, datetime, timedelta, timezone

import pytest

from grader.practice.history import Attempt, AttemptPoint
from grader.practice.schedule import (
    EF_MIN,
    Review,
    attempt_quality,
    due_questions,
    pick_next,
    point_stats,
    progress,
    quality,
    review_of,
    sm2,
)

D0 = date(2025, 3, 1)


def attempt(qid: str, day: date, score: float, verdicts: dict[str, str] | None = None, bank: str = "b",
            own: float | None = None, learner: dict[str, str] | None = None) -> Attempt:
    verdicts = verdicts or {"p1": "covered"}
    return Attempt(
        created_at=datetime(day.year, day.month, day.day, 9, 0, tzinfo=timezone.utc),
        bank=bank, question_id=qid, mode="fuzzy", answer="...", score=score, learner_score=own,
        points=[AttemptPoint(id=k, text=f"text {k}", weight=1.0, verdict=v, credit=1.0 if v == "covered" else 0.0,
                             learner_verdict=(learner or {}).get(k)) for k, v in verdicts.items()],
    )


@pytest.mark.parametrize(
    "normalized, missed, contradicted, q",
    [
        pytest.param(1.0, 0, 0, 5, id="perfect"),
        pytest.param(0.9, 0, 0, 5, id="band_edge_5"),
        pytest.param(0.95, 1, 0, 4, id="a_missed_point_caps_at_4"),
        pytest.param(0.8, 0, 0, 4, id="good"),
        pytest.param(0.6, 0, 0, 3, id="pass_edge"),
        pytest.param(0.59, 0, 0, 2, id="just_fails"),
        pytest.param(0.95, 1, 1, 2, id="contradiction_is_a_failed_recall"),
        pytest.param(0.3, 2, 0, 1, id="weak"),
        pytest.param(0.0, 5, 0, 0, id="blank"),
    ],
)
def test_quality_mapping(normalized, missed, contradicted, q):
    assert quality(normalized, missed, contradicted) == q


def test_sm2_intervals_grow_1_6_then_by_easiness():
    s = sm2(Review(), 4, D0)
    assert (s.repetitions, s.interval, s.due) == (1, 1, D0 + timedelta(days=1))
    s = sm2(s, 4, s.due)
    assert (s.repetitions, s.interval) == (2, 6)
    s = sm2(s, 4, s.due)
    assert s.interval == 15 and s.easiness == pytest.approx(2.5)  # q=4 leaves EF unchanged
    s5 = sm2(s, 5, s.due)
    assert s5.easiness == pytest.approx(2.6) and s5.interval == round(15 * 2.5)


def test_sm2_failure_resets_and_lowers_easiness_with_a_floor():
    s = sm2(sm2(sm2(Review(), 5, D0), 5, D0 + timedelta(days=1)), 1, D0 + timedelta(days=7))
    assert (s.repetitions, s.interval, s.due) == (0, 1, D0 + timedelta(days=8))
    assert s.easiness < 2.6
    for _ in range(20):
        s = sm2(s, 0, s.due)
    assert s.easiness == EF_MIN


def test_early_success_does_not_lengthen_the_interval_but_failure_counts():
    s = sm2(Review(), 5, D0)
    again = sm2(s, 5, D0)  # the same day, before it is due
    assert again.due == s.due and again.repetitions == 1
    failed = sm2(s, 1, D0)
    assert failed.repetitions == 0 and failed.due == D0 + timedelta(days=1)
    with pytest.raises(ValueError):
        sm2(s, 6, D0)


def test_attempt_quality_uses_learner_score_and_corrections():
    a = attempt("1", D0, 9.5, {"p1": "covered", "p2": "missing"})
    assert attempt_quality(a) == 4  # a missed point
    a = attempt("1", D0, 9.5, {"p1": "covered", "p2": "missing"}, learner={"p2": "covered"})
    assert attempt_quality(a) == 5  # the learner says it was covered
    a = attempt("1", D0, 9.5, {"p1": "covered"}, own=3.0)
    assert attempt_quality(a) == 1  # own score 3/10 wins over the grader's 9.5


def test_review_of_replays_in_time_order():
    later = attempt("1", D0 + timedelta(days=1), 9.0)
    first = attempt("1", D0, 9.0)
    r = review_of([later, first])
    assert r.repetitions == 2 and r.due == D0 + timedelta(days=7)


def test_due_questions_most_overdue_first():
    atts = [attempt("1", D0, 2.0), attempt("2", D0 - timedelta(days=3), 2.0), attempt("3", D0, 10.0)]
    today = D0 + timedelta(days=1)
    assert due_questions(atts, today) == [("b", "2"), ("b", "1"), ("b", "3")]
    assert due_questions(atts, D0) == [("b", "2")]
    assert due_questions(atts, today, bank="other") == []


def test_pick_next_due_then_new_then_weakest():
    ids = ["1", "2", "3", "4"]
    atts = [attempt("2", D0, 3.0), attempt("3", D0, 8.0), attempt("1", D0, 5.0)]
    # nothing due on D0 itself: new question 4 comes first
    assert pick_next("b", ids, atts, D0).question_id == "4"
    # the next day all three are due; the order among equally overdue ones is the bank's
    p = pick_next("b", ids, atts, D0 + timedelta(days=1))
    assert (p.question_id, p.reason) == ("1", "due")
    # with question 4 done, the weakest by last score
    p = pick_next("b", ids, atts, D0, exclude={"4"})
    assert (p.question_id, p.reason, p.detail) == ("2", "weakest", "last score 3/10")
    assert pick_next("b", ids, atts, D0, exclude=set(ids)) is None
    assert pick_next("b", ids, atts, D0, due_only=True) is None
    assert pick_next("b", ids, atts, D0 + timedelta(days=1), exclude={"1", "2"}, due_only=True).question_id == "3"
    # another bank's attempts do not count
    assert pick_next("other", ["1"], atts, D0).reason == "new"


def test_point_stats_weakest_first_with_corrections():
    atts = [
        attempt("1", D0, 5.0, {"a": "covered", "b": "missing", "c": "partial", "u": "unscored"}),
        attempt("1", D0 + timedelta(days=1), 5.0, {"a": "covered", "b": "contradicted", "c": "missing"}),
        attempt("1", D0 + timedelta(days=2), 5.0, {"a": "missing", "b": "missing", "c": "covered"}, learner={"a": "covered"}),
    ]
    stats = point_stats(atts)
    assert [s.point_id for s in stats] == ["b", "c", "a"]  # unscored left out
    b, c, a = stats
    assert (b.attempts, b.missed, b.miss_rate) == (3, 3, 1.0)
    assert (c.covered, c.partial, c.missed) == (1, 1, 1) and c.miss_rate == pytest.approx(0.5)
    assert a.miss_rate == 0.0  # the learner's correction wins


def test_progress_per_question():
    atts = [attempt("1", D0, 4.0), attempt("1", D0 + timedelta(days=1), 8.0), attempt("2", D0, 9.0, own=6.0)]
    prog = progress(atts, D0 + timedelta(days=2))
    p1, p2 = prog
    assert (p1.question_id, p1.attempts, p1.best, p1.last) == ("1", 2, 8.0, 8.0)
    assert p1.next_due == D0 + timedelta(days=2) and p1.due  # fail, then 1-day interval from day 1
    assert (p2.best, p2.last, p2.due) == (6.0, 6.0, True)
    assert progress([], D0) == []
