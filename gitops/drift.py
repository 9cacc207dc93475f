"""Drift: whether the managed resources still match the platform file (a plan that is not saved)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from gitops.model import KINDS, PlatformFile
from gitops.plan import make_plan
from gitops.state import Where

if TYPE_CHECKING:
    from core.app import AppContext


class DriftItem(BaseModel):
    cluster: str
    resource: str
    op: str = Field(description="What a plan would do about it: create, update or delete.")
    diff: list[str]


class DriftReport(BaseModel):
    in_sync: bool
    items: list[DriftItem] = Field(default_factory=list)
    by_kind: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="cluster -> kind -> resources that differ from the file."
    )


def drift(
    app: AppContext,
    platform: PlatformFile,
    where: Where,
    *,
    sections: list[str] | None = None,
    target: str | None = None,
) -> DriftReport:
    plan = make_plan(app, platform, where, sections=sections, target=target)
    items = [DriftItem(cluster=cp.cluster, resource=s.resource, op=s.op, diff=s.diff) for cp, s in plan.steps()]
    by_kind: dict[str, dict[str, int]] = {}
    for cp in plan.clusters:
        counts = dict.fromkeys(KINDS, 0)
        for resource in {s.resource for s in cp.steps}:
            counts[resource.split("/", 1)[0]] += 1
        by_kind[cp.cluster] = counts
    return DriftReport(in_sync=not items, items=items, by_kind=by_kind)


def drift_check(app: AppContext, path: Path) -> Callable[[str], dict[str, int] | None]:
    """The exporter's drift section: for a cluster the file has a section for, its resources that differ, per kind.
    The file is read again on every scrape (a `git pull` shows up at the next one)."""
    from gitops import files

    def check(cluster: str) -> dict[str, int] | None:
        platform, where, _git = files.load(path)
        if cluster not in platform.clusters:
            return None
        return drift(app, platform, where, sections=[cluster]).by_kind[cluster]

    return check
