from grader.adhoc import build_rubric, claim_keywords, split_claims
from grader.pipeline import Grader
from grader.settings import Settings

REF_ZH = "在这种情况下，建议采用链式存储结构。由于在顺序表中频繁进行插入和删除操作时，需要移动大量元素，操作耗时较长。而在链表中，只需修改插入或删除节点的前驱节点，并调整相应的指针即可完成操作。"
REF_EN = "To simulate the behaviour of portions of the desired software product."


def test_claims_are_spans_of_the_reference():
    claims = split_claims(REF_ZH)
    assert len(claims) >= 3
    for c in claims:
        assert c in REF_ZH


def test_keywords_are_content_words():
    kws = claim_keywords("由于在顺序表中频繁进行插入和删除操作时，需要移动大量元素")
    assert "插入" in kws and "删除" in kws
    assert "的" not in kws and "由于" not in kws
    assert claim_keywords(REF_EN)[:3] and "the" not in claim_keywords(REF_EN)


def test_built_rubric_is_grounded():
    r = build_rubric(REF_ZH)
    assert all(p.source and p.source in REF_ZH for p in r.points)
    assert all(p.keywords for p in r.points)


def test_grading_against_a_reference_orders_answers():
    g = Grader(Settings(mode="fuzzy"))
    good = g.grade_reference(REF_ZH, "宜采用链式存储结构。顺序表插入删除要移动大量元素；链表只需修改前驱结点的指针，不需要移动元素。")
    weak = g.grade_reference(REF_ZH, "用数组。")
    assert good.score > weak.score
    assert good.question_id == "adhoc" and good.bank is None
    en_good = g.grade_reference(REF_EN, "A prototype simulates the behavior of portions of the desired software product.")
    en_bad = g.grade_reference(REF_EN, "It is the final version shipped to customers.")
    assert en_good.score > en_bad.score


def test_tiny_reference_still_has_a_point():
    r = build_rubric("O(n)")
    assert len(r.points) == 1
