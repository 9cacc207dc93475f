"""Apply: execute exactly a saved plan through the one gate, in a safe order, verifying every step.

preflight   the plan was made on this cluster (its id), nothing in it is refused or left to another tool,
            deletions only with allow_delete; the managed resources still have the fingerprint they had when
            planned (else: the cluster moved, plan again), or already the one the plan leads to (a no-op)
consent     the whole plan is one change (``platform.apply``), destructive when a step is: the cluster's consent
            mode asks a person once, for exactly the destructive steps listed
steps       each its own change through ``Gate.perform`` (policies again, the audit line with the plan id and the
            file's Git commit), the consent handed on to the destructive ones (``Preapproved``); after each, the
            resource is read back until it shows the step's result
stop        at the first failure, saying what was done, what failed and what was not run
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from core.errors import Conflict, KafkaAgentError, Refused
from core.gate import Change, Grant, Preapproved
from gitops.applier import VERIFY_S, Applier
from gitops.plan import ClusterPlan, Plan, section_of
from gitops.state import cluster_id, fingerprint
from gitops.steps import Step

if TYPE_CHECKING:
    from core.app import AppContext
    from core.gate import Consent, Permit, Requester

Status = Literal["applied", "already_applied", "failed"]


class StepOutcome(BaseModel):
    step: int
    cluster: str
    resource: str
    action: str
    ok: bool
    verified: bool = Field(False, description="The cluster shows the step's result.")
    error: str | None = None


class ApplyResult(BaseModel):
    plan_id: str
    status: Status
    done: list[StepOutcome] = Field(default_factory=list, description="Steps made and verified, in order.")
    failed: StepOutcome | None = Field(None, description="The step that failed; nothing after it ran.")
    not_run: list[str] = Field(default_factory=list, description="Steps after the failure, not attempted.")
    verified: bool = Field(False, description="The managed resources now match the file, on every cluster.")
    git_commit: str | None = None
    message: str


def preflight(app: AppContext, plan: Plan) -> None:
    """Refuse a plan apply must not run: refused or external steps, a plan made for another cluster."""
    refused = [s for _, s in plan.steps() if s.verdict == "refuse"]
    if refused:

        def rules(step: Step) -> str:
            return ", ".join(p.rule for p in step.policy if p.severity == "refuse")

        names = ", ".join(f"{s.id}. {s.action} {s.name} ({rules(s)})" for s in refused[:5])
        raise Refused(
            f"Plan {plan.plan_id} has steps refused by policy: {names}; nothing was changed.",
            hint="Fix the file and plan again.",
        )
    external = [s for _, s in plan.steps() if not s.executable]
    if external:
        raise Refused(
            f"Plan {plan.plan_id} holds steps apply does not do: "
            + "; ".join(f"{s.id}. {s.action} {s.name}: {', '.join(s.needs)}" for s in external[:5])
            + "; nothing was changed."
        )
    for cp in plan.clusters:
        now = cluster_id(app, cp.cluster)
        if now != cp.cluster_id:
            raise Conflict(
                f"Plan {plan.plan_id} was made for cluster id {cp.cluster_id}, and {cp.cluster!r} is now {now}; "
                "nothing was changed.",
                hint="Plan again against this cluster.",
            )


def require_allow_delete(plan: Plan, allow_delete: bool) -> None:
    """Deletions run only when the caller says so (--allow-delete), on top of the person's consent."""
    deletions = [s for _, s in plan.steps() if s.destructive]
    if deletions and not allow_delete:
        listed = ", ".join(f"{s.id}. {s.action} {s.name}" for s in deletions[:10])
        raise Refused(
            f"Plan {plan.plan_id} deletes {len(deletions)} resource(s) ({listed}), and deletions need --allow-delete "
            "(allow_delete=true); nothing was changed.",
            hint="Apply again with it (a person then consents as the cluster's consent mode asks), or keep the "
            "resources by adding them to the file.",
        )


def plan_change(plan: Plan, cluster: str, *, tool: str, allow_delete: bool) -> Change:
    """The whole plan as one change, what consent is asked for: destructive when a step is (the MCP tool always
    asks)."""
    destructive = [s for cp, s in plan.steps() if s.destructive and cp.cluster == cluster]
    return Change(
        tool=tool,
        cluster=cluster,
        action="platform.apply",
        resource_type="platform",
        resources=[plan.plan_id],
        destructive=bool(destructive),
        arguments={
            "plan_id": plan.plan_id,
            "allow_delete": allow_delete,
            "file": plan.file,
            "git_commit": plan.git.commit if plan.git else None,
            "deletes": [f"{s.action} {s.name}" for s in destructive],
        },
        details={"steps": len(plan.steps())},
    )


def plan_effect(plan: Plan, cluster: str) -> str:
    """What a person consents to: every step of the plan on this cluster, deletions named first."""
    steps = [s for cp, s in plan.steps() if cp.cluster == cluster]
    doomed = [f"{s.action} {s.name}" for s in steps if s.destructive]
    others = [f"{s.action} {s.name}" for s in steps if not s.destructive]
    text = f"Apply plan {plan.plan_id} to cluster {cluster!r}: {len(steps)} step(s)"
    if doomed:
        text += f"; DELETES: {'; '.join(doomed[:20])}"
    if others:
        text += f"; creates or changes: {'; '.join(others[:20])}{' ...' if len(others) > 20 else ''}"
    if plan.git is not None:
        text += f" (file at commit {(plan.git.commit or '-')[:12]}{', uncommitted changes' if plan.git.dirty else ''})"
    return text + "."


def run_cluster(
    app: AppContext,
    plan: Plan,
    cp: ClusterPlan,
    permit: Permit,
    *,
    tool: str,
    confine: Path | None,
    result: ApplyResult,
    step_consent: Callable[[Grant], Consent] = Preapproved,
) -> bool:
    """Run one cluster's steps under the plan's ``permit``; False after a failure (recorded in ``result``)."""
    permit.require("platform.apply", plan.plan_id)
    applier = Applier(app, plan, cp, tool=tool, requester=permit.requester, confine=confine)
    covers: set[tuple[str, str]] = set()
    prepared: list[tuple[Step, Change, str]] = []
    for step in cp.steps:
        change, effect = applier.change(step)
        prepared.append((step, change, effect))
        if change.destructive:
            covers |= {(change.action, r) for r in change.resources}
    consent = step_consent(Grant(permit.decision, permit.decided_by, frozenset(covers)))
    for i, (step, change, effect) in enumerate(prepared):
        outcome = StepOutcome(step=step.id, cluster=cp.cluster, resource=step.resource, action=step.action, ok=False)
        try:
            app.gate.perform(
                change,
                applier.act(step),
                requester=permit.requester,
                consent=consent if change.destructive else None,
                effect=effect,
                summarize=lambda r: {"ok": True},
            )
            outcome.ok = True
            outcome.verified = applier.verify(step)
            if not outcome.verified:
                raise Conflict(
                    f"step {step.id} ({step.action} {step.name}) was made, but the cluster did not show its result "
                    f"within {VERIFY_S:.0f}s"
                )
        except KafkaAgentError as exc:
            outcome.error = str(exc)
            result.failed = outcome
            result.not_run = [f"{s.id}. {s.action} {s.name}" for s, _, _ in prepared[i + 1 :]]
            return False
        result.done.append(outcome)
    return True


def verify_all(app: AppContext, plan: Plan) -> bool:
    for cp in plan.clusters:
        section = section_of(cp)
        applier = Applier(app, plan, cp, tool="verify", requester=_system(), confine=None)
        if fingerprint(applier.observe(section)) != cp.after:
            return False
    return True


def _system() -> Requester:
    from core.gate import SYSTEM

    return SYSTEM


def check_moved(app: AppContext, plan: Plan, *, confine: Path | None) -> bool:
    """True when every cluster already shows the plan's result (a second apply: nothing to do). Raises ``Conflict``
    when a cluster moved since the plan."""
    done = []
    for cp in plan.clusters:
        applied, moved = Applier(app, plan, cp, tool="plan", requester=_system(), confine=confine).moved()
        if moved:
            raise Conflict(
                f"Cluster {cp.cluster!r} moved since plan {plan.plan_id} was made: {', '.join(moved[:10])} "
                "changed; nothing was changed.",
                hint="Plan again, review the new plan, and apply that one.",
            )
        done.append(applied)
    return all(done)


def start(app: AppContext, plan: Plan, *, allow_delete: bool, confine: Path | None) -> ApplyResult | None:
    """The checks before any change: a refusal raises; a plan whose result the clusters already show is a no-op
    (returned as such); None means go ahead."""
    preflight(app, plan)
    if check_moved(app, plan, confine=confine):
        return ApplyResult(
            plan_id=plan.plan_id,
            status="already_applied",
            verified=True,
            git_commit=plan.git.commit if plan.git else None,
            message=f"Plan {plan.plan_id} is already applied: the managed resources match it; nothing was changed.",
        )
    require_allow_delete(plan, allow_delete)
    return None


def finish(app: AppContext, plan: Plan, result: ApplyResult, ok: bool) -> ApplyResult:
    result.git_commit = plan.git.commit if plan.git else None
    if not ok:
        failed = result.failed
        assert failed is not None
        result.status = "failed"
        done = ", ".join(f"{d.step}. {d.action} {d.resource.split('/', 1)[1]}" for d in result.done) or "nothing"
        result.message = (
            f"Stopped at step {failed.step} ({failed.action} {failed.resource}): {(failed.error or '').rstrip('.')}. "
            f"Done before it: "
            f"{done}. Not run: {', '.join(result.not_run) or 'nothing'}. Plan again to see where things stand."
        )
        return result
    result.verified = verify_all(app, plan)
    result.status = "applied"
    result.message = f"Applied plan {plan.plan_id}: {len(result.done)} step(s), each verified on the cluster; " + (
        "the managed resources now match the file."
        if result.verified
        else "but the managed resources do not match the file yet (something else changed them meanwhile): run drift."
    )
    return result


def apply_plan(
    app: AppContext,
    plan: Plan,
    *,
    tool: str,
    requester: Requester,
    consent: Consent | None,
    allow_delete: bool,
    confine: Path | None = None,
) -> ApplyResult:
    """Apply a saved plan synchronously (the command line). Raises ``Refused``/``Conflict`` before any change,
    ``ConsentRequired`` when a person must still decide; otherwise returns what was done."""
    early = start(app, plan, allow_delete=allow_delete, confine=confine)
    if early is not None:
        return early
    result = ApplyResult(plan_id=plan.plan_id, status="failed", message="")
    for cp in plan.clusters:
        if not cp.steps:
            continue
        change = plan_change(plan, cp.cluster, tool=tool, allow_delete=allow_delete)

        def act(permit: Permit, cp: ClusterPlan = cp) -> bool:
            return run_cluster(app, plan, cp, permit, tool=tool, confine=confine, result=result)

        ok = app.gate.perform(change, act, requester=requester, consent=consent, effect=plan_effect(plan, cp.cluster))
        if not ok:
            return finish(app, plan, result, False)
    return finish(app, plan, result, True)
