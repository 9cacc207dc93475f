"""The Git side of a platform file: which commit a plan was made from, whether the file has uncommitted changes,
and committing an exported file (``git`` itself, run in the file's folder)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pydantic import BaseModel, Field

from core.errors import Conflict


class GitInfo(BaseModel):
    toplevel: str = Field(description="The work tree's root.")
    commit: str | None = Field(description="HEAD when planned (None in a repository without commits).")
    path: str = Field(description="The file, relative to the work tree.")
    dirty: bool = Field(description="The file (or a schema file it names) differs from HEAD or is untracked.")


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30, check=False)


def info(file: Path, extra: list[Path] | None = None) -> GitInfo | None:
    """Where ``file`` stands in its Git work tree; None outside one (or without git)."""
    folder = file.resolve().parent
    try:
        top = _git(folder, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    if top.returncode != 0:
        return None
    root = Path(top.stdout.strip())
    head = _git(folder, "rev-parse", "--verify", "-q", "HEAD")
    paths = [str(p.resolve().relative_to(root)) for p in [file, *(extra or [])] if p.resolve().is_relative_to(root)]
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths)
    return GitInfo(
        toplevel=str(root),
        commit=head.stdout.strip() or None if head.returncode == 0 else None,
        path=paths[0] if paths else file.name,
        dirty=bool(status.stdout.strip()),
    )


def commit(files: list[Path], message: str) -> str:
    """Stage ``files`` and commit them (only them); returns the new commit. ``Conflict`` outside a work tree."""
    folder = files[0].resolve().parent
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise Conflict(
            f"{folder} is not inside a Git work tree, so there is nothing to commit to.",
            hint="Run `git init` there first, or export without --commit.",
        )
    root = Path(top.stdout.strip())
    rel = [str(f.resolve().relative_to(root)) for f in files]
    added = _git(root, "add", "--", *rel)
    if added.returncode != 0:
        raise Conflict(f"git add failed: {added.stderr.strip()}")
    staged = _git(root, "diff", "--cached", "--quiet", "--", *rel)
    if staged.returncode == 0:
        head = _git(root, "rev-parse", "HEAD")
        return head.stdout.strip()  # nothing changed since the last export
    done = _git(root, "commit", "-m", message, "--", *rel)
    if done.returncode != 0:
        raise Conflict(
            f"git commit failed: {(done.stderr or done.stdout).strip()[:500]}",
            hint="Set your identity (git config user.name / user.email) and try again.",
        )
    return _git(root, "rev-parse", "HEAD").stdout.strip()
