"""Budgets instead of hopes (issue 19 #8, #10): an answer that would hold a worker for seconds is
graded `unscored` with a flag once its time budget is spent; an ad-hoc reference jieba cannot
segment is built without the part-of-speech HMM."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from grader.budget import OverBudget, time_budget
from grader.pipeline import Grader
from grader.settings import Settings

HOSTILE = "mha;" * 5000  # ~200x a normal answer's work without a budget


def test_a_hostile_answer_is_unscored_with_a_flag_once_its_budget_is_spent():
    g = Grader(Settings(mode="fuzzy", grade_budget=0.02))
    g.grade("4", "MQA 共享一组 K、V。")  # the first grade of a rubric gets 10x (what is built on first use)
    r = g.grade("4", HOSTILE)
    assert "over_time_budget" in r.flags and "unscored" in r.flags
    assert {p.verdict for p in r.points} == {"unscored"} and r.score == 0.0
    assert all("time budget" in (p.reason or "") for p in r.points)


def test_without_a_budget_the_same_answer_is_graded():
    r = Grader(Settings(mode="fuzzy", grade_budget=0)).grade("4", HOSTILE)
    assert "over_time_budget" not in r.flags and "unscored" not in r.flags


def test_a_normal_answer_is_within_the_default_budget():
    g = Grader(Settings(mode="fuzzy"))
    answer = "MHA 每个头有独立的 K 和 V；MQA 所有头共享一组 KV，KV Cache 最小；GQA 把头分组，组内共享 KV，是两者的折中。"
    assert "over_time_budget" not in g.grade("4", answer).flags


def test_the_budget_counts_this_threads_cpu_not_waiting():
    with time_budget(0.05):
        time.sleep(0.2)  # sleeping spends no CPU
    with pytest.raises(OverBudget):
        with time_budget(0.05):
            while True:
                sum(range(1000))


def test_a_budget_never_fires_outside_its_block():
    """Many short blocks on many threads, each ending near its deadline: no OverBudget escapes."""
    escaped: list[BaseException] = []

    def work(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(200):
            try:
                with time_budget(0.002):
                    end = time.thread_time() + rnd.uniform(0, 0.003)
                    while time.thread_time() < end:
                        pass
            except OverBudget:
                pass
            try:
                for _ in range(2000):
                    pass
            except OverBudget as exc:  # delivered after the block: the bug this guards against
                escaped.append(exc)

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert escaped == [] and not any(t.is_alive() for t in threads)


def test_an_unsegmentable_reference_is_built_without_the_hmm(monkeypatch):
    from grader.authoring import keywords

    calls: list[bool] = []
    posseg = keywords._posseg()
    real = posseg.lcut
    monkeypatch.setattr(posseg, "lcut", lambda text, HMM=True: calls.append(HMM) or real(text, HMM=HMM))
    rnd = random.Random(3)
    noise = "".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(3000))
    keywords._segment(noise)
    assert calls == [False]  # ~31 s with the HMM
    calls.clear()
    keywords._segment("注意力机制通过查询和键的点积计算权重，再用 softmax 归一化")
    assert calls == [False, True]  # a realistic clause: segmented as before


def test_an_exception_swallowed_by_a_finaliser_prints_nothing_and_fires_again(capfd):
    import gc
    import weakref

    class Node:
        pass

    stopped = False
    try:
        with time_budget(0.01):
            while True:  # weakref callbacks and garbage collection all the way
                nodes = [Node() for _ in range(200)]
                refs = [weakref.ref(n, lambda r: None) for n in nodes]
                del nodes, refs
                gc.collect(0)
    except OverBudget:
        stopped = True
    assert stopped
    assert "OverBudget" not in capfd.readouterr().err


def test_eval_leaves_an_unscored_row_out_of_its_figures_and_lists_it():
    from grader.runs.evaluate import LabeledRow, evaluate

    rows = [LabeledRow(id="honest-1", question_id="4", answer="MHA 每个头独立 K、V；MQA 共享一组 KV；GQA 分组共享，是折中。", score=6),
            LabeledRow(id="honest-2", question_id="4", answer="不知道。", score=0),
            LabeledRow(id="honest-3", question_id="4", answer="GQA 把查询头分组，每组共享一组 K/V，在显存和效果之间折中。", score=4),
            LabeledRow(id="hostile", question_id="4", answer=HOSTILE, score=9)]
    res = evaluate(rows, Grader(Settings(mode="fuzzy", grade_budget=0.02)), "fuzzy")
    assert res["n"] == 3  # its 0 is not a grade: counted, it would pull every figure
    assert res["unscored"] == [{"id": "hostile", "flags": ["over_time_budget", "unscored"]}]
    assert "hostile" not in {g["id"] for g in res["graded"]}


def test_a_garbage_collection_inside_a_budgeted_block_is_not_charged_to_it():
    import gc

    heap = [[i] for i in range(1_500_000)]  # a large heap: a full collection takes tens of ms
    for x in heap:
        x.append(x)
    t = time.thread_time()
    gc.collect()
    pause = time.thread_time() - t
    assert pause > 0.03, pause  # the collection below would overrun the budget if it were charged
    with time_budget(0.02):
        gc.collect()
        gc.collect()
    del heap
    gc.collect()

@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_process_forked_while_the_watchdog_holds_its_lock_can_still_budget():
    """`grader batch` forks its workers after warm-up grades: a fork while the parent's watchdog
    held the budget's lock left that lock held in the child, whose first grade hung for ever."""
    from grader import budget

    with time_budget(1.0):
        pass  # the watchdog thread exists
    with budget._lock:  # as the watchdog holds it, every tick
        pid = os.fork()
        if pid == 0:  # the child: one budgeted block, or SIGALRM ends it with a failure
            code = 1
            try:
                signal.alarm(5)
                with time_budget(1.0):
                    pass
                code = 0
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
