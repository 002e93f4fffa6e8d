"""What goes to a model server and comes back, without the transport (no openai here).

`ChatRequest` is what the judge's conversation yields, `ChatReply` what a driver sends back;
`check_config` says which server and model, or raises a JudgeConfigError naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from ..errors import JudgeConfigError
from ..settings import Settings

DUMMY_KEY = "not-needed"
OPENAI_HOSTS = ("api.openai.com",)


@dataclass(slots=True)
class ChatRequest:
    messages: list[dict]
    response_format: dict | None = None


@dataclass(slots=True)
class ChatReply:
    text: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str | None = None
    notes: list[str] = field(default_factory=list)  # transport events: retries, waits


def check_config(settings: Settings) -> tuple[str, str | None, str]:
    """(model, base_url, api_key), or a JudgeConfigError naming the fix."""
    if not settings.model:
        raise JudgeConfigError(
            "no judge model configured: set GRADER_MODEL or pass --model (and --base-url for a server "
            "other than OpenAI's), or use an offline mode (--mode fuzzy)"
        )
    base_url = settings.base_url or None
    key = settings.api_key
    if not key:
        host = (urlparse(base_url).hostname or "") if base_url else "api.openai.com"
        if host in OPENAI_HOSTS:
            raise JudgeConfigError(
                "no API key for the OpenAI API: set OPENAI_API_KEY, or pass --base-url for another "
                "OpenAI-compatible server (a server without auth needs no key)"
            )
        key = DUMMY_KEY
    return settings.model, base_url, key
