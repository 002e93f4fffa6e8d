"""Key points proposed by the judge model (`grader rubric build --llm`), kept only when grounded.

The model gets the question and the reference answer (prompts/rubric_build_*.md, rendered
strictly, delimiters neutralised) and replies with points as JSON (a JSON schema is requested; a
server that rejects it is asked with JSON mode, then plain text, as the judge does). The reply goes
through the same `JudgeClient` and the same SQLite cache as grading (key: model, server, prompt
version, question, reference).

Grounding, applied to every proposed point:
- its `source` must occur in the reference: verbatim, or after normalisation (tags, case, width,
  whitespace), or with rapidfuzz partial_ratio >= 90; the stored source is then the reference's own
  span (verbatim), never the model's wording;
- its keyword groups must each have an alias found in the reference or in the point's text; a group
  with none is dropped, and a point left with no group is dropped.
A point that fails is dropped and counted; the caller falls back to the offline builder when no
point survives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..llm.cache import cache_key, open_cache
from ..errors import JudgeError
from ..errors import FormatRejected
from ..llm.chat import ChatRequest
from ..llm.reply import extract_json, strict_schema
from ..models import KeyPoint
from ..llm.prompts import load_template, version
from ..settings import Settings
from ..text import normalize

GROUNDED = 90.0
FORMATS = ("json_schema", "json_object", "text")


class ProposedPoint(BaseModel):
    """One key point of the reference answer."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default="", description="A short English slug for the point.")
    text: str = Field(description="The claim, one short sentence, in the reference's language.")
    source: str = Field(description="A span copied verbatim from the reference answer that states the point.")
    keywords: list[list[str]] = Field(default_factory=list, description="Alias groups, most specific first.")
    weight: float = Field(default=1.0, description="3 core, 2 important, 1 detail, 0.5 background.")


class ProposedRubric(BaseModel):
    """Key points of a reference answer."""

    model_config = ConfigDict(extra="ignore")

    points: list[ProposedPoint]


SCHEMA = strict_schema(ProposedRubric.model_json_schema())


def prompt_version() -> str:
    return version(load_template("rubric_build_system").source, load_template("rubric_build_user").source,
                   json.dumps(SCHEMA, sort_keys=True))


def _response_format(level: int) -> dict | None:
    kind = FORMATS[level]
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "rubric_points", "strict": True, "schema": SCHEMA}}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", normalize(re.sub(r"</?[a-zA-Z][^<>]{0,200}>", "", text)))


def is_grounded(source: str, reference: str) -> bool:
    """The source occurs in the reference after normalisation, or nearly (partial_ratio >= 90)."""
    from rapidfuzz import fuzz

    s, r = _compact(source), _compact(reference)
    return bool(s) and (s in r or fuzz.partial_ratio(s, r) >= GROUNDED)


def ground_source(source: str, reference: str) -> str | None:
    """The span to store for a proposed source: the reference's own text when it can be aligned
    with it, else the proposed text when it is grounded after normalisation; None when neither."""
    from rapidfuzz import fuzz

    s = source.strip().strip("\"'“”「」").strip()
    if not s:
        return None
    if s in reference:
        return s
    if not is_grounded(s, reference):
        return None
    al = fuzz.partial_ratio_alignment(s, reference)
    if al is not None and al.score >= GROUNDED:
        return reference[al.dest_start : al.dest_end].strip() or s
    return s  # differs from the reference only in markup or spacing


def alias_grounded(alias: str, *texts: str) -> bool:
    a = _compact(alias)
    return bool(a) and any(a in _compact(t) for t in texts)


@dataclass(slots=True)
class LLMOutcome:
    points: list[KeyPoint]
    proposed: int = 0
    dropped: list[str] = field(default_factory=list)  # why each dropped point was dropped
    cache_hit: bool = False


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:32]


def ground(proposed: ProposedRubric, reference: str) -> LLMOutcome:
    out = LLMOutcome([], proposed=len(proposed.points))
    ids: set[str] = set()
    for i, p in enumerate(proposed.points, start=1):
        src = ground_source(p.source, reference)
        if src is None:
            out.dropped.append(f"{p.id or i}: source not found in the reference ({p.source[:40]!r})")
            continue
        groups = [[a.strip() for a in g if a and a.strip()] for g in p.keywords]
        groups = [g for g in groups if g and any(alias_grounded(a, reference, p.text) for a in g)]
        if not groups or not p.text.strip():
            out.dropped.append(f"{p.id or i}: no keyword group grounded in the reference")
            continue
        pid = _slug(p.id) or f"p{i}"
        if not re.match(r"^[a-z0-9]", pid):
            pid = f"p{i}"
        base, n = pid, 1
        while pid in ids:
            n += 1
            pid = f"{base}-{n}"
        ids.add(pid)
        weight = p.weight if 0 < p.weight <= 10 else 1.0
        out.points.append(KeyPoint(id=pid, text=p.text.strip(), weight=weight, keywords=groups, source=src))
    return out


def _parse(text: str) -> ProposedRubric:
    objects = [o for o in extract_json(text) if "points" in o]
    if not objects:
        raise JudgeError('the model\'s reply has no JSON object with a "points" list')
    try:
        return ProposedRubric.model_validate(objects[-1])
    except ValidationError as exc:
        raise JudgeError(f"the model's key points do not validate: {exc.errors()[0]['msg']}") from None


def propose_points(question: str, reference: str, settings: Settings, max_points: int = 12) -> LLMOutcome:
    """Ask the model for key points of `reference`; keep the grounded ones. Raises JudgeError."""
    from ..llm.client import shared_client  # openai, only when a model is asked

    client = shared_client(settings)
    system = load_template("rubric_build_system").render()
    user = load_template("rubric_build_user").render(
        question=question, reference_answer=reference, min_points=min(5, max_points), max_points=max_points
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    cache = open_cache(settings.resolved_cache_path()) if settings.use_cache else None
    key = cache_key(kind="rubric_build", model=settings.model, base_url=settings.base_url, prompt=prompt_version(),
                    question=question, reference=reference, max_points=max_points)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            try:
                outcome = ground(ProposedRubric.model_validate(hit), reference)
                outcome.cache_hit = True
                return outcome
            except ValidationError:
                pass
    level = 0
    while True:
        try:
            reply = client.complete(ChatRequest(messages, _response_format(level)))
            break
        except FormatRejected:
            level += 1
            if level >= len(FORMATS):
                raise JudgeError("the server rejected every response format") from None
    proposed = _parse(reply.text)
    if cache is not None:
        cache.put(key, proposed.model_dump(mode="json"))
    return ground(proposed, reference)
