"""A scripted fake of the Anthropic Messages API on loopback, for driving the real ``anthropic`` SDK in tests.

Each test scripts the model's answers as steps; the server answers ``POST /v1/messages`` with the next step, as a
real SSE stream (message_start, content_block_start/delta/stop, message_delta, message_stop) when the request asks
for ``stream``, else as one JSON message. Like the real API it rejects a conversation whose tool_use blocks are not
answered by tool_result blocks. A request with no step left gets HTTP 400 and is remembered, so
``assert_all_consumed`` fails the test.

    fake.script(step(tool("kafka_list_topics", {})), step(text("done")))
    ...
    fake.assert_all_consumed()

A step's blocks may be a function of the request body (to read a token out of the last tool result), and a step
may ``hold``: the stream starts and then waits until the client goes away (to kill a worker mid-task).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Blocks = list[dict[str, Any]]


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": arguments}


@dataclass
class Step:
    blocks: Blocks | Callable[[dict[str, Any]], Blocks]
    hold: bool = False
    input_tokens: int = 1200
    output_tokens: int = 80
    cache_read_input_tokens: int = 0
    check: Callable[[dict[str, Any]], Any] | None = None  # raises or returns False to fail
    label: str = ""


def step(*blocks: dict[str, Any] | Callable[[dict[str, Any]], Blocks], **kwargs: Any) -> Step:
    """A scripted answer: content blocks, or one function of the request body that returns them."""
    if len(blocks) == 1 and callable(blocks[0]):
        return Step(blocks=blocks[0], **kwargs)
    return Step(blocks=[b for b in blocks if isinstance(b, dict)], **kwargs)


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the request's last user message."""
    last = body["messages"][-1]
    content = last["content"] if isinstance(last["content"], list) else []
    return [b for b in content if b.get("type") == "tool_result"]


def last_result_text(body: dict[str, Any]) -> str:
    results = tool_results(body)
    assert results, "the last message carries no tool result"
    content = results[-1]["content"]
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content)
    return str(content)


def _conversation_error(body: dict[str, Any]) -> str | None:
    """What the real API would reject: roles out of order, tool_use not answered by the next user message."""
    messages = body.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        return "messages must start with a user message"
    for i, msg in enumerate(messages):
        if i and msg.get("role") == messages[i - 1].get("role"):
            return f"messages {i - 1} and {i} have the same role"
        if msg.get("role") != "assistant" or not isinstance(msg.get("content"), list):
            continue
        ids = {b["id"] for b in msg["content"] if b.get("type") == "tool_use"}
        if not ids:
            continue
        if i + 1 >= len(messages):
            return "the last assistant message has tool_use blocks without results"
        answer = messages[i + 1].get("content")
        answered = (
            {b.get("tool_use_id") for b in answer if b.get("type") == "tool_result"}
            if isinstance(answer, list)
            else set()
        )
        if ids - answered:
            return f"tool_use ids without tool_result: {sorted(ids - answered)}"
    return None


@dataclass
class FakeAnthropic:
    steps: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: Any = None
    _thread: threading.Thread | None = None

    def script(self, *steps: Step) -> None:
        with self._lock:
            self.steps.extend(steps)

    @property
    def consumed(self) -> int:
        return len(self.requests)

    def assert_all_consumed(self) -> None:
        with self._lock:
            left = len(self.steps)
        assert not self.unexpected, f"unexpected model requests: {self.unexpected}"
        assert left == 0, f"{left} scripted step(s) were never requested"

    def wait_for_requests(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.consumed < count:
            assert time.monotonic() < deadline, f"only {self.consumed} of {count} model requests arrived"
            time.sleep(0.05)

    # --- serving ------------------------------------------------------------------------------------------------

    def _next(self, body: dict[str, Any]) -> tuple[Step | None, str | None]:
        with self._lock:
            problem = _conversation_error(body)
            self.requests.append(body)
            if problem:
                self.unexpected.append(f"invalid conversation: {problem}")
                return None, problem
            if not self.steps:
                self.unexpected.append("request after the script ended")
                return None, "fake: no scripted step left"
            return self.steps.pop(0), None

    def _message(self, body: dict[str, Any], s: Step) -> dict[str, Any]:
        if s.check is not None and s.check(body) is False:
            raise AssertionError(f"the check of step {s.label or len(self.requests)} returned False")
        blocks = s.blocks(body) if callable(s.blocks) else s.blocks
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        return {
            "id": f"msg_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cache_read_input_tokens": s.cache_read_input_tokens,
                "cache_creation_input_tokens": 0,
            },
        }

    def _app(self) -> Any:
        import anyio
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route

        async def messages(request: Request) -> Response:
            body = await request.json()
            s, error = self._next(body)
            if s is None:
                err = {"type": "error", "error": {"type": "invalid_request_error", "message": error}}
                return JSONResponse(err, status_code=400)
            try:
                message = self._message(body, s)
            except Exception as exc:  # a failed check: the test fails on assert_all_consumed, the SDK does not retry
                self.unexpected.append(f"step {s.label or len(self.requests)} check failed: {exc!r}")
                err = {"type": "error", "error": {"type": "invalid_request_error", "message": repr(exc)}}
                return JSONResponse(err, status_code=400)
            if not body.get("stream"):
                return JSONResponse(message)

            async def events() -> Any:
                start = {**message, "content": [], "stop_reason": None}
                start["usage"] = {**message["usage"], "output_tokens": 1}
                yield _sse("message_start", {"type": "message_start", "message": start})
                if s.hold:
                    while not self._release.is_set():
                        await anyio.sleep(0.1)
                    return
                for i, block in enumerate(message["content"]):
                    if block["type"] == "text":
                        yield _sse("content_block_start", _cbs(i, {"type": "text", "text": ""}))
                        words = block["text"].split(" ")
                        for j, word in enumerate(words):
                            chunk = word if j == len(words) - 1 else word + " "
                            yield _sse("content_block_delta", _cbd(i, {"type": "text_delta", "text": chunk}))
                    else:
                        head = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                        yield _sse("content_block_start", _cbs(i, head))
                        raw = json.dumps(block["input"])
                        for k in range(0, len(raw), 17):
                            delta = {"type": "input_json_delta", "partial_json": raw[k : k + 17]}
                            yield _sse("content_block_delta", _cbd(i, delta))
                    yield _sse("content_block_stop", {"type": "content_block_stop", "index": i})
                usage = {"output_tokens": message["usage"]["output_tokens"]}
                delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
                yield _sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
                yield _sse("message_stop", {"type": "message_stop"})

            return StreamingResponse(events(), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])

    def start(self) -> str:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "fake Messages API did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _cbs(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _cbd(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}
