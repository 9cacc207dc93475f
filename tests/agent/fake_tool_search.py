"""The fake's tool search, run the way the API runs its server-side search: over the request's deferred tools (name,
description, argument names and argument descriptions), at most MAX_RESULTS references per search.

    regex  Python ``re.search`` with the model's pattern (case-sensitive unless it says ``(?i)``), at most 200
           characters; a bad pattern is a ``tool_search_tool_result_error`` (invalid_tool_input)
    bm25   the query's words scored with BM25 (k1 1.2, b 0.75) over the same text, words split on non-letters

The answer blocks are the API's: ``server_tool_use`` (id ``srvtoolu_...``, name ``tool_search_tool_bm25`` or
``tool_search_tool_regex``, input ``{"query": ...}``) then ``tool_search_tool_result`` whose content is a
``tool_search_tool_search_result`` with ``tool_references``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from typing import Any

from tests.agent.fake_accounting import is_search_tool

MAX_RESULTS = 5
MAX_PATTERN = 200


def search_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    return next((t for t in body.get("tools") or [] if is_search_tool(t)), None)


def deferred_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in body.get("tools") or [] if t.get("defer_loading") and not is_search_tool(t)]


def discovered(body: dict[str, Any]) -> set[str]:
    """Tools a search in the conversation so far returned (callable from then on)."""
    names: set[str] = set()
    for message in body.get("messages") or []:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            result = block.get("content") if block.get("type") == "tool_search_tool_result" else None
            refs = result.get("tool_references") if isinstance(result, dict) else None
            names.update(str(ref.get("tool_name")) for ref in refs or [])
    return names


def _text(tool: dict[str, Any]) -> str:
    props = (tool.get("input_schema") or {}).get("properties") or {}
    parts = [str(tool.get("name", "")), str(tool.get("description", ""))]
    for arg, schema in props.items():
        parts.append(str(arg))
        if isinstance(schema, dict) and schema.get("description"):
            parts.append(str(schema["description"]))
    return "\n".join(parts)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def run_search(kind: str, query: str, tools: list[dict[str, Any]]) -> list[str] | str:
    """Tool names found, best first, or an error code."""
    if kind == "regex":
        if len(query) > MAX_PATTERN:
            return "invalid_tool_input"
        try:
            pattern = re.compile(query)
        except re.error:
            return "invalid_tool_input"
        hits = [t for t in tools if pattern.search(_text(t))]
        hits.sort(key=lambda t: 0 if pattern.search(str(t.get("name", ""))) else 1)
        return [str(t["name"]) for t in hits[:MAX_RESULTS]]
    docs = [_words(_text(t)) for t in tools]
    if not docs:
        return []
    avg = sum(len(d) for d in docs) / len(docs)
    df = Counter(w for d in docs for w in set(d))
    scores: list[tuple[float, int]] = []
    for i, doc in enumerate(docs):
        tf = Counter(doc)
        score = 0.0
        for w in set(_words(query)):
            if not tf[w]:
                continue
            idf = math.log(1 + (len(docs) - df[w] + 0.5) / (df[w] + 0.5))
            score += idf * tf[w] * 2.2 / (tf[w] + 1.2 * (0.25 + 0.75 * len(doc) / avg))
        if score > 0:
            scores.append((-score, i))
    return [str(tools[i]["name"]) for _, i in sorted(scores)[:MAX_RESULTS]]


def search_blocks(body: dict[str, Any], query: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The two blocks of one search in a response, and the names found."""
    tool = search_tool(body)
    if tool is None:
        raise AssertionError("the script searches for tools, but the request has no tool search tool")
    name = str(tool["name"])
    kind = "regex" if "regex" in name else "bm25"
    found = run_search(kind, query, deferred_tools(body))
    use_id = f"srvtoolu_{uuid.uuid4().hex[:20]}"
    use = {"type": "server_tool_use", "id": use_id, "name": name, "input": {"query": query}}
    if isinstance(found, str):
        content: dict[str, Any] = {"type": "tool_search_tool_result_error", "error_code": found}
        found = []
    else:
        refs = [{"type": "tool_reference", "tool_name": n} for n in found]
        content = {"type": "tool_search_tool_search_result", "tool_references": refs}
    return [use, {"type": "tool_search_tool_result", "tool_use_id": use_id, "content": content}], found


def queries_for(tool_name: str, kind: str) -> list[str]:
    """What a model would search with to find ``tool_name``: its words, then its whole name."""
    words = [w for w in tool_name.rsplit("__", maxsplit=1)[-1].split("_") if w not in ("kafka", "agent")]
    if kind == "regex":
        return ["(?i)" + ".*".join(words), re.escape(tool_name)]
    return [" ".join(words), tool_name]
