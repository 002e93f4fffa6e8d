import json

from typer.testing import CliRunner

from grader.runs.batch import done_ids
from grader.cli import app

runner = CliRunner()


def lines(path):
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]


def test_batch_jsonl_with_bad_rows_and_resume(tmp_path):
    inp = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "question_id": "4", "answer": "MQA 所有头共享一组 KV"},
        {"id": "b", "question_id": "99", "answer": "x"},
        {"id": "c", "reference_answer": "链表插入删除只需修改指针。", "answer": "修改指针即可"},
        {"id": "d", "answer": "no question"},
    ]
    inp.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\nnot json\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["batch", str(inp), "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    got = {o["id"]: o for o in lines(out)}
    assert set(got) == {"a", "b", "c", "d", "line-5"}
    assert got["a"]["result"]["question_id"] == "4"
    assert got["b"]["error"]["type"] == "NotFoundError" and "valid ids" in got["b"]["error"]["message"]
    assert "result" in got["c"]
    assert "error" in got["d"] and "error" in got["line-5"]
    # a second run skips everything already written
    r2 = runner.invoke(app, ["batch", str(inp), "--out", str(out), "--summary-json"])
    assert json.loads(r2.stdout)["graded"] == 0
    assert len(lines(out)) == 5


def test_torn_last_line_is_dropped_and_regraded(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": i, "question_id": "4", "answer": "MQA 共享 KV"}) + "\n" for i in "xyz"), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "x", "result": {}}) + "\n" + '{"id": "y", "resu', encoding="utf-8")
    assert done_ids(out) == {"x"}
    assert out.read_text(encoding="utf-8").endswith("\n")
    runner.invoke(app, ["batch", str(inp), "--out", str(out)])
    assert sorted(o["id"] for o in lines(out)) == ["x", "y", "z"]


def test_batch_csv(tmp_path):
    inp = tmp_path / "in.csv"
    inp.write_text('id,question_id,answer\n1,4,"MQA 共享, 一组 KV"\n2,3,RoPE 旋转\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    r = runner.invoke(app, ["batch", str(inp), "--out", str(out)])
    assert r.exit_code == 0
    assert [o["id"] for o in lines(out)] == ["1", "2"]


def test_batch_unreadable_input_exits_2(tmp_path):
    r = runner.invoke(app, ["batch", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "cannot read input" in r.stderr


def test_eval_prints_agreement_and_kinds(tmp_path):
    f = tmp_path / "lab.jsonl"
    rows = [
        {"id": "1", "question_id": "4", "answer": "MQA 让所有 Query 头共享同一组 K 和 V，KV cache 缩小到 1/N；GQA 分组共享，折中效果与效率。", "score": 8, "kind": "good"},
        {"id": "2", "question_id": "4", "answer": "不知道", "score": 0, "kind": "empty"},
        {"id": "3", "question_id": "4", "answer": "MHA 多头注意力", "score": 2, "max_score": 10, "kind": "superficial"},
        {"id": "4", "reference_answer": "To simulate the behaviour of portions of the desired software product.", "answer": "It simulates portions of the product.", "score": 4, "max_score": 5},
    ]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    r = runner.invoke(app, ["eval", str(f), "--json"])
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["n"] == 4 and set(d) >= {"pearson", "spearman", "qwk", "mae", "by_kind", "worst"}
    assert set(d["by_kind"]) == {"good", "empty", "superficial"}
    assert d["pearson"] > 0.5
    readable = runner.invoke(app, ["eval", str(f)])
    assert "Spearman" in readable.stdout and "Worst" in readable.stdout


def test_eval_bad_row_names_the_line(tmp_path):
    f = tmp_path / "lab.jsonl"
    f.write_text('{"id": "1", "question_id": "4", "answer": "x"}\n', encoding="utf-8")
    r = runner.invoke(app, ["eval", str(f)])
    assert r.exit_code == 2 and "lab.jsonl:1: score" in r.stderr


def test_rows_with_several_reference_answers(tmp_path):
    inp = tmp_path / "in.jsonl"
    first, other = "顺序表存储空间连续，支持随机访问。", "链表的存储空间不连续，插入删除只需修改指针。"
    answer = "链表插入删除时修改指针即可，存储空间不连续。"
    rows = [
        {"id": "one", "reference_answer": first, "answer": answer},
        {"id": "both", "reference_answer": first, "reference_answers": [first, other], "answer": answer},
        {"id": "list-only", "reference_answers": [other, first], "answer": answer},
        {"id": "empty-list", "reference_answers": [], "answer": answer},
    ]
    inp.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r = runner.invoke(app, ["batch", str(inp), "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    got = {o["id"]: o for o in lines(out)}
    assert got["both"]["result"]["score"] == got["list-only"]["result"]["score"] > got["one"]["result"]["score"]
    assert "reference_answers is empty" in got["empty-list"]["error"]["message"]


def test_cli_takes_several_references():
    first, other = "顺序表存储空间连续，支持随机访问。", "链表的存储空间不连续，插入删除只需修改指针。"
    answer = "链表插入删除时修改指针即可，存储空间不连续。"
    one = runner.invoke(app, ["grade", "--reference", first, answer, "--json"])
    two = runner.invoke(app, ["grade", "--reference", first, "--reference", other, answer, "--json"])
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    assert json.loads(two.stdout)["score"] > json.loads(one.stdout)["score"]
