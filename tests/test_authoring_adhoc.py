import pytest

from grader.authoring.adhoc import build_rubric, claim_keywords, split_claims
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


def test_formulas_are_whole_keywords_and_meet_loose_spellings():
    ref = "等概率前提下，平均移动的元素个数是n/2；否则为（2n+1)/3。"
    rubric = build_rubric(ref, "插入一个元素需要平均移动的元素个数是多少？")
    groups = [g for p in rubric.points for g in p.keywords]
    assert ["n/2"] in groups and ["(2n+1)/3"] in groups
    assert not {"2", "1)/3", "2n"} & {a for g in groups for a in g}  # no pieces of a formula
    g = Grader(Settings(mode="keyword"))
    assert g.grade_reference(ref, "n / 2；( 2*n + 1 ) / 3", question="平均移动几个元素？").score >= 9
    assert g.grade_reference(ref, "(n-1)/2；2(n+1)/3", question="平均移动几个元素？").score <= 2


def test_the_question_words_are_not_keywords():
    question = "What is the main advantage of a doubly-linked list over a basic linked list?"
    rubric = build_rubric("Deletion and insertion before a given node take constant time in a doubly linked list.", question)
    words = {a for p in rubric.points for g in p.keywords for a in g}
    assert {"constant", "deletion", "insertion"} <= words
    assert not words & {"list", "linked", "doubly"}
    g = Grader(Settings(mode="keyword"))
    restated = g.grade_reference(rubric.points[0].source, "A doubly linked list is a list that is doubly linked.", question=question)
    assert restated.score == 0


def test_a_true_or_false_verdict_matches_its_spellings():
    ref = "错误。顺序栈中的元素不一定是有序的。"
    g = Grader(Settings(mode="keyword"))
    q = "判断正误：顺序栈中元素值的大小是有序的"
    for verdict in ("不正确", "错", "不对", "False"):
        r = g.grade_reference(ref, f"{verdict}，栈里元素的大小没有顺序。", question=q)
        assert any(p.credit > 0 and "错误" in p.text for p in r.points), verdict
    r = g.grade_reference(ref, "正确，栈中元素是有序的。", question=q)
    assert not any(p.credit > 0 and "错误" in p.text for p in r.points)


def test_alternative_references_keep_the_best_grade():
    g = Grader(Settings(mode="keyword"))
    question = "简述顺序表和链表的特点"
    first = "顺序表存储空间连续，支持随机访问。"
    other = "链表的存储空间不连续，插入删除只需修改指针。"
    answer = "链表插入删除时修改指针即可，存储空间不连续。"
    alone = g.grade_reference(first, answer, question=question)
    best = g.grade_reference(first, answer, question=question, alternatives=(other,))
    against_other = g.grade_reference(other, answer, question=question)
    assert best.score == against_other.score > alone.score
    assert best.rubric_version == against_other.rubric_version
    # the best of equals is the main reference's grade
    same = g.grade_reference(first, answer, question=question, alternatives=(first,))
    assert same.rubric_version == alone.rubric_version


def test_a_long_reference_needs_a_smaller_share_of_its_claims():
    from grader.authoring.claims import ADHOC_FULL_MARKS_AT, adhoc_full_marks_at

    shares = [adhoc_full_marks_at(n) for n in (1, 2, 3, 5, 10, 20)]
    assert shares[0] == shares[1] == ADHOC_FULL_MARKS_AT
    assert all(a >= b for a, b in zip(shares, shares[1:])) and shares[-1] < 0.4
    needed = [n * adhoc_full_marks_at(n) for n in (3, 5, 10, 20)]
    assert all(a < b for a, b in zip(needed, needed[1:]))  # more claims still need more of them


def test_keywords_take_their_spellings_from_the_term_table():
    ref = "在链表中插入结点只需修改指针。"
    rubric = build_rubric(ref, "链表插入为什么快？")
    groups = [g for p in rubric.points for g in p.keywords]
    assert any("结点" in g and "节点" in g and "node" in g for g in groups), groups
    g = Grader(Settings(mode="keyword"))
    assert g.grade_reference(ref, "插入节点只要改指针", question="链表插入为什么快？").score >= 8


def test_the_opposite_verdict_contradicts_the_verdict_point():
    ref = "错误。栈中元素可以从栈顶依次出栈，直到最后删除栈底元素。"
    q = "判断正误：栈底元素是不能删除的元素"
    g = Grader(Settings(mode="keyword"))
    verdict_point = build_rubric(ref, q).points[0]
    assert "正确" in verdict_point.opposites
    wrong = g.grade_reference(ref, "正确，栈底元素不能删除，只能删除栈顶元素。", question=q)
    right = g.grade_reference(ref, "不正确，栈顶元素依次出栈后，栈底元素也可以删除。", question=q)
    assert wrong.points[0].verdict == "contradicted" and right.points[0].verdict != "contradicted"
    assert wrong.score == 0 < right.score


def test_a_blank_reference_is_a_usage_error_not_a_crash():
    # "\x1f" is whitespace to str.strip(): no key point can be built from it (was a 500 on POST /v1/grade)
    from grader.authoring.adhoc import question_from_reference
    from grader.errors import UsageError

    for ref in ("\x1f", "   "):
        with pytest.raises(UsageError, match="reference answer is empty"):
            question_from_reference(ref)
    q = question_from_reference("O(n)", alternatives=("\x1f",))
    assert not q.alternatives


def test_concurrent_builds_leave_the_segmenter_dictionary_as_it_was():
    # the API builds rubrics on the fly in a thread pool: builds that add words to jieba's one
    # dictionary and restore it must not interleave (words of one build stayed in it for good)
    import threading

    from grader.authoring import build as rubric_build, segmenter
    from grader.banks import load_bank

    jieba = segmenter._jieba()[0]
    refs = [q.reference_answer for q in load_bank().questions.values() if q.reference_answer][:8]
    expected = [[p.keywords for p in rubric_build.build_rubric(r, max_points=None).points] for r in refs]
    freq, total = dict(jieba.dt.FREQ), jieba.dt.total
    got: dict[tuple[int, int], list] = {}

    def work(k: int) -> None:
        for i in range(len(refs)):
            j = (i + 5 * k) % len(refs)
            got[(k, j)] = [p.keywords for p in rubric_build.build_rubric(refs[j], max_points=None).points]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert jieba.dt.total == total and jieba.dt.FREQ == freq
    assert all(v == expected[j] for (_, j), v in got.items())


def test_general_english_words_take_their_other_words_from_the_term_table():
    # terms_en.txt: everyday words a student writes for a reference's ("outcome" for "result")
    from grader.authoring.terms import TERMS_FILES, term_table

    assert any(f.name == "terms_en.txt" for f in TERMS_FILES)
    assert "outcome" in term_table().forms("result") and "mimic" in term_table().forms("simulate")
    ref = "It simulates the result of the final product."
    q = "What does a mock run do?"
    groups = [g for p in build_rubric(ref, q).points for g in p.keywords]
    assert any("result" in g and "outcome" in g for g in groups), groups
    g = Grader(Settings(mode="fuzzy"))
    other_words = g.grade_reference(ref, "It imitates the outcome.", question=q)  # 0 without the table
    off = g.grade_reference(ref, "It sorts a list of numbers.", question=q)
    assert other_words.score >= 5 > off.score == 0
