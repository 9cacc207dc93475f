"""Kafka's own Java Admin client, for what confluent-kafka 2.16 lacks: partition reassignment, log dirs, client
quotas, unregistering a broker.

The admin helper (``core/kafka/java``, built by ``scripts/install`` through ``bash core/kafka/java/build.sh``) runs as
one long-lived JVM per cluster and speaks JSON lines on its stdin and stdout; the client settings (secrets included)
reach it on stdin, never on a command line. Two doors:

    read_op(op, args)                reads (describe cluster, log dirs, reassignments, quotas)
    mutate_op(permit, op, args)      changes (reassign, cancel, quotas, unregister a broker)

Every call of ``mutate_op`` must sit in a function that takes a ``Permit`` and checks it (``tests/test_architecture.py``
walks the code for it), and the helper itself refuses a change sent as a read and a read sent as a change.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import (
    AuthError,
    ConfigError,
    Conflict,
    InvalidArgument,
    KafkaAgentError,
    KafkaOperationError,
    NotFound,
    OperationTimeout,
    Unreachable,
)
from core.settings import ClusterConfig

if TYPE_CHECKING:
    from core.app import AppContext
    from core.gate import Permit

JAVA_DIR = Path(__file__).resolve().parent / "java"
MAIN = "io.ksa.admin.AdminHelper"
READ_OPS = frozenset({"ping", "describeCluster", "describeLogDirs", "listReassignments", "describeClientQuotas"})
MUTATING_OPS = frozenset({"alterReassignments", "alterClientQuotas", "unregisterBroker"})

_ERRORS: dict[str, tuple[type[KafkaAgentError], str | None]] = {
    "TimeoutException": (OperationTimeout, "Check that the brokers are up and reachable, then retry."),
    "UnknownTopicOrPartitionException": (NotFound, "List the topics with kafka_list_topics."),
    "NoReassignmentInProgressException": (Conflict, "Nothing is being reassigned there (kafka_reassignment_status)."),
    "ReassignmentInProgressException": (Conflict, "Wait for the running reassignment or cancel it first."),
    "InvalidReplicaAssignmentException": (InvalidArgument, None),
    "InvalidReplicationFactorException": (InvalidArgument, None),
    "InvalidRequestException": (InvalidArgument, None),
    "InvalidConfigurationException": (InvalidArgument, None),
    "IllegalArgumentException": (InvalidArgument, None),
    "BrokerIdNotRegisteredException": (NotFound, "The broker is not registered (kafka_describe_cluster lists them)."),
    "ClusterAuthorizationException": (AuthError, "The principal needs Alter/Describe on the cluster."),
    "TopicAuthorizationException": (AuthError, "The principal needs access to the topic."),
    "SaslAuthenticationException": (AuthError, "Check the cluster's SASL credentials."),
    "AuthenticationException": (AuthError, "Check the cluster's SASL credentials."),
    "BrokerNotAvailableException": (Unreachable, None),
    "DisconnectException": (Unreachable, None),
}


def helper_classpath() -> str:
    jar = JAVA_DIR / "target" / "admin-helper.jar"
    lib = JAVA_DIR / "target" / "lib"
    if not jar.exists() or not (lib / ".complete").exists():
        raise ConfigError(
            "The admin helper (Kafka's Java Admin client, needed for reassignment, log dirs and quotas) is not built.",
            hint="Run `bash core/kafka/java/build.sh` (part of scripts/install; needs Java 17 and Maven).",
        )
    return f"{jar}{os.pathsep}{lib}/*"


def helper_command(heap: str = "128m") -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise ConfigError(
            "Java is not on PATH.", hint="Install Java 17: reassignment, log dirs and quotas use Kafka's Java client."
        )
    return [java, f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", helper_classpath(), MAIN]


def _translate(op: str, error: dict[str, Any], bootstrap: str) -> KafkaAgentError:
    kind = str(error.get("type") or "KafkaException")
    message = str(error.get("message") or kind)
    cls, hint = _ERRORS.get(kind, (KafkaOperationError, None))
    if cls is Unreachable:
        return Unreachable(f"{op} failed: could not reach the brokers {bootstrap} ({kind}: {message}).", code=kind)
    return cls(f"{op} failed: {kind}: {message}", hint=hint, code=kind)


def error_of(entry: Any, *, what: str, bootstrap: str = "") -> KafkaAgentError | None:
    """A per-entity error from a helper result (``{"type", "message"}`` or null) in our tree."""
    if not isinstance(entry, dict):
        return None
    return _translate(what, entry, bootstrap)


class JavaAdmin:
    """One admin helper JVM for one cluster, started on first use, restarted if it died, ended by ``close``."""

    def __init__(self, cluster: ClusterConfig, *, log_file: Path | None = None, heap: str = "128m") -> None:
        self.cluster = cluster
        self.log_file = log_file
        self.heap = heap
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._next_id = 0

    # --- the two doors ---------------------------------------------------------------------------------------------

    def read_op(self, op: str, args: dict[str, Any] | None = None, *, timeout: float) -> Any:
        """A reading operation (``READ_OPS``)."""
        if op not in READ_OPS:
            raise InvalidArgument(f"{op} is not a reading operation of the admin helper.")
        return self._exchange(op, args or {}, timeout=timeout, mutate=False)

    def mutate_op(self, permit: Permit, op: str, args: dict[str, Any], *, timeout: float) -> Any:
        """A change (``MUTATING_OPS``). The caller has checked ``permit`` covers it (``permit.require``)."""
        if op not in MUTATING_OPS:
            raise InvalidArgument(f"{op} is not a change the admin helper makes.")
        return self._exchange(op, args, timeout=timeout, mutate=True)

    # --- the process -------------------------------------------------------------------------------------------------

    def _start(self) -> subprocess.Popen[bytes]:
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            stderr: Any = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        else:
            stderr = subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                helper_command(self.heap), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
            )
        finally:
            if stderr is not subprocess.DEVNULL:
                stderr.close()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"config": self.cluster.java_properties()}).encode() + b"\n")
        proc.stdin.flush()
        self._buffer = b""
        return proc

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)

    def _readline(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _exchange(self, op: str, args: dict[str, Any], *, timeout: float, mutate: bool) -> Any:
        what = f"{op} on cluster {self.cluster.name!r}"
        with self._lock:
            started = self._proc is None or self._proc.poll() is not None
            if started:
                self._proc = self._start()
            proc = self._proc
            assert proc is not None
            self._next_id += 1
            request = {"id": self._next_id, "op": op, "args": args, "mutate": mutate, "timeoutMs": int(timeout * 1000)}
            # The admin client's own timeout comes on top of the request's, and a fresh JVM's start-up (about a
            # second, far more on a loaded machine) on top of that.
            deadline = time.monotonic() + timeout + (60 if started else 15)
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
                while True:
                    reply = json.loads(self._readline(proc, deadline))
                    if reply.get("id") == request["id"]:
                        break
            except TimeoutError:
                self._kill()  # its state is unknown now; the next call starts a fresh one
                raise OperationTimeout(
                    f"Timed out during {what}: the admin helper got no answer from {self.cluster.bootstrap_servers}.",
                    hint="Check that the brokers are up (kafka-agent dev-cluster status), then retry.",
                ) from None
            except (EOFError, BrokenPipeError, ValueError):
                code = proc.poll()
                self._kill()
                where = f"; see {self.log_file}" if self.log_file else ""
                raise KafkaOperationError(
                    f"The admin helper for cluster {self.cluster.name!r} stopped during {op} (exit {code}){where}.",
                    hint="Check Java 17 and the helper's build (`bash core/kafka/java/build.sh --force`).",
                ) from None
        if reply.get("ok"):
            return reply.get("result")
        raise _translate(what, reply.get("error") or {}, self.cluster.bootstrap_servers)

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the helper ends when its stdin closes
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)


def java_admin(app: AppContext, cluster: str) -> JavaAdmin:
    """The cluster's admin helper, started on first use and closed with the app."""
    cfg = app.clients.cluster(cluster)
    log = app.settings.data_dir / "logs" / f"admin-helper-{cfg.name}.log"
    return app.lazy.get(f"java-admin:{cfg.name}", lambda: JavaAdmin(cfg, log_file=log))
