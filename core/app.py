"""What every caller shares: the settings, the Kafka clients, the gate, and lazily built resources.

The MCP server's lifespan yields one ``AppContext``; the ksqlDB facade, the exporter and the command-line tools
build their own with ``build_app_context``. Nothing here knows MCP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from core.gate import Gate
from core.kafka.clients import KafkaClients
from core.settings import Settings

T = TypeVar("T")


class LazyResources:
    """Heavy resources (memory store, REST clients, stream runners) built on first use and closed with the app.

    Keeps torch, Chroma and friends off the start-up path: nothing here is built until a caller asks for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Any] = {}

    def get(self, key: str, factory: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            item: T = self._items[key]
            return item

    def peek(self, key: str) -> Any | None:
        with self._lock:
            return self._items.get(key)

    def close(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        for item in reversed(items):
            closer = getattr(item, "close", None)
            if callable(closer):
                closer()


@dataclass
class AppContext:
    settings: Settings
    clients: KafkaClients
    gate: Gate
    lazy: LazyResources = field(default_factory=LazyResources)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (confluent-kafka, Chroma, embeddings) off the event loop."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    @property
    def timeout(self) -> float:
        return self.settings.request_timeout_s

    def close(self) -> None:
        self.lazy.close()
        self.clients.close()
        self.gate.close()


def build_app_context(
    settings: Settings, *, transport: str = "stdio", clock: Callable[[], float] = time.time
) -> AppContext:
    return AppContext(
        settings=settings, clients=KafkaClients(settings), gate=Gate(settings, clock=clock, transport=transport)
    )
