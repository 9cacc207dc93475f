"""Reading platform files and saving plans: where relative paths start, the Git state, the plan folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.errors import InvalidArgument, NotFound
from gitops import gitinfo
from gitops.gitinfo import GitInfo
from gitops.model import PlatformFile, parse
from gitops.plan import Plan
from gitops.state import Where

_PLAN_ID = re.compile(r"^plan-[0-9]{14}-[0-9a-f]{8}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml$")


def load(path: Path) -> tuple[PlatformFile, Where, GitInfo | None]:
    """The file, where its relative paths start, and its Git state (schema files included)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"Cannot read the platform file {path}: {exc.strerror}.") from None
    platform = parse(text, where=str(path))
    base = path.resolve().parent
    schema_files = [base / s.file for c in platform.clusters.values() for s in c.schemas.values() if s.file]
    return platform, Where(base), gitinfo.info(path, schema_files)


def save_plan(plan: Plan, path: Path) -> Path:
    """Write the plan (owner-only: it names resources, never secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(plan.model_dump_json(indent=2))
    return path


def load_plan(path: Path) -> Plan:
    try:
        return Plan.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NotFound(
            f"Cannot read the plan {path}: {exc.strerror}.", hint="Make one with `kafka-agent plan --out`."
        ) from None
    except ValueError:
        raise InvalidArgument(f"{path} is not a plan written by `kafka-agent plan --out`.") from None


# --- the platform folder (the MCP tools read and write only here) ---------------------------------------------------


def plan_path(folder: Path, plan_id: str) -> Path:
    if not _PLAN_ID.match(plan_id):
        raise InvalidArgument(f"{plan_id!r} is not a plan id.", hint="Use the plan_id kafka_plan returned.")
    path = folder / "plans" / f"{plan_id}.json"
    if not path.exists():
        raise NotFound(f"No saved plan {plan_id!r}.", hint="Make one with kafka_plan.")
    return path


def file_in(folder: Path, name: str) -> Path:
    """A platform file of the folder by its name (no paths: the tools never leave the folder)."""
    if not _FILE_NAME.match(name):
        raise InvalidArgument(
            f"{name!r} is not a platform file name.", hint="Use a plain name ending in .yaml, e.g. events.yaml."
        )
    return folder / name
