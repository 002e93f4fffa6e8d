"""Guards that keep lexical grading honest.

- `prepare` splits an answer into sentences and sets aside the sentences addressed to the grader
  (prompt injection): they are never matched, so they earn nothing, and the answer is flagged.
- `is_empty`: nothing to grade ("", "不知道", "N/A").
- `stuffing` and `off_topic` look at what the matchers found: terms listed without explanation,
  or an answer that shares almost nothing with the question's topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import EN_STOP, Segment, content_length, normalize, sentences, tokens

_INJECTION = [
    r"忽略.{0,12}(?:指令|评分|标准|规则|要求|提示|rubric|prompt)",
    r"(?:给|打|判|评|输出|返回)(?:我|他|她|这个|这份|该|本|此)?(?:回答|答案|答卷|考生)?.{0,6}(?:满分|10\s*分|十分|100\s*分|最高分|高分)",
    r"(?:满分|最高分|10\s*分|十分)\s*(?:给|打)(?:我|这)",
    r"(?:本|该|此)(?:答案|回答).{0,10}(?:审核|认定|评为|判定).{0,6}满分",
    r"系统提示|system\s*prompt|system\s*:|assistant\s*:|\[\s*system|<\s*/?\s*system",
    r"(?:你|您)(?:现在)?(?:是|作为).{0,8}(?:评分|阅卷|考官|裁判|助手)",
    r"(?:评分|阅卷)(?:员|者|人|模型|系统|老师)",
    r"\bignore\b.{0,30}\b(?:instruction|rule|criteria|criterion|rubric|prompt|guideline)",
    r"\b(?:disregard|forget|override)\b.{0,30}\b(?:instruction|rule|criteria|rubric|prompt|above|previous)",
    r"\b(?:give|award|assign|grant|output|return|mark|grade|score|rate)\b.{0,30}\b(?:full|perfect|maximum|highest)\b.{0,12}\b(?:mark|score|point|grade|credit)",
    r"\b(?:give|award|assign|output|return|rate|score)\b.{0,30}\b10\s*(?:/\s*10|out of 10|points?|marks?)",
    r"\b(?:dear|attention|note to (?:the)?)\s*(?:grader|examiner|evaluator|judge|model|ai)\b",
    r"\byou are (?:now )?(?:a|an|the)?\s*(?:grader|judge|evaluator|assistant)\b",
    r"\b(?:as|to) the (?:grader|judge|evaluator)\b",
    # claims about the grading itself, which a judge that obeys an injection quotes as evidence
    r"(?:所有|全部|每个|各个)?要点(?:都|均|全)?(?:已|已经)?(?:被)?(?:覆盖|涵盖|答到|答全|满足)",
    r"\ball (?:the |of the )?(?:key )?points (?:are|were|have been|has been)? ?(?:covered|addressed|met|satisfied)",
]
INJECTION_RE = re.compile("|".join(f"(?:{p})" for p in _INJECTION))
# Every pattern above needs one of these words: a sentence with none is not searched.
_TRIGGERS = (
    "忽略", "满分", "10", "十分", "最高分", "高分", "审核", "系统", "system", "assistant", "评分", "阅卷", "考官",
    "裁判", "助手", "ignore", "disregard", "forget", "override", "full", "perfect", "maximum", "highest",
    "grader", "examiner", "evaluator", "judge", "you are", "要点", "points",
)


def addressed_to_grader(norm: str) -> bool:
    """Is this (normalised) sentence text addressed to the grader?"""
    return any(t in norm for t in _TRIGGERS) and INJECTION_RE.search(norm) is not None

_DONT_KNOW = re.compile(
    r"^(?:不知道|不清楚|不会|不懂|没学过|没了解过|不了解|忘了|忘记了|略|无|暂无|空|pass|skip|n/?a|none|idk|"
    r"i\s*don'?t\s*know|no\s*idea|not\s*sure|dunno|-+|\?+)[\s.!?~,。！？…]*$"
)


@dataclass(slots=True)
class PreparedAnswer:
    original: str
    segments: list[Segment]  # sentences that are graded
    injected: list[Segment] = field(default_factory=list)  # sentences addressed to the grader

    @property
    def norm(self) -> str:
        return " ".join(s.norm for s in self.segments)


def prepare(answer: str) -> PreparedAnswer:
    graded: list[Segment] = []
    injected: list[Segment] = []
    for seg in sentences(answer):
        (injected if addressed_to_grader(seg.norm) else graded).append(seg)
    return PreparedAnswer(answer, graded, injected)


def is_empty(prepared: PreparedAnswer) -> bool:
    text = prepared.norm.strip()
    if content_length(text) == 0:
        return True
    return bool(_DONT_KNOW.match(text))


# Characters and words that carry grammar: what joins terms into statements.
_ZH_GRAMMAR = frozenset("的了是在和与及或这那其之为将把被对从到也都而就个有所以可以会要让使得因需时能不没只则如若但并且即")
_GRAMMAR_UNIT = re.compile(r"[\u3400-\u9fff]|[a-z][a-z'-]*")


def grammar_share(prepared: PreparedAnswer) -> float:
    """Share of the answer's words (Chinese characters, English words) that are grammar words.

    Written statements, terse or long, Chinese or English, keep 0.13-0.4 of them; a list of terms
    ("Q、K、V、softmax、根号dk、多头") almost none (dev set: keyword-stuffing answers 0-0.094)."""
    units = _GRAMMAR_UNIT.findall(prepared.norm)
    if not units:
        return 0.0
    return sum(1 for u in units if u in _ZH_GRAMMAR or u in EN_STOP) / len(units)


# A list of terms, by its shape: many short items, whatever separates them (spaces, commas, 、,
# newlines, bullets, zero-width characters, slashes, filler words such as 的/和/是), and almost no
# words that make sentences. Chosen on the dev set (7 of its 8 keyword lists, no other answer);
# on the second dev set 10 of 16 keyword lists and 1 of 144 other answers (a terse superficial one).
_PIECE_SEP = re.compile(
    r"[\n\u200b-\u200d\u2060\ufeff,，、;；/|。!?！？:：•·]+|(?<![A-Za-z0-9])\.(?![A-Za-z0-9])|\.\s|(?m:^\s*[-*+]\s+)"
)
_ITEM_SEP = re.compile(r"\s+|(?<=[\u3400-\u9fff A-Za-z0-9)）])(?:的|和|是|与|及)(?=[\u3400-\u9fff A-Za-z0-9(（])")
_FILLERS = frozenset({"的", "和", "是", "在", "与", "及", "以及", "and", "or", "the", "a", "an", "of", "is"})
_PROSE_ZH = frozenset("了在将把被对从到也都而就有所可会要让使因需时能不没只则如若但并且即这那其之为")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")
LIST_MIN_ITEMS = 6
LIST_SHORT_ITEM = 15  # claim-length units: five Chinese characters, or fifteen letters
LIST_SHORT_SHARE = 0.85
LIST_ZH_PROSE_MAX = 0.06  # sentence words per Chinese character (prose: 0.1-0.25)
LIST_EN_PROSE_MAX = 0.1  # stop words per English word


def _prose_density(text: str) -> tuple[float, int, float, int]:
    words = [w.lower() for w in _EN_WORD.findall(text)]
    en = sum(1 for w in words if w in EN_STOP and w not in _FILLERS)
    cjk = len(_CJK_CHAR.findall(text))
    zh = sum(1 for ch in text if ch in _PROSE_ZH)
    return (zh / cjk if cjk else 0.0), zh, (en / len(words) if words else 0.0), en


def list_items(text: str) -> list[str]:
    """The answer cut into items at every separator a list uses; a piece that reads as a sentence
    stays whole."""
    out: list[str] = []
    for piece in _PIECE_SEP.split(text):
        piece = piece.strip(" -*\t")
        zd, zh, ed, en = _prose_density(piece)
        if (zh >= 2 and zd >= 0.08) or (en >= 2 and ed >= 0.2):
            out.append(piece)
            continue
        out.extend(p for p in (x.strip(" -*") for x in _ITEM_SEP.split(piece)) if p and p.lower() not in _FILLERS)
    return out


def is_term_list(text: str) -> bool:
    """Is the answer a bare list of terms (few predicates, many short noun phrases)?"""
    from .claims import claim_length

    items = list_items(text)
    if len(items) < LIST_MIN_ITEMS:
        return False
    short = sum(1 for p in items if claim_length(p) <= LIST_SHORT_ITEM)
    zd, _, ed, _ = _prose_density(text)
    return short / len(items) >= LIST_SHORT_SHARE and zd < LIST_ZH_PROSE_MAX and ed < LIST_EN_PROSE_MAX


def topic_overlap(prepared: PreparedAnswer, vocabulary: frozenset[str]) -> float:
    """Share of the answer's content tokens that belong to the question's topic."""
    toks = [t for seg in prepared.segments for t in tokens(seg.norm)]
    if not toks:
        return 0.0
    return sum(1 for t in toks if t in vocabulary) / len(toks)


def language_of(text: str, normalized: bool = False) -> str:
    """"zh" or "en": the language feedback is written in."""
    from .text import cjk_ratio

    return "zh" if cjk_ratio(text if normalized else normalize(text)) >= 0.2 else "en"
