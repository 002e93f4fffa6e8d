"""A reference answer as claims a judge can judge: whole sentences, never cut inside brackets, quotes
or an inline list, and no fragment without its predicate.

    reference --mask--> separators inside (...) （...） [...] "..." “...” 「...」 hidden
              --split--> sentences (。！？； . ! ? ; and line breaks)
              --long sentences--> clauses at ， , only past LONG_SENTENCE units, subordinate clauses
                                  ("当...时", "When ...") kept with the clause they lead into
              --join--> enumeration markers alone ("1.", "（2）"), lead-ins ending in a colon and
                        pieces without content join their neighbour; a worked example ("举个例子",
                        "for example") keeps its steps
              --> claims (spans of the reference's own text)

Why: split at every comma, the ad-hoc rubrics of ADS and Mohler had points such as "(phase 7)",
"When an overloaded function is called", "1." and one point per step of an example; a judge cannot
judge those, and one idea became two points.
"""

from __future__ import annotations

import re

from ..text import CJK_RE, claim_length, content_length, normalize

CLAIM_UNITS = 100  # a claim's target size (claim_length units: a Chinese character counts 3)
LONG_SENTENCE = 2 * CLAIM_UNITS  # a sentence longer than this is cut into clauses

_OPEN, _CLOSE = "([（【「『“‘{\"", ")]）】」』”’}\""
_PAIRS = dict(zip(_OPEN, _CLOSE))
_MASK = {c: chr(0xE000 + i) for i, c in enumerate("\n。！？；.!?;，,、：: ")}
_SENTENCE_END = re.compile(r"\n+|[。！？；]|(?<![\s。；;：:]\d)(?<![\s。；;：:]\d\d)(?<!^\d)(?<!^\d\d)[.!?;](?=\s|$)")
_CLAUSE_END = re.compile(r"[，,](?=\s*\S)")
_MARKER = r"(?:\d{1,2}[.、)）](?!\d)|[（(]\d{1,2}[)）]|[①-⑳]|[a-z][.)])"
_MARKER_ONLY = re.compile(rf"^\s*(?:{_MARKER}\s*)+$")
_TRAILING_MARKER = re.compile(r"(?<=[\s。；;：:])(?:\d{1,2}[.、)）]|[（(]\d{1,2}[)）]|[①-⑳])\s*$")
_LEADING_MARKER = re.compile(rf"^\s*{_MARKER}")
_INLINE_ITEM = re.compile(r"(?<=[\s。；;：:])(?=(?:\d{1,2}[.、)）](?!\d)|[（(]\d{1,2}[)）]|[①-⑳])\s*\S)")
_STANDALONE_NOT = re.compile(r"^\s*(?:否则|otherwise|即|也就是说|that is|i\.e\.|whereas)", re.IGNORECASE)
_LEAD_IN = re.compile(r"[:：]\s*$")
_SUBORDINATE = re.compile(
    r"^\s*(?:当|如果|若|假如|由于|因为|虽然|尽管|在.{0,12}(?:时|中|后|前)$|when(?:ever)?\b|if\b|while\b|because\b|since\b|although\b|though\b|as soon as\b|once\b|after\b|before\b|unless\b)",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(r"^\s*(?:that is|i\.e\.|e\.g\.|whereas|which|who|and|or|but|so|then|即|也就是|或者|或|以及|并且|而且)\b", re.IGNORECASE)
_EXAMPLE = re.compile(r"^\s*(?:举个?例子|例如|比如|举例|for example|for instance|e\.g\.|example)", re.IGNORECASE)
_CONCLUSION = re.compile(r"^\s*(?:我们注意到|这说明|可见|因此|所以|总之|综上|thus|therefore|so\b|hence|this shows)", re.IGNORECASE)


def _masked(text: str) -> str:
    """The text with separators inside brackets and quotes replaced by private-use characters (one
    for one, so offsets are kept). Brackets do not span lines; an unclosed one masks nothing."""
    out = list(text)
    stack: list[int] = []
    for i, ch in enumerate(text):
        if ch == "\n":
            stack.clear()
        elif stack and ch == _PAIRS[text[stack[-1]]]:
            start = stack.pop()
            if not stack and i - start <= 400:
                out[start + 1 : i] = [_MASK.get(c, c) for c in text[start + 1 : i]]
        elif ch in _PAIRS:
            stack.append(i)
    return "".join(out)


def _cuts(masked: str, pattern: re.Pattern, start: int, end: int) -> list[tuple[int, int]]:
    spans, pos = [], start
    for m in pattern.finditer(masked, start, end):
        if m.end() > pos:
            spans.append((pos, m.end()))
            pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return spans


def _clauses(text: str, masked: str, a: int, b: int) -> list[tuple[int, int]]:
    """A long sentence cut at commas; a subordinate clause stays with the clause it leads into, and a
    continuation ("that is", "whereas", "即") with the clause before it."""
    pieces = _cuts(masked, _CLAUSE_END, a, b)
    out: list[list[int]] = []
    carry = False
    for s, e in pieces:
        piece = text[s:e]
        if out and (carry or _CONTINUATION.match(piece)):
            out[-1][1] = e
        else:
            out.append([s, e])
        carry = bool(_SUBORDINATE.match(text[out[-1][0] : out[-1][1]])) and out[-1][1] == e
    # small clauses rejoin their neighbour until every clause is of a useful size
    merged: list[list[int]] = []
    for s, e in out:
        if merged and (claim_length(text[merged[-1][0] : merged[-1][1]]) + claim_length(text[s:e]) <= CLAIM_UNITS):
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _has_content(text: str) -> bool:
    norm = normalize(_LEADING_MARKER.sub("", text))
    return content_length(norm) >= 3


def claim_spans(text: str) -> list[tuple[int, int]]:
    """Spans of `text` (tags already removed), one per claim."""
    masked = _masked(text)
    # an inline enumeration ("1.单链表不可以 2.双链表可以") starts a new sentence at each marker
    cut_points = sorted({m.start() for m in _INLINE_ITEM.finditer(masked)})
    sentences: list[tuple[int, int]] = []
    prev = 0
    for p in [*cut_points, len(text)]:
        sentences.extend(_cuts(masked, _SENTENCE_END, prev, p))
        prev = p
    spans: list[tuple[int, int]] = []
    for s, e in sentences:
        if not text[s:e].strip():
            continue
        if claim_length(text[s:e]) > LONG_SENTENCE:
            spans.extend(_clauses(text, masked, s, e))
        else:
            spans.append((s, e))
    return _join(text, spans)


def _join(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pieces that cannot stand alone join a neighbour: a marker alone or a lead-in ending in a colon
    joins the piece after it; a continuation ("否则", "that is") or a piece without content joins the
    one before; the sentences after "for example" stay with it until a conclusion ("因此", "thus")."""
    out: list[list[int]] = []
    pending: int | None = None  # start of a piece waiting for the next one
    example = 0  # pieces absorbed into the current worked example
    for s, e in spans:
        piece = text[s:e]
        if out and 0 < example <= 20 and not _CONCLUSION.match(piece):
            out[-1][1] = e
            example += 1
            continue
        example = 0
        start = s if pending is None else pending
        pending = None
        if _MARKER_ONLY.match(piece) or _LEAD_IN.search(piece):
            pending = start
            continue
        if out and start == s and (_STANDALONE_NOT.match(piece) or not _has_content(piece)):
            out[-1][1] = e
            continue
        out.append([start, e])
        if _EXAMPLE.match(piece) or _EXAMPLE.match(text[start:e]):
            example = 1
        m = _TRAILING_MARKER.search(piece)
        if m and _has_content(piece[: m.start()]):
            out[-1][1] = s + m.start()  # "如果顺序错误就交换：1." -> the "1." starts the next claim
            pending = s + m.start()
    if pending is not None:
        if _has_content(text[pending:]) or not out:
            out.append([pending, len(text.rstrip())])
        else:
            out[-1][1] = len(text.rstrip())  # a trailing marker ("（2）") or lead-in with nothing after it
    return [(s, e) for s, e in out]


def split_claims(text: str) -> list[str]:
    """The claims of a (tag-stripped) reference, as stripped spans of its text."""
    pieces = [text[s:e].strip(" \t\n,，、;；") for s, e in claim_spans(text)]
    return [p for p in pieces if len(normalize(p)) >= 2]
