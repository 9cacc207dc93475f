"""Export: the platform file of what runs now (all of it, or a prefix), so adoption starts from the live cluster.

A prefix export manages that prefix (later deletions under it are planned); an export of everything manages exactly
the names it found (nothing else is ever touched). Passwords become references to fill in (``${env:...}``), schemas
go to files beside the platform file, and connector settings that look secret and are not references already
become ``${file:...}`` references (listed in the warnings: the worker must be able to resolve them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.kafka.security import Acl, AclSpec
from gitops.model import (
    KINDS,
    SECRET_KEY,
    ClusterPlatform,
    ConnectorSpec,
    Kind,
    Manage,
    PlatformFile,
    SchemaSpec,
    Scope,
    TopicSpec,
    UserSpec,
)
from gitops.state import observe, split

if TYPE_CHECKING:
    from core.app import AppContext

_EXT = {"AVRO": "avsc", "JSON": "json", "PROTOBUF": "proto"}


@dataclass
class Exported:
    platform: PlatformFile
    files: dict[Path, str] = field(default_factory=dict)  # schema files to write beside the platform file
    warnings: list[str] = field(default_factory=list)


def _env_name(user: str) -> str:
    return "KAFKA_USER_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper() + "_PASSWORD"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def export(
    app: AppContext,
    cluster: str,
    *,
    prefix: str | None = None,
    kinds: list[Kind] | None = None,
    schemas_dir: Path | None = None,
    relative_to: Path | None = None,
    section_name: str | None = None,
) -> Exported:
    """The platform file of ``cluster`` (its managed kinds: every kind the cluster has a place for)."""
    cfg = app.clients.cluster(cluster)
    wanted = list(kinds or KINDS)
    if not cfg.schema_registry_url and "schemas" in wanted and kinds is None:
        wanted.remove("schemas")
    if not cfg.connect_url and "connectors" in wanted and kinds is None:
        wanted.remove("connectors")
    every = Scope(prefixes=[prefix or ""])
    scopes: dict[str, Any] = {k: (every if k in wanted else Scope()) for k in KINDS}
    probe = ClusterPlatform(manage=Manage(**scopes))
    have = observe(app, cfg.name, probe)
    section = ClusterPlatform()
    out = Exported(platform=PlatformFile(version=1, clusters={section_name or cfg.name: section}))
    for resource, value in have.items():
        kind, name = split(resource)
        if kind == "topics":
            section.topics[name] = TopicSpec(
                partitions=value["partitions"], replication_factor=value["replication_factor"], configs=value["configs"]
            )
        elif kind == "acls":
            acl = Acl.model_validate(value)
            section.acls.append(
                AclSpec.model_validate(
                    {**acl.model_dump(), "resource_name": None if acl.resource_type == "cluster" else acl.resource_name}
                )
            )
        elif kind == "users":
            section.users[name] = UserSpec(
                mechanisms=value["mechanisms"], iterations=value["iterations"], password=f"${{env:{_env_name(name)}}}"
            )
            out.warnings.append(f"user {name}: set ${_env_name(name)} (or change the reference) before applying")
        elif kind == "schemas":
            section.schemas[name] = _schema(app, cfg.name, name, schemas_dir, relative_to, out)
        elif kind == "connectors":
            section.connectors[name] = _connector(name, value["config"], out)
        elif kind == "streams":
            section.streams[name] = {k: v for k, v in value["spec"].items() if k != "name"}
    section.acls.sort(key=lambda a: a.binding_id())
    if prefix is not None:
        section.manage = Manage(prefixes=[prefix])
    else:
        section.manage = Manage(
            **{k: Scope(names=section.names(k)) for k in KINDS}  # type: ignore[arg-type]
        )
    return out


def _schema(
    app: AppContext, cluster: str, subject: str, folder: Path | None, relative_to: Path | None, out: Exported
) -> SchemaSpec:
    from core.kafka import schemas as kschemas
    from gitops.state import service

    rest = service(app, cluster, "registry")
    latest = kschemas.get_schema(rest, subject, "latest")
    level = kschemas.get_compatibility(rest, subject)
    compatibility = level.level if level.source == "subject" else None
    schema_type = latest.schema_type if latest.schema_type in _EXT else "AVRO"
    if folder is None:
        return SchemaSpec.model_validate(
            {"schema": latest.schema_text, "type": schema_type, "compatibility": compatibility}
        )
    path = folder / f"{_safe(subject)}.{_EXT[schema_type]}"
    out.files[path] = latest.schema_text
    shown = str(path.relative_to(relative_to)) if relative_to and path.is_relative_to(relative_to) else str(path)
    return SchemaSpec.model_validate({"file": shown, "type": schema_type, "compatibility": compatibility})


def _connector(name: str, config: dict[str, str], out: Exported) -> ConnectorSpec:
    conf = {k: v for k, v in config.items() if k != "name"}
    for k, v in list(conf.items()):
        if SECRET_KEY.search(k) and v and "${" not in v:
            ref = f"${{file:/etc/kafka/secrets/{_safe(name)}.properties:{k}}}"
            conf[k] = ref
            out.warnings.append(
                f"connector {name}: {k} held a literal secret; the file refers to {ref} instead (put the value there "
                "on the Connect workers, which resolve it with their FileConfigProvider)"
            )
    return ConnectorSpec(config=conf)
