"""Terms: bilingual pairs written in the reference (glossary), English terms and bold phrases, and
the shipped tables (terms_*.txt: the spellings of one term; antonyms_zh_en.txt: opposites).

Part of the rubric builder (`grader.authoring.build`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..text import CJK_RE, EN_STOP, content_length, normalize
from .markup import ZH_STOPWORDS, _GENERIC_LABELS, _MATH, _STRONG, _TAG, plain
from .segmenter import _SEGMENTER_LOCK, _jieba


_PAIR_ZH_EN = re.compile(
    r"([\u3400-\u9fff]{2,12})\s*[（(]\s*([A-Za-z][A-Za-z0-9 .+/#-]{1,60}?(?:\s*[,，/]\s*[A-Za-z][A-Za-z0-9 .+#-]{0,30})*)\s*[)）]"
)


_PAIR_EN_ZH = re.compile(r"((?:[A-Za-z][A-Za-z0-9.+#-]*\s?){1,4})\s*[（(]\s*([\u3400-\u9fff]{2,12})\s*[)）]")


_ZH_CUT = re.compile(r".*[的与和是在将把对了为及或从由以其中称即叫作]")


def glossary(reference: str) -> list[list[str]]:
    """Terms the reference gives in two languages: [[中文, english, abbreviation], ...]."""
    text = _TAG.sub("", reference)
    groups: list[list[str]] = []
    table = term_table()
    for m in _PAIR_ZH_EN.finditer(text):
        zh = _trim_zh(m.group(1))
        ens = [e.strip() for e in re.split(r"\s*[,，/]\s*", m.group(2)) if len(e.strip()) >= 2]
        # the term table's Chinese spelling of the English term, when the run ends with it, is where
        # the term starts ("当一个词元（token）" -> 词元, "导致损失（Loss）" -> 损失, "登录词（OOV）" -> 未登录词)
        run = normalize(m.group(1))
        ends = [f for e in ens for f in (table.forms(e) or ()) if CJK_RE.search(f) and run.endswith(f)]
        if ends:
            zh = max(ends, key=len)
        if len(zh) >= 2 and ens:
            groups.append([zh, *ens])
    for m in _PAIR_EN_ZH.finditer(text):
        en = m.group(1).strip()
        if len(en) >= 2 and normalize(en) not in EN_STOP:
            groups.append([m.group(2), en])
    merged: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for g in groups:
        g = list(dict.fromkeys(a for a in g if a))
        key = tuple(sorted(normalize(a) for a in g))
        if key not in seen:
            seen.add(key)
            merged.append(g)
    return merged


def _trim_zh(run: str) -> str:
    """The term at the end of a run of Chinese ("另一方面通过交叉注意力" -> "交叉注意力")."""
    run = _ZH_CUT.sub("", run)
    if len(run) <= 6:
        return run
    jieba = _jieba()[0]
    with _SEGMENTER_LOCK:
        words = jieba.lcut(run)
    out = ""
    for w in reversed(words):
        if len(out) + len(w) > 6 or w in ZH_STOPWORDS or len(w) == 1 and out:
            break
        out = w + out
    return out or words[-1]


_EN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9+#.\-]*(?:\s+[A-Za-z][A-Za-z0-9+#.\-]*){0,3}")


_MATH_WORD = re.compile(r"(?<![\\a-zA-Z])[A-Za-z]{4,}")


def _math_words(m: re.Match) -> str:
    """The words of a formula ("$Swish(A) \\otimes B$" -> "Swish"), not its symbols: "$R_m$" is not
    "rm" (which the term table reads as reward model), "$e^{im\\theta}$" not "imtheta"."""
    return "；" + " ".join(_MATH_WORD.findall(m.group())) + "；"


def _english_terms(text: str) -> list[str]:
    """Runs of English words in a span ("Beam Search", "KV Cache", "Top-K"), with their single words."""
    out: list[str] = []
    t = _MATH.sub(" ", _TAG.sub(" ", text))
    for m in _EN_RUN.finditer(t):
        run = m.group().strip(".-")
        words = run.split()
        keep = [w for w in words if normalize(w) not in EN_STOP]
        if len(words) > 1 and len(keep) == len(words) and any(w[:1].isupper() for w in words):
            out.append(run)
        out.extend(w.strip(".-") for w in keep if len(w.strip(".-")) >= 2)
    return out


def _bold_phrases(text: str) -> list[str]:
    out = []
    for m in _STRONG.finditer(text):
        p = plain(m.group(2) or m.group(3) or "").rstrip(":：").strip()
        if "：" in p or ":" in p:
            p = re.split(r"[:：]", p, maxsplit=1)[1].strip()
        if p and normalize(p) not in _GENERIC_LABELS and content_length(normalize(p)) <= 8:
            out.append(p)
    return out


# The term table: bilingual ML/NLP/LLM terms, then general computer-science terms, then general
# English words said in other words (terms_en.txt: an ad-hoc English reference's "result" is made by
# an answer's "outcome"; Mohler fuzzy Pearson half 0 0.534 -> 0.545, half 1 0.551 -> 0.572, ADS and
# dev unchanged: python eval/english_paraphrase.py); a spelling listed twice belongs to its first entry.
TERMS_FILES = tuple(Path(__file__).resolve().parent / f for f in ("terms_zh_en.txt", "terms_cs.txt", "terms_en.txt"))


# The terms ranked ahead of plain words when a built point's keywords are chosen: the technical
# terms of the first file. The computer-science file, whose groups include everyday verbs
# (delete / remove / 删除), only widens groups (ranking by it too: dev Spearman 0.756 -> 0.728).
RANKING_TERMS = TERMS_FILES[:1]


TERM_BONUS = 10.0  # added to the score of a spelling the term table knows: technical terms come first


@dataclass(frozen=True, slots=True)
class TermTable:
    """The bilingual term table (grader/terms_zh_en.txt): spellings of one concept per entry."""

    entries: tuple[tuple[str, ...], ...]  # normalised spellings, as listed
    index: dict[str, int]  # normalised spelling -> entry

    def forms(self, word: str) -> tuple[str, ...] | None:
        k = self.index.get(normalize(word))
        return None if k is None else self.entries[k]

    def found_in(self, norm: str) -> list[str]:
        """Spellings of the table that occur in normalised text (English ones as whole words)."""
        out = []
        for alias in self.index:
            k = norm.find(alias)
            if k < 0:
                continue
            if alias[:1].isascii() and alias[:1].isalnum():
                rx = re.compile(r"(?<![a-z0-9])" + re.escape(alias) + r"(?![a-z0-9])")
                if not rx.search(norm):
                    continue
            out.append(alias)
        # the longest term only: "梯度消失", not "梯度" inside it
        return [a for a in out if not any(a != b and a in b for b in out)]


@lru_cache(maxsize=2)
def term_table(files: tuple[Path, ...] = TERMS_FILES) -> TermTable:
    entries: list[list[str]] = []
    index: dict[str, int] = {}
    lines = [line for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        if line.lstrip().startswith("#"):
            continue
        forms: list[str] = []
        for a in line.split("|"):
            n = normalize(a)
            # a single Chinese character ("值", "键") occurs inside too many other words to be an alias
            if n and not (len(n) == 1 and CJK_RE.match(n)) and n not in forms:
                forms.append(n)
        if not forms:
            continue
        # a line that shares a spelling with an earlier entry adds its other spellings to that entry
        # ("node | 结点 | 节点" after "节点 | node"); a spelling already listed stays where it is
        k = next((index[f] for f in forms if f in index), len(entries))
        if k == len(entries):
            entries.append([])
        for f in forms:
            if f not in index:
                index[f] = k
                entries[k].append(f)
    return TermTable(tuple(tuple(e) for e in entries), index)


ANTONYMS_FILE = Path(__file__).resolve().parent / "antonyms_zh_en.txt"


@dataclass(frozen=True, slots=True)
class AntonymTable:
    """Opposite properties of technical prose (grader/antonyms_zh_en.txt): spelling -> the
    spellings that state the opposite."""

    opposite: dict[str, tuple[str, ...]]
    # the "magnitude:" lines, one axis: words of going up, words of going down
    up: frozenset[str] = frozenset()
    down: frozenset[str] = frozenset()

    def opposites_in(self, norm: str, keywords: set[str] = frozenset()) -> list[str]:
        """The opposites of the predicate words a span states plainly (not negated), unless the
        span states an opposite too, or an opposite is one of the point's keywords or a part of
        a word the span states ("线性" in "非线性")."""
        from ..matchers.aliases import AliasProbe
        from ..matchers.polarity import clause_negated, negated_before

        def occurs(word: str, plain_only: bool) -> list[tuple[int, int]]:
            probe = AliasProbe(word)
            if probe.piece not in norm:
                return []
            return [(a, b) for a, b in probe.spans(norm)
                    if not plain_only or not (negated_before(norm, a) or clause_negated(norm, a, b))]

        stated = [w for w in self.opposite if occurs(w, True)]
        # the longest word only: "非线性" states 非线性, not "线性" inside it
        stated = [w for w in stated if not any(w != v and w in v for v in stated)]
        covered = [sp for w in stated for sp in occurs(w, False)]
        # up and down both stated ("降低显存占用，并加快推理速度"): several quantities move, and an
        # answer's "提高吞吐" may be about any of them; the magnitude lines say nothing here
        both_ways = any(w in self.up for w in stated) and any(w in self.down for w in stated)
        out: list[str] = []
        for w in stated:
            if both_ways and (w in self.up or w in self.down):
                continue
            opp = self.opposite[w]
            # a quality noun is stated by its adjective too, as the matcher reads it: "随机的" states 随机性
            spellings = [f for o in opp for f in (o, o[:-1]) if f == o or (o.endswith("性") and len(o) >= 3 and CJK_RE.match(o[-2]))]
            if any(not any(a <= x and y <= b and b - a > y - x for a, b in covered) for o in spellings for x, y in occurs(o, False)):
                continue
            for o in opp:
                if o in keywords or any(o in v for v in stated) or o in out:
                    continue
                out.append(o)
        return out


@lru_cache(maxsize=2)
def antonym_table(file: Path = ANTONYMS_FILE) -> AntonymTable:
    opposite: dict[str, list[str]] = {}
    up: set[str] = set()
    down: set[str] = set()
    for line in file.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or "|" not in line:
            continue
        magnitude = line.startswith("magnitude:")
        line = line.removeprefix("magnitude:")
        sides = []
        for side in line.split("|"):
            words = [normalize(w) for w in side.split(",")]
            sides.append([w for w in words if w and not (len(w) == 1 and CJK_RE.match(w))])
        if len(sides) != 2 or not all(sides):
            continue
        a, b = sides
        if magnitude:
            up.update(a)
            down.update(b)
        for x, ys in ((a, b), (b, a)):
            for w in x:
                lst = opposite.setdefault(w, [])
                lst.extend(y for y in ys if y not in lst)
    return AntonymTable({w: tuple(v) for w, v in opposite.items()}, frozenset(up), frozenset(down))
