"""One Settings object, read once at start (CLI, API) and passed down. Nothing reads the
environment at import time."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .environ import GRADE_BUDGET, MAX_ANSWER_CHARS, _user_dir, check_mode, env_values


class Settings(BaseModel):
    # validated only for what callers pass (`from_env`): its validator is built on first use
    model_config = ConfigDict(defer_build=True)

    mode: str = Field(default="fuzzy", description="Default mode; offline unless GRADER_MODE says otherwise.")
    bank: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    timeout: float = 60.0
    max_retries: int = 3
    reasks: int = 2
    seed: int = 7
    fallback: bool = True
    use_cache: bool = True
    cache_path: Path | None = None
    data_dir: Path | None = None
    history_path: Path | None = Field(default=None, description="Practice history database (GRADER_HISTORY).")
    history_timeout: float = Field(default=3.0, description="Seconds to wait for a locked history database.")
    max_answer_chars: int = MAX_ANSWER_CHARS
    examples: Path | None = Field(default=None, description="Scored answers shown to the judge as graded examples (GRADER_EXAMPLES).")
    n_examples: int = Field(default=3, ge=1, le=20, description="How many graded examples per answer.")
    grade_budget: float = Field(
        default=GRADE_BUDGET, description="CPU seconds one offline grade may take (GRADER_GRADE_BUDGET; 0: no limit); past it the "
        "answer is graded unscored with the over_time_budget flag.",
    )
    api_key_server: str | None = Field(default=None, repr=False, description="GRADER_API_KEY for `grader serve`.")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        values = env_values(env)
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(given)
        # what was read above is typed and checked already; pydantic validates what callers pass
        # (CLI options, the API's settings) beyond a mode or bank name: a grade with no
        # such option never builds the validator, nor looks up pydantic's plugins (~20 ms)
        plain = {k for k in ("mode", "bank") if isinstance(given.get(k), str)}
        s = cls(**values) if given.keys() - plain else cls.model_construct(**values)
        s.check_mode(s.mode)
        return s

    check_mode = staticmethod(check_mode)

    def resolved_cache_path(self) -> Path:
        return self.cache_path or _user_dir("cache") / "judge-cache.sqlite3"

    def resolved_data_dir(self) -> Path:
        return self.data_dir or _user_dir("data")

    def resolved_history_path(self) -> Path:
        """The practice history: $GRADER_HISTORY, else history.sqlite3 in the data directory."""
        return (self.history_path or self.resolved_data_dir() / "history.sqlite3").expanduser()
