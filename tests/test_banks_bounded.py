"""Bank files are bounded (issue 19 #12): no YAML aliases, a size limit, no link out of the bank
(not to /dev/zero), and `grader rubric check` reads each file's YAML once, not once per finding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from grader import banks
from grader.banks import load_bank_dir
from grader.errors import RubricError

QUESTION = """\
id: "{qid}"
question: What is attention?
reference_answer: Attention weighs values by query-key similarity.
rubric:
  points:
    - id: p1
      text: Attention weighs values by query-key similarity.
      source: Attention weighs values by query-key similarity.
      keywords: {keywords}
"""


def bank(tmp_path: Path, keywords: str = '[["attention"]]') -> Path:
    root = tmp_path / "b"
    root.mkdir()
    (root / "bank.yaml").write_text("name: b\ntitle: B\nlanguage: en\n", encoding="utf-8")
    (root / "q1.yaml").write_text(QUESTION.format(qid="1", keywords=keywords), encoding="utf-8")
    return root


def test_yaml_aliases_are_refused_with_the_line(tmp_path):
    words = ", ".join(f"w{i}" for i in range(30))
    keywords = f"[&a [{words}], " + ", ".join(["*a"] * 3000) + "]"  # 26 KB; 25 s and 1.5 GB when expanded
    root = bank(tmp_path, keywords)
    with pytest.raises(RubricError, match=r"q1.yaml:9: YAML aliases \(\*name\) are not allowed"):
        load_bank_dir(root)


def test_markdown_stars_and_ampersands_are_not_aliases(tmp_path):
    root = bank(tmp_path, '[["Q & A", "**attention**"]]')
    assert load_bank_dir(root).questions["1"].rubric.points[0].keywords == [["Q & A", "**attention**"]]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_link_to_dev_zero_is_refused_not_read(tmp_path):
    root = bank(tmp_path)
    (root / "q2.yaml").symlink_to("/dev/zero")
    with pytest.raises(RubricError, match="link out of the bank"):
        load_bank_dir(root)


def test_a_link_out_of_the_bank_is_refused_and_one_inside_is_fine(tmp_path):
    root = bank(tmp_path)
    outside = tmp_path / "secret.yaml"
    outside.write_text(QUESTION.format(qid="2", keywords='[["x"]]'), encoding="utf-8")
    (root / "q2.yaml").symlink_to(outside)
    with pytest.raises(RubricError, match="link out of the bank"):
        load_bank_dir(root)
    (root / "q2.yaml").unlink()
    (root / "sub").mkdir()
    (root / "sub" / "real.yaml").write_text(QUESTION.format(qid="2", keywords='[["x"]]'), encoding="utf-8")
    (root / "q2.yaml").symlink_to(root / "sub" / "real.yaml")
    assert set(load_bank_dir(root).questions) == {"1", "2"}


def test_a_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(banks, "MAX_FILE_BYTES", 1000)
    root = bank(tmp_path, "[" + ", ".join(f'["word{i}"]' for i in range(200)) + "]")
    with pytest.raises(RubricError, match="over 0 MiB|over"):
        load_bank_dir(root)


def test_rubric_check_composes_each_file_once(tmp_path, monkeypatch):
    """3,000 keyword groups took 523 s: the file was re-parsed for every warning."""
    from grader.authoring.check import check_bank

    groups = "[" + ", ".join(f'["unrelated{i}"]' for i in range(300)) + "]"
    root = bank(tmp_path, groups)
    calls = []
    real = yaml.compose
    monkeypatch.setattr(yaml, "compose", lambda *a, **k: calls.append(1) or real(*a, **k))
    banks._compose.cache_clear()
    report = check_bank(root)
    assert len(report.warnings) >= 300
    assert len(calls) == 1
