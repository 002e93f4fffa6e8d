"""One alias of a rubric, ready to search: its pattern (separators optional, English word
endings, word edges) and `AliasProbe`, which finds it around a literal piece found by the
rubric's automaton (matchers/compiled.py)."""

from __future__ import annotations

import re
from functools import lru_cache

from ..text import _CJK as _CJK_RANGE
from ..text import CJK_RE, EN_SUFFIXES, MIN_STEM, LazyPattern, english_stem

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


class AliasProbe:
    """One alias, ready to search: a literal any match must contain (a cheap pre-check), and
    its pattern, compiled on first use: most aliases of a rubric never occur in a given answer,
    and compiling them all would cost more than grading."""

    __slots__ = ("alias", "piece", "others", "word_start", "literal", "tails", "_rx")

    def __init__(self, alias_norm: str):
        self.alias = alias_norm
        self.piece = _piece(alias_norm)
        # the alias's other literal runs: all must be near the piece before the pattern is tried
        self.others = tuple(r for r in _RUNS.findall(_split_tail(alias_norm)[0]) if r != self.piece)
        # a Chinese alias with nothing optional around it is its own piece: no pattern needed
        self.literal = self.piece == alias_norm and not any(c.isascii() for c in alias_norm)
        self.word_start = alias_norm[:1].isascii() and alias_norm[:1].isalnum()  # must not follow a letter
        # one English word (letters and digits): its pattern is its stem, an optional ending, an
        # optional "s" and a word edge, matched here by hand in the order re tries them
        self.tails: tuple[str, ...] | None = None
        if _WORD_ALIAS.fullmatch(alias_norm):
            self.tails = (*EN_SUFFIXES, "") if _split_tail(alias_norm)[1] else ("",)
        self._rx: re.Pattern | None = None

    def __getstate__(self):  # pickled without its pattern: compiled again on first use
        return {k: getattr(self, k) for k in self.__slots__ if k != "_rx"}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self._rx = None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each occurrence of the alias in normalised text (callers check
        `piece in text` first: most aliases are absent and cost only that check)."""
        if self._rx is None:
            self._rx = re.compile(alias_regex(self.alias, left_boundary=False))
        out = []
        for m in self._rx.finditer(text):
            start = m.start()
            if self.word_start and start and text[start - 1] in _ALNUM:
                continue
            out.append((start, m.end()))
        return out

    def spans_around(self, text: str, piece_start: int, piece_end: int) -> list[tuple[int, int]]:
        """Occurrences that contain the piece found at text[piece_start:piece_end]."""
        if self.tails is not None:
            return self._word_at(text, piece_start, piece_end)
        if self._rx is None:
            self._rx = re.compile(alias_regex(self.alias, left_boundary=False))
        reach = len(self.alias) + 8  # what the alias may add around its piece, separators included
        lo = piece_start - reach if piece_start > reach else 0
        hi = piece_end + reach
        if hi > len(text):
            hi = len(text)
        if self.others:
            near = text[lo:hi]
            for r in self.others:
                if r not in near:
                    return []
        out = []
        for m in self._rx.finditer(text, lo, hi):
            start, end = m.start(), m.end()
            if start > piece_start or end < piece_end:
                continue
            if end == hi and hi < len(text):  # the window may have cut the match short: look again
                m = self._rx.match(text, start)
                if m is None:
                    continue
                end = m.end()
            if self.word_start and start and text[start - 1] in _ALNUM:
                continue
            out.append((start, end))
        return out


    def _word_at(self, text: str, start: int, pos: int) -> list[tuple[int, int]]:
        """The pattern's match at `start` (the piece is the word's stem: any occurrence holding this
        piece and starting earlier is also found from its own piece, at its own start).

        The pattern (stem, an optional ending, an optional "s", a word edge) matches exactly when
        the rest of the word after the stem is an ending, or an ending and "s": the match is the
        whole word."""
        if start and text[start - 1] in _ALNUM:
            return []
        end = _ALNUM_RUN.match(text, pos).end()
        return [(start, end)] if text[pos:end] in _word_rests(self.tails) else []


_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM_RUN = re.compile("[a-z0-9]*")


@lru_cache(maxsize=8)
def _word_rests(tails: tuple[str, ...]) -> frozenset[str]:
    """What may follow a one-word alias's stem up to the word's edge: an ending, with an "s" or not."""
    return frozenset(r for t in tails for r in (t, t + "s"))
_WORD_ALIAS = re.compile("[a-z0-9]+")


_RUNS = LazyPattern(f"[{_CJK_RANGE}]+|[^{_CJK_RANGE}\\s_-]+")


def _piece(alias_norm: str) -> str:
    """The longest run of an alias that any match contains literally (separators are optional,
    an English word may take another ending: "reduce" -> "reduc")."""
    base, _ = _split_tail(alias_norm)
    runs = _RUNS.findall(base)
    return max(runs, key=len) if runs else base
