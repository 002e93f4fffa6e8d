"""Drivers of a flow: a generator that yields `ChatRequest`s and returns a result (the judge's
`matchers.judge.judge`, the pipeline's `grade_flow`). The flow does no I/O; a driver sends each
request through a client and answers the flow with what came back:

- a `ChatReply`, sent in;
- `FormatRejected` (the server refused the response_format), sent in as a value: the flow steps down;
- a `JudgeError` (the transport gave up, a configuration error), thrown in: the flow falls back or
  raises.

`client` is called only when a request is to be sent, so a flow that needs no call never makes one.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

from ..errors import FormatRejected, JudgeError

T = TypeVar("T")
Flow = Generator[Any, Any, T]


class Done:
    """The flow has finished with `value`."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _answer(flow: Flow, reply: Any):
    """Send a reply (or FormatRejected) into the flow, throw a JudgeError in: its next request, or Done."""
    step = flow.throw if isinstance(reply, JudgeError) else flow.send
    try:
        return step(reply)
    except StopIteration as stop:
        return Done(stop.value)


def run(flow: Flow[T], client: Callable[[], Any]) -> T:
    """Drive `flow` to its result with `client().complete` (sync)."""
    request = _answer(flow, None)
    while not isinstance(request, Done):
        try:
            reply = client().complete(request)
        except (FormatRejected, JudgeError) as exc:
            reply = exc
        request = _answer(flow, reply)
    return request.value


async def arun(flow: Flow[T], client: Callable[[], Any]) -> T:
    """Drive `flow` to its result with `await client().acomplete` (on an event loop)."""
    request = _answer(flow, None)
    while not isinstance(request, Done):
        try:
            reply = await client().acomplete(request)
        except (FormatRejected, JudgeError) as exc:
            reply = exc
        request = _answer(flow, reply)
    return request.value
