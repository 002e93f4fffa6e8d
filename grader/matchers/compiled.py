"""A rubric compiled for lexical matching: alias regexes, expected polarity, point tokens.

Compiling is done once per rubric version and cached; grading an answer is then a handful of
regex searches per sentence.

Polarity: a key point may be a negative claim ("RoPE 不引入额外参数"). Each alias group's expected
polarity is read from the point's own text, and an occurrence in the answer counts only when its
polarity is the same. An occurrence with the opposite polarity ("RoPE 不能外推" against "RoPE 外推
能力好") is evidence that the answer states the opposite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..models import Rubric
from ..text import _CJK as _CJK_RANGE
from ..text import CJK_RE, EN_SUFFIXES, MIN_STEM, english_stem, normalize, tokens

# Negation cues just before a term, in the same clause.
_ZH_NEG = re.compile(
    r"不是|不能|不会|不可|不需要?|不用|不必|不再|没有|没|无法|无需|无须|并非|并不|未能|未|难以|缺乏|不"
)
# Words that start like a cue but do not negate.
# (不足 / 不够 state a shortage, the very claim of "显存不够"; they are not reversals)
_ZH_NOT_NEG = re.compile(r"不仅|不只|不但|不断|不同|不少|不错|不管|不过|不妨|不论|不足|不够|不久|未来|未知|没错")
_EN_NEG = frozenset(
    "not no never cannot can't don't doesn't didn't isn't aren't wasn't weren't won't wouldn't "
    "shouldn't haven't hasn't hadn't couldn't mustn't without neither nor unable fail fails failed lack lacks "
    "hardly".split()
)
_CLAUSE_BREAK = re.compile(
    r"[,.;:!?()\[\]\"]|\b(?:but|while|whereas|because|since|so|therefore|thus|which)\b|但是|但|而是|然而|却|而|因为|所以|因此|从而"
)
_EN_WORDS = re.compile(r"[a-z']+")
_CUE_REACH = 4  # characters allowed between a Chinese cue and the term ("不引入额外|参数")


def negated_before(norm: str, start: int) -> bool:
    """True when the term starting at `start` is negated by a cue earlier in its clause."""
    ctx = norm[max(0, start - 40) : start]
    cut = 0
    for m in _CLAUSE_BREAK.finditer(ctx):
        cut = m.end()
    ctx = ctx[cut:]
    for m in _ZH_NEG.finditer(ctx):
        if m.end() >= len(ctx) - _CUE_REACH and not _ZH_NOT_NEG.match(ctx, m.start()):
            return True
    words = _EN_WORDS.findall(ctx)[-4:]
    return any(w in _EN_NEG for w in words)


_CLAUSE_END = _CLAUSE_BREAK


def clause_negated(norm: str, start: int, end: int) -> bool:
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
    for c in _ZH_NEG.finditer(clause):
        if c.end() <= term[0] or c.start() >= term[1]:
            if not _ZH_NOT_NEG.match(clause, c.start()):
                return True
    words = _EN_WORDS.findall(clause[: term[0]] + " " + clause[term[1] :])
    for i, w in enumerate(words):
        if w in _EN_NEG and not (w == "not" and i + 1 < len(words) and words[i + 1] in ("only", "just")):
            return True
    return False


_TAIL = "(?:" + "|".join(EN_SUFFIXES) + ")?"
_LAST_WORD = re.compile(r"[a-z]+$")


def _split_tail(alias_norm: str) -> tuple[str, bool]:
    """(alias with its last English word stemmed, whether endings may follow)."""
    m = _LAST_WORD.search(alias_norm)
    if not m or len(m.group()) < MIN_STEM:
        return alias_norm, False
    return alias_norm[: m.start()] + english_stem(m.group()), True


def alias_regex(alias_norm: str, left_boundary: bool = True) -> str:
    """Pattern of one normalised alias: separators optional, English word endings, word edges.

    With left_boundary=False the leading word-edge lookbehind is left to the caller, which
    keeps re's literal-prefix search fast (see `AliasProbe`)."""
    base, endings = _split_tail(alias_norm)
    parts: list[str] = []
    prev = ""
    for ch in base:
        if ch in " -_":
            if parts and parts[-1] != r"[\s\-_]*":
                parts.append(r"[\s\-_]*")
            prev = ch
            continue
        if prev and ((prev.isascii() and CJK_RE.match(ch)) or (CJK_RE.match(prev) and ch.isascii())):
            parts.append(r"\s?")
        parts.append(re.escape(ch))
        prev = ch
    if endings:
        parts.append(_TAIL)
    body = "".join(parts)
    if left_boundary and alias_norm[:1].isascii() and alias_norm[:1].isalnum():
        body = r"(?<![a-z0-9])" + body
    if alias_norm[-1:].isascii() and alias_norm[-1:].isalnum():
        body = body + r"(?:s)?(?![a-z0-9])"
    return body


@dataclass(slots=True, frozen=True)
class AliasProbe:
    """One alias, ready to search: a literal it must contain, its pattern, its left word edge."""

    piece: str
    regex: re.Pattern
    word_start: bool  # starts with an English letter or digit: must not follow one


@dataclass(slots=True)
class CompiledGroup:
    aliases: tuple[str, ...]  # normalised
    regex: re.Pattern
    polarity: str  # "pos": the claim states it; "neg": the claim negates it; "any": cannot tell
    probes: tuple[AliasProbe, ...]  # per alias: searched only when its literal piece is present
    fuzzy_words: tuple[str, ...]  # single ASCII words long enough for typo-tolerant matching
    fuzzy_cjk: tuple[str, ...]  # long Chinese aliases for fuzzy matching
    fuzzy_cjk_bigrams: tuple[frozenset[str], ...]  # their bigrams, to skip hopeless alignments


@dataclass(slots=True)
class CompiledPoint:
    id: str
    text: str
    weight: float
    groups: tuple[CompiledGroup, ...]
    tokens: frozenset[str]


@dataclass(slots=True)
class CompiledRubric:
    points: tuple[CompiledPoint, ...]
    all_aliases: re.Pattern | None  # every alias of the rubric, to measure what is left around terms
    vocabulary: frozenset[str]  # tokens of the question, reference and points: the topic
    version: str  # the rubric's content hash
    partial_from: float = 0.5  # share of a point's groups that earns partial credit


def occurrence_matches(group: "CompiledGroup", norm: str, start: int, end: int) -> bool:
    """Does this occurrence of a group's alias have the claim's polarity?

    An occurrence is negated when a cue sits just before it or anywhere in its clause. A plain
    claim ("pos") needs a plain occurrence, a negative claim ("neg": "不引入额外参数") a negated
    one. When the claim's clause negates something else than the term ("K 固定, 无法适应分布
    尖锐或平坦"), its polarity cannot be read and either occurrence counts ("any").
    """
    if group.polarity == "any":
        return True
    negated = negated_before(norm, start) or clause_negated(norm, start, end)
    return negated == (group.polarity == "neg")


def _compile_group(aliases: list[str], point_norm: str) -> CompiledGroup | None:
    norms = sorted({normalize(a) for a in aliases if normalize(a)}, key=len, reverse=True)
    if not norms:
        return None
    regex = re.compile("|".join(alias_regex(a) for a in norms))
    m = regex.search(point_norm)
    if m is None or not clause_negated(point_norm, m.start(), m.end()):
        polarity = "pos"
    elif negated_before(point_norm, m.start()):
        polarity = "neg"
    else:
        polarity = "any"
    # typo-tolerant forms of English aliases, separators dropped ("multi-query" -> "multiquery")
    squashed = {re.sub(r"[\s_-]", "", a) for a in norms if a.isascii()}
    fuzzy_words = tuple(sorted(a for a in squashed if a.isalpha() and len(a) >= 5))
    fuzzy_cjk = tuple(a for a in norms if len(CJK_RE.findall(a)) >= 5)
    bigrams = tuple(frozenset(tokens(a)) for a in fuzzy_cjk)
    probes = tuple(
        AliasProbe(_piece(a), re.compile(alias_regex(a, left_boundary=False)), a[:1].isascii() and a[:1].isalnum())
        for a in norms
    )
    return CompiledGroup(tuple(norms), regex, polarity, probes, fuzzy_words, fuzzy_cjk, bigrams)


_RUNS = re.compile(f"[{_CJK_RANGE}]+|[^{_CJK_RANGE}\\s_-]+")


def _piece(alias_norm: str) -> str:
    """The longest run of an alias that any match contains literally (separators are optional,
    an English word may take another ending: "reduce" -> "reduc")."""
    base, _ = _split_tail(alias_norm)
    runs = _RUNS.findall(base)
    return max(runs, key=len) if runs else base


@lru_cache(maxsize=256)
def _compile(rubric_json: str, context: str) -> CompiledRubric:
    rubric = Rubric.model_validate_json(rubric_json)
    points = []
    every_alias: set[str] = set()
    vocab: set[str] = set(tokens(normalize(context)))
    for p in rubric.points:
        pnorm = normalize(p.text)
        groups = []
        for g in p.keywords:
            cg = _compile_group(g, pnorm)
            if cg:
                groups.append(cg)
                every_alias.update(cg.aliases)
                for a in cg.aliases:
                    vocab.update(tokens(a))
        ptoks = frozenset(tokens(pnorm))
        vocab.update(ptoks)
        points.append(CompiledPoint(p.id, p.text, p.weight, tuple(groups), ptoks))
    all_re = (
        re.compile("|".join(alias_regex(a) for a in sorted(every_alias, key=len, reverse=True)))
        if every_alias
        else None
    )
    return CompiledRubric(tuple(points), all_re, frozenset(vocab), rubric.version, rubric.partial_from)


def compile_rubric(rubric: Rubric, context: str = "") -> CompiledRubric:
    """Compile (cached by content). `context` is the question and reference text: the topic."""
    key = (id(rubric), context)
    hit = _by_object.get(key)
    if hit is not None and hit[0] is rubric:
        return hit[1]
    compiled = _compile(rubric.model_dump_json(), context)
    if len(_by_object) > 1024:
        _by_object.clear()
    _by_object[key] = (rubric, compiled)
    return compiled


# Loaded rubrics are cached objects: skip serialising them to find their compiled form.
_by_object: dict[tuple[int, str], tuple[Rubric, CompiledRubric]] = {}
