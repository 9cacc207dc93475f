"""A sweep of bad arguments generated from every tool's own input schema: wrong types, values past each bound,
strings past their length, names breaking their pattern (path-like, control characters, unicode), values outside
an enum, an unknown cluster, an unknown key.

For every call: the server keeps serving, the result is an error whose message names the argument, says no
"unexpectedly", shows no traceback, no server path and no Python exception name, and nothing changed (the audit log
has no change and the topic list is the same). Every argument of every tool must be bounded: a number by a minimum
and a maximum, a string by its length, a list or map by its size. A tool publishes its own bounds in its input
schema; an argument that declares none gets the server's fallback ceiling (mcp_server.tools._args: ±2^63, 10 000
characters or items, 100 000 for free-text names), enforced but not published, so the sweep fills an unpublished
bound of a top-level argument with that ceiling and still sends values past it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from mcp_server.tools._args import FREE_TEXT, INT64
from tests.helpers import error_text
from tests.safety.conftest import read_audit

_NAMES = itertools.count()
CHANGED = {"allowed", "confirmed", "approved", "standing_consent"}
_EXCEPTION_NAMES = re.compile(r"\b(OSError|ValueError|TypeError|KeyError|OverflowError|AttributeError|Traceback)\b")


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a property's schema (null dropped, $ref followed)."""
    if "$ref" in schema:
        ref = defs.get(schema["$ref"].split("/")[-1], {})
        return _resolve({**ref, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    if "anyOf" in schema:
        return [alt for part in schema["anyOf"] for alt in _resolve(part, defs) if alt.get("type") != "null"]
    return [schema]


def _with_fallback(name: str, alt: dict[str, Any]) -> dict[str, Any]:
    """A top-level argument's schema with the server's unpublished fallback ceilings filled in where it publishes
    no bound of its own (what ``_fallback_bounds`` enforces; an argument whose own bound is checked but not published,
    such as a cluster name's 63 characters, is refused even sooner)."""
    kind = alt.get("type")
    size = 100_000 if name in FREE_TEXT else 10_000
    out = dict(alt)
    if kind in ("integer", "number"):
        if "minimum" not in alt and "exclusiveMinimum" not in alt:
            out["minimum"] = -INT64 - 1
        if "maximum" not in alt and "exclusiveMaximum" not in alt:
            out["maximum"] = INT64
    elif kind == "string" and not ("enum" in alt or "const" in alt or alt.get("format") == "password"):
        out.setdefault("maxLength", size)
    elif kind == "array":
        out.setdefault("maxItems", size)
    elif kind == "object" and "additionalProperties" in alt and not alt.get("properties"):
        out.setdefault("maxProperties", size)
    return out


def _bounded(alt: dict[str, Any]) -> bool:
    kind = alt.get("type")
    if kind in ("integer", "number"):
        return ("minimum" in alt or "exclusiveMinimum" in alt) and ("maximum" in alt or "exclusiveMaximum" in alt)
    if kind == "string":
        return "maxLength" in alt or "enum" in alt or "const" in alt or alt.get("format") == "password"
    if kind == "array":
        return "maxItems" in alt
    if kind == "object" and isinstance(alt.get("additionalProperties"), dict):
        return "maxProperties" in alt
    return True


def _valid(alt: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """Some valid value (only used to fill the other required arguments)."""
    kind = alt.get("type")
    if kind == "object" and alt.get("properties"):
        props = alt["properties"]
        return {k: _valid(_resolve(props[k], defs or {})[0], defs) for k in alt.get("required") or []}
    if "enum" in alt:
        return alt["enum"][0]
    if kind == "string":
        return f"sweep-{next(_NAMES)}"
    if kind == "integer":
        return max(int(alt.get("minimum", 1)), 1)
    if kind == "number":
        return max(float(alt.get("minimum", 1.0)), 1.0)
    if kind == "boolean":
        return False
    if kind == "array":
        return [_valid(alt.get("items") or {})] if alt.get("minItems") else []
    if kind == "object" and alt.get("minProperties"):
        return {"0": _valid(alt.get("additionalProperties") or {})}
    return {}


def _bad_values(alt: dict[str, Any]) -> list[tuple[str, Any]]:
    kind = alt.get("type")
    out: list[tuple[str, Any]] = []
    if kind in ("integer", "number"):
        out.append(("type", "not-a-number"))
        low = alt.get("minimum", alt.get("exclusiveMinimum"))
        high = alt.get("maximum", alt.get("exclusiveMaximum"))
        # a float past ±2^63 must step by more than 1.0 to differ from the bound at all
        if low is not None:
            out.append(("below", int(low) - 1 if kind == "integer" else float(low) - max(1.0, abs(float(low)))))
        if high is not None:
            out.append(("above", int(high) + 1 if kind == "integer" else float(high) + max(1.0, abs(float(high)))))
        out.append(("huge", 10**30))
    elif kind == "string":
        out.append(("type", 12345))
        if "enum" in alt:
            out.append(("enum", "not-one-of-them"))
        if "maxLength" in alt:
            out.append(("long", "x" * (int(alt["maxLength"]) + 1)))
        if "pattern" in alt:
            for bad in ("../etc/passwd", "\u00f8\u202e\x07", ""):
                if not re.search(alt["pattern"], bad):
                    out.append(("pattern", bad))
    elif kind == "boolean":
        out.append(("type", "maybe"))
    elif kind == "array":
        out.append(("type", "not-a-list"))
        if "maxItems" in alt:
            out.append(("size", [None] * (int(alt["maxItems"]) + 1)))
    elif kind == "object":
        out.append(("type", [1, 2]))
    return out


def _cases(tool: Any) -> list[tuple[str, str, dict[str, Any]]]:
    schema = tool.input_schema or {}
    defs = schema.get("$defs", {})
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    base = {name: _valid(_resolve(props[name], defs)[0], defs) for name in required}
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("unknown key", "zz_not_an_argument", {**base, "zz_not_an_argument": 1})
    ]
    for name, prop in props.items():
        alts = _resolve(prop, defs)
        if name == "cluster":
            cases.append(("unknown cluster", name, {**base, name: "no-such-cluster"}))
        if len(alts) != 1:
            continue  # a union (e.g. int or ISO time) accepts many forms: its members are checked where declared
        for kind, value in _bad_values(_with_fallback(name, alts[0])):
            cases.append((kind, name, {**base, name: value}))
    return cases


pytestmark = pytest.mark.anyio


async def test_every_argument_is_bounded(settings: Any) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(settings), raise_exceptions=False) as client:
        tools = (await client.list_tools()).tools
    loose = []
    for tool in tools:
        schema = tool.input_schema or {}
        for name, prop in (schema.get("properties") or {}).items():
            alts = _resolve(prop, schema.get("$defs", {}))
            loose += [f"{tool.name}.{name}" for alt in alts if not _bounded(_with_fallback(name, alt))]
    assert not loose, f"arguments without bounds: {loose}"


async def test_a_sweep_of_bad_arguments(settings: Any, admin: Any) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    before = set(admin.list_topics(timeout=10).topics)
    problems: list[str] = []
    calls = 0
    async with Client(build_server(settings), raise_exceptions=False) as client:
        tools = (await client.list_tools()).tools
        for tool in tools:
            for kind, argument, args in _cases(tool):
                calls += 1
                result = await client.call_tool(tool.name, args)
                text = error_text(result)
                where = f"{tool.name} {kind} {argument}"
                if not result.is_error:
                    problems.append(f"{where}: accepted")
                    continue
                if argument not in text:
                    problems.append(f"{where}: the message does not name {argument!r}: {text[:300]}")
                if "unexpected" in text.lower() or "internal error" in text:
                    problems.append(f"{where}: {text[:300]}")
                if _EXCEPTION_NAMES.search(text) or str(settings.data_dir) in text or "/root" in text:
                    problems.append(f"{where}: leaks internals: {text[:300]}")
                if len(text) > 2100:
                    problems.append(f"{where}: message of {len(text)} characters")
        alive = await client.call_tool("kafka_list_topics", {})
        assert not alive.is_error, "the server stopped serving"
    print(f"\nsweep: {calls} bad calls over {len(tools)} tools")
    assert not problems, f"{len(problems)} of {calls} calls:\n" + "\n".join(problems[:80])
    assert not [e for e in read_audit(settings.data_dir) if e["decision"] in CHANGED]
    assert set(admin.list_topics(timeout=10).topics) == before
