"""Strict tool arguments: every input schema says ``additionalProperties: false``, an unknown argument is refused by
name with the valid ones listed, every argument has a ceiling (its own bounds, published, or the server's fallback
ones, enforced but not published), and invalid values read like the rest of our errors (one line per argument, the
value cut short), never a validation dump with a documentation URL."""

from __future__ import annotations

import json
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AllowInfNan, ValidationError

MAX_SHOWN = 60


def shorten(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr`` of a value, cut to ``limit`` characters: messages never echo a long input back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Arguments that carry free text (a task, SQL, a schema, a memory note) get a larger ceiling than other strings.
FREE_TEXT = {"task", "text", "sql", "schema", "query", "value_schema", "config", "spec", "summary", "details"}
INT64 = 2**63 - 1


def _members(annotation: Any) -> list[Any]:
    """The non-None members of a (possibly optional or union) annotation, Annotated wrappers removed."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [] if annotation is type(None) else [annotation]


def _declared(annotation: Any) -> set[type]:
    """The kinds of constraints an annotation declares anywhere in it (Annotated members of a union included)."""
    found: set[type] = set()
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        for m in meta:
            found.add(type(m))
            if type(m).__name__ == "StringConstraints" and getattr(m, "max_length", None) is not None:
                found.add(annotated_types.MaxLen)
            if type(m).__name__ == "FieldInfo":
                found.update(type(x) for x in getattr(m, "metadata", []))
        return found | _declared(inner)
    if origin in (Union, UnionType):
        for arg in get_args(annotation):
            found |= _declared(arg)
    return found


def _fallback_bounds(name: str, field: Any) -> list[Any]:
    """Ceilings for a top-level argument that declares none of its own: no number, string, list or map reaches a
    tool unbounded (a tool's own tighter bounds, e.g. partitions 1..10000, still apply)."""
    have = {type(m) for m in field.metadata} | _declared(field.annotation)
    out: list[Any] = []
    kinds = {get_origin(m) or m for m in _members(field.annotation)}
    if kinds & {int, float} and kinds & {str, list, dict}:
        return []  # a union of numbers and texts: a field-level bound would apply to every member, so each member
        # declares its own (the sweep checks that every published alternative is bounded)
    if kinds & {int, float} and not have & {annotated_types.Ge, annotated_types.Gt}:
        out.append(annotated_types.Ge(-INT64 - 1))
    if kinds & {int, float} and not have & {annotated_types.Le, annotated_types.Lt}:
        out.append(annotated_types.Le(INT64))
    if float in kinds:
        out.append(AllowInfNan(False))
    if kinds & {str, list, dict} and annotated_types.MaxLen not in have:
        out.append(annotated_types.MaxLen(100_000 if name in FREE_TEXT else 10_000))
    return out


def _unpublish_fallbacks(prop: Any, fallbacks: list[Any]) -> None:
    """Remove from one argument's published schema exactly the fallback ceilings ``_fallback_bounds`` added (they
    stay enforced): a model gains nothing from reading ±2^63 or 10 000 characters, and they cost every listing."""
    if not isinstance(prop, dict):
        return
    drop: dict[str, set[int]] = {}
    for bound in fallbacks:
        if isinstance(bound, annotated_types.Ge):
            drop.setdefault("minimum", set()).add(int(bound.ge))  # type: ignore[call-overload]
        elif isinstance(bound, annotated_types.Le):
            drop.setdefault("maximum", set()).add(int(bound.le))  # type: ignore[call-overload]
        elif isinstance(bound, annotated_types.MaxLen):
            for key in ("maxLength", "maxItems", "maxProperties"):
                drop.setdefault(key, set()).add(bound.max_length)
    for node in [prop, *(prop.get("anyOf") or []), *(prop.get("oneOf") or [])]:
        if isinstance(node, dict):
            for key, values in drop.items():
                if node.get(key) in values and not isinstance(node.get(key), bool):
                    del node[key]


def forbid_extra_arguments(tool: Any) -> None:
    """Make the tool's argument model refuse unknown keys and bound every argument; publish the refusal of unknown
    keys and the tool's own bounds in its input schema (the fallback ceilings are enforced but not published)."""
    model = tool.fn_metadata.arg_model
    model.model_config["extra"] = "forbid"
    fallbacks: dict[str, list[Any]] = {}
    for name, field in model.model_fields.items():
        added = _fallback_bounds(name, field)
        field.metadata.extend(added)
        if added:
            fallbacks[field.alias or name] = added
    model.model_rebuild(force=True)
    schema = lean_schema(model.model_json_schema(by_alias=True))
    for name, added in fallbacks.items():
        _unpublish_fallbacks((schema.get("properties") or {}).get(name), added)
    for definition in (schema.get("$defs") or {}).values():
        definition.pop("description", None)  # a nested model's docstring: its fields say what the model needs
    schema["additionalProperties"] = False
    tool.parameters = schema
    tool.fn_metadata.output_schema = loose_lists(tool.fn_metadata.output_schema)


def loose_lists(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """An output schema whose lists and maps of objects say only "objects" (their fields are in the descriptions).

    A client validates every structured result against the published output schema; with a ``$ref`` per item, the
    jsonschema validation of a 2 000-topic listing took ~0.5 s a call in the Python SDK's client. The server still
    validates its results against the full model before sending them.
    """
    if schema is None:
        return None

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        for key in ("items", "additionalProperties"):
            inner = out.get(key)
            if isinstance(inner, dict) and ("$ref" in inner or inner.get("type") == "object"):
                out[key] = {"type": "object"}
        return out

    loose: dict[str, Any] = walk({k: v for k, v in schema.items() if k != "$defs"})
    defs: dict[str, Any] = {k: walk(v) for k, v in (schema.get("$defs") or {}).items()}
    used: set[str] = set()
    pending: list[Any] = [loose]
    while pending:  # keep the $defs still referenced (top-level fields of a nested model)
        text = json.dumps(pending.pop())
        for name, body in defs.items():
            if f'#/$defs/{name}"' in text and name not in used:
                used.add(name)
                pending.append(body)
    if used:
        loose["$defs"] = {k: defs[k] for k in sorted(used)}
    return loose


def lean_schema(node: Any) -> Any:
    """The input schema as a model needs it: no generated titles, ``X | None`` published as X (the argument is
    optional anyway), no ``default: null``. Validation still uses the full model."""
    if isinstance(node, list):
        return [lean_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: lean_schema(prop) for name, prop in value.items()}
            continue
        out[key] = lean_schema(value)
    alts = out.get("anyOf")
    if isinstance(alts, list):
        kept = [a for a in alts if a != {"type": "null"}]
        if len(kept) == 1 and len(kept) < len(alts):
            merged = {k: v for k, v in out.items() if k != "anyOf"}
            out = {**kept[0], **merged}
    return out


def argument_names(tool: Any) -> list[str]:
    fields = tool.fn_metadata.arg_model.model_fields
    return sorted(f.alias or name for name, f in fields.items())


def check_arguments(tool: Any, arguments: dict[str, Any]) -> None:
    """Raise ``ToolError`` with a readable message for unknown or invalid arguments."""
    valid = argument_names(tool)
    unknown = sorted(k for k in arguments if k not in valid)
    if unknown:
        names = ", ".join(shorten(k, 40) for k in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise ToolError(
            f"{tool.name}: unknown argument{'s' if len(unknown) > 1 else ''} {names}; nothing was done. "
            f"Valid arguments: {', '.join(valid) or '(none)'}."
        )
    try:
        tool.fn_metadata.validate_arguments(arguments)
    except ValidationError as exc:
        raise ToolError(f"{tool.name}: {describe_validation(exc)}") from None


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith(("function-", "json-or-python")))]
    return ".".join(parts) or "arguments"


def _pattern_rule(pattern: str, given: Any) -> str:
    """A pattern mismatch in words: the Kafka rule behind a known pattern, else the pattern itself."""
    from core import names
    from core.errors import InvalidArgument

    checks = {names.TOPIC_PATTERN: names.check_topic, names.CONTROL_FREE_PATTERN: names.check_group}
    check = checks.get(pattern)
    if check is not None:
        try:
            check(str(given))
        except InvalidArgument as exc:
            return exc.message
    return f"must match {pattern}, got {shorten(given)}"


def describe_validation(exc: ValidationError, *, limit: int = 5) -> str:
    """One clause per invalid argument: what it must be, and what was given."""
    clauses: list[str] = []
    for err in exc.errors(include_url=False)[:limit]:
        where = f"`{_where(tuple(err.get('loc') or ()))}`"
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        given = err.get("input")
        if kind == "missing":
            clauses.append(f"{where} is required")
            continue
        if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
            bound = next(iter(ctx.values()), "?")
            clauses.append(f"{where} must be {sign} {bound}, got {shorten(given)}")
            continue
        if kind == "literal_error":
            clauses.append(f"{where} must be {ctx.get('expected', 'one of the listed values')}, got {shorten(given)}")
            continue
        if kind in ("string_too_long", "too_long"):
            size = f"{len(given)} items" if isinstance(given, list | dict) else f"{len(str(given))} characters"
            clauses.append(f"{where} is too long (at most {ctx.get('max_length', '?')}), got {size}")
            continue
        if kind == "string_pattern_mismatch":
            clauses.append(f"{where}: {_pattern_rule(str(ctx.get('pattern', '')), given)}")
            continue
        if kind in ("string_too_short", "too_short"):
            clauses.append(f"{where} is too short (at least {ctx.get('min_length', '?')})")
            continue
        if kind == "extra_forbidden":
            clauses.append(f"{where} is not a valid argument")
            continue
        message = str(err.get("msg", "is invalid"))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        clauses.append(f"{where}: {message[:200]}, got {shorten(given)}")
    more = exc.error_count() - len(clauses)
    tail = f" (and {more} more)" if more > 0 else ""
    return "invalid arguments: " + "; ".join(clauses) + tail + ". Nothing was done."
