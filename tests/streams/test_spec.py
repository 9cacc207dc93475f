"""The spec and its CEL subset are validated on the Python side, before any JVM starts."""

from __future__ import annotations

import pytest

from core.errors import InvalidArgument
from streams import cel
from streams.spec import parse_spec


@pytest.mark.parametrize(
    "expr",
    [
        "value.amount > 5 && value.user_id.startsWith('u')",
        "has(value.x) ? value.x * 2 : 0",
        'value["user-id"] in ["a", "b"]',
        "size(value.items) >= 1 || !(key == 'k')",
        "double(value.n) / 3.5 + int('4') % 2",
        "{'a': value.a, 'b': [1, 2]}",
    ],
)
def test_supported_expressions(expr: str) -> None:
    assert cel.validate(expr) == expr


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("value.items.exists(i, i > 1)", "macro exists()"),
        ("value.items.map(i, i * 2)", "macro map()"),
        ("foo > 1", "unknown name 'foo'"),
        ("value.name.lowerAscii()", "unknown method lowerAscii()"),
        ("now()", "unknown function now()"),
        ("value.x >", "unexpected"),
        ("value.x = 1", "unexpected character '='"),
        ("has(value)", "field selection"),
        ("(" * 50 + "1" + ")" * 50, "nests deeper"),
        ("", "empty"),
    ],
)
def test_rejected_expressions_say_why(expr: str, fragment: str) -> None:
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.validate(expr)
    assert fragment in str(info.value)


def test_spec_defaults_and_errors() -> None:
    spec = parse_spec(
        {
            "name": "clicks",
            "source": {"topic": "events"},
            "aggregate": {
                "group_by": "value.user_id",
                "window": {"type": "hopping", "size_ms": 600, "advance_ms": 300},
            },
            "sink": {"topic": "out"},
        }
    )
    assert spec.application_id == "ksa-clicks" and spec.store == "clicks-store"
    assert spec.processing_guarantee == "exactly_once_v2"
    assert [a.op for a in spec.aggregate.aggregations] == ["count"]  # type: ignore[union-attr]
    bad = [
        ({"aggregate": {"window": {"type": "session", "size_ms": 5}}}, "session window needs gap_ms"),
        ({"aggregate": {"window": {"type": "hopping", "size_ms": 5, "advance_ms": 9}}}, "advance_ms cannot exceed"),
        ({"aggregate": {"aggregations": [{"name": "s", "op": "sum"}]}}, "needs expr"),
        ({"join": {"kind": "global_table", "topic": "t"}}, "needs key_expr"),
        ({"join": {"kind": "stream", "topic": "t"}}, "needs window_ms"),
        ({"properties": {"application.id": "x"}}, "may not set application.id"),
        ({"sink": {"topic": "events"}}, "must differ"),
        ({"name": "Bad Name"}, "lowercase"),
        ({"steps": [{"op": "select"}]}, "needs fields"),
    ]
    for change, fragment in bad:
        data = {"name": "x", "source": {"topic": "events"}, "sink": {"topic": "out"}, **change}
        with pytest.raises(InvalidArgument) as info:
            parse_spec(data)
        assert fragment in str(info.value), (change, str(info.value))
