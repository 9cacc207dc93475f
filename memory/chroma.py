"""Opening Chroma: embedded on a local path (guarded by an exclusive file lock) or a Chroma server over HTTP."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import ConfigError, Conflict, Unreachable

LOCK_FILE = "kafka-agent.lock"


class PathLock:
    """An exclusive ``flock`` on a file in the Chroma folder, held while one process uses the embedded store.

    Two processes writing one embedded Chroma folder can corrupt it; the second one gets a clear error instead.
    The kernel drops the lock when the holder dies, even by SIGKILL, so a crash never leaves it stuck.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 32, 0).decode().strip()
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise Conflict(
                f"The memory store at {self.path.parent} is already open in another kafka-agent process{who}; "
                "two processes must not share an embedded Chroma folder.",
                hint=f"Stop the other process, or run a Chroma server (`uv run chroma run --path {self.path.parent} "
                "--port 8000`) and set KAFKA_AGENT_CHROMA_URL=http://127.0.0.1:8000 for every process.",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def open_embedded(path: Path) -> tuple[Any, PathLock]:
    """A PersistentClient on ``path`` and the lock that guards it (release it after closing the client)."""
    lock = PathLock(path)
    lock.acquire()
    try:
        import chromadb

        client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
    except Exception as exc:
        lock.release()
        raise ConfigError(
            f"Cannot open the memory store at {path}: {type(exc).__name__}: {exc}",
            hint="Check that the folder is writable (KAFKA_AGENT_CHROMA_PATH / KAFKA_AGENT_DATA_DIR).",
        ) from exc
    return client, lock


def open_http(url: str) -> Any:
    """An HttpClient on a Chroma server (e.g. ``http://chroma:8000``), checked with a heartbeat."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"KAFKA_AGENT_CHROMA_URL {url!r} is not an http(s) URL.", hint="Use e.g. http://127.0.0.1:8000."
        )
    ssl = parsed.scheme == "https"
    port = parsed.port or (443 if ssl else 8000)
    import chromadb

    try:
        client = chromadb.HttpClient(host=parsed.hostname, port=port, ssl=ssl, settings=_chroma_settings())
        client.heartbeat()
    except Exception as exc:
        raise Unreachable(
            f"The Chroma server at {url} did not answer: {type(exc).__name__}: {exc}",
            hint="Start it (`uv run chroma run --path DIR --port 8000`) or unset KAFKA_AGENT_CHROMA_URL to use the "
            "embedded store.",
        ) from exc
    return client
