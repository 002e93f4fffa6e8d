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
