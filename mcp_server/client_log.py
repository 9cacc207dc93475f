"""Log notifications for MCP clients that ask for them: ``logging/setLevel`` and ``notifications/message``.

A client opts in by setting a level for its connection (``logging/setLevel``, protocol 2025-11-25 and older) or per
request in ``_meta`` (2026-07-28). While one of its requests runs, it then receives, at that level and above:

- the server's own log records made on behalf of that request (``kafka_agent.*`` loggers, in the request's task or
  the worker threads it starts), e.g. the embedding model loading on the first memory call;
- one line when a tool call ends: ``info`` with its duration, ``warning`` when it returned an error.

Only the message travels, never a traceback; the home and data folders are shortened. Nothing is sent to a client that
did not ask, and nothing of one client's requests reaches another. The server's stderr log is unchanged: records
below its own level are made for a client that asked, and not printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp_types import EmptyResult, LoggingMessageNotification, LoggingMessageNotificationParams, SetLevelRequestParams

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
    from mcp.server.mcpserver import MCPServer

LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
# MCP level -> the lowest Python level it lets through
_PY = {"debug": 10, "info": 20, "notice": 25, "warning": 30, "error": 40, "critical": 50, "alert": 55, "emergency": 60}
STATE_KEY = "kafka_agent.log_level"
LOGGER = "kafka_agent"
BUFFER = 200  # notifications queued per request before later ones are dropped
MAX_TEXT = 2000


def mcp_level(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= 25:
        return "notice"
    return "info" if levelno >= logging.INFO else "debug"


@dataclass
class _Sink:
    """Where one request's log lines go: a bounded stream drained into notifications by the request's own task."""

    threshold: int
    send: Any
    loop: asyncio.AbstractEventLoop
    thread: int = field(default_factory=threading.get_ident)
    replace: tuple[tuple[str, str], ...] = ()
    dropped: int = 0

    def offer(self, levelno: int, logger: str, message: str) -> None:
        if levelno < self.threshold:
            return
        for old, new in self.replace:
            message = message.replace(old, new)
        item = (mcp_level(levelno), logger, message[:MAX_TEXT])
        if threading.get_ident() == self.thread:
            self._put(item)
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the request is long gone
            self.loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: tuple[str, str, str]) -> None:
        try:
            self.send.send_nowait(item)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.dropped += 1


_SINK: contextvars.ContextVar[_Sink | None] = contextvars.ContextVar("kafka_agent_log_sink", default=None)


class _Forward(logging.Handler):
    """On the ``kafka_agent`` logger: hands each record to the sink of the request it was made for, and passes it on
    to the root handlers only at the level the server's own log runs at (so stderr stays as it was)."""

    def __init__(self, own_level: int) -> None:
        super().__init__(logging.NOTSET)
        self.own_level = own_level

    def emit(self, record: logging.LogRecord) -> None:
        sink = _SINK.get()
        if sink is not None:
            with contextlib.suppress(Exception):  # a log line must never break the call it describes
                sink.offer(record.levelno, record.name, record.getMessage())
        if record.levelno >= self.stderr_level(record.name):
            logging.getLogger().handle(record)

    def stderr_level(self, name: str) -> int:
        """The level the record's logger had before forwarding lowered ``kafka_agent`` to DEBUG."""
        logger: logging.Logger | None = logging.getLogger(name)
        while logger is not None and logger.name != LOGGER:
            if logger.level:
                return logger.level
            logger = logger.parent
        return self.own_level or logging.getLogger().getEffectiveLevel()


_INSTALL_LOCK = threading.Lock()


def _install_forwarding() -> None:
    """Once per process, on the first client that asks: make every ``kafka_agent.*`` record, and route it."""
    with _INSTALL_LOCK:
        logger = logging.getLogger(LOGGER)
        if any(isinstance(h, _Forward) for h in logger.handlers):
            return
        own = logger.level
        logger.addHandler(_Forward(own))
        logger.setLevel(logging.DEBUG)
        logger.propagate = False


def _connection_state(ctx: ServerRequestContext[Any, Any]) -> dict[str, Any] | None:
    connection = getattr(ctx.session, "_connection", None)
    state = getattr(connection, "state", None)
    return state if isinstance(state, dict) else None


def requested_level(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The lowest level this request's client wants to hear, or None when it did not ask."""
    from mcp.server.connection import allowed_log_levels
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        allowed = allowed_log_levels(ctx.protocol_version, ctx.meta)
        return next((level for level in LEVELS if level in allowed), None)
    state = _connection_state(ctx)
    level = state.get(STATE_KEY) if state is not None else None
    return level if isinstance(level, str) else None


async def set_level(ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams) -> EmptyResult:
    """``logging/setLevel``: this connection hears log lines at ``params.level`` and above from now on."""
    state = _connection_state(ctx)
    if state is not None:
        state[STATE_KEY] = params.level
    _install_forwarding()
    return EmptyResult()


async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Around every request of a client that asked for logs: collect its log lines and send them before the result."""
    if ctx.request_id is None or ctx.method in ("initialize", "logging/setLevel", "ping"):
        return await call_next(ctx)
    level = requested_level(ctx)
    if level is None:
        return await call_next(ctx)
    _install_forwarding()
    send, receive = anyio.create_memory_object_stream[tuple[str, str, str]](BUFFER)
    sink = _Sink(_PY[level], send, asyncio.get_running_loop(), replace=_replacements(ctx))
    token = _SINK.set(sink)
    started = time.monotonic()
    result: HandlerResult = None
    error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, ctx, receive)
            try:
                result = await call_next(ctx)
                _tool_line(sink, ctx, result, time.monotonic() - started)
            except Exception as exc:  # raised after the group, unwrapped: the caller expects the error itself
                error = exc
            finally:
                send.close()
    finally:
        _SINK.reset(token)
    if error is not None:
        raise error
    return result


def _tool_line(sink: _Sink, ctx: ServerRequestContext[Any, Any], result: HandlerResult, seconds: float) -> None:
    if ctx.method != "tools/call":
        return
    name = str((ctx.params or {}).get("name", "?"))[:80]
    failed = isinstance(result, dict) and bool(result.get("isError"))
    if failed:
        sink.offer(logging.WARNING, "kafka_agent.tools", f"{name} returned an error after {seconds:.2f} s")
    else:
        sink.offer(logging.INFO, "kafka_agent.tools", f"{name} finished in {seconds:.2f} s")


async def _drain(ctx: ServerRequestContext[Any, Any], receive: Any) -> None:
    async with receive:
        async for level, logger, message in receive:
            notification = LoggingMessageNotification(
                params=LoggingMessageNotificationParams(level=level, logger=logger, data=message)  # type: ignore[arg-type]
            )
            try:
                await ctx.session.send_notification(notification, related_request_id=ctx.request_id)
            except Exception:  # the client went away: the result will not reach it either
                return


def _replacements(ctx: ServerRequestContext[Any, Any]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    settings = getattr(ctx.lifespan_context, "settings", None)
    data_dir = getattr(settings, "data_dir", None)
    if data_dir is not None:
        out.append((str(data_dir), "<data dir>"))
    out.append((str(Path.home()), "~"))
    return tuple(out)


def register(server: MCPServer[Any]) -> None:
    """Answer ``logging/setLevel`` (and so declare the logging capability) and forward log lines to who asked."""
    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    server.middleware.append(middleware)
