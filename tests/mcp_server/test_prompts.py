"""The seed's 17 slash commands as MCP prompts: listed with their arguments, rendered with the five phases and real
tool names, strict about their arguments, and completed from the live cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings, unique

pytestmark = pytest.mark.anyio

SEED_COMMANDS = {
    "kafka-topic",
    "kafka-stream",
    "ksql-query",
    "kafka-connect",
    "connector-config",
    "producer-setup",
    "consumer-group",
    "kafka-mirror",
    "schema-registry",
    "kafka-security",
    "partition-strategy",
    "kafka-monitoring",
    "exactly-once",
    "kafka-cluster",
    "stream-processing",
    "kafka-replication",
    "kafka-performance",
}
PHASES = ("PLAN", "VALIDATE", "EXECUTE", "VERIFY", "DOCUMENT")


def _text(result: Any) -> str:
    assert len(result.messages) == 1 and result.messages[0].role == "user"
    text: str = result.messages[0].content.text
    return text


def _sample(arg: Any, cluster: str) -> str:
    """A valid value for any declared argument."""
    if arg.complete == "cluster":
        return cluster
    if arg.type == "integer":
        return str(min(max(arg.minimum or 1, 3), arg.maximum or 10**9))
    if arg.type == "boolean":
        return "false"
    if arg.choices:
        return arg.choices[0]
    return f"sample-{arg.name}"


async def test_every_seed_command_is_a_prompt_with_its_arguments(mcp_client: Any) -> None:
    prompts = {p.name: p for p in (await mcp_client.list_prompts()).prompts}
    assert set(prompts) == SEED_COMMANDS
    for prompt in prompts.values():
        assert prompt.title and prompt.description, prompt.name
        assert prompt.arguments, f"{prompt.name} takes no arguments"
        assert all(a.description for a in prompt.arguments), prompt.name
    topic = {a.name: a for a in prompts["kafka-topic"].arguments}
    assert {"name", "partitions", "throughput", "environment"} <= set(topic)
    assert topic["name"].required and not topic["partitions"].required
    mirror = {a.name: a.required for a in prompts["kafka-mirror"].arguments}
    assert mirror["source_cluster"] and mirror["target_cluster"]


async def test_every_prompt_walks_the_five_phases_with_real_tools(mcp_client: Any) -> None:
    from mcp_server.prompts import TOOL_NAME, commands

    real = {t.name for t in (await mcp_client.list_tools()).tools}  # the test settings offer every tool
    for name, command in commands().items():
        for arguments in (
            {a.name: _sample(a, "local") for a in command.arguments if a.required},
            {a.name: _sample(a, "local") for a in command.arguments},
        ):
            text = _text(await mcp_client.get_prompt(name, arguments))
            positions = [text.find(f"{i}. {phase}") for i, phase in enumerate(PHASES, start=1)]
            assert all(p >= 0 for p in positions) and positions == sorted(positions), f"{name}: phases {positions}"
            named = set(TOOL_NAME.findall(text))
            assert named <= real, f"{name} names tools the server does not have: {sorted(named - real)}"
            assert len(named) >= 5, f"{name} names only {sorted(named)}"
            document = text[text.index("5. DOCUMENT") :]
            assert "memory_store" in document, name
            assert "{{" not in text and "{%" not in text, name
            assert "not offered" not in text and "does not allow" not in text, name
            for value in arguments.values():
                assert value in text or value in ("false", "3", "1", "local") or value.upper() in text, (name, value)


async def test_kafka_topic_states_the_task_in_the_commands_terms(mcp_client: Any) -> None:
    text = _text(
        await mcp_client.get_prompt(
            "kafka-topic", {"name": "orders", "throughput": "20 MB/s", "environment": "production"}
        )
    )
    assert text.startswith("/kafka-topic `orders` on cluster `local`")
    assert "20 MB/s" in text
    assert "partitions: not given; derive it in PLAN" in text
    assert (
        "replication factor 3 and min.insync.replicas\n     2" in text
        or "replication factor 3 and min.insync.replicas 2" in text
    )
    assert "configured as dev" in text  # the local cluster's own profile differs from the asked environment
    assert "`kafka_partition_strategy`" in text and "`kafka_create_topic` with `validate_only=true`" in text
    assert "kafka-streaming-agent/local/cluster-config/orders" in text
    given = _text(await mcp_client.get_prompt("kafka-topic", {"name": "orders", "partitions": "24"}))
    assert "- partitions: 24" in given


async def test_prompt_arguments_are_strict(mcp_client: Any) -> None:
    from mcp.shared.exceptions import MCPError
    from mcp_types import INVALID_PARAMS

    cases = [
        ({"name": "orders", "partiton": "3"}, ["no argument partiton", "partitions"]),
        ({"partitions": "3"}, ["needs name"]),
        ({"name": "orders", "partitions": "many"}, ["partitions must be a whole number"]),
        ({"name": "orders", "partitions": "0"}, ["at least 1"]),
        ({"name": "orders", "environment": "moon"}, ["environment must be one of production, staging, dev"]),
        ({"name": "orders", "cluster": "elsewhere"}, ["not a configured cluster", "local"]),
    ]
    for arguments, fragments in cases:
        with pytest.raises(MCPError) as err:
            await mcp_client.get_prompt("kafka-topic", arguments)
        assert err.value.error.code == INVALID_PARAMS
        for fragment in fragments:
            assert fragment in str(err.value), (arguments, str(err.value))
    with pytest.raises(MCPError) as unknown:
        await mcp_client.get_prompt("no-such-command", {})
    assert unknown.value.error.code == INVALID_PARAMS and "kafka-topic" in str(unknown.value)
    # choices are matched regardless of case and come back in their declared spelling
    text = _text(await mcp_client.get_prompt("kafka-performance", {"analyze": "THROUGHPUT, partition-skew"}))
    assert "measure throughput, partition-skew" in text


async def test_footer_names_the_toolsets_a_session_lacks(settings: Any, data_dir: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    async def replication_prompt(**overrides: Any) -> str:
        chosen = make_settings(settings.bootstrap_servers, data_dir, **overrides)
        async with Client(build_server(chosen), raise_exceptions=False) as client:
            return _text(await client.get_prompt("kafka-replication", {"topic": "orders"}))

    lean = await replication_prompt(toolsets="default")
    missing = lean.split("not offered")[1]
    assert "kafka_set_durability" in missing and "(toolset health)" in missing
    assert "kafka_describe_topic" not in missing  # in the default toolset
    assert "--toolsets default,+health" in missing
    dynamic = await replication_prompt(toolsets="default", dynamic_toolsets=True)
    assert "kafka_enable_toolset" in dynamic.split("not offered")[1]
    read_only = await replication_prompt(toolsets="all", read_only=True)
    refused = read_only.split("does not allow")[1].split("\n")[0]
    assert "kafka_set_durability" in refused and "kafka_reassignment_execute" in refused
    assert "kafka_check_durability" not in refused and "not offered" not in read_only
    assert "need the user's confirmation" in read_only


def test_command_files_parse_and_render_alone() -> None:
    """Every file's front matter is valid, and the body renders with no optional argument and with all of them."""
    from mcp_server.prompts import check_arguments, commands, parse_command, render

    found = commands()
    assert set(found) == SEED_COMMANDS
    for command in found.values():
        assert 1 <= len(command.arguments) <= 8, command.name
        for arguments in (
            {a.name: _sample(a, "a") for a in command.arguments if a.required},
            {a.name: _sample(a, "a") for a in command.arguments},
        ):
            values = check_arguments(command, arguments, ["a", "b"])
            text = render(command, values, cluster="a", profile="production")
            assert "\n\n\n" not in text and "  \n" not in text, command.name
    # values are data: a template expression in an argument is not evaluated
    topic = found["kafka-topic"]
    text = render(
        topic, check_arguments(topic, {"name": "t", "throughput": "{{ 7*7 }}"}, ["a"]), cluster="a", profile="dev"
    )
    assert "carries {{ 7*7 }} without" in text and "49" not in text
    with pytest.raises(ValueError):
        parse_command("broken", "no front matter here")
    with pytest.raises(ValueError):
        parse_command("broken", "---\ntitle: t\ndescription: d\nunknown_key: 1\n---\nbody")


async def test_prompt_arguments_complete_from_the_live_cluster(mcp_client: Any, admin: Any) -> None:
    from mcp_types import PromptReference

    from tests.safety.conftest import create_topic_directly, drop_topics

    prefix = unique("cmpl")
    topics = [f"{prefix}-orders", f"{prefix}-payments"]
    for topic in topics:
        create_topic_directly(admin, topic)
    try:
        got = await mcp_client.complete(PromptReference(name="kafka-topic"), {"name": "name", "value": prefix})
        assert got.completion.values == sorted(topics)
        assert got.completion.total == 2 and not got.completion.has_more
        # a comma-separated argument completes its last item
        got = await mcp_client.complete(
            PromptReference(name="consumer-group"), {"name": "topics", "value": f"{topics[0]}, {prefix}-pay"}
        )
        assert got.completion.values == [f"{topics[0]}, {topics[1]}"]
        # declared choices, case-insensitively; configured clusters
        got = await mcp_client.complete(PromptReference(name="kafka-topic"), {"name": "environment", "value": "PRO"})
        assert got.completion.values == ["production"]
        got = await mcp_client.complete(PromptReference(name="kafka-topic"), {"name": "cluster", "value": ""})
        assert got.completion.values == ["local"]
        # an argument without completions, a prompt this server does not have: empty, not an error
        got = await mcp_client.complete(PromptReference(name="kafka-topic"), {"name": "throughput", "value": "2"})
        assert got.completion.values == []
        got = await mcp_client.complete(
            PromptReference(name="test_prompt_with_arguments"), {"name": "arg1", "value": "x"}
        )
        assert got.completion.values == []
    finally:
        drop_topics(admin, topics)
