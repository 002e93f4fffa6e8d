"""The API under hostile input (issue 19 #5, #8, #11): no 500 for a lone surrogate, bounded
references, work cancelled when the client hangs up, slow clients closed and capped."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from apiutil import free_port, grader_command, imported_on_use, write_bank
from grader.settings import Settings

TestClient = imported_on_use("fastapi.testclient", "TestClient")
create_app = imported_on_use("grader.api", "create_app")
ApiConfig = imported_on_use("grader.api.config", "ApiConfig")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    bank = write_bank(tmp_path_factory.mktemp("banks"))
    return TestClient(create_app(Settings(bank=str(bank)), ApiConfig()))


RAW = '{"question_id": "1", "answer": "queries \\ud800 and keys: dot product \\udfff softmax"}'


def test_a_lone_surrogate_in_an_answer_is_graded_not_a_500(client):
    r = client.post("/v1/grade", content=RAW, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert "\ufffd" in "".join(p["evidence"] or "" for p in r.json()["points"])


def test_a_lone_surrogate_id_does_not_sink_the_batch(client):
    body = '{"items": [{"id": "\\ud800", "question_id": "1", "answer": "dot product"}, ' + RAW + "]}"
    r = client.post("/v1/grade/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["graded"] == 2 and r.json()["results"][0]["id"] == "\ufffd"


def test_references_together_over_the_limit_are_413(client):
    ref = "Self attention scores queries against keys. " * 400  # ~18,000 characters
    r = client.post("/v1/grade", json={"reference_answer": ref, "reference_answers": [ref, ref], "answer": "keys"})
    assert r.status_code == 413 and "reference answers have" in r.json()["error"]["message"]
    assert client.post("/v1/grade", json={"reference_answer": ref[:2000], "answer": "keys"}).status_code == 200


def test_a_deeply_nested_body_is_not_called_bad_utf8(client):
    r = client.post("/v1/grade", content="[" * 100000, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested" in r.json()["error"]["message"]


# ------------------------------------------------------------------ a real server


@contextlib.contextmanager
def server(tmp_path: Path, env: dict[str, str]):
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "OPENAI_"))} | env
    proc = subprocess.Popen([*grader_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=full_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        yield base, port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_work_stops_when_the_client_hangs_up(tmp_path):
    """Issue 19 #8: a request kept running minutes after its client had gone."""
    with server(tmp_path, {"GRADER_GRADE_BUDGET": "0"}) as (base, _, proc):
        items = [{"question_id": "4", "answer": "mha;" * 5000} for _ in range(100)]  # ~1 s each, unbudgeted
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{base}/v1/grade/batch", json={"items": items}, timeout=2.0)
        time.sleep(3.0)  # the poll notices; the grades already running finish
        before = cpu_seconds(proc.pid)
        time.sleep(4.0)
        assert cpu_seconds(proc.pid) - before < 1.0  # was ~4 s: the other 90-odd items were still graded
        assert httpx.post(f"{base}/v1/grade", json={"question_id": "4", "answer": "MQA 共享 KV"}, timeout=10).status_code == 200


@pytest.mark.slow
def test_slow_clients_are_closed_and_cannot_fill_the_server(tmp_path):
    """Issue 19 #11: connections sending a header a byte at a time were held for ever."""
    env = {"GRADER_REQUEST_TIMEOUT": "1.5", "GRADER_MAX_CONNECTIONS": "20"}
    with server(tmp_path, env) as (base, port, _):
        slow = []
        for _ in range(40):  # twice the cap
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the header never ends
            slow.append(s)
        t0 = time.monotonic()
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # room was made
        assert time.monotonic() - t0 < 5
        time.sleep(3.0)
        closed = 0
        for s in slow:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass  # still open
            finally:
                s.close()
        assert closed == 40
