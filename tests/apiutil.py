"""Helpers shared by the API and page tests: a small bank on disk and a real `grader serve`."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


_PROBES = frozenset({"_mock_name", "_pytestfixturefunction", "_fixture_function_marker", "pytestmark"})


class imported_on_use:  # lower case: it stands for the imported name
    """`from module import name`, done when the name is first called or looked into: FastAPI's
    test client and the grader's app cost pytest's collection a second when imported at the top
    of every API test module, used or not."""

    __test__ = False  # pytest looks this up on "TestClient": not a test class, and no import for it
    __slots__ = ("_where",)

    @property
    def __dict__(self):  # monkeypatch reads the target's __dict__ to restore it: the module's
        return vars(self._target())

    def __init__(self, module: str, name: str | None = None):
        object.__setattr__(self, "_where", (module, name))  # name None: the module itself

    def _target(self):
        import importlib

        module, name = self._where
        found = importlib.import_module(module)
        return found if name is None else getattr(found, name)

    def __setattr__(self, attr: str, value) -> None:  # monkeypatch.setattr on a module stands for it
        setattr(self._target(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._target(), attr)

    def __call__(self, *args, **kwargs):
        return self._target()(*args, **kwargs)

    def __getattr__(self, attr: str):
        if attr.startswith("__") or attr in _PROBES:  # pytest's look at module globals is not a use
            raise AttributeError(attr)
        return getattr(self._target(), attr)

BANK_YAML = """\
name: api-test
title: API test bank
language: en
"""

QUESTION_YAML = """\
id: "1"
question: What does self-attention compute?
reference_answer: >-
  Each token scores every token by the scaled dot product of its query with their keys, normalises
  the scores with a softmax, and outputs the weighted sum of the values.
rubric:
  points:
    - id: qk
      text: Attention scores come from the dot product of queries and keys.
      keywords: [["query", "queries"], ["key", "keys"], ["dot product"]]
    - id: softmax
      text: The scores are scaled and normalised with a softmax.
      keywords: [["softmax"], ["scale", "scaled", "sqrt"]]
    - id: values
      text: The output is a weighted sum of the values.
      weight: 2
      keywords: [["weighted sum", "weighted average"], ["value", "values"]]
"""

QUESTION2_YAML = """\
id: "2"
question: 什么是 RoPE？
rubric:
  points:
    - id: rotate
      text: RoPE 通过旋转 Q 和 K 注入位置信息。
      keywords: [["旋转", "rotation"], ["位置", "position"]]
"""

GOOD_ANSWER = (
    "Self-attention takes the dot product of the queries and the keys.\n"
    "The scores are scaled by sqrt(d) and normalised with softmax."
)


def write_bank(root: Path) -> Path:
    bank = root / "api-test"
    bank.mkdir(parents=True)
    (bank / "bank.yaml").write_text(BANK_YAML, encoding="utf-8")
    (bank / "q01.yaml").write_text(QUESTION_YAML, encoding="utf-8")
    (bank / "q02.yaml").write_text(QUESTION2_YAML, encoding="utf-8")
    return bank


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grader_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m grader.cli`."""
    script = Path(sys.executable).parent / "grader"
    if script.exists():
        return [str(script)]
    found = shutil.which("grader")
    return [found] if found else [sys.executable, "-m", "grader.cli"]


@contextlib.contextmanager
def serve(bank: Path, env: dict[str, str] | None = None, timeout: float = 20.0, args: tuple[str, ...] = ()):
    """Run `grader serve` on 127.0.0.1 and a free port; yield its base URL; stop it."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "OPENAI_"))}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [*grader_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--bank", str(bank), *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"grader serve exited with {proc.returncode}:\n{proc.stdout.read()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"grader serve did not answer /healthz within {timeout} s")
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
