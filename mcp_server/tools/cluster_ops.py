"""MCP tools for cluster operations: partition reassignment, log dirs, retiring a broker, client quotas.

These use Kafka's own Java Admin client through the admin helper (``core.kafka.jadmin``): confluent-kafka has no
reassignment, log-dir or quota calls. Long operations send MCP progress notifications.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field, StringConstraints

from core.errors import Conflict
from core.gate import Change, ConsentPreview, Permit
from core.kafka import brokers as kbrokers
from core.kafka import logdirs as klogdirs
from core.kafka import quotas as kquotas
from core.kafka import reassign as kreassign
from core.kafka.jadmin import java_admin
from core.kafka.reassign_plan import Goal, Plan
from core.kafka.throttles import broker_resource
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from mcp_server.tools._types import ClusterArg, ConfirmArg, Pattern, TopicName
from mcp_server.tools.perf import run_with_progress

BrokerId = Annotated[int, Field(ge=0, le=2**31 - 1)]
GoalArg = Annotated[
    Goal,
    Field(
        description="drain: empty `brokers`; replication_factor: give `topics` this RF; spread: fill the new "
        "`brokers`; balance: even out replicas and leaders."
    ),
]
BrokersArg = Annotated[
    list[BrokerId] | None,
    Field(description="drain: the brokers to empty; spread: the brokers to fill.", max_length=1000),
]
TopicsArg = Annotated[
    list[TopicName] | None,
    Field(description="Default: every non-internal topic.", max_length=10_000),
]
RfArg = Annotated[int | None, Field(ge=1, le=32)]
InternalArg = Annotated[bool, Field()]
ThrottleArg = Annotated[
    int | None,
    Field(
        description="Per broker while copying; null: unthrottled.",
        ge=1024,
        le=10_000_000_000,
    ),
]
# kafka_reassignment_execute takes the plan's arguments again: the same types, described once (on the plan).
SameBrokersArg = Annotated[list[BrokerId] | None, Field(max_length=1000)]
SameTopicsArg = Annotated[list[TopicName] | None, Field(max_length=10_000)]
SameThrottleArg = Annotated[int | None, Field(ge=1024, le=10_000_000_000)]
WaitArg = Annotated[
    float,
    Field(description="Bounded by the tool time limit.", ge=0, le=86_400),
]
EntityName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
UserArg = Annotated[EntityName | None, Field(description="A principal name or '<default>'.")]
ClientArg = Annotated[EntityName | None, Field(description="A client id or '<default>'.")]
QuotaKey = Literal["producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate"]
TIME_MARGIN_S = 20.0  # kept free of the tool time limit for the throttles' removal and the checks


class ExecuteOutcome(BaseModel):
    executed: bool = Field(description="True when this call submitted the reassignment.")
    consent: ConsentPreview | None = Field(default=None, description="Present when confirmation is needed.")
    result: kreassign.ExecuteResult | None = None


class UnregisterOutcome(BaseModel):
    executed: bool
    consent: ConsentPreview | None = None
    result: kbrokers.UnregisterResult | None = None


class _Plans:
    """The plans this server made lately, by cluster and plan_id: execute applies exactly the plan that was shown
    (planning again could pick other partitions of equal cost once data has grown)."""

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._plans: OrderedDict[tuple[str, str], tuple[dict[str, Any], Plan]] = OrderedDict()

    def put(self, cluster: str, arguments: dict[str, Any], plan: Plan) -> None:
        with self._lock:
            self._plans[(cluster, plan.plan_id)] = (arguments, plan)
            while len(self._plans) > self.keep:
                self._plans.popitem(last=False)

    def get(self, cluster: str, plan_id: str, arguments: dict[str, Any]) -> Plan | None:
        with self._lock:
            found = self._plans.get((cluster, plan_id))
        return found[1] if found is not None and found[0] == arguments else None


def _plans(ctx: Ctx) -> _Plans:
    return app_of(ctx).lazy.get("reassignment-plans", _Plans)


def _plan_arguments(
    goal: str,
    brokers: list[int] | None,
    topics: list[str] | None,
    replication_factor: int | None,
    include_internal: bool,
    throttle_bytes_per_s: int | None,
) -> dict[str, Any]:
    return {
        "goal": goal,
        "brokers": sorted(brokers or []),
        "topics": sorted(topics or []),
        "replication_factor": replication_factor,
        "include_internal": include_internal,
        "throttle_bytes_per_s": throttle_bytes_per_s,
    }


def _wait_bound(ctx: Ctx, wait_s: float) -> float:
    limit = app_of(ctx).settings.tool_timeout_s
    return max(0.0, min(wait_s, limit - TIME_MARGIN_S))


def _shown(plan: Plan, show_moves: int) -> Plan:
    if len(plan.moves) <= show_moves:
        return plan
    shown = plan.model_copy(deep=True)
    shown.moves = shown.moves[:show_moves]
    shown.notes.append(f"Showing {show_moves} of {len(plan.moves)} moves (show_moves raises it).")
    return shown


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Plan a partition reassignment")
    async def kafka_reassignment_plan(
        ctx: Ctx,
        goal: GoalArg,
        brokers: BrokersArg = None,
        topics: TopicsArg = None,
        replication_factor: RfArg = None,
        include_internal: InternalArg = False,
        throttle_bytes_per_s: ThrottleArg = 10_000_000,
        show_moves: Annotated[int, Field(ge=0, le=5000)] = 100,
        cluster: ClusterArg = None,
    ) -> Plan:
        """Propose a partition reassignment, changing nothing: drain brokers to retire, change replication factor,
        spread onto new brokers, or balance; rack-aware, fewest moves. Returns the moves, per-broker counts
        before/after, bytes to copy, estimated time, and a plan_id for kafka_reassignment_execute."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        plan = await app.run(
            kreassign.plan,
            app.clients.admin(cfg.name),
            java_admin(app, cfg.name),
            goal=goal,
            timeout=app.timeout,
            topics=topics,
            brokers=brokers,
            replication_factor=replication_factor,
            include_internal=include_internal,
            throttle_bytes_per_s=throttle_bytes_per_s,
        )
        arguments = _plan_arguments(goal, brokers, topics, replication_factor, include_internal, throttle_bytes_per_s)
        _plans(ctx).put(cfg.name, arguments, plan)
        return _shown(plan, show_moves)

    @kafka_tool(server, kind="destructive", title="Execute a partition reassignment")
    async def kafka_reassignment_execute(
        ctx: Ctx,
        goal: Goal,
        plan_id: Annotated[str, Field(max_length=64)],
        brokers: SameBrokersArg = None,
        topics: SameTopicsArg = None,
        replication_factor: RfArg = None,
        include_internal: InternalArg = False,
        throttle_bytes_per_s: SameThrottleArg = 10_000_000,
        wait_s: WaitArg = 90.0,
        confirm_token: ConfirmArg = None,
        cluster: ClusterArg = None,
    ) -> ExecuteOutcome | InputRequiredResult:
        """Execute a kafka_reassignment_plan plan (same arguments plus plan_id; refused if the cluster changed):
        throttle, move, wait up to wait_s, then remove throttles, elect leaders, verify; if still copying,
        kafka_reassignment_finish ends it. Moves data and deletes old replicas: the first call returns the effect for
        the user's consent."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin, jadmin = app.clients.admin(cfg.name), java_admin(app, cfg.name)
        planned = _plan_arguments(goal, brokers, topics, replication_factor, include_internal, throttle_bytes_per_s)
        # The plan shown (kept by this server), else the same arguments planned again must give the same plan.
        shown = _plans(ctx).get(cfg.name, plan_id, planned)
        plan: Plan = (
            shown
            if shown is not None
            else await app.run(
                kreassign.plan,
                admin,
                jadmin,
                goal=goal,
                timeout=app.timeout,
                topics=topics,
                brokers=brokers,
                replication_factor=replication_factor,
                include_internal=include_internal,
                throttle_bytes_per_s=throttle_bytes_per_s,
            )
        )
        if plan.plan_id != plan_id:
            raise Conflict(
                f"The plan for these arguments is now {plan.plan_id}, not {plan_id}: the cluster changed since it was "
                "made. Nothing was changed.",
                hint="Review the new plan with kafka_reassignment_plan and execute it with its plan_id.",
            )
        arguments = {**planned, "plan_id": plan_id}
        change, effect = kreassign.execute_change(
            cfg.name, plan, tool="kafka_reassignment_execute", arguments=arguments
        )
        wait = _wait_bound(ctx, wait_s)

        async def act(permit: Permit) -> kreassign.ExecuteResult:
            return await run_with_progress(
                ctx, app, kreassign.execute, permit, admin, jadmin, plan, timeout=app.timeout, wait_s=wait
            )

        done: kreassign.ExecuteResult | ConsentPreview | InputRequiredResult = await gated_destructive(
            ctx, change, act, effect=effect, confirm_token=confirm_token
        )
        if isinstance(done, InputRequiredResult):
            return done
        if isinstance(done, ConsentPreview):
            return ExecuteOutcome(executed=False, consent=done)
        return ExecuteOutcome(executed=True, result=done)

    @kafka_tool(server, kind="read", title="Reassignment status")
    async def kafka_reassignment_status(ctx: Ctx, cluster: ClusterArg = None) -> kreassign.ReassignmentStatus:
        """What is being reassigned now: per partition the target replicas, brokers gaining and losing a copy, bytes
        copied of the total; and the replication throttles still set."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            kreassign.status, app.clients.admin(cfg.name), java_admin(app, cfg.name), timeout=app.timeout
        )

    @kafka_tool(server, kind="write", idempotent=True, title="Finish a reassignment")
    async def kafka_reassignment_finish(
        ctx: Ctx, wait_s: WaitArg = 90.0, cluster: ClusterArg = None
    ) -> kreassign.FinishResult:
        """End a reassignment kafka_reassignment_execute left running: wait up to wait_s, remove every replication
        throttle, elect preferred leaders and verify. Safe to repeat."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin, jadmin = app.clients.admin(cfg.name), java_admin(app, cfg.name)
        left = await app.run(kreassign.left_throttles, admin, timeout=app.timeout)
        change = kreassign.finish_change(cfg.name, left, tool="kafka_reassignment_finish")
        wait = _wait_bound(ctx, wait_s)

        async def act(permit: Permit) -> kreassign.FinishResult:
            return await run_with_progress(
                ctx, app, kreassign.finish, permit, admin, jadmin, left, timeout=app.timeout, wait_s=wait
            )

        return await gated(ctx, change, act)

    @kafka_tool(server, kind="write", title="Cancel a reassignment")
    async def kafka_reassignment_cancel(
        ctx: Ctx, topics: TopicsArg = None, cluster: ClusterArg = None
    ) -> kreassign.CancelResult:
        """Stop a running reassignment (the given topics, or all): moving partitions go back to their old replicas (no
        data lost) and the throttles are removed."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin, jadmin = app.clients.admin(cfg.name), java_admin(app, cfg.name)
        parts = await app.run(kreassign.running_partitions, jadmin, timeout=app.timeout, topics=topics)
        left = await app.run(kreassign.left_throttles, admin, timeout=app.timeout)
        change, _effect = kreassign.cancel_change(cfg.name, parts, left, tool="kafka_reassignment_cancel")
        return await gated(
            ctx, change, lambda permit: kreassign.cancel(permit, admin, jadmin, parts, left, timeout=app.timeout)
        )

    @kafka_tool(server, kind="read", title="Describe log dirs")
    async def kafka_describe_log_dirs(
        ctx: Ctx,
        brokers: Annotated[list[BrokerId] | None, Field(max_length=1000)] = None,
        topic_pattern: Annotated[Pattern | None, Field(description="Regex.")] = None,
        include_partitions: Annotated[bool, Field()] = False,
        max_partitions: Annotated[int, Field(ge=1, le=10_000)] = 500,
        cluster: ClusterArg = None,
    ) -> klogdirs.LogDirsReport:
        """Disk use per broker and log folder (bytes, replicas, disk size and free), per topic and broker, optionally
        per replica (size, lag). Shows where data lives before moving it or retiring a broker."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            klogdirs.describe_log_dirs,
            java_admin(app, cfg.name),
            timeout=app.timeout,
            brokers=brokers,
            topic_pattern=topic_pattern,
            include_partitions=include_partitions,
            max_partitions=max_partitions,
        )

    @kafka_tool(server, kind="read", title="Check a broker's decommission")
    async def kafka_broker_decommission_check(
        ctx: Ctx, broker: Annotated[BrokerId, Field()], cluster: ClusterArg = None
    ) -> kbrokers.BrokerCheck:
        """Where a broker stands on its way out: registered, running, replicas and leaders left, disk bytes, and the
        next step (drain -> verify empty -> stop -> unregister)."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            kbrokers.decommission_check,
            app.clients.admin(cfg.name),
            java_admin(app, cfg.name),
            broker,
            timeout=app.timeout,
        )

    @kafka_tool(server, kind="destructive", title="Unregister a broker")
    async def kafka_unregister_broker(
        ctx: Ctx,
        broker: Annotated[BrokerId, Field()],
        confirm_token: ConfirmArg = None,
        cluster: ClusterArg = None,
    ) -> UnregisterOutcome | InputRequiredResult:
        """Remove a retired broker's registration from the KRaft metadata (last step of a decommission); refused while
        it holds replicas or runs. The first call returns the effect for consent."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        app.clients.require_answering(cfg.name)  # fails fast, naming the address, when nothing answers
        jadmin = java_admin(app, cfg.name)
        change = Change(
            tool="kafka_unregister_broker",
            cluster=cfg.name,
            action="broker.unregister",
            resource_type="broker",
            resources=[broker_resource(broker)],
            destructive=True,
            arguments={"broker": broker},
        )
        effect = (
            f"Unregister broker {broker} from cluster {cfg.name!r} ({cfg.bootstrap_servers}). It must hold no "
            "replica and its process must be stopped before this goes ahead: stop it now if it still runs."
        )
        done = await gated_destructive(
            ctx,
            change,
            # a fresh client: a cached one may still hold the stopped broker as the one to ask for the controller
            lambda permit: kbrokers.unregister_broker(
                permit, app.clients.fresh_admin(cfg.name), jadmin, broker, timeout=app.timeout
            ),
            effect=effect,
            confirm_token=confirm_token,
        )
        if isinstance(done, InputRequiredResult):
            return done
        if isinstance(done, ConsentPreview):
            return UnregisterOutcome(executed=False, consent=done)
        return UnregisterOutcome(executed=True, result=done)

    @kafka_tool(server, kind="read", title="Describe client quotas")
    async def kafka_describe_client_quotas(
        ctx: Ctx,
        user: UserArg = None,
        client_id: ClientArg = None,
        exact: Annotated[bool, Field(description="Only entities of exactly the named parts.")] = False,
        cluster: ClusterArg = None,
    ) -> kquotas.QuotaList:
        """Client quotas (byte rates, request_percentage, controller_mutation_rate) per user, client id, both, or their
        defaults; all, or those matching user / client_id."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            kquotas.describe_client_quotas,
            java_admin(app, cfg.name),
            timeout=app.timeout,
            user=user,
            client_id=client_id,
            exact=exact,
        )

    @kafka_tool(server, kind="write", idempotent=True, title="Set client quotas")
    async def kafka_set_client_quotas(
        ctx: Ctx,
        user: UserArg = None,
        client_id: ClientArg = None,
        set_quotas: Annotated[
            dict[QuotaKey, Annotated[float, Field(gt=0, le=1e15)]] | None,
            Field(description="e.g. {'producer_byte_rate': 1048576}."),
        ] = None,
        remove: Annotated[list[QuotaKey] | None, Field(max_length=4)] = None,
        validate_only: Annotated[bool, Field()] = False,
        cluster: ClusterArg = None,
    ) -> kquotas.QuotaChange:
        """Set or remove quotas on one entity: a user, a client id, both, or a default ('<default>'). Brokers delay
        clients above a byte rate. Returns the values before and after."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        label = kquotas.entity_label(user, client_id)
        change = Change(
            tool="kafka_set_client_quotas",
            cluster=cfg.name,
            action="quota.alter",
            resource_type="client-quota",
            resources=[label],
            arguments={
                "user": user,
                "client_id": client_id,
                "set_quotas": set_quotas or {},
                "remove": remove or [],
                "validate_only": validate_only,
            },
        )
        jadmin = java_admin(app, cfg.name)
        return await gated(
            ctx,
            change,
            lambda permit: kquotas.set_client_quotas(
                permit,
                jadmin,
                user=user,
                client_id=client_id,
                set_quotas={str(k): v for k, v in (set_quotas or {}).items()},
                remove=list(remove or []),
                timeout=app.timeout,
                validate_only=validate_only,
            ),
        )
