"""The bundled rubrics' wrong claims against sentences written for them by an author who saw only
the question bank and the rubrics (tests/data/claims/qNN.yaml, kept as written): each `fires`
sentence, graded alone, states its claim; no `safe` sentence (what a correct answer may say) does."""

from pathlib import Path

import pytest
import yaml

from grader.models import CLAIMS
from grader.pipeline import Grader
from grader.settings import Settings

DATA = Path(__file__).parent / "data" / "claims"
# (question, point, claim) left out of the bundled rubrics, with why
DROPPED = {
    ("6", "under-trained", "参数巨大而数据不足的模型是过度训练（over-trained）的"):
        "the reference answer states it (its own labels are swapped) and people give a copy of it full marks",
}


def _cases():
    for path in sorted(DATA.glob("q*.yaml")):
        qid = str(int(path.stem[1:]))
        for pid, claims in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            for i, claim in enumerate(claims):
                if (qid, pid, claim["text"]) in DROPPED:
                    continue
                for kind in ("fires", "safe"):
                    for j, sentence in enumerate(claim[kind]):
                        yield pytest.param(qid, pid, claim["text"], kind, sentence, id=f"q{qid}-{pid}-{i}-{kind}{j}")


@pytest.fixture(scope="module")
def grader():
    return Grader(Settings(mode="fuzzy"))


@pytest.mark.parametrize("qid, pid, claim, kind, sentence", list(_cases()))
def test_a_bundled_wrong_claim_fires_on_its_sentences_and_on_no_safe_one(grader, qid, pid, claim, kind, sentence):
    question, _ = grader.question(qid)
    assert any(m.text == claim for p in question.rubric.points if p.id == pid for m in p.misconceptions), \
        f"the rubric of question {qid} has no wrong claim {claim!r} under point {pid!r}"
    points = {p.id: p for p in grader.grade(qid, sentence).points}
    stated = points[pid].reason == CLAIMS + claim
    assert stated == (kind == "fires"), (points[pid].verdict, points[pid].reason, points[pid].evidence)


def test_the_claims_data_covers_every_question_it_names():
    assert sorted(DATA.glob("q*.yaml")), "no claims data"


def test_a_one_sentence_wrong_claim_is_graded_as_one_not_as_off_topic(grader):
    # few of the topic's words, but a known wrong claim about a point: the answer is on the topic
    r = grader.grade("1", "缩放的作用主要是加快计算速度。")
    assert "off_topic" not in r.flags
    assert {p.id: p for p in r.points}["scale-why"].verdict == "contradicted"
    assert r.score == 0.0
