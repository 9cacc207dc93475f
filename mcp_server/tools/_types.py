"""Argument types the tools share: names checked by Kafka's rules (``core.names``), bounded numbers and strings.

Every constraint is validated; most are published in the input schema too (maxLength, minimum, maximum), so a client
sees the rule before it calls. Rules the name already says are checked without being published (a cluster name, the
characters of a topic or group name, the lengths inside a config map). A bad value is refused with one readable
line naming the argument (``mcp_server.tools._args``) before any work or file path.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

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


# Checked, not published (length and characters): the name says what it is, and every tool takes it.
ClusterName = Annotated[
    str, StringConstraints(max_length=63), AfterValidator(_cluster_name), WithJsonSchema({"type": "string"})
]

# No description: the name says it, and the server's instructions say every tool takes an optional cluster.
ClusterArg = Annotated[ClusterName | None, Field()]
TopicArg = Annotated[TopicName, Field()]
OptionalTopicArg = Annotated[TopicName | None, Field()]
GroupArg = Annotated[GroupId, Field()]
# The one description of every destructive tool's confirm_token.
CONFIRM_DESCRIPTION = "Token or approval id the first call returned."
ConfirmArg = Annotated[
    Annotated[str, AfterValidator(_token)] | None, Field(description=CONFIRM_DESCRIPTION, max_length=100)
]
# No description: the server's instructions say what override_reason does.
OverrideArg = Annotated[str | None, Field(max_length=1000)]
PartitionsArg = Annotated[int, Field(ge=1, le=MAX_PARTITIONS)]
ReplicationArg = Annotated[int, Field(description="At most the broker count.", ge=1, le=MAX_REPLICATION_FACTOR)]
# Published as a map of strings with its size; the lengths of names (1-255) and values (10 000) are checked.
ConfigMap = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=255)],
        Annotated[str, StringConstraints(max_length=10_000)],
    ],
    Field(max_length=200),
    WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 200}),
]
ConfigNames = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=255)]],
    Field(max_length=200),
    WithJsonSchema({"type": "array", "items": {"type": "string"}, "maxItems": 200}),
]
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=500)]
