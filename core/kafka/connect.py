"""Kafka Connect work over the worker's REST API: plain functions taking a ``RestClient``, returning pydantic
models. Creation and updates are validated first through ``config/validate`` and refused with per-field errors.

The functions that change the worker (``put_connector``, ``pause``, ``resume``, ``restart``, ``delete``) take the
gate's ``Permit`` first and require ``connector.<put|pause|resume|restart|delete>`` on the connector's name."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, KafkaAgentError, NotFound
from core.services.rest import RestClient

if TYPE_CHECKING:
    from core.gate import Permit


class Plugin(BaseModel):
    class_name: str
    type: str = Field(description="source, sink, converter, transformation ...")
    version: str | None = None


class PluginList(BaseModel):
    worker_url: str
    plugins: list[Plugin]


class TaskStatus(BaseModel):
    id: int
    state: str = Field(description="RUNNING, PAUSED, FAILED, UNASSIGNED, RESTARTING.")
    worker_id: str | None = None
    trace: str | None = Field(None, description="The Java stack trace when the task FAILED.")


class ConnectorStatus(BaseModel):
    name: str
    type: str | None = None
    connector_class: str | None = None
    state: str = Field(description="The connector's own state: RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED.")
    worker_id: str | None = None
    trace: str | None = Field(None, description="The connector's stack trace when it FAILED.")
    tasks: list[TaskStatus] = Field(default_factory=list)
    failed_tasks: list[int] = Field(default_factory=list)
    healthy: bool = Field(
        description="Connector and all tasks RUNNING (and at least one task), and nothing in problems: RUNNING alone "
        "does not mean data moves."
    )
    data_moving: bool | None = Field(
        None,
        description="Whether records move: true when progress was seen (or a sink has nothing left to read), false "
        "when the source has data and nothing moved, null when it could not be told.",
    )
    problems: list[str] = Field(
        default_factory=list,
        description="Why data does not move: failed tasks, a target topic the worker cannot write to, a sink that lags "
        "without progress, a source with unread data and no progress.",
    )
    activity: dict[str, Any] = Field(
        default_factory=dict, description="What was measured: target topics, sink lag, source position, over probe_s."
    )


class ConnectorList(BaseModel):
    worker_url: str
    connectors: list[ConnectorStatus]


class FieldError(BaseModel):
    field: str
    value: str | None
    errors: list[str]


class ValidationReport(BaseModel):
    connector_class: str
    plugin_installed: bool
    valid: bool
    error_count: int
    errors: list[FieldError] = Field(default_factory=list, description="Per configuration field.")
    note: str | None = None


class ConnectorWriteResult(BaseModel):
    name: str
    created: bool = Field(description="True when new, False when an existing connector's config was replaced.")
    validation: ValidationReport
    config: dict[str, str]
    status: ConnectorStatus | None = None


class ConnectorActionResult(BaseModel):
    name: str
    action: Literal["pause", "resume", "restart", "delete"]
    accepted: bool
    status: ConnectorStatus | None = None


def _n(name: str) -> str:
    if not name or not name.strip():
        raise InvalidArgument("The connector name is empty.")
    return quote(name, safe="")


def list_plugins(rest: RestClient, *, connectors_only: bool = True) -> PluginList:
    params = None if connectors_only else {"connectorsOnly": "false"}
    data = rest.request("GET", "/connector-plugins", params=params, what="list connector plugins")
    plugins = [Plugin(class_name=p["class"], type=p.get("type", "?"), version=p.get("version")) for p in data]
    return PluginList(worker_url=rest.base_url, plugins=plugins)


def _status(
    name: str, data: dict[str, Any], info: dict[str, Any] | None = None, topics: set[str] | None = None
) -> ConnectorStatus:
    conn = data.get("connector") or {}
    tasks = [
        TaskStatus(id=int(t["id"]), state=t.get("state", "?"), worker_id=t.get("worker_id"), trace=t.get("trace"))
        for t in data.get("tasks") or []
    ]
    state = str(conn.get("state", "UNKNOWN"))
    config = (info or {}).get("config") or {}
    status = ConnectorStatus(
        name=name,
        type=data.get("type") or (info or {}).get("type"),
        connector_class=config.get("connector.class"),
        state=state,
        worker_id=conn.get("worker_id"),
        trace=conn.get("trace"),
        tasks=tasks,
        failed_tasks=[t.id for t in tasks if t.state == "FAILED"],
        healthy=False,
    )
    if state == "FAILED":
        status.problems.append(f"the connector FAILED: {_first_line(conn.get('trace'))}")
    for task in tasks:
        if task.state == "FAILED":
            status.problems.append(f"task {task.id} FAILED: {_first_line(task.trace)}")
    if topics is not None and status.type == "source":
        missing = [t for t in target_topics(config) if t not in topics]
        if missing and not _creates_topics(config):
            status.problems.append(
                f"target topic(s) {', '.join(missing)} do not exist and the connector does not create topics: the "
                "worker's producer cannot write (UNKNOWN_TOPIC_OR_PARTITION), so no record moves"
            )
            status.data_moving = False
            status.activity["missing_topics"] = missing
    _settle_health(status)
    return status


def _settle_health(status: ConnectorStatus) -> None:
    tasks_ok = bool(status.tasks) and all(t.state == "RUNNING" for t in status.tasks)
    status.healthy = status.state == "RUNNING" and tasks_ok and not status.problems


def _first_line(trace: str | None) -> str:
    return (trace or "no trace").strip().splitlines()[0][:300]


def target_topics(config: dict[str, Any]) -> list[str]:
    """The topics a source connector's config names as where it writes (FileStream's topic, kafka.topic, ...)."""
    out = []
    for key in ("topic", "kafka.topic", "topics"):
        value = config.get(key)
        if value and "${" not in str(value):
            out += [t.strip() for t in str(value).split(",") if t.strip()]
    return list(dict.fromkeys(out))


def _creates_topics(config: dict[str, Any]) -> bool:
    """Whether the connector creates missing topics itself (KIP-158 topic creation)."""
    return any(k.startswith("topic.creation.default.") for k in config)


def list_connectors(rest: RestClient, *, topics: set[str] | None = None) -> ConnectorList:
    """Every connector with its status; with ``topics`` (the cluster's), a source that writes to a missing topic is
    reported as not healthy."""
    data = rest.request("GET", "/connectors", params=[("expand", "status"), ("expand", "info")], what="list connectors")  # type: ignore[arg-type]
    out = [
        _status(name, body.get("status") or {}, body.get("info"), topics) for name, body in sorted((data or {}).items())
    ]
    return ConnectorList(worker_url=rest.base_url, connectors=out)


def connector_status(rest: RestClient, name: str, *, topics: set[str] | None = None) -> ConnectorStatus:
    what = f"get status of connector {name!r}"
    data = rest.request("GET", f"/connectors/{_n(name)}/status", what=what)
    try:
        info = rest.request("GET", f"/connectors/{_n(name)}", what=what)
    except NotFound:
        info = None
    return _status(name, data, info, topics)


def connector_health(rest: RestClient, admin: Any, name: str, *, probe_s: float, timeout: float) -> ConnectorStatus:
    """The status, and whether data moves: the target topics of a source exist; a sink's consumer group
    (``connect-<name>``) lags and makes no progress over ``probe_s``; a FileStream source's file has bytes its offset
    has not reached and the offset does not move. Reads only."""
    from core.kafka._futures import metadata

    meta = metadata(admin, timeout=timeout)
    status = connector_status(rest, name, topics=set(meta.topics))
    info = rest.request("GET", f"/connectors/{_n(name)}", what=f"get connector {name!r}") or {}
    config = info.get("config") or {}
    if status.state != "RUNNING" or status.failed_tasks:
        return status
    if status.type == "sink":
        _probe_sink(status, admin, config, meta, probe_s=probe_s, timeout=timeout)
    elif status.type == "source" and status.data_moving is None:
        _probe_source(status, rest, admin, config, meta, probe_s=probe_s, timeout=timeout)
    _settle_health(status)
    return status


def _sink_lag(admin: Any, group: str, partitions: list[tuple[str, int]], *, timeout: float) -> tuple[int, int]:
    """(records not yet read by the sink's group, the sum of its committed offsets)."""
    from core.kafka import groups as kgroups
    from core.kafka.offsets import list_offsets

    try:
        committed = kgroups.committed_offsets(admin, group, timeout=timeout)
    except NotFound:
        committed = {}
    ends = list_offsets(admin, partitions, "latest", timeout=timeout)
    starts = list_offsets(admin, partitions, "earliest", timeout=timeout)
    lag = total = 0
    for tp in partitions:
        position = committed.get(tp)
        position = starts[tp] if position is None else position
        lag += max(0, ends[tp] - position)
        total += position
    return lag, total


def _probe_sink(
    status: ConnectorStatus, admin: Any, config: dict[str, Any], meta: Any, *, probe_s: float, timeout: float
) -> None:
    import re

    group = config.get("consumer.override.group.id") or f"connect-{status.name}"
    names = [t.strip() for t in str(config.get("topics", "")).split(",") if t.strip()]
    if config.get("topics.regex"):
        pattern = re.compile(str(config["topics.regex"]))
        names += [t for t in meta.topics if pattern.fullmatch(t)]
    partitions = [(t, p) for t in names if t in meta.topics for p in sorted(meta.topics[t].partitions)]
    if not partitions:
        return
    lag, before = _sink_lag(admin, group, partitions, timeout=timeout)
    status.activity.update(group=group, lag=lag, probe_s=probe_s)
    if lag == 0:
        status.data_moving = True  # nothing left to read
        return
    if probe_s <= 0:
        return
    time.sleep(probe_s)
    lag_after, after = _sink_lag(admin, group, partitions, timeout=timeout)
    status.activity.update(lag_after=lag_after, committed_progress=after - before)
    status.data_moving = after > before or lag_after == 0
    if not status.data_moving:
        status.problems.append(
            f"the sink's group {group} is {lag_after} record(s) behind and committed no progress in {probe_s:g} s"
        )


def _probe_source(
    status: ConnectorStatus,
    rest: RestClient,
    admin: Any,
    config: dict[str, Any],
    meta: Any,
    *,
    probe_s: float,
    timeout: float,
) -> None:
    import os

    from core.kafka.offsets import list_offsets

    targets = [t for t in target_topics(config) if t in meta.topics]
    partitions = [(t, p) for t in targets for p in sorted(meta.topics[t].partitions)]

    def written() -> int:
        return sum(list_offsets(admin, partitions, "latest", timeout=timeout).values()) if partitions else 0

    def file_position() -> int | None:
        try:
            data = rest.request("GET", f"/connectors/{_n(status.name)}/offsets", what="read source offsets")
        except KafkaAgentError:
            return None
        positions = [int(o.get("offset", {}).get("position", 0)) for o in (data or {}).get("offsets", [])]
        return max(positions) if positions else 0

    path = config.get("file")
    size = os.path.getsize(path) if path and os.path.isfile(str(path)) else None
    before_written = written()
    before_position = file_position() if size is not None else None
    status.activity.update(targets=targets, records_in_targets=before_written, probe_s=probe_s)
    if size is not None and before_position is not None:
        # (a source's position is committed every offset.flush.interval.ms, 60 s by default: it trails the records)
        status.activity.update(source_bytes=size, committed_source_position=before_position)
        if before_position >= size:
            status.data_moving = True  # everything the source holds was read
            return
    if probe_s > 0:
        time.sleep(probe_s)
        after_written = written()
        status.activity["records_written_in_probe"] = after_written - before_written
        if after_written > before_written:
            status.data_moving = True
            return
    # nothing new during the probe: caught up, or stuck? The topics the worker says the connector wrote to (KIP-558)
    # tell that records went out; a file whose bytes were not all read, with nothing written, is stuck.
    try:
        active = rest.request("GET", f"/connectors/{_n(status.name)}/topics", what="read active topics") or {}
        wrote = list((active.get(status.name) or {}).get("topics") or [])
    except KafkaAgentError:
        wrote = []
    status.activity["active_topics"] = wrote
    if size is not None and before_position is not None and before_position < size and not wrote:
        status.data_moving = False
        status.problems.append(
            f"the source has {size - before_position} byte(s) not yet read and no record was written"
            + (f" in {probe_s:g} s" if probe_s > 0 else "")
        )
    elif wrote and any(t in wrote for t in targets) and before_written > 0:
        status.data_moving = True  # it wrote its records; nothing new arrived since


def connector_config(rest: RestClient, name: str) -> dict[str, str]:
    data = rest.request("GET", f"/connectors/{_n(name)}/config", what=f"get config of connector {name!r}")
    return {str(k): str(v) for k, v in (data or {}).items()}


def validate_config(rest: RestClient, config: dict[str, str]) -> ValidationReport:
    """Ask the worker to validate ``config``; says plainly when the connector's plugin is not installed."""
    cls = config.get("connector.class")
    if not cls:
        raise InvalidArgument(
            "The config has no connector.class.", hint="Set connector.class (see kafka_list_connector_plugins)."
        )
    installed = {p.class_name for p in list_plugins(rest).plugins}
    short = {c.rsplit(".", 1)[-1]: c for c in installed}
    if (
        cls not in installed
        and cls not in short
        and cls.removesuffix("Connector") not in {s.removesuffix("Connector") for s in short}
    ):
        return ValidationReport(
            connector_class=cls,
            plugin_installed=False,
            valid=False,
            error_count=0,
            note=f"The plugin {cls} is not installed on the worker at {rest.base_url}, so the config could not be "
            f"validated. Installed connectors: {', '.join(sorted(installed)) or 'none'}. Install the plugin "
            "(plugin.path) and restart the worker.",
        )
    data = rest.request(
        "PUT",
        f"/connector-plugins/{quote(cls, safe='')}/config/validate",
        json=config,
        what=f"validate a {cls} config",
        read_only=True,
    )
    errors = [
        FieldError(field=c["value"]["name"], value=c["value"].get("value"), errors=list(c["value"]["errors"]))
        for c in data.get("configs", [])
        if c.get("value", {}).get("errors")
    ]
    return ValidationReport(
        connector_class=cls,
        plugin_installed=True,
        valid=int(data.get("error_count", 0)) == 0,
        error_count=int(data.get("error_count", 0)),
        errors=errors,
    )


def put_connector(permit: Permit, rest: RestClient, name: str, config: dict[str, Any]) -> ConnectorWriteResult:
    """Create or update: validate first, refuse with per-field errors, then PUT /connectors/{name}/config."""
    permit.require("connector.put", name)
    conf = {str(k): str(v) for k, v in config.items()}
    if conf.get("name", name) != name:
        raise InvalidArgument(f"The config's name {conf['name']!r} differs from the connector name {name!r}.")
    conf["name"] = name
    report = validate_config(rest, conf)
    if not report.plugin_installed:
        raise InvalidArgument(report.note or "plugin not installed")
    if not report.valid:
        details = "; ".join(f"{e.field}: {' / '.join(e.errors)}" for e in report.errors)
        raise InvalidArgument(
            f"The worker rejected the config of connector {name!r} ({report.error_count} error(s)): {details}.",
            hint="Fix the named fields and call again.",
        )
    try:
        connector_config(rest, name)
        exists = True
    except NotFound:
        exists = False
    rest.request("PUT", f"/connectors/{_n(name)}/config", json=conf, what=f"write connector {name!r}", permit=permit)
    status = None
    with contextlib.suppress(NotFound):  # just created: the status topic may not have it yet
        status = connector_status(rest, name)
    return ConnectorWriteResult(name=name, created=not exists, validation=report, config=conf, status=status)


def pause(permit: Permit, rest: RestClient, name: str) -> ConnectorActionResult:
    permit.require("connector.pause", name)
    rest.request("PUT", f"/connectors/{_n(name)}/pause", what=f"pause connector {name!r}", permit=permit)
    return ConnectorActionResult(name=name, action="pause", accepted=True, status=_settle(rest, name, "PAUSED"))


def resume(permit: Permit, rest: RestClient, name: str) -> ConnectorActionResult:
    permit.require("connector.resume", name)
    rest.request("PUT", f"/connectors/{_n(name)}/resume", what=f"resume connector {name!r}", permit=permit)
    return ConnectorActionResult(name=name, action="resume", accepted=True, status=_settle(rest, name, "RUNNING"))


def restart(
    permit: Permit, rest: RestClient, name: str, *, include_tasks: bool = True, only_failed: bool = True
) -> ConnectorActionResult:
    permit.require("connector.restart", name)
    params = {"includeTasks": str(include_tasks).lower(), "onlyFailed": str(only_failed).lower()}
    rest.request(
        "POST", f"/connectors/{_n(name)}/restart", params=params, what=f"restart connector {name!r}", permit=permit
    )
    return ConnectorActionResult(name=name, action="restart", accepted=True, status=connector_status(rest, name))


def delete(permit: Permit, rest: RestClient, name: str) -> ConnectorActionResult:
    permit.require("connector.delete", name)
    rest.request("DELETE", f"/connectors/{_n(name)}", what=f"delete connector {name!r}", permit=permit)
    return ConnectorActionResult(name=name, action="delete", accepted=True)


def _settle(rest: RestClient, name: str, wanted: str, *, timeout: float = 5.0) -> ConnectorStatus:
    """The status once the connector reaches ``wanted`` (pause/resume are asynchronous), or as it is at timeout."""
    deadline = time.monotonic() + timeout
    status = connector_status(rest, name)
    while status.state != wanted and time.monotonic() < deadline:
        time.sleep(0.3)
        status = connector_status(rest, name)
    return status
