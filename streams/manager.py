"""Runner processes: one JVM per deployed application, launched, watched, stopped and reattached from disk.

Layout (``<data_dir>/streams/apps/<name>/``): ``spec.json`` (what the runner executes), ``client.properties``
(connection settings, mode 0600), ``app.json`` (the record below), ``runner.log``, ``port.json`` (written by the
runner once its HTTP endpoint listens) and ``state/`` (RocksDB stores). Runners are started in their own session, so
they outlive the MCP server; a restarted server reads ``app.json`` and talks to them again.

Each live runner also has an entry in a machine-wide index (``$KAFKA_AGENT_DATA_DIR`` or the default data folder,
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
RUNNER_MAIN = "io.ksa.streams.Runner"
RUNNER_MARK = "-Dksa.streams.runner="

Status = Literal["starting", "running", "stopped", "failed"]


class RunnerRecord(BaseModel):
    """What the server knows about one deployed application."""

    name: str
    application_id: str
    cluster: str
    bootstrap_servers: str
    pid: int | None = None
    port: int | None = None
    status: Status = "starting"
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


def java_command(*args: str, heap: str = "256m", name: str = "") -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise ConfigError("Java is not on PATH.", hint="Install Java 17 to run stream applications.")
    cmd = [java, f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
    if not name:
        cmd.append("-XX:TieredStopAtLevel=1")  # a short-lived describe: start fast
    return [*cmd, f"{RUNNER_MARK}{name}", "-cp", runner_classpath(), RUNNER_MAIN, *args]


def java_client_properties(cfg: ClusterConfig, *, replication_factor: int | None = None) -> dict[str, str]:
    """Kafka Java client properties equivalent to the cluster's librdkafka settings."""
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
    return props


def _is_runner(pid: int) -> bool:
    try:
        return RUNNER_MAIN.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def terminate(pid: int | None, *, timeout: float = 30.0, hard: bool = False) -> None:
    """SIGTERM (or SIGKILL when hard), wait, then SIGKILL. Only ever our own runner processes."""
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


# --- the machine-wide index (for dev-cluster down) --------------------------------------------------------------


def index_dir() -> Path:
    base = os.environ.get("KAFKA_AGENT_DATA_DIR")
    return (Path(base) if base else default_data_dir()) / "streams-index"


def _index_add(record: RunnerRecord) -> None:
    folder = index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"pid": record.pid, "name": record.name, "bootstrap_servers": record.bootstrap_servers}
    entry["app_dir"] = record.app_dir
    (folder / f"{record.pid}.json").write_text(json.dumps(entry), encoding="utf-8")


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
    for path in folder.glob("*.json"):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = entry.get("pid")
        if not pid_alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        addresses = {a.strip() for a in str(entry.get("bootstrap_servers", "")).split(",")}
        if not wanted & addresses:
            continue
        if progress:
            progress(f"stopping stream runner {entry.get('name')} (pid {pid})")
        terminate(pid, timeout=30)
        with contextlib.suppress(OSError):
            path.unlink()
        record_path = Path(entry.get("app_dir", "")) / "app.json"
        with contextlib.suppress(OSError, ValueError):
            record = RunnerRecord.model_validate_json(record_path.read_text(encoding="utf-8"))
            record.status, record.stopped_at, record.exit_note = "stopped", _now(), "stopped by dev-cluster down"
            record.pid = None
            record_path.write_text(record.model_dump_json(indent=2), encoding="utf-8")
        stopped += 1
    return stopped


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

    def _record_path(self, name: str) -> Path:
        return self.app_dir(name) / "app.json"

    def _save(self, record: RunnerRecord) -> None:
        path = self._record_path(record.name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(record.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def load_spec(self, name: str) -> StreamSpec:
        return StreamSpec.model_validate_json((self.app_dir(name) / "spec.json").read_text(encoding="utf-8"))

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

    def _refresh(self, record: RunnerRecord) -> RunnerRecord:
        """Reattach: a record whose process is gone becomes stopped/failed, with the log's last error."""
        if record.status in ("running", "starting") and not pid_alive(record.pid):
            _index_remove(record.pid)
            record.status = "failed"
            record.exit_note = self.last_error(record.name) or "the runner process exited"
            record.stopped_at = record.stopped_at or _now()
            record.pid = None
            self._save(record)
        return record

    def log_tail(self, name: str, lines: int = 50) -> list[str]:
        path = self.app_dir(name) / "runner.log"
        if not path.exists():
            return []
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            text = fh.read().decode("utf-8", "replace")
        return text.splitlines()[-lines:]

    def last_error(self, name: str) -> str | None:
        for line in reversed(self.log_tail(name, 400)):
            if " ERROR " in line or "Exception" in line or "failed" in line:
                return line[:500]
        return None

    # lifecycle

    def describe(self, spec: StreamSpec, *, timeout: float = 60.0) -> str:
        """The topology description, from the runner's own builder (no Kafka connection)."""
        folder = self.root.parent / "dry-run"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{spec.name}-{os.getpid()}.json"
        path.write_text(spec.model_dump_json(exclude_none=True), encoding="utf-8")
        try:
            proc = subprocess.run(
                java_command("--describe", str(path)), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise OperationTimeout("Building the topology took too long.") from None
        finally:
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
        wait_s: float = 60.0,
    ) -> RunnerRecord:
        """Start (or restart) the runner of ``spec`` (``permit``: ``stream.deploy`` of it); returns once its HTTP
        endpoint answers."""
        permit.require("stream.deploy", spec.name)
        folder = self.app_dir(spec.name)
        if self._record_path(spec.name).exists():
            old = self.get(spec.name)
            if old.status in ("running", "starting"):
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
        (folder / "state").mkdir(exist_ok=True)
        (folder / "spec.json").write_text(spec.model_dump_json(exclude_none=True, indent=2), encoding="utf-8")
        props_path = folder / "client.properties"
        props = java_client_properties(cfg, replication_factor=replication_factor)
        fd = os.open(props_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for k, v in props.items():
                fh.write(f"{k}={_escape_property(v)}\n")
        port_file = folder / "port.json"
        port_file.unlink(missing_ok=True)
        cmd = java_command(
            "--spec",
            str(folder / "spec.json"),
            "--config",
            str(props_path),
            "--state-dir",
            str(folder / "state"),
            "--port-file",
            str(port_file),
            name=spec.name,
        )
        with (folder / "runner.log").open("ab") as log:
            log.write(f"\n=== {_now()} starting runner for {spec.name} ===\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, cwd=folder
            )
        record = RunnerRecord(
            name=spec.name,
            application_id=spec.application_id or f"ksa-{spec.name}",
            cluster=cfg.name,
            bootstrap_servers=cfg.bootstrap_servers,
            pid=proc.pid,
            status="starting",
            started_at=_now(),
            app_dir=str(folder),
        )
        self._save(record)
        _index_add(record)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                _index_remove(proc.pid)
                record.status, record.pid, record.stopped_at = "failed", None, _now()
                record.exit_note = self.last_error(spec.name) or f"exited with code {proc.returncode}"
                self._save(record)
                raise ConfigError(
                    f"The runner for {spec.name!r} exited at start: {record.exit_note}",
                    hint="See kafka_stream_status or `kafka-agent streams logs` for the full log.",
                )
            if port_file.exists():
                with contextlib.suppress(ValueError, OSError):
                    record.port = int(json.loads(port_file.read_text(encoding="utf-8"))["port"])
                    record.status = "running"
                    self._save(record)
                    return record
            time.sleep(0.2)
        terminate(proc.pid, timeout=10)
        _index_remove(proc.pid)
        record.status, record.pid, record.stopped_at, record.exit_note = "failed", None, _now(), "start timed out"
        self._save(record)
        raise OperationTimeout(f"The runner for {spec.name!r} did not start within {wait_s:.0f}s.")

    def stop(self, permit: Permit, name: str, *, hard: bool = False, timeout: float = 30.0) -> RunnerRecord:
        """Stop the runner (``permit``: ``stream.stop`` of it); its state, offsets and internal topics stay."""
        permit.require("stream.stop", name)
        record = self.get(name)
        if record.pid:
            terminate(record.pid, timeout=timeout, hard=hard)
            _index_remove(record.pid)
        record.status, record.pid, record.port = "stopped", None, None
        record.stopped_at, record.exit_note = _now(), "stopped on request"
        self._save(record)
        return record

    def remove(self, permit: Permit, name: str) -> None:
        """Stop the runner when it runs and delete its folder (``permit``: ``stream.delete`` of it, which implies
        ``stream.stop``)."""
        permit.require("stream.delete", name)
        record = self.get(name)
        if record.status in ("running", "starting"):
            self.stop(permit, name)
        shutil.rmtree(self.app_dir(name), ignore_errors=True)

    # talking to a runner

    def call(self, name: str, path: str, params: dict[str, Any] | None = None, *, timeout: float = 10.0) -> Any:
        import httpx

        record = self.get(name)
        if record.status != "running" or record.port is None:
            raise Conflict(
                f"Stream application {name!r} is {record.status}, so it cannot answer.",
                hint="Start it again with kafka_stream_deploy (same spec) and retry.",
            )
        url = f"http://127.0.0.1:{record.port}{path}"
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
