"""Property-based: EVERY tool the server lists (walked at test time, so new tools are covered) is called with
arguments generated from its own input schema, through the in-memory MCP client, against the real single-broker
cluster. The server never crashes, never hangs past the tool timeout, and every failure is an is_error result that
carries a message.

Bounded so it cannot harm others: names the tools could create are ``fuzz-<hex>`` (removed at the end), numbers are
small (perf tests write a few records), stream deployments are dry runs, destructive tools get no valid token (so
they only preview), no schema registry / Connect URL is configured, and the model endpoint is unreachable.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import ClusterHandle, make_settings, unique
from tests.safety.conftest import client_for, create_topic_directly, drop_topics

EXAMPLES_PER_TOOL = 3
TOOL_TIMEOUT_S = 20.0

fuzz_name = st.builds(lambda h: f"fuzz-{h}", st.text(alphabet="0123456789abcdef", min_size=6, max_size=8))
NAME_KEYS = {"topic", "group", "name", "user", "subject", "principal", "transactional_id", "task_id", "resource_name"}
small_text = st.text(alphabet=string.ascii_letters + string.digits + " .-_*:/!", max_size=12)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return {**root.get("$defs", {}).get(ref.split("/")[-1], {}), **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def strategy_for(schema: dict[str, Any], root: dict[str, Any], key: str, real: dict[str, Any], depth: int = 0) -> Any:
    schema = _resolve(schema, root)
    if key in real:
        return real[key]
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return st.one_of([strategy_for(s, root, key, real, depth) for s in schema[union]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([strategy_for({**schema, "type": k}, root, key, real, depth) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        # Below-minimum values stay in on purpose: they exercise validation; the top is capped to keep work small.
        return st.integers(min_value=-3, max_value=min(int(schema.get("maximum", 24)), 24))
    if kind == "number":
        high = min(float(schema.get("maximum", 3.0)), 3.0)
        return st.floats(min_value=-1.0, max_value=high, allow_nan=False, allow_infinity=False)
    if kind == "string":
        if key in NAME_KEYS:
            return st.one_of(
                fuzz_name, st.sampled_from(real.get("_names", ["fuzz-none"])), st.sampled_from(["", "bad name!"])
            )
        return small_text
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        return st.lists(strategy_for(items, root, key, real, depth + 1), max_size=3 if depth < 2 else 1)
    if kind == "object" or "properties" in schema:
        if depth > 2:
            return st.just({})
        return object_strategy(schema, root, real, depth + 1)
    return st.one_of(st.none(), small_text, st.integers(-3, 24), st.booleans())


def object_strategy(schema: dict[str, Any], root: dict[str, Any], real: dict[str, Any], depth: int = 0) -> Any:
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    if not props:
        extra = schema.get("additionalProperties")
        values = strategy_for(extra, root, "", real, depth) if isinstance(extra, dict) else small_text
        return st.dictionaries(small_text, values, max_size=3)
    fields = {k: strategy_for(v, root, k, real, depth) for k, v in props.items()}

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, strat in fields.items():
            if k in required or draw(st.booleans()):
                out[k] = draw(strat)
        return out

    return build()


def _fuzz_one(
    portal: Any,
    client: Any,
    tool_name: str,
    schema: dict[str, Any],
    real: dict[str, Any],
    outcomes: list[str],
    bounded: Any,
) -> None:
    @hsettings(max_examples=EXAMPLES_PER_TOOL, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(args=object_strategy(schema, schema, real))
    def call(args: dict[str, Any]) -> None:
        try:
            result = portal.call(bounded, client, tool_name, args)
        except TimeoutError:
            pytest.fail(f"{tool_name} hung past the tool timeout with {args!r}")
        text = "".join(getattr(c, "text", "") for c in result.content)
        if result.is_error:
            assert text.strip(), f"{tool_name}: error without a message for {args!r}"
            assert "Traceback" not in text, f"{tool_name}: traceback leaked for {args!r}: {text}"
            outcomes.append("error")
        else:
            assert result.content or result.structured_content is not None, tool_name
            outcomes.append("ok")

    call()


@pytest.fixture
def fuzz_setup(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> Iterator[tuple[Any, str]]:
    topic = unique("fuzz")
    create_topic_directly(admin, topic, partitions=2)
    before = set(admin.list_topics(timeout=10).topics)
    settings = make_settings(
        kafka_cluster.bootstrap_servers,
        data_dir,
        read_only=False,
        tool_timeout_s=TOOL_TIMEOUT_S,
        request_timeout_s=5.0,
        anthropic_api_key=None,
        anthropic_base_url="http://127.0.0.1:9",
        max_turns=1,
        max_run_seconds=5.0,
    )
    yield settings, topic
    created = [t for t in set(admin.list_topics(timeout=10).topics) - before if t.startswith("fuzz-")]
    drop_topics(admin, [topic, *created])
    _drop_fuzz_users(admin)


def _drop_fuzz_users(admin: Any) -> None:
    """SCRAM users a generated upsert may have created (all named fuzz-...)."""
    from confluent_kafka.admin import UserScramCredentialDeletion

    described = admin.describe_user_scram_credentials(request_timeout=10).result(timeout=15)
    by_mechanism: dict[Any, list[Any]] = {}
    for user, desc in described.items():
        if user.startswith("fuzz-"):
            for info in desc.scram_credential_infos:
                by_mechanism.setdefault(info.mechanism, []).append(UserScramCredentialDeletion(user, info.mechanism))
    # One request per mechanism: Kafka refuses to alter one user's credentials twice in the same request.
    for doomed in by_mechanism.values():
        for future in admin.alter_user_scram_credentials(doomed, request_timeout=10).values():
            future.result(timeout=15)


def test_every_tool_survives_generated_arguments(
    fuzz_setup: tuple[Any, str], admin: Any, kafka_cluster: ClusterHandle
) -> None:
    import anyio
    from anyio.from_thread import start_blocking_portal

    settings, topic = fuzz_setup
    real = {
        "_names": [topic],
        "confirm_token": st.one_of(st.none(), small_text),
        "cluster": st.one_of(st.none(), st.none(), st.sampled_from(["local", "nope"])),
        "dry_run": st.just(True),  # stream deployments, ACL grants: plan only
        "bootstrap_servers": st.sampled_from([None, kafka_cluster.bootstrap_servers, "127.0.0.1:1"]),
        "allow_production": st.just(False),
    }
    calls: dict[str, list[str]] = {}

    async def bounded(client: Any, name: str, args: dict[str, Any]) -> Any:
        with anyio.fail_after(TOOL_TIMEOUT_S + 30):
            return await client.call_tool(name, args)

    with start_blocking_portal() as portal, portal.wrap_async_context_manager(client_for(settings)) as client:
        tools = portal.call(client.list_tools).tools
        assert len(tools) >= 10
        for tool in tools:
            outcomes = calls.setdefault(tool.name, [])
            _fuzz_one(portal, client, tool.name, tool.input_schema, real, outcomes, bounded)
        alive = portal.call(bounded, client, "kafka_describe_cluster", {})
        assert not alive.is_error, "the server stopped serving"
    assert all(calls[t.name] for t in tools), [t.name for t in tools if not calls[t.name]]
    assert topic in admin.list_topics(timeout=10).topics, "a destructive tool acted without a valid token"
    summary = {name: f"{o.count('ok')} ok / {o.count('error')} error" for name, o in sorted(calls.items())}
    print(f"\n{len(tools)} tools fuzzed:", summary)
