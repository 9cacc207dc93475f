"""The seed's slash commands as MCP prompts: ``/kafka-topic``, ``/kafka-stream``, ``/ksql-query`` ... (17 in all).

Each command is a markdown file in ``prompts/commands/<name>.md``: YAML front matter (title, description, the
arguments with how each is checked and completed) and a Jinja2 body that states the task in the command's terms and
the plan -> validate -> execute -> verify -> document steps with the tools to use. A rendered prompt ends with what the
session needs to know to follow it: the tools it names that this session is not offered (their toolsets), and how
changes are confirmed.

The files are read on the first ``prompts/list`` or ``prompts/get``, never at start-up. Arguments are strict like tool
arguments: an unknown one is refused by name, numbers and choices are checked, and a ``cluster`` must be configured.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mcp.server.mcpserver.prompts import Prompt, PromptManager
from mcp.server.mcpserver.prompts.base import Message, UserMessage
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, InputRequiredResult
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context, MCPServer

COMMANDS_DIR = Path(__file__).resolve().parent.parent / "prompts" / "commands"

# What a prompt argument is completed from (mcp_server.resources.complete): live names from the cluster, or its choices.
LiveKind = Literal["cluster", "topic", "group", "connector", "stream", "subject"]

MAX_VALUE = 4000  # characters of one argument value (a schema text fits)
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,40}$")
_ARG = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
# Tool-like names in a prompt's text (the same pattern the agent's prompt test uses).
TOOL_NAME = re.compile(r"\b(?:kafka|memory|agent)_[a-z0-9_]+\b|\bvector_search\b")


class Argument(BaseModel):
    """One argument of a command, as its front matter declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=_ARG.pattern)
    description: str = Field(min_length=1, max_length=300)
    required: bool = False
    type: Literal["text", "integer", "boolean"] = "text"
    minimum: int | None = Field(None, alias="min")
    maximum: int | None = Field(None, alias="max")
    choices: tuple[str, ...] = ()
    complete: LiveKind | None = None
    multiple: bool = Field(False, description="A comma-separated list: each item is checked and completed.")

    def parse(self, raw: str) -> str | int | bool:
        """The value as the body sees it, or a readable error for the caller."""
        value = raw.strip()
        if not value:
            raise _invalid(f"{self.name} is empty: give a value or leave the argument out.")
        if len(value) > MAX_VALUE:
            raise _invalid(f"{self.name} is longer than {MAX_VALUE} characters.")
        if self.type == "integer":
            try:
                number = int(value.replace("_", ""))
            except ValueError:
                raise _invalid(f"{self.name} must be a whole number, not {value[:40]!r}.") from None
            if self.minimum is not None and number < self.minimum:
                raise _invalid(f"{self.name} must be at least {self.minimum}, not {number}.")
            if self.maximum is not None and number > self.maximum:
                raise _invalid(f"{self.name} must be at most {self.maximum}, not {number}.")
            return number
        if self.type == "boolean":
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise _invalid(f"{self.name} must be true or false, not {value[:40]!r}.")
        if self.choices:
            items = [v.strip() for v in value.split(",")] if self.multiple else [value]
            chosen = [self._choice(item) for item in items if item]
            return ", ".join(chosen)
        return value

    def _choice(self, value: str) -> str:
        for choice in self.choices:
            if choice.lower() == value.lower():
                return choice
        raise _invalid(f"{self.name} must be one of {', '.join(self.choices)}, not {value[:40]!r}.")


class Command(BaseModel):
    """One slash command: its front matter and its body (a Jinja2 template)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME.pattern)
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=200)
    arguments: tuple[Argument, ...] = ()
    body: str

    @model_validator(mode="after")
    def _unique_arguments(self) -> Command:
        names = [a.name for a in self.arguments]
        if len(names) != len(set(names)):
            raise ValueError(f"command {self.name}: an argument is declared twice")
        return self

    def argument(self, name: str) -> Argument | None:
        return next((a for a in self.arguments if a.name == name), None)

    def tools(self) -> list[str]:
        """The tool names the body mentions, in order of first mention."""
        return list(dict.fromkeys(TOOL_NAME.findall(self.body)))


def parse_command(name: str, text: str) -> Command:
    """A command from its markdown file's text: ``---`` YAML front matter ``---`` then the body."""
    import yaml

    match = re.match(r"\A---\n(.*?)\n---\n(.*)\Z", text, re.DOTALL)
    if match is None:
        raise ValueError(f"prompts/commands/{name}.md: no front matter between --- lines")
    meta = yaml.safe_load(match.group(1)) or {}
    if not isinstance(meta, dict):
        raise ValueError(f"prompts/commands/{name}.md: the front matter is not a mapping")
    return Command.model_validate({**meta, "name": name, "body": match.group(2).strip() + "\n"})


@functools.cache
def commands(folder: Path = COMMANDS_DIR) -> dict[str, Command]:
    """Every command in ``folder``, by name (read once per process)."""
    return {p.stem: parse_command(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.md"))}


def slug(value: object) -> str:
    """A memory-key slug of any text: lowercase letters and digits joined by '-'."""
    text = re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")
    return text[:63].strip("-") or "x"


@functools.cache
def _template(body: str) -> Any:
    """A command's body compiled once. Sandboxed: the values are the caller's text, rendered as data only."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["slug"] = slug
    return env.from_string(body)


def render(command: Command, values: dict[str, Any], *, cluster: str, profile: str) -> str:
    """The body with the arguments filled in. ``values`` holds every declared argument (None when not given)."""
    from core.kafka.health import PROFILE_DURABILITY

    environment = values.get("environment")
    env_profile = environment if environment in PROFILE_DURABILITY else profile
    profile_rf, profile_min_isr = PROFILE_DURABILITY.get(profile, (1, 1))
    env_rf, env_min_isr = PROFILE_DURABILITY.get(env_profile, (profile_rf, profile_min_isr))

    def memkey(type_: str, name: object = None) -> str:
        key = f"kafka-streaming-agent/{slug(cluster)}/{type_}"
        return f"{key}/{slug(name)}" if name else key

    def reference(name: str) -> str | None:
        """The URI of a reference text the server offers, else None (the body mentions only what exists)."""
        from mcp_server.references import references

        found = references().get(name)
        return found.uri if found is not None else None

    variables = {
        **values,
        "reference": reference,
        "cluster": cluster,
        "profile": profile,
        "profile_rf": profile_rf,
        "profile_min_isr": profile_min_isr,
        "env_rf": env_rf,
        "env_min_isr": env_min_isr,
        "memkey": memkey,
    }
    text = _template(command.body).render(**variables)
    # A block tag alone on an indented line leaves spaces behind: drop such lines (a blank line of the file is empty).
    text = "\n".join(line.rstrip() for line in text.splitlines() if line == "" or line.strip())
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def check_arguments(command: Command, arguments: dict[str, Any] | None, clusters: list[str]) -> dict[str, Any]:
    """Every declared argument's value (None when not given); unknown, missing and invalid ones are refused."""
    given = {k: v for k, v in (arguments or {}).items() if v is not None and str(v).strip() != ""}
    unknown = sorted(set(given) - {a.name for a in command.arguments})
    if unknown:
        takes = ", ".join(a.name for a in command.arguments)
        raise _invalid(f"/{command.name} has no argument {', '.join(unknown)}; it takes: {takes}.")
    missing = [a for a in command.arguments if a.required and a.name not in given]
    if missing:
        need = "; ".join(f"{a.name} ({a.description})" for a in missing)
        raise _invalid(f"/{command.name} needs {need}")
    values: dict[str, Any] = {}
    for arg in command.arguments:
        values[arg.name] = arg.parse(str(given[arg.name])) if arg.name in given else None
        if arg.complete == "cluster" and values[arg.name] is not None and values[arg.name] not in clusters:
            raise _invalid(
                f"{arg.name} {values[arg.name]!r} is not a configured cluster; configured: {', '.join(clusters)}."
            )
    return values


class CommandPrompt(Prompt):
    """A prompt rendered from a :class:`Command` (the SDK's function-based prompt, with our own arguments)."""

    command: Command

    @classmethod
    def of(cls, command: Command) -> CommandPrompt:
        from mcp.server.mcpserver.prompts.base import PromptArgument

        return cls(
            name=command.name,
            title=command.title,
            description=command.description,
            arguments=[
                PromptArgument(name=a.name, description=a.description, required=a.required) for a in command.arguments
            ],
            fn=_never_called,
            command=command,
        )

    async def render(
        self, arguments: dict[str, Any] | None, context: Context[Any, Any]
    ) -> list[Message] | InputRequiredResult:
        server: Any = context.mcp_server
        settings = server.agent_settings
        clusters = list(settings.clusters())
        values = check_arguments(self.command, arguments, clusters)
        cfg = settings.cluster(values.get("cluster"))
        if hasattr(server, "ensure_tools"):
            server.ensure_tools()  # tool modules register their reference texts as they load
        text = render(self.command, values, cluster=cfg.name, profile=cfg.profile)
        return [UserMessage(text + footer(self.command, server, context))]


def footer(command: Command, server: Any, context: Context[Any, Any]) -> str:
    """What the session needs to follow the steps: named tools it is not offered, and how changes are confirmed."""
    lines = [
        "",
        "Changes are checked against the cluster's policies first. Destructive ones (deleting, resetting offsets) "
        "answer with a preview and need the user's confirmation: show the preview and ask before confirming.",
    ]
    refused, missing = _not_offered(command.tools(), server, context)
    if refused:
        lines.append(
            f"This server does not allow {', '.join(refused)} (read-only mode or its tool allow/deny list): where a "
            "step needs them, tell the user the change to make instead of making it."
        )
    if missing:
        named = "; ".join(f"{', '.join(tools)} (toolset {toolset})" for toolset, tools in sorted(missing.items()))
        if getattr(server.agent_settings, "dynamic_toolsets", False):
            how = "enable their toolsets with kafka_enable_toolset"
        else:
            now = getattr(server.agent_settings, "toolsets", None) or "default"
            how = f"start the server with --toolsets {now}," + ",".join(f"+{t}" for t in sorted(missing))
        lines.append(f"Tools named above that this session is not offered: {named}. To use them, {how}.")
    return "\n".join(lines) + "\n"


def _not_offered(names: list[str], server: Any, context: Context[Any, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The named tools this server refuses (read-only mode, allow/deny lists), and those outside this session's
    toolset selection, by toolset (none when the server has no toolsets)."""
    from mcp_server.tools._base import TOOL_KINDS, TOOL_TOOLSETS

    gate = getattr(getattr(context.request_context, "lifespan_context", None), "gate", None)
    refused = [
        n
        for n in names
        if gate is not None and n in TOOL_KINDS and not gate.tool_visible(n, mutating=TOOL_KINDS[n] != "read")
    ]
    selected = getattr(server, "selected", None)
    if selected is None:
        return refused, {}
    session = None
    if getattr(server.agent_settings, "dynamic_toolsets", False):
        from mcp_server.consent import requester_from

        session = requester_from(context.request_context, server).id
    offered: set[str] = selected(session)
    out: dict[str, list[str]] = {}
    for name in names:
        if name not in offered and name not in refused and name in TOOL_TOOLSETS:
            out.setdefault(TOOL_TOOLSETS[name], []).append(name)
    return refused, out


class CommandPrompts(PromptManager):
    """The server's prompt manager: the commands are read on first use, so start-up does not pay for them."""

    def __init__(self, folder: Path = COMMANDS_DIR) -> None:
        super().__init__(warn_on_duplicate_prompts=True)
        self._folder = folder
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for command in commands(self._folder).values():
                super().add_prompt(CommandPrompt.of(command))
            self._loaded = True

    def get_prompt(self, name: str) -> Prompt | None:
        self._load()
        found = super().get_prompt(name)
        if found is None:  # an invalid-params error naming what exists (the SDK would answer with error code 0)
            names = ", ".join(sorted(self._prompts))
            raise _invalid(f"Unknown prompt {name[:80]!r}; this server's prompts are: {names}.")
        return found

    def list_prompts(self) -> list[Prompt]:
        self._load()
        return super().list_prompts()

    def add_prompt(self, prompt: Prompt) -> Prompt:
        self._load()
        return super().add_prompt(prompt)


def register(server: MCPServer[Any]) -> None:
    """Offer the commands as prompts (read lazily)."""
    server._prompt_manager = CommandPrompts()


def _never_called(**_: Any) -> str:  # CommandPrompt.render does the work
    raise AssertionError("CommandPrompt renders itself")


def _invalid(message: str) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=message)
