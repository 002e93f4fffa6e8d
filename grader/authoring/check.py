"""`grader rubric check DIR`: what a person reviewing a bank directory must fix, file:line each.

Errors (exit 1): a file that is not valid YAML or does not match the schema (`extra="forbid"`,
positive weights, non-empty texts and groups, unique point ids: the model's own validators), a
question id used by two files, an empty key point text, a point whose `source` is not in the
reference answer (after normalisation: tags, case, width, whitespace; or rapidfuzz partial_ratio
>= 90) and that gives no `reason`, a point with neither source nor reason, a misconception whose text
or keyword groups are the point's own.
Warnings (exit 0): a keyword group none of whose aliases occurs in the reference or in the point's
own text (it may be a fine synonym, or a typo); a point with no keyword group; a misconception the
reference answer itself states (people give a copy of the reference full marks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..banks import _yaml_line, load_yaml_model, read_bank_file
from ..errors import RubricError
from ..models import BankInfo, Question
from .llm_points import alias_grounded, is_grounded
from ..text import normalize


@dataclass(slots=True)
class Finding:
    path: Path
    line: int | None
    message: str
    level: str  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.level}: {self.message}"


@dataclass(slots=True)
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    questions: int = 0
    points: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]


def _schema_error(path: Path, exc: RubricError) -> Finding:
    msg = str(exc)
    prefix = str(path)
    line = None
    if msg.startswith(prefix + ":"):
        rest = msg[len(prefix) + 1 :]
        head, _, tail = rest.partition(":")
        if head.strip().isdigit():
            line, msg = int(head), tail.strip()
        else:
            msg = rest.strip()
    return Finding(path, line, msg, "error")


def check_question_file(path: Path, report: CheckReport) -> Question | None:
    try:
        q = load_yaml_model(path, Question)
    except RubricError as exc:
        report.findings.append(_schema_error(path, exc))
        return None
    text = read_bank_file(path)
    ref = q.reference_answer or ""
    report.questions += 1

    def add(loc: tuple, message: str, level: str = "error") -> None:
        report.findings.append(Finding(path, _yaml_line(text, loc), message, level))

    for i, p in enumerate(q.rubric.points):
        report.points += 1
        base = ("rubric", "points", i)
        if not p.text.strip():
            add(base + ("text",), f"point {p.id!r} has an empty text")
        if p.source:
            if not ref:
                if not p.reason:
                    add(base + ("source",), f"point {p.id!r} has a source but the question has no reference answer; give a reason")
            elif not is_grounded(p.source, ref) and not p.reason:
                add(base + ("source",), f"point {p.id!r}: source not found in the reference answer; copy the span verbatim or add a reason")
        elif not p.reason:
            add(base, f"point {p.id!r} has neither a source in the reference nor a reason; add one")
        if not p.keywords:
            add(base + ("id",), f"point {p.id!r} has no keyword group: only paraphrase matching can credit it", "warning")
        for j, group in enumerate(p.keywords):
            if not any(alias_grounded(a, ref, p.text) for a in group):
                add(base + ("keywords", j), f"point {p.id!r}: keyword group {group} occurs neither in the reference nor in the point text", "warning")
        aliases = {normalize(a) for group in p.keywords for a in group}
        for j, word in enumerate(p.opposites):
            if normalize(word) in aliases:
                add(base + ("opposites", j), f"point {p.id!r}: {word!r} is both a keyword and an opposite; remove it from one of them")
        own = {frozenset(map(normalize, g)) for g in p.keywords}
        for j, misc in enumerate(p.misconceptions):
            if {frozenset(map(normalize, g)) for g in misc.keywords} == own or normalize(misc.text) == normalize(p.text):
                add(base + ("misconceptions", j), f"point {p.id!r}: misconception {j} is the point itself (its text or "
                    "its keyword groups): every answer that makes the point would state it; give the wrong claim's own words")
    if ref and any(p.misconceptions for p in q.rubric.points):
        from ..answer import prepare
        from ..matchers.compiled import compile_rubric
        from ..matchers.misconceptions import claims_stated

        where = {p.id: i for i, p in enumerate(q.rubric.points)}
        for pid, claim in claims_stated(compile_rubric(q.rubric, q.question + "\n" + ref), prepare(ref)):
            add(("rubric", "points", where[pid], "misconceptions"), f"point {pid!r}: the reference answer states the "
                f"wrong claim {claim!r}: a copy of the reference would lose the point; narrow its keywords or remove it", "warning")
    return q


def check_bank(path: Path) -> CheckReport:
    report = CheckReport()
    bank_yaml = path / "bank.yaml"
    if not bank_yaml.is_file():
        report.findings.append(Finding(bank_yaml, None, "missing: a bank directory needs bank.yaml (name, title)", "error"))
    else:
        try:
            load_yaml_model(bank_yaml, BankInfo)
        except RubricError as exc:
            report.findings.append(_schema_error(bank_yaml, exc))
    files = sorted(f for f in path.glob("*.yaml") if f.name != "bank.yaml")
    if not files:
        report.findings.append(Finding(path, None, "no question files (*.yaml beside bank.yaml)", "error"))
    seen: dict[str, Path] = {}
    for f in files:
        q = check_question_file(f, report)
        if q is None:
            continue
        if q.id in seen:
            line = _yaml_line(f.read_text(encoding="utf-8"), ("id",))
            report.findings.append(Finding(f, line, f"question id {q.id!r} is also used by {seen[q.id].name}", "error"))
        else:
            seen[q.id] = f
    return report


__all__ = ["CheckReport", "Finding", "check_bank", "yaml"]
