"""The platform file: what a Kafka platform should look like, per cluster, as YAML kept in Git (schema version 1).

    version: 1
    clusters:
      <configured cluster name>:
        manage:                       # what this file owns; nothing else is ever touched
          prefixes: [shop.]           #   resources whose name starts with one of these (every kind)
          names: [legacy-orders]      #   and these exact names
          acls: {prefixes: [User:shop.]}   # a kind may say its own (ACLs are matched on the principal)
        topics:
          shop.orders: {partitions: 12, replication_factor: 3, configs: {min.insync.replicas: "2"},
                        expected_msgs_per_sec: 40000}
        acls:
          - {principal: User:shop.app, resource_type: topic, resource_name: shop.orders, operation: write}
          - user:shop.reporting:read:topic:shop.*          # the short form, a trailing * is a prefix
        users:
          shop.app: {mechanisms: [SCRAM-SHA-512], password: "${env:SHOP_APP_PASSWORD}"}
        schemas:
          shop.orders-value: {file: schemas/order.avsc, type: AVRO, compatibility: BACKWARD}
        connectors:
          shop.orders-sink: {config: {connector.class: FileStreamSink, topics: shop.orders,
                                      file: /var/out/orders.txt, password: "${file:/etc/secrets.properties:pw}"}}
        streams:
          shop-orders-by-region: {source: {topic: shop.orders}, aggregate: {...}, sink: {topic: shop.by-region}}

Without ``manage`` a file owns exactly the resources it names (so it never deletes anything). Passwords are only
references (``${env:NAME}``, ``${file:/path}``, ``${file:/path:key}``), resolved when the change is applied and never
written to a plan; connector secrets stay references, resolved by the Connect worker's config providers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import InvalidArgument
from core.kafka.schemas import Level, SchemaType
from core.kafka.security import AclSpec, ScramMechanismName, check_spec, parse_short_acl, validate_user_name
from core.names import check_topic

SCHEMA_VERSION = 1
KINDS = ("topics", "acls", "users", "schemas", "connectors", "streams")
Kind = Literal["topics", "acls", "users", "schemas", "connectors", "streams"]

SECRET_REF = re.compile(r"^\$\{(env:[A-Za-z_][A-Za-z0-9_]*|file:[^}:]+(:[^}]+)?)\}$")
SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|sasl\.jaas|api[_.-]?key|private[_.-]?key", re.I)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scope(_Model):
    prefixes: list[str] = Field(default_factory=list, description="Names starting with one of these are managed.")
    names: list[str] = Field(default_factory=list, description="These exact names are managed.")

    def matches(self, name: str) -> bool:
        return name in self.names or any(name.startswith(p) for p in self.prefixes)  # "" manages every name

    def empty(self) -> bool:
        return not self.prefixes and not self.names


class Manage(_Model):
    """What the file owns. Per kind, the kind's own scope, else the common prefixes and names; ACLs are matched on
    their principal (``User:shop.app``, or the bare name ``shop.app``)."""

    prefixes: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    topics: Scope | None = None
    acls: Scope | None = None
    users: Scope | None = None
    schemas: Scope | None = None
    connectors: Scope | None = None
    streams: Scope | None = None

    def scope(self, kind: Kind) -> Scope:
        own: Scope | None = getattr(self, kind)
        return own if own is not None else Scope(prefixes=self.prefixes, names=self.names)


class TopicSpec(_Model):
    partitions: int = Field(ge=1, le=100_000)
    replication_factor: int = Field(ge=1, le=32)
    configs: dict[str, str] = Field(default_factory=dict, description="Topic configs; every other one is default.")
    expected_msgs_per_sec: float | None = Field(None, ge=0, description="Sizing fact for the partition policy.")
    high_throughput: bool | None = Field(None, description="False declares a low-volume topic (one partition is ok).")
    override_reason: str | None = Field(None, description="Why an overridable policy rule is overridden (audited).")

    @field_validator("configs", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _text(v) for k, v in value.items()}
        return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_SHA512: ScramMechanismName = "SCRAM-SHA-512"


class UserSpec(_Model):
    mechanisms: list[ScramMechanismName] = Field(default_factory=lambda: [_SHA512], min_length=1)
    iterations: int = Field(4096, ge=4096, le=16384)
    password: str = Field(description="${env:NAME}, ${file:/path} or ${file:/path:key}; never the password itself.")

    @field_validator("password")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not SECRET_REF.match(value):
            raise ValueError("a password must be a reference: ${env:NAME}, ${file:/path} or ${file:/path:key}")
        return value


class SchemaSpec(_Model):
    file: str | None = Field(None, description="Schema file, relative to the platform file.")
    schema_text: str | None = Field(None, alias="schema", description="The schema inline (instead of a file).")
    type: SchemaType = "AVRO"
    compatibility: Level | None = Field(None, description="The subject's own level; omitted: left as it is.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_source(self) -> SchemaSpec:
        if (self.file is None) == (self.schema_text is None):
            raise ValueError("give the schema as file: <path> or schema: <text>, one of them")
        return self


class ConnectorSpec(_Model):
    config: dict[str, str]

    @field_validator("config", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _text(v) for k, v in value.items()}
        return value

    @field_validator("config")
    @classmethod
    def _secrets_are_references(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in value.items() if SECRET_KEY.search(k) and v and "${" not in v]
        if bad:
            raise ValueError(
                f"{', '.join(sorted(bad))}: secrets in a connector config must be references such as "
                "${file:/etc/kafka/secrets.properties:key} (resolved by the Connect worker's config providers)"
            )
        if "connector.class" not in value:
            raise ValueError("a connector config needs connector.class")
        return value


class ClusterPlatform(_Model):
    manage: Manage | None = None
    topics: dict[str, TopicSpec] = Field(default_factory=dict)
    acls: list[AclSpec] = Field(default_factory=list)
    users: dict[str, UserSpec] = Field(default_factory=dict)
    schemas: dict[str, SchemaSpec] = Field(default_factory=dict)
    connectors: dict[str, ConnectorSpec] = Field(default_factory=dict)
    streams: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Stream applications: name -> spec (streams.spec.StreamSpec, no name)."
    )

    @field_validator("acls", mode="before")
    @classmethod
    def _short_acls(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [parse_short_acl(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("acls")
    @classmethod
    def _check_acls(cls, value: list[AclSpec]) -> list[AclSpec]:
        return list({s.binding_id(): s for s in (check_spec(a) for a in value)}.values())

    @field_validator("topics")
    @classmethod
    def _check_topics(cls, value: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
        for name in value:
            check_topic(name)
        return value

    @field_validator("users")
    @classmethod
    def _check_users(cls, value: dict[str, UserSpec]) -> dict[str, UserSpec]:
        for name in value:
            validate_user_name(name)
        return value

    def scope(self, kind: Kind) -> Scope:
        """What this section owns of one kind: its ``manage`` scope, or exactly the names it lists."""
        if self.manage is not None:
            return self.manage.scope(kind)
        return Scope(names=self.names(kind))

    def names(self, kind: Kind) -> list[str]:
        if kind == "acls":
            return sorted({a.principal for a in self.acls})
        section: dict[str, Any] = getattr(self, kind)
        return sorted(section)


class PlatformFile(_Model):
    version: Literal[1] = Field(description="Schema version of the platform file.")
    clusters: dict[str, ClusterPlatform] = Field(min_length=1)


def acl_managed(scope: Scope, principal: str) -> bool:
    bare = principal.split(":", 1)[1] if ":" in principal else principal
    return scope.matches(principal) or scope.matches(bare)


def parse(text: str, *, where: str = "the platform file") -> PlatformFile:
    """A validated platform file from YAML text; errors name the place and say what to change."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{where} must be a mapping with version: 1 and clusters: {{...}}.")
    if data.get("version") != SCHEMA_VERSION:
        raise InvalidArgument(
            f"{where} has version {data.get('version')!r}; this kafka-agent reads version {SCHEMA_VERSION}.",
            hint="Start the file with 'version: 1' (see `kafka-agent export` for an example).",
        )
    try:
        return PlatformFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()[:10]
        )
        raise InvalidArgument(f"{where} is invalid: {problems}") from None
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where} is invalid: {exc}") from None


def dump(platform: PlatformFile) -> str:
    """YAML text of a platform file (stable order, defaults left out)."""
    import yaml

    data = json.loads(platform.model_dump_json(by_alias=True, exclude_none=True, exclude_defaults=True))
    data = {"version": SCHEMA_VERSION, **data}
    header = (
        "# Kafka platform file (kafka-agent, schema version 1): `kafka-agent plan -f FILE` shows what would change,\n"
        "# `kafka-agent apply PLAN` makes it so. Passwords are references only.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def schema_text(spec: SchemaSpec, base: Path, *, confine: Path | None = None) -> str:
    """The schema's text: inline, or read from its file (relative to ``base``; inside ``confine`` when given)."""
    if spec.schema_text is not None:
        return spec.schema_text
    assert spec.file is not None
    path = (base / spec.file).resolve()
    if confine is not None and not path.is_relative_to(confine.resolve()):
        raise InvalidArgument(f"Schema file {spec.file!r} lies outside the platform folder.")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"Cannot read schema file {spec.file!r}: {exc.strerror}.") from None


def canonical_schema(text: str, schema_type: str) -> str:
    """One text per schema whatever its spacing (Avro and JSON Schema are JSON; Protobuf is compared as written)."""
    if schema_type in ("AVRO", "JSON"):
        try:
            return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return text.strip()
    return text.strip()
