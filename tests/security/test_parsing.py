"""Pure logic: the short ACL form, role expansion and principal checks (no cluster needed)."""

from __future__ import annotations

import pytest

from core.errors import InvalidArgument
from core.kafka.security import AclSpec, check_spec, parse_short_acl, role_specs, validate_principal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user:analytics-app:read:topic:events", ("User:analytics-app", "topic", "events", "literal", "read", "allow")),
        ("user:etl:write:topic:orders-*", ("User:etl", "topic", "orders-", "prefixed", "write", "allow")),
        ("User:etl:read:topic:*", ("User:etl", "topic", "*", "literal", "read", "allow")),
        ("user:bad:read:group:g1:deny", ("User:bad", "group", "g1", "literal", "read", "deny")),
        (
            "user:ops:alter_configs:cluster",
            ("User:ops", "cluster", "kafka-cluster", "literal", "alter_configs", "allow"),
        ),
        ("user:ops:all:cluster:deny", ("User:ops", "cluster", "kafka-cluster", "literal", "all", "deny")),
        ("user:tx:write:transactional-id:tx-", ("User:tx", "transactional_id", "tx-", "literal", "write", "allow")),
        ("user:app:read:topic:deny", ("User:app", "topic", "deny", "literal", "read", "allow")),
        (
            "user:app:idempotent-write:cluster",
            ("User:app", "cluster", "kafka-cluster", "literal", "idempotent_write", "allow"),
        ),
    ],
)
def test_short_form(text: str, expected: tuple[str, ...]) -> None:
    spec = parse_short_acl(text)
    assert (
        spec.principal,
        spec.resource_type,
        spec.resource_name,
        spec.pattern_type,
        spec.operation,
        spec.permission,
    ) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "user:a",
        "user:a:read",
        "user:a:read:topic",
        "user:a:read:topic:x:maybe",
        "user:a:write:cluster:x",
        "user:a:idempotent_write:topic:x",
    ],
)
def test_bad_short_forms(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_short_acl(text)


def test_roles() -> None:
    producer = role_specs("User:p", "producer", topics=["orders"], transactional_id="orders-tx")
    assert {(s.resource_type, s.resource_name, s.operation) for s in producer} == {
        ("topic", "orders", "write"),
        ("topic", "orders", "describe"),
        ("cluster", "kafka-cluster", "idempotent_write"),
        ("transactional_id", "orders-tx", "write"),
        ("transactional_id", "orders-tx", "describe"),
    }
    consumer = role_specs("User:c", "consumer", topics=["a", "b"], groups=["g"], prefixed=True)
    assert {(s.resource_type, s.resource_name, s.pattern_type, s.operation) for s in consumer} == {
        ("topic", "a", "prefixed", "read"),
        ("topic", "a", "prefixed", "describe"),
        ("topic", "b", "prefixed", "read"),
        ("topic", "b", "prefixed", "describe"),
        ("group", "g", "prefixed", "read"),
    }


@pytest.mark.parametrize("principal", ["User:alice", "User:*", "User:CN=app, OU=payments, O=Example"])
def test_valid_principals(principal: str) -> None:
    assert validate_principal(principal) == principal


@pytest.mark.parametrize("principal", ["alice", "User:", ":alice", "User: alice", "1User:x"])
def test_invalid_principals(principal: str) -> None:
    with pytest.raises(InvalidArgument, match="User:<name>"):
        validate_principal(principal)


def test_prefixed_wildcard_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="prefixed"):
        check_spec(
            AclSpec(
                principal="User:a", resource_type="topic", resource_name="*", pattern_type="prefixed", operation="read"
            )
        )
