"""The server's own configuration (`ApiConfig`, from GRADER_* variables) and the modes it serves."""

import os
from dataclasses import dataclass, field
from typing import Optional

from ..errors import UsageError
from ..models import ALL_MODES
from ..settings import Settings


@dataclass
class ApiConfig:
    """What only the server needs; read once at start like `Settings`.

    `GRADER_CORS_ORIGINS` (comma-separated; unset = no CORS headers at all),
    `GRADER_MAX_BODY_BYTES`, `GRADER_MAX_BATCH_ITEMS`, `GRADER_API_MODES` (comma-separated),
    `GRADER_SERVE_BUNDLED=0` (serve only the configured bank).
    """

    cors_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch_items: int = 100
    modes: Optional[tuple[str, ...]] = None  # None: every mode this install can grade with
    bundled_banks: bool = True  # False: serve only the bank named by Settings.bank

    @classmethod
    def from_env(cls, env: Optional[dict[str, str]] = None) -> "ApiConfig":
        env = dict(os.environ if env is None else env)
        cfg = cls()
        if env.get("GRADER_CORS_ORIGINS"):
            cfg.cors_origins = [o.strip() for o in env["GRADER_CORS_ORIGINS"].split(",") if o.strip()]
        for var, attr in (("GRADER_MAX_BODY_BYTES", "max_body_bytes"), ("GRADER_MAX_BATCH_ITEMS", "max_batch_items")):
            if env.get(var):
                try:
                    value = int(env[var])
                except ValueError:
                    raise UsageError(f"{var}={env[var]!r} is not a whole number; set it to e.g. {getattr(cfg, attr)}") from None
                if value < 1:
                    raise UsageError(f"{var} must be at least 1")
                setattr(cfg, attr, value)
        if env.get("GRADER_SERVE_BUNDLED", "").strip().lower() in ("0", "false", "no"):
            cfg.bundled_banks = False
        if env.get("GRADER_API_MODES"):
            cfg.modes = tuple(m.strip() for m in env["GRADER_API_MODES"].split(",") if m.strip())
        return cfg


def _served_modes(requested: Optional[tuple[str, ...]]) -> tuple[str, ...]:
    if requested is None:
        return ALL_MODES
    for m in requested:
        Settings.check_mode(m)
    if not requested:
        raise UsageError("no modes to serve: GRADER_API_MODES lists none")
    return tuple(requested)
