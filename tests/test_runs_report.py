"""The batch report as a teacher's tool: metadata kept to OUT, repeated ids named, the CSV beside the
HTML, failed rows with id and message, `--compare`, and (in headless Chromium) the grid's
click-through, sorting, filtering of 1,000 answers and a phone-width page."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app

runner = CliRunner()
ANSWERS = [
    ("4", "MQA 让所有 query 头共享同一组 K/V，KV cache 缩小到 1/N。"),
    ("4", "MHA 每个头都有自己的 K 和 V；GQA 把头分组，组内共享 K/V，是折中。"),
    ("3", "RoPE 通过旋转矩阵把位置信息编码进 Query 和 Key，点积只依赖相对位置。"),
    ("3", "RoPE 是一种位置编码。"),
    ("4", ""),
]


def write_class(path: Path, n: int, extra: list[dict] = ()) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            qid, ans = ANSWERS[i % len(ANSWERS)]
            f.write(json.dumps({"id": f"s{i}", "student": f"student {i % 9}", "class": "AB"[i % 2], "question_id": qid,
                                "answer": ans + (f" ({i})" if ans else "")}, ensure_ascii=False) + "\n")
        for row in extra:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def batch(*args):
    r = runner.invoke(app, ["batch", *map(str, args)])
    assert r.exit_code == 0, r.output
    return r


def test_metadata_columns_reach_out_the_report_and_the_csv(tmp_path):
    inp, out, rep = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "report.html"
    write_class(inp, 20, extra=[{"id": "gone", "student": "student 1", "question_id": "99", "answer": "x"}])
    r = batch(inp, "--out", out, "--report", rep)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["meta"] == {"student": "student 0", "class": "A"} and "result" in lines[0]
    assert next(x for x in lines if x["id"] == "gone")["meta"] == {"student": "student 1"}
    page = rep.read_text(encoding="utf-8")
    assert "<h3>By student</h3>" in page and "<h3>By class</h3>" in page
    assert page.startswith('<!DOCTYPE html>\n<html lang="zh-Hans">')  # CJK in its own glyph forms
    # the failed row, with its id and message, in the page and the CSV
    assert 'id="failed"' in page and "gone" in page and "unknown question &#x27;99&#x27;" in page
    rows = list(csv.DictReader(open(tmp_path / "report.csv", encoding="utf-8")))
    assert [k for k in rows[0]][:3] == ["id", "student", "class"] and len(rows) == 21
    assert rows[-1]["id"] == "gone" and rows[-1]["error"].startswith("NotFoundError: unknown question")
    assert "report.csv" in r.stderr
    # an offline run shows no tokens and no cost
    assert "tokens in / out" not in page and "cost" not in page.lower().replace("costs", "")


def test_a_repeated_id_is_named(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_class(inp, 4, extra=[{"id": "s1", "question_id": "4", "answer": "again"}])
    r = batch(inp, "--out", out)
    assert "1 repeated id not graded again: s1 (line 5)" in " ".join(r.stderr.split())
    r = batch(inp, "--out", tmp_path / "o2.jsonl", "--summary-json")
    assert json.loads(r.stdout)["repeated_ids"] == ["s1 (line 5)"] and "warning" in r.stderr and "s1" in r.stderr


def test_compare_shows_which_answers_moved_and_why(tmp_path):
    inp, old, new, rep = tmp_path / "in.jsonl", tmp_path / "old.jsonl", tmp_path / "new.jsonl", tmp_path / "r.html"
    write_class(inp, 10)
    batch(inp, "--out", old)
    # an earlier grader's OUT: s2 scored lower, its first key point then missing
    lines = [json.loads(x) for x in old.read_text(encoding="utf-8").splitlines()]
    s2 = next(x for x in lines if x["id"] == "s2")["result"]
    first = s2["points"][0]
    assert first["verdict"] != "missing"
    was = s2["score"]
    s2["score"], first["verdict"] = round(was - 1.5, 2), "missing"
    old.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    batch(inp, "--out", new, "--report", rep, "--compare", old)
    page = rep.read_text(encoding="utf-8")
    moved = page.split('id="changes"')[1].split("</section>")[0]
    assert "1 answers moved, 9 unchanged" in moved
    row = moved.split('<td class="id">s2</td>')[1].split("</tr>")[0]
    assert "+1.50" in row and f"1. {first['text'][:20]}" in row and "missing → " in row
    r = runner.invoke(app, ["batch", str(inp), "--out", str(new), "--compare", str(old)])
    assert r.exit_code == 2 and "--compare needs --report" in r.stderr


def test_a_thousand_answers_stay_one_file_under_5_mb(tmp_path):
    inp, out, rep = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "report.html"
    write_class(inp, 1000)
    batch(inp, "--out", out, "--report", rep)
    assert rep.stat().st_size < 5 * 1024 * 1024
    page = rep.read_text(encoding="utf-8")
    assert page.count('<article class="answer"') == 1000 and page.count('class="answer-row"') == 1000


# ---------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def big_report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    inp, out, rep = d / "in.jsonl", d / "out.jsonl", d / "report.html"
    write_class(inp, 1000)
    batch(inp, "--out", out, "--report", rep)
    return rep


@pytest.fixture(scope="module")
def browser():
    from browser import launch, need_chromium

    sync_api = need_chromium()
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.mark.slow
def test_a_thousand_answer_report_opens_and_filters_in_under_a_second(browser, big_report):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("file:") else None)
    # measured by the browser itself: navigation start to the end of the load event (parsing,
    # styles, layout and the script's first pass; the best of three opens, as a busy machine's
    # pauses are not the report's), then one filter from the input event to the rows shown. The
    # bound is the target, a second; the page takes about half of it on a busy 2-core machine.
    opened = []
    for _ in range(3):
        page.goto(big_report.as_uri(), wait_until="load")
        opened.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000)
    opened = min(opened)
    filtered = page.evaluate("""() => { const t0 = performance.now(); const box = document.getElementById('f-text');
        box.value = 's99'; box.dispatchEvent(new Event('input')); document.body.offsetHeight; return (performance.now() - t0) / 1000; }""")
    assert page.inner_text("#f-count").startswith("11 of 1000")
    assert opened < 1.0 and filtered < 1.0, (opened, filtered)
    assert page.locator("article.answer:not([hidden])").count() == 11
    assert outside == []
    page.close()


@pytest.mark.slow
def test_grid_click_lists_the_answers_that_missed_the_point_and_sorting_works(browser, big_report):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(big_report.as_uri())
    cell = page.locator(".cell").first
    q, p = cell.get_attribute("data-q"), cell.get_attribute("data-p")
    cell.click()
    shown = page.locator("#answer-table tbody tr:not([hidden])")
    n = shown.count()
    assert n > 0 and "missed key point 1 of " + q in page.inner_text("#f-count")
    assert all(p in m.split() for m in shown.evaluate_all("rs => rs.map(r => r.dataset.miss)"))
    assert all(x == q for x in shown.evaluate_all("rs => rs.map(r => r.dataset.q)"))
    assert page.locator("article.answer:not([hidden]) ol.verdicts li .pt").first.is_visible()  # verdicts spelled out
    page.click("#f-clear")
    score_head = page.locator("#answer-table thead th", has_text="score")
    score_head.click()
    score_head.click()  # descending
    scores = page.locator("#answer-table tbody tr td.num:nth-last-child(3)").evaluate_all("ts => ts.map(t => +t.textContent)")
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1] and len(scores) == 1000
    # evidence highlighted in the answer's section, as on the page
    assert page.locator("article.answer mark.covered").count() > 100
    page.close()


@pytest.mark.slow
def test_the_report_fits_a_phone(browser, big_report):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(big_report.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # the answers table scrolls inside its box; ids stay on one line
    lines = page.locator("#answer-table tbody tr td.id a").evaluate_all("as => as.slice(0, 40).map(a => a.getClientRects().length)")
    assert set(lines) == {1}
    # every bar label of the most-missed chart is shown whole (no clipping at the left edge)
    for box in page.locator(".bars .bl").evaluate_all("ls => ls.map(l => [l.getBoundingClientRect().left, l.scrollWidth <= l.clientWidth + 1])"):
        assert box[0] >= 0 and box[1]
    page.close()
