"""The API's request and response models (what the OpenAPI document shows)."""

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model, model_validator

from ..models import GradeResult, scrub


class BankSummary(BaseModel):
    name: str
    title: str
    language: str
    description: Optional[str] = None
    source: Optional[str] = None
    licence: Optional[str] = None
    questions: int = Field(description="Number of questions in the bank.")
    default: bool = Field(description="True for the bank used when a request names none.")


class BankList(BaseModel):
    banks: list[BankSummary]


class QuestionSummary(BaseModel):
    id: str
    question: str


class QuestionList(BaseModel):
    bank: str
    questions: list[QuestionSummary]


class RubricPoint(BaseModel):
    id: str
    text: str
    weight: float


class QuestionDetail(BaseModel):
    bank: str
    id: str
    question: str
    reference_answer: Optional[str]
    open: bool = Field(description="True when the question has no single right answer.")
    rubric_version: str
    points: list[RubricPoint]


class ServerInfo(BaseModel):
    version: str
    modes: list[str]
    default_mode: str
    default_bank: str
    reference_grading: bool = Field(description="True when a body may carry reference_answer instead of question_id.")
    max_answer_chars: int
    max_body_bytes: int
    max_batch_items: int
    auth: bool = Field(description="True when requests to /v1 need a bearer token.")
    judge: bool = Field(False, description="True when a judge model is configured: llm and hybrid can be graded.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


_NULL = {"type": "null"}
_ONE_TARGET = {
    # The validator's rule, stated in the schema so generated clients (and schemathesis) know it:
    # a bank question (question_id, optional bank) or an ad-hoc reference (reference_answer,
    # optional question); a null field counts as absent.
    "oneOf": [
        {
            "required": ["question_id"],
            "properties": {"question_id": {"type": "string"}, "reference_answer": _NULL, "question": _NULL, "reference_answers": _NULL},
        },
        {
            "required": ["reference_answer"],
            "properties": {"reference_answer": {"type": "string"}, "question_id": _NULL, "bank": _NULL},
        },
    ]
}


# A reference answer must hold some text to build key points from ("#" or "***" hold none).
_HAS_TEXT = r"[0-9A-Za-z\u00c0-\uffff]"


class _GradeFields(BaseModel):
    """The fields of a grading request; `mode` is narrowed per app to the modes it serves."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_TARGET)

    bank: Optional[str] = Field(default=None, min_length=1, max_length=200, description="Bank name; default: the server's.")
    question_id: Optional[str] = Field(default=None, min_length=1, max_length=200, description='Question id, e.g. "3".')
    reference_answer: Optional[str] = Field(
        default=None, min_length=1, pattern=_HAS_TEXT,
        description="Grade against this reference answer instead of a bank question (it needs a letter, digit or CJK character).",
    )
    question: Optional[str] = Field(default=None, description="The question text, with reference_answer.")
    reference_answers: Optional[list[str]] = Field(
        default=None, max_length=20,
        description="Other reference answers to the same question, with reference_answer: the answer keeps its best grade.",
    )
    answer: str = Field(description="The answer to grade; over the server's max_answer_chars it is refused with 413.")

    @model_validator(mode="before")
    @classmethod
    def _scrub(cls, data):
        """A lone surrogate ("\\ud800" in the JSON) cannot be written back out: it becomes U+FFFD."""
        if not isinstance(data, dict):
            return data
        clean = lambda v: scrub(v) if isinstance(v, str) else v  # noqa: E731
        return {k: [clean(x) for x in v] if isinstance(v, list) else clean(v) for k, v in data.items()}

    @model_validator(mode="after")
    def _one_target(self):
        if (self.question_id is None) == (self.reference_answer is None):
            raise ValueError("give either question_id (a bank question) or reference_answer (ad-hoc), not both or neither")
        if self.reference_answer is not None and self.bank is not None:
            raise ValueError("bank is only used with question_id; drop it when grading against reference_answer")
        if self.question is not None and self.reference_answer is None:
            raise ValueError("question is only used with reference_answer")
        if self.reference_answers is not None and self.reference_answer is None:
            raise ValueError("reference_answers is only used with reference_answer (the main reference)")
        return self


def _request_models(
    modes: tuple[str, ...], default_mode: str, max_items: int
) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    mode_type = Literal.__getitem__(modes)  # Literal[*modes] on Python >= 3.11
    mode_field = (
        Optional[mode_type],
        Field(default=None, description=f"Grading mode; default {default_mode!r}."),
    )
    grade = create_model("GradeRequest", __base__=_GradeFields, mode=mode_field)
    item = create_model(
        "BatchItem",
        __base__=grade,
        id=(Optional[Union[StrictStr, StrictInt]], Field(default=None, description="Echoed in the result; default: the item's index.")),
    )
    batch = create_model(
        "BatchRequest",
        __config__=ConfigDict(extra="forbid"),
        items=(list[item], Field(min_length=1, max_length=max_items, description=f"1 to {max_items} items.")),
    )
    return grade, item, batch


class ItemError(BaseModel):
    type: str
    message: str


class BatchItemResult(BaseModel):
    id: Union[str, int]
    result: Optional[GradeResult] = None
    error: Optional[ItemError] = None


class BatchResponse(BaseModel):
    results: list[BatchItemResult]
    graded: int
    errors: int
