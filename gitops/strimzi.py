"""Strimzi output: a platform file's topics as ``KafkaTopic`` and its SCRAM users with their ACLs as ``KafkaUser``
resources (``kafka.strimzi.io/v1beta2``), checked against Strimzi's own CRD schemas.

The CRDs are not shipped as files on a package registry; Strimzi builds them from the model classes of its ``api``
artifact with its ``crd-generator``, both on Maven Central. ``crd_schemas`` does the same once (``mvn`` resolves the
two artifacts, the generator writes the CRDs) into the per-user cache, and ``validate`` checks each manifest against
the CRD's ``openAPIV3Schema``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from core.errors import ConfigError, InvalidArgument
from gitops.model import ClusterPlatform

STRIMZI_VERSION = "0.45.0"
API_VERSION = "kafka.strimzi.io/v1beta2"
CRDS = {
    "KafkaTopic": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "KafkaUser": "io.strimzi.api.kafka.model.user.KafkaUser",
}
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_OPS = {
    "all": "All",
    "read": "Read",
    "write": "Write",
    "create": "Create",
    "delete": "Delete",
    "alter": "Alter",
    "describe": "Describe",
    "cluster_action": "ClusterAction",
    "describe_configs": "DescribeConfigs",
    "alter_configs": "AlterConfigs",
    "idempotent_write": "IdempotentWrite",
}
_TYPES = {"topic": "topic", "group": "group", "cluster": "cluster", "transactional_id": "transactionalId"}


def k8s_name(name: str) -> str:
    """A Kubernetes resource name for a Kafka name (lowercase, '_' -> '-'); the real name goes in the spec."""
    cleaned = re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.")[:253] or "x"
    return cleaned


def manifests(section: ClusterPlatform, *, strimzi_cluster: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """KafkaTopic per topic; KafkaUser per SCRAM user (SCRAM-SHA-512, as Strimzi supports) with its ACLs (simple
    authorization). ACLs of principals without a SCRAM user in the file have no KafkaUser and are left out."""
    out: list[dict[str, Any]] = []

    def meta(name: str) -> dict[str, Any]:
        m: dict[str, Any] = {"name": k8s_name(name), "labels": {"strimzi.io/cluster": strimzi_cluster}}
        if namespace:
            m["namespace"] = namespace
        return m

    for name, topic in sorted(section.topics.items()):
        spec: dict[str, Any] = {"partitions": topic.partitions, "replicas": topic.replication_factor}
        if k8s_name(name) != name:
            spec["topicName"] = name
        if topic.configs:
            spec["config"] = dict(topic.configs)
        out.append({"apiVersion": API_VERSION, "kind": "KafkaTopic", "metadata": meta(name), "spec": spec})
    for user, _ in sorted(section.users.items()):
        acls = []
        for acl in section.acls:
            if acl.principal != f"User:{user}":
                continue
            resource: dict[str, Any] = {"type": _TYPES[acl.resource_type]}
            if acl.resource_type != "cluster":
                resource["name"] = acl.resource_name
                resource["patternType"] = "prefix" if acl.pattern_type == "prefixed" else "literal"
            acls.append(
                {"resource": resource, "operations": [_OPS[acl.operation]], "host": acl.host, "type": acl.permission}
            )
        spec = {"authentication": {"type": "scram-sha-512"}}
        if acls:
            spec["authorization"] = {"type": "simple", "acls": acls}
        m = meta(user)
        out.append({"apiVersion": API_VERSION, "kind": "KafkaUser", "metadata": m, "spec": spec})
    return out


def dump(items: list[dict[str, Any]]) -> str:
    import yaml

    return "".join("---\n" + yaml.safe_dump(i, sort_keys=False) for i in items)


def cache_dir() -> Path:
    return Path.home() / ".cache" / "kafka-streaming-agent" / "strimzi" / STRIMZI_VERSION


_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>kafka-agent</groupId><artifactId>strimzi-crds</artifactId><version>1</version>
<dependencies>
<dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>{v}</version></dependency>
<dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>{v}</version></dependency>
</dependencies></project>
"""


def crd_schemas(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """kind -> the CRD's openAPIV3Schema, generated once by Strimzi's crd-generator from its api classes."""
    import yaml

    folder = folder or cache_dir()
    files = {kind: folder / f"{kind.lower()}.yaml" for kind in CRDS}
    if not all(p.exists() for p in files.values()):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pom.xml").write_text(_POM.format(v=STRIMZI_VERSION), encoding="utf-8")
        pom, libs = str(folder / "pom.xml"), folder / "libs"
        mvn = ["mvn", "-B", "-q", "-f", pom, "dependency:copy-dependencies", f"-DoutputDirectory={libs}"]
        _run(mvn, "resolve Strimzi's api and crd-generator from Maven Central")
        args = [f"{cls}={files[kind]}" for kind, cls in CRDS.items()]
        generator = ["java", "-cp", f"{libs}/*", "io.strimzi.crdgenerator.CrdGenerator", "--yaml"]
        _run([*generator, "--api-versions", "v1beta2", "--storage-version", "v1beta2", *args], "generate the CRDs")
    out: dict[str, dict[str, Any]] = {}
    for kind, path in files.items():
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")
        out[kind] = version["schema"]["openAPIV3Schema"]
    return out


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"Could not {what}: {exc}.", hint="Java 17 and Maven are needed for the CRD check.") from None
    if done.returncode != 0:
        raise ConfigError(f"Could not {what}: {(done.stderr or done.stdout).strip()[-800:]}")


def validate(items: list[dict[str, Any]], schemas: dict[str, dict[str, Any]]) -> None:
    """Raise ``InvalidArgument`` naming every manifest that breaks its CRD schema (and Kubernetes' name rule)."""
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]

    problems: list[str] = []
    for item in items:
        where = f"{item.get('kind')} {item.get('metadata', {}).get('name')}"
        if not _K8S_NAME.match(str(item.get("metadata", {}).get("name", ""))):
            problems.append(f"{where}: not a valid Kubernetes resource name")
        schema = schemas.get(str(item.get("kind")))
        if schema is None:
            problems.append(f"{where}: no CRD schema for this kind")
            continue
        for error in Draft4Validator(schema).iter_errors(item):
            path = ".".join(str(p) for p in error.absolute_path) or "(top)"
            problems.append(f"{where}: {path}: {error.message}")
    if problems:
        raise InvalidArgument("Strimzi manifests break the CRD schemas: " + "; ".join(problems[:20]))
