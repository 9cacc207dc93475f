"""Reference texts a model reads when it needs them, offered as MCP resources (see ``mcp_server.resources``).

    kafka-agent://reference/<name>   a text registered by code with ``reference(name, title, text)``, or the markdown
                                     file prompts/reference/<name>.md
    kafka-agent://runbooks/<name>    a runbook shipped with the server: prompts/runbooks/<name>.md

A tool whose description would otherwise carry a long text (a grammar, templates, rule texts) registers it here, at
import or registration time, and cites the URI ``reference()`` returns; the text then costs nothing in ``tools/list``.
A text can be a function, made when it is read (e.g. generated from the code's own tables).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import NotFound

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
MARKDOWN = "text/markdown"
_REFERENCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Reference:
    name: str
    title: str
    description: str
    text: str | Callable[[], str]
    mime_type: str = MARKDOWN
    kind: str = "reference"  # or "runbooks" (shipped runbooks)

    @property
    def uri(self) -> str:
        return f"kafka-agent://{self.kind}/{self.name}"

    def read(self) -> str:
        return self.text() if callable(self.text) else self.text


# Reference texts registered by code, by name. Module-level because the texts are part of the code, like the tools.
_REFERENCES: dict[str, Reference] = {}
_REFERENCES_LOCK = threading.Lock()


def reference_uri(name: str) -> str:
    return f"kafka-agent://reference/{name}"


def reference(
    name: str,
    title: str,
    text: str | Callable[[], str],
    *,
    description: str | None = None,
    mime_type: str = MARKDOWN,
) -> str:
    """Offer ``text`` (or what ``text()`` returns when read) as the resource ``kafka-agent://reference/<name>``;
    returns that URI, to cite in a tool description. Registering a name again replaces its text."""
    if not _REFERENCE_NAME.match(name):
        raise ValueError(f"reference name {name!r} must be a lowercase slug (letters, digits, '-')")
    summary = description or (title if callable(text) else _first_sentence(text) or title)
    with _REFERENCES_LOCK:
        _REFERENCES[name] = Reference(name, title, summary, text, mime_type)
    return reference_uri(name)


def references() -> dict[str, Reference]:
    """Every reference text: the registered ones, and the markdown files in prompts/reference/."""
    out = {r.name: r for r in _files("reference")}
    with _REFERENCES_LOCK:
        out.update(_REFERENCES)
    return out


def reference_text(name: str) -> str:
    """The text of one reference (for a tool that hands it to a model that cannot read resources)."""
    found = references().get(name)
    if found is None:
        raise NotFound(f"No reference text {name!r}.", hint=f"Known: {', '.join(sorted(references())) or 'none'}.")
    return found.read()


def runbooks() -> dict[str, Reference]:
    """The runbooks shipped with the server: prompts/runbooks/<name>.md."""
    return {r.name: r for r in _files("runbooks")}


def _files(folder: str) -> list[Reference]:
    """The markdown files of prompts/<folder>/: the title is the first heading, the description its first sentence."""
    out = []
    for path in sorted((PROMPTS_DIR / folder).glob("*.md")):
        if not _REFERENCE_NAME.match(path.stem):
            continue
        text = path.read_text(encoding="utf-8")
        heading = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), path.stem)
        out.append(Reference(path.stem, heading, _first_sentence(text) or heading, text, kind=folder))
    return out


def _first_sentence(text: str) -> str:
    """The first sentence of the first paragraph that is not a heading (a resource's description)."""
    for raw in re.split(r"\n\s*\n", text):
        block = " ".join(raw.split())
        if block and not block.startswith(("#", "---", "```", "|", "-")):
            end = re.search(r"(?<=[.!?])\s", block)
            return (block[: end.start()] if end else block)[:200]
    return ""
