"""A rubric compiled for lexical matching: alias regexes, expected polarity, point tokens.

Compiling is done once per rubric version and cached; grading an answer is then a handful of
regex searches per sentence.

Polarity: a key point may be a negative claim ("RoPE 不引入额外参数"). Each alias group's expected
polarity is read from the point's own text, and an occurrence in the answer counts only when its
polarity is the same. An occurrence with the opposite polarity ("RoPE 不能外推" against "RoPE 外推
能力好") is evidence that the answer states the opposite. How an occurrence reads: `polarity.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..text import CJK_RE, normalize, tokens
from .aliases import _ALNUM, AliasProbe, alias_regex  # noqa: F401 - alias_regex: the pattern of an alias, for callers
from .polarity import clause_negated, conditional, knowing_negated, negated_before, polarity_matches, reading

if TYPE_CHECKING:
    from ..models import Rubric


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
    if first is not None and (conditional(point_norm, first[0]) or knowing_negated(point_norm, *first)):
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
