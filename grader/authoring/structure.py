"""Structure of a reference: sections (headings, bold-only lines), units (paragraphs, list items,
table rows), candidate claims, and how neighbouring claims merge into a rubric's slots.

Part of the rubric builder (`grader.authoring.build`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..text import content_length, normalize
from .markup import _DECORATION, _GENERIC_LABELS, _LEADIN_END, _SENTENCE_SEPARATORS, _splitter, plain


@dataclass(slots=True)
class Section:
    title: str  # plain text of the heading ("" for text before the first heading)
    start: int
    units: list["Unit"] = field(default_factory=list)


@dataclass(slots=True)
class Unit:
    start: int  # span of the reference
    end: int
    kind: str  # "para" | "item" | "row"
    depth: int  # indentation
    label: str = ""  # the bold lead of a list item, plain text, without its colon
    context: str = ""  # the label of the item it belongs to ("优点")


_LINE_HEADING = re.compile(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$")


_LINE_BOLD_ONLY = re.compile(r"^\s*(?:<(strong|b)>(.+?)</\1>|\*\*(.+?)\*\*)\s*[:：]?\s*$")


_LINE_ITEM = re.compile(r"^(\s*)(?:[*\-+]|\d{1,2}[.)、]|[a-z][.)]|[（(]\d{1,2}[)）])\s+")


_LINE_TABLE = re.compile(r"^\s*\|.*\|\s*$")


_LINE_TABLE_SEP = re.compile(r"^\s*\|[\s:|-]+\|\s*$")


_LINE_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


_LEAD = re.compile(r"^\s*(?:<(strong|b)>(.{1,60}?)</\1>|\*\*(.{1,60}?)\*\*)\s*[:：]?\s*")


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def parse_structure(reference: str, question: str | None = None) -> list[Section]:
    sections = [Section("", 0)]
    lines = _lines(reference)
    i = 0
    block_end: str | None = None  # inside <div> ... </div> or $$ ... $$: the line that closes it
    cur: Unit | None = None
    stack: list[Unit] = []  # open list items, to find a child's context
    qnorm = normalize(question or "")
    while i < len(lines):
        pos, line = lines[i]
        stripped = line.strip()
        i += 1
        if block_end is not None:
            if stripped.endswith(block_end):
                block_end = None
            continue  # a formula belongs to the unit before it; it is kept out of claims
        if stripped.startswith("<div"):
            block_end = None if "</div>" in stripped else "</div>"
            continue
        if stripped.startswith("$$"):
            block_end = None if (len(stripped) > 4 and stripped.endswith("$$")) else "$$"
            continue
        if not stripped or _LINE_RULE.match(stripped) or _LINE_TABLE_SEP.match(stripped):
            cur = None if not stripped or _LINE_RULE.match(stripped) else cur
            continue
        m = _LINE_HEADING.match(line) or _LINE_BOLD_ONLY.match(line)
        if m:
            title = plain(next(g for g in m.groups()[::-1] if g) if m.re is _LINE_BOLD_ONLY else m.group(1))
            title = title.rstrip(":：").strip()
            if qnorm and _restates(normalize(title), qnorm):
                title = ""  # the answer's first line repeats the question
            sections.append(Section(title, pos))
            cur, stack = None, []
            continue
        if _LINE_TABLE.match(line):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            header = i < len(lines) and _LINE_TABLE_SEP.match(lines[i][1].strip() or "x")
            if not header and len(cells) >= 2 and plain(cells[0]):
                sections[-1].units.append(Unit(pos + line.index(stripped), pos + len(line.rstrip()), "row", 0, plain(cells[0]).rstrip(":：")))
            cur = None
            continue
        mi = _LINE_ITEM.match(line)
        depth = len(line) - len(line.lstrip())
        if mi or cur is None:
            body_off = mi.end() if mi else depth
            label = ""
            ml = _LEAD.match(line[body_off:])
            if ml:
                label = plain(ml.group(2) or ml.group(3) or "").rstrip(":：").strip()
            while stack and stack[-1].depth >= depth:
                stack.pop()
            context = stack[-1].label if stack else ""
            unit = Unit(pos + body_off, pos + len(line.rstrip()), "item" if mi else "para", depth, label, context)
            sections[-1].units.append(unit)
            if mi:
                stack.append(unit)
            cur = unit
        else:
            cur.end = pos + len(line.rstrip())  # a paragraph over several lines
    return [s for s in sections if s.units or s.title]


def _restates(title_norm: str, question_norm: str) -> bool:
    if not title_norm:
        return False
    from rapidfuzz import fuzz

    return title_norm in question_norm or fuzz.ratio(title_norm, question_norm) >= 80


@dataclass(slots=True)
class Candidate:
    start: int
    end: int
    section: int
    label: str
    context: str
    kind: str
    score: float = 0.0


def _is_decoration(text: str) -> bool:
    p = plain(text)
    if _DECORATION.match(p):
        return True
    return bool(_LEADIN_END.search(p)) and content_length(normalize(p)) <= 16


def candidates(reference: str, sections: list[Section], max_chars: int = 90) -> list[Candidate]:
    out: list[Candidate] = []
    # sentence and clause separators only: a space could fall inside a tag (<div align=...>)
    split = _splitter(_SENTENCE_SEPARATORS[:-2], max_chars)
    for si, sec in enumerate(sections):
        for u in sec.units:
            body = reference[u.start : u.end]
            if _is_decoration(body):
                continue
            label_generic = not u.label or normalize(u.label) in _GENERIC_LABELS
            content = _LEAD.sub("", body, count=1) if u.label else body
            if content_length(normalize(plain(content))) < 3:
                continue  # a bare lead ("<strong>优点：</strong>"): its children carry the content
            if len(plain(body)) <= max_chars * 1.4:
                pieces = [(u.start, u.end)]
            else:
                pieces, cursor = [], u.start
                for chunk in split.split_text(body):
                    k = reference.find(chunk, cursor, u.end)
                    if k < 0:
                        continue
                    pieces.append((k, k + len(chunk)))
                    cursor = k + len(chunk)
            for k, (a, b) in enumerate(pieces):
                text = reference[a:b]
                if _is_decoration(text) or content_length(normalize(plain(text))) < 4:
                    continue
                out.append(Candidate(a, b, si, u.label if k == 0 and not label_generic else "", u.context, u.kind))
    return out


def _allot(counts: list[int], total: int) -> list[int]:
    """Slots per section: proportional to its claims, at least one each, at most its claims."""
    n = sum(counts)
    if n <= total:
        return counts[:]
    slots = [1 if c else 0 for c in counts]
    left = total - sum(slots)
    while left > 0:
        # the section whose share is the most below its claims' share gets the next slot
        best = max((i for i, c in enumerate(counts) if slots[i] < c), key=lambda i: counts[i] / n * total - slots[i], default=None)
        if best is None:
            break
        slots[best] += 1
        left -= 1
    return slots


def _merge_to(cands: list[Candidate], slots: int) -> list[list[Candidate]]:
    """Neighbouring claims merged until `slots` remain: the smallest pair first, claims under the
    same bold lead or list item before others."""
    groups = [[c] for c in cands]
    while len(groups) > slots and len(groups) > 1:
        def cost(i: int) -> float:
            a, b = groups[i], groups[i + 1]
            size = sum(c.end - c.start for c in a + b)
            same = a[-1].context == b[0].context and a[-1].context != ""
            return size * (0.6 if same else 1.0)

        i = min(range(len(groups) - 1), key=cost)
        groups[i : i + 2] = [groups[i] + groups[i + 1]]
    return groups
