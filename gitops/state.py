"""Resources as the plan compares them: what the file wants (``desired``) and what the cluster has (``observe``), both
normalized to one shape per kind, keyed ``<kind>/<name>``.

    topics      {partitions, replication_factor, configs}       configs: the topic's own (DYNAMIC_TOPIC_CONFIG) ones
    acls        {principal, resource_type, ...}                 named by core.kafka.security's binding id
    users       {mechanisms, iterations}                        passwords cannot be read back (never compared)
    schemas     {schema, type[, compatibility]}                 the latest version, in a canonical text
    connectors  {config}                                        as the worker stores it (secret references stay)
    streams     {spec, status}                                  the deployed spec, and whether it runs

Only managed resources are read (``ClusterPlatform.scope``), and a service is asked only when its kind is managed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, InvalidArgument, NotFound
from core.gate.gate import DEFAULT_PROTECTED
from core.kafka import connect as kconnect
from core.kafka import schemas as kschemas
from core.kafka import security as ksecurity
from core.kafka._futures import metadata, wait
from core.services.rest import connect_client, registry_client
from gitops.model import KINDS, ClusterPlatform, Kind, acl_managed, canonical_schema, schema_text
from streams.spec import StreamSpec

if TYPE_CHECKING:
    from core.app import AppContext
    from core.settings import ClusterConfig

State = dict[str, dict[str, Any]]


def key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def split(resource: str) -> tuple[Kind, str]:
    kind, name = resource.split("/", 1)
    assert kind in KINDS
    return kind, name  # type: ignore[return-value]


def fingerprint(state: State) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:32]


@dataclass
class Where:
    """Where the file's relative paths start, and (for callers that must not read elsewhere) the folder they stay in."""

    base: Path
    confine: Path | None = None


def stream_spec(name: str, body: dict[str, Any]) -> StreamSpec:
    from streams.spec import parse_spec

    return parse_spec({**body, "name": name})


def desired(section: ClusterPlatform, where: Where) -> State:
    out: State = {}
    for name, topic in section.topics.items():
        out[key("topics", name)] = {
            "partitions": topic.partitions,
            "replication_factor": topic.replication_factor,
            "configs": dict(sorted(topic.configs.items())),
        }
    for acl in section.acls:
        out[key("acls", acl.binding_id())] = acl_value(acl)
    for name, user in section.users.items():
        out[key("users", name)] = {"mechanisms": sorted(set(user.mechanisms)), "iterations": user.iterations}
    for subject, schema in section.schemas.items():
        value: dict[str, Any] = {
            "schema": canonical_schema(schema_text(schema, where.base, confine=where.confine), schema.type),
            "type": schema.type,
        }
        if schema.compatibility:
            value["compatibility"] = schema.compatibility
        out[key("schemas", subject)] = value
    for name, conn in section.connectors.items():
        out[key("connectors", name)] = {"config": dict(sorted({**conn.config, "name": name}.items()))}
    for name, body in section.streams.items():
        spec = stream_spec(name, body)
        out[key("streams", name)] = {"spec": spec.model_dump(mode="json", exclude_none=True), "status": "running"}
    return out


def acl_value(acl: ksecurity.AclSpec | ksecurity.Acl) -> dict[str, Any]:
    return {
        "principal": acl.principal,
        "resource_type": acl.resource_type,
        "resource_name": acl.resource_name or ksecurity.CLUSTER_RESOURCE_NAME,
        "pattern_type": acl.pattern_type,
        "operation": acl.operation,
        "permission": acl.permission,
        "host": acl.host,
    }


def managed_kinds(section: ClusterPlatform, cfg: ClusterConfig | None = None) -> list[Kind]:
    """The kinds the section manages on the cluster. Schemas and connectors managed only through the common prefixes
    are left out on a cluster without a registry or a Connect worker (there is nothing of them to manage); a file
    that lists some, or scopes the kind itself, still needs the service."""
    out: list[Kind] = []
    for kind in KINDS:
        if section.scope(kind).empty():  # type: ignore[arg-type]
            continue
        implicit = not getattr(section, kind) and (section.manage is None or getattr(section.manage, kind) is None)
        absent = cfg is not None and (
            (kind == "schemas" and not cfg.schema_registry_url) or (kind == "connectors" and not cfg.connect_url)
        )
        if implicit and absent:
            continue
        out.append(kind)  # type: ignore[arg-type]
    return out


def observe(app: AppContext, cluster: str, section: ClusterPlatform, *, desired_state: State | None = None) -> State:
    """The managed resources of ``cluster`` as they are now (reads only)."""
    cfg = app.clients.cluster(cluster)
    out: State = {}
    kinds = managed_kinds(section, cfg)
    admin = app.clients.admin(cfg.name) if {"topics", "acls", "users"} & set(kinds) else None
    t = app.timeout
    if "topics" in kinds and admin is not None:
        out.update(_topics(admin, section, timeout=t, skip=_stream_internal_prefixes(app, cfg.name)))
    if "acls" in kinds and admin is not None:
        scope = section.scope("acls")
        for acl in _all_acls(admin, timeout=t):
            if acl_managed(scope, acl.principal):
                out[key("acls", acl.binding_id())] = acl_value(acl)
    if "users" in kinds and admin is not None:
        scope = section.scope("users")
        for user in ksecurity.describe_scram_users(admin, None, timeout=t).users:
            if scope.matches(user.user):
                mechs = sorted({c.mechanism for c in user.credentials})
                iterations = max((c.iterations for c in user.credentials), default=4096)
                out[key("users", user.user)] = {"mechanisms": mechs, "iterations": iterations}
    if "schemas" in kinds:
        wanted = desired_state or {}
        out.update(_schemas(app, cfg.name, section, wanted))
    if "connectors" in kinds:
        scope = section.scope("connectors")
        rest = service(app, cfg.name, "connect")
        for conn in kconnect.list_connectors(rest).connectors:
            if scope.matches(conn.name):
                conf = kconnect.connector_config(rest, conn.name)
                out[key("connectors", conn.name)] = {"config": dict(sorted(conf.items()))}
    if "streams" in kinds:
        from streams.service import manager

        scope = section.scope("streams")
        mgr = manager(app)
        for record in mgr.list_apps():
            if record.cluster != cfg.name or not scope.matches(record.name):
                continue
            spec = mgr.load_spec(record.name)
            status = "running" if record.status in ("running", "starting", "restarting") else record.status
            out[key("streams", record.name)] = {
                "spec": spec.model_dump(mode="json", exclude_none=True),
                "status": status,
            }
    return dict(sorted(out.items()))


def service(app: AppContext, cluster: str, which: str) -> Any:
    cfg = app.clients.cluster(cluster)
    try:
        return registry_client(app, cfg) if which == "registry" else connect_client(app, cfg)
    except ConfigError as exc:
        raise ConfigError(f"The platform file manages {which} resources on cluster {cluster!r}: {exc}") from None


def internal_topic(name: str) -> bool:
    return name.startswith("__") or bool(DEFAULT_PROTECTED.match(name))


def _stream_internal_prefixes(app: AppContext, cluster: str) -> list[str]:
    """Stream applications' internal topics (changelog, repartition) belong to the application, not to the file."""
    from streams.service import manager

    return [f"{r.application_id}-" for r in manager(app).list_apps() if r.cluster == cluster]


def _topics(admin: Any, section: ClusterPlatform, *, timeout: float, skip: list[str]) -> State:
    from confluent_kafka.admin import ConfigResource, ResourceType

    scope = section.scope("topics")
    meta = metadata(admin, timeout=timeout)
    names = sorted(
        n for n in meta.topics if scope.matches(n) and not internal_topic(n) and not any(n.startswith(p) for p in skip)
    )
    out: State = {}
    if not names:
        return out
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names], request_timeout=timeout)
    configs: dict[str, dict[str, str]] = {}
    gone: set[str] = set()
    for resource, future in futures.items():
        try:
            entries = wait(future, what=f"describe configs of {resource.name!r}", timeout=timeout + 1)
        except NotFound:
            gone.add(resource.name)  # deleted since the metadata answer (brokers' metadata trails a deletion)
            continue
        configs[resource.name] = {
            k: str(e.value)
            for k, e in entries.items()
            if _source(e.source) == "DYNAMIC_TOPIC_CONFIG" and e.value is not None and not e.is_sensitive
        }
    for name in names:
        if name in gone:
            continue
        parts = list(meta.topics[name].partitions.values())
        out[key("topics", name)] = {
            "partitions": len(parts),
            "replication_factor": max((len(p.replicas) for p in parts), default=0),
            "configs": dict(sorted(configs.get(name, {}).items())),
        }
    return out


def _source(source: Any) -> str:
    from confluent_kafka.admin import ConfigSource

    if hasattr(source, "name"):
        return str(source.name)
    try:
        return str(ConfigSource(source).name)
    except ValueError:
        return str(source)


def _all_acls(admin: Any, *, timeout: float) -> list[ksecurity.Acl]:
    try:
        return ksecurity.list_acls(admin, ksecurity.AclFilter(), timeout=timeout).acls
    except Exception as exc:
        if "SECURITY_DISABLED" in str(exc):
            return []  # no authorizer: the cluster holds no ACLs (creating one will say so)
        raise


def _schemas(app: AppContext, cluster: str, section: ClusterPlatform, wanted: State) -> State:
    scope = section.scope("schemas")
    rest = service(app, cluster, "registry")
    out: State = {}
    for subject in kschemas.list_subjects(rest).subjects:
        if not scope.matches(subject):
            continue
        try:
            latest = kschemas.get_schema(rest, subject, "latest")
        except NotFound:
            continue  # every version deleted
        value: dict[str, Any] = {
            "schema": canonical_schema(latest.schema_text, latest.schema_type),
            "type": latest.schema_type,
        }
        level = kschemas.get_compatibility(rest, subject)
        # The level is compared only where the file sets it, and only the subject's own level counts.
        want = wanted.get(key("schemas", subject), {})
        if "compatibility" in want and level.source == "subject":
            value["compatibility"] = level.level
        elif "compatibility" in want:
            value["compatibility"] = None
        out[key("schemas", subject)] = value
    return out


def cluster_id(app: AppContext, cluster: str) -> str:
    admin = app.clients.admin(cluster)
    t = app.timeout
    desc = wait(admin.describe_cluster(request_timeout=t), what="describe cluster", timeout=t + 1)
    cid = getattr(desc, "cluster_id", None)
    if not cid:
        raise InvalidArgument(f"Cluster {cluster!r} did not report its id.")
    return str(cid)
