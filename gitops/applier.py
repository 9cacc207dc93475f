"""One step of a plan through the gate: the ``Change`` the gate sees (the real resource, the facts the policies read,
the plan and the file's Git commit for the audit line), the domain function that makes it (``core.kafka``, the
registry and Connect clients, the stream runners; each takes the gate's permit), and the read-back that verifies it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from core.errors import Conflict, KafkaAgentError, Refused
from core.gate import Change
from core.kafka import connect as kconnect
from core.kafka import schemas as kschemas
from core.kafka import security as ksecurity
from core.kafka import topics as ktopics
from core.waiting import until
from gitops.model import ClusterPlatform, Manage, Scope
from gitops.plan import ClusterPlan, Plan, section_of
from gitops.secrets import resolve
from gitops.state import State, Where, fingerprint, observe, service, stream_spec
from gitops.steps import Step, alter_details

if TYPE_CHECKING:
    from core.app import AppContext
    from core.gate import Permit, Requester

VERIFY_S = 30.0


def _narrow(section: ClusterPlatform, step: Step) -> ClusterPlatform:
    """The same section, managing only the step's resource (to read just that back)."""
    if step.kind == "acls":
        principal = (step.after or step.args.get("acl") or {}).get("principal", "")
        only = Scope(names=[principal])
    else:
        only = Scope(names=[step.name])
    scopes: dict[str, Any] = {k: Scope() for k in ("topics", "acls", "users", "schemas", "connectors", "streams")}
    scopes[step.kind] = only
    return section.model_copy(update={"manage": Manage(**scopes)})


class Applier:
    """Runs the steps of one cluster's plan (see the module docstring)."""

    def __init__(
        self,
        app: AppContext,
        plan: Plan,
        cluster_plan: ClusterPlan,
        *,
        tool: str,
        requester: Requester,
        confine: Path | None,
    ) -> None:
        self.app = app
        self.plan = plan
        self.cp = cluster_plan
        self.cfg = app.clients.cluster(cluster_plan.cluster)
        self.tool = tool
        self.requester = requester
        self.section = section_of(cluster_plan)
        self.where = Where(Path(cluster_plan.base), confine)
        self.t = app.timeout

    # --- preflight ------------------------------------------------------------------------------------------------

    def observe(self, section: ClusterPlatform | None = None) -> State:
        from gitops.state import desired

        want = desired(self.section, self.where) if self.section.schemas else None
        return observe(self.app, self.cfg.name, section or self.section, desired_state=want)

    def moved(self) -> tuple[bool, list[str]]:
        """(already applied, resources that moved since the plan)."""
        have = self.observe()
        now = fingerprint(have)
        if now == self.cp.after:
            return True, []
        if now == self.cp.before:
            return False, []
        current = {r: fingerprint({r: v}) for r, v in have.items()}
        before = self.cp.resources_before
        moved = sorted(r for r in set(current) | set(before) if current.get(r) != before.get(r))
        return False, moved or ["(the managed set itself)"]

    # --- changes --------------------------------------------------------------------------------------------------

    def change(self, step: Step) -> tuple[Change, str]:
        """The gate's view of one step: the real resource, the facts the policies read, the plan it belongs to."""
        arguments: dict[str, Any] = {
            "plan_id": self.plan.plan_id,
            "step": step.id,
            "file": self.plan.file,
            "git_commit": self.plan.git.commit if self.plan.git else None,
            "git_dirty": self.plan.git.dirty if self.plan.git else None,
            **{k: v for k, v in step.args.items() if k not in ("schema", "spec", "config")},
        }
        resources = [step.name]
        implies: list[str] = []
        details: dict[str, Any] = {"profile": self.cfg.profile}
        if step.kind == "topics":
            details.update(step.args if step.action == "topic.create" else {})
            if step.action == "topic.config.alter":
                now = step.after or {}
                details.update(
                    alter_details(
                        step.args["set_configs"],
                        step.args["delete_configs"],
                        step.args["current_configs"],
                        int(now.get("replication_factor", 0)),
                    )
                )
            if step.action == "topic.partitions.add":
                details["partitions"] = step.args["total_count"]
            spec = self.section.topics.get(step.name)
            if spec is not None and spec.expected_msgs_per_sec is not None:
                details["expected_msgs_per_sec"] = spec.expected_msgs_per_sec
            if spec is not None and spec.high_throughput is not None:
                details["high_throughput"] = spec.high_throughput
        effect = f"{step.action} {step.kind[:-1]} {step.name} ({'; '.join(step.diff)[:300]})"
        if step.action == "stream.deploy":
            implies = ["stream.stop"]
        if step.action == "stream.delete":
            from streams.service import app_resources, delete_change

            record, topics = app_resources(self.app, step.name)
            change, effect = delete_change(record, topics, tool=self.tool)
            change.arguments.update(arguments)
            return change, effect
        if step.action == "schema.register":
            details.update(compatible=True, subject=step.name)
        change = Change(
            tool=self.tool,
            cluster=self.cfg.name,
            action=step.action,
            resource_type=step.kind[:-1],
            resources=resources,
            implies=implies,
            destructive=step.destructive,
            arguments=arguments,
            details=details,
            override_reason=step.override_reason,
        )
        return change, effect

    def act(self, step: Step) -> Callable[[Permit], Any]:
        """The domain function that makes the step, given the permit."""
        admin = self.app.clients.admin(self.cfg.name)
        t, name, a = self.t, step.name, step.args
        if step.action == "topic.create":
            return lambda p: ktopics.create_topic(
                p,
                admin,
                name,
                partitions=a["partitions"],
                replication_factor=a["replication_factor"],
                configs=a["configs"],
                validate_only=False,
                timeout=t,
            )
        if step.action == "topic.config.alter":
            return lambda p: ktopics.alter_topic_config(
                p,
                admin,
                name,
                set_configs=a["set_configs"],
                delete_configs=a["delete_configs"],
                validate_only=False,
                timeout=t,
            )
        if step.action == "topic.partitions.add":
            return lambda p: ktopics.add_partitions(
                p, admin, name, total_count=a["total_count"], validate_only=False, timeout=t
            )
        if step.action == "topic.delete":
            return lambda p: ktopics.delete_topic(p, admin, name, timeout=t)
        if step.action == "acl.create":
            spec = ksecurity.AclSpec.model_validate(a["acl"])
            return lambda p: _all_ok(ksecurity.create_acls(p, admin, [spec], timeout=t))
        if step.action == "acl.delete":
            acl = ksecurity.Acl.model_validate(a["acl"])
            return lambda p: _all_ok(ksecurity.delete_exact_acls(p, admin, [acl], timeout=t))
        if step.action == "user.scram.upsert":
            password = resolve(a["password"], base=self.where.base, confine=self.where.confine)
            return lambda p: _user_ok(
                ksecurity.upsert_scram_user(
                    p,
                    admin,
                    name,
                    SecretStr(password.get_secret_value()),
                    mechanisms=a["mechanisms"],
                    iterations=a["iterations"],
                    timeout=t,
                )
            )
        if step.action == "user.scram.delete":
            return lambda p: _all_ok(ksecurity.delete_scram_user(p, admin, name, mechanisms=a["mechanisms"], timeout=t))
        if step.action in ("schema.register", "schema.compatibility.set", "schema.delete"):
            return self._schema_act(step)
        if step.action in ("connector.put", "connector.delete"):
            rest = service(self.app, self.cfg.name, "connect")
            if step.action == "connector.delete":
                return lambda p: kconnect.delete(p, rest, name)
            return lambda p: kconnect.put_connector(p, rest, name, a["config"])
        if step.action == "stream.deploy":
            return self._deploy(step)
        if step.action == "stream.delete":
            from streams.service import app_resources, remove

            topics = app_resources(self.app, name)[1]
            return lambda p: remove(p, self.app, name, topics=topics)
        raise Refused(f"Step {step.id} ({step.action}) is not something apply can do.")

    def _schema_act(self, step: Step) -> Callable[[Permit], Any]:
        rest = service(self.app, self.cfg.name, "registry")
        subject, a = step.name, step.args
        if step.action == "schema.compatibility.set":
            return lambda p: kschemas.set_compatibility(p, rest, a["level"], subject)
        if step.action == "schema.delete":

            def delete_all(p: Permit) -> list[kschemas.DeleteVersionResult]:
                versions = kschemas.list_versions(rest, subject).versions
                return [kschemas.delete_version(p, rest, subject, v) for v in versions]

            return delete_all
        report = kschemas.check_compatibility(rest, subject, a["schema"], a["schema_type"])
        if not report.compatible:
            reasons = "; ".join(f"v{p.against_version}: {p.reason}" for p in report.problems)
            raise Refused(
                f"Refused: the schema breaks {report.level} compatibility of subject {subject!r}: {reasons}",
                hint="Evolve it compatibly (e.g. add fields with defaults) and plan again.",
            )
        return lambda p: kschemas.register_schema(p, rest, subject, a["schema"], a["schema_type"], report=report)

    def _deploy(self, step: Step) -> Callable[[Permit], Any]:
        from streams.service import deploy, manager, plan_deploy

        spec = stream_spec(step.name, {k: v for k, v in step.args["spec"].items() if k != "name"})
        mgr = manager(self.app)

        def run(p: Permit) -> Any:
            if mgr.exists(spec.name) and mgr.get(spec.name).status in ("running", "starting", "restarting"):
                mgr.stop(p, spec.name)
            return deploy(p, self.app, spec, self.cfg, plan_deploy(self.app, spec, self.cfg), tool=self.tool)

        return run

    # --- verify ---------------------------------------------------------------------------------------------------

    def verify(self, step: Step) -> bool:
        """Read the resource back until it shows the step's result (brokers and services show changes late)."""
        narrow = _narrow(self.section, step)

        def look() -> Any:
            try:
                return self.observe(narrow).get(step.resource)
            except KafkaAgentError as exc:
                return ("unreadable", str(exc))  # a broker or service between two states: look again

        _, ok = until(look, lambda v: v == step.after, timeout=VERIFY_S, interval=0.5)  # a deletion: after is None
        return ok


def _all_ok(result: Any) -> Any:
    items = result.results if hasattr(result, "results") else result
    failed = [i for i in items if not i.ok]
    if failed:
        raise Conflict("; ".join(str(i.error) for i in failed))
    return result


def _user_ok(result: ksecurity.ScramUpsertResult) -> ksecurity.ScramUpsertResult:
    if not result.ok:
        raise Conflict("; ".join(f"{r.mechanism}: {r.error}" for r in result.results if not r.ok))
    return result
