"""Why a key point matched, for a person reading a grade: the rubric's terms its evidence holds.

Only terms found in the answer's own quote are named, never the aliases it lacks: the API does not
hand out a rubric's keyword lists."""

import json
from typing import Optional

from ..models import GradeResult, Question
from ..text import normalize


def found_terms(keywords: list[list[str]], evidence: str) -> list[str]:
    """For each alias group, its longest alias found in the evidence (after the grader's normalisation)."""
    ev = normalize(evidence).replace(" ", "")
    found = []
    for group in keywords:
        for alias in sorted(group, key=len, reverse=True):
            a = normalize(alias).replace(" ", "")
            if a and a in ev:
                found.append(alias)
                break
    return found


def with_terms(result: GradeResult, question: Optional[Question]) -> str:
    """The result as JSON, each credited lexical point with `terms`: the terms found in its evidence."""
    data = json.loads(result.model_dump_json())
    keywords = {p.id: p.keywords for p in question.rubric.points} if question is not None else {}
    for p in data["points"]:
        if p["evidence"] and p["method"] != "llm" and p["verdict"] in ("covered", "partial", "contradicted"):
            p["terms"] = found_terms(keywords.get(p["id"], []), p["evidence"])
    return json.dumps(data, ensure_ascii=False)
