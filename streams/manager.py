"""Runner processes: each deployed application runs as one or more instances (Kafka Streams instances sharing one
application.id and its partitions), each a JVM under a supervisor (``streams.supervisor``) that restarts it with
backoff when it crashes. Launched, watched, stopped and reattached from disk.

Layout (``<data_dir>/streams/apps/<name>/``): ``spec.json`` (what the runners execute), ``client.properties``
(connection settings, mode 0600), ``app.json`` (the record below); per instance (instance 0 in the folder itself,
instance i in ``instance-<i>/``): ``runner.log``, ``port.json`` (written by the runner once its HTTP endpoint listens),
``supervisor.json`` (its supervisor's state: restarts, last exit) and ``state/`` (RocksDB stores). Supervisors and
runners are started in their own session, so they outlive the MCP server; a restarted server reads the files and
talks to them again.

Each live instance also has an entry in a machine-wide index (``$KAFKA_AGENT_DATA_DIR`` or the default data folder,
``streams-index/``), so ``kafka-agent dev-cluster down`` can stop the runners of the cluster it stops:
``stop_for_cluster(bootstrap_servers)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import ConfigError, Conflict, NotFound, OperationTimeout, Unreachable
from core.procs import pid_alive
from core.settings import ClusterConfig, Settings, default_data_dir
from streams.spec import StreamSpec

if TYPE_CHECKING:
    from core.gate import Permit

JAVA_DIR = Path(__file__).resolve().parent / "java"
REPO_ROOT = Path(__file__).resolve().parents[1]
RUNNER_MAIN = "io.ksa.streams.Runner"
RUNNER_MARK = "-Dksa.streams.runner="
SUPERVISOR_MODULE = "streams.supervisor"

Status = Literal["starting", "running", "restarting", "stopped", "failed"]


class InstanceRecord(BaseModel):
    """One runner instance of an application."""

    index: int
    status: Status = "starting"
    pid: int | None = Field(None, description="The runner JVM.")
    supervisor_pid: int | None = None
    port: int | None = None
    restarts: int = Field(0, description="Times its supervisor restarted the runner after it stopped unexpectedly.")
    last_exit: str | None = Field(None, description="How the runner last stopped unexpectedly, and when.")
    dir: str


class RunnerRecord(BaseModel):
    """What the server knows about one deployed application."""

    name: str
    application_id: str
    cluster: str
    bootstrap_servers: str
    pid: int | None = Field(None, description="The first running instance's runner JVM.")
    port: int | None = None
    status: Status = "starting"
    restarts: int = Field(0, description="Restarts by the supervisors, all instances together.")
    instances: list[InstanceRecord] = Field(default_factory=list)
    started_at: str | None = None
    stopped_at: str | None = None
    exit_note: str | None = Field(None, description="Why it stopped, when known.")
    app_dir: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def runner_classpath() -> str:
    jar = JAVA_DIR / "target" / "streams-runner.jar"
    lib = JAVA_DIR / "target" / "lib"
    if not jar.exists() or not (lib / ".complete").exists():
        raise ConfigError(
            "The stream runner is not built.",
            hint="Run `bash streams/build.sh` (part of scripts/install; needs Java 17 and Maven).",
        )
    return f"{jar}{os.pathsep}{lib}/*"


def java_command(*args: str, heap: str = "256m", name: str = "", main: str = RUNNER_MAIN) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise ConfigError("Java is not on PATH.", hint="Install Java 17 to run stream applications.")
    cmd = [java, f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
    if not name:
        cmd.append("-XX:TieredStopAtLevel=1")  # a short-lived describe or simulation: start fast
    return [*cmd, f"{RUNNER_MARK}{name}", "-cp", runner_classpath(), main, *args]


def java_client_properties(
    cfg: ClusterConfig, *, replication_factor: int | None = None, threads: int | None = None
) -> dict[str, str]:
    """Kafka Java client properties equivalent to the cluster's librdkafka settings (plus the registry's, for Avro)."""
    props = {"bootstrap.servers": cfg.bootstrap_servers, "security.protocol": cfg.security_protocol}
    if cfg.sasl_mechanism:
        props["sasl.mechanism"] = cfg.sasl_mechanism
        if cfg.sasl_username is not None and cfg.sasl_password is not None:
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if cfg.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            user = cfg.sasl_username.replace('"', '\\"')
            password = cfg.sasl_password.get_secret_value().replace('"', '\\"')
            props["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    if cfg.ssl_ca_location:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = cfg.ssl_ca_location
    if replication_factor is not None:
        props["replication.factor"] = str(replication_factor)
    if threads is not None:
        props["num.stream.threads"] = str(threads)
    if cfg.schema_registry_url:
        props["ksa.schema.registry.url"] = cfg.schema_registry_url
        if cfg.schema_registry_username and cfg.schema_registry_password is not None:
            secret = cfg.schema_registry_password.get_secret_value()
            props["ksa.schema.registry.basic.auth"] = f"{cfg.schema_registry_username}:{secret}"
    return props


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_runner(pid: int) -> bool:
    """Our own runner JVM or its supervisor (never signal a pid that was reused by something else)."""
    cmd = _cmdline(pid)
    return RUNNER_MAIN.encode() in cmd or SUPERVISOR_MODULE.encode() in cmd


def terminate(pid: int | None, *, timeout: float = 30.0, hard: bool = False) -> None:
    """SIGTERM (or SIGKILL when hard), wait, then SIGKILL. Only ever our own runner or supervisor processes."""
    if not pid_alive(pid) or pid is None or not _is_runner(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --- the machine-wide index (for dev-cluster down) --------------------------------------------------------------


def index_dir() -> Path:
    base = os.environ.get("KAFKA_AGENT_DATA_DIR")
    return (Path(base) if base else default_data_dir()) / "streams-index"


def _index_add(record: RunnerRecord, instance: InstanceRecord) -> None:
    folder = index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "pid": instance.supervisor_pid,
        "runner_pid": instance.pid,
        "name": record.name,
        "instance": instance.index,
        "bootstrap_servers": record.bootstrap_servers,
        "app_dir": record.app_dir,
    }
    (folder / f"{instance.supervisor_pid}.json").write_text(json.dumps(entry), encoding="utf-8")


def _index_remove(pid: int | None) -> None:
    if pid:
        with contextlib.suppress(OSError):
            (index_dir() / f"{pid}.json").unlink()


def stop_for_cluster(bootstrap_servers: str, *, progress: Callable[[str], None] | None = None) -> int:
    """Stop every runner whose cluster shares a broker address with ``bootstrap_servers``. Cheap when none run."""
    folder = index_dir()
    if not folder.is_dir():
        return 0
    wanted = {a.strip() for a in bootstrap_servers.split(",") if a.strip()}
    stopped = 0
    apps: set[Path] = set()
    for path in folder.glob("*.json"):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid, runner_pid = entry.get("pid"), entry.get("runner_pid")
        runner_pid = _read_json(
            _instance_dir(Path(entry.get("app_dir", "")), entry.get("instance", 0)) / "port.json"
        ).get("pid", runner_pid)
        if not pid_alive(pid) and not pid_alive(runner_pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        addresses = {a.strip() for a in str(entry.get("bootstrap_servers", "")).split(",")}
        if not wanted & addresses:
            continue
        if progress:
            progress(f"stopping stream runner {entry.get('name')} (pid {runner_pid or pid})")
        terminate(pid, timeout=30)
        terminate(runner_pid, timeout=30)
        with contextlib.suppress(OSError):
            path.unlink()
        apps.add(Path(entry.get("app_dir", "")))
        stopped += 1
    for app_dir in apps:
        record_path = app_dir / "app.json"
        with contextlib.suppress(OSError, ValueError):
            record = RunnerRecord.model_validate_json(record_path.read_text(encoding="utf-8"))
            record.status, record.stopped_at, record.exit_note = "stopped", _now(), "stopped by dev-cluster down"
            record.pid = record.port = None
            for inst in record.instances:
                inst.status, inst.pid, inst.supervisor_pid, inst.port = "stopped", None, None, None
            record_path.write_text(record.model_dump_json(indent=2), encoding="utf-8")
    return stopped


def _instance_dir(app_dir: Path, index: int) -> Path:
    return app_dir if index == 0 else app_dir / f"instance-{index}"


# --- the manager ---------------------------------------------------------------------------------------------


class StreamsManager:
    """Deployed applications of one data folder. Safe to build many times: everything lives on disk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "streams" / "apps"

    def close(self) -> None:
        """Runners keep running when the server stops (they are reattached on the next start)."""

    # files

    def app_dir(self, name: str) -> Path:
        return self.root / name

    def instance_dir(self, name: str, index: int) -> Path:
        return _instance_dir(self.app_dir(name), index)

    def _record_path(self, name: str) -> Path:
        return self.app_dir(name) / "app.json"

    def _save(self, record: RunnerRecord) -> None:
        path = self._record_path(record.name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(record.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def load_spec(self, name: str) -> StreamSpec:
        return StreamSpec.model_validate_json((self.app_dir(name) / "spec.json").read_text(encoding="utf-8"))

    def exists(self, name: str) -> bool:
        return self._record_path(name).exists()

    def get(self, name: str) -> RunnerRecord:
        path = self._record_path(name)
        if not path.exists():
            known = ", ".join(r.name for r in self.list_apps()) or "none"
            raise NotFound(f"No stream application named {name!r}.", hint=f"Deployed: {known}. See kafka_stream_list.")
        record = RunnerRecord.model_validate_json(path.read_text(encoding="utf-8"))
        return self._refresh(record)

    def list_apps(self) -> list[RunnerRecord]:
        if not self.root.is_dir():
            return []
        out = []
        for path in sorted(self.root.glob("*/app.json")):
            with contextlib.suppress(OSError, ValueError):
                out.append(self._refresh(RunnerRecord.model_validate_json(path.read_text(encoding="utf-8"))))
        return out

    def _refresh_instance(self, record: RunnerRecord, inst: InstanceRecord) -> None:
        """An instance as its supervisor and runner say it is now."""
        if inst.status in ("stopped",):
            return
        folder = Path(inst.dir)
        sup = _read_json(folder / "supervisor.json")
        port = _read_json(folder / "port.json")
        supervisor_alive = pid_alive(inst.supervisor_pid) and _is_runner(inst.supervisor_pid or 0)
        child = sup.get("child_pid") if supervisor_alive else inst.pid
        inst.restarts = int(sup.get("restarts", inst.restarts))
        if sup.get("last_exit"):
            inst.last_exit = f"{sup['last_exit']} at {sup.get('last_exit_at')}"
        if child and pid_alive(child) and port.get("pid") == child:
            inst.status, inst.pid, inst.port = "running", child, int(port["port"])
        elif supervisor_alive:
            # between a crash and the restart (backoff), or a runner starting
            inst.status = "restarting" if inst.restarts or sup.get("state") == "backoff" else "starting"
            inst.pid, inst.port = (child if pid_alive(child) else None), None
        elif inst.status in ("running", "starting", "restarting"):
            if inst.pid and pid_alive(inst.pid) and _is_runner(inst.pid):
                return  # its supervisor was killed, but the runner still runs
            _index_remove(inst.supervisor_pid)
            inst.status, inst.pid, inst.port, inst.supervisor_pid = "failed", None, None, None
            if sup.get("state") == "gave_up":
                note = (
                    f"the supervisor gave up after {sup.get('failures_in_row')} failed starts ({sup.get('last_exit')})"
                )
            else:
                note = self.last_error(record.name, inst.index) or "the runner and its supervisor exited"
            record.exit_note = note

    def _refresh(self, record: RunnerRecord) -> RunnerRecord:
        """Reattach: each instance's state from its supervisor and runner; the application's from its instances."""
        if not record.instances:
            return record
        before = record.model_dump_json()
        for inst in record.instances:
            self._refresh_instance(record, inst)
        states = [i.status for i in record.instances]
        if "running" in states:
            record.status = "running"
        elif "restarting" in states:
            record.status = "restarting"
        elif "starting" in states:
            record.status = "starting"
        elif "failed" in states:
            record.status = "failed"
        else:
            record.status = "stopped"
        running = [i for i in record.instances if i.status == "running"]
        record.pid = running[0].pid if running else None
        record.port = running[0].port if running else None
        record.restarts = sum(i.restarts for i in record.instances)
        if record.status == "failed" and not record.stopped_at:
            record.stopped_at = _now()
        if record.model_dump_json() != before:
            self._save(record)
        return record

    def log_tail(self, name: str, lines: int = 50, instance: int = 0) -> list[str]:
        path = self.instance_dir(name, instance) / "runner.log"
        if not path.exists():
            return []
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            text = fh.read().decode("utf-8", "replace")
        return text.splitlines()[-lines:]

    def last_error(self, name: str, instance: int = 0) -> str | None:
        for line in reversed(self.log_tail(name, 400, instance)):
            if " ERROR " in line or "Exception" in line or "failed" in line or "giving up" in line:
                return line[:500]
        return None

    # lifecycle

    def describe(self, spec: StreamSpec | list[StreamSpec], *, timeout: float = 60.0) -> str:
        """The topology description of one spec, or of several in one JVM, from the runner's own builder (no Kafka
        connection): a spec the runner cannot build is refused here, naming the problem."""
        specs = spec if isinstance(spec, list) else [spec]
        folder = self.root.parent / "dry-run"
        folder.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        for item in specs:
            path = folder / f"{item.name}-{os.getpid()}-{len(paths)}.json"
            path.write_text(item.model_dump_json(exclude_none=True), encoding="utf-8")
            paths.append(path)
        try:
            proc = subprocess.run(
                java_command("--describe", os.pathsep.join(str(p) for p in paths)),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OperationTimeout("Building the topology took too long.") from None
        finally:
            for path in paths:
                path.unlink(missing_ok=True)
        if proc.returncode != 0:
            detail = next(
                (ln for ln in proc.stderr.splitlines() if "IllegalArgumentException" in ln),
                proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unknown error",
            )
            raise ConfigError(f"The runner rejected the spec: {detail.split(': ', 1)[-1]}")
        return proc.stdout.strip()

    def launch(
        self,
        permit: Permit,
        spec: StreamSpec,
        cfg: ClusterConfig,
        *,
        replication_factor: int | None = None,
        instances: int = 1,
        wait_s: float = 60.0,
    ) -> RunnerRecord:
        """Start (or restart) ``instances`` supervised runners of ``spec`` (``permit``: ``stream.deploy`` of it);
        returns once every instance's HTTP endpoint answers. A runner that exits while starting fails the launch."""
        permit.require("stream.deploy", spec.name)
        folder = self.app_dir(spec.name)
        if self._record_path(spec.name).exists():
            old = self.get(spec.name)
            if old.status in ("running", "starting", "restarting"):
                raise Conflict(
                    f"Stream application {spec.name!r} is already running (pid {old.pid}).",
                    hint="Stop it with kafka_stream_stop first, or deploy under another name.",
                )
            if old.cluster != cfg.name:
                raise Conflict(
                    f"Stream application {spec.name!r} belongs to cluster {old.cluster!r}.",
                    hint="Delete it first, or use another name.",
                )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.json").write_text(spec.model_dump_json(exclude_none=True, indent=2), encoding="utf-8")
        props_path = folder / "client.properties"
        props = java_client_properties(
            cfg, replication_factor=replication_factor, threads=self.settings.streams_threads
        )
        fd = os.open(props_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for k, v in props.items():
                fh.write(f"{k}={_escape_property(v)}\n")
        record = RunnerRecord(
            name=spec.name,
            application_id=spec.application_id or f"ksa-{spec.name}",
            cluster=cfg.name,
            bootstrap_servers=cfg.bootstrap_servers,
            status="starting",
            started_at=_now(),
            app_dir=str(folder),
        )
        for index in range(instances):
            record.instances.append(self._start_instance(record, spec, index, props_path))
        self._save(record)
        deadline = time.monotonic() + wait_s
        pending = list(record.instances)
        while pending and time.monotonic() < deadline:
            for inst in list(pending):
                sup = _read_json(Path(inst.dir) / "supervisor.json")
                port = _read_json(Path(inst.dir) / "port.json")
                if (
                    int(sup.get("restarts", 0)) > 0
                    or sup.get("state") == "gave_up"
                    or not pid_alive(inst.supervisor_pid)
                ):
                    note = self.last_error(spec.name, inst.index) or str(sup.get("last_exit") or "it exited")
                    self._abort(record)
                    raise ConfigError(
                        f"The runner for {spec.name!r} exited at start: {note}",
                        hint="See kafka_stream_status or `kafka-agent streams logs` for the full log.",
                    )
                if port.get("pid") and port.get("pid") == sup.get("child_pid"):
                    inst.status, inst.pid, inst.port = "running", int(port["pid"]), int(port["port"])
                    pending.remove(inst)
            time.sleep(0.2)
        if pending:
            self._abort(record)
            record.exit_note = "start timed out"
            self._save(record)
            raise OperationTimeout(f"The runner for {spec.name!r} did not start within {wait_s:.0f}s.")
        return self._refresh(record)

    def _start_instance(self, record: RunnerRecord, spec: StreamSpec, index: int, props_path: Path) -> InstanceRecord:
        folder = self.instance_dir(spec.name, index)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "state").mkdir(exist_ok=True)
        port_file = folder / "port.json"
        port_file.unlink(missing_ok=True)
        (folder / "supervisor.json").unlink(missing_ok=True)
        runner = java_command(
            "--spec",
            str(self.app_dir(spec.name) / "spec.json"),
            "--config",
            str(props_path),
            "--state-dir",
            str(folder / "state"),
            "--port-file",
            str(port_file),
            "--host",
            self.settings.streams_host,
            heap=self.settings.streams_heap,
            name=spec.name,
        )
        log_path = folder / "runner.log"
        supervised = [
            sys.executable,
            "-m",
            SUPERVISOR_MODULE,
            "--dir",
            str(folder),
            "--log",
            str(log_path),
            "--max-restarts",
            str(self.settings.streams_max_restarts),
            "--",
            *runner,
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
        with log_path.open("ab") as log:
            log.write(f"\n=== {_now()} starting runner for {spec.name} (instance {index}) ===\n".encode())
            log.flush()
            proc = subprocess.Popen(
                supervised,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                cwd=folder,
                env=env,
            )
        inst = InstanceRecord(index=index, supervisor_pid=proc.pid, dir=str(folder))
        _index_add(record, inst)
        return inst

    def _abort(self, record: RunnerRecord) -> None:
        for inst in record.instances:
            self._stop_instance(inst, timeout=10)
            inst.status = "failed"
        record.status, record.pid, record.port, record.stopped_at = "failed", None, None, _now()
        record.exit_note = record.exit_note or "failed at start"
        self._save(record)

    def _stop_instance(self, inst: InstanceRecord, *, timeout: float, hard: bool = False) -> None:
        sup = _read_json(Path(inst.dir) / "supervisor.json")
        runner = sup.get("child_pid") or inst.pid
        terminate(inst.supervisor_pid, timeout=timeout, hard=hard)
        terminate(runner, timeout=timeout, hard=hard)  # normally gone with its supervisor
        _index_remove(inst.supervisor_pid)
        inst.status, inst.pid, inst.port, inst.supervisor_pid = "stopped", None, None, None

    def stop(
        self, permit: Permit, name: str, *, hard: bool = False, timeout: float = 30.0, instance: int | None = None
    ) -> RunnerRecord:
        """Stop the application's runners (or one instance; ``permit``: ``stream.stop`` of it); its state, offsets
        and internal topics stay. A clean stop closes Kafka Streams, which leaves the consumer group."""
        permit.require("stream.stop", name)
        record = self.get(name)
        for inst in record.instances:
            if instance is None or inst.index == instance:
                self._stop_instance(inst, timeout=timeout, hard=hard)
        if instance is None or all(i.status == "stopped" for i in record.instances):
            record.status, record.pid, record.port = "stopped", None, None
            record.stopped_at, record.exit_note = _now(), "stopped on request"
        self._save(record)
        return self._refresh(record)

    def remove(self, permit: Permit, name: str) -> None:
        """Stop the runners when they run and delete the folder (``permit``: ``stream.delete`` of the application,
        which implies ``stream.stop``)."""
        permit.require("stream.delete", name)
        record = self.get(name)
        if record.status in ("running", "starting", "restarting"):
            self.stop(permit, name)
        shutil.rmtree(self.app_dir(name), ignore_errors=True)

    # talking to a runner

    def call(self, name: str, path: str, params: dict[str, Any] | None = None, *, timeout: float = 10.0) -> Any:
        import httpx

        record = self.get(name)
        if record.status != "running" or record.port is None:
            raise Conflict(
                f"Stream application {name!r} is {record.status}, so it cannot answer.",
                hint="Start it again with kafka_stream_deploy (same spec) and retry."
                if record.status != "restarting"
                else "Its supervisor restarts it after a crash; retry in a few seconds (kafka_stream_status).",
            )
        url = f"http://{self.settings.streams_host}:{record.port}{path}"
        try:
            resp = httpx.get(url, params={k: v for k, v in (params or {}).items() if v is not None}, timeout=timeout)
        except httpx.HTTPError as exc:
            raise Unreachable(f"The runner of {name!r} at {url} did not answer: {exc}.") from None
        data = resp.json()
        if resp.status_code == 400:
            from core.errors import InvalidArgument

            raise InvalidArgument(f"{name}: {data.get('error')}")
        if resp.status_code != 200:
            raise Conflict(
                f"{name}: the store cannot be queried now ({data.get('error')}).",
                hint="The application may be rebalancing or restoring; check kafka_stream_status and retry.",
            )
        return data

    def wait_state(self, name: str, state: str = "RUNNING", *, timeout: float = 60.0) -> dict[str, Any]:
        """Poll the runner's health until its Kafka Streams state is ``state``."""
        deadline = time.monotonic() + timeout
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(Unreachable, Conflict):
                health = self.call(name, "/health")
                if health.get("state") == state:
                    return health
                if health.get("state") in ("ERROR", "NOT_RUNNING", "PENDING_ERROR"):
                    break
            if self.get(name).status == "failed":
                break
            time.sleep(0.25)
        raise OperationTimeout(
            f"Stream application {name!r} did not reach {state} (last state: {health.get('state', 'unknown')}).",
            hint=f"Last error: {health.get('error') or self.last_error(name) or 'none logged'}",
        )


def _escape_property(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")
