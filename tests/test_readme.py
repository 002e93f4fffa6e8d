"""The README's first command prints what the README says it prints."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from grader.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_first_command_prints_what_the_readme_shows():
    text = README.read_text(encoding="utf-8")
    command = re.search(r"```\n(python3 -m venv [^\n]*?grader grade [^\n]*)\n```", text).group(1)
    args = shlex.split(command.split(".venv/bin/grader ", 1)[1])
    shown = re.search(r"The first command prints.*?```\n(.*?)```", text, re.DOTALL).group(1)
    r = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    printed = r.output.splitlines()
    assert printed[0] == shown.splitlines()[0]  # "Score 5.99 / 10  question 4 ..."

    def missing(lines):
        at = lines.index("Missing:")
        return [l for l in lines[at + 1 :] if l.startswith("  - ")]

    assert missing(printed) == missing(shown.splitlines())


def test_ci_runs_the_readmes_test_command():
    text = README.read_text(encoding="utf-8")
    command = re.search(r"```\n([^\n]*\.venv/bin/pytest)\n```", text).group(1)
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == command


def test_the_screenshots_the_readme_shows_exist():
    import sys

    sys.path.insert(0, str(README.parent / "eval"))
    from screenshots import OUT, SHOTS

    text = README.read_text(encoding="utf-8")
    for name in SHOTS:
        assert f"(docs/screenshots/{name})" in text, name
        data = (OUT / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
