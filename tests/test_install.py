"""A non-editable install (a built wheel) finds the bundled bank and prompts, from any directory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_carries_bank_and_prompts(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    if build.returncode != 0:
        pytest.fail(f"wheel build failed: {build.stderr[-2000:]}")
    wheel = next(wheels.glob("grader-*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300)
    code = (
        "import grader, grader.banks as b; from pathlib import Path;"
        "assert Path(grader.__file__).resolve().is_relative_to(Path(r'%s').resolve()), grader.__file__;"
        "assert '_data' in str(b.data_dir('rubrics')) and '_data' in str(b.data_dir('prompts'));"
        "bank = b.load_bank(); assert len(bank.questions) == 16;"
        "import grader.authoring.terms as rb; assert all(f.is_relative_to(Path(grader.__file__).parent) and f.is_file() for f in rb.TERMS_FILES);"
        "assert 'kv cache' in rb.term_table().forms('键值缓存');"
        "assert rb.ANTONYMS_FILE.is_relative_to(Path(grader.__file__).parent) and '增加' in rb.antonym_table().opposite['减少'];"
        "from grader import Grader; r = Grader().grade('3', 'RoPE 旋转 Query 和 Key'); print(r.score)"
    ) % site
    env = {**os.environ, "PYTHONPATH": str(site)}
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    float(p.stdout.strip())
