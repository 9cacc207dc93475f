"""SCRAM users through the tools, checked on the SASL cluster with separate clients; and the server's own SASL
login from a clusters file."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, make_settings
from tests.helpers import assert_tool_error, structured
from tests.security.conftest import audit_entries, can_login, wait_until

pytestmark = pytest.mark.anyio


def _scram_mechs(admin: Any, user: str) -> set[str]:
    from confluent_kafka import KafkaException

    try:
        desc = admin.describe_user_scram_credentials([user])[user].result(10)
    except KafkaException:
        return set()
    return {c.mechanism.name for c in desc.scram_credential_infos}


async def test_user_created_by_tool_can_log_in_then_is_deleted(
    sec_client: Any,
    sasl_admin: Any,
    new_user: Callable[[], str],
    scram_conf: Callable[..., dict[str, Any]],
    sec_settings: Any,
) -> None:
    user, password = new_user(), secrets.token_urlsafe(16)
    result = structured(
        await sec_client.call_tool(
            "kafka_upsert_scram_user", {"user": user, "password": password, "mechanism": "both", "iterations": 4096}
        )
    )
    assert result["ok"] is True and result["mechanisms"] == ["SCRAM-SHA-256", "SCRAM-SHA-512"]
    assert _scram_mechs(sasl_admin, user) == {"SCRAM_SHA_256", "SCRAM_SHA_512"}

    # Credentials reach the SASL listener asynchronously: poll with a plain client of our own.
    for mech in ("SCRAM-SHA-512", "SCRAM-SHA-256"):
        assert await anyio.to_thread.run_sync(
            lambda m=mech: wait_until(lambda: can_login(scram_conf(user, password, m)))
        )
    assert not await anyio.to_thread.run_sync(can_login, scram_conf(user, password + "x"))

    listed = structured(await sec_client.call_tool("kafka_describe_scram_users", {"users": [user, "no-such-user-x1"]}))
    assert listed["missing"] == ["no-such-user-x1"]
    assert [(c["mechanism"], c["iterations"]) for c in listed["users"][0]["credentials"]] == [
        ("SCRAM-SHA-256", 4096),
        ("SCRAM-SHA-512", 4096),
    ]
    everyone = structured(await sec_client.call_tool("kafka_describe_scram_users", {}))
    assert {user, "admin"} <= {u["user"] for u in everyone["users"]}

    # The login check tool: right password works, wrong password is a clear authentication error.
    sasl_bootstrap = scram_conf(user, password)["bootstrap.servers"]
    ok = structured(
        await sec_client.call_tool(
            "kafka_check_login", {"username": user, "password": password, "bootstrap_servers": sasl_bootstrap}
        )
    )
    assert ok["ok"] is True and ok["brokers"] == 1 and ok["security_protocol"] == "SASL_PLAINTEXT"
    assert ok["visible_topics"] == 0, "a user without ACLs must not see any topic"
    assert_tool_error(
        await sec_client.call_tool(
            "kafka_check_login", {"username": user, "password": "wrong-password-1", "bootstrap_servers": sasl_bootstrap}
        ),
        "authentication",
        "invalid credentials",
    )

    # Delete only one mechanism: dry run first, nothing changes without the token.
    preview = structured(
        await sec_client.call_tool("kafka_delete_scram_user", {"user": user, "mechanism": "SCRAM-SHA-256"})
    )
    assert preview["executed"] is False and "SCRAM-SHA-256" in preview["consent"]["effect"]
    assert _scram_mechs(sasl_admin, user) == {"SCRAM_SHA_256", "SCRAM_SHA_512"}
    token = preview["consent"]["confirmation_token"]
    done = structured(
        await sec_client.call_tool(
            "kafka_delete_scram_user", {"user": user, "mechanism": "SCRAM-SHA-256", "confirm_token": token}
        )
    )
    assert done["executed"] is True and [r["mechanism"] for r in done["results"]] == ["SCRAM-SHA-256"]
    assert _scram_mechs(sasl_admin, user) == {"SCRAM_SHA_512"}

    # Delete the rest: afterwards the user cannot log in any more.
    preview = structured(await sec_client.call_tool("kafka_delete_scram_user", {"user": user}))
    token = preview["consent"]["confirmation_token"]
    done = structured(await sec_client.call_tool("kafka_delete_scram_user", {"user": user, "confirm_token": token}))
    assert done["executed"] is True
    assert _scram_mechs(sasl_admin, user) == set()
    assert await anyio.to_thread.run_sync(lambda: wait_until(lambda: not can_login(scram_conf(user, password))))

    # Both changes went through the gate, on the user as the resource; the password is nowhere in the audit log.
    (upsert,) = audit_entries(sec_settings, "kafka_upsert_scram_user")
    assert (upsert["decision"], upsert["action"], upsert["resources"]) == ("allowed", "user.scram.upsert", [user])
    deletes = audit_entries(sec_settings, "kafka_delete_scram_user")
    assert [(e["decision"], e["resources"]) for e in deletes] == [
        ("consent_requested", [user]),
        ("confirmed", [user]),
        ("consent_requested", [user]),
        ("confirmed", [user]),
    ]
    assert password not in sec_settings.resolved_audit_log().read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ({"user": "ok-user", "password": "short"}, ["too short"]),
        ({"user": "ok-user", "password": "ok-user"}, ["too short"]),
        ({"user": "longer-user", "password": "longer-user"}, ["must not be the user name"]),
        ({"user": "bad user", "password": "long-enough-1"}, ["not allowed"]),
        ({"user": "ok-user", "password": "long-enough-1", "iterations": 100}, ["4096..16384"]),
        ({"user": "ok-user", "password": "long-enough-1", "mechanism": "MD5"}, ["mechanism"]),
        ({"user": "ok-user", "password": "long-enough-1", "cluster": "nope"}, ["'nope' is not a configured cluster"]),
    ],
)
async def test_upsert_bad_input(sec_client: Any, sasl_admin: Any, args: dict[str, Any], fragments: list[str]) -> None:
    assert_tool_error(await sec_client.call_tool("kafka_upsert_scram_user", args), *fragments)
    assert _scram_mechs(sasl_admin, args["user"]) == set()


async def test_delete_unknown_user_is_not_found(sec_client: Any) -> None:
    assert_tool_error(
        await sec_client.call_tool("kafka_delete_scram_user", {"user": "no-such-user-x2"}), "no SCRAM credentials"
    )
    structured(await sec_client.call_tool("kafka_describe_scram_users", {}))  # the server keeps serving


def _clusters_file(path: Path, sasl_cluster: ClusterHandle, env_var: str) -> Path:
    path.write_text(
        "clusters:\n"
        "  secure:\n"
        f"    bootstrap_servers: {sasl_cluster.sasl_bootstrap_servers}\n"
        "    security_protocol: SASL_PLAINTEXT\n"
        "    sasl_mechanism: SCRAM-SHA-512\n"
        f"    sasl_username: {sasl_cluster.admin_user}\n"
        f"    sasl_password: ${{{env_var}}}\n",
        encoding="utf-8",
    )
    return path


async def test_server_connects_over_sasl_from_clusters_file(
    sasl_cluster: ClusterHandle, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    monkeypatch.setenv("SEC_TEST_ADMIN_PASSWORD", sasl_cluster.admin_password or "")
    settings = make_settings(
        "unused:1", data_dir, clusters_file=_clusters_file(tmp_path / "c.yaml", sasl_cluster, "SEC_TEST_ADMIN_PASSWORD")
    )
    async with Client(build_server(settings), raise_exceptions=False) as client:
        desc = structured(await client.call_tool("kafka_describe_cluster", {"cluster": "secure"}))
        assert desc["broker_count"] == 1
        users = structured(await client.call_tool("kafka_describe_scram_users", {"users": ["admin"]}))
        assert users["users"][0]["user"] == "admin"
        login = structured(await client.call_tool("kafka_check_login", {}))
        assert login["ok"] is True and login["username"] == "admin" and login["sasl_mechanism"] == "SCRAM-SHA-512"


async def test_server_with_wrong_sasl_password_gets_a_clear_authentication_error(
    sasl_cluster: ClusterHandle, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    monkeypatch.setenv("SEC_TEST_WRONG_PASSWORD", "definitely-not-the-password")
    settings = make_settings(
        "unused:1",
        data_dir,
        request_timeout_s=3,
        clusters_file=_clusters_file(tmp_path / "c.yaml", sasl_cluster, "SEC_TEST_WRONG_PASSWORD"),
    )
    async with Client(build_server(settings), raise_exceptions=False) as client:
        text = assert_tool_error(await client.call_tool("kafka_list_acls", {}), "login was rejected", "authentication")
        assert "definitely-not-the-password" not in text
        assert_tool_error(await client.call_tool("kafka_check_login", {}), "authentication", "invalid credentials")
