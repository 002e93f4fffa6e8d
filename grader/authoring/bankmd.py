"""Question banks written in markdown -> (question id, question, reference answer) triples.

Three layouts are read; the first that finds questions wins:

1. **Numbered list, then answers** (the seed bank's layout): a numbered list of questions
   (`1.  What is ...`), then a heading whose title is 参考回答 / 参考答案 / Answers, then one block
   per answer that starts with its number at the start of a line (`3.` alone, or `3. text`).
   Everything up to the next answer number (at the same, zero indentation) belongs to the answer,
   with its common indentation removed and trailing `---` rules dropped. A question with no block
   has no reference answer.
2. **Headings**: each `## question` heading (any level below the title's) is a question; the text
   under it, up to the next heading of the same or a higher level, is its reference answer.
3. **Q:/A: pairs**: `Q:` (or `Q3:`, `问：`) starts a question, `A:` (`答：`) its answer, up to the
   next `Q:`.

Ids keep the bank's own numbers when it has them (`3.`, `## 3. ...`, `Q3:`), else count from 1.
The reference answer is kept verbatim (only the block's common indentation is removed), so the key
points' `source` spans can be found in it.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from ..errors import UsageError


@dataclass(slots=True)
class SourceQuestion:
    id: str
    question: str
    reference: str | None
    line: int  # 1-based line of the question in the bank file


@dataclass(slots=True)
class SourceBank:
    title: str | None
    questions: list[SourceQuestion]
    layout: str  # "numbered" | "headings" | "qa"
    source: str | None = None  # a "参考自 / source:" link found in the file


_NUMBERED = re.compile(r"^\s{0,3}(\d{1,4})\s*[.、)）]\s+(\S.*)$")
_ANSWER_START = re.compile(r"^(\d{1,4})\s*[.、)）](?:\s+(.*))?$")  # at column 0
_ANSWERS_HEADING = re.compile(
    r"^#{1,6}\s*(?:参考回答|参考答案|答案|回答|answers?|reference answers?|solutions?)\s*[:：]?\s*$", re.IGNORECASE
)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUM_PREFIX = re.compile(r"^(?:(?:Q|问题|题)\s*)?(\d{1,4})\s*[.、)）:：]\s*", re.IGNORECASE)
_Q_LINE = re.compile(r"^\s*(?:\*\*)?(?:Q|问|问题)\s*(\d{0,4})\s*(?:\*\*)?\s*[:：](?:\*\*)?\s*(.*)$", re.IGNORECASE)
_A_LINE = re.compile(r"^\s*(?:\*\*)?(?:A|答|回答|答案)\s*(\d{0,4})\s*(?:\*\*)?\s*[:：](?:\*\*)?\s*(.*)$", re.IGNORECASE)
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_SOURCE_LINK = re.compile(r"(?:参考自|来源|source)\s*[:：]?\s*\[[^\]]*\]\((https?://[^)\s]+)\)", re.IGNORECASE)


def parse_bank(text: str) -> SourceBank:
    """The questions of a markdown bank; UsageError when none can be found."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    title = next((m.group(2).strip() for m in map(_HEADING.match, lines) if m and len(m.group(1)) == 1), None)
    src = _SOURCE_LINK.search(text)
    for layout, fn in (("numbered", _numbered), ("headings", _headings), ("qa", _qa)):
        found = fn(lines)
        if found:
            _check_ids(found)
            return SourceBank(title, found, layout, src.group(1) if src else None)
    raise UsageError(
        "no questions found: write a numbered question list followed by a '## 参考回答' section, "
        "'## question' headings each followed by its answer, or 'Q:' / 'A:' pairs"
    )


def _check_ids(found: list[SourceQuestion]) -> None:
    seen: dict[str, int] = {}
    for q in found:
        if q.id in seen:
            raise UsageError(f"line {q.line}: question number {q.id} is also used on line {seen[q.id]}; number each question once")
        seen[q.id] = q.line


def _block(lines: list[str]) -> str | None:
    """Lines of an answer as one verbatim text: common indentation removed, rules and blank
    lines at either end dropped."""
    while lines and (not lines[-1].strip() or _RULE.match(lines[-1])):
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if not lines:
        return None
    return textwrap.dedent("\n".join(lines)).strip("\n") or None


# ---------------------------------------------------------------- 1. numbered list + answers


def _numbered(lines: list[str]) -> list[SourceQuestion]:
    head = next((i for i, line in enumerate(lines) if _ANSWERS_HEADING.match(line.strip())), None)
    if head is None:
        return []
    questions: dict[str, SourceQuestion] = {}
    for i, line in enumerate(lines[:head]):
        m = _NUMBERED.match(line)
        if m:
            questions[m.group(1)] = SourceQuestion(m.group(1), m.group(2).strip(), None, i + 1)
        elif questions and line.strip() and line.startswith((" ", "\t")):
            last = list(questions.values())[-1]  # a question wrapped onto an indented line
            last.question += " " + line.strip()
    if not questions:
        return []
    starts: list[tuple[int, str, str]] = []  # (line index, id, rest of the line)
    expected = set(questions)
    for i in range(head + 1, len(lines)):
        m = _ANSWER_START.match(lines[i])
        if m and m.group(1) in expected and all(m.group(1) != s[1] for s in starts):
            starts.append((i, m.group(1), m.group(2) or ""))
    for k, (i, qid, rest) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        body = lines[i + 1 : end]
        if rest.strip():
            # "3. text": the first line's text is part of the answer, at the body's indentation
            indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
            body = [" " * indent + rest] + body
        questions[qid].reference = _block(body)
    return list(questions.values())


# ---------------------------------------------------------------- 2. headings


def _headings(lines: list[str]) -> list[SourceQuestion]:
    heads = [(i, len(m.group(1)), m.group(2).strip()) for i, line in enumerate(lines) if (m := _HEADING.match(line))]
    in_fence = _fenced(lines)
    heads = [h for h in heads if not in_fence[h[0]]]
    levels = sorted({lvl for _, lvl, _ in heads if lvl > 1})
    if not levels:
        return []
    qlevel = levels[0]
    out: list[SourceQuestion] = []
    n = 0
    for k, (i, lvl, title) in enumerate(heads):
        if lvl != qlevel:
            continue
        end = next((j for j, l2, _ in heads[k + 1 :] if l2 <= qlevel), len(lines))
        n += 1
        m = _NUM_PREFIX.match(title)
        qid = m.group(1) if m else str(n)
        question = title[m.end() :].strip() if m else title
        out.append(SourceQuestion(qid, _strip_bold(question), _block(lines[i + 1 : end]), i + 1))
    return out


def _fenced(lines: list[str]) -> list[bool]:
    out, inside = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            inside = not inside
            out.append(True)
            continue
        out.append(inside)
    return out


def _strip_bold(s: str) -> str:
    return re.sub(r"^\*\*(.*)\*\*$", r"\1", s.strip()).strip()


# ---------------------------------------------------------------- 3. Q:/A: pairs


def _qa(lines: list[str]) -> list[SourceQuestion]:
    out: list[SourceQuestion] = []
    cur: SourceQuestion | None = None
    answer: list[str] | None = None
    n = 0

    def close() -> None:
        if cur is not None:
            cur.reference = _block(answer) if answer is not None else None
            out.append(cur)

    for i, line in enumerate(lines):
        mq = _Q_LINE.match(line)
        if mq:
            close()
            n = int(mq.group(1)) if mq.group(1) else n + 1  # "Q3:" keeps 3; a bare "Q:" follows the last
            cur, answer = SourceQuestion(str(n), mq.group(2).strip(), None, i + 1), None
            continue
        if cur is None:
            continue
        ma = _A_LINE.match(line) if answer is None else None
        if ma:
            answer = [ma.group(2)]
        elif answer is not None:
            answer.append(line)
        elif line.strip():
            cur.question += " " + line.strip()  # a question over several lines
    close()
    return [q for q in out if q.question]
