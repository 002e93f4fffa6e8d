import json
import re
from pathlib import Path

import pytest

from grader.banks import data_dir, get_question, load_bank, load_bank_dir
from grader.errors import NotFoundError, RubricError
from grader.models import Question
from grader.text import normalize

ROOT = Path(__file__).resolve().parent.parent
SEED_QUESTIONS = 16


def test_bundled_bank_has_the_sixteen_questions():
    bank = load_bank()
    assert bank.name == "llm-interview"
    assert list(bank.questions) == [str(i) for i in range(1, SEED_QUESTIONS + 1)]
    assert all(q.reference_answer for q in list(bank.questions.values())[:15])
    assert bank.questions["16"].reference_answer is None
    assert bank.questions["16"].rubric.open


@pytest.mark.parametrize("qid", [str(i) for i in range(1, SEED_QUESTIONS + 1)])
def test_every_key_point_is_grounded_or_says_why(qid):
    q = load_bank().questions[qid]
    assert 5 <= len(q.rubric.points) <= 12, "about 5 to 12 key points per question"
    ref = re.sub(r"\s+", "", normalize(q.reference_answer or ""))
    for p in q.rubric.points:
        assert p.keywords, f"{qid}/{p.id} has no keyword groups"
        if p.source:
            assert re.sub(r"\s+", "", normalize(p.source)) in ref, f"{qid}/{p.id}: source is not in the reference"
        else:
            assert p.reason, f"{qid}/{p.id}: neither grounded in the reference nor carrying a reason"


def test_reference_answers_are_verbatim_from_the_seed():
    seed = ROOT.parent / "shared" / "seed" / "000_bbbac8a18cf015c1.txt"
    if not seed.exists():
        pytest.skip("the seed bank is not on this machine")
    text = re.sub(r"\s+", "", seed.read_text(encoding="utf-8"))
    for q in load_bank().questions.values():
        assert re.sub(r"\s+", "", q.question) in text
        if q.reference_answer:
            assert re.sub(r"\s+", "", q.reference_answer) in text


def test_shipped_json_schema_is_current():
    shipped = json.loads((data_dir("rubrics") / "question.schema.json").read_text(encoding="utf-8"))
    assert shipped == Question.model_json_schema()


def test_unknown_question_lists_the_valid_ids():
    with pytest.raises(NotFoundError) as exc:
        get_question(load_bank(), "99")
    assert "valid ids: 1, 2, 3" in str(exc.value)


def test_unknown_bank_names_the_fix():
    with pytest.raises(NotFoundError, match="bundled bank"):
        load_bank("no-such-bank")


def _bank(tmp_path: Path, question_yaml: str) -> Path:
    d = tmp_path / "b"
    d.mkdir()
    (d / "bank.yaml").write_text("name: b\ntitle: B\n", encoding="utf-8")
    (d / "q1.yaml").write_text(question_yaml, encoding="utf-8")
    return d


def test_broken_yaml_names_the_file_and_the_line(tmp_path):
    d = _bank(tmp_path, "id: '1'\nquestion: q\nrubric:\n  points:\n    - id: a\n      text: [unclosed\n")
    with pytest.raises(RubricError) as exc:
        load_bank_dir(d)
    msg = str(exc.value)
    assert "q1.yaml:" in msg and re.search(r"q1\.yaml:\d+: invalid YAML", msg)


def test_unknown_field_names_the_file_line_and_field(tmp_path):
    d = _bank(
        tmp_path,
        "id: '1'\nquestion: q\nrubric:\n  points:\n    - id: a\n      text: t\n      wieght: 2\n",
    )
    with pytest.raises(RubricError) as exc:
        load_bank_dir(d)
    assert re.search(r"q1\.yaml:7: rubric\.points\.0\.wieght: Extra inputs are not permitted", str(exc.value))


def test_duplicate_point_ids_are_an_error(tmp_path):
    d = _bank(tmp_path, "id: '1'\nquestion: q\nrubric:\n  points:\n    - {id: a, text: t}\n    - {id: a, text: u}\n")
    with pytest.raises(RubricError, match="duplicate key point id 'a'"):
        load_bank_dir(d)


def test_bank_by_path(tiny_bank):
    assert load_bank(str(tiny_bank)).name == "tiny"


def test_a_question_is_looked_up_once_until_its_bank_changes(tiny_bank, monkeypatch):
    import grader.banks as banks

    lookups = []
    real = banks._load_file
    monkeypatch.setattr(banks, "_load_file", lambda path, mtime, model: lookups.append(Path(path).name) or real(path, mtime, model))
    first = [banks.load_question(tiny_bank, "1")[0] for _ in range(3)]
    assert first[0] is first[2] and lookups == ["bank.yaml", "q1.yaml"]  # not once per grade
    q1 = tiny_bank / "q1.yaml"
    q1.write_text(q1.read_text(encoding="utf-8").replace("MQA 减少了", "MQA 显著减少了"), encoding="utf-8")
    banks.forget(tiny_bank)
    edited, _ = banks.load_question(tiny_bank, "1")
    assert lookups[-1] == "q1.yaml" and any(p.text.startswith("MQA 显著减少了") for p in edited.rubric.points)
