"""The HTTP API: in process (TestClient), as a real `grader serve` subprocess, and fuzzed with
schemathesis against its own OpenAPI schema. Only 127.0.0.1 is ever contacted."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apiutil import GOOD_ANSWER, imported_on_use, serve, write_bank
from grader.errors import UsageError
from grader.settings import Settings

TestClient = imported_on_use("fastapi.testclient", "TestClient")
ApiConfig = imported_on_use("grader.api", "ApiConfig")
create_app = imported_on_use("grader.api", "create_app")

SECRET = "ZEBRA-CANARY-7731"  # planted in answers; must never come back in an error or a log


@pytest.fixture
def bank(tmp_path):
    return write_bank(tmp_path)


def make_client(bank, key=None, **config) -> TestClient:
    settings = Settings(bank=str(bank), api_key_server=key)
    config.setdefault("modes", ("keyword", "fuzzy"))  # never a model call from these tests
    return TestClient(create_app(settings, ApiConfig(**config)))


@pytest.fixture
def client(bank):
    return make_client(bank)


def assert_error(resp, status, type_=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    if type_:
        assert body["error"]["type"] == type_
    assert "Traceback" not in resp.text
    assert SECRET not in resp.text
    return body["error"]


# ------------------------------------------------------------------ meta and listing


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_page_is_served_and_self_contained(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert 'id="answer"' in html and 'id="grade"' in html
    # no CDN: nothing is loaded from another origin
    for attr in ('src="http', "src='http", 'href="http', "href='http", "@import"):
        assert attr not in html


def test_openapi_and_docs(client):
    schema = client.get("/openapi.json").json()
    for path in ("/healthz", "/v1/banks", "/v1/banks/{bank}/questions", "/v1/banks/{bank}/questions/{qid}", "/v1/grade", "/v1/grade/batch"):
        assert path in schema["paths"]
    assert client.get("/docs").status_code == 200
    modes = schema["components"]["schemas"]["GradeRequest"]["properties"]["mode"]
    assert "llm" not in json.dumps(modes)  # the schema lists only the modes served


def test_info(client):
    info = client.get("/v1/info").json()
    assert info["modes"] == ["keyword", "fuzzy"]
    assert info["default_bank"] == "api-test"
    assert info["auth"] is False
    assert info["max_answer_chars"] == 20000


def test_banks_lists_the_configured_bank_as_default(client):
    banks = client.get("/v1/banks").json()["banks"]
    mine = [b for b in banks if b["name"] == "api-test"]
    assert mine == [
        {"name": "api-test", "title": "API test bank", "language": "en", "description": None, "source": None,
         "licence": None, "questions": 2, "default": True}
    ]
    assert sum(b["default"] for b in banks) == 1


def test_questions_and_question_detail(client):
    qs = client.get("/v1/banks/api-test/questions").json()
    assert qs["bank"] == "api-test"
    assert [q["id"] for q in qs["questions"]] == ["1", "2"]
    q = client.get("/v1/banks/api-test/questions/1").json()
    assert q["question"] == "What does self-attention compute?"
    assert q["reference_answer"].startswith("Each token")
    assert [p["id"] for p in q["points"]] == ["qk", "softmax", "values"]
    assert q["points"][2]["weight"] == 2
    assert "keywords" not in q["points"][0]


# ------------------------------------------------------------------ grading


def test_grade_a_bank_question(client):
    resp = client.post("/v1/grade", json={"question_id": "1", "answer": GOOD_ANSWER})
    assert resp.status_code == 200, resp.text
    r = resp.json()
    assert (r["question_id"], r["bank"], r["mode"]) == ("1", "api-test", "fuzzy")
    assert r["max_score"] == 10.0 and r["normalized"] == pytest.approx(r["score"] / 10, abs=1e-4)
    verdicts = {p["id"]: p["verdict"] for p in r["points"]}
    assert verdicts == {"qk": "covered", "softmax": "covered", "values": "missing"}
    for p in r["points"]:
        assert p["evidence"] is None or p["evidence"] in GOOD_ANSWER
    assert r["missing_points"] == ["The output is a weighted sum of the values."]
    assert r["usage"]["llm_calls"] == 0


def test_grade_names_bank_and_mode(client):
    r = client.post("/v1/grade", json={"bank": "api-test", "question_id": "2", "answer": "RoPE 通过旋转注入位置信息。", "mode": "keyword"})
    assert r.status_code == 200, r.text
    assert r.json()["question_id"] == "2" and r.json()["mode"] == "keyword"
    assert r.json()["points"][0]["verdict"] == "covered"


def test_empty_answer_is_graded_not_refused(client):
    r = client.post("/v1/grade", json={"question_id": "1", "answer": ""}).json()
    assert r["score"] == 0 and "empty" in r["flags"]


def test_grade_against_a_reference_answer(client):
    body = {"reference_answer": "Softmax normalises the scaled scores; the output is the weighted sum of the values.",
            "question": "What does self-attention compute?", "answer": GOOD_ANSWER}
    r = client.post("/v1/grade", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["question_id"] is None or isinstance(r.json()["question_id"], str)
    assert r.json()["bank"] is None


def test_alternative_references_keep_the_best_grade(client):
    body = {"reference_answer": "The compiler provides a default constructor when a class declares none.",
            "question": "When does C++ create a default constructor?",
            "answer": "Unless you write your own constructor, one with no parameters is generated for you."}
    one = client.post("/v1/grade", json=body).json()
    body["reference_answers"] = ["If you write no constructor, one with no parameters is generated for you."]
    two = client.post("/v1/grade", json=body)
    assert two.status_code == 200, two.text
    assert two.json()["score"] > one["score"]


def test_batch_mixes_results_and_per_item_errors(client):
    items = [
        {"id": "a", "question_id": "1", "answer": GOOD_ANSWER},
        {"id": 7, "question_id": "99", "answer": SECRET},
        {"question_id": "1", "bank": "nope", "answer": SECRET},
        {"id": "big", "question_id": "1", "answer": "x" * 20001},
        {"id": "kw", "question_id": "1", "answer": GOOD_ANSWER, "mode": "keyword"},
    ]
    resp = client.post("/v1/grade/batch", json={"items": items})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert SECRET not in resp.text
    assert (body["graded"], body["errors"]) == (2, 3)
    res = body["results"]
    assert [r["id"] for r in res] == ["a", 7, 2, "big", "kw"]
    assert res[0]["result"]["score"] > 0 and res[0]["error"] is None
    assert res[1]["error"]["type"] == "not_found_error" and "99" in res[1]["error"]["message"]
    assert res[2]["error"]["type"] == "not_found_error" and "nope" in res[2]["error"]["message"]
    assert res[3]["error"]["type"] == "too_large_error"
    assert res[4]["result"]["mode"] == "keyword"


def test_batch_over_the_item_limit_is_422(bank):
    client = make_client(bank, max_batch_items=3)
    items = [{"question_id": "1", "answer": "a"}] * 4
    err = assert_error(client.post("/v1/grade/batch", json={"items": items}), 422, "validation_error")
    assert err["message"].startswith("body.items:") and "3" in err["message"]
    assert client.post("/v1/grade/batch", json={"items": items[:3]}).status_code == 200


def test_batch_needs_items(client):
    err = assert_error(client.post("/v1/grade/batch", json={"items": []}), 422, "validation_error")
    assert "items" in err["message"]


# ------------------------------------------------------------------ error statuses


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v1/banks/nope/questions", id="unknown_bank"),
        pytest.param("/v1/banks/nope/questions/1", id="unknown_bank_question"),
        pytest.param("/v1/banks/api-test/questions/99", id="unknown_question"),
        pytest.param("/v1/nothing-here", id="unknown_route"),
    ],
)
def test_404_get(client, path):
    assert_error(client.get(path), 404, "not_found_error")


@pytest.mark.parametrize(
    "body, words",
    [
        pytest.param({"question_id": "99", "answer": SECRET}, ["99", "valid ids: 1, 2"], id="unknown_question"),
        pytest.param({"bank": "nope", "question_id": "1", "answer": SECRET}, ["nope", "api-test"], id="unknown_bank"),
        pytest.param({"bank": "/etc", "question_id": "1", "answer": SECRET}, ["/etc"], id="a_path_is_not_a_bank"),
    ],
)
def test_404_grade(client, body, words):
    err = assert_error(client.post("/v1/grade", json=body), 404, "not_found_error")
    for w in words:
        assert w in err["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        pytest.param({"question_id": "1"}, "body.answer", id="no_answer"),
        pytest.param({"question_id": "1", "answer": 5}, "body.answer", id="answer_not_text"),
        pytest.param({"question_id": "1", "answer": SECRET, "mode": "llm"}, "body.mode", id="mode_not_served"),
        pytest.param({"question_id": "1", "answer": SECRET, "mode": "best"}, "body.mode", id="unknown_mode"),
        pytest.param({"answer": SECRET}, "body", id="no_question_nor_reference"),
        pytest.param({"question_id": "1", "reference_answer": "r", "answer": SECRET}, "body", id="both_targets"),
        pytest.param({"question_id": "1", "answer": SECRET, "anwser": SECRET}, "body.anwser", id="typo_field"),
        pytest.param({"question_id": "", "answer": SECRET}, "body.question_id", id="empty_id"),
        pytest.param({"question_id": 1, "answer": SECRET}, "body.question_id", id="id_not_text"),
        pytest.param({"question_id": "1", "question": "q?", "answer": SECRET}, "body", id="question_without_reference"),
        pytest.param({"bank": "api-test", "reference_answer": "r", "answer": SECRET}, "body", id="bank_with_reference"),
        pytest.param({"question_id": "1", "reference_answers": ["r"], "answer": SECRET}, "body", id="alternatives_without_reference"),
        pytest.param({"reference_answer": "# **", "answer": SECRET}, "body.reference_answer", id="reference_without_text"),
        pytest.param([SECRET], "body", id="not_an_object"),
    ],
)
def test_422_names_the_field_and_never_echoes_the_answer(client, body, field):
    err = assert_error(client.post("/v1/grade", json=body), 422, "validation_error")
    assert err["message"].startswith(field + ":"), err["message"]
    assert err["fields"][0]["field"] == field
    assert "input" not in err["fields"][0]


def test_422_for_a_body_that_is_not_json(client):
    r = client.post("/v1/grade", content=b'{"answer": "' + SECRET.encode(), headers={"content-type": "application/json"})
    err = assert_error(r, 422, "validation_error")
    assert "JSON" in err["message"]


def test_413_answer_over_the_character_limit(bank):
    client = TestClient(create_app(Settings(bank=str(bank), max_answer_chars=100), ApiConfig(modes=("fuzzy",))))
    assert client.post("/v1/grade", json={"question_id": "1", "answer": "x" * 100}).status_code == 200
    err = assert_error(client.post("/v1/grade", json={"question_id": "1", "answer": SECRET * 10}), 413, "too_large_error")
    assert "170 characters" in err["message"] and "100" in err["message"]


def test_413_body_over_the_byte_limit(bank):
    client = make_client(bank, max_body_bytes=1000)
    ok = client.post("/v1/grade", json={"question_id": "1", "answer": "a" * 800})
    assert ok.status_code == 200
    err = assert_error(client.post("/v1/grade", json={"question_id": "1", "answer": SECRET * 100}), 413, "too_large_error")
    assert "1000 bytes" in err["message"]


def test_413_chunked_body_without_content_length(bank):
    client = make_client(bank, max_body_bytes=1000)
    chunks = [b'{"question_id": "1", "answer": "', *([b"a" * 100] * 20), b'"}']
    r = client.post("/v1/grade", content=iter(chunks), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_error(r, 413, "too_large_error")
    small = [b'{"question_id": "1", ', b'"answer": "softmax"}']
    assert client.post("/v1/grade", content=iter(small), headers={"content-type": "application/json"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": "Basic czNjcjN0"}, id="not_bearer"),
        pytest.param({"Authorization": "Bearer s3cr3t-but-longer"}, id="prefix_of_longer"),
    ],
)
def test_401_without_the_right_token(bank, headers):
    client = make_client(bank, key="s3cr3t")
    for method, path, body in [
        ("GET", "/v1/banks", None),
        ("GET", "/v1/banks/api-test/questions/1", None),
        ("POST", "/v1/grade", {"question_id": "1", "answer": SECRET}),
        ("POST", "/v1/grade/batch", {"items": [{"question_id": "1", "answer": SECRET}]}),
    ]:
        r = client.request(method, path, json=body, headers=headers)
        assert_error(r, 401, "unauthorized_error")
        assert r.headers["www-authenticate"] == "Bearer"


def test_the_right_token_is_accepted_and_open_routes_stay_open(bank):
    client = make_client(bank, key="s3cr3t")
    auth = {"Authorization": "Bearer s3cr3t"}
    assert client.get("/v1/banks", headers=auth).status_code == 200
    assert client.post("/v1/grade", json={"question_id": "1", "answer": GOOD_ANSWER}, headers=auth).status_code == 200
    assert client.get("/v1/info", headers=auth).json()["auth"] is True
    for path in ("/", "/healthz", "/openapi.json"):
        assert client.get(path).status_code == 200


def test_unexpected_errors_are_a_bare_500(bank, monkeypatch, caplog):
    import grader.api.app

    def boom(*a, **k):
        raise RuntimeError(f"something broke while reading {SECRET}")

    monkeypatch.setattr(grader.api.app, "grade_row", boom)
    client = make_client(bank)
    with caplog.at_level(logging.INFO):
        r = client.post("/v1/grade", json={"question_id": "1", "answer": SECRET})
    err = assert_error(r, 500, "internal_error")
    assert "RuntimeError" not in err["message"]
    assert "RuntimeError" in caplog.text  # the operator learns the kind...
    assert SECRET not in caplog.text and "Traceback" not in caplog.text  # ...not the answer


def test_no_answer_text_in_logs(client, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/grade", json={"question_id": "1", "answer": SECRET})
        client.post("/v1/grade", json={"question_id": "99", "answer": SECRET})
        client.post("/v1/grade", json={"question_id": "1", "answer": SECRET, "mode": "nope"})
    assert SECRET not in caplog.text


# ------------------------------------------------------------------ CORS and configuration


def test_cors_off_by_default(client):
    r = client.get("/v1/banks", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/v1/grade", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_when_configured(bank):
    client = make_client(bank, cors_origins=["https://app.example.org"])
    r = client.get("/v1/banks", headers={"Origin": "https://app.example.org"})
    assert r.headers["access-control-allow-origin"] == "https://app.example.org"
    other = client.get("/v1/banks", headers={"Origin": "https://evil.example.org"})
    assert "access-control-allow-origin" not in other.headers


def test_api_config_from_env():
    cfg = ApiConfig.from_env(
        {"GRADER_CORS_ORIGINS": "https://a.org, https://b.org", "GRADER_MAX_BODY_BYTES": "5000",
         "GRADER_MAX_BATCH_ITEMS": "7", "GRADER_API_MODES": "fuzzy", "GRADER_SERVE_BUNDLED": "0"}
    )
    assert cfg == ApiConfig(cors_origins=["https://a.org", "https://b.org"], max_body_bytes=5000, max_batch_items=7,
                            modes=("fuzzy",), bundled_banks=False)
    assert ApiConfig.from_env({}) == ApiConfig()
    with pytest.raises(UsageError, match="GRADER_MAX_BATCH_ITEMS"):
        ApiConfig.from_env({"GRADER_MAX_BATCH_ITEMS": "many"})


def test_unknown_served_mode_fails_at_start(bank):
    with pytest.raises(UsageError, match="unknown mode"):
        create_app(Settings(bank=str(bank)), ApiConfig(modes=("fast",)))


def test_serving_only_the_configured_bank(bank):
    client = make_client(bank, bundled_banks=False)
    assert [b["name"] for b in client.get("/v1/banks").json()["banks"]] == ["api-test"]
    assert_error(client.get("/v1/banks/llm-interview/questions"), 404, "not_found_error")


def test_a_broken_bank_is_a_500_naming_no_answer(tmp_path, monkeypatch):
    import grader.api.app

    monkeypatch.setattr(grader.api.BankRegistry, "RECHECK_S", 0.0)  # see the edit at once
    good = write_bank(tmp_path / "good")
    client = make_client(good)
    (good / "q03.yaml").write_text("id: '3'\nquestion: q\nrubric:\n  points: []\n", encoding="utf-8")
    err = assert_error(client.post("/v1/grade", json={"question_id": "1", "answer": SECRET}), 500, "rubric_error")
    assert "q03.yaml" in err["message"]
    assert all(b["name"] != "api-test" for b in client.get("/v1/banks").json()["banks"])


def test_default_mode_follows_settings(bank):
    client = TestClient(create_app(Settings(bank=str(bank), mode="keyword"), ApiConfig(modes=("keyword", "fuzzy"))))
    assert client.post("/v1/grade", json={"question_id": "1", "answer": "softmax"}).json()["mode"] == "keyword"


# ------------------------------------------------------------------ a real server


def test_cli_start_up_does_not_import_the_web_stack():
    code = "import sys, grader.cli; print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_grader_serve_access_log_off_by_default(bank, workers):
    with serve(bank, args=("--workers", workers)) as (base, proc):
        for _ in range(4):
            r = httpx.post(f"{base}/v1/grade", json={"question_id": "1", "answer": GOOD_ANSWER}, timeout=10)
            assert r.status_code == 200 and r.json()["bank"] == "api-test", r.text
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        proc.terminate()
        proc.wait(timeout=15)
        log = proc.stdout.read()
    assert "POST /v1/grade" not in log  # no line per request unless --access-log
    if workers == "2":
        assert len(children) >= 2  # two server processes (and the supervisor above them)


@pytest.mark.slow
def test_grader_serve_subprocess(bank):
    with serve(bank, env={"GRADER_API_KEY": "k3y"}, args=("--access-log",)) as (base, proc):
        auth = {"Authorization": "Bearer k3y"}
        r = httpx.post(f"{base}/v1/grade", json={"question_id": "1", "answer": GOOD_ANSWER}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["bank"] == "api-test" and r.json()["score"] > 0
        assert httpx.post(f"{base}/v1/grade", json={"question_id": "1", "answer": SECRET}, timeout=10).status_code == 401
        assert httpx.get(f"{base}/", timeout=10).text.startswith("<!doctype html>")
        assert "server" not in r.headers  # no version banner
        proc.terminate()
        proc.wait(timeout=10)
        log = proc.stdout.read()
    assert "POST /v1/grade" in log  # the access log is on when asked for...
    assert SECRET not in log and "Traceback" not in log  # ...and carries no answer text


# ------------------------------------------------------------------ schemathesis


@pytest.mark.slow
def test_schemathesis(tmp_path):
    """Every operation of the API's own OpenAPI schema, with generated requests: no 500, every
    response as documented. Imported here, not at collection: schemathesis and hypothesis cost
    seconds to import, and their pytest plugins are off (pyproject's addopts). The same 25 examples
    per operation on every run (CI stays reproducible); GRADER_ST_EXAMPLES=400 explores afresh."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    app = create_app(
        Settings(bank=str(write_bank(tmp_path))),
        ApiConfig(modes=("keyword", "fuzzy"), max_batch_items=5, bundled_banks=False),  # only banks this test controls
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("GRADER_ST_EXAMPLES", "25")),
            derandomize="GRADER_ST_EXAMPLES" not in os.environ,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case):
            case.call_and_validate()

        check()
