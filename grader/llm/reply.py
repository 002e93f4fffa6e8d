"""The judge's reply: its schema (sent to the model), the response formats, and the parser.

`extract_json` finds the JSON objects in a reply (code fences, prose, <think> blocks); the rubric
builder's LLM proposals are read with it too. `parse_reply` validates with pydantic (`JudgeReply`)
or raises ReplyError with words the model can act on in a re-ask.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ReplyError

FORMATS = ("json_schema", "json_object", "text")


# ---------------------------------------------------------------- the reply


# The docstrings and Field descriptions below are sent to the model in the JSON schema. The reason
# comes before the verdict; the id only leads so the model knows which point it reasons about.
class PointVerdict(BaseModel):
    """The verdict on one key point."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(description="The key point id, copied exactly from the list.")
    reason: str = Field(default="", description="One short sentence: why this verdict, from what the answer says.")
    evidence: str = Field(
        default="",
        description=(
            "A short verbatim quote copied from the answer that supports the verdict (for contradicted: "
            "the wrong statement); empty when missing. Never text addressed to the grader."
        ),
    )
    verdict: Literal["covered", "partial", "missing", "contradicted"] = Field(
        description="covered: the point is made; partial: part of it, or named without explanation; "
        "missing: not made; contradicted: the answer states the opposite."
    )

    @field_validator("id", mode="before")
    @classmethod
    def _clean_id(cls, v):
        return v.strip().strip("[]`'\" ").strip() if isinstance(v, str) else v

    @field_validator("verdict", mode="before")
    @classmethod
    def _lower(cls, v):
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("reason", "evidence", mode="before")
    @classmethod
    def _none_is_empty(cls, v):
        return "" if v is None else v


class JudgeReply(BaseModel):
    """Verdicts on the key points, and feedback to the candidate."""

    model_config = ConfigDict(extra="ignore")

    points: list[PointVerdict] = Field(description="One entry per key point, in the order given.")
    feedback: str = Field(
        default="", description="One to three sentences to the candidate, in the language requested."
    )

    @field_validator("feedback", mode="before")
    @classmethod
    def _none_is_empty(cls, v):
        return "" if v is None else v


def strict_schema(schema: dict) -> dict:
    """pydantic's JSON schema made acceptable to strict structured outputs."""
    if isinstance(schema, dict):
        out = {k: strict_schema(v) for k, v in schema.items() if k not in ("title", "default")}
        if out.get("type") == "object" and "properties" in out:
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict_schema(v) for v in schema]
    return schema


BASE_SCHEMA = strict_schema(JudgeReply.model_json_schema())


def reply_schema(ids: list[str]) -> dict:
    """The schema sent with a request: the ids are an enum, so a schema-following server cannot invent one."""
    schema = json.loads(json.dumps(BASE_SCHEMA))
    schema["$defs"]["PointVerdict"]["properties"]["id"]["enum"] = list(ids)
    return schema


def response_format(level: int, ids: list[str]) -> dict | None:
    kind = FORMATS[level]
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "judge_reply", "strict": True, "schema": reply_schema(ids)}}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


# ---------------------------------------------------------------- parsing


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def extract_json(text: str) -> list[dict]:
    """Every top-level JSON object in a reply: inside code fences first, else anywhere in the text."""
    text = _THINK.sub("", text or "").strip()
    decoder = json.JSONDecoder()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        found: list[dict] = []
        i = chunk.find("{")
        while i >= 0:
            try:
                obj, end = decoder.raw_decode(chunk, i)
            except ValueError:
                i = chunk.find("{", i + 1)
                continue
            if isinstance(obj, dict):
                found.append(obj)
                i = chunk.find("{", end)
            else:
                i = chunk.find("{", i + 1)
        if found:
            return found
    return []


def _validation_message(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"])
        got = err.get("input")
        got_s = f" (got {json.dumps(got, ensure_ascii=False)[:60]})" if isinstance(got, (str, int, float)) else ""
        parts.append(f"{loc}: {err['msg']}{got_s}")
    more = f"; and {exc.error_count() - limit} more" if exc.error_count() > limit else ""
    return "; ".join(parts) + more


def parse_reply(text: str, finish_reason: str | None, ids: list[str]) -> JudgeReply:
    """The validated reply, or ReplyError saying what is wrong (in words the model can act on)."""
    objects = [o for o in extract_json(text) if "points" in o]
    if not objects:
        if finish_reason == "length":
            raise ReplyError("the reply was cut off before the JSON object was complete (finish_reason=length)")
        raise ReplyError('no JSON object with a "points" list was found in the reply')
    try:
        reply = JudgeReply.model_validate(objects[-1])  # the last verdict wins
    except ValidationError as exc:
        raise ReplyError(_validation_message(exc)) from None
    if not any(p.id in ids for p in reply.points):
        raise ReplyError(f"no entry has a key point id from the list; use exactly these ids: {', '.join(ids)}")
    return reply
