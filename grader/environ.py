"""The environment as Settings reads it, without pydantic: `Settings.from_env` validates these
values, and the CLI's fast path (`cli/fast.py`) grades with them, never building a Settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import UsageError
from .plain import ALL_MODES

GRADE_BUDGET = 0.05  # Settings.grade_budget's default
MAX_ANSWER_CHARS = 20000  # Settings.max_answer_chars'


def _user_dir(kind: str) -> Path:
    """The user's cache (`kind` "cache") or data directory for the grader, as platformdirs gives it.
    The cache directory on Linux is read here from the XDG variables as platformdirs reads them:
    importing platformdirs costs ~15 ms, a tenth of a cold `grader grade` (a cache elsewhere in an
    odd environment would cost speed only)."""
    if kind == "cache" and sys.platform == "linux" and "ANDROID_DATA" not in os.environ:
        base = os.environ.get("XDG_CACHE_HOME", "")
        home = os.environ.get("HOME", "")
        if os.path.isabs(base):
            return Path(base, "grader")
        if os.path.isabs(home):
            return Path(home, ".cache", "grader")
    import platformdirs

    fn = platformdirs.user_cache_dir if kind == "cache" else platformdirs.user_data_dir
    return Path(fn("grader", appauthor=False))


def _seconds(env: dict[str, str], name: str) -> float:
    value = env[name]
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < 1e6:  # nan fails too
        raise UsageError(f"{name}={value!r} is not a number of seconds: set it to e.g. 30, or unset it")
    return seconds


def check_mode(mode: str) -> str:
    if mode not in ALL_MODES:
        raise UsageError(f"unknown mode {mode!r}: use one of {', '.join(ALL_MODES)}")
    return mode


def env_values(env: dict[str, str] | None = None) -> dict:
    """The settings the environment gives (GRADER_*, OPENAI_*), typed and checked: a bad value
    raises UsageError naming the variable."""
    env = dict(os.environ if env is None else env)
    values: dict = {
        "mode": env.get("GRADER_MODE") or "fuzzy",
        "bank": env.get("GRADER_BANK") or None,
        "model": env.get("GRADER_MODEL") or None,
        "base_url": env.get("OPENAI_BASE_URL") or None,
        "api_key": env.get("OPENAI_API_KEY") or None,
        "api_key_server": env.get("GRADER_API_KEY") or None,
    }
    if env.get("GRADER_TIMEOUT"):
        values["timeout"] = _seconds(env, "GRADER_TIMEOUT")
    if env.get("GRADER_CACHE"):
        values["cache_path"] = Path(env["GRADER_CACHE"])
    if env.get("GRADER_DATA_DIR"):
        values["data_dir"] = Path(env["GRADER_DATA_DIR"])
    if env.get("GRADER_EXAMPLES"):
        values["examples"] = Path(env["GRADER_EXAMPLES"])
    if env.get("GRADER_HISTORY"):
        values["history_path"] = Path(env["GRADER_HISTORY"])
    if env.get("GRADER_GRADE_BUDGET"):
        values["grade_budget"] = 0.0 if env["GRADER_GRADE_BUDGET"].strip() == "0" else _seconds(env, "GRADER_GRADE_BUDGET")
    if env.get("GRADER_HISTORY_TIMEOUT"):
        values["history_timeout"] = _seconds(env, "GRADER_HISTORY_TIMEOUT")
    return values


class OfflineSettings:
    """What an offline grade reads of a Settings (`pipeline.grade_flow` with mode keyword or fuzzy),
    from the environment and the CLI's mode and bank: the fast path's settings."""

    __slots__ = ("mode", "bank", "grade_budget", "max_answer_chars")

    def __init__(self, mode: str | None = None, bank: str | None = None, env: dict[str, str] | None = None):
        values = env_values(env)
        self.mode = check_mode(mode or values["mode"])
        self.bank = bank or values["bank"]
        self.grade_budget = values.get("grade_budget", GRADE_BUDGET)
        self.max_answer_chars = MAX_ANSWER_CHARS
