"""Why a key point matched, for a person reading a grade: the rubric's terms its evidence holds.

Only terms found in the answer's own quote are named, never the aliases it lacks: the API does not
hand out a rubric's keyword lists.

The aliases are normalised once per question (`_alias_table`), not once per request: normalising
~250 aliases for every grade cost a third as much as the grade itself (eval/bench_api.py)."""

import json
from typing import Optional

from ..models import GradeResult, Question
from ..text import normalize

# (alias, its normalised form without spaces) per group, longest alias first, per point id
_Table = dict[str, list[list[tuple[str, str]]]]
_TABLES: dict[int, tuple[Question, _Table]] = {}  # id(question) -> (question, table)
_MAX_TABLES = 256  # bank questions are few; ad-hoc ones come and go


def _groups(keywords: list[list[str]]) -> list[list[tuple[str, str]]]:
    out = []
    for group in keywords:
        forms = ((alias, normalize(alias).replace(" ", "")) for alias in sorted(group, key=len, reverse=True))
        out.append([(alias, a) for alias, a in forms if a])
    return out


def _alias_table(question: Question) -> _Table:
    hit = _TABLES.get(id(question))
    if hit is not None and hit[0] is question:
        return hit[1]
    table = {p.id: _groups(p.keywords) for p in question.rubric.points}
    if len(_TABLES) >= _MAX_TABLES:
        _TABLES.clear()
    _TABLES[id(question)] = (question, table)  # the question is held: its id cannot be reused meanwhile
    return table


def _found(groups: list[list[tuple[str, str]]], evidence: str, plain: dict[str, str] | None = None) -> list[str]:
    """`plain`: evidence -> its normalised form, shared by the points of one grade (a sentence is
    often the evidence of two or three points: normalised once)."""
    ev = plain.get(evidence) if plain is not None else None
    if ev is None:
        ev = normalize(evidence).replace(" ", "")
        if plain is not None:
            plain[evidence] = ev
    found = []
    for group in groups:
        for alias, a in group:
            if a in ev:
                found.append(alias)
                break
    return found


def found_terms(keywords: list[list[str]], evidence: str) -> list[str]:
    """For each alias group, its longest alias found in the evidence (after the grader's normalisation)."""
    return _found(_groups(keywords), evidence)


def with_terms(result: GradeResult, question: Optional[Question]) -> str:
    """The result as JSON, each credited lexical point with `terms`: the terms found in its evidence."""
    data = result.model_dump(mode="json")
    table = _alias_table(question) if question is not None else {}
    plain: dict[str, str] = {}
    for p in data["points"]:
        if p["evidence"] and p["method"] != "llm" and p["verdict"] in ("covered", "partial", "contradicted"):
            p["terms"] = _found(table.get(p["id"], []), p["evidence"], plain)
    return json.dumps(data, ensure_ascii=False)
