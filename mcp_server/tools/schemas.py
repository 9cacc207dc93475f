"""MCP tools for the Schema Registry (Confluent API): subjects, versions, compatibility, registration."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field, StringConstraints

from core.errors import PolicyViolation
from core.gate import Change, ConsentPreview
from core.kafka import schemas as kschemas
from core.services.rest import registry_client
from mcp_server.consent import requester_of
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from mcp_server.tools._types import CONFIRM_DESCRIPTION

ClusterArg = Annotated[str | None, Field()]
SubjectArg = Annotated[str, Field(description="Usually '<topic>-value' or '<topic>-key'.")]
SchemaArg = Annotated[
    Annotated[str, StringConstraints(max_length=1_000_000)]
    | Annotated[dict[str, Any], Field(max_length=10_000)]
    | Annotated[list[Any], Field(max_length=10_000)],
    Field(description="Avro or JSON Schema as JSON (text or object); Protobuf as text."),
]
SchemaTypeArg = Annotated[kschemas.SchemaType, Field()]
ConfirmArg = Annotated[str | None, Field(description=CONFIRM_DESCRIPTION)]


class SubjectDetails(BaseModel):
    schema_version: kschemas.SchemaVersion
    versions: list[int]
    compatibility: kschemas.CompatibilityLevel


class DeleteVersionOutcome(BaseModel):
    executed: bool = Field(description="True only when the version was deleted by this call.")
    consent: ConsentPreview | None = Field(
        default=None, description="Present when consent is needed: a confirmation token or a pending approval."
    )
    result: kschemas.DeleteVersionResult | None = None


def _text(schema: str | dict[str, Any] | list[Any]) -> str:
    return schema if isinstance(schema, str) else json.dumps(schema)


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="List schema subjects")
    async def kafka_list_schema_subjects(
        ctx: Ctx,
        prefix: Annotated[str | None, Field()] = None,
        cluster: ClusterArg = None,
    ) -> kschemas.SubjectList:
        """List the Schema Registry's subjects (one per evolving schema, usually '<topic>-value'); kafka_get_schema
        reads one."""
        app = app_of(ctx)
        rest = registry_client(app, app.clients.cluster(cluster))
        return await app.run(kschemas.list_subjects, rest, prefix=prefix)

    @kafka_tool(server, kind="read", title="Get schema")
    async def kafka_get_schema(
        ctx: Ctx,
        subject: SubjectArg,
        version: Annotated[int | None, Field(description="Default: the latest.")] = None,
        cluster: ClusterArg = None,
    ) -> SubjectDetails:
        """Read one version of a subject's schema (default the latest) with the subject's version numbers and
        compatibility level. Use before evolving a schema."""
        app = app_of(ctx)
        rest = registry_client(app, app.clients.cluster(cluster))
        found = await app.run(kschemas.get_schema, rest, subject, version if version is not None else "latest")
        versions = await app.run(kschemas.list_versions, rest, subject)
        level = await app.run(kschemas.get_compatibility, rest, subject)
        return SubjectDetails(schema_version=found, versions=versions.versions, compatibility=level)

    @kafka_tool(server, kind="read", title="Check schema compatibility")
    async def kafka_check_schema_compatibility(
        ctx: Ctx,
        subject: SubjectArg,
        schema: SchemaArg,
        schema_type: SchemaTypeArg = "AVRO",
        cluster: ClusterArg = None,
    ) -> kschemas.CompatibilityReport:
        """Check whether a schema may become the subject's next version under its compatibility level: the verdict and,
        if it breaks, each reason with a fix. Use before kafka_register_schema."""
        app = app_of(ctx)
        rest = registry_client(app, app.clients.cluster(cluster))
        return await app.run(kschemas.check_compatibility, rest, subject, _text(schema), schema_type)

    @kafka_tool(server, kind="write", idempotent=True, title="Register schema")
    async def kafka_register_schema(
        ctx: Ctx,
        subject: SubjectArg,
        schema: SchemaArg,
        schema_type: SchemaTypeArg = "AVRO",
        cluster: ClusterArg = None,
    ) -> kschemas.RegisterResult:
        """Register a schema as a subject's next version (creating the subject); a schema that breaks the compatibility
        level is refused with reasons and fixes. An identical existing version is returned."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = registry_client(app, cfg)
        text = _text(schema)
        report = await app.run(kschemas.check_compatibility, rest, subject, text, schema_type)
        reasons = [f"v{p.against_version}: {p.reason} (fix: {p.fix})" for p in report.problems]
        change = Change(
            tool="kafka_register_schema",
            cluster=cfg.name,
            action="schema.register",
            resource_type="schema",
            resources=[subject],
            arguments={"subject": subject, "schema": text, "schema_type": schema_type},
            details={
                "compatible": report.compatible,
                "reasons": reasons,
                "level": report.level,
                "subject": subject,
                "profile": cfg.profile,
            },
        )
        if not report.compatible:
            # The gate's schema-compatibility rule refuses in production/staging (and audits the refusal); the
            # registry would refuse a breaking version anyway, so in dev (where the rule only warns) we refuse here
            # too, and audit that refusal the same way. Nothing reaches the registry.
            requester = requester_of(ctx)
            app.gate.check(change, requester=requester)
            refusal = PolicyViolation(
                f"Refused: the schema breaks {report.level} compatibility of subject {subject!r}: "
                + "; ".join(reasons),
                rule="schema-compatibility",
                hint="Apply the fixes and check again with kafka_check_schema_compatibility; change the "
                "subject's level only if every consumer and producer is planned for it.",
            )
            app.gate.record(change, decision="refused", error=str(refusal), requester=requester)
            raise refusal
        return await gated(
            ctx,
            change,
            lambda permit: kschemas.register_schema(permit, rest, subject, text, schema_type, report=report),
        )

    @kafka_tool(server, kind="read", title="Get schema compatibility")
    async def kafka_get_schema_compatibility(
        ctx: Ctx,
        subject: Annotated[str | None, Field(description="Omit for the registry default.")] = None,
        cluster: ClusterArg = None,
    ) -> kschemas.CompatibilityLevel:
        """The compatibility level of a subject (its own or the inherited registry default) or of the registry: NONE,
        BACKWARD, FORWARD, FULL or *_TRANSITIVE."""
        app = app_of(ctx)
        rest = registry_client(app, app.clients.cluster(cluster))
        return await app.run(kschemas.get_compatibility, rest, subject)

    @kafka_tool(server, kind="write", idempotent=True, title="Set schema compatibility")
    async def kafka_set_schema_compatibility(
        ctx: Ctx,
        level: Annotated[
            kschemas.Level,
            Field(
                description="BACKWARD: new readers read old data; FORWARD: old readers read new data; FULL: both; "
                "*_TRANSITIVE: against every version; NONE: no check."
            ),
        ],
        subject: Annotated[str | None, Field(description="Omit for the registry default.")] = None,
        cluster: ClusterArg = None,
    ) -> kschemas.CompatibilityLevel:
        """Set the compatibility level of a subject or the registry default: which future schema versions the registry
        accepts."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = registry_client(app, cfg)
        change = Change(
            tool="kafka_set_schema_compatibility",
            cluster=cfg.name,
            action="schema.compatibility.set",
            resource_type="schema",
            resources=[subject or kschemas.GLOBAL],
            arguments={"level": level, "subject": subject},
            details={"level": level, "profile": cfg.profile},
        )
        return await gated(ctx, change, lambda permit: kschemas.set_compatibility(permit, rest, level, subject))

    @kafka_tool(server, kind="destructive", title="Delete schema version")
    async def kafka_delete_schema_version(
        ctx: Ctx,
        subject: SubjectArg,
        version: Annotated[int, Field()],
        permanent: Annotated[bool, Field(description="Also hard-delete (Confluent soft-deletes first).")] = False,
        confirm_token: ConfirmArg = None,
        cluster: ClusterArg = None,
    ) -> DeleteVersionOutcome | InputRequiredResult:
        """Delete one version of a subject; consumers of records written with it may fail to decode them. The first call
        only previews; repeat with confirm_token once the user agrees."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = registry_client(app, cfg)
        found = await app.run(kschemas.get_schema, rest, subject, version)
        change = Change(
            tool="kafka_delete_schema_version",
            cluster=cfg.name,
            action="schema.delete",
            resource_type="schema",
            resources=[subject],
            destructive=True,
            arguments={"subject": subject, "version": version, "permanent": permanent},
        )
        effect = (
            f"Delete version {version} (schema id {found.id}) of subject {subject!r} on cluster {cfg.name!r}"
            f"{' permanently' if permanent else ''}; records written with it may become unreadable."
        )
        done = await gated_destructive(
            ctx,
            change,
            lambda permit: kschemas.delete_version(permit, rest, subject, version, permanent=permanent),
            effect=effect,
            confirm_token=confirm_token,
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client answers and retries
        if isinstance(done, ConsentPreview):
            return DeleteVersionOutcome(executed=False, consent=done)
        return DeleteVersionOutcome(executed=True, result=done)
