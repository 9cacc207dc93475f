"""A cache of the ``tools/list`` answer, so a freshly spawned server lists its tools without building every schema.

The key covers every Python file the tool schemas can come from (path, size, mtime) and the MCP SDK's version: any
change to the code rebuilds it. The tool kinds (read/write/destructive) and toolsets are cached with it, for the
read-only and toolset filters.
A missing, stale or unreadable cache is simply rebuilt; it is never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mcp_types import Tool as MCPTool

from core.settings import Settings

log = logging.getLogger("kafka_agent.tools")

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("mcp_server", "memory", "agent", "core", "streams")


def _key() -> str:
    digest = hashlib.sha256(version("mcp").encode())
    for package in SOURCES:
        for folder, _dirs, files in sorted(os.walk(ROOT / package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(folder, name))
                    digest.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _path(settings: Settings) -> Path:
    return settings.data_dir / "cache" / "tools-list.json"


def load(settings: Settings) -> list[MCPTool] | None:
    from mcp_server.tools._base import TOOL_KINDS, TOOL_TOOLSETS

    try:
        data = json.loads(_path(settings).read_text(encoding="utf-8"))
        if data.get("key") != _key():
            return None
        tools = [MCPTool.model_validate(t) for t in data["tools"]]
        TOOL_KINDS.update({k: v for k, v in data["kinds"].items() if k not in TOOL_KINDS})
        TOOL_TOOLSETS.update({k: v for k, v in data["toolsets"].items() if k not in TOOL_TOOLSETS})
        return tools
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(settings: Settings, tools: list[MCPTool], kinds: dict[str, Any], toolsets: dict[str, str]) -> None:
    path = _path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "key": _key(),
            "kinds": dict(kinds),
            "toolsets": dict(toolsets),
            "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools],
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.info("tools/list cache not written (%s); the next start builds the schemas again", exc)
