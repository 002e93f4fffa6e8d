"""Normalisation and segmentation of mixed Chinese/English text.

Everything the grader compares goes through `normalize` on both sides (rubric aliases and
answers), so "ＫＶ Cache", "kv-cache" and "KV cache" meet, and so do √d_k, sqrt(dk), \\sqrt{d_k}
and 根号dk. Normalisation is local (it never moves text across a sentence boundary), which is
what lets an answer be segmented first and each segment normalised on its own: the evidence the
grader quotes is a span of the original answer, and its normalised form occurs in the normalised
answer.

Token-level comparison uses English words (lightly stemmed) and Chinese character bigrams; no
segmenter dictionary is loaded on this path, which keeps start-up fast.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RE = re.compile(f"[{_CJK}]")


class LazyPattern:
    """A regex compiled on first use: for patterns most grades never need (compiling a pattern
    with a Chinese character class costs ~5 ms of start-up)."""

    __slots__ = ("_args", "_rx")

    def __init__(self, pattern: str, flags: int = 0):
        self._args = (pattern, flags)
        self._rx: re.Pattern | None = None

    def __getattr__(self, name: str):
        if self._rx is None:
            self._rx = re.compile(*self._args)
        return getattr(self._rx, name)

_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_LATEX_WRAP = re.compile(r"\\(?:text|mathrm|mathbf|mathit|operatorname|boldsymbol|textbf|mathcal)\s*\{([^{}]*)\}")
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_DROP = re.compile(r"\\(?:left|right|bigg|big|displaystyle|qquad|quad|,|;|!)")
_LATEX_CMD = re.compile(r"\\([a-zA-Z]+)")
# √d_k, √(d_k), \sqrt{d_k}, sqrt(d_k), sqrt dk, 根号dk, 根号下d_k, 开根号dk -> sqrt(dk)
_SQRT_BODY = r"[a-z]\s*_?\s*(?:\{\s*[a-z0-9]{1,8}\s*\}|[a-z0-9]{1,8})?"
_SQRT = LazyPattern(
    rf"(?:√|\\sqrt|sqrt|根号下?|开根号|开方)\s*(?:\{{\s*({_SQRT_BODY})\s*\}}|\(\s*({_SQRT_BODY})\s*\)|({_SQRT_BODY}))",
    re.IGNORECASE,
)
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_POWER_ZH = re.compile(r"([a-z0-9]{1,4}|\([a-z0-9+\-]{1,8}\))的\s*\(?\s*([a-z0-9+\-](?:\s?[a-z0-9+\-]){0,7})\s*\)?\s*次方")
# a space beside an operator or bracket inside a formula, or between a number and a one-letter
# variable ("2 n" from "2*n"): both sides must be formula characters
# (each alternative consumes one space, so the pattern opens with it and looks behind from there:
# the same matches as lookbehinds first, and re's search skips to spaces: ten times faster)
_MATH_SPACE = re.compile(
    r"\s(?:(?<=[a-z0-9)]\s)(?=[+/^=)])|(?<=[+/^=(]\s)(?=[a-z0-9(])|(?<=\d\s)(?=[a-z](?![a-z]))"
    r"|(?<=\b[a-z0-9]\s)(?=\(|-\s?[a-z0-9(]\b)|(?<=\b[a-z0-9]-\s)(?=[a-z0-9(])|(?<=\b[a-z0-9]\s-\s)(?=[a-z0-9(]\b))"
)
_SUBSCRIPT = re.compile(r"\b([a-z])_\{?([a-z0-9]{1,12})\}?")
_SUPERSCRIPT = re.compile(r"\^\s*\{([^{}]{1,12})\}")
_WS = re.compile(r"\s+")
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
_PUNCT_MAP = str.maketrans(
    {
        "。": ".", "、": ",", "“": '"', "”": '"', "‘": "'", "’": "'", "【": "[", "】": "]",
        "《": "<", "》": ">", "〈": "<", "〉": ">", "「": '"', "」": '"', "『": '"', "』": '"',
        "—": "-", "–": "-", "−": "-", "…": "...", "·": "*", "•": "*", "×": "x", "$": " ",
        "*": " ", "`": " ", "#": " ",
    }
)
# the same table applied by a regex: str.translate looks every character up (2 us a sentence),
# the regex only the few it maps (0.7 us)
_PUNCT = {chr(k): v for k, v in _PUNCT_MAP.items()}
_PUNCT_RE = re.compile("[" + re.escape("".join(_PUNCT)) + "]")


def _punct(m: re.Match) -> str:
    return _PUNCT[m.group()]


def _power(m: re.Match) -> str:
    exp = m.group(2).replace(" ", "")
    return f"{m.group(1)}^{exp if len(exp) == 1 else '(' + exp + ')'}"


def normalize(text: str) -> str:
    """Canonical form for matching: NFKC, case folding, markup and formula spellings unified."""
    if not text:
        return ""
    s = unicodedata.normalize("NFKC", text)
    if "<" in s:
        s = _HTML_TAG.sub(" ", s)
    if "&" in s:
        s = s.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    s = s.casefold()
    if "√" in s or "sqrt" in s or "根号" in s or "开方" in s:
        s = _SQRT.sub(lambda m: f"sqrt({_NON_ALNUM.sub('', m.group(m.lastindex or 0))})", s)
    if "\\" in s:
        s = _LATEX_WRAP.sub(r"\1", s)
        s = _LATEX_FRAC.sub(r"\1/\2", s)
        s = _LATEX_DROP.sub(" ", s)
        s = _LATEX_CMD.sub(r"\1", s)
    if "_" in s:
        s = _SUBSCRIPT.sub(r"\1\2", s)
    if "^" in s:
        s = _SUPERSCRIPT.sub(r"^\1", s)
    s = _PUNCT_RE.sub(_punct, s)  # s.translate(_PUNCT_MAP)
    s = _WS.sub(" ", s).strip()
    s = _CJK_SPACE.sub("", s)
    if "次方" in s:  # 2的n-1次方 -> 2^(n-1)
        s = _POWER_ZH.sub(_power, s)
    if " " in s:
        # formulas written loosely meet: "( 2 * n + 1 ) / 3" and "(2n+1)/3", "n / 2" and "n/2"
        s = _MATH_SPACE.sub("", s)
    return s


_LETTERS = re.compile(r"[^\W\d_]+")
_CJK_RUN = re.compile(f"[{_CJK}]+")


def cjk_ratio(text: str) -> float:
    """Share of letters that are Chinese characters (counted by runs: fewer matches to build)."""
    letters = sum(map(len, _LETTERS.findall(text)))
    return sum(map(len, _CJK_RUN.findall(text))) / letters if letters else 0.0


# ---------------------------------------------------------------- segmentation

# Sentence ends: Chinese and English terminators, semicolons, line breaks, bullets.
# (the full stop is matched before the lookbehind: a pattern that opens with a lookbehind is
# tried at every position; the same matches, twice as fast)
_SENT_END = re.compile(r"(?:[。！？!?；;]+|\.(?<=[a-zA-Z0-9)\]]\.)(?=\s)|\n+)")
_CLAUSE_SEP = re.compile(r"[，,、：:（）()]|\s-\s")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)、]|[（(]?\d{1,2}[)）]|[a-z][.)])\s+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Segment:
    """A sentence of the original answer: its span and its normalised text."""

    start: int
    end: int
    text: str  # original text (stripped)
    norm: str


def sentences(text: str) -> list[Segment]:
    """Split the original text into sentences, keeping their spans in the original."""
    out: list[Segment] = []
    pos = 0
    for m in _SENT_END.finditer(text):
        _add_segment(text, pos, m.end(), out)
        pos = m.end()
    _add_segment(text, pos, len(text), out)
    return out


def _add_segment(text: str, start: int, end: int, out: list[Segment]) -> None:
    raw = text[start:end]
    stripped = raw.strip()
    if not stripped:
        return
    lead = raw.index(stripped[0])
    s = start + lead
    e = s + len(stripped)
    norm = normalize(stripped)
    if norm.strip(" .,;:!?\"'-[]<>()"):
        out.append(Segment(s, e, stripped, norm))


def clauses(norm_sentence: str) -> list[str]:
    """Split a normalised sentence into list items / clauses (for the stuffing guard)."""
    s = _BULLET.sub("", norm_sentence)
    return [c.strip() for c in _CLAUSE_SEP.split(s) if c.strip()]


# ---------------------------------------------------------------- tokens

_EN_WORD = re.compile(r"[a-z][a-z0-9+#^'-]*|\d+(?:\.\d+)?[a-z]*")
EN_STOP = frozenset(
    """a an the of to in on for and or but is are was were be been being it its this that these those
    with as by at from into than then so such can could will would should may might must do does did
    has have had not no which who whom what when where why how there their they them he she we you i
    me my our your his her also more most very each other some any all both either neither just only
    same own too up down out over under again further once here about above below between through
    during before after if while because until against among per via one two using use used""".split()
)
# Chinese characters that carry grammar rather than content: bigrams made only of them are noise.
ZH_STOP = frozenset("的了是在和与及或等这那其之为将把被对从到也都而就个一有所以可以会要让使得")
# The verdict on a true-or-false statement, however it is written.
VERDICT_FALSE = ("错误", "不正确", "不对", "错", "否", "false", "incorrect", "wrong")
VERDICT_TRUE = ("正确", "对的", "没错", "true", "correct")


# English word endings that vary between inflected and derived forms of one word: "iteration",
# "iterative", "iterate", "iterating" share "iterat". Agent nouns (-er/-or) are left alone:
# "encoder" is not "encoding".
EN_SUFFIXES = ("ations", "ation", "ively", "ments", "ities", "ions", "ment", "ally", "ing", "ion", "ive",
               "ity", "ed", "es", "ly", "al", "e", "s")
MIN_STEM = 4


@lru_cache(maxsize=16384)  # words recur from answer to answer; a short string each
def english_stem(word: str) -> str:
    """`word` without one derivational or inflectional ending, when at least 4 letters remain."""
    for suf in EN_SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= MIN_STEM:
            return word[: -len(suf)]
    return word


# 4,096 entries of 1.9 KB on average (sentence and tokens; p95 4.4 KB): 7.7 MB at most. On the
# labelled sets graded once each (9,775 calls) it answers 2,045 calls; 1,024 entries 1,900, 256
# entries 1,616, 16,384 entries 2,046. 65,536 had taken a batch worker from ~50 MB to ~170 MB.
@lru_cache(maxsize=4096)
def tokens(norm: str) -> tuple[str, ...]:
    """Content tokens of normalised text: stemmed English words and Chinese character bigrams."""
    out: list[str] = []
    for w in _EN_WORD.findall(norm):
        w = w.strip("'-")
        if w and w not in EN_STOP and (len(w) > 1 or w.isdigit() is False):
            out.append(english_stem(w))
    for run in _CJK_RUN.findall(norm):
        if len(run) == 1:
            if run not in ZH_STOP:
                out.append(run)
            continue
        for i in range(len(run) - 1):
            bg = run[i : i + 2]
            if bg[0] in ZH_STOP and bg[1] in ZH_STOP:
                continue
            out.append(bg)
    return tuple(out)


_CONTENT_UNIT = re.compile(f"[{_CJK}]|{_EN_WORD.pattern}")


def content_length(norm: str) -> int:
    """A rough size of the content: Chinese characters plus English words."""
    return len(_CONTENT_UNIT.findall(norm))


def has_content(norm: str) -> bool:
    """`content_length(norm) > 0`, without counting."""
    return _CONTENT_UNIT.search(norm) is not None


def claim_length(text: str) -> int:
    """Length in English-equivalent characters: a Chinese character says about as much as three."""
    return len(text) + 2 * len(CJK_RE.findall(text))


def locate(answer: str, evidence: str) -> tuple[int, int] | None:
    """Where a quoted evidence span sits in the answer: exactly, ignoring case, or ignoring spacing."""
    ev = evidence.strip()
    if not ev:
        return None
    i = answer.find(ev)
    if i >= 0:
        return i, i + len(ev)
    i = answer.casefold().find(ev.casefold())
    if i >= 0 and len(answer.casefold()) == len(answer):
        return i, i + len(ev)
    parts = [re.escape(c) for c in re.sub(r"\s+", "", ev)]
    if not parts or len(parts) > 2000:
        return None
    m = re.search(r"\s*".join(parts), answer, re.IGNORECASE)
    return (m.start(), m.end()) if m else None
