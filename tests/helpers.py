"""Small helpers for tests that talk to the server through an MCP client."""

from __future__ import annotations

import json
from typing import Any


def structured(result: Any) -> Any:
    """The structured content of a successful tool result (fails the test with the error text otherwise)."""
    assert not result.is_error, f"tool failed: {error_text(result)}"
    data = result.structured_content
    if data is None:
        text = "".join(getattr(c, "text", "") for c in result.content)
        return json.loads(text)
    if isinstance(data, dict) and set(data) == {"result"}:
        return data["result"]
    return data


def error_text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def assert_tool_error(result: Any, *fragments: str) -> str:
    """The call failed with an is_error result whose text contains every fragment (case-insensitive)."""
    text = error_text(result)
    assert result.is_error, f"expected an error, got: {text[:500]}"
    for fragment in fragments:
        assert fragment.lower() in text.lower(), f"{fragment!r} not in error: {text}"
    return text
