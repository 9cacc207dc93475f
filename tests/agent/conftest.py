"""Fixtures for the agent runtime: a scripted fake Messages API on loopback and settings that point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.agent.fake_anthropic import FakeAnthropic
from tests.conftest import ClusterHandle, make_settings


@pytest.fixture
def agent_settings(kafka_cluster: ClusterHandle, data_dir: Path, fake_llm: FakeAnthropic) -> Any:
    return make_settings(
        kafka_cluster.bootstrap_servers,
        data_dir,
        anthropic_base_url=fake_llm.url,
        anthropic_api_key="test-key-not-real",
        approval="auto",
    )
