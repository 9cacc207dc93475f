"""Toolsets: named groups of tools, so a client hands its model only what the work needs.

Every tool belongs to exactly one toolset (by the module that registers it, see ``MODULE_TOOLSETS``); ``default`` is
a hand-picked set for the daily operator (at most 25 tools). A selection (``serve --toolsets`` or
``KAFKA_AGENT_TOOLSETS``) is a comma-separated list read left to right:

    default          the daily operator's tools (the default selection)
    all              every tool
    NAME             add a toolset (cluster, groups, health, security, schemas, connect, streams, memory, policy,
                     agent, operations, platform, ...)
    +NAME / -NAME    add / remove a toolset; a selection that starts with + or - starts from default

e.g. ``default,+security``, ``all,-streams``, ``cluster,groups``. The per-tool allow and deny lists and read-only mode
apply on top. With ``--dynamic-toolsets`` a session starts with the selection plus three discovery tools
(``kafka_list_toolsets``, ``kafka_enable_toolset``, ``kafka_find_tools``) and can enable more; the server tells the
client with ``notifications/tools/list_changed``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError


@dataclass(frozen=True)
class Toolset:
    name: str
    title: str
    description: str


TOOLSETS: dict[str, Toolset] = {
    t.name: t
    for t in (
        Toolset(
            "cluster", "Cluster and topics", "Describe the cluster; list, describe, create, configure, delete topics."
        ),
        Toolset(
            "groups",
            "Consumer groups and messages",
            "Groups, lag, offset resets; produce, consume, read offsets, delete records.",
        ),
        Toolset(
            "health",
            "Health and performance",
            "Health verdicts, durability, leader elections, partition strategy, client configs, perf and exactly-once "
            "tests.",
        ),
        Toolset("security", "Security", "SCRAM users, ACLs and roles, client security configs, login checks."),
        Toolset("schemas", "Schema Registry", "Subjects, schemas, compatibility, registration."),
        Toolset("connect", "Connect and mirroring", "Kafka Connect connectors and MirrorMaker 2 replication."),
        Toolset("streams", "Streams and SQL", "Kafka Streams applications and streaming SQL (ksqlDB subset)."),
        Toolset("memory", "Memory", "Store and search runbooks, incidents and cluster facts."),
        Toolset("policy", "Policy and audit", "Check changes against the guardrails; readiness audits."),
        Toolset("agent", "Agent", "Hand a whole task to the kafka-streaming-agent."),
        Toolset(
            "operations",
            "Cluster operations",
            "Partition reassignment, broker scaling and decommission, log dirs, client quotas.",
        ),
        Toolset("platform", "Platform as code", "Plan and apply a platform file: topics, ACLs, schemas, connectors."),
        Toolset("watch", "Monitoring", "Broker metrics and incidents."),
        Toolset("discovery", "Tool discovery", "List and enable toolsets, find the tool for a request."),
    )
}

# The module that registers a tool decides its toolset (mcp_server/tools/<module>.py).
MODULE_TOOLSETS: dict[str, str] = {
    "topics": "cluster",
    "groups": "groups",
    "messages": "groups",
    "health": "health",
    "perf": "health",
    "security": "security",
    "schemas": "schemas",
    "connect": "connect",
    "mirror": "connect",
    "streams": "streams",
    "memory": "memory",
    "policy": "policy",
    "agent": "agent",
    "cluster_ops": "operations",
    "platform": "platform",
    "watch": "watch",
    "discovery": "discovery",
}
# Tools whose module's toolset is not theirs.
TOOL_TOOLSETS: dict[str, str] = {"kafka_describe_cluster": "cluster", "kafka_cluster_health": "health"}

# The daily operator's tools: what is wrong, what is there, who is behind, and the common changes (at most 25).
DEFAULT_TOOLS: tuple[str, ...] = (
    "kafka_describe_cluster",
    "kafka_cluster_health",
    "kafka_list_topics",
    "kafka_describe_topic",
    "kafka_create_topic",
    "kafka_alter_topic_config",
    "kafka_add_partitions",
    "kafka_delete_topic",
    "kafka_list_consumer_groups",
    "kafka_describe_consumer_group",
    "kafka_consumer_lag",
    "kafka_reset_offsets",
    "kafka_consume",
    "kafka_produce",
    "kafka_topic_offsets",
    "kafka_check_durability",
    "kafka_elect_leaders",
    "kafka_check_policy",
    "kafka_list_acls",
    "vector_search",
    "memory_store",
    "kafka_find_tools",
)
DISCOVERY_TOOLS: tuple[str, ...] = ("kafka_list_toolsets", "kafka_enable_toolset", "kafka_find_tools")


def toolset_of(tool: str, module: str) -> str:
    return TOOL_TOOLSETS.get(tool) or MODULE_TOOLSETS.get(module.rsplit(".", 1)[-1], "cluster")


def select(spec: str | None, members: dict[str, str]) -> set[str]:
    """The tool names a selection names. ``members`` maps every registered tool to its toolset."""
    text = (spec or "default").strip() or "default"
    parts = [p.strip() for p in text.split(",") if p.strip()]
    chosen: set[str] = set()
    if parts and parts[0][0] in "+-":
        chosen = _default(members)
    for part in parts:
        sign, name = (part[0], part[1:]) if part[0] in "+-" else ("+", part)
        if name == "default":
            tools = _default(members)
        elif name == "all":
            tools = set(members)
        elif name in TOOLSETS:
            tools = {t for t, s in members.items() if s == name}
        else:
            raise ConfigError(
                f"Unknown toolset {name[:60]!r} in the toolset selection {text[:200]!r}.",
                hint=f"Use default, all, or {', '.join(sorted(TOOLSETS))} (with + or - to add or remove).",
            )
        chosen = chosen | tools if sign == "+" else chosen - tools
    return chosen


def check_selection(spec: str | None) -> None:
    """Raise ``ConfigError`` for a selection that names an unknown toolset (before any tool is registered)."""
    select(spec, {})


def _default(members: dict[str, str]) -> set[str]:
    return {t for t in DEFAULT_TOOLS if t in members}
