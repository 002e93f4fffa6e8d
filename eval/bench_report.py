"""How long a big batch report takes to open and to filter in Chromium, against a small one.

    python eval/bench_report.py [--answers 1000] [--repeat 7]

Writes a report of N answers (the test's class: 9 students, questions 3 and 4) and one of 10 as
the baseline, then opens them alternately in headless Chromium (Debian's, through Playwright):
`open` is the browser's own navigation start -> end of the load event; `filter` is one text filter
from the input event to the rows shown (layout forced). Prints the size, min and median of each,
and the ratio big / small of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTER = """() => { const t0 = performance.now(); const box = document.getElementById('f-text');
  box.value = 's9'; box.dispatchEvent(new Event('input')); document.body.offsetHeight; return performance.now() - t0; }"""


def build(n: int, where: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from apiutil import grader_command
    from test_runs_report import write_class

    inp, rep = where / f"in{n}.jsonl", where / f"report{n}.html"
    write_class(inp, n)
    subprocess.run(grader_command() + ["batch", str(inp), "--out", str(where / f"out{n}.jsonl"), "--report", str(rep)],
                   check=True, capture_output=True)
    return rep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from browser import launch
    from playwright.sync_api import sync_playwright

    where = Path(tempfile.mkdtemp(prefix="grader-report-bench-"))
    reports = {"small (10)": build(10, where), f"big ({args.answers})": build(args.answers, where)}
    times = {k: {"open": [], "filter": []} for k in reports}
    with sync_playwright() as p:
        browser = launch(p)
        for _ in range(args.repeat):
            for name, rep in reports.items():  # interleaved
                page = browser.new_page()
                page.goto(rep.as_uri(), wait_until="load")
                times[name]["open"].append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                times[name]["filter"].append(page.evaluate(FILTER))
                page.close()
        browser.close()
    for name, rep in reports.items():
        t = times[name]
        print(f"{name:>12}: {rep.stat().st_size / 1e6:.2f} MB  open min {min(t['open']):.0f} ms median "
              f"{statistics.median(t['open']):.0f} ms  filter min {min(t['filter']):.1f} ms median {statistics.median(t['filter']):.1f} ms")
    small, big = (times[k] for k in reports)
    print(f"ratio big/small (medians): open {statistics.median(big['open']) / statistics.median(small['open']):.1f}x, "
          f"filter {statistics.median(big['filter']) / statistics.median(small['filter']):.1f}x")


if __name__ == "__main__":
    main()
