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


def run(flow: Flow[T], client: Callable[[], Any]) -> T:
    """Drive `flow` to its result with `client().complete` (sync)."""
    step, value = flow.send, None
    while True:
        try:
            request = step(value)
        except StopIteration as stop:
            return stop.value
        try:
            step, value = flow.send, client().complete(request)
        except FormatRejected as exc:
            step, value = flow.send, exc
        except JudgeError as exc:
            step, value = flow.throw, exc


async def arun(flow: Flow[T], client: Callable[[], Any]) -> T:
    """Drive `flow` to its result with `await client().acomplete` (on an event loop)."""
    step, value = flow.send, None
    while True:
        try:
            request = step(value)
        except StopIteration as stop:
            return stop.value
        try:
            step, value = flow.send, await client().acomplete(request)
        except FormatRejected as exc:
            step, value = flow.send, exc
        except JudgeError as exc:
            step, value = flow.throw, exc
