"""The data model: results made from the grader's own values are the results validation makes."""

from __future__ import annotations

import pytest

from grader.models import GradeResult, PointResult, Usage
from grader.pipeline import Grader
from grader.settings import Settings


def test_a_made_result_is_the_validated_result():
    r = Grader(Settings(mode="fuzzy")).grade("3", "RoPE 通过旋转矩阵把位置信息编码进 Query 和 Key，不引入额外参数。")
    v = GradeResult.model_validate(r.model_dump())
    assert r == v and repr(r) == repr(v) and list(r.__dict__) == list(v.__dict__)
    assert r.model_dump_json() == v.model_dump_json() and r.model_fields_set == v.model_fields_set
    assert isinstance(r.usage, Usage) and all(isinstance(p, PointResult) for p in r.points)


def test_made_needs_every_field():
    with pytest.raises(TypeError, match="every field"):
        Usage.made(llm_calls=0)
    with pytest.raises(TypeError, match="every field"):
        Usage.made(llm_calls=0, prompt_tokens=0, completion_tokens=0, cache_hits=0, extra=1)


def test_settings_validate_what_callers_pass():
    from pydantic import ValidationError

    assert Settings.from_env({}, mode="keyword", bank="llm-interview").mode == "keyword"
    with pytest.raises(ValidationError):
        Settings.from_env({}, n_examples=0)
    with pytest.raises(ValidationError):
        Settings.from_env({}, timeout="soon")
    assert Settings.from_env({"GRADER_TIMEOUT": "12"}) == Settings(timeout=12.0)


# ---------------------------------------------------------------- plain results (grader/plain.py)

from pathlib import Path  # noqa: E402

from grader.plain import NO_USAGE, USAGE_COUNTS, Grade, Point, QuestionView  # noqa: E402

DEV = Path(__file__).resolve().parent.parent / "eval" / "data" / "dev.jsonl"


def test_the_plain_results_have_the_contract_models_fields_in_their_order():
    assert Point.__slots__ == tuple(PointResult.model_fields)
    assert (*Grade.__slots__, "normalized") == (*GradeResult.model_fields, *GradeResult.model_computed_fields)
    assert USAGE_COUNTS == tuple(Usage.model_fields)


def _grades(n: int = 40):
    """Plain grades of dev answers (the first n rows), keyword and fuzzy, with the answer."""
    import json

    from grader.pipeline import grade_plain

    g = Grader(Settings(mode="fuzzy"))
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()[:n]]
    for row in rows:
        q, bank = g.question(row["question_id"])
        for mode in ("keyword", "fuzzy"):
            yield grade_plain(q, row["answer"], mode, g.settings, bank)


def test_a_grade_made_plain_is_the_result_grade_question_returns():
    from grader.pipeline import grade_plain, grade_question

    g = Grader(Settings(mode="fuzzy"))
    q, bank = g.question("3")
    answer = "RoPE 通过旋转矩阵把位置信息编码进 Query 和 Key，不引入额外参数。"
    plain = grade_plain(q, answer, "fuzzy", g.settings, bank)
    assert plain.usage is NO_USAGE and all(type(p) is Point for p in plain.points)
    assert GradeResult.of(plain) == grade_question(q, answer, "fuzzy", g.settings, bank)


def test_a_plain_grade_writes_the_json_pydantic_writes():
    n = 0
    for grade in _grades():
        assert grade.to_json() == GradeResult.of(grade).model_dump_json(indent=2)
        n += 1
    assert n == 80


@pytest.mark.parametrize("text", ["tab\there\nline \x01 \x1f \x7f \u2028 \"quoted\" back\\slash", "中文，“引号”", ""])
@pytest.mark.parametrize("weight", [1, 2.5, 0.0001, 1234567890123456.0, -0.0])
def test_json_of_odd_text_and_numbers_is_pydantic_s(text, weight):
    grade = next(_grades(1))
    points = [p.replace(text=text, weight=weight, evidence=text or None) for p in grade.points]
    odd = grade.replace(points=points, feedback=text, score=weight, raw_score=weight)
    assert odd.to_json() == GradeResult.of(odd).model_dump_json(indent=2)


@pytest.mark.parametrize("value", [1e-05, 1e16, 1.5e300, float("inf"), float("nan")])
def test_json_leaves_to_pydantic_what_it_would_write_otherwise(value):
    grade = next(_grades(1))
    assert grade.to_json() is not None
    assert grade.replace(score=value).to_json() is None
    assert grade.replace(points=[grade.points[0].replace(weight=value)]).to_json() is None
    assert grade.replace(details={"judge": {}}).to_json() is None  # the judge's transcript: pydantic writes it


@pytest.mark.parametrize("scaled", [False, True])
def test_a_question_view_grades_as_its_question(scaled):
    from grader.matchers.compiled import compile_rubric, remember
    from grader.pipeline import grade_plain

    g = Grader(Settings(mode="fuzzy"))
    q, bank = g.question("7")
    if scaled:  # the rubric's own calibration and the bank's user scale, as `grader calibrate` stores it
        q = q.model_copy(update={"rubric": q.rubric.model_copy(update={"calibration": [(0, 0), (0.3, 0.6), (1, 1)]})})
        q = q.with_scales({"fuzzy": [(0.0, 0.1), (0.5, 0.7), (1.0, 1.0)]})
    context = q.question + "\n" + (q.reference_answer or "")
    compiled = compile_rubric(q.rubric, context)
    view = QuestionView.of(q, compiled)
    remember(view.rubric, context, compiled)
    for answer in ("KV cache 缓存已经算过的 K 和 V，避免重复计算", "", "不知道"):
        got = grade_plain(view, answer, "fuzzy", g.settings, bank)
        assert got == grade_plain(q, answer, "fuzzy", g.settings, bank)
        assert (got.raw_score is not None) == scaled  # the view carries the bank's scale
