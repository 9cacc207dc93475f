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

Usage is not scripted: it is counted from what each request carries and cached the way the API caches
(tests/agent/fake_accounting.py), and a reply longer than the request's ``max_tokens`` is cut there with
``stop_reason: max_tokens`` (a tool input cut mid-JSON, as the API streams it). ``fake.usages`` holds each request's
usage (None for one that was not answered).

Tool search (tests/agent/fake_tool_search.py): ``search("query")`` in a step runs the API's server-side search over
the request's deferred tools; with ``auto_search`` (the default) a scripted ``tool(...)`` of a deferred tool no
search has returned yet is preceded by the search a model would make for it. A call of a tool the request did not
offer at all is served (a model can name a tool it saw earlier) and listed in ``fake.unseen_calls``.
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

from tests.agent.fake_accounting import PromptCache, RequestError, count, is_search_tool, render
from tests.agent.fake_tool_search import deferred_tools, discovered, queries_for, search_blocks, search_tool

Blocks = list[dict[str, Any]]
UNSUPPORTED = "tools."  # how the API words an unknown tool type: "tools.0: Input tag '...' found using 'type' ..."


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": arguments}


def search(query: str) -> dict[str, Any]:
    """A tool search the model runs in this reply (expanded by the fake into the API's two blocks)."""
    return {"type": "_search", "query": query}


@dataclass
class Step:
    blocks: Blocks | Callable[[dict[str, Any]], Blocks]
    hold: bool = False
    check: Callable[[dict[str, Any]], Any] | None = None  # raises or returns False to fail
    label: str = ""
    stop_reason: str | None = None  # e.g. "pause_turn" or "refusal"; default: tool_use / end_turn / max_tokens


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
        if not msg.get("content") and i < len(messages) - 1:
            return f"messages.{i}: all messages must have non-empty content except for the optional final assistant"
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
    usages: list[dict[str, int] | None] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unseen_calls: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # requests answered with HTTP 400
    auto_search: bool = True
    tool_search: bool = True  # False: a model without tool search (its tool types are refused, as unknown ones are)
    cache: PromptCache = field(default_factory=PromptCache)
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

    def _next(self, body: dict[str, Any]) -> tuple[Step | None, str | None, int, Any]:
        """The step that answers ``body``, or the error the API would answer with (a refused request uses no step)."""
        with self._lock:
            problem = _conversation_error(body)
            self.requests.append(body)
            self.usages.append(None)
            index = len(self.requests) - 1
            if problem:
                self.unexpected.append(f"invalid conversation: {problem}")
                return None, problem, index, None
            try:
                rendered = self._validate(body)
            except RequestError as exc:
                self.refused.append(str(exc))
                if not str(exc).startswith(UNSUPPORTED):
                    self.unexpected.append(f"request {index}: the API would refuse it: {exc}")
                return None, str(exc), index, None
            if not self.steps:
                self.unexpected.append("request after the script ended")
                return None, "fake: no scripted step left", index, None
            return self.steps.pop(0), None, index, rendered

    def _validate(self, body: dict[str, Any]) -> Any:
        for i, t in enumerate(body.get("tools") or []):
            if is_search_tool(t) and not self.tool_search:
                raise RequestError(
                    f"{UNSUPPORTED}{i}: Input tag '{t['type']}' found using 'type' does not match any of "
                    "the expected tags"
                )
        return render(body)

    def _message(self, body: dict[str, Any], s: Step, index: int, rendered: Any) -> dict[str, Any]:
        """The reply to one request."""
        if s.check is not None and s.check(body) is False:
            raise AssertionError(f"the check of step {s.label or len(self.requests)} returned False")
        scripted = s.blocks(body) if callable(s.blocks) else s.blocks
        blocks, searches = self._expand(body, scripted)
        blocks, cut = _cut(blocks, int(body.get("max_tokens") or 0))
        stop = s.stop_reason or ("max_tokens" if cut else None)
        stop = stop or ("tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn")
        with self._lock:
            usage: dict[str, Any] = self.cache.account(rendered)
        usage["output_tokens"] = max(1, sum(_written(b) for b in blocks))
        if searches:
            usage["server_tool_use"] = {"tool_search_requests": searches}
        self.usages[index] = {k: v for k, v in usage.items() if isinstance(v, int)}
        return {
            "id": f"msg_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    def _expand(self, body: dict[str, Any], scripted: Blocks) -> tuple[Blocks, int]:
        """Scripted blocks as the API would send them: searches run, and (auto_search) the search a model makes
        before calling a deferred tool it has not found yet."""
        offered = {t.get("name") for t in body.get("tools") or [] if not t.get("defer_loading")}
        deferred = {t.get("name") for t in deferred_tools(body)}
        found = discovered(body)
        tool = search_tool(body)
        kind = "regex" if tool is not None and "regex" in str(tool.get("name")) else "bm25"
        out: Blocks = []
        searches = 0
        for block in scripted:
            if block["type"] == "_search":
                made, names = search_blocks(body, block["query"])
                out += made
                found |= set(names)
                searches += 1
                continue
            name = block.get("name") if block["type"] == "tool_use" else None
            if name is not None and name in deferred and name not in found and self.auto_search:
                for query in queries_for(str(name), kind):
                    made, names = search_blocks(body, query)
                    out += made
                    found |= set(names)
                    searches += 1
                    if name in names:
                        break
                else:
                    self.unexpected.append(f"tool search did not find {name} (queries {queries_for(name, kind)})")
            if name is not None and name not in offered and name not in found:
                self.unseen_calls.append(str(name))
            out.append(block)
        return out, searches

    def _app(self) -> Any:
        import anyio
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route

        async def messages(request: Request) -> Response:
            body = await request.json()
            s, error, index, rendered = self._next(body)
            if s is None:
                err = {"type": "error", "error": {"type": "invalid_request_error", "message": error}}
                return JSONResponse(err, status_code=400)
            try:
                message = self._message(body, s, index, rendered)
            except Exception as exc:  # a failed check: the test fails on assert_all_consumed, the SDK does not retry
                self.unexpected.append(f"step {s.label or len(self.requests)} check failed: {exc!r}")
                err = {"type": "error", "error": {"type": "invalid_request_error", "message": repr(exc)}}
                return JSONResponse(err, status_code=400)
            if not body.get("stream"):
                return JSONResponse({**message, "content": [_final(b) for b in message["content"]]})

            async def events() -> Any:
                start = {**message, "content": [], "stop_reason": None}
                start["usage"] = {**message["usage"], "output_tokens": 1}
                yield _sse("message_start", {"type": "message_start", "message": start})
                if s.hold:
                    self.usages[index] = None  # the reply never completes: nobody learns its usage
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
                    elif block["type"] in ("tool_use", "server_tool_use"):
                        head = {"type": block["type"], "id": block["id"], "name": block["name"], "input": {}}
                        yield _sse("content_block_start", _cbs(i, head))
                        raw = block.get("partial_json", json.dumps(block["input"]))
                        for k in range(0, len(raw), 17):
                            delta = {"type": "input_json_delta", "partial_json": raw[k : k + 17]}
                            yield _sse("content_block_delta", _cbd(i, delta))
                    else:  # a server tool's result arrives whole
                        yield _sse("content_block_start", _cbs(i, block))
                    yield _sse("content_block_stop", {"type": "content_block_stop", "index": i})
                usage = {k: v for k, v in message["usage"].items() if k != "output_tokens"}
                usage["output_tokens"] = message["usage"]["output_tokens"]
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


def _written(block: dict[str, Any]) -> int:
    """Output tokens of a block the model writes (a server tool's result is the API's, not the model's)."""
    if block["type"] == "text":
        return count(block["text"])
    if block["type"] in ("tool_use", "server_tool_use"):
        return count(block.get("partial_json", json.dumps(block["input"])))
    return 0


def _cut(blocks: Blocks, max_tokens: int) -> tuple[Blocks, bool]:
    """The reply as the API sends it under ``max_tokens``: cut in the block that reaches the limit."""
    out: Blocks = []
    left = max_tokens
    for block in blocks:
        size = _written(block)
        if size <= left or max_tokens <= 0:
            out.append(block)
            left -= size
            continue
        chars = max(0, left * 4)
        if block["type"] == "text":
            out.append({**block, "text": block["text"][:chars]})
        elif block["type"] in ("tool_use", "server_tool_use"):
            out.append({**block, "partial_json": json.dumps(block["input"])[:chars]})
        return out, True
    return out, False


def _final(block: dict[str, Any]) -> dict[str, Any]:
    """A block of a non-streamed reply (a cut tool input is as much of the JSON as parses: none)."""
    if "partial_json" in block:
        return {k: v for k, v in block.items() if k != "partial_json"} | {"input": {}}
    return block


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _cbs(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _cbd(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}
