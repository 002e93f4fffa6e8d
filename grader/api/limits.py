"""What `grader serve` gives one connection: the server's limits, passed to uvicorn.

- A request must arrive whole (headers and body) within `GRADER_REQUEST_TIMEOUT` seconds (default
  15) of the connection opening or of the previous response: a client sending a header a byte at a
  time is closed, not waited on. An idle keep-alive connection is closed after 5 s.
- At most `GRADER_MAX_CONNECTIONS` connections (default 1,000, and never more than the open-file
  limit allows, less a margin for the server's own files) are held: past that, the connection
  still waiting longest for its request is closed to make room, so slow clients cannot fill the
  table and shut everyone else out (nor make accept() fail with "Too many open files").
- Headers over 16 KiB are refused (400); bodies over GRADER_MAX_BODY_BYTES by the app (413).

The protocol is httptools' C parser where httptools is installed (uvicorn's pure-Python h11 costs
~0.07 ms more CPU per request, eval/bench_api.py), h11's otherwise: both carry these limits.
"""

from __future__ import annotations

import os
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # the h11 protocol serves alone
    httptools = None
    HttpToolsProtocol = None

DEFAULT_REQUEST_TIMEOUT = 15.0
DEFAULT_MAX_CONNECTIONS = 1000
FD_MARGIN = 64  # files the server keeps open besides its connections (banks, logs, caches, threads)
KEEP_ALIVE = 5
MAX_HEAD_BYTES = 16 * 1024


def _env_number(name: str, default: float) -> float:
    from ..errors import UsageError

    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise UsageError(f"{name}={value!r} is not a positive number: set it to e.g. {default:g}, or unset it")
    return number


def max_connections() -> int:
    wanted = int(_env_number("GRADER_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY:
            wanted = min(wanted, max(8, soft - FD_MARGIN))
    except (ImportError, ValueError, OSError):
        pass
    return wanted


class _Guard:
    """A deadline for each request to arrive whole and a connection cap, for a uvicorn protocol;
    the protocol says whether it is `_waiting()` for (part of) a request."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def connection_made(self, transport) -> None:  # type: ignore[override]
        if len(self.connections) >= _Guard.max_connections:
            waiting = [c for c in self.connections if isinstance(c, _Guard) and c._waiting()]
            if not waiting:
                transport.abort()  # every slot is serving a request: this one waits for none
                return
            min(waiting, key=lambda c: c._since)._drop()
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._since = time.monotonic()
        self._request_timer = self.loop.call_later(_Guard.request_timeout, self._request_timed_out)

    def _drop(self) -> None:
        timer = getattr(self, "_request_timer", None)
        if timer is not None:
            timer.cancel()
        self.connections.discard(self)
        self.transport.abort()

    def _request_timed_out(self) -> None:
        if self._waiting():
            self._drop()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        timer = getattr(self, "_request_timer", None)
        if timer is not None:
            timer.cancel()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc) -> None:
        timer = getattr(self, "_request_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)


class GuardedH11Protocol(_Guard, H11Protocol):
    """uvicorn's h11 protocol with the guard (h11 itself refuses headers over MAX_HEAD_BYTES)."""

    def _waiting(self) -> bool:
        """Still waiting for (part of) a request: its headers or its body."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing()


if HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the guard and a bound on the request head (llhttp
        keeps a header that has not ended, however long, until it ends)."""

        _begun = _whole = _answered = 0  # requests begun, received whole, answered on this connection
        _head = 0  # bytes received while a request head was incomplete
        _in_head = False

        def _waiting(self) -> bool:
            """Still waiting for (part of) a request: nothing to answer, or a request not yet whole."""
            pending = self._begun > self._whole or self._whole == self._answered
            return pending and not self.transport.is_closing()

        def data_received(self, data: bytes) -> None:
            if self._in_head or self._begun == self._whole:  # between requests or inside a head
                self._head += len(data)
            super().data_received(data)
            if self._in_head and self._head > MAX_HEAD_BYTES and not self.transport.is_closing():
                self.send_400_response("Invalid HTTP request received.")

        def on_message_begin(self) -> None:
            self._begun += 1
            self._in_head = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_head, self._head = False, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._whole += 1
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._answered += 1
            super().on_response_complete()


def configure() -> None:
    """The protocol's limits from the environment (GRADER_REQUEST_TIMEOUT, GRADER_MAX_CONNECTIONS);
    a bad value is a UsageError naming it."""
    _Guard.request_timeout = _env_number("GRADER_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT)
    _Guard.max_connections = max_connections()


def server_limits(http: str = "auto") -> dict:
    """Keyword arguments for uvicorn.run / uvicorn.Config. The protocol is named by its import path,
    so that `--workers N` processes (which import this module afresh, with the same environment)
    configure it the same way. `http`: "auto" (httptools where installed), "httptools" or "h11".
    The event loop is asyncio's, uvloop installed or not: with short grades on the loop, uvloop
    gave about the same CPU per request and a p99 2-6x longer (6 alternating wrk runs by hand)."""
    configure()
    if http == "auto":
        http = "h11" if HttpToolsProtocol is None else "httptools"
    protocol = {"h11": "GuardedH11Protocol", "httptools": "GuardedHttpToolsProtocol"}[http]
    return {"http": f"{__name__}:{protocol}", "loop": "asyncio", "timeout_keep_alive": KEEP_ALIVE,
            "h11_max_incomplete_event_size": MAX_HEAD_BYTES}


def port_free(host: str, port: int) -> None:
    """Say a busy port before announcing the server (uvicorn would log it after the banner, exit 3)."""
    import socket

    from ..errors import UsageError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host!r}: {exc.strerror}; pass --host 127.0.0.1 or an address of this machine") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pass another --port "
                             f"(or stop the server already there)") from None


try:  # in a --workers process: the parent has checked the values already
    configure()
except Exception:  # noqa: BLE001 - the defaults stand; the parent reported the bad value
    pass
