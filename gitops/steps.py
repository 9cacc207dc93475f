"""The steps of a plan, resource by resource: what changes (a config diff, one line each), the policy verdict of the
gate's rules on it, and what it needs (consent, key placement after a partition increase, a reassignment for an RF
change, a schema's compatibility verdict, the Connect worker's validation of a config).

Every step is one change the gate will see at apply time (``Step.action`` on ``Step.name``); ``after`` is the
resource as the step leaves it, which apply reads back to verify.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.gate.policies import evaluate
from core.kafka import connect as kconnect
from core.kafka import schemas as kschemas
from gitops.model import SECRET_KEY, ClusterPlatform, Kind, schema_text
from gitops.state import Where, service, split

if TYPE_CHECKING:
    from core.app import AppContext

Verdict = Literal["allow", "warn", "override", "refuse"]
Op = Literal["create", "update", "delete"]

# Apply order: what others depend on first (topics before ACLs and connectors), deletions last in reverse.
ORDER: dict[str, int] = {k: i for i, k in enumerate(["topics", "users", "schemas", "acls", "connectors", "streams"])}
REASSIGN = "kafka-agent reassign execute --goal replication_factor --replication-factor {rf} --topics {topic}"


class PolicyNote(BaseModel):
    rule: str
    severity: str = Field(description="refuse | warn")
    message: str
    overridable: bool


class Step(BaseModel):
    """One change on one resource."""

    id: int
    resource: str = Field(description="<kind>/<name>, e.g. topics/shop.orders, acls/<binding id>.")
    kind: Kind
    name: str
    op: Op
    action: str = Field(description="What the gate sees: topic.create, topic.config.alter, acl.delete ...")
    destructive: bool = False
    diff: list[str] = Field(default_factory=list, description="What changes, one line each.")
    verdict: Verdict = "allow"
    policy: list[PolicyNote] = Field(default_factory=list)
    override_reason: str | None = None
    needs: list[str] = Field(default_factory=list, description="Consent, key placement, a reassignment ...")
    executable: bool = Field(True, description="False: apply cannot do this step (see needs).")
    after: dict[str, Any] | None = Field(None, description="The resource as the step leaves it (verification).")
    args: dict[str, Any] = Field(default_factory=dict, description="What the step does (no secret values).")


def _refusals(step: Step) -> list[PolicyNote]:
    return [p for p in step.policy if p.severity == "refuse"]


def _judge(app: AppContext, cluster: str, profile: str, step: Step, details: dict[str, Any]) -> None:
    """Set the step's policy verdict from the gate's rules (the same engine the gate runs at apply time)."""
    if step.kind == "topics" and app.gate.is_protected_topic(step.name):
        step.policy.append(
            PolicyNote(
                rule="protected-resource",
                severity="refuse",
                message=f"Topic {step.name!r} is protected (internal, registry, Connect or configured pattern).",
                overridable=False,
            )
        )
    for f in evaluate(step.action, {**details, "profile": profile}, profile=profile):
        step.policy.append(PolicyNote(rule=f.rule, severity=f.severity, message=f.message, overridable=f.overridable))
    refusals = _refusals(step)
    if refusals and step.override_reason and all(r.overridable for r in refusals):
        step.verdict = "override"
        step.needs.append(f"override of {', '.join(sorted({r.rule for r in refusals}))}: {step.override_reason}")
    elif refusals:
        step.verdict = "refuse"
    elif step.policy:
        step.verdict = "warn"


def alter_details(
    set_configs: dict[str, str], delete: list[str], current: dict[str, str], replication_factor: int
) -> dict[str, Any]:
    """The facts a config change shows the policies (as kafka_alter_topic_config does); the replication factor only
    when min.insync.replicas is set, which the rule that keeps it below the RF needs."""
    details: dict[str, Any] = {"configs": set_configs, "delete_configs": delete, "current_configs": current}
    if "min.insync.replicas" in set_configs:
        details["replication_factor"] = replication_factor
    return details


def _config_diff(before: dict[str, str], after: dict[str, str]) -> tuple[dict[str, str], list[str], list[str]]:
    set_configs = {k: v for k, v in after.items() if before.get(k) != v}
    delete = sorted(k for k in before if k not in after)
    lines = [f"configs.{k}: {before.get(k, '(default)')} -> {v}" for k, v in sorted(set_configs.items())]
    lines += [f"configs.{k}: {before[k]} -> (default)" for k in delete]
    return set_configs, delete, lines


class Planner:
    def __init__(self, app: AppContext, cluster: str, section: ClusterPlatform, where: Where) -> None:
        self.app = app
        self.cfg = app.clients.cluster(cluster)
        self.section = section
        self.where = where
        self.steps: list[Step] = []

    def add(self, resource: str, op: Op, action: str, **kwargs: Any) -> Step:
        kind, name = split(resource)
        step = Step(id=0, resource=resource, kind=kind, name=name, op=op, action=action, **kwargs)
        self.steps.append(step)
        return step

    def judge(self, step: Step, details: dict[str, Any]) -> None:
        _judge(self.app, self.cfg.name, self.cfg.profile, step, details)

    # --- per kind -------------------------------------------------------------------------------------------------

    def topic(self, resource: str, want: dict[str, Any] | None, have: dict[str, Any] | None) -> None:
        """Steps in order, each ``after`` the topic as the steps up to it leave it (RF, partitions, configs)."""
        name = split(resource)[1]
        spec = self.section.topics.get(name)
        sizing: dict[str, Any] = {}
        if spec is not None:
            if spec.expected_msgs_per_sec is not None:
                sizing["expected_msgs_per_sec"] = spec.expected_msgs_per_sec
            if spec.high_throughput is not None:
                sizing["high_throughput"] = spec.high_throughput
        reason = spec.override_reason if spec else None
        if want is None:
            step = self.add(resource, "delete", "topic.delete", destructive=True, after=None)
            step.diff = [f"delete topic ({have['partitions'] if have else '?'} partitions, all its records)"]
            self.judge(step, {})
            return
        if have is None:
            step = self.add(resource, "create", "topic.create", after=want, override_reason=reason)
            step.diff = [f"partitions: {want['partitions']}", f"replication_factor: {want['replication_factor']}"]
            step.diff += [f"configs.{k}: {v}" for k, v in want["configs"].items()]
            step.args = {
                "partitions": want["partitions"],
                "replication_factor": want["replication_factor"],
                "configs": want["configs"],
            }
            self.judge(step, {**step.args, **sizing})
            return
        now: dict[str, Any] = dict(have)  # the topic as the steps so far leave it
        if want["replication_factor"] != now["replication_factor"]:
            step = self.add(
                resource,
                "update",
                "topic.replication.change",
                diff=[f"replication_factor: {now['replication_factor']} -> {want['replication_factor']}"],
                executable=False,
                after={**now, "replication_factor": want["replication_factor"]},
            )
            now = dict(step.after or now)
            step.needs.append(
                "a partition reassignment (replicas are copied between brokers): apply does not do it; run "
                + REASSIGN.format(rf=want["replication_factor"], topic=name)
                + ", then plan again"
            )
            self.judge(step, {"replication_factor": want["replication_factor"], "configs": now["configs"]})
        if want["partitions"] < now["partitions"]:
            step = self.add(
                resource,
                "update",
                "topic.partitions.remove",
                diff=[f"partitions: {now['partitions']} -> {want['partitions']}"],
                executable=False,
                verdict="refuse",
            )
            step.policy.append(
                PolicyNote(
                    rule="partitions-only-grow",
                    severity="refuse",
                    message="Kafka cannot remove partitions; keep the count, or recreate the topic under a new name.",
                    overridable=False,
                )
            )
        elif want["partitions"] > now["partitions"]:
            step = self.add(
                resource,
                "update",
                "topic.partitions.add",
                diff=[f"partitions: {now['partitions']} -> {want['partitions']}"],
                after={**now, "partitions": want["partitions"]},
                args={"total_count": want["partitions"]},
                override_reason=reason,
            )
            now = dict(step.after or now)
            step.needs.append(
                "key placement: keyed records map to other partitions after the increase (per-key order holds only "
                "for records written after it; consumers of keyed state may need a reset)"
            )
            self.judge(step, {"partitions": want["partitions"], **sizing})
        set_configs, delete, lines = _config_diff(now["configs"], want["configs"])
        if lines:
            step = self.add(
                resource,
                "update",
                "topic.config.alter",
                diff=lines,
                after={**now, "configs": want["configs"]},
                args={"set_configs": set_configs, "delete_configs": delete, "current_configs": now["configs"]},
                override_reason=reason,
            )
            self.judge(step, alter_details(set_configs, delete, now["configs"], want["replication_factor"]))

    def acl(self, resource: str, want: dict[str, Any] | None, have: dict[str, Any] | None) -> None:
        if want is not None and have is None:
            step = self.add(resource, "create", "acl.create", after=want, args={"acl": want})
            step.diff = [_acl_line(want)]
            self.judge(step, {})
        elif want is None and have is not None:
            step = self.add(resource, "delete", "acl.delete", destructive=True, args={"acl": have})
            step.diff = [_acl_line(have)]
            step.needs.append("the principal loses this access at once")
            self.judge(step, {})

    def user(self, resource: str, want: dict[str, Any] | None, have: dict[str, Any] | None) -> None:
        name = split(resource)[1]
        if want is None:
            assert have is not None
            step = self.add(
                resource, "delete", "user.scram.delete", destructive=True, args={"mechanisms": have["mechanisms"]}
            )
            step.diff = [f"delete SCRAM credentials {', '.join(have['mechanisms'])}"]
            step.needs.append("clients logging in as this user are refused from then on")
            self.judge(step, {})
            return
        spec = self.section.users[name]
        args = {"mechanisms": want["mechanisms"], "iterations": want["iterations"], "password": spec.password}
        if have is None:
            step = self.add(resource, "create", "user.scram.upsert", after=want, args=args)
            step.diff = [
                f"mechanisms: {', '.join(want['mechanisms'])}",
                f"iterations: {want['iterations']}",
                f"password: {spec.password}",
            ]
            self.judge(step, {})
            return
        missing = [m for m in want["mechanisms"] if m not in have["mechanisms"]]
        extra = [m for m in have["mechanisms"] if m not in want["mechanisms"]]
        if missing or (want["iterations"] != have["iterations"]):
            step = self.add(resource, "update", "user.scram.upsert", args=args)
            step.after = {
                "mechanisms": sorted(set(have["mechanisms"]) | set(want["mechanisms"])),
                "iterations": want["iterations"],
            }
            step.diff = [f"mechanisms: {', '.join(have['mechanisms'])} -> {', '.join(want['mechanisms'])}"]
            if want["iterations"] != have["iterations"]:
                step.diff.append(f"iterations: {have['iterations']} -> {want['iterations']}")
            step.needs.append(f"the password is set again from {spec.password}")
            self.judge(step, {})
        if extra:
            step = self.add(resource, "update", "user.scram.delete", destructive=True, args={"mechanisms": extra})
            step.after = want
            step.diff = [f"remove mechanism(s) {', '.join(extra)}"]
            step.needs.append("clients logging in with these mechanisms are refused from then on")
            self.judge(step, {})

    def schema(self, resource: str, want: dict[str, Any] | None, have: dict[str, Any] | None) -> None:
        subject = split(resource)[1]
        if want is None:
            step = self.add(resource, "delete", "schema.delete", destructive=True)
            step.diff = ["delete every version of the subject"]
            step.needs.append("records written with these schemas may become unreadable")
            self.judge(step, {})
            return
        rest = service(self.app, self.cfg.name, "registry")
        spec = self.section.schemas[subject]
        if "compatibility" in want and (have is None or have.get("compatibility") != want["compatibility"]):
            old = have.get("compatibility") if have else None
            step = self.add(resource, "update" if have else "create", "schema.compatibility.set")
            step.diff = [f"compatibility: {old or '(registry default)'} -> {want['compatibility']}"]
            step.args = {"level": want["compatibility"]}
            step.after = {**(have or {}), "compatibility": want["compatibility"]} if have else None
            self.judge(step, {"level": want["compatibility"]})
        if have is not None and have["schema"] == want["schema"] and have["type"] == want["type"]:
            return
        text = schema_text(spec, self.where.base, confine=self.where.confine)
        report = kschemas.check_compatibility(rest, subject, text, spec.type)
        # The registry answers under the subject's level as it is now (a level the same plan sets comes first at
        # apply time, and apply checks again under it).
        level = report.level
        reasons = [f"v{p.against_version}: {p.reason} (fix: {p.fix})" for p in report.problems]
        step = self.add(resource, "update" if have else "create", "schema.register", after=want)
        step.args = {"schema": text, "schema_type": spec.type, "level": level}
        step.diff = ["register the file's schema as a new version" if have else "register the first version"]
        step.diff.append(f"compatibility check under {level}: {'compatible' if report.compatible else 'BREAKS'}")
        step.diff += [f"  {r}" for r in reasons]
        self.judge(step, {"compatible": report.compatible, "reasons": reasons, "subject": subject})
        if not report.compatible and step.verdict != "refuse":
            # As kafka_register_schema: a breaking schema is refused in every profile (the registry would too).
            step.verdict = "refuse"
            step.policy.append(
                PolicyNote(
                    rule="schema-compatibility",
                    severity="refuse",
                    message="the registry would refuse this version under the subject's compatibility level",
                    overridable=False,
                )
            )

    def connector(self, resource: str, want: dict[str, Any] | None, have: dict[str, Any] | None) -> None:
        if want is None:
            step = self.add(resource, "delete", "connector.delete", destructive=True)
            step.diff = ["delete the connector (its tasks stop; its offsets stay in the worker's offsets topic)"]
            self.judge(step, {})
            return
        rest = service(self.app, self.cfg.name, "connect")
        step = self.add(resource, "update" if have else "create", "connector.put", after=want)
        step.args = {"config": want["config"]}
        before = have["config"] if have else {}
        for k in sorted(set(before) | set(want["config"])):
            if before.get(k) != want["config"].get(k):
                old, new = (_shown(k, c.get(k)) for c in (before, want["config"]))
                step.diff.append(f"config.{k}: {old} -> {new}")
        self.judge(step, {})
        report = kconnect.validate_config(rest, want["config"])
        if not report.plugin_installed or not report.valid:
            step.verdict = "refuse"
            why = report.note or "; ".join(f"{e.field}: {' / '.join(e.errors)}" for e in report.errors)
            step.policy.append(
                PolicyNote(rule="connector-config-valid", severity="refuse", message=why, overridable=False)
            )

    def stream(self, resource: str, want: dict[str, Any] | None, have: dict[str, Any] | None) -> None:
        if want is None:
            step = self.add(resource, "delete", "stream.delete", destructive=True)
            step.diff = ["stop the application; delete its internal topics, consumer group and local state"]
            self.judge(step, {})
            return
        step = self.add(resource, "update" if have else "create", "stream.deploy", after=want)
        step.args = {"spec": want["spec"]}
        if have is None:
            step.diff = [f"deploy: {want['spec']['source']['topic']} -> {want['spec']['sink']['topic']}"]
        else:
            if have["spec"] != want["spec"]:
                step.diff.append(
                    "spec changes: the application is stopped and started with the new spec (its state "
                    "and offsets are kept)"
                )
            if have["status"] != "running":
                step.diff.append(f"status: {have['status']} -> running")
        self.judge(step, {})


def _shown(key: str, value: str | None) -> str:
    """A connector setting as a plan shows it: a secret the worker holds as a literal is never copied into a plan."""
    if value is None:
        return "(unset)"
    if SECRET_KEY.search(key) and "${" not in value:
        return "***"
    return value


def _acl_line(value: dict[str, Any]) -> str:
    pattern = "*" if value["pattern_type"] == "prefixed" else ""
    return (
        f"{value['permission'].upper()} {value['principal']} {value['operation'].upper()} on "
        f"{value['resource_type']} {value['resource_name']}{pattern} from {value['host']}"
    )
