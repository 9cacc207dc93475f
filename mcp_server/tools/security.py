"""MCP tools for security: SCRAM users, ACLs and roles, login checks, client security configs.

Passwords given to these tools go to the brokers (or to a throwaway login check) and nowhere else: they are typed
``SecretStr``, left out of every ``Change`` (so out of the audit log and consent digests), and never returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, BeforeValidator, Field, SecretStr, StringConstraints

from core.app import AppContext
from core.errors import AuthError, InvalidArgument, NotFound, OperationTimeout, Unreachable
from core.gate import Change, ConsentPreview, Permit
from core.kafka import security as ksec
from core.settings import ClusterConfig
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from mcp_server.tools._types import ClusterArg, ConfirmArg, GroupId, TopicName

T = TypeVar("T")

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
UserArg = Annotated[str, Field(max_length=255)]
PrincipalArg = Annotated[str | None, Field(description="e.g. User:analytics-app", max_length=300)]
ResourceTypeArg = Annotated[ksec.ResourceTypeName | None, Field()]
ResourceNameArg = Annotated[str | None, Field()]
PatternFilterArg = Annotated[
    ksec.PatternFilterName,
    Field(description="match: every ACL applying to resource_name."),
]
OperationArg = Annotated[ksec.OperationName | None, Field()]
PermissionArg = Annotated[ksec.PermissionName | None, Field()]
HostArg = Annotated[str | None, Field()]

_SASL = ("SASL_PLAINTEXT", "SASL_SSL")


def _number_as_text(value: Any) -> Any:
    """A password sent as a JSON number is taken as its digits: a type error would echo the value in the error."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


PasswordArg = Annotated[
    SecretStr,
    BeforeValidator(_number_as_text),
    Field(description="8+ characters.", max_length=1024),
]


class DeleteScramOutcome(BaseModel):
    executed: bool = Field(description="True only when credentials were deleted by this call.")
    consent: ConsentPreview | None = Field(default=None, description="Present when confirmation is needed.")
    results: list[ksec.ScramDeleteResult] = Field(default_factory=list, description="One entry per mechanism.")


class DeleteAclsOutcome(BaseModel):
    executed: bool = Field(description="True only when ACLs were deleted by this call.")
    matching: list[ksec.Acl] = Field(description="The ACLs the filter matches now (what is, or would be, deleted).")
    consent: ConsentPreview | None = Field(default=None, description="Present when confirmation is needed.")
    results: list[ksec.AclDeleteItem] = Field(default_factory=list, description="One entry per deleted ACL.")


async def _call(app: AppContext, cfg: ClusterConfig, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run an admin call; on a SASL cluster that cannot be reached, check whether the login itself fails."""
    return await _explained(app, cfg, app.run(fn, *args, **kwargs))


async def _explained(app: AppContext, cfg: ClusterConfig, work: Awaitable[T]) -> T:
    """Await ``work`` (an admin call, or a change through the gate); on a SASL cluster that cannot be reached, check
    whether the server's own login is what fails, and say so."""
    try:
        return await work
    except (Unreachable, OperationTimeout):
        if cfg.security_protocol not in _SASL:
            raise
        try:
            await app.run(ksec.check_login, cfg.librdkafka_config(), timeout=min(app.timeout, 8.0))
        except AuthError as auth:
            raise AuthError(
                f"Cluster {cfg.name!r}: the server's own SASL login was rejected. {auth.message}",
                hint="Fix sasl_username / sasl_password / sasl_mechanism of this cluster in the clusters file.",
                code=auth.code,
            ) from None
        except Exception:  # the login check could not tell: report the original error
            pass
        raise


def _mechanisms(mechanism: str) -> list[ksec.ScramMechanismName]:
    if mechanism == "both":
        return list(ksec.SCRAM_MECHANISMS)
    if mechanism not in ksec.SCRAM_MECHANISMS:
        raise InvalidArgument(
            f"Unknown SCRAM mechanism {mechanism!r}.", hint="Use SCRAM-SHA-256, SCRAM-SHA-512 or both."
        )
    return [mechanism]  # type: ignore[list-item]


def _acl_filter(**kwargs: Any) -> ksec.AclFilter:
    try:
        return ksec.AclFilter(**kwargs)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid ACL filter: {exc}") from None


def register(server: MCPServer[Any]) -> None:
    register_scram(server)
    register_acls(server)
    register_client(server)


def register_scram(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Describe SCRAM users")
    async def kafka_describe_scram_users(
        ctx: Ctx,
        users: Annotated[list[Name] | None, Field(max_length=1000)] = None,
        cluster: ClusterArg = None,
    ) -> ksec.ScramUserList:
        """SCRAM users with their mechanisms and iterations (passwords are never readable)."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await _call(app, cfg, ksec.describe_scram_users, app.clients.admin(cfg.name), users, timeout=app.timeout)

    @kafka_tool(server, kind="write", idempotent=True, title="Create or update SCRAM user")
    async def kafka_upsert_scram_user(
        ctx: Ctx,
        user: UserArg,
        password: PasswordArg,
        mechanism: Annotated[
            Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "both"],
            Field(),
        ] = "SCRAM-SHA-512",
        iterations: Annotated[
            int, Field(description=f"PBKDF2 iterations, {ksec.MIN_ITERATIONS}..{ksec.MAX_ITERATIONS}.")
        ] = 8192,
        cluster: ClusterArg = None,
    ) -> ksec.ScramUpsertResult:
        """Create a SCRAM user or set a new password. The password is never returned, logged or audited."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        mechs = _mechanisms(mechanism)
        ksec.validate_user_name(user)
        ksec.validate_iterations(iterations)
        ksec.validate_password(password, user=user)
        change = Change(
            tool="kafka_upsert_scram_user",
            cluster=cfg.name,
            action="user.scram.upsert",
            resource_type="user",
            resources=[user],
            arguments={"user": user, "mechanisms": mechs, "iterations": iterations},  # the password stays out
            details={"profile": cfg.profile},
        )
        admin = app.clients.admin(cfg.name)
        return await _explained(
            app,
            cfg,
            gated(
                ctx,
                change,
                lambda permit: ksec.upsert_scram_user(
                    permit, admin, user, password, mechanisms=mechs, iterations=iterations, timeout=app.timeout
                ),
            ),
        )

    @kafka_tool(server, kind="destructive", title="Delete SCRAM user")
    async def kafka_delete_scram_user(
        ctx: Ctx,
        user: UserArg,
        mechanism: Annotated[
            Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] | None,
            Field(description="Omit for all."),
        ] = None,
        confirm_token: ConfirmArg = None,
        cluster: ClusterArg = None,
    ) -> DeleteScramOutcome | InputRequiredResult:
        """Delete a user's SCRAM credentials (its ACLs stay). Destructive: the first call only previews
        (how_to_confirm)."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        ksec.validate_user_name(user)
        admin = app.clients.admin(cfg.name)
        existing = await _call(app, cfg, ksec.scram_mechanisms_of, admin, user, timeout=app.timeout)
        if mechanism is not None and mechanism not in existing:
            raise NotFound(
                f"User {user!r} has no {mechanism} credential (it has: {', '.join(existing)}).",
                hint="Omit mechanism to delete all of its credentials.",
            )
        mechs: list[str] = [mechanism] if mechanism else existing
        change = Change(
            tool="kafka_delete_scram_user",
            cluster=cfg.name,
            action="user.scram.delete",
            resource_type="user",
            resources=[user],
            destructive=True,
            arguments={"user": user, "mechanisms": mechs},
        )
        effect = (
            f"Delete the {', '.join(mechs)} credential(s) of user {user!r} on cluster {cfg.name!r} "
            f"({cfg.bootstrap_servers}): clients logging in as {user!r} with "
            f"{'them' if len(mechs) > 1 else 'it'} are refused from their next connection. ACLs stay."
        )
        done = await _explained(
            app,
            cfg,
            gated_destructive(
                ctx,
                change,
                lambda permit: ksec.delete_scram_user(permit, admin, user, mechanisms=mechs, timeout=app.timeout),
                effect=effect,
                confirm_token=confirm_token,
            ),
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client retries
        if isinstance(done, ConsentPreview):
            return DeleteScramOutcome(executed=False, consent=done)
        return DeleteScramOutcome(executed=any(r.ok for r in done), results=done)


def register_acls(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="List ACLs")
    async def kafka_list_acls(
        ctx: Ctx,
        principal: PrincipalArg = None,
        resource_type: ResourceTypeArg = None,
        resource_name: ResourceNameArg = None,
        pattern_type: PatternFilterArg = "any",
        operation: OperationArg = None,
        permission: PermissionArg = None,
        host: HostArg = None,
        cluster: ClusterArg = None,
    ) -> ksec.AclList:
        """ACLs filtered by principal, resource, pattern, operation, permission and host."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        flt = _acl_filter(
            principal=principal,
            resource_type=resource_type,
            resource_name=resource_name,
            pattern_type=pattern_type,
            operation=operation,
            permission=permission,
            host=host,
        )
        return await _call(app, cfg, ksec.list_acls, app.clients.admin(cfg.name), flt, timeout=app.timeout)

    async def _create(
        ctx: Ctx, tool: str, specs: list[ksec.AclSpec], dry_run: bool, cluster: str | None, extra: dict[str, Any]
    ) -> ksec.AclCreateResult:
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        planned = ksec.plan_acls(specs)
        if dry_run:  # checked and shown, nothing sent to the cluster: no gate
            return ksec.dry_run_acls(planned)
        change = Change(
            tool=tool,
            cluster=cfg.name,
            action="acl.create",
            resource_type="acl",
            resources=[s.binding_id() for s in planned],  # see ksec.acl_binding_id
            arguments={**extra, "acls": [s.model_dump() for s in planned]},
            details={"profile": cfg.profile, "deny": any(s.permission == "deny" for s in planned)},
        )
        admin = app.clients.admin(cfg.name)

        def create(permit: Permit) -> ksec.AclCreateResult:
            return ksec.create_acls(permit, admin, planned, timeout=app.timeout)

        return await _explained(app, cfg, gated(ctx, change, create))

    @kafka_tool(server, kind="write", idempotent=True, title="Create ACLs")
    async def kafka_create_acls(
        ctx: Ctx,
        acls: Annotated[list[ksec.AclSpec] | None, Field(max_length=1000)] = None,
        short_forms: Annotated[
            list[Annotated[str, StringConstraints(min_length=1, max_length=600)]] | None,
            Field(
                max_length=1000,
                description="e.g. user:analytics-app:read:topic:events[:deny]; name* is a prefix.",
            ),
        ] = None,
        dry_run: Annotated[bool, Field()] = False,
        cluster: ClusterArg = None,
    ) -> ksec.AclCreateResult:
        """Create allow/deny ACLs, structured or as short forms. For an application's access prefer kafka_grant_role."""
        specs = list(acls or []) + [ksec.parse_short_acl(s) for s in short_forms or []]
        if not specs:
            raise InvalidArgument("No ACLs given.", hint="Pass acls=[...] or short_forms=['user:app:read:topic:x'].")
        return await _create(ctx, "kafka_create_acls", specs, dry_run, cluster, {})

    @kafka_tool(server, kind="write", idempotent=True, title="Grant producer or consumer role")
    async def kafka_grant_role(
        ctx: Ctx,
        principal: Annotated[str, Field(max_length=300)],
        role: Annotated[
            Literal["producer", "consumer"],
            Field(),
        ],
        topics: Annotated[list[TopicName], Field(max_length=1000)],
        groups: Annotated[
            list[GroupId] | None,
            Field(description="Consumer role.", max_length=1000),
        ] = None,
        transactional_id: Annotated[str | None, Field()] = None,
        prefixed: Annotated[bool, Field(description="Names are prefixes.")] = False,
        host: Annotated[str, Field()] = "*",
        dry_run: Annotated[bool, Field()] = False,
        cluster: ClusterArg = None,
    ) -> ksec.AclCreateResult:
        """The usual allow ACLs of a producer or consumer application in one call; dry_run shows them."""
        specs = ksec.role_specs(
            principal,
            role,
            topics=topics,
            groups=groups,
            transactional_id=transactional_id,
            prefixed=prefixed,
            host=host,
        )
        return await _create(ctx, "kafka_grant_role", specs, dry_run, cluster, {"role": role, "principal": principal})

    @kafka_tool(server, kind="destructive", title="Delete ACLs")
    async def kafka_delete_acls(
        ctx: Ctx,
        principal: PrincipalArg = None,
        resource_type: ResourceTypeArg = None,
        resource_name: ResourceNameArg = None,
        pattern_type: PatternFilterArg = "any",
        operation: OperationArg = None,
        permission: PermissionArg = None,
        host: HostArg = None,
        confirm_token: ConfirmArg = None,
        cluster: ClusterArg = None,
    ) -> DeleteAclsOutcome | InputRequiredResult:
        """Delete the ACLs matching a filter (principal or resource at least). Destructive: the first call lists them
        (how_to_confirm); refused if the matches changed."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        flt = _acl_filter(
            principal=principal,
            resource_type=resource_type,
            resource_name=resource_name,
            pattern_type=pattern_type,
            operation=operation,
            permission=permission,
            host=host,
        )
        ksec.require_narrow_filter(flt)
        admin = app.clients.admin(cfg.name)
        matching = (await _call(app, cfg, ksec.list_acls, admin, flt, timeout=app.timeout)).acls
        if not matching:
            raise NotFound("No ACL matches this filter; nothing to delete.", hint="Check it with kafka_list_acls.")
        described = [
            f"{a.permission.upper()} {a.principal} {a.operation.upper()} on {a.resource_type} {a.resource_name!r} "
            f"({a.pattern_type}) from {a.host}"
            for a in matching
        ]
        bindings = [a.binding_id() for a in matching]  # see ksec.acl_binding_id
        change = Change(
            tool="kafka_delete_acls",
            cluster=cfg.name,
            action="acl.delete",
            resource_type="acl",
            resources=bindings,
            destructive=True,
            # The matched set is bound into the consent: if it changes after the preview, the token no longer fits.
            arguments={**flt.model_dump(), "matching": bindings},
            on_mismatch="The ACLs matching this filter changed since the dry run (or the arguments differ).",
        )
        shown = "; ".join(described[:20]) + (f"; and {len(described) - 20} more" if len(described) > 20 else "")
        effect = f"Delete {len(matching)} ACL(s) on cluster {cfg.name!r} ({cfg.bootstrap_servers}): {shown}."
        done = await _explained(
            app,
            cfg,
            gated_destructive(
                ctx,
                change,
                lambda permit: ksec.delete_exact_acls(permit, admin, matching, timeout=app.timeout),
                effect=effect,
                confirm_token=confirm_token,
            ),
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client retries
        if isinstance(done, ConsentPreview):
            return DeleteAclsOutcome(executed=False, matching=matching, consent=done)
        return DeleteAclsOutcome(executed=any(r.ok for r in done), matching=matching, results=done)


def register_client(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Client security config", open_world=False)
    async def kafka_client_security_config(
        ctx: Ctx,
        protocol: Annotated[
            ksec.ClientProtocol,
            Field(description="SASL_PLAINTEXT is for local tests only."),
        ] = "SASL_SSL",
        mechanism: Annotated[ksec.ClientMechanism, Field()] = "SCRAM-SHA-512",
        username: Annotated[str | None, Field()] = None,
        secret_source: Annotated[
            ksec.SecretSource,
            Field(),
        ] = "env",
        env_prefix: Annotated[str, Field()] = "KAFKA",
        secrets_file: Annotated[str, Field()] = "/etc/kafka/secrets/client.properties",
        bootstrap_servers: Annotated[str | None, Field(description="Default: the cluster's.")] = None,
        ca_location: Annotated[str, Field()] = "/etc/kafka/tls/ca.pem",
        certificate_location: Annotated[str, Field()] = "/etc/kafka/tls/client.pem",
        key_location: Annotated[str, Field()] = "/etc/kafka/tls/client.key",
        truststore_location: Annotated[str, Field()] = "/etc/kafka/tls/truststore.p12",
        keystore_location: Annotated[str, Field()] = "/etc/kafka/tls/keystore.p12",
        cluster: ClusterArg = None,
    ) -> ksec.ClientSecurityConfig:
        """Client properties (librdkafka and Java) for a secure connection; secrets as environment or file references,
        never embedded."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return ksec.client_security_config(
            protocol=protocol,
            bootstrap_servers=bootstrap_servers or cfg.bootstrap_servers,
            cluster_name=cfg.name,
            mechanism=mechanism,
            username=username,
            secret_source=secret_source,
            env_prefix=env_prefix,
            secrets_file=secrets_file,
            ca_location=ca_location,
            certificate_location=certificate_location,
            key_location=key_location,
            truststore_location=truststore_location,
            keystore_location=keystore_location,
        )

    @kafka_tool(server, kind="read", title="Check a client login")
    async def kafka_check_login(
        ctx: Ctx,
        username: Annotated[str | None, Field(description="Omit for the server's own login.")] = None,
        password: Annotated[
            SecretStr | None,
            BeforeValidator(_number_as_text),
            Field(),
        ] = None,
        mechanism: Annotated[Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"], Field()] = "SCRAM-SHA-512",
        bootstrap_servers: Annotated[str | None, Field(description="Default: the cluster's.")] = None,
        security_protocol: Annotated[
            Literal["SASL_PLAINTEXT", "SASL_SSL"] | None,
            Field(),
        ] = None,
        cluster: ClusterArg = None,
    ) -> ksec.LoginCheck:
        """Check a SASL login: the server's own, or a given user's (password never returned or logged); says what the
        principal may see."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        conf: dict[str, Any] = cfg.librdkafka_config()
        if bootstrap_servers:
            conf["bootstrap.servers"] = bootstrap_servers
        if username is not None or password is not None:
            if not username or password is None:
                raise InvalidArgument("Give both username and password, or neither (to test the server's login).")
            ksec.validate_user_name(username)
            protocol = security_protocol or (
                cfg.security_protocol if cfg.security_protocol in _SASL else "SASL_PLAINTEXT"
            )
            conf.update(
                {
                    "security.protocol": protocol,
                    "sasl.mechanism": mechanism,
                    "sasl.username": username,
                    "sasl.password": password.get_secret_value(),
                }
            )
        elif security_protocol:
            conf["security.protocol"] = security_protocol
        return await app.run(ksec.check_login, conf, timeout=min(app.timeout, 15.0))
