"""How English answers in other words are read, measured on each half of the questions: Mohler
(English, real students) and ADS (Chinese, the check that nothing is lost), with dev and dev2 whole.

    python eval/english_paraphrase.py                 # every variant below against the grader as it is
    python eval/english_paraphrase.py --variants now  # one or more by name
    python eval/english_paraphrase.py --study         # Mohler half 0: where fuzzy and the teachers disagree
    python eval/english_paraphrase.py --bootstrap "without terms_en"  # how sure a difference is
    python eval/english_paraphrase.py --cost          # what terms_en.txt costs (CPU time, interleaved rounds)

Half 0 holds the questions at even positions of each set's sorted question ids, half 1 the others
(as eval/adhoc_curves.py and eval/embedding_signal.py split them). Every setting is chosen on half 0
and reported on half 1 and the whole; dev2 is held out and only its aggregate is printed.
Each variant is a global change, applied for its row only and undone after it. The stemmer and
lemmatiser variants need `pip install snowballstemmer simplemma lemminflect` (not dependencies of
the grader).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from agreement import SETS, load  # noqa: E402  (the sets and how they are read, as agreement.py has them)

from grader.authoring import adhoc, claims  # noqa: E402
from grader.runs.evaluate import LabeledRow, evaluate  # noqa: E402
from grader.runs.metrics import agreement  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402

HALVED = ("mohler", "ads")


def _clear_caches() -> None:
    adhoc._question.cache_clear()
    claims.split_claims.cache_clear()
    claims.clause_claims.cache_clear()
    from grader import text
    from grader.matchers import compiled

    text.tokens.cache_clear()
    text.english_stem.cache_clear()
    compiled._by_object.clear()


def graded(name: str) -> tuple[list[dict], list[dict]]:
    rows = load(name)
    res = evaluate([LabeledRow.model_validate(r) for r in rows], Grader(Settings(mode="fuzzy")), "fuzzy")
    return rows, res["graded"]


def figures(name: str) -> dict[str, dict]:
    rows, g = graded(name)
    by_id = {x["id"]: x for x in g}
    out = {"whole": agreement([x["human"] for x in g], [x["grader"] for x in g])}
    if name in HALVED:
        qids = sorted({r["question_id"] for r in rows})
        pos = {q: i for i, q in enumerate(qids)}
        for half in (0, 1):
            sel = [by_id[r["id"]] for r in rows if pos[r["question_id"]] % 2 == half and r["id"] in by_id]
            out[f"half {half}"] = agreement([x["human"] for x in sel], [x["grader"] for x in sel])
    return out


@contextmanager
def now():
    yield


TERMS_EN = HERE.parent / "grader" / "authoring" / "terms_en.txt"


def _synonym_stems() -> dict[str, str]:
    """Stem of each one-word entry of terms_en.txt -> the stem of its line's first one-word entry."""
    from grader.text import english_stem, normalize

    out: dict[str, str] = {}
    for line in TERMS_EN.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "|" not in line:
            continue
        words = [normalize(w) for w in line.split("|")]
        words = [w for w in words if w and " " not in w and "-" not in w]
        if len(words) < 2:
            continue
        head = english_stem(words[0])
        for w in words[1:]:
            out.setdefault(english_stem(w), head)
    return out


@contextmanager
def en_tokens():
    """The paraphrase share reads a word and its terms_en.txt synonyms as one token."""
    from grader import text
    from grader.matchers import compiled, view

    syn = _synonym_stems()
    orig = text.tokens

    def tokens(norm: str) -> tuple[str, ...]:
        return tuple(syn.get(t, t) for t in orig(norm))

    compiled.tokens = view.tokens = tokens
    try:
        yield
    finally:
        compiled.tokens = view.tokens = orig


@contextmanager
def patched(module, **values):
    saved = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(module, k, v)


def _with(*makers):
    @contextmanager
    def both():
        from contextlib import ExitStack

        with ExitStack() as stack:
            for m in makers:
                stack.enter_context(m())
            yield
    return both


def _groups(n):
    from grader.authoring import build
    return lambda: patched(build, MAX_GROUPS=n)


def _partial(x):
    from grader.authoring import build
    return lambda: patched(build, ADHOC_PARTIAL_FROM=x)


def _para(low, high):
    from grader.matchers import lexical
    return lambda: patched(lexical, PARA_LOW=low, PARA_HIGH=high)


def _stemmer(name: str):
    """word -> its stem by another English morphology: Snowball (Porter 2), or the lemma (simplemma,
    lemminflect; each ships its data in the wheel) then the grader's stem of it."""
    from grader.text import english_stem

    if name == "snowball":
        import snowballstemmer

        return snowballstemmer.stemmer("english").stemWord
    if name == "simplemma":
        import simplemma

        return lambda w: english_stem(simplemma.lemmatize(w, lang="en"))
    import lemminflect

    def lemma(w: str) -> str:
        for upos in ("VERB", "NOUN", "ADJ"):
            got = lemminflect.getLemma(w, upos=upos, lemmatize_oov=False)
            if got and got[0] != w:
                return english_stem(got[0])
        return english_stem(w)

    return lemma


def _stem_tokens(name: str):
    @contextmanager
    def variant():
        """The paraphrase share with English words stemmed by `name`."""
        import re

        from grader import text
        from grader.matchers import compiled, view

        stem = _stemmer(name)
        orig = text.tokens
        en = re.compile(r"[a-z][a-z0-9+#^'-]*")
        cache: dict[str, tuple[str, ...]] = {}

        def tokens(norm: str) -> tuple[str, ...]:
            got = cache.get(norm)
            if got is None:
                words = [w.strip("'-") for w in en.findall(norm)]
                stems = {text.english_stem(w): stem(w) for w in words if w}
                got = cache[norm] = tuple(stems.get(t, t) for t in orig(norm))
            return got

        compiled.tokens = view.tokens = tokens
        try:
            yield
        finally:
            compiled.tokens = view.tokens = orig
    return variant


# English function words the grader's EN_STOP lacks (prepositions, pronouns, auxiliaries, conjunctions,
# determiners), written from general knowledge of English grammar, without looking at any data set
FUNCTION_WORDS = frozenset("""
    across along alongside amid around behind beneath beside besides beyond despite except inside
    instead near onto outside past since toward towards upon within without throughout unlike
    whether whereas though although unless whenever wherever whichever whoever whatever yet nor
    am isn't aren't wasn't weren't don't doesn't didn't can't cannot won't wouldn't shouldn't
    couldn't it's itself themselves himself herself ourselves yourself myself
    us him mine yours ours theirs hers whose
    another every few many much several lot lots
    shall ought
    """.split())


@contextmanager
def function_words():
    """Function words left out of the claim's keywords and of the paraphrase share too."""
    from grader import text
    from grader.authoring import claims as claims_mod

    stop = text.EN_STOP | FUNCTION_WORDS
    with patched(text, EN_STOP=stop), patched(claims_mod, EN_STOP=stop):
        text.tokens.cache_clear()
        yield
    text.tokens.cache_clear()


@contextmanager
def question_words_last():
    """The question's own words kept as a claim's last keywords rather than left out."""
    from grader.authoring import build

    orig = build._in_question
    saved = build.claim_keywords

    def claim_keywords(claim):
        words = saved(claim)
        qn = build._QN[0]
        qstems = frozenset(build.english_stem(w) for w in re.findall(r"[a-z][a-z0-9']*", qn))
        inq = [w for w in words if orig(w, qn, qstems)]
        return [w for w in words if w not in inq] + inq

    build._QN = [""]
    saved_build = build._build_adhoc

    def _build_adhoc(reference, question=None, max_points=None, unit="clause"):
        build._QN[0] = normalize(question or "")
        return saved_build(reference, question, max_points, unit)

    import re

    from grader.text import normalize

    with patched(build, claim_keywords=claim_keywords, _in_question=lambda *a: False, _build_adhoc=_build_adhoc):
        yield


def english_bases(word: str) -> list[str]:
    """Base forms an inflected English word may come from: "copies" -> copy, "stored" -> store."""
    if not (word.isascii() and word.isalpha()) or len(word) < 4:
        return []
    out: list[str] = []
    if word.endswith(("ies", "ied")):
        out.append(word[:-3] + "y")
    if word.endswith("s") and not word.endswith("ss"):
        out += [word[:-1], word[:-2]] if word.endswith("es") else [word[:-1]]
    for end in ("ed", "ing"):
        if word.endswith(end):
            stem = word[: -len(end)]
            out += [stem + "e", stem] if end == "ing" else [word[:-1], stem]
            if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                out.append(stem[:-1])  # "stopped" -> stop
    return [b for b in dict.fromkeys(out) if len(b) >= 3]


@contextmanager
def inflected_lookup():
    """A keyword not in the term table as written is looked up by its base forms too ("displays",
    "allocated" -> the forms of display, allocate), the keyword itself kept first."""
    from grader.authoring.terms import TermTable

    saved = TermTable.forms

    def forms(self, word):
        found = saved(self, word)
        if found is not None or not word.isascii():
            return found
        for base in english_bases(word):
            found = saved(self, base)
            if found is not None:
                return (word, *(f for f in found if f != word))
        return None

    TermTable.forms = forms
    try:
        yield
    finally:
        TermTable.forms = saved


@contextmanager
def without_en():
    """The term table without terms_en.txt (before it)."""
    from grader.authoring import terms

    fn = terms.term_table.__wrapped__
    saved = fn.__defaults__
    fn.__defaults__ = (tuple(f for f in terms.TERMS_FILES if f.name != "terms_en.txt"),)
    terms.term_table.cache_clear()
    try:
        yield
    finally:
        fn.__defaults__ = saved
        terms.term_table.cache_clear()


@contextmanager
def paraphrase_without_question():
    """The paraphrase share of a claim built on the fly counts only its words that the question
    does not say (an answer on topic repeats those, right or wrong)."""
    from grader.matchers import compiled
    from grader.text import normalize

    saved = compiled._compile

    def _compile(rubric, context):
        out = saved(rubric, context)
        if (rubric.notes or "").endswith("claim by claim"):
            q = frozenset(compiled.tokens(normalize(context.split("\n", 1)[0])))
            for p in out.points:
                p.tokens = (p.tokens - q) or p.tokens
        return out

    with patched(compiled, _compile=_compile):
        yield


@contextmanager
def paraphrase_whole_answer():
    """The paraphrase share read over the whole answer, not a window of one or two sentences."""
    from grader.matchers import lexical

    saved = lexical._paraphrase

    def _paraphrase(point, view):
        credit, idx = saved(point, view)
        claim = sum(map(view.token_bits.get, point.tokens, lexical.repeat(0)))
        whole = 0
        for m in view._seg_masks:
            whole |= m
        recall = (claim & whole).bit_count() / len(point.tokens) if point.tokens else 0.0
        c = max(0.0, min(1.0, (recall - lexical.PARA_LOW) / (lexical.PARA_HIGH - lexical.PARA_LOW)))
        if c > credit + 1e-9:
            return c, tuple(range(len(view._seg_masks)))
        return credit, idx

    with patched(lexical, _paraphrase=_paraphrase):
        yield


def _multiword(drop_parts: bool):
    @contextmanager
    def variant():
        """A claim's English terms of several words that the term table knows ("member function",
        "linked list") are keywords of their own, ahead of single words (`drop_parts`: in place of
        the words they are made of)."""
        import re

        from grader.authoring import build
        from grader.authoring.terms import term_table
        from grader.text import normalize

        saved = build.claim_keywords

        def claim_keywords(claim):
            words = saved(claim)
            norm = normalize(claim)
            found = [t for t in term_table().found_in(norm) if t.isascii() and re.search(r"[a-z]", t) and (" " in t or "-" in t)]
            if not found:
                return words
            parts = {w for t in found for w in re.split(r"[\s-]+", t)}
            rest = [w for w in words if not (drop_parts and w in parts)]
            return sorted(found, key=len, reverse=True) + rest

        with patched(build, claim_keywords=claim_keywords):
            yield
    return variant


@contextmanager
def typo_tokens():
    """The paraphrase share reads a misspelled English word of the answer ("consructor", "complier")
    as the rubric's word it is a typo of: same first letter, rapidfuzz ratio >= 85, 5 letters or more
    (the rule the keyword matcher applies to aliases)."""
    from rapidfuzz import fuzz, process

    from grader import text
    from grader.matchers import compiled, view

    orig = text.tokens
    known: set[str] = set()
    by_letter: dict[str, list[str]] = {}
    memo: dict[str, str] = {}

    def rubric_tokens(norm: str) -> tuple[str, ...]:
        got = orig(norm)
        for t in got:
            if t.isascii() and t.isalpha() and t not in known:
                known.add(t)
                by_letter.setdefault(t[0], []).append(t)
                memo.clear()
        return got

    def fix(t: str) -> str:
        if t in known or len(t) < 5 or not (t.isascii() and t.isalpha()):
            return t
        got = memo.get(t)
        if got is None:
            near = [k for k in by_letter.get(t[0], ()) if abs(len(k) - len(t)) <= 2 and len(k) >= 5]
            best = process.extractOne(t, near, scorer=fuzz.ratio, score_cutoff=85) if near else None
            got = memo[t] = best[0] if best else t
        return got

    def answer_tokens(norm: str) -> tuple[str, ...]:
        return tuple(fix(t) for t in orig(norm))

    with patched(compiled, tokens=rubric_tokens), patched(view, tokens=answer_tokens):
        yield


def _claim_chars(n):
    return lambda: patched(claims, CLAIM_CHARS=n)


VARIANTS = {"now": now, "en tokens": en_tokens}
for _n in (4, 5, 6):
    VARIANTS[f"groups {_n}"] = _groups(_n)
for _x in (0.1, 0.15):
    VARIANTS[f"partial from {_x}"] = _partial(_x)
VARIANTS["inflected lookup"] = inflected_lookup
VARIANTS["without terms_en"] = without_en
VARIANTS["paraphrase without question words"] = paraphrase_without_question
VARIANTS["paraphrase over the whole answer"] = paraphrase_whole_answer
VARIANTS["multi-word terms"] = _multiword(True)
VARIANTS["multi-word terms and their words"] = _multiword(False)
VARIANTS["typo-tolerant tokens"] = typo_tokens
VARIANTS["function words"] = function_words
VARIANTS["question words last"] = question_words_last
for _name in ("snowball", "simplemma", "lemminflect"):
    VARIANTS[f"{_name} tokens"] = _stem_tokens(_name)
for _n in (40, 60, 80):
    VARIANTS[f"claim chars {_n}"] = _claim_chars(_n)
for _lo, _hi in ((0.25, 0.8), (0.3, 0.7)):
    VARIANTS[f"paraphrase {_lo}-{_hi}"] = _para(_lo, _hi)


def run(names: list[str], sets: list[str]) -> None:
    cols = [(s, part) for s in sets for part in (("half 0", "half 1", "whole") if s in HALVED else ("whole",))]
    print("Pearson / Spearman / QWK, fuzzy\n")
    print("| variant | " + " | ".join(f"{s} {p}" for s, p in cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for name in names:
        with VARIANTS[name]():
            _clear_caches()
            figs = {s: figures(s) for s in sets}
        _clear_caches()
        cells = [figs[s][p] for s, p in cols]
        print(f"| {name} | " + " | ".join(f"{c['pearson']:.3f} / {c['spearman']:.3f} / {c['qwk']:.3f}" for c in cells) + " |",
              flush=True)


def study(limit: int) -> None:
    """Mohler half 0 only: the answers the teachers credit most and fuzzy least, with their points."""
    rows, g = graded("mohler")
    qids = sorted({r["question_id"] for r in rows})
    pos = {q: i for i, q in enumerate(qids)}
    by_id = {x["id"]: x for x in g}
    sel = [(r, by_id[r["id"]]) for r in rows if pos[r["question_id"]] % 2 == 0 and r["id"] in by_id]
    zero = [x for _, x in sel if x["grader"] == 0]
    print(f"half 0: {len(sel)} answers; fuzzy 0 on {len(zero)}, people's mean there "
          f"{sum(x['human'] for x in zero) / max(1, len(zero)):.2f}")
    sel.sort(key=lambda rx: rx[1]["grader"] - rx[1]["human"])
    for r, x in sel[:limit]:
        print(f"\n[{r['id']}] people {x['human']:.1f} fuzzy {x['grader']:.1f}\n  Q: {r['question']}\n"
              f"  R: {r['reference_answer']}\n  A: {r['answer']}")


def bootstrap(other: str, resamples: int = 2000) -> None:
    """Mohler: Pearson of the grader as it is minus that of `other`, questions resampled with
    replacement (paired: the same rows on both sides), on each half and the whole; a 95% interval."""
    import random

    from grader.runs.metrics import pearson

    rows = load("mohler")
    scores = {}
    for name in ("now", other):
        with VARIANTS[name]():
            _clear_caches()
            scores[name] = {x["id"]: (x["human"], x["grader"]) for x in graded("mohler")[1]}
        _clear_caches()
    qids = sorted({r["question_id"] for r in rows})
    by_q: dict[str, list[str]] = {}
    for r in rows:
        if r["id"] in scores["now"] and r["id"] in scores[other]:
            by_q.setdefault(r["question_id"], []).append(r["id"])
    rng = random.Random(15)
    for label, qs in (("half 0", qids[0::2]), ("half 1", qids[1::2]), ("whole", qids)):
        diffs = []
        for _ in range(resamples):
            ids = [i for q in (rng.choice(qs) for _ in qs) for i in by_q[q]]
            h = [scores["now"][i][0] for i in ids]
            diffs.append(pearson([scores["now"][i][1] for i in ids], h) - pearson([scores[other][i][1] for i in ids], h))
        diffs.sort()
        ids = [i for q in qs for i in by_q[q]]
        h = [scores["now"][i][0] for i in ids]
        d = pearson([scores["now"][i][1] for i in ids], h) - pearson([scores[other][i][1] for i in ids], h)
        lo, hi = diffs[int(0.025 * resamples)], diffs[int(0.975 * resamples) - 1]
        share = sum(x > 0 for x in diffs) / resamples
        print(f"{label}: now - {other} Pearson {d:+.3f}, 95% over questions {lo:+.3f} to {hi:+.3f}, above 0 in {share:.0%}")


def cost(rounds: int) -> None:
    """CPU time of the term table's load and of grading Mohler's answers against references built on
    the fly (every rubric built anew each pass), with terms_en.txt against without it, interleaved;
    ratios per round, min and median."""
    import statistics
    import time

    from grader.authoring import terms
    from grader.runs.rows import grade_row

    rows = [LabeledRow.model_validate(r) for r in load("mohler")]
    grader = Grader(Settings(mode="fuzzy"))

    def timed(ctx) -> tuple[float, float]:
        with ctx():
            _clear_caches()
            terms.term_table.cache_clear()
            t = time.process_time()
            terms.term_table()
            load_s = time.process_time() - t
            t = time.process_time()
            for r in rows:
                grade_row(grader, r, "fuzzy")
            grade_s = time.process_time() - t
        _clear_caches()
        return load_s, grade_s

    loads, grades = [], []
    for _ in range(rounds):
        (lb, gb), (la, ga) = timed(without_en), timed(now)
        loads.append((la, lb))
        grades.append((ga, gb))
    for label, pairs, unit, scale in (("term table load", loads, "ms", 1e3), ("grade, per answer", grades, "ms", 1e3 / len(rows))):
        ratios = [a / b for a, b in pairs]
        print(f"{label}: with terms_en {statistics.median(a for a, _ in pairs) * scale:.2f} {unit}, without "
              f"{statistics.median(b for _, b in pairs) * scale:.2f} {unit} (medians); ratio min {min(ratios):.3f}, "
              f"median {statistics.median(ratios):.3f} over {rounds} rounds")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--bootstrap", metavar="VARIANT", choices=list(VARIANTS))
    ap.add_argument("--cost", type=int, nargs="?", const=7, default=None, metavar="ROUNDS")
    ap.add_argument("--study", type=int, nargs="?", const=40, default=None, metavar="N")
    args = ap.parse_args()
    if args.bootstrap:
        bootstrap(args.bootstrap)
    elif args.cost is not None:
        cost(args.cost)
    elif args.study is not None:
        study(args.study)
    else:
        run(args.variants, args.sets)


if __name__ == "__main__":
    main()
