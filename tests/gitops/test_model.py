"""The platform file's schema, without a cluster: what it accepts, what it refuses and why; Strimzi manifests from
a file, checked against the CRDs Strimzi's own generator builds from its api artifact (Maven Central)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidArgument
from gitops import strimzi
from gitops.model import parse
from gitops.plan import check_scope
from gitops.secrets import resolve

GOOD = """
version: 1
clusters:
  prod:
    manage: {prefixes: [shop.], acls: {prefixes: [User:shop.]}}
    topics:
      shop.orders: {partitions: 12, replication_factor: 3, configs: {min.insync.replicas: 2, retention.ms: 604800000}}
    acls:
      - user:shop.app:write:topic:shop.orders
      - user:shop.reporting:read:topic:shop.*
      - {principal: User:shop.app, resource_type: cluster, operation: idempotent_write}
    users:
      shop.app: {mechanisms: [SCRAM-SHA-512], iterations: 8192, password: "${env:SHOP_APP_PASSWORD}"}
    schemas:
      shop.orders-value: {schema: '{"type": "string"}', compatibility: FULL}
    connectors:
      shop.sink:
        config: {connector.class: FileStreamSink, topics: shop.orders, db.password: "${file:/s.properties:pw}"}
"""


def test_a_documented_file_parses_into_what_the_plan_compares() -> None:
    platform = parse(GOOD)
    section = platform.clusters["prod"]
    assert section.topics["shop.orders"].configs == {"min.insync.replicas": "2", "retention.ms": "604800000"}
    ids = [a.binding_id() for a in section.acls]
    assert "User:shop.reporting:READ:TOPIC:PREFIXED:shop.:ALLOW@*" in ids
    assert "User:shop.app:IDEMPOTENT_WRITE:CLUSTER:LITERAL:kafka-cluster:ALLOW@*" in ids
    check_scope(section, "prod")  # everything it lists, it manages
    assert section.scope("topics").matches("shop.payments") and not section.scope("topics").matches("billing")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("version: 2\nclusters: {a: {}}", "reads version 1"),
        ("version: 1\nclusters: {a: {users: {u1: {password: hunter2-hunter2}}}}", "must be a reference"),
        (
            "version: 1\nclusters: {a: {connectors: {c: {config: {connector.class: X, db.password: plain}}}}}",
            "secrets in a connector config must be references",
        ),
        ("version: 1\nclusters: {a: {topics: {'bad name': {partitions: 1, replication_factor: 1}}}}", "bad name"),
        ("version: 1\nclusters: {a: {topics: {t: {partitions: 0, replication_factor: 1}}}}", "partitions"),
        ("version: 1\nclusters: {a: {acls: ['user:x:fly:topic:t']}}", "unknown operation"),
        ("version: 1\nclusters: {a: {schemas: {s: {type: AVRO}}}}", "file: <path> or schema: <text>"),
        ("version: 1\nclusters: {a: {topics: {t: {partitions: 1, replication_factor: 1, colour: red}}}}", "colour"),
    ],
)
def test_what_a_file_may_not_say(text: str, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        parse(text)


def test_a_file_lists_only_what_it_manages() -> None:
    platform = parse(
        "version: 1\nclusters: {a: {manage: {prefixes: [shop.]},\n"
        "  topics: {other: {partitions: 1, replication_factor: 1}}}}"
    )
    with pytest.raises(InvalidArgument, match="outside what it manages: other"):
        check_scope(platform.clusters["a"], "a")


def test_secret_references_resolve_from_the_environment_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_PW", "from-the-env")
    (tmp_path / "s.properties").write_text("# comment\npw = from-a-file\n")
    (tmp_path / "whole").write_text("the-whole-file\n")
    assert resolve("${env:APP_PW}", base=tmp_path).get_secret_value() == "from-the-env"
    assert resolve("${file:s.properties:pw}", base=tmp_path).get_secret_value() == "from-a-file"
    assert resolve("${file:whole}", base=tmp_path).get_secret_value() == "the-whole-file"
    with pytest.raises(InvalidArgument, match="outside the platform folder"):
        resolve("${file:/etc/hostname}", base=tmp_path, confine=tmp_path)
    with pytest.raises(InvalidArgument, match="not set"):
        resolve("${env:NOT_SET_ANYWHERE_X}", base=tmp_path)


@pytest.mark.timeout(600)
def test_strimzi_manifests_of_a_file_pass_the_crd_schemas() -> None:
    section = parse(GOOD).clusters["prod"]
    items = strimzi.manifests(section, strimzi_cluster="shop", namespace="kafka")
    schemas = strimzi.crd_schemas()  # generated once by Strimzi's crd-generator, then cached
    strimzi.validate(items, schemas)
    topic, user = items
    assert topic["spec"] == {
        "partitions": 12,
        "replicas": 3,
        "config": {"min.insync.replicas": "2", "retention.ms": "604800000"},
    }
    assert user["kind"] == "KafkaUser" and user["metadata"]["name"] == "shop.app"
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    assert {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"], "host": "*", "type": "allow"} in user[
        "spec"
    ]["authorization"]["acls"]
    # what the CRD refuses is refused here too
    bad_user = {**user, "spec": {**user["spec"], "authentication": {"type": "kerberos"}}}
    with pytest.raises(InvalidArgument, match="authentication"):
        strimzi.validate([bad_user], schemas)
    with pytest.raises(InvalidArgument, match="replicas"):
        strimzi.validate([{**topic, "spec": {**topic["spec"], "replicas": 0}}], schemas)
