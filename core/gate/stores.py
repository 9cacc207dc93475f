"""Opening the consent store the settings name: ``local`` (SQLite in the data folder) or ``kafka`` (a topic)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.gate.store import ConsentStore, SqliteConsentStore
from core.settings import Settings

if TYPE_CHECKING:
    from core.gate.gate import Gate


def open_store(settings: Settings, gate: Gate | None = None, *, clock: Callable[[], float] = time.time) -> ConsentStore:
    if settings.consent_store == "kafka":
        from core.gate.gate import Gate
        from core.gate.kafka_store import KafkaConsentStore

        return KafkaConsentStore(settings, gate or Gate(settings, clock=clock), clock=clock)
    return SqliteConsentStore(settings.data_dir / "consent.db", clock=clock)
