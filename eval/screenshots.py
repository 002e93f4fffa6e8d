"""The README's screenshots of the grading page and the batch report, at 1280 and 390 px wide.

    python eval/screenshots.py            # writes docs/screenshots/{page,report}-{1280,390}.png

In headless Chromium (Debian's `chromium`, scripts/browser-for-tests) through Playwright, offline:
`grader serve` on 127.0.0.1 grades one answer to question 4 of the bundled bank on the page (with a
second mode beside it); `grader batch` grades eval/data/dev.jsonl (128 answers) with a `student`
column added, and the report is shot as it opens. Run it after changing the page or the report
(tests/test_readme.py checks that the README shows these four files and that they exist).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
WIDTHS = (1280, 390)
SHOTS = [f"{what}-{w}.png" for what in ("page", "report") for w in WIDTHS]
ANSWER = ("MHA 每个头都有自己的 K 和 V；MQA 让所有 query 头共享同一组 K/V，KV cache 缩小到原来的 1/N，"
          "推理更快但效果可能下降；GQA 把头分成 G 组，组内共享 K/V，是两者的折中。")


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from apiutil import grader_command, serve  # noqa: E402 - the tests' own server helper
    from browser import launch  # noqa: E402
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="grader-shots-"))
    inp = work / "class.jsonl"
    with open(ROOT / "eval/data/dev.jsonl", encoding="utf-8") as f, open(inp, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            row = json.loads(line)
            g.write(json.dumps({"id": row["id"], "student": f"student {i % 12 + 1:02d}", "question_id": row["question_id"],
                                "answer": row["answer"]}, ensure_ascii=False) + "\n")
    report = work / "report.html"
    subprocess.run(grader_command() + ["batch", str(inp), "--out", str(work / "out.jsonl"), "--report", str(report)],
                   check=True, capture_output=True)
    bank = ROOT / "rubrics" / "llm-interview"
    with sync_playwright() as p, serve(bank) as (base, _):
        browser = launch(p)
        for w in WIDTHS:
            page = browser.new_page(viewport={"width": w, "height": 1000 if w > 500 else 844}, device_scale_factor=1)
            page.goto(base + "/")
            page.wait_for_function("() => document.getElementById('question-text').textContent.length > 0")
            page.select_option("#question", "4")
            page.wait_for_function("() => document.getElementById('question-text').textContent.includes('MHA')")
            page.select_option("#mode2", "keyword")
            page.fill("#answer", ANSWER)
            page.click("#grade")
            page.locator("#result").wait_for(state="visible")
            page.screenshot(path=str(OUT / f"page-{w}.png"), full_page=w > 500)
            page.goto(report.as_uri())
            page.screenshot(path=str(OUT / f"report-{w}.png"), full_page=False)
            page.close()
        browser.close()
    for name in SHOTS:
        print(OUT / name, (OUT / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
