"""How English answers in other words are read, measured on each half of the questions: Mohler
(English, real students) and ADS (Chinese, the check that nothing is lost), with dev and dev2 whole.

    python eval/english_paraphrase.py                 # every variant below against the grader as it is
    python eval/english_paraphrase.py --variants now  # one or more by name
    python eval/english_paraphrase.py --study         # Mohler half 0: where fuzzy and the teachers disagree

Half 0 holds the questions at even positions of each set's sorted question ids, half 1 the others
(as eval/adhoc_curves.py and eval/embedding_signal.py split them). Every setting is chosen on half 0
and reported on half 1 and the whole; dev2 is held out and only its aggregate is printed.
Each variant is a global change, applied for its row only and undone after it.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.authoring import adhoc, claims  # noqa: E402
from grader.runs.evaluate import LabeledRow, evaluate  # noqa: E402
from grader.runs.metrics import agreement  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402

SETS = {"dev": "dev.jsonl", "dev2": "dev2.jsonl", "ads": "ads_train.jsonl", "mohler": "mohler.jsonl"}
HALVED = ("mohler", "ads")


def load(name: str) -> list[dict]:
    with open(HERE / "data" / SETS[name], encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


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


@contextmanager
def snowball_tokens():
    """The paraphrase share with Snowball (Porter 2) stems of English words (pip install snowballstemmer)."""
    import re

    import snowballstemmer

    from grader import text
    from grader.matchers import compiled, view

    stem = snowballstemmer.stemmer("english").stemWord
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


def _claim_chars(n):
    return lambda: patched(claims, CLAIM_CHARS=n)


VARIANTS = {"now": now, "en tokens": en_tokens}
for _n in (4, 5, 6):
    VARIANTS[f"groups {_n}"] = _groups(_n)
for _x in (0.1, 0.15):
    VARIANTS[f"partial from {_x}"] = _partial(_x)
VARIANTS["inflected lookup"] = inflected_lookup
VARIANTS["without terms_en"] = without_en
VARIANTS["function words"] = function_words
VARIANTS["question words last"] = question_words_last
VARIANTS["snowball tokens"] = snowball_tokens
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--study", type=int, nargs="?", const=40, default=None, metavar="N")
    args = ap.parse_args()
    if args.study is not None:
        study(args.study)
    else:
        run(args.variants, args.sets)


if __name__ == "__main__":
    main()
