"""MCP tools for the platform as code: plan a platform file, apply a saved plan, check drift.

The tools read and write only the platform folder (``KAFKA_AGENT_PLATFORM_DIR``, default ``<data_dir>/platform``):
platform files by plain name, plans by id. Schema files and ``${file:...}`` secrets must lie inside it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from core.gate import ConsentPreview
from gitops import files
from gitops.apply import ApplyResult, finish, plan_change, plan_effect, run_cluster, start
from gitops.drift import DriftReport, drift
from gitops.model import parse
from gitops.plan import Plan, make_plan, render
from gitops.state import Where
from mcp_server.tools._base import Ctx, app_of, gated_destructive, kafka_tool
from mcp_server.tools._types import CONFIRM_DESCRIPTION

ClusterArg = Annotated[str | None, Field(description="The file's section; omit when it has one.")]
PlatformArg = Annotated[
    str | None,
    Field(
        description="YAML: version: 1, clusters: {name: {manage, topics, acls, users, schemas, connectors, "
        "streams}}. Or give file.",
        max_length=200_000,
    ),
]
FileArg = Annotated[
    str | None,
    Field(description="A file of the platform folder, e.g. events.yaml.", max_length=104),
]


class PlanOutcome(BaseModel):
    plan_id: str = Field(description="Give it to kafka_apply to execute exactly this plan.")
    file: str | None = Field(None, description="The platform file (in the platform folder) the plan was made from.")
    exit_code: int = Field(description="0 nothing to change, 2 changes, 1 refused (see steps).")
    summary: dict[str, int]
    refused: bool
    text: str = Field(description="The plan as a person reads it: every step, its diff, policy verdict and needs.")
    plan: Plan


class ApplyOutcome(BaseModel):
    executed: bool = Field(description="True when the plan ran (or was already applied); False: consent first.")
    consent: ConsentPreview | None = Field(None, description="Present when a person must consent first.")
    result: ApplyResult | None = None


def _folder(ctx: Ctx) -> Path:
    folder = app_of(ctx).settings.resolved_platform_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _load(ctx: Ctx, platform: str | None, file: str | None, save_as: str | None = None) -> tuple[Any, Path | None]:
    folder = _folder(ctx)
    if (platform is None) == (file is None):
        raise InvalidArgument("Give the platform file as platform (YAML text) or file (a name), one of them.")
    path: Path | None = None
    if platform is not None:
        parsed = parse(platform)
        if save_as:
            path = files.file_in(folder, save_as)
            path.write_text(platform, encoding="utf-8")
        return parsed, path
    assert file is not None
    path = files.file_in(folder, file)
    if not path.exists():
        raise InvalidArgument(f"The platform folder has no file {file!r}.", hint="Write it with kafka_plan save_as.")
    return parse(path.read_text(encoding="utf-8"), where=file), path


def _sections(platform: Any, cluster: str | None) -> list[str]:
    if cluster:
        return [cluster]
    if len(platform.clusters) != 1:
        raise InvalidArgument(f"The file has sections {', '.join(sorted(platform.clusters))}: name one as cluster.")
    return list(platform.clusters)


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Plan a platform file")
    async def kafka_plan(
        ctx: Ctx,
        platform: PlatformArg = None,
        file: FileArg = None,
        save_as: Annotated[
            str | None,
            Field(description="Also save platform in the platform folder under this name.", max_length=104),
        ] = None,
        cluster: ClusterArg = None,
    ) -> PlanOutcome:
        """Plan a platform file (platform as code), Terraform-style: what applying it would create, change and delete,
        each step's diff, policy verdict and needs. Changes nothing; saves the plan for kafka_apply. No steps: no
        drift."""
        app = app_of(ctx)
        folder = _folder(ctx)
        parsed, path = _load(ctx, platform, file, save_as)
        sections = _sections(parsed, cluster)
        git = None
        if path is not None:
            from gitops.gitinfo import info

            git = await app.run(info, path)
        where = Where(folder, confine=folder)
        plan = await app.run(
            make_plan, app, parsed, where, sections=sections, file=str(path.name) if path else None, git=git
        )
        files.save_plan(plan, folder / "plans" / f"{plan.plan_id}.json")
        return PlanOutcome(
            plan_id=plan.plan_id,
            file=path.name if path else None,
            exit_code=plan.exit_code,
            summary=plan.summary,
            refused=plan.refused,
            text=render(plan),
            plan=plan,
        )

    @kafka_tool(server, kind="destructive", title="Apply a saved plan")
    async def kafka_apply(
        ctx: Ctx,
        plan_id: Annotated[str, Field(description="From kafka_plan.", max_length=40)],
        allow_delete: Annotated[bool, Field(description="Let the plan's deletions run (with consent).")] = False,
        confirm_token: Annotated[str | None, Field(description=CONFIRM_DESCRIPTION)] = None,
    ) -> ApplyOutcome | InputRequiredResult:
        """Apply exactly a kafka_plan plan, each step through policies and audit and verified; stops at the first
        failure saying what was done; refused if the cluster changed since. The first call only previews; repeat with
        confirm_token if the user agrees."""
        app = app_of(ctx)
        folder = _folder(ctx)
        plan = files.load_plan(files.plan_path(folder, plan_id))
        early = await app.run(start, app, plan, allow_delete=allow_delete, confine=folder)
        if early is not None:
            return ApplyOutcome(executed=True, result=early)
        result = ApplyResult(plan_id=plan.plan_id, status="failed", message="")
        for cp in plan.clusters:
            if not cp.steps:
                continue
            change = plan_change(plan, cp.cluster, tool="kafka_apply", allow_delete=allow_delete)

            def act(permit: Any, cp: Any = cp) -> bool:
                return run_cluster(app, plan, cp, permit, tool="kafka_apply", confine=folder, result=result)

            # Always a person's consent first, deletions or not: a model does not apply a plan on its own (and the
            # agent's runtime counts on a destructive tool's first call being a preview).
            done = await gated_destructive(
                ctx, change, act, effect=plan_effect(plan, cp.cluster), confirm_token=confirm_token
            )
            if isinstance(done, InputRequiredResult):
                return done
            if isinstance(done, ConsentPreview):
                return ApplyOutcome(executed=False, consent=done)
            if not done:
                return ApplyOutcome(executed=True, result=await app.run(finish, app, plan, result, False))
        return ApplyOutcome(executed=True, result=await app.run(finish, app, plan, result, True))

    @kafka_tool(server, kind="read", title="Platform drift")
    async def kafka_drift(
        ctx: Ctx, platform: PlatformArg = None, file: FileArg = None, cluster: ClusterArg = None
    ) -> DriftReport:
        """Compare the cluster with a platform file: in_sync, or each managed resource that differs, what a plan would
        do about it, and counts per kind. Use it to verify an apply."""
        app = app_of(ctx)
        folder = _folder(ctx)
        parsed, _path = _load(ctx, platform, file)
        return await app.run(drift, app, parsed, Where(folder, confine=folder), sections=_sections(parsed, cluster))
