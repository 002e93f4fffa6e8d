"""The API in llm and hybrid modes: the async judge path against the scripted local server."""

from __future__ import annotations

import pytest

from apiutil import GOOD_ANSWER, imported_on_use, write_bank
from fake_llm_server import FakeLLM, Step, ok, request_ids, verdicts
from grader.settings import Settings

TestClient = imported_on_use("fastapi.testclient", "TestClient")
ApiConfig = imported_on_use("grader.api", "ApiConfig")
create_app = imported_on_use("grader.api", "create_app")


@pytest.fixture
def llm(fast_judge):
    server = FakeLLM().start()
    yield server
    server.stop()


def make(llm, tmp_path):
    settings = Settings(bank=str(write_bank(tmp_path)), model="judge-m", base_url=llm.url, api_key="sk-test",
                        timeout=2.0, max_retries=1, use_cache=False)
    return TestClient(create_app(settings, ApiConfig()))


def test_llm_mode_makes_one_call_and_scores_by_aggregation(llm, tmp_path):
    llm.default = lambda req: ok(verdicts(req, default="covered", evidence=GOOD_ANSWER.split(".")[0]))
    client = make(llm, tmp_path)
    r = client.post("/v1/grade", json={"question_id": "1", "answer": GOOD_ANSWER, "mode": "llm"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "llm" and body["usage"]["llm_calls"] == 1
    assert len(llm.requests) == 1 and set(request_ids(llm.bodies[0])) == {"qk", "softmax", "values"}
    assert body["score"] == 10.0


def test_batch_in_llm_mode_grades_every_item(llm, tmp_path):
    llm.default = lambda req: ok(verdicts(req, default="missing"))
    client = make(llm, tmp_path)
    items = [{"id": str(i), "question_id": "1", "answer": GOOD_ANSWER, "mode": "llm"} for i in range(4)]
    r = client.post("/v1/grade/batch", json={"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["graded"] == 4 and len(llm.requests) == 4


def test_judge_failure_falls_back_with_the_flag(llm, tmp_path):
    llm.default = lambda req: Step(status=500, body={"error": {"message": "down"}})
    client = make(llm, tmp_path)
    r = client.post("/v1/grade", json={"question_id": "1", "answer": GOOD_ANSWER, "mode": "llm"})
    assert r.status_code == 200, r.text
    assert "llm_fallback" in r.json()["flags"]
