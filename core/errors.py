"""The error tree, and the one place Kafka errors are translated into it.

    KafkaAgentError                 every error we raise; ``str(err)`` says what happened and what to do
    ├── ConfigError                 settings or the clusters file are wrong
    │   └── UnknownCluster          a ``cluster`` argument that is not configured
    ├── InvalidArgument             bad input the caller can fix (names, counts, ranges, sizes)
    ├── NotFound                    a topic, group, subject, connector, memory record ... does not exist
    ├── AlreadyExists               the thing to create is already there
    ├── Unreachable                 a broker or a REST service did not answer (names the address tried)
    ├── AuthError                   authentication failed or the principal lacks an ACL
    ├── Refused                     the server will not do this call as asked
    │   ├── ReadOnlyMode            the server runs with --read-only, or the tool is not allowed
    │   ├── ProtectedResource       an internal or protected topic
    │   └── PolicyViolation         a guardrail rule (names the rule, why, and the compliant call)
    ├── Conflict                    the state of the cluster forbids it now (an active group, a busy port)
    ├── OperationTimeout            the call did not finish in time
    └── KafkaOperationError         any other Kafka error, with its code name

Tools never raise anything else on purpose: ``mcp_server.tools._base`` turns these into MCP ``ToolError`` results,
so the model reads the message and the server keeps serving.
"""

from __future__ import annotations

from typing import Any


class KafkaAgentError(Exception):
    """Root of every error this project raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        self.message = message
        self.hint = hint
        self.code = code
        super().__init__(message if not hint else f"{message} {hint}")


class ConfigError(KafkaAgentError):
    """Settings or the clusters file are wrong."""


class UnknownCluster(ConfigError):
    """A ``cluster`` argument that is not configured."""


class InvalidArgument(KafkaAgentError):
    """Bad input that the caller can fix."""


class NotFound(KafkaAgentError):
    """The named thing does not exist."""


class AlreadyExists(KafkaAgentError):
    """The thing to create already exists."""


class Unreachable(KafkaAgentError):
    """A broker or a REST service did not answer."""


class AuthError(KafkaAgentError):
    """Authentication failed, or the principal is not authorized."""


class Refused(KafkaAgentError):
    """The server refuses this call as asked."""


class ReadOnlyMode(Refused):
    """The server runs read-only, or the tool is not on the allow list."""


class ProtectedResource(Refused):
    """An internal or protected resource that no tool may change."""


class PolicyViolation(Refused):
    """A guardrail rule refuses the change."""

    def __init__(self, message: str, *, rule: str, hint: str | None = None) -> None:
        self.rule = rule
        super().__init__(message, hint=hint, code=rule)


class Conflict(KafkaAgentError):
    """The current state forbids the operation (an active group, a busy port, ...)."""


class OperationTimeout(KafkaAgentError):
    """The call did not finish in time."""


class KafkaOperationError(KafkaAgentError):
    """Any other Kafka error, with its code name."""


# --- translation -----------------------------------------------------------------------------------------------

_AUTH_CODES = {
    "SASL_AUTHENTICATION_FAILED",
    "_AUTHENTICATION",
    "TOPIC_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
}
_UNREACHABLE_CODES = {"_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "BROKER_NOT_AVAILABLE"}
_TIMEOUT_CODES = {"_TIMED_OUT", "REQUEST_TIMED_OUT", "_MSG_TIMED_OUT"}


def _kafka_error_parts(exc: BaseException) -> tuple[str, str, Any]:
    """(code name, message, KafkaError or None) for a confluent-kafka exception or KafkaError."""
    err: Any = exc.args[0] if isinstance(exc, Exception) and exc.args else None
    if err is not None and hasattr(err, "name") and hasattr(err, "str"):
        return str(err.name()), str(err.str()), err
    if hasattr(exc, "name") and hasattr(exc, "str"):
        e: Any = exc
        return str(e.name()), str(e.str()), e
    return type(exc).__name__, str(exc), None


def kafka_error_code(exc: BaseException) -> str:
    """The Kafka error code's name (e.g. ``NOT_COORDINATOR``) of a confluent-kafka exception or KafkaError; for any
    other exception, its type's name."""
    return _kafka_error_parts(exc)[0]


def translate_kafka_error(exc: BaseException, *, what: str, bootstrap: str | None = None) -> KafkaAgentError:
    """Turn a confluent-kafka ``KafkaException``/``KafkaError`` (or a timeout) into our tree.

    ``what`` names the operation and its subject ("create topic 'orders'"), so the message reads on its own.
    """
    if isinstance(exc, KafkaAgentError):
        return exc
    if isinstance(exc, TimeoutError):
        where = f" at {bootstrap}" if bootstrap else ""
        return OperationTimeout(
            f"Timed out during {what}: no answer from the cluster{where}.",
            hint="Check that the brokers are up (kafka-agent dev-cluster status) and the bootstrap servers are right.",
        )
    code, message, _ = _kafka_error_parts(exc)
    full = f"{what} failed: {code}: {message}"
    if code == "TOPIC_ALREADY_EXISTS":
        return AlreadyExists(full, hint="Pick another name, or describe the existing topic.", code=code)
    if code in ("UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION"):
        return NotFound(full, hint="List the topics with kafka_list_topics to see what exists.", code=code)
    if code in ("GROUP_ID_NOT_FOUND", "_UNKNOWN_GROUP"):
        return NotFound(full, hint="List the groups with kafka_list_consumer_groups.", code=code)
    if code == "INVALID_REPLICATION_FACTOR":
        return InvalidArgument(
            full,
            hint="The replication factor cannot exceed the number of live brokers (see kafka_describe_cluster).",
            code=code,
        )
    if code in (
        "INVALID_PARTITIONS",
        "INVALID_TOPIC_EXCEPTION",
        "INVALID_CONFIG",
        "INVALID_REQUEST",
        "POLICY_VIOLATION",
        "INVALID_REPLICA_ASSIGNMENT",
        "_INVALID_ARG",
        "OFFSET_OUT_OF_RANGE",
    ):
        return InvalidArgument(full, code=code)
    if code == "NON_EMPTY_GROUP":
        return Conflict(
            full, hint="Stop the group's consumers first; the group must have no active members.", code=code
        )
    if code in _AUTH_CODES or "AUTHORIZATION" in code or "AUTHENTICATION" in code:
        return AuthError(full, hint="Check the cluster's SASL credentials and the principal's ACLs.", code=code)
    if code in _UNREACHABLE_CODES:
        where = f" {bootstrap}" if bootstrap else ""
        return Unreachable(
            f"{what} failed: could not reach the brokers{where} ({code}: {message}).",
            hint="Check that the cluster runs (kafka-agent dev-cluster status) and the bootstrap servers are right.",
            code=code,
        )
    if code in _TIMEOUT_CODES:
        return OperationTimeout(
            full,
            hint="The brokers did not answer in time: check that they are up and reachable "
            "(kafka-agent dev-cluster status) and retry.",
            code=code,
        )
    if code in ("NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND"):
        return KafkaOperationError(
            f"{what} failed: not enough in-sync replicas ({code}: {message}).",
            hint="Fewer brokers are in sync than min.insync.replicas requires; bring brokers back before writing.",
            code=code,
        )
    return KafkaOperationError(full, code=code)
