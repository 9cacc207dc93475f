"""The system prompts: ours in ``prompts/kafka_streaming_agent.md`` and the peers' in ``prompts/peers/<peer>.md``."""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import InvalidArgument

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
MAIN_AGENT = "kafka-streaming-agent"
_PEER = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Tool-like names in a prompt: the test compares these with what the server and the agent really offer.
TOOL_NAME = re.compile(r"\b(?:kafka|memory|agent)_[a-z0-9_]+\b|\bvector_search\b")


def main_prompt() -> str:
    return (PROMPTS_DIR / "kafka_streaming_agent.md").read_text(encoding="utf-8")


def peers() -> list[str]:
    return sorted(p.stem for p in (PROMPTS_DIR / "peers").glob("*.md"))


def peer_prompt(peer: str) -> str:
    if not _PEER.match(peer) or peer not in peers():
        raise InvalidArgument(f"Unknown peer agent {peer!r}.", hint=f"Known peers: {', '.join(peers())}.")
    return (PROMPTS_DIR / "peers" / f"{peer}.md").read_text(encoding="utf-8")


def tool_names_in(text: str) -> set[str]:
    return set(TOOL_NAME.findall(text))
