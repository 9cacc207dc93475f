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

from core.errors import InvalidArgument, NotFound
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
    healthy: bool = Field(description="Connector and all tasks RUNNING (and at least one task).")


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


def _status(name: str, data: dict[str, Any], info: dict[str, Any] | None = None) -> ConnectorStatus:
    conn = data.get("connector") or {}
    tasks = [
        TaskStatus(id=int(t["id"]), state=t.get("state", "?"), worker_id=t.get("worker_id"), trace=t.get("trace"))
        for t in data.get("tasks") or []
    ]
    state = str(conn.get("state", "UNKNOWN"))
    return ConnectorStatus(
        name=name,
        type=data.get("type") or (info or {}).get("type"),
        connector_class=((info or {}).get("config") or {}).get("connector.class"),
        state=state,
        worker_id=conn.get("worker_id"),
        trace=conn.get("trace"),
        tasks=tasks,
        failed_tasks=[t.id for t in tasks if t.state == "FAILED"],
        healthy=state == "RUNNING" and bool(tasks) and all(t.state == "RUNNING" for t in tasks),
    )


def list_connectors(rest: RestClient) -> ConnectorList:
    data = rest.request("GET", "/connectors", params=[("expand", "status"), ("expand", "info")], what="list connectors")  # type: ignore[arg-type]
    out = [_status(name, body.get("status") or {}, body.get("info")) for name, body in sorted((data or {}).items())]
    return ConnectorList(worker_url=rest.base_url, connectors=out)


def connector_status(rest: RestClient, name: str) -> ConnectorStatus:
    what = f"get status of connector {name!r}"
    data = rest.request("GET", f"/connectors/{_n(name)}/status", what=what)
    try:
        info = rest.request("GET", f"/connectors/{_n(name)}", what=what)
    except NotFound:
        info = None
    return _status(name, data, info)


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
