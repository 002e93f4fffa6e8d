"""An answer as the lexical matcher reads it: its sentences joined once, the windows of sentences
judged together, and the indexes built once per answer (each occurrence's polarity reading, the
words within a typo of the rubric's aliases, the content tokens per sentence as bitmasks)."""

from __future__ import annotations

import re
from bisect import bisect_right

from ..answer import PreparedAnswer
from ..text import Segment, content_length, tokens
from .compiled import CompiledGroup, Reach
from .polarity import CUE_CANDIDATE, NEG_REACH, PLAIN, polarity_matches, reading

WINDOW = 3  # at most this many sentences judged together...
HEAD_MAX = 16  # ...and only when all but the last are short (a heading, a "L1 正则化：" lead-in)
_WORD = re.compile(r"[a-z][a-z'-]+")


SEP = "\x00"  # joins sentences: no alias pattern can match across it


class AnswerView:
    """The sentences of an answer joined once, so each alias group is one regex scan."""

    __slots__ = ("prepared", "reach", "segs", "joined", "starts", "windows", "by_seg", "win_masks", "seg_windows", "_words",
                 "_token_bits", "_seg_masks", "_pair_masks", "_present", "_live", "_read", "_cues")

    def __init__(self, prepared: PreparedAnswer, reach: Reach | None = None):
        self.prepared = prepared
        self.reach = reach  # what the rubric can look up: the indexes below hold only that (None: everything)
        self.segs = prepared.segments
        norms = [seg.norm for seg in self.segs]
        self.starts: list[int] = []
        pos = 0
        for norm in norms:
            self.starts.append(pos)
            pos += len(norm) + 1
        self.joined = SEP.join(norms)
        self.windows = _windows(self.segs)
        by_seg: list[list[int]] = [[] for _ in self.segs]  # sentence -> windows holding it
        # the same as bitmasks: window k -> its sentences, sentence j -> the windows holding it
        win_masks: list[int] = []
        for k, span in enumerate(self.windows):
            mask = 0
            for j in span:
                by_seg[j].append(k)
                mask |= 1 << j
            win_masks.append(mask)
        self.by_seg, self.win_masks = by_seg, win_masks
        self.seg_windows = [sum(1 << k for k in ks) for ks in by_seg]
        self._words: dict[tuple[str, int], list[tuple[str, int, int]]] | None = None
        self._token_bits: dict[str, int] | None = None  # built on first use (`_index_tokens`)
        self._seg_masks: list[int] = []
        self._pair_masks: list[int] = []
        self._present: frozenset[str] = frozenset()
        self._live: frozenset[str] | None = None
        self._read: dict[tuple[int, int, int], int] = {}
        self._cues: dict[int, int] = {}  # sentence -> where the first thing that may be a negation cue is

    def matches(self, group: CompiledGroup, j: int, start: int, end: int) -> bool:
        """`occurrence_matches` on sentence j, each occurrence's negation read once per answer
        (an alias shared by several groups, or found by several probes, is read once)."""
        if group.polarity == "any":
            return True
        key = (j, start, end)
        read = self._read.get(key)
        if read is None:
            norm = self.segs[j].norm
            first = self._cues.get(j)
            if first is None:
                m = CUE_CANDIDATE.search(norm)
                first = self._cues[j] = m.start() if m else len(norm) + NEG_REACH
            # no possible cue before the end of the term's reach (clause_negated reads its clause
            # from the sentence's start when no break comes first): plain, without looking
            read = reading(norm, start, end) if first < end + NEG_REACH else PLAIN
            self._read[key] = read
        return polarity_matches(group.polarity, read)

    def seg_of(self, pos: int) -> int:
        return bisect_right(self.starts, pos) - 1

    @property
    def words(self) -> dict[tuple[str, int], list[tuple[str, int, int]]]:
        """(first letter, length) -> (word, sentence, offset) of the English words and adjacent pairs
        joined ("multi qurey") of that size, each sentence's words then its pairs, in text order."""
        if self._words is None:
            sizes = self.reach.word_sizes if self.reach is not None else None  # (first letter, length) an alias may reach
            out: dict[tuple[str, int], list[tuple[str, int, int]]] = {}
            for j, seg in enumerate(self.segs):
                found = [(m.group().replace("-", "").replace("'", ""), m.start()) for m in _WORD.finditer(seg.norm)]
                for w, p in found:
                    if (key := (w[0], len(w))) in sizes or sizes is None:
                        out.setdefault(key, []).append((w, j, p))
                for (a, pa), (b, _) in zip(found, found[1:]):
                    if (key := (a[0], len(a) + len(b))) in sizes or sizes is None:
                        out.setdefault(key, []).append((a + b, j, pa))
            self._words = out
            if sizes is not None:  # the typo-tolerant aliases some word of the answer is within reach of
                self._live = frozenset().union(*(sizes[k] for k in out))
        return self._words

    @property
    def live(self) -> frozenset[str] | None:
        """The typo-tolerant aliases some word of the answer is within reach of (None: any may be;
        an alias not here finds nothing `near`)."""
        if self._words is None:
            self.words
        return self._live

    def near(self, first: str, size: int) -> tuple[list[tuple[str, int, int]], list[str]]:
        """Words (and pairs) opening with `first`, within two letters of `size`, shortest first, in
        reading order within a length; their texts."""
        words = self.words
        items: list[tuple[str, int, int]] = []
        for n in range(size - 2, size + 3):
            bucket = words.get((first, n))
            if bucket:
                items += bucket
        return items, [x[0] for x in items]

    def _index_tokens(self) -> None:
        """Each content token the rubric reads and the answer holds gets a bit; each sentence, and
        each two consecutive sentences (i, i + 1), the bitmask of its tokens."""
        need = self.reach.tokens if self.reach is not None else None
        bits: dict[str, int] = {}
        masks: list[int] = []
        for seg in self.segs:
            mask = 0
            for t in (tokens(seg.norm) if need is None else need.intersection(tokens(seg.norm))):
                bit = bits.get(t)
                if bit is None:
                    bit = bits[t] = 1 << len(bits)
                mask |= bit
            masks.append(mask)
        self._token_bits, self._seg_masks, self._present = bits, masks, frozenset(bits)
        self._pair_masks = [a | b for a, b in zip(masks, masks[1:])]

    @property
    def token_bits(self) -> dict[str, int]:
        """Content token (those the rubric reads) -> its bit in the sentences' token masks."""
        if self._token_bits is None:
            self._index_tokens()
        return self._token_bits

    @property
    def present(self) -> frozenset[str]:
        """The content tokens of the answer (those the rubric reads)."""
        if self._token_bits is None:
            self._index_tokens()
        return self._present

_HEADING_END = re.compile(r"[:：]\s*$|^[^。.!?！？；;]*$")


def _windows(segs: list[Segment]) -> list[tuple[int, ...]]:
    """Sentences judged together: a sentence alone, or with the short lead-ins right before it;
    each of these also under the last one or two headings of its section ("**Beam Search**",
    "缺点：": short lines that name what the sentences below them are about)."""
    out: set[tuple[int, ...]] = set()
    # a sentence of at most HEAD_MAX characters has at most that many content units: not counted
    short = [len(s.norm) <= HEAD_MAX or content_length(s.norm) <= HEAD_MAX for s in segs]
    recent: tuple[int, ...] = ()  # the last two headings before this sentence
    for j in range(len(segs)):
        run = (j,)
        first = j
        while True:  # the sentence, then with one and two short sentences right before it
            out.add(run)
            if recent:  # under the last heading, then under the last two (those above the run)
                if recent[-1] < first:
                    out.add(recent[-1:] + run)
                    out.add(recent + run)
                elif recent[0] < first:  # two headings, the last inside the run
                    out.add(recent[:1] + run)
            lead = first - 1
            if len(run) == WINDOW or lead < 0 or not short[lead]:
                break
            run = (lead,) + run
            first = lead
        if short[j] and _HEADING_END.search(segs[j].text):
            recent = (recent + (j,))[-2:]
    return sorted(out, key=_window_order)


def _window_order(w: tuple[int, ...]) -> tuple[int, int]:
    return w[-1], len(w)
