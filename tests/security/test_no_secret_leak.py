"""No password given to any tool shows up in a tool result, a log line, stdout/stderr or the audit log."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, make_settings
from tests.security.conftest import can_login, wait_until

pytestmark = pytest.mark.anyio


def _texts(result: Any) -> str:
    parts = [getattr(c, "text", "") for c in result.content]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


async def test_passwords_never_leak(
    sasl_cluster: ClusterHandle,
    data_dir: Path,
    tmp_path: Path,
    new_user: Callable[[], str],
    scram_conf: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    caplog.set_level(logging.DEBUG)
    user = new_user()
    password = "Pw-" + secrets.token_hex(12)
    second = "Pw2-" + secrets.token_hex(12)
    wrong = "Wrong-" + secrets.token_hex(12)
    cluster_pw = sasl_cluster.admin_password or ""
    monkeypatch.setenv("SEC_LEAK_ADMIN_PASSWORD", cluster_pw)
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(
        "default: plain\nclusters:\n"
        f"  plain:\n    bootstrap_servers: {sasl_cluster.bootstrap_servers}\n"
        f"  secure:\n    bootstrap_servers: {sasl_cluster.sasl_bootstrap_servers}\n"
        "    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n"
        f"    sasl_username: {sasl_cluster.admin_user}\n    sasl_password: ${{SEC_LEAK_ADMIN_PASSWORD}}\n",
        encoding="utf-8",
    )
    settings = make_settings("unused:1", data_dir, clusters_file=clusters)
    sasl_bootstrap = sasl_cluster.sasl_bootstrap_servers
    outputs: list[str] = []
    async with Client(build_server(settings), raise_exceptions=False) as client:

        async def call(tool: str, args: dict[str, Any]) -> Any:
            result = await client.call_tool(tool, args)
            outputs.append(_texts(result))
            return result

        assert not (await call("kafka_upsert_scram_user", {"user": user, "password": password})).is_error
        assert await anyio.to_thread.run_sync(lambda: wait_until(lambda: can_login(scram_conf(user, password))))
        # Password rotation, over the SASL-authenticated connection of the 'secure' cluster.
        rotated = await call(
            "kafka_upsert_scram_user", {"user": user, "password": second, "mechanism": "both", "cluster": "secure"}
        )
        assert not rotated.is_error
        # Failing calls: another argument invalid, an unknown cluster, a bad user name.
        assert (await call("kafka_upsert_scram_user", {"user": user, "password": password, "iterations": 1})).is_error
        assert (await call("kafka_upsert_scram_user", {"user": user, "password": password, "cluster": "x"})).is_error
        assert (await call("kafka_upsert_scram_user", {"user": "bad user", "password": password})).is_error
        numeric = {"user": user, "password": 98765432123, "iterations": 1}  # a number, and another argument wrong
        assert (await call("kafka_upsert_scram_user", numeric)).is_error
        assert (await call("kafka_upsert_scram_user", {**numeric, "iterations": "many"})).is_error
        assert (
            await call("kafka_upsert_scram_user", {"user": user, "password": password, "mechanism": "MD5"})
        ).is_error
        # Login checks: right and wrong password, and the server's own login from the clusters file.
        assert await anyio.to_thread.run_sync(lambda: wait_until(lambda: can_login(scram_conf(user, second))))
        check = {"username": user, "bootstrap_servers": sasl_bootstrap}
        assert not (await call("kafka_check_login", {**check, "password": second})).is_error
        assert (await call("kafka_check_login", {**check, "password": wrong})).is_error
        assert not (await call("kafka_check_login", {"cluster": "secure"})).is_error
        assert not (await call("kafka_describe_scram_users", {"users": [user], "cluster": "secure"})).is_error
        assert not (await call("kafka_client_security_config", {"protocol": "SASL_SSL", "username": user})).is_error
        preview = await call("kafka_delete_scram_user", {"user": user})
        token = preview.structured_content["consent"]["confirmation_token"]
        assert not (await call("kafka_delete_scram_user", {"user": user, "confirm_token": token})).is_error

    audit = settings.resolved_audit_log().read_text(encoding="utf-8")
    entries = [json.loads(line) for line in audit.splitlines()]
    upserts = [e for e in entries if e["tool"] == "kafka_upsert_scram_user"]
    # The changes the gate let through carry no password argument at all ...
    changes = [e for e in upserts if e["action"] == "user.scram.upsert"]
    assert len(changes) >= 2 and all(set(e["arguments"]) == {"user", "mechanisms", "iterations"} for e in changes)
    assert all(e["decision"] == "allowed" and e["resources"] == [user] for e in changes)
    # ... and calls refused for their arguments before reaching the gate show it only redacted.
    refusals = [e for e in upserts if e["action"] == "tool.call"]
    assert all(e["decision"] == "refused" and e["arguments"].get("password") == "***" for e in refusals)
    assert user in audit
    assert "kafka_upsert_scram_user" in caplog.text, "the failed calls should have been logged (capture works)"
    captured = capfd.readouterr()
    haystacks = {
        "tool output": "\n".join(outputs),
        "log records": caplog.text + "\n".join(str(r.args) for r in caplog.records),
        "stdout": captured.out,
        "stderr": captured.err,
        "audit log": audit,
    }
    for where, text in haystacks.items():
        for secret in (password, second, wrong, cluster_pw, "98765432123"):
            assert secret not in text, f"a password appears in the {where}"
