"""Shared fixtures. Tests never leave this machine: any connection to an address outside the
loopback range fails the test (the judge is tested against a local scripted server)."""

from __future__ import annotations

import ipaddress
import socket
import textwrap
from pathlib import Path

import pytest

_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if host not in ("localhost",) and (ip is None or not ip.is_loopback):
            raise RuntimeError(f"tests must not reach the network (tried {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-never-sent-anywhere")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("GRADER_MODE", raising=False)
    monkeypatch.delenv("GRADER_MODEL", raising=False)
    monkeypatch.delenv("GRADER_API_KEY", raising=False)


@pytest.fixture
def fast_judge(monkeypatch):
    """The judge's retries shortened to milliseconds; its shared clients closed afterwards."""
    from grader.llm import client as judge_client

    monkeypatch.setattr(judge_client, "DEFAULT_POLICY", judge_client.RetryPolicy(0.01, 0.05, 5.0))
    yield
    for client in judge_client._clients.values():
        client.close()
    judge_client._clients.clear()


TINY_QUESTION = """\
id: "1"
question: 你知道MHA，MQA，GQA的区别吗？
reference_answer: |-
  MHA 每个头有独立的 K 和 V。MQA 所有 Query 头共享同一组 K/V，KV cache 大幅减小。GQA 把 Query 头分组，组内共享 K/V。
rubric:
  points:
    - id: mqa-share
      text: MQA 中所有 Query 头共享同一组 Key 和 Value
      weight: 2
      keywords:
        - [mqa, multi-query, 多查询]
        - [共享, share, 同一组, 一组]
      source: MQA 所有 Query 头共享同一组 K/V
    - id: mqa-kv
      text: MQA 减少了 KV cache 的显存占用
      weight: 1
      keywords:
        - [减少, 减小, 降低, reduce, smaller]
        - [kv cache, kv缓存, 键值缓存]
      source: KV cache 大幅减小
    - id: gqa-groups
      text: GQA 把 Query 头分组，组内共享 K/V
      weight: 1
      keywords:
        - [gqa, grouped-query, 分组查询]
        - [分组, group, 组内]
      source: GQA 把 Query 头分组，组内共享 K/V
    - id: rope-no-params
      text: RoPE 不引入额外可训练参数
      weight: 1
      keywords:
        - [额外参数, 可训练参数, extra parameters, additional parameters]
      reason: a negative claim, to test polarity
"""


def one_question_bank(parent: Path, name: str, question: str) -> Path:
    """A bank directory `parent/name` holding one question file (`question`, YAML text)."""
    bank = parent / name
    bank.mkdir()
    (bank / "bank.yaml").write_text(f"name: {name}\ntitle: A {name} test bank\nlanguage: zh\n", encoding="utf-8")
    (bank / "q1.yaml").write_text(question, encoding="utf-8")
    return bank


@pytest.fixture
def tiny_bank(tmp_path: Path) -> Path:
    return one_question_bank(tmp_path, "tiny", TINY_QUESTION)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
