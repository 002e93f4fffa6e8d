"""Polarity: whether an occurrence of a term in a text is stated, negated, or not read.

A key point may be a negative claim ("RoPE 不引入额外参数"): each alias group's expected polarity
is read from the point's own text (`compiled.py`), and an occurrence in the answer counts only
when it reads the same way (`polarity_matches`). A cue reverses only what it negates; each rule
below names the answer it was measured on (eval/point_agreement.py, see the README).
"""

from __future__ import annotations

import re

from ..text import LazyPattern

# Negation cues just before a term, in the same clause.
_ZH_NEG = re.compile(
    r"不是|不能|不会|不可|不需要?|不用|不必|不再|没有|没|无法|无需|无须|并非|并不|未能|未|难以|缺乏|不|无"
)
# Words that start like a cue but do not negate.
# (不足 / 不够 state a shortage, the very claim of "显存不够"; they are not reversals)
_ZH_NOT_NEG = re.compile(r"不仅|不只|不但|不断|不同|不少|不错|不管|不过|不妨|不论|不足|不够|不久|未来|未知|没错|不等|没问题|无论|无限|无穷|无损|无监督|无关|无偏|无数|无非|无疑|无意")
_EN_NEG = frozenset(
    "not no never cannot can't don't doesn't didn't isn't aren't wasn't weren't won't wouldn't "
    "shouldn't haven't hasn't hadn't couldn't mustn't without neither nor unable fail fails failed lack lacks "
    "hardly".split()
)
_CLAUSE_BREAK = re.compile(
    r"[,.;:!?()\[\]\"]|\b(?:but|while|whereas|because|since|so|therefore|thus|which)\b|但是|但|而是|然而|却|而|因为|所以|因此|从而"
    r"|的话"  # "不缩放的话 softmax 会变得很尖": a condition ends there, its negation stays in it
)
_EN_WORDS = re.compile(r"[a-z']+")
_CUE_REACH = 4  # characters allowed between a Chinese cue and the term ("不引入额外|参数")


# Cues that do not reverse the term they are near (each rule in `_zh_reverses` or where named;
# chosen on dev with eval/point_agreement.py, see the README):
# - a cue of need ("无需", "不需要", "不用") negates what follows it, not the subject before it
#   ("操作的时候无需对第一个节点特殊考虑"); in English "without" ("in parallel without recurrence");
# - a cue closed by 的 before a noun ("小模型没有的能力", "不可学习的参数") negates inside that
#   attribute only (a cue of absence closes one only at once: "没有额外的参数", "不存在突然的跃迁"
#   deny the noun);
# - a negated verb of knowing ("不知道顺序", "无法区分") says what someone lacks, not whether the
#   term holds: the term's polarity is not read (`knowing_negated`);
# - "not ... all/every/everything" denies "all", not what follows ("doesn't send everything to a
#   few experts");
# - "没问题" is not a negation (`_ZH_NOT_NEG`), and a condition ends at "的话" (`_CLAUSE_BREAK`).
_ZH_NEED = re.compile(r"无需|无须|不需要?|不用|不必")
_ZH_ATTRIBUTE = re.compile(r"[\u3400-\u9fff]{0,2}的(?=[\u3400-\u9fffa-z])")
_ZH_ABSENT = re.compile(r"没有?|无|不存在|不含|不包含")
_ZH_KNOWING = re.compile(r"知道|清楚|了解|理解|感知|察觉|意识到|区分|分辨|识别|认识|懂")
_EN_ALL = frozenset(("all", "every", "everything"))
_ZH_ONLY = re.compile(r"只|仅")


def _zh_reverses(text: str, cue: re.Match, start: int) -> bool:
    """Does the Chinese cue `cue` in `text` reverse the term that starts at `start`?"""
    at = cue.start()
    if _ZH_NOT_NEG.match(text, at) or _ZH_KNOWING.match(text, cue.end()):
        return False
    if cue.group() == "无" and cue.end() != start:
        return False  # 无 alone denies only the noun right after it: "无辅助损失的负载均衡" keeps 负载均衡
    if start < at and _ZH_NEED.fullmatch(cue.group()):
        return False
    attribute = _ZH_ATTRIBUTE.match(text, cue.end())
    if attribute and (len(attribute.group()) == 1 or not _ZH_ABSENT.match(text, at)):
        return cue.end() <= start < attribute.end() - 1  # the term is inside the attribute
    return True


def _en_reverses(words: list[str], i: int, after_term: bool) -> bool:
    """Does the English cue words[i] reverse the term (`after_term`: the cue comes after it)?"""
    w = words[i]
    if w not in _EN_NEG or (w == "without" and after_term):
        return False
    if w == "not" and words[i + 1 : i + 2] in (["only"], ["just"]):
        return False
    return not _EN_ALL.intersection(words[i + 1 : i + 3])


def clause_start(norm: str, start: int) -> int:
    """Where the clause of the term starting at `start` opens, looking back at most 40 characters."""
    left = max(0, start - 40)
    for m in _CLAUSE_BREAK.finditer(norm, left, start):
        left = m.end()
    return left


def negated_before(norm: str, start: int, left: int | None = None) -> bool:
    """True when the term starting at `start` is negated by a cue earlier in its clause
    (`left`: `clause_start(norm, start)`, when the caller has it)."""
    if left is None:
        left = clause_start(norm, start)
    for m in _ZH_NEG.finditer(norm, left, start):
        if m.end() >= start - _CUE_REACH and _zh_reverses(norm, m, start):
            return True
    words = _EN_WORDS.findall(norm, left, start)[-4:]
    return any(_en_reverses(words, i, False) for i in range(len(words)))


def knowing_negated(norm: str, start: int, end: int, left: int | None = None) -> bool:
    """Is the term norm[start:end] what a negated verb of knowing in its clause is about
    ("模型本身不知道词的先后顺序")? Then it is neither stated nor denied: its polarity is not read
    (the point "语序决定语义, 因此必须显式提供位置信息" was contradicted by that sentence)."""
    if left is None:
        left = clause_start(norm, start)
    return any(_ZH_KNOWING.match(norm, m.end()) for m in _ZH_NEG.finditer(norm, left, start))


_CLAUSE_END = _CLAUSE_BREAK
# Everything a cue above may be made of, found anywhere (no word edges): where none of it comes
# before NEG_REACH after a term, neither check can find a cue (`is_negated` is False unread)
# (a lookahead, so that cues overlapping each other are all found: "faillack")
CUE_CANDIDATE = re.compile("(?=(" + "|".join(sorted(map(re.escape, _EN_NEG), key=len, reverse=True)) + "|[不没无并未难缺]))")
NEG_REACH = 60  # how far after a term clause_negated reads


def clause_negated(norm: str, start: int, end: int, english: bool = True) -> bool:
    """True when the clause around norm[start:end] carries a negation cue anywhere.

    "Llama 2 没有采用 GQA" negates the claim "GQA 被 Llama 2 采用" although no cue sits right
    before a keyword.
    """
    left = 0
    for m in _CLAUSE_BREAK.finditer(norm, max(0, start - 60), start):
        left = m.end()
    m = _CLAUSE_END.search(norm, end, end + 60)
    right = m.start() if m else min(len(norm), end + 60)
    clause = norm[left:right]
    term = (start - left, end - left)  # a cue inside the term itself ("置换不变") does not negate it
    only = _ZH_ONLY.search(clause, 0, term[0]) is not None  # "只改变方向不改变长度": the cue after it is the contrast
    for c in _ZH_NEG.finditer(clause):
        if c.end() <= term[0] or (c.start() >= term[1] and not only):
            if _zh_reverses(clause, c, term[0]):
                return True
    if not english:
        return False
    words = _EN_WORDS.findall(clause[: term[0]] + " " + clause[term[1] :])
    before = len(_EN_WORDS.findall(clause[: term[0]]))
    return any(_en_reverses(words, i, i >= before) for i in range(len(words)))


# How an occurrence reads: plain, negated by a cue right before it, negated by a cue elsewhere in
# its clause, or not read (a negated verb of knowing is about it)
PLAIN, BEFORE, CLAUSE, UNREAD = 0, 1, 2, 3


def reading(norm: str, start: int, end: int) -> int:
    left = clause_start(norm, start)  # read once for the two checks of what comes before the term
    if knowing_negated(norm, start, end, left):
        return UNREAD
    if negated_before(norm, start, left):
        return BEFORE
    return CLAUSE if clause_negated(norm, start, end) else PLAIN


def polarity_matches(polarity: str, read: int) -> bool:
    """An occurrence counts for a claim when it reads as the claim does. A plain claim ("pos")
    needs a plain occurrence, a negative claim ("neg": "不引入额外参数") a negated one. When the
    claim's clause negates something other than the term ("Top-K 的固定 K 值无法适应分布尖锐或
    平坦", "通过路由偏置实现负载均衡并不依赖辅助损失"), the term itself is stated ("clause"): any
    occurrence counts but one with a cue right before it ("不做路由偏置调整"; dev: one reversed
    claim now contradicted, one no longer credited, no false contradiction). "any": the claim
    cannot be read (a condition: "if no constructor is provided"; or English, whose "if the base
    case is not included" negates the term after it: Mohler 0.545 -> 0.544 as "clause")."""
    if polarity == "any" or read == UNREAD:
        return True
    if polarity == "clause":
        return read != BEFORE
    return (read == PLAIN) == (polarity == "pos")


def is_negated(norm: str, start: int, end: int) -> bool:
    """Is the occurrence norm[start:end] negated, by a cue just before it or in its clause?"""
    return negated_before(norm, start) or clause_negated(norm, start, end)


_CONDITION = LazyPattern(r"(?:^|[,;:.!?]\s*)(?:if|when|whenever|unless|once)\b|如果|若(?!干)|假如|假设|只要|一旦|除非")


def conditional(norm: str, start: int) -> bool:
    """Is the term at `start` inside a condition ("if no constructor is provided, ...")? A negation
    there states when, not whether: its polarity cannot be compared with an answer's, so the
    group's polarity is "any" (Mohler Pearson 0.520 -> 0.525; dev and ADS unchanged)."""
    left = 0
    for m in _CLAUSE_BREAK.finditer(norm, max(0, start - 60), start):
        left = m.end()
    head = norm[max(0, left - 12) : start]  # the clause with the separator before it
    return bool(_CONDITION.search(head))
