"""MCP tools for performance tests and exactly-once verification (they write records, so they are 'write' tools)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from core.app import AppContext
from core.errors import InvalidArgument
from core.gate import Change, Permit
from core.kafka import eos as keos
from core.kafka import health as khealth
from core.kafka import perf as kperf
from core.kafka import topics as ktopics
from mcp_server.tools._base import Ctx, app_of, gated, kafka_tool
from mcp_server.tools._types import ClusterArg, TopicName

T = TypeVar("T")
TIME_MARGIN_S = 15.0  # kept free of the tool timeout for set-up, flush and clean-up


async def run_with_progress(ctx: Ctx, app: AppContext, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking ``fn(..., progress=cb)`` off the loop and relay its progress as MCP notifications."""
    lock = threading.Lock()
    pending: list[tuple[float, float, str]] = []

    def progress(done: float, total: float, message: str) -> None:
        with lock:
            pending.append((done, total, message))

    async def flush() -> None:
        with lock:
            items = pending[:]
            pending.clear()
        for done, total, message in items[-1:]:  # only the latest matters
            await ctx.report_progress(done, total, message)

    finished = anyio.Event()
    outcome: list[Any] = []
    failure: list[BaseException] = []

    async def pump() -> None:
        while not finished.is_set():
            await flush()
            with anyio.move_on_after(0.5):
                await finished.wait()
        await flush()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump)
        try:
            outcome.append(await app.run(fn, *args, progress=progress, **kwargs))
        except Exception as exc:  # re-raised outside the task group, unwrapped
            failure.append(exc)
        finally:
            finished.set()
    if failure:
        raise failure[0]
    result: T = outcome[0]
    return result


def _replication_factor(app: AppContext, cluster: str) -> int:
    from core.kafka.cluster import broker_count

    return min(3, broker_count(app.clients.admin(cluster), timeout=app.timeout))


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="write", title="Performance test")
    async def kafka_perf_test(
        ctx: Ctx,
        mode: Annotated[
            Literal["producer", "consumer", "end_to_end"],
            Field(),
        ] = "producer",
        topic: Annotated[
            TopicName | None,
            Field(description="Omit for a scratch topic (deleted after)."),
        ] = None,
        allow_production_topic: Annotated[
            TopicName | None,
            Field(description="Production: repeat topic to allow it."),
        ] = None,
        num_records: Annotated[int | None, Field(ge=1, le=50_000_000)] = None,
        duration_s: Annotated[float | None, Field(gt=0, le=3600)] = None,
        record_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1024,
        records_per_second: Annotated[
            float | None,
            Field(description="Needed for end_to_end.", gt=0, le=1e7),
        ] = None,
        acks: Annotated[Literal["all", "1", "0"], Field(description="1 and 0 need idempotence=false.")] = "all",
        compression: Annotated[Literal["none", "gzip", "snappy", "lz4", "zstd"], Field()] = "none",
        batch_size: Annotated[int, Field(ge=1, le=16_777_216)] = 16384,
        linger_ms: Annotated[float, Field(ge=0, le=10_000)] = 5,
        idempotence: Annotated[bool, Field()] = True,
        delivery_timeout_ms: Annotated[
            int,
            Field(ge=1000, le=3_600_000),
        ] = 120000,
        partitions: Annotated[int, Field(ge=1, le=1000)] = 3,
        cluster: ClusterArg = None,
    ) -> kperf.PerfResult:
        """Measure producer throughput and ack latency, consumer throughput, or end-to-end latency at a rate, on a
        scratch topic or a named one."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        max_seconds = max(5.0, app.settings.tool_timeout_s - TIME_MARGIN_S)
        if mode != "consumer" and num_records is None and duration_s is None:
            num_records = 100_000
        if mode == "end_to_end" and records_per_second is None:
            raise InvalidArgument("end_to_end needs records_per_second (a fixed rate), e.g. 1000.")
        if mode == "consumer" and topic is None:
            raise InvalidArgument("The consumer test reads an existing topic: give topic.")
        admin = app.clients.admin(cfg.name)
        scratch = topic is None
        name = topic or f"kafka-agent-perf-{uuid.uuid4().hex[:10]}"
        settings = kperf.ProducerSettings(
            acks=acks,
            compression=compression,
            batch_size=batch_size,
            linger_ms=linger_ms,
            idempotence=idempotence,
            delivery_timeout_ms=delivery_timeout_ms,
        )
        rf = await app.run(_replication_factor, app, cfg.name) if scratch else None
        change = Change(
            tool="kafka_perf_test",
            cluster=cfg.name,
            action="perf.test",
            resource_type="topic",
            resources=[name],
            # The scratch topic is the test's own: created, written and deleted under this one permit.
            implies=["topic.create", "topic.produce", "topic.delete"] if scratch else ["topic.produce"],
            arguments={
                "mode": mode,
                "topic": topic,
                "num_records": num_records,
                "duration_s": duration_s,
                "record_size": record_size,
                "records_per_second": records_per_second,
                **settings.model_dump(),
            },
            details={
                "profile": cfg.profile,
                "scratch": scratch,
                "allowed_by_caller": topic is not None and allow_production_topic == topic,
            },
        )
        base = app.clients.base_config(cfg.name)

        async def measure(permit: Permit) -> kperf.PerfResult:
            if scratch:
                assert rf is not None
                await app.run(
                    ktopics.create_topic,
                    permit,
                    admin,
                    name,
                    partitions=partitions,
                    replication_factor=rf,
                    configs=None,
                    validate_only=False,
                    timeout=app.timeout,
                )
            try:
                if mode == "producer":
                    result = await run_with_progress(
                        ctx,
                        app,
                        kperf.producer_test,
                        permit,
                        base,
                        name,
                        num_records=num_records,
                        duration_s=duration_s,
                        record_size=record_size,
                        rate=records_per_second,
                        settings=settings,
                        max_seconds=max_seconds,
                    )
                elif mode == "consumer":
                    result = await run_with_progress(
                        ctx,
                        app,
                        kperf.consumer_test,
                        app.clients.consumer_config(cfg.name),
                        admin,
                        name,
                        num_records=num_records,
                        max_seconds=max_seconds,
                        timeout=app.timeout,
                    )
                else:
                    assert records_per_second is not None
                    result = await run_with_progress(
                        ctx,
                        app,
                        kperf.end_to_end_test,
                        permit,
                        base,
                        app.clients.consumer_config(cfg.name),
                        admin,
                        name,
                        num_records=num_records,
                        duration_s=duration_s,
                        record_size=record_size,
                        rate=records_per_second,
                        settings=settings,
                        max_seconds=max_seconds,
                        timeout=app.timeout,
                    )
                if result.errors and mode != "consumer":
                    shortfall = await app.run(khealth.isr_shortfall, admin, name, timeout=app.timeout)
                    if shortfall:
                        result.diagnosis = (
                            "not enough in-sync replicas for acks=all: " + "; ".join(shortfall) + ". Bring brokers "
                            "back (kafka_cluster_health shows which are down) before writing."
                        )
            finally:
                if scratch:
                    await app.run(_delete_quietly, permit, admin, name, app.timeout)
            return result

        return await gated(ctx, change, measure)

    @kafka_tool(server, kind="write", title="Verify exactly-once")
    async def kafka_verify_exactly_once(
        ctx: Ctx,
        transactions: Annotated[int, Field(ge=2, le=200)] = 10,
        records_per_transaction: Annotated[int, Field(ge=1, le=1000)] = 20,
        abort_every: Annotated[int, Field(ge=2, le=100)] = 3,
        negative_control: Annotated[
            Literal["none", "duplicate", "read_uncommitted"],
            Field(description="The report must then fail."),
        ] = "none",
        allow_production: Annotated[bool, Field()] = False,
        cluster: ClusterArg = None,
    ) -> keos.EosReport:
        """Prove exactly-once end to end on scratch topics (transactions with deliberate aborts,
        consume-transform-produce, read_committed checks); passes only with nothing missing, duplicated or
        aborted-visible."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        run = uuid.uuid4().hex[:10]
        src, dst, group = keos.scratch_names(run)
        change = Change(
            tool="kafka_verify_exactly_once",
            cluster=cfg.name,
            action="eos.verify",
            resource_type="topic",
            resources=[src, dst, group],
            implies=["topic.create", "topic.produce", "topic.delete", "group.delete"],
            arguments={
                "transactions": transactions,
                "records_per_transaction": records_per_transaction,
                "abort_every": abort_every,
                "negative_control": negative_control,
            },
            details={"profile": cfg.profile, "allowed_by_caller": allow_production},
        )
        admin = app.clients.admin(cfg.name)

        async def verify(permit: Permit) -> keos.EosReport:
            rf = await app.run(_replication_factor, app, cfg.name)
            return await run_with_progress(
                ctx,
                app,
                keos.verify_exactly_once,
                permit,
                admin,
                app.clients.base_config(cfg.name),
                app.clients.consumer_config(cfg.name),
                replication_factor=rf,
                transactions=transactions,
                records_per_transaction=records_per_transaction,
                abort_every=abort_every,
                fault=negative_control,
                timeout=app.timeout,
                max_seconds=max(10.0, app.settings.tool_timeout_s - TIME_MARGIN_S),
                run=run,
            )

        return await gated(ctx, change, verify)


def _delete_quietly(permit: Permit, admin: Any, topic: str, timeout: float) -> None:
    try:
        ktopics.delete_topic(permit, admin, topic, timeout=timeout)
    except Exception:  # a leftover scratch topic is not worth failing the measured result
        return
