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
from typing import TYPE_CHECKING

from ..text import CJK_RE, LazyPattern, normalize, tokens
from .aliases import _ALNUM, AliasProbe, alias_regex  # noqa: F401 - alias_regex: the pattern of an alias, for callers

if TYPE_CHECKING:
    from ..models import Rubric

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


@dataclass(slots=True)
class CompiledGroup:
    aliases: tuple[str, ...]  # normalised, longest first
    polarity: str  # "pos": the claim states it; "neg": the claim negates it; "clause": the claim's
    # clause negates something else; "any": cannot tell (`polarity_matches`)
    probes: tuple[AliasProbe, ...]
    fuzzy_words: tuple[str, ...]  # single ASCII words long enough for typo-tolerant matching
    fuzzy_cjk: tuple[str, ...]  # long Chinese aliases for fuzzy matching
    fuzzy_cjk_bigrams: tuple[frozenset[str], ...]  # their bigrams, to skip hopeless alignments

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Occurrences of any alias of the group, in text order."""
        out: list[tuple[int, int]] = []
        for probe in self.probes:
            if probe.piece in text:
                out.extend(probe.spans(text))
        if len(out) > 1:
            out.sort()
        return out


@dataclass(slots=True)
class CompiledMisconception:
    text: str  # the wrong claim, as the rubric writes it
    groups: tuple[CompiledGroup, ...]  # every one found in one window: the answer states it


@dataclass(slots=True)
class CompiledPoint:
    id: str
    text: str
    weight: float
    groups: tuple[CompiledGroup, ...]
    tokens: frozenset[str]
    subject: int | None = None  # index in CompiledRubric.subjects when the first group names one
    opposite: CompiledGroup | None = None  # words stating the opposite of the point, found plainly
    misconceptions: tuple[CompiledMisconception, ...] = ()  # known wrong claims about the point


@dataclass(slots=True)
class CompiledRubric:
    points: tuple[CompiledPoint, ...]
    vocabulary: frozenset[str]  # tokens of the question, reference and points: the topic
    version: str  # the rubric's content hash
    partial_from: float = 0.5  # share of a point's groups that earns partial credit
    # The subjects the question compares (MHA, MQA, GQA; L1, L2): the points whose first alias
    # groups name the same thing (share an alias), for each subject named by two points or more.
    subjects: tuple[tuple[int, ...], ...] = ()
    _automaton: object = None  # every alias piece of the rubric, found in one pass (built on first use)
    _reach: object = None  # what an answer's indexes need to hold for this rubric (`Reach`, built on first use)
    _claims: object = None  # the pieces of the points' wrong claims (`misconceptions._automaton`, on first use)

    def __getstate__(self):  # pickled without what is built on first use
        return {f: (None if f in ("_automaton", "_reach", "_claims") else getattr(self, f)) for f in self.__slots__}

    @property
    def reach(self) -> "Reach":
        if self._reach is None:
            self._reach = Reach(self.points)
        return self._reach

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)

    def exact_spans(self, text: str) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """(point index, group index) -> occurrences of the group's aliases in `text`.

        One Aho-Corasick pass finds every alias's literal piece; only the aliases whose piece
        occurs are checked with their pattern, around that occurrence."""
        if self._automaton is None:
            self._automaton = _automaton(self.points)
        found: dict[tuple[int, int], set[tuple[int, int]]] = {}
        for end, (size, entries, word_only, _) in self._automaton.iter(text):
            end += 1
            start = end - size
            if word_only and start and text[start - 1] in _ALNUM:
                continue  # every alias of this piece is one English word, and this is inside another
            for probe, keys in entries:  # an alias shared by several groups is looked at once
                if probe.literal:
                    spans = ((start, end),)
                else:
                    spans = probe.spans_around(text, start, end)
                    if not spans:
                        continue
                for key in keys:
                    if key in found:
                        found[key].update(spans)
                    else:
                        found[key] = set(spans)
        return {k: sorted(v) if len(v) > 1 else list(v) for k, v in found.items()}

    def pieces_in(self, text: str) -> set[str]:
        """The alias pieces of the rubric that occur in `text` (one automaton pass)."""
        if self._automaton is None:
            self._automaton = _automaton(self.points)
        return {value[3] for _, value in self._automaton.iter(text)}

    def probes_of(self, pieces: set[str], point: int) -> list[AliasProbe]:
        """The point's aliases (probes) whose piece is among `pieces`, each once."""
        by_piece = self.reach.piece_probes
        return [probe for piece in pieces for probe in by_piece[piece].get(point, ())]


class Reach:
    """What of an answer this rubric can ever look up, so that an answer's indexes hold only that:
    the (first letter, length) of the English words a typo-tolerant alias may be compared with
    (within two letters of its length), and the tokens paraphrase and the Chinese fuzzy aliases read."""

    __slots__ = ("word_sizes", "tokens", "piece_probes")

    def __init__(self, points: tuple[CompiledPoint, ...]):
        sizes: dict[tuple[str, int], set[str]] = {}
        toks: set[str] = set()
        for p in points:
            toks.update(p.tokens)
            for g in p.groups:
                for a in g.fuzzy_words:
                    for n in range(len(a) - 2, len(a) + 3):
                        sizes.setdefault((a[0], n), set()).add(a)
                for grams in g.fuzzy_cjk_bigrams:
                    toks.update(grams)
        # (first letter, length) of a word -> the typo-tolerant aliases that may be compared with it
        self.word_sizes = {k: frozenset(v) for k, v in sizes.items()}
        self.tokens = frozenset(toks)
        # alias piece -> point index -> the point's probes with that piece (a probe has one piece)
        by_piece: dict[str, dict[int, dict[int, AliasProbe]]] = {}
        for pi, p in enumerate(points):
            for g in p.groups:
                for probe in g.probes:
                    by_piece.setdefault(probe.piece, {}).setdefault(pi, {})[id(probe)] = probe
        self.piece_probes = {piece: {pi: tuple(d.values()) for pi, d in pts.items()} for piece, pts in by_piece.items()}


def _automaton(points: tuple[CompiledPoint, ...]):
    import ahocorasick

    index: dict[str, dict[str, tuple[AliasProbe, list]]] = {}  # piece -> alias -> (probe, its groups)
    for pi, point in enumerate(points):
        for gi, group in enumerate(point.groups):
            for probe in group.probes:
                index.setdefault(probe.piece, {}).setdefault(probe.alias, (probe, []))[1].append((pi, gi))
    automaton = ahocorasick.Automaton()
    for piece, entries in index.items():
        word_only = all(probe.tails is not None for probe, _ in entries.values())
        automaton.add_word(piece, (len(piece), [(probe, tuple(keys)) for probe, keys in entries.values()], word_only, piece))
    automaton.make_automaton()
    return automaton


def occurrence_matches(group: "CompiledGroup", norm: str, start: int, end: int) -> bool:
    """Does this occurrence of a group's alias have the claim's polarity? (`polarity_matches`)"""
    return group.polarity == "any" or polarity_matches(group.polarity, reading(norm, start, end))


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


def _conditional(norm: str, start: int) -> bool:
    """Is the term at `start` inside a condition ("if no constructor is provided, ...")? A negation
    there states when, not whether: its polarity cannot be compared with an answer's, so the
    group's polarity is "any" (Mohler Pearson 0.520 -> 0.525; dev and ADS unchanged)."""
    left = 0
    for m in _CLAUSE_BREAK.finditer(norm, max(0, start - 60), start):
        left = m.end()
    head = norm[max(0, left - 12) : start]  # the clause with the separator before it
    return bool(_CONDITION.search(head))


def _compile_group(aliases: list[str], point_norm: str, shared: dict[str, AliasProbe] | None = None) -> CompiledGroup | None:
    norms = {n for n in (normalize(a) for a in aliases) if n}
    # a Chinese quality noun also matches its adjective, as an English word matches its other endings:
    # 确定性 / 确定, 可预测性 / 可预测 ("输出确定", "结果不可预测"); built rubrics, dev fuzzy: Spearman
    # 0.855 -> 0.861; curated, ADS and Mohler unchanged ("度" as well: no change, left out)
    norms |= {n[:-1] for n in norms if n.endswith("性") and len(n) >= 3 and CJK_RE.match(n[-2])}
    norms = sorted(norms, key=len, reverse=True)
    if not norms:
        return None
    # one probe per alias in a rubric: its pattern is compiled once, its occurrences found once
    shared = {} if shared is None else shared
    probes = tuple(shared[a] if a in shared else shared.setdefault(a, AliasProbe(a)) for a in norms)
    first = min((sp for probe in probes if probe.piece in point_norm for sp in probe.spans(point_norm)), default=None)
    if first is not None and (_conditional(point_norm, first[0]) or knowing_negated(point_norm, *first)):
        polarity = "any"
    elif first is None or not clause_negated(point_norm, *first):
        polarity = "pos"
    elif negated_before(point_norm, first[0]):
        polarity = "neg"
    elif clause_negated(point_norm, *first, english=False):
        polarity = "clause"  # a Chinese cue after the term or further from it
    else:
        polarity = "any"  # English: "if the base case is not included" negates the term itself
    # typo-tolerant forms of English aliases, separators dropped ("multi-query" -> "multiquery")
    squashed = {re.sub(r"[\s_-]", "", a) for a in norms if a.isascii()}
    fuzzy_words = tuple(sorted(a for a in squashed if a.isalpha() and len(a) >= 5))
    fuzzy_cjk = tuple(a for a in norms if len(CJK_RE.findall(a)) >= 5)
    bigrams = tuple(frozenset(tokens(a)) for a in fuzzy_cjk)
    return CompiledGroup(tuple(norms), polarity, probes, fuzzy_words, fuzzy_cjk, bigrams)


def _compile(rubric: Rubric, context: str) -> CompiledRubric:
    points = []
    vocab: set[str] = set(tokens(normalize(context)))
    shared: dict[str, AliasProbe] = {}
    for p in rubric.points:
        pnorm = normalize(p.text)
        groups = [cg for cg in (_compile_group(g, pnorm, shared) for g in p.keywords) if cg]
        for cg in groups:
            for a in cg.aliases:
                vocab.update(tokens(a))
        ptoks = frozenset(tokens(pnorm))
        vocab.update(ptoks)
        opposite = _compile_group(p.opposites, "", shared) if p.opposites else None  # polarity "pos": plainly
        # a wrong claim's groups take their polarity from its own text, as a point's do; they are not
        # the topic's vocabulary nor in the automaton: they change no point's match
        miscs = tuple(
            CompiledMisconception(m.text, mgroups)
            for m in p.misconceptions
            if (mgroups := tuple(cg for g in m.keywords if (cg := _compile_group(g, normalize(m.text), shared))))
        )
        points.append(CompiledPoint(p.id, p.text, p.weight, tuple(groups), ptoks, opposite=opposite, misconceptions=miscs))
    subjects = _subjects(points)
    for k, members in enumerate(subjects):
        for i in members:
            points[i].subject = k
    return CompiledRubric(tuple(points), frozenset(vocab), rubric.version, rubric.partial_from, subjects)


def _subjects(points: list[CompiledPoint]) -> tuple[tuple[int, ...], ...]:
    """Points grouped by what their first alias group names, when at least two such subjects
    are each opened by two points or more (a comparison); else none. A name is written several
    ways, so only groups with two aliases or more count (a rubric built from a reference has one
    word per group: no subjects)."""
    clusters: list[tuple[set[str], list[int]]] = []
    for i, p in enumerate(points):
        if len(p.groups) < 2 or len(p.groups[0].aliases) < 2:
            continue
        names = set(p.groups[0].aliases)
        home = next((c for c in clusters if c[0] & names), None)
        if home is None:
            clusters.append((set(names), [i]))
        else:
            home[0].update(names)
            home[1].append(i)
    found = tuple(tuple(members) for _, members in clusters if len(members) >= 2)
    return found if len(found) >= 2 else ()


_CACHE_SIZE = 1024
# rubric object id -> (the rubric, its context, compiled). Banks and ad-hoc rubrics are cached
# objects, so identity finds them without serialising; the rubric is kept so its id stays unique.
_by_object: dict[int, tuple[Rubric, str, CompiledRubric]] = {}


def remember(rubric: Rubric, context: str, compiled: CompiledRubric) -> None:
    """Use `compiled` for this rubric object (one loaded from the CLI's disk cache)."""
    if len(_by_object) >= _CACHE_SIZE:
        _by_object.pop(next(iter(_by_object)))
    _by_object[id(rubric)] = (rubric, context, compiled)


def compile_rubric(rubric: Rubric, context: str = "") -> CompiledRubric:
    """Compile once per rubric object. `context` is the question and reference text: the topic."""
    hit = _by_object.get(id(rubric))
    if hit is not None and hit[0] is rubric and hit[1] == context:
        return hit[2]
    compiled = _compile(rubric, context)
    remember(rubric, context, compiled)
    return compiled
