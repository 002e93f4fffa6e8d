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
