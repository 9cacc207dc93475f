"""Security: SCRAM users, ACLs (with role helpers and the short ``user:app:read:topic:events`` form), login checks
and client security configs.

Passwords only pass through: they go to the broker (which stores a salted SCRAM hash) or to a throwaway client for a
login check, and are never part of a returned model, an error message or a log line.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, Field, SecretStr

from core.errors import AuthError, Conflict, InvalidArgument, NotFound, translate_kafka_error
from core.kafka._futures import wait

if TYPE_CHECKING:
    from confluent_kafka.admin import AclBinding, AclBindingFilter, AdminClient

    from core.gate import Permit

log = logging.getLogger("kafka_agent.security")

ScramMechanismName = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]
SCRAM_MECHANISMS: tuple[ScramMechanismName, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512")
MIN_ITERATIONS = 4096  # Kafka's own bounds for SCRAM iterations
MAX_ITERATIONS = 16384
MIN_PASSWORD_LENGTH = 8
_USER_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,255}$")
_PRINCIPAL = re.compile(r"^([A-Za-z][A-Za-z0-9]*):(\S(?:[^\n]{0,253}\S)?)$")  # DNs of mTLS principals hold spaces
CLUSTER_RESOURCE_NAME = "kafka-cluster"

ResourceTypeName = Literal["topic", "group", "cluster", "transactional_id"]
PatternTypeName = Literal["literal", "prefixed"]
PatternFilterName = Literal["any", "match", "literal", "prefixed"]
OperationName = Literal[
    "all",
    "read",
    "write",
    "create",
    "delete",
    "alter",
    "describe",
    "cluster_action",
    "describe_configs",
    "alter_configs",
    "idempotent_write",
]
PermissionName = Literal["allow", "deny"]
OPERATIONS: tuple[str, ...] = get_args(OperationName)


# --- SCRAM users ------------------------------------------------------------------------------------------------


class ScramCredential(BaseModel):
    mechanism: str = Field(description="SCRAM-SHA-256 or SCRAM-SHA-512.")
    iterations: int


class ScramUser(BaseModel):
    user: str
    credentials: list[ScramCredential] = Field(description="One entry per mechanism the user can log in with.")


class ScramUserList(BaseModel):
    users: list[ScramUser]
    count: int
    missing: list[str] = Field(default_factory=list, description="Asked-for users that have no SCRAM credentials.")


class ScramMechanismResult(BaseModel):
    mechanism: str
    ok: bool
    error: str | None = None


class ScramUpsertResult(BaseModel):
    user: str
    mechanisms: list[str]
    iterations: int
    ok: bool = Field(description="True when every mechanism was set.")
    results: list[ScramMechanismResult] = Field(description="One entry per mechanism.")
    note: str = Field(
        default="The password was sent to the brokers, which store only a salted hash; it is not returned. "
        "New credentials reach every broker within a few seconds."
    )


class ScramDeleteResult(ScramMechanismResult):
    user: str


def validate_user_name(user: str) -> str:
    if not _USER_NAME.match(user or ""):
        raise InvalidArgument(
            f"User name {user!r} is not allowed.",
            hint="Use 1-255 characters: ASCII letters, digits, '.', '_', '-', '@' or '+'.",
        )
    return user


def validate_password(password: SecretStr, *, user: str) -> bytes:
    raw = password.get_secret_value()
    if len(raw) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"The password for {user!r} is too short (at least {MIN_PASSWORD_LENGTH} characters are required).",
            hint="Use a long random password, e.g. from a secrets manager.",
        )
    if raw == user:
        raise InvalidArgument(f"The password for {user!r} must not be the user name.")
    return raw.encode("utf-8")


def validate_iterations(iterations: int) -> int:
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise InvalidArgument(
            f"iterations={iterations} is outside Kafka's range {MIN_ITERATIONS}..{MAX_ITERATIONS}.",
            hint=f"Use {MIN_ITERATIONS} (fast logins) up to {MAX_ITERATIONS} (slower brute force).",
        )
    return iterations


def _mechanism(name: str) -> Any:
    from confluent_kafka.admin import ScramMechanism

    return {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256, "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}[name]


def _mechanism_name(mech: Any) -> str:
    return str(mech.name).replace("_", "-")


def describe_scram_users(admin: AdminClient, users: list[str] | None, *, timeout: float) -> ScramUserList:
    """Every SCRAM user (``users=None``) or the named ones; names without credentials land in ``missing``."""
    found: list[ScramUser] = []
    missing: list[str] = []

    def to_model(desc: Any) -> ScramUser:
        creds = [
            ScramCredential(mechanism=_mechanism_name(c.mechanism), iterations=c.iterations)
            for c in desc.scram_credential_infos
        ]
        return ScramUser(user=desc.user, credentials=sorted(creds, key=lambda c: c.mechanism))

    if not users:
        every = wait(
            admin.describe_user_scram_credentials(request_timeout=timeout),
            what="describe SCRAM users",
            timeout=timeout + 5,
        )
        found = [to_model(d) for _, d in sorted(every.items())]
        return ScramUserList(users=found, count=len(found))
    names = list(dict.fromkeys(validate_user_name(u) for u in users))
    futures = admin.describe_user_scram_credentials(names, request_timeout=timeout)
    for name in names:
        try:
            found.append(to_model(wait(futures[name], what=f"describe SCRAM user {name!r}", timeout=timeout + 5)))
        except InvalidArgument:
            raise
        except Exception as exc:
            if getattr(exc, "code", None) == "RESOURCE_NOT_FOUND":
                missing.append(name)
            else:
                raise
    return ScramUserList(users=found, count=len(found), missing=missing)


def upsert_scram_user(
    permit: Permit,
    admin: AdminClient,
    user: str,
    password: SecretStr,
    *,
    mechanisms: list[ScramMechanismName],
    iterations: int,
    timeout: float,
) -> ScramUpsertResult:
    """Create the user's SCRAM credential(s), or replace the password of existing ones."""
    from confluent_kafka.admin import ScramCredentialInfo, UserScramCredentialUpsertion

    permit.require("user.scram.upsert", user)
    validate_user_name(user)
    validate_iterations(iterations)
    secret = validate_password(password, user=user)
    mechs = list(dict.fromkeys(mechanisms))
    if not mechs:
        raise InvalidArgument("Give at least one SCRAM mechanism.", hint="Use SCRAM-SHA-512 unless clients need 256.")
    results: list[ScramMechanismResult] = []
    errors: list[Exception] = []
    for mech in mechs:  # one request per mechanism: Kafka refuses two alterations of one user in a request
        alteration = UserScramCredentialUpsertion(user, ScramCredentialInfo(_mechanism(mech), iterations), secret)
        futures = admin.alter_user_scram_credentials([alteration], request_timeout=timeout)
        try:
            wait(futures[user], what=f"set the {mech} credential of {user!r}", timeout=timeout + 5)
            results.append(ScramMechanismResult(mechanism=mech, ok=True))
        except Exception as exc:
            errors.append(exc)
            results.append(ScramMechanismResult(mechanism=mech, ok=False, error=str(exc)))
    if len(errors) == len(mechs):
        raise errors[0]
    return ScramUpsertResult(user=user, mechanisms=mechs, iterations=iterations, ok=not errors, results=results)


def scram_mechanisms_of(admin: AdminClient, user: str, *, timeout: float) -> list[str]:
    """The mechanisms ``user`` has credentials for; ``NotFound`` when none."""
    listing = describe_scram_users(admin, [user], timeout=timeout)
    if not listing.users:
        raise NotFound(
            f"User {user!r} has no SCRAM credentials on this cluster.",
            hint="List the users with kafka_describe_scram_users.",
        )
    return [c.mechanism for c in listing.users[0].credentials]


def delete_scram_user(
    permit: Permit, admin: AdminClient, user: str, *, mechanisms: list[str], timeout: float
) -> list[ScramDeleteResult]:
    """Delete the user's credentials for ``mechanisms``, one result per mechanism."""
    from confluent_kafka.admin import UserScramCredentialDeletion

    permit.require("user.scram.delete", user)
    out: list[ScramDeleteResult] = []
    for mech in mechanisms:  # one request per mechanism: the client keys its futures by user only
        futures = admin.alter_user_scram_credentials(
            [UserScramCredentialDeletion(user, _mechanism(mech))], request_timeout=timeout
        )
        try:
            wait(futures[user], what=f"delete {mech} credential of {user!r}", timeout=timeout + 5)
            out.append(ScramDeleteResult(user=user, mechanism=mech, ok=True))
        except Exception as exc:
            out.append(ScramDeleteResult(user=user, mechanism=mech, ok=False, error=str(exc)))
    return out


# --- ACLs -------------------------------------------------------------------------------------------------------


def acl_binding_id(
    principal: str,
    operation: str,
    resource_type: str,
    pattern_type: str,
    resource_name: str,
    permission: str,
    host: str,
) -> str:
    """The one name of an ACL binding, wherever the gate sees it (``Change.resources`` of kafka_create_acls,
    kafka_grant_role and kafka_delete_acls, and ``permit.require`` in ``create_acls`` / ``delete_exact_acls``):

        <principal>:<OPERATION>:<RESOURCE TYPE>:<PATTERN TYPE>:<resource name>:<PERMISSION>@<host>
        e.g. 'User:alice:READ:TOPIC:LITERAL:orders:ALLOW@*',
             'User:app:IDEMPOTENT_WRITE:CLUSTER:LITERAL:kafka-cluster:ALLOW@*'

    The same binding gets the same name whether it comes from a request (``AclSpec``) or from the cluster (``Acl``).
    """
    return (
        f"{principal}:{operation.upper()}:{resource_type.upper()}:{pattern_type.upper()}:{resource_name}:"
        f"{permission.upper()}@{host}"
    )


class AclSpec(BaseModel):
    """One ACL binding: who (principal, host) may or may not do what (operation) on which resource."""

    principal: str = Field(description="User:<name>, or User:* for everyone.", max_length=300)
    resource_type: ResourceTypeName
    resource_name: str | None = Field(
        default=None,
        description="'*' for all; omit for cluster.",
        max_length=255,
    )
    pattern_type: PatternTypeName = Field(default="literal", description="prefixed: every name starting with it.")
    operation: OperationName
    permission: PermissionName = "allow"
    host: str = Field(default="*", max_length=255)

    def key(self) -> tuple[str, ...]:
        return (
            self.principal,
            self.resource_type,
            self.resource_name or "",
            self.pattern_type,
            self.operation,
            self.permission,
            self.host,
        )

    def binding_id(self) -> str:
        return acl_binding_id(
            self.principal,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name or CLUSTER_RESOURCE_NAME,
            self.permission,
            self.host,
        )

    def describe(self) -> str:
        name = self.resource_name or CLUSTER_RESOURCE_NAME
        pattern = f"{name}*" if self.pattern_type == "prefixed" else name
        return (
            f"{self.permission.upper()} {self.principal} {self.operation.upper()} on {self.resource_type} "
            f"{pattern!r} from {self.host}"
        )


class Acl(BaseModel):
    """An ACL binding as the cluster reports it."""

    principal: str
    host: str
    resource_type: str
    resource_name: str
    pattern_type: str
    operation: str
    permission: str

    def binding_id(self) -> str:
        return acl_binding_id(
            self.principal,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.permission,
            self.host,
        )


class AclList(BaseModel):
    acls: list[Acl]
    count: int


class AclCreateItem(BaseModel):
    acl: AclSpec
    ok: bool
    error: str | None = None


class AclCreateResult(BaseModel):
    results: list[AclCreateItem]
    created: int
    failed: int
    dry_run: bool = Field(description="True when nothing was created (dry run).")
    note: str = Field(
        default="New ACLs reach every broker asynchronously, usually within a second: a list right after may "
        "not show them yet."
    )


class AclDeleteItem(BaseModel):
    acl: Acl
    ok: bool
    error: str | None = None


class AclFilter(BaseModel):
    principal: str | None = None
    resource_type: ResourceTypeName | None = None
    resource_name: str | None = None
    pattern_type: PatternFilterName = "any"
    operation: OperationName | None = None
    permission: PermissionName | None = None
    host: str | None = None


def validate_principal(principal: str) -> str:
    if not _PRINCIPAL.match(principal or ""):
        raise InvalidArgument(
            f"Principal {principal!r} is not in the form Type:name.",
            hint="Write it as 'User:<name>' (e.g. 'User:analytics-app'), or 'User:*' for every user.",
        )
    return principal


def check_spec(spec: AclSpec) -> AclSpec:
    """Normalized spec (cluster resources are named 'kafka-cluster'), or a clear ``InvalidArgument``."""
    validate_principal(spec.principal)
    if spec.resource_type == "cluster":
        if spec.resource_name not in (None, CLUSTER_RESOURCE_NAME) or spec.pattern_type != "literal":
            raise InvalidArgument(
                f"A cluster ACL always names the literal resource {CLUSTER_RESOURCE_NAME!r}.",
                hint="Omit resource_name and pattern_type for resource_type='cluster'.",
            )
        return spec.model_copy(update={"resource_name": CLUSTER_RESOURCE_NAME})
    if not spec.resource_name:
        raise InvalidArgument(
            f"A {spec.resource_type} ACL needs a resource_name.",
            hint="Give the exact name, a prefix with pattern_type='prefixed', or '*' for every one.",
        )
    if spec.pattern_type == "prefixed" and spec.resource_name == "*":
        raise InvalidArgument("A prefixed ACL cannot use '*'.", hint="Use pattern_type='literal' with '*'.")
    if spec.operation in ("cluster_action", "idempotent_write"):
        raise InvalidArgument(f"Operation {spec.operation!r} only applies to resource_type='cluster'.")
    return spec


_SHORT_TYPES = {
    "topic": "topic",
    "group": "group",
    "cluster": "cluster",
    "transactional_id": "transactional_id",
    "transactional-id": "transactional_id",
    "transactionalid": "transactional_id",
}


def parse_short_acl(text: str) -> AclSpec:
    """``user:analytics-app:read:topic:events`` -> ALLOW User:analytics-app READ on topic 'events'.

    Form: ``<principal type>:<name>:<operation>:<resource type>:<resource name>[:allow|deny]``; a resource name ending
    in ``*`` (other than ``*`` alone) is a prefix; ``cluster`` needs no resource name.
    """
    parts = [p.strip() for p in (text or "").split(":")]
    hint = (
        "Use <type>:<name>:<operation>:<resource type>:<resource name>[:allow|deny], "
        "e.g. user:analytics-app:read:topic:events or user:etl:write:topic:orders-*."
    )
    if len(parts) < 4 or len(parts) > 6:
        raise InvalidArgument(f"ACL {text!r} is not in the short form.", hint=hint)
    ptype, name, op, rtype, *rest = parts
    resource_type = _SHORT_TYPES.get(rtype.lower())
    if resource_type is None:
        raise InvalidArgument(
            f"ACL {text!r}: unknown resource type {rtype!r}.", hint="Use topic, group, cluster or transactional_id."
        )
    operation = op.lower().replace("-", "_")
    if operation not in OPERATIONS:
        raise InvalidArgument(f"ACL {text!r}: unknown operation {op!r}.", hint=f"Use one of: {', '.join(OPERATIONS)}.")
    permission = "allow"
    if rest and rest[-1].lower() in ("allow", "deny") and (resource_type == "cluster" or len(rest) == 2):
        permission = rest.pop().lower()
    if len(rest) > 1:
        raise InvalidArgument(f"ACL {text!r} has too many parts.", hint=hint)
    resource = rest[0] if rest else None
    if resource_type != "cluster" and not resource:
        raise InvalidArgument(f"ACL {text!r} names no {resource_type}.", hint=hint)
    pattern = "literal"
    if resource and resource.endswith("*") and resource != "*":
        resource, pattern = resource[:-1], "prefixed"
    principal = f"{ptype[:1].upper()}{ptype[1:]}:{name}" if ptype else f":{name}"
    try:
        spec = AclSpec.model_validate(
            {
                "principal": principal,
                "resource_type": resource_type,
                "resource_name": resource,
                "pattern_type": pattern,
                "operation": operation,
                "permission": permission,
            }
        )
    except ValueError as exc:
        raise InvalidArgument(f"ACL {text!r} is not valid: {exc}", hint=hint) from None
    return check_spec(spec)


def role_specs(
    principal: str,
    role: Literal["producer", "consumer"],
    *,
    topics: list[str],
    groups: list[str] | None = None,
    transactional_id: str | None = None,
    prefixed: bool = False,
    host: str = "*",
) -> list[AclSpec]:
    """The usual ACLs of a role.

    producer: WRITE + DESCRIBE on each topic and IDEMPOTENT_WRITE on the cluster (plus WRITE + DESCRIBE on the
    transactional id when given); consumer: READ + DESCRIBE on each topic and READ on each group.
    ``prefixed`` turns every topic, group and transactional id into a prefix.
    """
    validate_principal(principal)
    if not topics:
        raise InvalidArgument(f"The {role} role needs at least one topic (or a topic prefix with prefixed=true).")
    pattern: PatternTypeName = "prefixed" if prefixed else "literal"
    specs: list[AclSpec] = []

    def add(rtype: ResourceTypeName, name: str | None, op: OperationName, pat: PatternTypeName = pattern) -> None:
        specs.append(
            check_spec(
                AclSpec(
                    principal=principal,
                    resource_type=rtype,
                    resource_name=name,
                    pattern_type=pat,
                    operation=op,
                    host=host,
                )
            )
        )

    if role == "producer":
        for topic in topics:
            add("topic", topic, "write")
            add("topic", topic, "describe")
        add("cluster", None, "idempotent_write", "literal")
        if transactional_id:
            add("transactional_id", transactional_id, "write")
            add("transactional_id", transactional_id, "describe")
    elif role == "consumer":
        if not groups:
            raise InvalidArgument(
                "The consumer role needs the consumer group id(s) the application uses.",
                hint="Pass groups=['<group.id>'] (or a group prefix with prefixed=true).",
            )
        for topic in topics:
            add("topic", topic, "read")
            add("topic", topic, "describe")
        for group in groups:
            add("group", group, "read")
    else:
        raise InvalidArgument(f"Unknown role {role!r}.", hint="Use 'producer' or 'consumer'.")
    return specs


def _restype(name: str | None) -> Any:
    from confluent_kafka.admin import ResourceType

    # In ACLs librdkafka's BROKER resource type is Kafka's CLUSTER (code 4).
    return {
        None: ResourceType.ANY,
        "topic": ResourceType.TOPIC,
        "group": ResourceType.GROUP,
        "cluster": ResourceType.BROKER,
        "transactional_id": ResourceType.TRANSACTIONAL_ID,
    }[name]


def _to_binding(spec: AclSpec) -> AclBinding:
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType

    return AclBinding(
        _restype(spec.resource_type),
        spec.resource_name or CLUSTER_RESOURCE_NAME,
        ResourcePatternType[spec.pattern_type.upper()],
        spec.principal,
        spec.host,
        AclOperation[spec.operation.upper()],
        AclPermissionType[spec.permission.upper()],
    )


def _to_filter(flt: AclFilter) -> AclBindingFilter:
    from confluent_kafka.admin import AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType

    if flt.principal is not None:
        validate_principal(flt.principal)
    name = flt.resource_name
    if flt.resource_type == "cluster" and name is None:
        name = CLUSTER_RESOURCE_NAME
    if flt.pattern_type == "match" and not name:
        raise InvalidArgument(
            "pattern_type='match' needs a resource_name.",
            hint="'match' finds every ACL that applies to that name: literal, '*' and matching prefixes.",
        )
    return AclBindingFilter(
        _restype(flt.resource_type),
        name,
        ResourcePatternType[flt.pattern_type.upper()],
        flt.principal,
        flt.host,
        AclOperation[flt.operation.upper()] if flt.operation else AclOperation.ANY,
        AclPermissionType[flt.permission.upper()] if flt.permission else AclPermissionType.ANY,
    )


def _from_binding(binding: Any) -> Acl:
    rtype = str(binding.restype.name).lower()
    return Acl(
        principal=binding.principal,
        host=binding.host,
        resource_type="cluster" if rtype == "broker" else rtype,
        resource_name=binding.name,
        pattern_type=str(binding.resource_pattern_type.name).lower(),
        operation=str(binding.operation.name).lower(),
        permission=str(binding.permission_type.name).lower(),
    )


def _sort_key(acl: Acl) -> tuple[str, ...]:
    return (acl.principal, acl.resource_type, acl.resource_name, acl.pattern_type, acl.operation, acl.permission)


def list_acls(admin: AdminClient, flt: AclFilter, *, timeout: float) -> AclList:
    binding_filter = _to_filter(flt)
    found = wait(admin.describe_acls(binding_filter, request_timeout=timeout), what="list ACLs", timeout=timeout + 5)
    acls = sorted((_from_binding(b) for b in found), key=_sort_key)
    return AclList(acls=acls, count=len(acls))


def plan_acls(specs: list[AclSpec]) -> list[AclSpec]:
    """The bindings to create: each checked and normalized, duplicates once, in request order."""
    unique: dict[tuple[str, ...], AclSpec] = {}
    for spec in specs:
        checked = check_spec(spec)
        unique.setdefault(checked.key(), checked)
    if not unique:
        raise InvalidArgument("No ACLs given.", hint="Pass acls=[...] or short_forms=['user:app:read:topic:events'].")
    return list(unique.values())


def dry_run_acls(specs: list[AclSpec]) -> AclCreateResult:
    """What ``create_acls`` would create, checked, without touching the cluster."""
    items = [AclCreateItem(acl=s, ok=True) for s in plan_acls(specs)]
    return AclCreateResult(results=items, created=0, failed=0, dry_run=True)


def create_acls(permit: Permit, admin: AdminClient, specs: list[AclSpec], *, timeout: float) -> AclCreateResult:
    """Create each binding; one result per binding (duplicates in the input are created once)."""
    planned = plan_acls(specs)
    for spec in planned:
        permit.require("acl.create", spec.binding_id())
    bindings = {_to_binding(s): s for s in planned}
    futures = admin.create_acls(list(bindings), request_timeout=timeout)
    items = []
    codes: set[str | None] = set()
    for binding, future in futures.items():
        spec = bindings[binding]
        try:
            wait(future, what=f"create ACL {spec.describe()}", timeout=timeout + 5)
            items.append(AclCreateItem(acl=spec, ok=True))
        except Exception as exc:
            codes.add(getattr(exc, "code", None))
            items.append(AclCreateItem(acl=spec, ok=False, error=str(exc)))
    ok = sum(1 for i in items if i.ok)
    if not ok and codes == {"SECURITY_DISABLED"}:
        raise Conflict(
            "This cluster has no authorizer, so it neither stores nor enforces ACLs (SECURITY_DISABLED).",
            hint="Set authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer on the "
            "brokers and controllers first (kafka-agent dev-cluster up --sasl starts such a cluster).",
            code="SECURITY_DISABLED",
        )
    return AclCreateResult(results=items, created=ok, failed=len(items) - ok, dry_run=False)


def require_narrow_filter(flt: AclFilter) -> None:
    """Deleting with an empty filter would remove every ACL of the cluster: refuse it."""
    if flt.principal is None and flt.resource_name is None and flt.resource_type is None:
        raise InvalidArgument(
            "This filter would match every ACL of the cluster.",
            hint="Narrow it with principal, resource_type or resource_name.",
        )


def delete_exact_acls(permit: Permit, admin: AdminClient, acls: list[Acl], *, timeout: float) -> list[AclDeleteItem]:
    """Delete exactly these bindings (each used as a literal filter), one result per binding."""
    from confluent_kafka.admin import AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType

    for acl in acls:
        permit.require("acl.delete", acl.binding_id())
    filters: dict[Any, Acl] = {}
    for acl in acls:
        f = AclBindingFilter(
            _restype(acl.resource_type),
            acl.resource_name,
            ResourcePatternType[acl.pattern_type.upper()],
            acl.principal,
            acl.host,
            AclOperation[acl.operation.upper()],
            AclPermissionType[acl.permission.upper()],
        )
        filters[f] = acl
    if not filters:
        return []
    futures = admin.delete_acls(list(filters), request_timeout=timeout)
    out: list[AclDeleteItem] = []
    for f, future in futures.items():
        acl = filters[f]
        try:
            deleted = wait(future, what="delete ACL", timeout=timeout + 5)
            out.append(
                AclDeleteItem(acl=acl, ok=bool(deleted), error=None if deleted else "already gone (nothing matched)")
            )
        except Exception as exc:
            out.append(AclDeleteItem(acl=acl, ok=False, error=str(exc)))
    return out


# --- login check ------------------------------------------------------------------------------------------------


class LoginCheck(BaseModel):
    ok: bool
    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str | None
    username: str | None
    brokers: int = Field(description="Brokers seen in the metadata answer.")
    visible_topics: int = Field(description="Topics this principal may describe (ACLs filter the metadata).")


def check_login(conf: dict[str, Any], *, timeout: float) -> LoginCheck:
    """Open a throwaway client with ``conf`` and fetch metadata: ``AuthError`` when the brokers reject the login."""
    from confluent_kafka import KafkaException, Producer

    errors: list[Any] = []
    quiet = logging.getLogger("kafka_agent.librdkafka.login")
    quiet.setLevel(logging.CRITICAL)
    client_conf = {**conf, "error_cb": errors.append, "logger": quiet, "client.id": "kafka-agent-login-check"}
    client_conf.setdefault("socket.connection.setup.timeout.ms", 5000)
    client_conf["enable.idempotence"] = False  # never produces: only the metadata request
    producer = Producer(client_conf)
    bootstrap = str(conf.get("bootstrap.servers"))
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    try:
        while time.monotonic() < deadline:
            try:
                meta = producer.list_topics(timeout=min(1.0, max(0.5, deadline - time.monotonic())))
            except KafkaException as exc:
                last = exc
                producer.poll(0)
                auth = [e for e in errors if "AUTHENTICATION" in e.name()]
                if auth:
                    raise AuthError(
                        f"Login to {bootstrap} as {conf.get('sasl.username')!r} failed: {auth[0].str()}",
                        hint="Check the user name, password and SASL mechanism (and that the user exists: "
                        "kafka_describe_scram_users).",
                        code="SASL_AUTHENTICATION_FAILED",
                    ) from None
                continue
            return LoginCheck(
                ok=True,
                bootstrap_servers=bootstrap,
                security_protocol=str(conf.get("security.protocol", "PLAINTEXT")),
                sasl_mechanism=conf.get("sasl.mechanism"),
                username=conf.get("sasl.username"),
                brokers=len(meta.brokers),
                visible_topics=sum(1 for t in meta.topics.values() if t.error is None),
            )
        raise translate_kafka_error(last or TimeoutError(), what=f"log in to {bootstrap}", bootstrap=bootstrap)
    finally:
        producer.flush(0)


# --- client security configs ------------------------------------------------------------------------------------

ClientProtocol = Literal["SASL_SSL", "SSL", "SASL_PLAINTEXT"]
ClientMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
SecretSource = Literal["env", "file"]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JAAS_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


class SecretReference(BaseModel):
    secret: str = Field(description="Which secret: sasl.password, ssl.key.password, keystore or truststore password.")
    env_var: str | None = Field(default=None, description="Environment variable that holds it (secret_source=env).")
    file_key: str | None = Field(default=None, description="Key in the secrets file (secret_source=file).")


class ClientSecurityConfig(BaseModel):
    security_protocol: str
    sasl_mechanism: str | None
    secret_source: str
    librdkafka: dict[str, str] = Field(
        description="confluent-kafka / librdkafka properties; '${...}' values are placeholders the application "
        "fills in at start-up (librdkafka does not expand them)."
    )
    java_properties: str = Field(description="Java client .properties text; Kafka's config providers resolve secrets.")
    clusters_file_entry: str = Field(description="The same cluster as an entry of this server's clusters file.")
    secrets: list[SecretReference] = Field(description="Where each secret must come from; none is embedded.")
    secrets_file_template: str | None = Field(
        default=None, description="Keys the secrets file must hold (secret_source=file), values left for you."
    )
    notes: list[str]


def _check_path(value: str, what: str) -> str:
    if not value or "\n" in value or "${" in value:
        raise InvalidArgument(f"{what} {value!r} is not a usable path.", hint="Give an absolute file path.")
    return value


def client_security_config(
    *,
    protocol: ClientProtocol,
    bootstrap_servers: str,
    cluster_name: str,
    mechanism: ClientMechanism = "SCRAM-SHA-512",
    username: str | None = None,
    secret_source: SecretSource = "env",
    env_prefix: str = "KAFKA",
    secrets_file: str = "/etc/kafka/secrets/client.properties",
    ca_location: str = "/etc/kafka/tls/ca.pem",
    certificate_location: str = "/etc/kafka/tls/client.pem",
    key_location: str = "/etc/kafka/tls/client.key",
    truststore_location: str = "/etc/kafka/tls/truststore.p12",
    keystore_location: str = "/etc/kafka/tls/keystore.p12",
) -> ClientSecurityConfig:
    """Client properties for one security setup, with every secret referenced (environment or a secrets file)."""
    if not _ENV_NAME.match(env_prefix):
        raise InvalidArgument(f"env_prefix {env_prefix!r} is not a valid environment variable name.")
    if not bootstrap_servers.strip():
        raise InvalidArgument("bootstrap_servers is empty.", hint="Give host:port[,host:port...].")
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    if sasl:
        if not username:
            raise InvalidArgument(f"{protocol} needs the SASL user name.", hint="Pass username='<user>'.")
        validate_user_name(username)
    if secret_source == "file":
        _check_path(secrets_file, "secrets_file")
    for value, what in (
        (ca_location, "ca_location"),
        (certificate_location, "certificate_location"),
        (key_location, "key_location"),
        (truststore_location, "truststore_location"),
        (keystore_location, "keystore_location"),
    ):
        _check_path(value, what)

    refs: list[SecretReference] = []

    def secret(name: str, suffix: str) -> tuple[str, str, str]:
        """(librdkafka placeholder, Java reference, clusters-file reference) for one secret."""
        env_var = f"{env_prefix}_{suffix}"
        if secret_source == "env":
            refs.append(SecretReference(secret=name, env_var=env_var))
            return f"${{{env_var}}}", f"${{env:{env_var}}}", f"${{{env_var}}}"
        refs.append(SecretReference(secret=name, file_key=name))
        # Our clusters file expands environment variables only: the file's value is exported by the launcher.
        return f"${{file:{secrets_file}:{name}}}", f"${{file:{secrets_file}:{name}}}", f"${{{env_var}}}"

    rd: dict[str, str] = {"bootstrap.servers": bootstrap_servers, "security.protocol": protocol}
    java: list[str] = [f"bootstrap.servers={bootstrap_servers}", f"security.protocol={protocol}"]
    yaml_lines = [
        f"{cluster_name}:",
        f"  bootstrap_servers: {bootstrap_servers}",
        f"  security_protocol: {protocol}",
    ]
    if sasl:
        rd_pw, java_pw, yaml_pw = secret("sasl.password", "SASL_PASSWORD")
        rd.update({"sasl.mechanism": mechanism, "sasl.username": username or "", "sasl.password": rd_pw})
        java += [
            f"sasl.mechanism={mechanism}",
            f'sasl.jaas.config={_JAAS_MODULES[mechanism]} required username="{username}" password="{java_pw}";',
        ]
        yaml_lines += [
            f"  sasl_mechanism: {mechanism}",
            f"  sasl_username: {username}",
            f"  sasl_password: {yaml_pw}",
        ]
    if tls:
        rd["ssl.ca.location"] = ca_location
        rd["ssl.endpoint.identification.algorithm"] = "https"
        ts_pw = secret("ssl.truststore.password", "TRUSTSTORE_PASSWORD")[1]
        java += [
            "ssl.endpoint.identification.algorithm=https",
            "ssl.truststore.type=PKCS12",
            f"ssl.truststore.location={truststore_location}",
            f"ssl.truststore.password={ts_pw}",
        ]
        yaml_lines.append(f"  ssl_ca_location: {ca_location}")
    if protocol == "SSL":  # mutual TLS: the client proves itself with a certificate
        rd_key_pw, java_key_ref, yaml_key_pw = secret("ssl.key.password", "SSL_KEY_PASSWORD")
        ks_pw = secret("ssl.keystore.password", "KEYSTORE_PASSWORD")[1]
        rd.update(
            {
                "ssl.certificate.location": certificate_location,
                "ssl.key.location": key_location,
                "ssl.key.password": rd_key_pw,
            }
        )
        java += [
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={keystore_location}",
            f"ssl.keystore.password={ks_pw}",
            f"ssl.key.password={java_key_ref}",
        ]
        yaml_lines += [
            f"  ssl_certificate_location: {certificate_location}",
            f"  ssl_key_location: {key_location}",
            f"  ssl_key_password: {yaml_key_pw}",
        ]
    provider = (
        [
            "config.providers=env",
            "config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        ]
        if secret_source == "env"
        else [
            "config.providers=file",
            "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider",
        ]
    )
    notes = [
        "librdkafka does not expand '${...}': read each secret from its source at start-up and put it into the "
        "config dict (e.g. os.environ[...]); never commit the filled-in values.",
        "Java clients resolve the references themselves through the config provider declared at the top "
        "(Kafka 4 may restrict providers with -Dorg.apache.kafka.automatic.config.providers; allow "
        f"{'EnvVarConfigProvider' if secret_source == 'env' else 'FileConfigProvider'} if you set it).",
        "The clusters_file_entry goes under 'clusters:' in KAFKA_AGENT_CLUSTERS_FILE; it expands ${VAR} from the "
        "environment of the kafka-agent process.",
    ]
    if protocol == "SASL_PLAINTEXT":
        notes.append("SASL_PLAINTEXT sends everything unencrypted: use it for local tests only, SASL_SSL elsewhere.")
    if mechanism == "PLAIN" and sasl:
        notes.append("PLAIN sends the password itself to the broker: prefer SCRAM-SHA-512, and never without TLS.")
    if protocol == "SSL":
        notes.append(
            "Mutual TLS: the broker listener needs ssl.client.auth=required; the principal is the certificate's "
            "distinguished name (User:CN=...), unless ssl.principal.mapping.rules shortens it: write ACLs for that."
        )
    template = None
    if secret_source == "file":
        template = "\n".join(f"{r.file_key}=<fill in>" for r in refs) + "\n"
        notes.append(f"Keep {secrets_file} readable by the client's user only (chmod 600).")
    return ClientSecurityConfig(
        security_protocol=protocol,
        sasl_mechanism=mechanism if sasl else None,
        secret_source=secret_source,
        librdkafka=rd,
        java_properties="\n".join([*provider, *java]) + "\n",
        clusters_file_entry="\n".join(yaml_lines) + "\n",
        secrets=refs,
        secrets_file_template=template,
        notes=notes,
    )
