"""Client security configs: secrets referenced, never embedded; the SASL_PLAINTEXT output proven on the SASL cluster
with confluent-kafka and with Kafka's own Java tool."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from core.kafka.security import client_security_config
from core.settings import interpolate_env
from tests.conftest import ClusterHandle, devcluster_home, unique
from tests.helpers import assert_tool_error, structured
from tests.security.conftest import can_login

pytestmark = pytest.mark.anyio


async def test_sasl_ssl_scram_512_with_env_secrets(sec_client: Any) -> None:
    cfg = structured(
        await sec_client.call_tool(
            "kafka_client_security_config",
            {"protocol": "SASL_SSL", "username": "orders-app", "env_prefix": "ORDERS", "bootstrap_servers": "k1:9093"},
        )
    )
    rd = cfg["librdkafka"]
    assert rd["security.protocol"] == "SASL_SSL" and rd["sasl.mechanism"] == "SCRAM-SHA-512"
    assert rd["sasl.password"] == "${ORDERS_SASL_PASSWORD}" and rd["ssl.ca.location"].endswith("ca.pem")
    java = cfg["java_properties"]
    assert "config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider" in java
    assert (
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="orders-app" '
        'password="${env:ORDERS_SASL_PASSWORD}";' in java
    )
    assert "ssl.truststore.password=${env:ORDERS_TRUSTSTORE_PASSWORD}" in java
    assert "sasl_password: ${ORDERS_SASL_PASSWORD}" in cfg["clusters_file_entry"]
    assert {s["env_var"] for s in cfg["secrets"]} == {"ORDERS_SASL_PASSWORD", "ORDERS_TRUSTSTORE_PASSWORD"}


async def test_mutual_tls_with_file_secrets(sec_client: Any) -> None:
    cfg = structured(
        await sec_client.call_tool(
            "kafka_client_security_config",
            {"protocol": "SSL", "secret_source": "file", "secrets_file": "/run/secrets/kafka.properties"},
        )
    )
    rd = cfg["librdkafka"]
    assert rd["security.protocol"] == "SSL" and "sasl.mechanism" not in rd
    assert rd["ssl.certificate.location"] and rd["ssl.key.location"]
    assert rd["ssl.key.password"] == "${file:/run/secrets/kafka.properties:ssl.key.password}"
    java = cfg["java_properties"]
    assert "config.providers=file" in java and "ssl.keystore.location=" in java
    assert "ssl.keystore.password=${file:/run/secrets/kafka.properties:ssl.keystore.password}" in java
    assert "ssl.client.auth=required" in " ".join(cfg["notes"])
    assert set(cfg["secrets_file_template"].splitlines()) == {
        "ssl.truststore.password=<fill in>",
        "ssl.key.password=<fill in>",
        "ssl.keystore.password=<fill in>",
    }


async def test_config_bad_input(sec_client: Any) -> None:
    assert_tool_error(
        await sec_client.call_tool("kafka_client_security_config", {"protocol": "SASL_SSL"}), "needs the SASL user"
    )
    assert_tool_error(
        await sec_client.call_tool("kafka_client_security_config", {"protocol": "SSL", "env_prefix": "1-bad"}),
        "not a valid environment variable",
    )


async def test_sasl_plaintext_config_connects_with_confluent_kafka_and_java(
    sasl_cluster: ClusterHandle, tmp_path: Path
) -> None:
    assert sasl_cluster.sasl_bootstrap_servers and sasl_cluster.admin_user and sasl_cluster.admin_password
    cfg = client_security_config(
        protocol="SASL_PLAINTEXT",
        bootstrap_servers=sasl_cluster.sasl_bootstrap_servers,
        cluster_name="local-sasl",
        username=sasl_cluster.admin_user,
        env_prefix="SECTEST",
    )
    env = {"SECTEST_SASL_PASSWORD": sasl_cluster.admin_password}
    # librdkafka: the application fills the placeholders from the environment.
    filled = {k: interpolate_env(v, env) for k, v in cfg.librdkafka.items()}
    assert await anyio.to_thread.run_sync(can_login, filled)
    assert not await anyio.to_thread.run_sync(can_login, {**filled, "sasl.password": "wrong-password"})

    # Java: Kafka's own TopicCommand reads the generated properties; the env config provider supplies the password.
    from devcluster.jars import java_command

    props = tmp_path / "client.properties"
    props.write_text(cfg.java_properties, encoding="utf-8")
    topic = unique("sec-java")
    cmd = java_command(
        devcluster_home(),
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        sasl_cluster.sasl_bootstrap_servers,
        "--command-config",
        str(props),
        "--create",
        "--topic",
        topic,
        "--partitions",
        "1",
    )
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(cmd, check=False, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert sasl_cluster.admin_password not in cfg.java_properties
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": sasl_cluster.bootstrap_servers})
    assert topic in admin.list_topics(timeout=10).topics
    admin.delete_topics([topic])[topic].result(15)
