"""Fixtures for the security tests: a server on the SASL test cluster, SASL client configs, and cleanup of the
cluster-global things the tests create (SCRAM users and ACLs)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings, unique


@pytest.fixture
def sec_settings(sasl_cluster: ClusterHandle, data_dir: Path) -> Any:
    """The server talks to the SASL cluster's PLAINTEXT listener, whose principal (ANONYMOUS) is a super user."""
    return make_settings(sasl_cluster.bootstrap_servers, data_dir)


@pytest.fixture
async def sec_client(sec_settings: Any) -> AsyncIterator[Any]:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(sec_settings), raise_exceptions=False) as client:
        yield client


@pytest.fixture
def sasl_admin(sasl_cluster: ClusterHandle) -> Any:
    """A separate admin client (super user) to check effects on the cluster."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": sasl_cluster.bootstrap_servers})


@pytest.fixture
def scram_conf(sasl_cluster: ClusterHandle) -> Callable[..., dict[str, Any]]:
    """librdkafka config for the SASL listener as a given user."""

    def make(user: str, password: str, mechanism: str = "SCRAM-SHA-512", **extra: Any) -> dict[str, Any]:
        assert sasl_cluster.sasl_bootstrap_servers
        return {
            "bootstrap.servers": sasl_cluster.sasl_bootstrap_servers,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism,
            "sasl.username": user,
            "sasl.password": password,
            "socket.connection.setup.timeout.ms": 5000,
            **extra,
        }

    return make


@pytest.fixture
def new_user(sasl_admin: Any) -> Iterator[Callable[[], str]]:
    """Unique user names; at teardown their SCRAM credentials and every ACL of User:<name> are removed."""
    created: list[str] = []

    def make() -> str:
        name = unique("sec-user")
        created.append(name)
        return name

    yield make
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
        ScramMechanism,
        UserScramCredentialDeletion,
    )

    for name in created:
        flt = AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            f"User:{name}",
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        for fut in sasl_admin.delete_acls([flt]).values():
            fut.result(15)
        for mech in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
            for fut in sasl_admin.alter_user_scram_credentials([UserScramCredentialDeletion(name, mech)]).values():
                with contextlib.suppress(Exception):  # that mechanism was never set, or the test deleted it
                    fut.result(15)


def wait_until(check: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.3) -> Any:
    """Poll ``check`` until it returns something truthy (SCRAM credentials and ACLs propagate asynchronously)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    return last


def can_login(conf: dict[str, Any]) -> bool:
    """True when a plain confluent-kafka client with ``conf`` gets metadata (a separate client from our tools)."""
    import logging

    from confluent_kafka import KafkaException, Producer

    quiet = logging.getLogger("tests.security.librdkafka")
    quiet.setLevel(logging.CRITICAL)
    producer = Producer({**conf, "enable.idempotence": False, "logger": quiet})
    try:
        producer.list_topics(timeout=3)
        return True
    except KafkaException:
        return False


def audit_entries(settings: Any, tool: str) -> list[dict[str, Any]]:
    """The audit log's lines for one tool, oldest first."""
    path = settings.resolved_audit_log()
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["tool"] == tool]
