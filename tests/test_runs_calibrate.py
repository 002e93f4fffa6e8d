"""`grader calibrate`: a user's own scale, fitted, cross-validated, stored with the bank and applied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from grader.banks import bundled_banks, load_question
from grader.cli import app
from grader.errors import RubricError
from grader.pipeline import Grader
from grader.runs.calibrate import cross_validate, fit_scale
from grader.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_the_fit_is_a_monotone_map_from_0_to_1():
    pairs = [(0.0, 0.5), (0.1, 0.7), (0.2, 0.6), (0.5, 0.8), (0.9, 0.75), (1.0, 1.0)]
    knots = fit_scale(pairs)
    xs, ys = [k[0] for k in knots], [k[1] for k in knots]
    assert xs[0] == 0 and xs[-1] == 1 and xs == sorted(set(xs))
    assert ys == sorted(ys) and all(0 <= y <= 1 for y in ys)
    assert knots[0][1] == 0.5  # a teacher who gives half marks to what the grader scores 0


def test_pooled_violators_take_their_mean():
    # (0.2, 0.6) below (0.1, 0.7) is a violation: the two are pooled at 0.65
    knots = fit_scale([(0.1, 0.7), (0.2, 0.6), (0.8, 0.9)])
    assert (0.1, 0.65) in knots and (0.2, 0.65) in knots


def test_cross_validation_never_maps_a_question_by_a_scale_fitted_on_it():
    # question a: the person scores the grader's x as x; question b: as 1 - x would be impossible
    # for a monotone map, so a scale fitted on a alone maps b badly: the folds must show it
    graded = [{"question_id": "a", "human": 10 * x, "grader": 10 * x} for x in (0.1, 0.5, 0.9)]
    graded += [{"question_id": "b", "human": 10 * (1 - x), "grader": 10 * x} for x in (0.1, 0.5, 0.9)]
    r = cross_validate(graded, folds=2)
    assert r["after"]["mae"] > 2.0 and r["questions"] == 2


def _labeled(tmp_path: Path) -> Path:
    """dev rows rescored as a lenient teacher would: 5 + half the original score."""
    rows = [json.loads(line) for line in (ROOT / "eval" / "data" / "dev.jsonl").read_text(encoding="utf-8").splitlines()]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({**r, "score": 5 + r["score"] / 2}, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def mybank(tmp_path) -> Path:
    dest = tmp_path / "mybank"
    shutil.copytree(bundled_banks()["llm-interview"], dest)
    return dest


def test_calibrate_stores_the_scale_and_grades_use_it(tmp_path, mybank):
    res = runner.invoke(app, ["calibrate", str(_labeled(tmp_path)), "--bank", str(mybank), "--mode", "fuzzy", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["after"]["mae"] < report["before"]["mae"]  # the lenient scale is learned
    scales = yaml.safe_load((mybank / "bank.yaml").read_text(encoding="utf-8"))["scales"]
    assert scales["fuzzy"][0][1] >= 0.45  # an answer the grader scores 0 gets about half marks
    r = Grader(Settings(mode="fuzzy"), bank=str(mybank)).grade("4", "不知道 MQA")
    assert r.raw_score is not None and r.score > r.raw_score
    keyword = Grader(Settings(mode="keyword"), bank=str(mybank)).grade("4", "不知道 MQA")
    assert keyword.raw_score is None  # a scale belongs to the mode it was fitted in


def test_dry_run_writes_nothing(tmp_path, mybank):
    before = (mybank / "bank.yaml").read_text(encoding="utf-8")
    res = runner.invoke(app, ["calibrate", str(_labeled(tmp_path)), "--bank", str(mybank), "--dry-run"])
    assert res.exit_code == 0 and "not written" in res.output
    assert (mybank / "bank.yaml").read_text(encoding="utf-8") == before


@pytest.mark.parametrize("args, message", [
    pytest.param([], "read-only", id="bundled_bank"),
    pytest.param(["--folds", "40"], "needs at least 40 questions", id="too_many_folds"),
])
def test_mistakes_are_one_line_naming_the_fix(tmp_path, args, message):
    res = runner.invoke(app, ["calibrate", str(_labeled(tmp_path)), *args] + (["--dry-run"] if "--folds" in args else []))
    assert res.exit_code == 2 and message in res.output


def test_rows_with_their_own_references_need_a_bank_to_store_into(tmp_path):
    path = tmp_path / "adhoc.jsonl"
    path.write_text(json.dumps({"id": "1", "reference_answer": "栈是后进先出的线性表。", "answer": "后进先出", "score": 8}) + "\n",
                    encoding="utf-8")
    res = runner.invoke(app, ["calibrate", str(path)])
    assert res.exit_code == 2 and "--dry-run" in res.output


def test_a_broken_scale_in_bank_yaml_names_the_file(mybank):
    data = yaml.safe_load((mybank / "bank.yaml").read_text(encoding="utf-8"))
    data["scales"] = {"fuzzy": [[0, 0.5], [0.5, 0.2], [1, 1]]}
    (mybank / "bank.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RubricError, match="bank.yaml.*scales"):
        load_question(str(mybank), "1")
