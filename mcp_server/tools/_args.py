"""Strict tool arguments: every input schema says ``additionalProperties: false``, an unknown argument is refused by
name with the valid ones listed, and invalid values read like the rest of our errors (one line per argument, the
value cut short), never a validation dump with a documentation URL."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

MAX_SHOWN = 60


def shorten(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr`` of a value, cut to ``limit`` characters: messages never echo a long input back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def forbid_extra_arguments(tool: Any) -> None:
    """Make the tool's argument model refuse unknown keys, and publish that in its input schema."""
    model = tool.fn_metadata.arg_model
    model.model_config["extra"] = "forbid"
    model.model_rebuild(force=True)
    schema = model.model_json_schema(by_alias=True)
    schema["additionalProperties"] = False
    tool.parameters = schema


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
            clauses.append(f"{where} is too long (at most {ctx.get('max_length', '?')}), got {len(str(given))} chars")
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
