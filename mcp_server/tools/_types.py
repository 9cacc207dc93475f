"""Argument types the tools share: names checked by Kafka's rules (``core.names``), bounded numbers and strings.

Every constraint is both validated and published in the input schema (pattern, maxLength, minimum, maximum), so a
client sees the rule before it calls, and a bad value is refused with one readable line naming the argument
(``mcp_server.tools._args``) before any work or file path.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from core import names
from core.errors import InvalidArgument

# Kafka's own limits where it has one; a sane ceiling otherwise (a count above it is a mistake, not a plan).
MAX_PARTITIONS = 10_000
MAX_REPLICATION_FACTOR = 32
MAX_BROKERS = 10_000
INT64_MAX = 2**63 - 1


def _kafka_rule(check: names.Check) -> AfterValidator:
    def validate(value: str) -> str:
        try:
            return check(value)
        except InvalidArgument as exc:
            raise ValueError(exc.message) from None

    return AfterValidator(validate)


# The length is published; the character rules are checked (they are Kafka's, and the message says them).
TopicName = Annotated[str, StringConstraints(max_length=names.TOPIC_MAX), _kafka_rule(names.check_topic)]
GroupId = Annotated[str, StringConstraints(max_length=names.GROUP_MAX), _kafka_rule(names.check_group)]


def _cluster_name(value: str) -> str:
    if not re.match(names.CLUSTER_PATTERN, value):
        raise ValueError(f"{names.shown(value)} is not a cluster name (lowercase letters, digits, '-', '_')")
    return value


def _token(value: str) -> str:
    if not re.match(r"^[A-Za-z0-9_-]+$", value):
        raise ValueError("a confirmation token or approval id is letters, digits, '-' and '_'")
    return value


# Checked, not published: the rule is simple and the name says what it is (keeps every tool's definition short).
ClusterName = Annotated[str, StringConstraints(max_length=63), AfterValidator(_cluster_name)]

# No description: the name says it, and the server's instructions say every tool takes an optional cluster.
ClusterArg = Annotated[ClusterName | None, Field()]
TopicArg = Annotated[TopicName, Field()]
OptionalTopicArg = Annotated[TopicName | None, Field()]
GroupArg = Annotated[GroupId, Field()]
ConfirmArg = Annotated[
    Annotated[str, AfterValidator(_token)] | None,
    Field(description="Token or approval id from the first call; omit at first.", max_length=100),
]
OverrideArg = Annotated[
    str | None, Field(description="Why an overridable policy may be broken (audited).", max_length=1000)
]
PartitionsArg = Annotated[int, Field(ge=1, le=MAX_PARTITIONS)]
ReplicationArg = Annotated[int, Field(description="At most the broker count.", ge=1, le=MAX_REPLICATION_FACTOR)]
ConfigMap = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=255)],
        Annotated[str, StringConstraints(max_length=10_000)],
    ],
    Field(max_length=200),
]
ConfigNames = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=255)]], Field(max_length=200)]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=500)]
