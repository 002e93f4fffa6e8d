"""Feedback to the candidate, decided here only: the judge's own words (llm mode) or the grader's
summary, in the answer's language, with what the flags mean for the candidate."""

from __future__ import annotations

from .answer import INJECTED_KEEPS
from .plain import CLAIMS, Point

_KEEPS = round(INJECTED_KEEPS * 100)  # what an answer that addresses the grader keeps, in %
_FEEDBACK = {
    "zh": {
        "empty": "没有可评分的内容：请写出你的回答。",
        "off_topic": "回答与题目无关：请针对题目作答。",
        "covers": "覆盖 {n}/{total} 个要点",
        "partly": "（其中 {n} 个部分覆盖）",
        "wrong": "与要点相反的说法：",
        "claims": "错误的说法：",
        "add": "可以补充：",
        "sep": "；",
        "end": "。",
        "keyword_stuffing": "只列出术语而没有解释，不能得高分。",
        "prompt_injection": f"写给评分者的指令已被忽略，其余内容只计 {_KEEPS}% 的分数。",
    },
    "en": {
        "empty": "Nothing to grade: write your answer.",
        "off_topic": "The answer does not address the question.",
        "covers": "Covers {n}/{total} key points",
        "partly": " ({n} of them partly)",
        "wrong": " States the opposite of: ",
        "claims": " Wrong claim: ",
        "add": " Consider adding: ",
        "sep": "; ",
        "end": ".",
        "keyword_stuffing": " Listing terms without explaining them earns little.",
        "prompt_injection": f" Instructions addressed to the grader were ignored, and the rest keeps {_KEEPS}% of its score.",
    },
}


def write_feedback(points: list[Point], flags: list[str], lang: str, model_feedback: str | None = None) -> str:
    """The feedback of a grade, in `lang`. The judge's own feedback (llm mode) when it gave one,
    else a short summary: what is covered, the known wrong claims stated, what is reversed, and what
    is worth adding. Either way an answer with text addressed to the grader is told it was ignored."""
    t = _FEEDBACK["zh" if lang == "zh" else "en"]
    if model_feedback is not None:
        ignored = " " + t["prompt_injection"].lstrip() if "prompt_injection" in flags else ""
        return model_feedback + ignored
    for flag in ("empty", "off_topic"):
        if flag in flags:
            return t[flag]
    covered = sum(1 for p in points if p.verdict == "covered")
    partial = sum(1 for p in points if p.verdict == "partial")
    # a known wrong claim the answer states is named as such; other contradictions by the point
    said = [p.reason[len(CLAIMS):] for p in points if p.verdict == "contradicted" and (p.reason or "").startswith(CLAIMS)]
    wrong = [p.text for p in points if p.verdict == "contradicted" and not (p.reason or "").startswith(CLAIMS)]
    missing = [p.text for p in points if p.verdict == "missing"]
    claims = lambda texts: t["sep"].join(x.rstrip("。.；;，, ") for x in texts[:3]) + t["end"]  # noqa: E731
    # a partly made point is made: "0/1 key points" beside a score of 9 read as a contradiction
    parts = [t["covers"].format(n=covered + partial, total=len(points)) + (t["partly"].format(n=partial) if partial else "") + t["end"]]
    if said:
        parts.append(t["claims"] + claims(said))
    if wrong:
        parts.append(t["wrong"] + claims(wrong))
    if missing:
        parts.append(t["add"] + claims(missing))
    parts.extend(t[flag] for flag in ("keyword_stuffing", "prompt_injection") if flag in flags)
    return "".join(parts)
