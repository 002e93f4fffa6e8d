"""`grader rubric build`: a markdown bank -> a bank directory that `--bank DIR` grades with.

BANK.md --authoring.bankmd--> questions with their reference answers (ids kept)
        --authoring.build (offline) or authoring.llm_points (--llm, grounded)--> key points
        --> DIR/bank.yaml + one YAML per question (the bundled bank's schema; the reference verbatim)

A question without a reference answer is skipped with a warning, with or without --llm: a key
point must be grounded in a reference, and a rubric invented from the question alone would grade
against nothing anyone wrote. The teacher adds the reference and builds again (or writes that
rubric by hand, as rubrics/llm-interview/q16.yaml is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .bankmd import SourceBank, SourceQuestion, parse_bank
from ..errors import JudgeError, UsageError
from ..models import BankInfo, Question, Rubric
from .build import Corpus, build_rubric
from ..text import cjk_ratio, normalize


@dataclass(slots=True)
class BuildReport:
    out: Path
    written: list[str] = field(default_factory=list)  # question ids
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    llm_calls: int = 0
    llm_dropped: int = 0


def rubric_for(q: SourceQuestion, llm_settings=None, report: BuildReport | None = None, max_points: int = 12,
               corpus: Corpus | None = None) -> Rubric:
    assert q.reference is not None
    if llm_settings is not None:
        from .llm_points import propose_points

        try:
            outcome = propose_points(q.question, q.reference, llm_settings, max_points=max_points)
        except JudgeError as exc:
            if report is not None:
                report.warnings.append(f"question {q.id}: the model gave no usable key points ({exc}); built offline instead")
        else:
            if report is not None:
                report.llm_calls += 0 if outcome.cache_hit else 1
                report.llm_dropped += len(outcome.dropped)
                for why in outcome.dropped:
                    report.warnings.append(f"question {q.id}: dropped an ungrounded point: {why}")
            if outcome.points:
                return Rubric(points=outcome.points[:max_points], notes="key points proposed by the model and grounded in the reference")
            if report is not None:
                report.warnings.append(f"question {q.id}: no proposed point was grounded in the reference; built offline instead")
    return build_rubric(q.reference, q.question, max_points=max_points, corpus=corpus)


# ---------------------------------------------------------------- writing YAML like the bundled bank


class _Flow(list):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, data: str):
    if "\n" in data and not re.search(r"[ \t]\n|[ \t]$|\r", data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def question_yaml(q: Question) -> str:
    data = q.model_dump(mode="json", exclude_none=True)
    data.setdefault("reference_answer", None)
    data = {"id": data["id"], "question": data["question"], "reference_answer": data["reference_answer"], "rubric": data["rubric"]}
    rubric = data["rubric"]
    if not rubric.get("open"):
        rubric.pop("open", None)
    for p in rubric["points"]:
        p["keywords"] = [_Flow(g) for g in p["keywords"]]
        if not p.get("misconceptions"):  # a builder finds no wrong claims: no empty field in every point
            p.pop("misconceptions", None)
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100000)


def file_name(qid: str, width: int) -> str:
    return f"q{qid.zfill(width)}.yaml" if qid.isdigit() else f"q-{re.sub(r'[^A-Za-z0-9_-]+', '-', qid)}.yaml"


def build_bank(src: Path, out: Path, name: str | None = None, llm_settings=None, max_points: int = 12) -> BuildReport:
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read bank file {src}: {exc}; pass a readable UTF-8 markdown file") from None
    bank: SourceBank = parse_bank(text)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: give a directory")
    bank_name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", out.resolve().name).strip("-.") or "bank"
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", bank_name):
        raise UsageError(f"bank name {bank_name!r} must be letters, digits, '.', '_' or '-': pass --name")
    out.mkdir(parents=True, exist_ok=True)
    report = BuildReport(out)
    width = max([2] + [len(q.id) for q in bank.questions if q.id.isdigit()])
    sample = " ".join((q.question + (q.reference or "")) for q in bank.questions)
    info = BankInfo(
        name=bank_name,
        title=bank.title or bank_name,
        language="zh" if cjk_ratio(sample) >= 0.3 else "en",
        description=f"Built with 'grader rubric build' from {src.name} ({bank.layout} layout); review the key points before use.",
        source=bank.source,
    )
    corpus = Corpus([q.reference for q in bank.questions if q.reference])  # the field's words, bank-wide
    for q in bank.questions:
        if not q.reference or not normalize(q.reference):
            what = "no reference answer" if not q.reference else "a reference answer with no text (only markup or an empty formula)"
            report.skipped.append(q.id)
            report.warnings.append(
                f"question {q.id} (line {q.line} of {src.name}) has {what}: skipped; "
                "add its answer to the bank and build again"
            )
            continue
        rubric = rubric_for(q, llm_settings, report, max_points, corpus)
        question = Question(id=q.id, question=q.question, reference_answer=q.reference, rubric=rubric)
        (out / file_name(q.id, width)).write_text(question_yaml(question), encoding="utf-8")
        report.written.append(q.id)
    if not report.written:
        raise UsageError(f"{src}: no question has a reference answer, so no rubric was built")
    (out / "bank.yaml").write_text(
        yaml.dump(info.model_dump(mode="json", exclude_none=True), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100000),
        encoding="utf-8",
    )
    return report
