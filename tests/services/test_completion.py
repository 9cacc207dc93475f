"""Completion of prompt arguments from the services around a cluster: connector names from the Kafka Connect worker
and subjects from the Schema Registry, created here with a separate HTTP client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import unique
from tests.services.conftest import ServiceEnv

pytestmark = pytest.mark.anyio


async def test_connector_and_subject_names_complete_from_the_services(
    mcp_client: Any, service_env: ServiceEnv, http: Any
) -> None:
    from mcp_types import PromptReference

    prefix = unique("cmpl")
    connector, subject = f"{prefix}-source", f"{prefix}-value"
    config = {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "tasks.max": "1",
        "file": "/dev/null",
        "topic": f"{prefix}-topic",
    }
    schema = {"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}
    resp = http.put(f"{service_env.connect_url}/connectors/{connector}/config", json=config)
    assert resp.status_code in (200, 201), resp.text
    resp = http.post(f"{service_env.registry_url}/subjects/{subject}/versions", json={"schema": json.dumps(schema)})
    assert resp.status_code == 200, resp.text
    try:
        got = await mcp_client.complete(PromptReference(name="kafka-connect"), {"name": "name", "value": prefix})
        assert got.completion.values == [connector]
        got = await mcp_client.complete(PromptReference(name="schema-registry"), {"name": "subject", "value": prefix})
        assert got.completion.values == [subject]
        # the cluster named earlier in the same prompt decides where to look: cluster a has no registry
        got = await mcp_client.complete(
            PromptReference(name="schema-registry"),
            {"name": "subject", "value": prefix},
            context_arguments={"cluster": "a"},
        )
        assert got.completion.values == []
    finally:
        http.delete(f"{service_env.connect_url}/connectors/{connector}")
        http.delete(f"{service_env.registry_url}/subjects/{subject}")
        http.delete(f"{service_env.registry_url}/subjects/{subject}", params={"permanent": "true"})
