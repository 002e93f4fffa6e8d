"""How good are the rubrics `grader rubric build` makes? Measured on the seed bank against the
curated rubrics of the bundled bank (rubrics/llm-interview).

    python eval/rubric_quality.py            # builds eval/data/seed_bank.md offline into a temp dir
    python eval/rubric_quality.py --bank DIR # measures an already built bank (e.g. one built with --llm)
    python eval/rubric_quality.py --json

1. Key-point recall: the share of curated key points that some built point covers. Only curated
   points grounded in the reference count (their `source` is found in the reference answer after
   normalisation); points the curators added beyond the reference (they carry a `reason`, no
   source) cannot be found by a builder that is grounded in the reference, and are listed apart.
   "Covers", reproducibly: both sources are located in the reference with tags and whitespace
   removed (`_compact`), and the built point's span overlaps at least half of the curated
   point's span. A second, looser figure counts a curated point as covered when at least half of
   its content tokens (grader.text.tokens of its text and source) occur in one built point's text
   and source.
2. Agreement on the dev set (eval/data/dev.jsonl, fuzzy mode): Spearman, QWK and Pearson of the
   built bank and of the curated bank with the human scores, on the same rows: the rows of the
   questions the built bank has (question 16 has no reference answer, so it is not built); and of
   the same rows graded against their reference on the fly (`--reference`: no bank, no corpus).
   The same on the third dev set (eval/data/dev3.jsonl, the mean of its two scorers), a second set
   to choose on, and on the held-out second dev set (eval/data/dev2.jsonl, the mean of its two
   scorers): the builder's settings are chosen on dev and dev3 and reported on dev2.

eval/data/seed_bank.md is a copy of the seed bank (source: hello-agents, named in the file).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from rapidfuzz import fuzz  # noqa: E402

from grader.authoring.bank_build import build_bank, file_name, question_yaml  # noqa: E402
from grader.banks import load_bank  # noqa: E402
from grader.runs.evaluate import LabeledRow, evaluate  # noqa: E402
from grader.answer import prepare  # noqa: E402
from grader.matchers.compiled import compile_rubric  # noqa: E402
from grader.matchers.lexical import match_points  # noqa: E402
from grader.runs.metrics import spearman  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402
from grader.text import normalize, tokens  # noqa: E402

SPAN_OVERLAP = 0.5
TOKEN_OVERLAP = 0.5


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", normalize(re.sub(r"</?[a-zA-Z][^<>]{0,200}>", "", text)))


def locate(source: str | None, ref_c: str) -> tuple[int, int] | None:
    """Span of a source in the compacted reference (exact, else a fuzzy alignment >= 90)."""
    if not source:
        return None
    s = _compact(source)
    if not s:
        return None
    k = ref_c.find(s)
    if k >= 0:
        return k, k + len(s)
    al = fuzz.partial_ratio_alignment(s, ref_c, score_cutoff=90)
    return (al.dest_start, al.dest_end) if al else None


def recall(built_dir: Path, curated: str = "llm-interview") -> dict:
    cur, built = load_bank(curated), load_bank(built_dir)
    rows, found_span, found_tok, total, extra = [], 0, 0, 0, 0
    for qid, q in cur.questions.items():
        if not q.reference_answer or qid not in built.questions:
            continue
        ref_c = _compact(q.reference_answer)
        bpoints = built.questions[qid].rubric.points
        bspans = [locate(p.source, ref_c) for p in bpoints]
        btoks = [set(tokens(normalize(p.text + " " + (p.source or "")))) for p in bpoints]
        q_found = q_total = 0
        for p in q.rubric.points:
            span = locate(p.source, ref_c)
            if span is None:
                extra += 1
                continue
            total += 1
            q_total += 1
            need = (span[1] - span[0]) * SPAN_OVERLAP
            by_span = any(b and min(b[1], span[1]) - max(b[0], span[0]) >= need for b in bspans)
            ptoks = set(tokens(normalize(p.text + " " + p.source)))
            by_tok = bool(ptoks) and any(len(ptoks & bt) >= TOKEN_OVERLAP * len(ptoks) for bt in btoks)
            found_span += by_span
            found_tok += by_span or by_tok
            q_found += by_span
        rows.append({"question": qid, "curated": q_total, "found": q_found, "built_points": len(bpoints)})
    return {
        "curated_grounded_points": total,
        "curated_points_beyond_reference": extra,
        "recall_span": round(found_span / total, 3) if total else None,
        "recall_span_or_tokens": round(found_tok / total, 3) if total else None,
        "by_question": rows,
    }


SETS = {"dev": "dev.jsonl", "dev3": "dev3.jsonl", "dev2": "dev2.jsonl"}  # dev2 last: held out
TUNING_SETS = ("dev", "dev3")


@lru_cache(maxsize=3)
def _dev_text(name: str) -> str:
    return (HERE / "data" / SETS[name]).read_text(encoding="utf-8")


def dev_rows(name: str = "dev") -> list[dict]:
    """The rows of a dev set (read once)."""
    return [json.loads(line) for line in _dev_text(name).splitlines() if line.strip()]


def curated_without_misconceptions(out: Path) -> Path:
    """The curated bank written to `out` with every point's `misconceptions` removed: graded beside the
    curated bank, it splits the gap to built rubrics (which have none) into the wrong claims' share and
    the keywords' share."""
    from misconceptions import without_misconceptions

    src = load_bank("llm-interview")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bank.yaml").write_text((Path(src.path) / "bank.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    width = max(len(qid) for qid in src.questions)
    for qid, q in src.questions.items():
        (out / file_name(qid, width)).write_text(question_yaml(without_misconceptions(q)), encoding="utf-8")
    return out


BANKS = ("built", "curated", "curated_no_claims")


def agreement(built_dir: Path, name: str = "dev", bare_dir: Path | None = None) -> dict:
    rows = dev_rows(name)
    built = load_bank(built_dir)
    kept = [LabeledRow.model_validate(r) for r in rows if r["question_id"] in built.questions]
    out = {"rows": len(kept), "rows_left_out": len(rows) - len(kept)}
    banks = [("built", str(built_dir)), ("curated", "llm-interview")]
    if bare_dir is not None:
        banks.append(("curated_no_claims", str(bare_dir)))
    for name, bank in banks:
        res = evaluate(kept, Grader(Settings(mode="fuzzy"), bank=bank), "fuzzy")
        out[name] = {k: res[k] for k in ("spearman", "qwk", "pearson", "mae")}
        out[name]["by_kind"] = {k: v["mean_grader"] for k, v in res.get("by_kind", {}).items()}
        out["human_by_kind"] = {k: v["mean_human"] for k, v in res.get("by_kind", {}).items()}
        out.setdefault("rows_by_kind", {}).update({k: v.get("n", 0) for k, v in res.get("by_kind", {}).items()})
        out.setdefault("scores", {})[name] = {g["id"]: g["grader"] for g in res["graded"]}
        out["scores"]["human"] = {g["id"]: g["human"] for g in res["graded"]}
    # the same rows graded against the reference on the fly (`--reference`, a row's reference_answer)
    cur = load_bank("llm-interview")
    fly = [LabeledRow.model_validate({**r.model_dump(), "reference_answer": cur.questions[r.question_id].reference_answer,
                                      "question": cur.questions[r.question_id].question}) for r in kept]
    res = evaluate(fly, Grader(Settings(mode="fuzzy")), "fuzzy")
    out["on_the_fly"] = {k: res[k] for k in ("spearman", "qwk", "pearson", "mae")}
    out["spearman_gap"] = round(out["curated"]["spearman"] - out["built"]["spearman"], 4)
    out["spearman_gap_ci95"] = gap_interval(out.pop("scores"))
    return out


BOOTSTRAP = 2000
GOOD_KINDS = ("excellent_paraphrase", "excellent", "english", "mixed", "good_missing_points")
WRONG_KINDS = ("negated_reference", "misconception", "misconception_major")


def verdicts(built_dir: Path, name: str = "dev") -> dict:
    """Verdicts of the built points on good answers and on answers that are wrong (fuzzy matcher):
    where good answers lose credit, and how often both of a partial point's groups were in the
    answer but not in one window."""
    bank = load_bank(built_dir)
    out: dict[str, dict[str, int]] = {"good": {}, "wrong": {}}
    for row in dev_rows(name):
        if row["question_id"] not in bank.questions:
            continue
        side = "good" if row["kind"] in GOOD_KINDS else "wrong" if row["kind"] in WRONG_KINDS else None
        if side is None:
            continue
        q = bank.questions[row["question_id"]]
        compiled = compile_rubric(q.rubric, f"{q.question}\n{q.reference_answer or ''}")
        for point, m in zip(compiled.points, match_points(compiled, prepare(row["answer"]), fuzzy=True)):
            v = m.result.verdict
            out[side][v] = out[side].get(v, 0) + 1
            if v == "partial" and m.groups_found == len(point.groups):
                out[side]["partial_all_groups_in_answer"] = out[side].get("partial_all_groups_in_answer", 0) + 1
    return out


def group_hits(bank_dir: Path | str, rows: list[dict]) -> dict[tuple[str, str, int], dict[str, list[int]]]:
    """How often each keyword group of a bank is found (fuzzy, with its polarity) by good answers and
    by wrong ones: (question, point id, group index) -> {"good": [found, answers], "wrong": [...]}.
    Each group is matched as a point of its own, so it is found wherever the matcher finds it (any
    window of the answer), whatever the point's other groups do. A group good answers rarely find is
    too narrow (or names a detail they leave out); one wrong answers find as often as good ones tells
    nothing."""
    from grader.models import KeyPoint, Rubric

    bank = load_bank(bank_dir)
    singles = {}
    for qid, q in bank.questions.items():
        keys = [(p.id, gi) for p in q.rubric.points for gi in range(len(p.keywords))]
        pts = [KeyPoint(id=f"g{k}", text=" ".join(g), keywords=[g]) for k, g in enumerate(g for p in q.rubric.points for g in p.keywords)]
        singles[qid] = (keys, compile_rubric(Rubric(points=pts), f"{q.question}\n{q.reference_answer or ''}"))
    out: dict[tuple[str, str, int], dict[str, list[int]]] = {}
    for row in rows:
        side = "good" if row["kind"] in GOOD_KINDS else "wrong" if row["kind"] in WRONG_KINDS else None
        if side is None or row["question_id"] not in singles:
            continue
        keys, compiled = singles[row["question_id"]]
        for (pid, gi), m in zip(keys, match_points(compiled, prepare(row["answer"]), fuzzy=True)):
            cell = out.setdefault((row["question_id"], pid, gi), {"good": [0, 0], "wrong": [0, 0]})[side]
            cell[0] += m.result.verdict == "covered"
            cell[1] += 1
    return out


def hit_rates(hits: dict) -> dict[str, float | None]:
    """Share of (answer, group) pairs in which the group is found, for good and for wrong answers."""
    out = {}
    for side in ("good", "wrong"):
        n = sum(v[side][1] for v in hits.values())
        out[side] = round(sum(v[side][0] for v in hits.values()) / n, 3) if n else None
    return out


def gap_interval(scores: dict[str, dict[str, float]], n: int = BOOTSTRAP, seed: int = 0) -> list[float]:
    """95% interval of the Spearman gap (curated - built) over resamples of the rows, both banks on
    the same resampled rows (paired): how far 120 answers can tell one gap from another."""
    ids = sorted(set(scores["human"]) & set(scores["built"]) & set(scores["curated"]))
    rng = random.Random(seed)
    gaps = []
    for _ in range(n):
        pick = [rng.choice(ids) for _ in ids]
        h = [scores["human"][i] for i in pick]
        gaps.append(spearman([scores["curated"][i] for i in pick], h) - spearman([scores["built"][i] for i in pick], h))
    gaps.sort()
    return [round(gaps[int(0.025 * n)], 3), round(gaps[int(0.975 * n) - 1], 3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", type=Path, help="an already built bank directory (default: build the seed bank offline)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--groups", action="store_true",
                    help="list each built keyword group with how often good and wrong answers of the tuning sets (dev, dev3) find it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bank_dir = args.bank
        if bank_dir is None:
            bank_dir = Path(tmp) / "seed-built"
            build_bank(HERE / "data" / "seed_bank.md", bank_dir, name="seed-built")
        bare = curated_without_misconceptions(Path(tmp) / "curated-no-claims")
        res = {"recall": recall(bank_dir), "agreement": {s: agreement(bank_dir, s, bare) for s in SETS},
               "verdicts": {s: verdicts(bank_dir, s) for s in SETS}}
        hits = {s: {"built": group_hits(bank_dir, dev_rows(s)), "curated": group_hits("llm-interview", dev_rows(s))} for s in SETS}
        res["group_hit_rates"] = {s: {b: hit_rates(h) for b, h in v.items()} for s, v in hits.items()}
        narrow = [(s, k, v) for s in TUNING_SETS for k, v in hits[s]["built"].items()]
        groups = {(qid, p.id, gi): g for qid, q in load_bank(bank_dir).questions.items() for p in q.rubric.points
                  for gi, g in enumerate(p.keywords)}
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=2))
        return
    if args.groups:
        print_groups(narrow, groups)
        return
    r = res["recall"]
    print(f"key-point recall (span overlap >= {SPAN_OVERLAP}): {r['recall_span']}  "
          f"(span or tokens >= {TOKEN_OVERLAP}: {r['recall_span_or_tokens']})  "
          f"over {r['curated_grounded_points']} curated points grounded in the reference "
          f"({r['curated_points_beyond_reference']} curated points go beyond it and are not counted)")
    for q in r["by_question"]:
        print(f"  q{q['question']:>2}: {q['found']}/{q['curated']} curated points covered, {q['built_points']} built points")
    for name in SETS:
        print_set(name, res["agreement"][name], res["verdicts"][name])
    print("keyword groups found (fuzzy, each group matched on its own), share of (answer, group) pairs:")
    print("| set | built, good answers | built, wrong answers | curated, good answers | curated, wrong answers |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in res["group_hit_rates"].items():
        print(f"| {name} | {r['built']['good']} | {r['built']['wrong']} | {r['curated']['good']} | {r['curated']['wrong']} |")


def print_groups(cells: list, groups: dict) -> None:
    """Per built group, dev and dev3 together (the tuning sets; dev2's answers are not read one by one)."""
    total: dict = {}
    for _, key, v in cells:
        t = total.setdefault(key, {"good": [0, 0], "wrong": [0, 0]})
        for side in ("good", "wrong"):
            t[side][0] += v[side][0]
            t[side][1] += v[side][1]
    print("question | point | group | good answers that find it | wrong answers that find it | aliases")
    for (qid, pid, gi), v in sorted(total.items(), key=lambda kv: (_qkey(kv[0][0]), kv[0][1], kv[0][2])):
        g, w = v["good"], v["wrong"]
        print(f"q{qid} | {pid} | {gi} | {g[0]}/{g[1]} | {w[0]}/{w[1]} | {', '.join(groups[(qid, pid, gi)][:6])}")


def _qkey(qid: str):
    return (0, int(qid), "") if qid.isdigit() else (1, 0, qid)


def print_set(name: str, a: dict, verdict_counts: dict) -> None:
    print(f"{name} agreement, fuzzy mode, {a['rows']} rows ({a['rows_left_out']} rows of questions without a reference left out):")
    print("| rubrics | Spearman | QWK | Pearson | MAE |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for bank in ("built", "curated", "curated_no_claims", "on_the_fly"):
        if bank not in a:
            continue
        m = a[bank]
        label = {"on_the_fly": "reference on the fly", "curated_no_claims": "curated without misconceptions"}.get(bank, bank)
        print(f"| {label} | {m['spearman']:.3f} | {m['qwk']:.3f} | {m['pearson']:.3f} | {m['mae']:.3f} |")
    lo, hi = a["spearman_gap_ci95"]
    print(f"{name} Spearman gap (curated - built): {a['spearman_gap']:.3f}  "
          f"(95% paired bootstrap over the rows, {BOOTSTRAP} resamples: {lo:.3f} to {hi:.3f})")
    if "curated_no_claims" in a:
        bare = a["curated_no_claims"]["spearman"]
        print(f"{name} of which the curated misconceptions: {a['curated']['spearman'] - bare:.3f} "
              f"(curated without them {bare:.3f}); the rest, keywords and points: {bare - a['built']['spearman']:.3f}")
    print(f"{name} mean score (0-10) by kind of answer:")
    print("| kind | rows | human | built | curated | curated without misconceptions |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for k, h in a["human_by_kind"].items():
        bare = a.get("curated_no_claims", {}).get("by_kind", {}).get(k)
        print(f"| {k} | {a['rows_by_kind'].get(k, '')} | {h:.2f} | {a['built']['by_kind'][k]:.2f} | {a['curated']['by_kind'][k]:.2f} | "
              f"{'' if bare is None else f'{bare:.2f}'} |")
    print(f"{name} verdicts of the built points (fuzzy), on (answer, point) pairs:")
    for side, kinds in (("good", GOOD_KINDS), ("wrong", WRONG_KINDS)):
        v = verdict_counts[side]
        print(f"  {side} answers ({', '.join(kinds)}): {sum(v.get(x, 0) for x in ('covered', 'partial', 'missing', 'contradicted'))} pairs: "
              f"{v.get('covered', 0)} covered, {v.get('partial', 0)} partial "
              f"({v.get('partial_all_groups_in_answer', 0)} with every group in the answer, not in one window), "
              f"{v.get('missing', 0)} missing, {v.get('contradicted', 0)} contradicted")

if __name__ == "__main__":
    main()
