"""The REST rule: a call to a service that is not a GET carries the gate's permit (or says it only reads), and every
function that changes the registry or a Connect worker checks its permit covers the resource before it acts."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.errors import Refused, Unreachable
from tests.conftest import unique
from tests.services.conftest import ServiceEnv

SCHEMA = json.dumps({"type": "record", "name": "Gate", "namespace": "test", "fields": [{"name": "id", "type": "int"}]})


@pytest.fixture
def app(settings: Any) -> Iterator[Any]:
    from core.app import build_app_context

    ctx = build_app_context(settings, transport="test")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def gate(app: Any) -> Any:
    return app.gate


def _connector_code(http: Any, url: str) -> int:
    """The worker's answer for one connector (it answers 500 while its group rebalances: ask again)."""
    deadline = time.monotonic() + 60
    while (code := http.get(url).status_code) == 500 and time.monotonic() < deadline:
        time.sleep(0.5)
    return int(code)


def _change(action: str, resources: list[str], *, tool: str = "test", implies: list[str] | None = None) -> Any:
    from core.gate import Change

    return Change(
        tool=tool,
        cluster="b",
        action=action,
        resource_type="schema" if action.startswith("schema") else "connector",
        resources=resources,
        implies=implies or [],
    )


def _audit(settings: Any) -> list[dict[str, Any]]:
    path = settings.resolved_audit_log()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_non_get_without_permit_is_a_programming_error(gate: Any) -> None:
    from core.services.rest import RestClient

    # Nothing listens on port 9: a call that got past the rule would fail as Unreachable instead.
    rest = RestClient("schema registry", "http://127.0.0.1:9", timeout=2)
    try:
        for method in ("POST", "PUT", "DELETE", "delete"):
            with pytest.raises(TypeError, match="permit="):
                rest.request(method, "/subjects/x", what="change x")
        with pytest.raises(TypeError, match="Permit"):
            rest.request("DELETE", "/subjects/x", what="change x", permit=object())  # type: ignore[arg-type]
        # Reads pass the rule (and then find nobody there).
        with pytest.raises(Unreachable):
            rest.request("GET", "/subjects", what="list")
        with pytest.raises(Unreachable):
            rest.request("POST", "/subjects/x", what="look up", read_only=True)
        # A permitted change passes the rule too; both at once is a mistake.
        change = _change("schema.delete", ["x"])
        with pytest.raises(Unreachable):
            gate.perform(change, lambda permit: rest.request("DELETE", "/subjects/x", what="delete", permit=permit))
        with pytest.raises(TypeError, match="not both"):
            gate.perform(
                _change("schema.delete", ["x"]),
                lambda permit: rest.request("DELETE", "/subjects/x", what="d", permit=permit, read_only=True),
            )
    finally:
        rest.close()


def test_registry_changes_check_the_permit(app: Any, gate: Any, http: Any, service_env: ServiceEnv) -> None:
    from core.kafka import schemas as kschemas
    from core.services.rest import registry_client

    rest = registry_client(app, app.settings.cluster("b"))
    allowed, other = unique("allowed") + "-value", unique("other") + "-value"
    # A permit for one subject does not register under another: refused before any request, nothing registered.
    with pytest.raises(Refused, match=r"not schema\.register"):
        gate.perform(
            _change("schema.register", [allowed]),
            lambda permit: kschemas.register_schema(permit, rest, other, SCHEMA),
        )
    assert http.get(f"{service_env.registry_url}/subjects/{other}/versions").status_code == 404
    # Nor does a register permit delete, or set a level (a subject's, or the registry-wide one).
    with pytest.raises(Refused):
        gate.perform(
            _change("schema.register", [allowed]), lambda permit: kschemas.delete_version(permit, rest, allowed, 1)
        )
    with pytest.raises(Refused, match=re.escape(kschemas.GLOBAL)):
        gate.perform(
            _change("schema.compatibility.set", [allowed]),
            lambda permit: kschemas.set_compatibility(permit, rest, "NONE"),
        )
    # The outcome of each attempt is audited with its error.
    errors = [a for a in _audit(app.settings) if a["tool"] == "test" and a["error"]]
    assert len(errors) == 3 and all("nothing was changed" in a["error"] for a in errors)
    # The permit for the subject itself works.
    done = gate.perform(
        _change("schema.register", [allowed]), lambda permit: kschemas.register_schema(permit, rest, allowed, SCHEMA)
    )
    assert done.version == 1 and done.already_registered is False


def test_connect_changes_check_the_permit(app: Any, gate: Any, http: Any, service_env: ServiceEnv) -> None:
    from core.kafka import connect as kconnect
    from core.kafka import mirror as kmirror
    from core.services.rest import connect_client

    rest = connect_client(app, app.settings.cluster("b"))
    name = unique("guarded")
    for fn, action in [
        (kconnect.pause, "connector.pause"),
        (kconnect.resume, "connector.resume"),
        (kconnect.restart, "connector.restart"),
        (kconnect.delete, "connector.delete"),
    ]:
        with pytest.raises(Refused, match=re.escape(action)):
            gate.perform(_change("connector.put", [name]), lambda permit, fn=fn: fn(permit, rest, name))
    with pytest.raises(Refused, match=r"connector\.put"):
        gate.perform(
            _change("connector.delete", [name]),
            lambda permit: kconnect.put_connector(permit, rest, name, {"connector.class": "x"}),
        )

    # A mirror deployment's permit must name every connector it writes, and allow writing them: refused as a whole
    # before any connector is written.
    source, target = app.settings.cluster("a"), app.settings.cluster("b")
    spec = kmirror.MirrorSpec(source="a", target="b", topics=unique("none"), replication_factor=1)
    names = list(kmirror.connector_names("a", "b").values())
    for change in (
        _change("mirror.deploy", names[:2], implies=["connector.put"]),  # one connector missing
        _change("mirror.deploy", names),  # writing connectors not allowed
    ):
        with pytest.raises(Refused):
            gate.perform(change, lambda permit: kmirror.deploy(permit, rest, spec, source, target))
        for n in names:
            assert _connector_code(http, f"{service_env.connect_url}/connectors/{n}") == 404
