"""The plan: what applying a platform file would create, change and delete on a cluster, Terraform-style, with the
policy verdict of every step and what each one needs.

A plan is computed from the file (``desired``) and the cluster (``observe``) and saved as JSON; ``gitops.apply``
executes exactly that plan, and refuses when the managed resources moved since (their fingerprints differ).

Exit codes for CI: 0 nothing to change, 2 changes, 1 refused (a policy refusal, a step Kafka cannot do).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from gitops.gitinfo import GitInfo
from gitops.model import KINDS, ClusterPlatform, PlatformFile, acl_managed
from gitops.state import Where, desired, fingerprint, observe, split
from gitops.steps import ORDER, Planner, Step

if TYPE_CHECKING:
    from core.app import AppContext


class ClusterPlan(BaseModel):
    section: str = Field(description="The platform file's section (its cluster name).")
    cluster: str = Field(description="The configured cluster planned against.")
    cluster_id: str
    profile: str
    consent_mode: str
    kinds: list[str] = Field(description="The kinds this file manages on the cluster.")
    before: str = Field(description="Fingerprint of the managed resources when planned.")
    after: str = Field(description="Fingerprint they have once the plan is applied.")
    resources_before: dict[str, str] = Field(default_factory=dict, description="Resource -> fingerprint, planned.")
    steps: list[Step] = Field(default_factory=list)
    section_json: str = Field(description="The file's section, to observe the same scope at apply time.")
    base: str = Field(description="Folder the file's relative paths start from.")


class Plan(BaseModel):
    version: Literal[1] = 1
    plan_id: str
    created_at: str
    file: str | None = None
    git: GitInfo | None = None
    clusters: list[ClusterPlan]
    summary: dict[str, int] = Field(description="create / update / delete / unchanged counts.")
    refused: bool = Field(description="A step is refused by policy or cannot be done by apply.")
    exit_code: int = Field(description="0 no changes, 2 changes, 1 refused.")

    def steps(self) -> list[tuple[ClusterPlan, Step]]:
        return [(c, s) for c in self.clusters for s in c.steps]


def check_scope(section: ClusterPlatform, name: str) -> None:
    """Every resource the file lists must be one it manages (else a later plan would not see it)."""
    for kind in KINDS:
        scope = section.scope(kind)  # type: ignore[arg-type]
        if kind == "acls":
            outside = [a.principal for a in section.acls if not acl_managed(scope, a.principal)]
        else:
            outside = [n for n in section.names(kind) if not scope.matches(n)]  # type: ignore[arg-type]
        if outside:
            raise InvalidArgument(
                f"Section {name!r} lists {kind} outside what it manages: {', '.join(sorted(set(outside))[:5])}.",
                hint="Add their prefix or names to manage:, or remove them from the file.",
            )


def plan_cluster(
    app: AppContext, platform: PlatformFile, section_name: str, where: Where, *, target: str | None = None
) -> ClusterPlan:
    from gitops.state import cluster_id

    section = platform.clusters[section_name]
    check_scope(section, section_name)
    cfg = app.clients.cluster(target or section_name)
    want = desired(section, where)
    have = observe(app, cfg.name, section, desired_state=want)
    planner = Planner(app, cfg.name, section, where)
    handlers = {
        "topics": planner.topic,
        "acls": planner.acl,
        "users": planner.user,
        "schemas": planner.schema,
        "connectors": planner.connector,
        "streams": planner.stream,
    }
    for resource in sorted(set(want) | set(have), key=lambda r: (ORDER[split(r)[0]], r)):
        w, h = want.get(resource), have.get(resource)
        if w != h:
            handlers[split(resource)[0]](resource, w, h)
    creates_updates = [s for s in planner.steps if s.op != "delete"]
    deletes = sorted((s for s in planner.steps if s.op == "delete"), key=lambda s: (-ORDER[s.kind], s.resource))
    steps = creates_updates + deletes
    for i, step in enumerate(steps, 1):
        step.id = i
        if step.destructive:
            step.needs.insert(0, f"consent ({cfg.consent_mode()} mode) and apply --allow-delete")
    from gitops.state import managed_kinds

    return ClusterPlan(
        section=section_name,
        cluster=cfg.name,
        cluster_id=cluster_id(app, cfg.name),
        profile=cfg.profile,
        consent_mode=cfg.consent_mode(),
        kinds=list(managed_kinds(section, cfg)),
        before=fingerprint(have),
        after=fingerprint(want),
        resources_before={r: fingerprint({r: v}) for r, v in have.items()},
        steps=steps,
        section_json=section.model_dump_json(by_alias=True, exclude_none=True),
        base=str(where.base),
    )


def make_plan(
    app: AppContext,
    platform: PlatformFile,
    where: Where,
    *,
    sections: list[str] | None = None,
    target: str | None = None,
    file: str | None = None,
    git: GitInfo | None = None,
) -> Plan:
    """Plan every section of the file (or the named ones); ``target`` plans one section against another cluster."""
    names = sections or sorted(platform.clusters)
    unknown = [n for n in names if n not in platform.clusters]
    if unknown:
        raise InvalidArgument(
            f"The platform file has no section for {', '.join(unknown)}.",
            hint=f"Its sections: {', '.join(sorted(platform.clusters))}.",
        )
    if target and len(names) != 1:
        raise InvalidArgument("--target plans one section: name it with --cluster.")
    clusters = [plan_cluster(app, platform, n, where, target=target) for n in names]
    steps = [s for c in clusters for s in c.steps]
    summary = {op: sum(1 for s in steps if s.op == op) for op in ("create", "update", "delete")}
    refused = any(s.verdict == "refuse" or not s.executable for s in steps)
    return Plan(
        plan_id=f"plan-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        file=file,
        git=git,
        clusters=clusters,
        summary=summary,
        refused=refused,
        exit_code=1 if refused else (2 if steps else 0),
    )


def section_of(cluster_plan: ClusterPlan) -> ClusterPlatform:
    return ClusterPlatform.model_validate(json.loads(cluster_plan.section_json))


# --- text -----------------------------------------------------------------------------------------------------------

_SIGN = {"create": "+", "update": "~", "delete": "-"}


def render(plan: Plan) -> str:
    """The plan for a person, Terraform-style."""
    lines: list[str] = []
    if plan.file:
        lines.append(f"platform file: {plan.file}")
    if plan.git is not None:
        state = "with UNCOMMITTED changes" if plan.git.dirty else "committed"
        lines.append(f"git: commit {plan.git.commit[:12] if plan.git.commit else '(none yet)'}, the file is {state}")
    for c in plan.clusters:
        lines.append("")
        lines.append(
            f"cluster {c.cluster} (section {c.section}, id {c.cluster_id}, {c.profile}, consent {c.consent_mode}); "
            f"manages: {', '.join(c.kinds) or 'nothing'}"
        )
        if not c.steps:
            lines.append("  no changes: the managed resources match the file")
        for s in c.steps:
            mark = {
                "allow": "",
                "warn": " [policy: warn]",
                "override": " [policy: overridden]",
                "refuse": " [REFUSED]",
            }[s.verdict]
            lines.append(f"  {_SIGN[s.op]} {s.id}. {s.action} {s.kind[:-1]} {s.name}{mark}")
            lines += [f"      {d}" for d in s.diff]
            for p in s.policy:
                extra = " (overridable with override_reason)" if p.overridable and p.severity == "refuse" else ""
                lines.append(f"      policy {p.severity}: {p.rule}: {p.message}{extra}")
            lines += [f"      needs: {n}" for n in s.needs]
    n = plan.summary
    lines.append("")
    lines.append(f"Plan {plan.plan_id}: {n['create']} to create, {n['update']} to change, {n['delete']} to delete.")
    if plan.refused:
        lines.append("REFUSED: fix the steps marked above; apply will not run this plan.")
    return "\n".join(lines)
