"""Disk headroom: steward_disk (mount -> max used %) versus checks.disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steward.areas.base import ParseContext, shared_check_problem
from steward.core.model import Drift, Problem, Remedy, could_not_look, slug


@dataclass(frozen=True)
class DiskRule:
    path: str
    max_used_pct: int | None = None
    max_inodes_pct: int | None = None


def _pct(problems: list[Problem], host: str, var: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100:
        problems.append((host, var, f"must be a whole percentage between 1 and 100, got {value!r}"))
        return None
    return value


class DiskArea:
    """steward_disk versus checks.disk."""

    name = "disk"
    check = "disk"
    context_vars: tuple[str, ...] = ()
    var = "steward_disk"
    deprecated_vars: tuple[str, ...] = ()
    empty: tuple[DiskRule, ...] = ()
    remedy_modules: tuple[str, ...] = ("community.docker.docker_prune",)
    targets_are_services = False

    def parse(
        self, host: str, value: Any, var: str | None = None, context: ParseContext | None = None
    ) -> tuple[tuple[DiskRule, ...], list[Problem]]:
        var = var or self.var
        problems: list[Problem] = []
        if value is None:
            return (), problems
        if not isinstance(value, dict):
            return (), [(host, var, f"must be a mapping of mount path to max used %, got {type(value).__name__}")]
        rules = []
        for path, spec in value.items():
            where = f"{var}[{path!r}]"
            if not isinstance(path, str) or not path.startswith("/"):
                problems.append((host, where, "the key must be an absolute mount path"))
                continue
            if isinstance(spec, dict):
                unknown = sorted(set(spec) - {"max_used_pct", "max_inodes_pct"})
                if unknown:
                    problems.append(
                        (host, where, f"unknown key(s) {', '.join(unknown)}; allowed: max_used_pct, max_inodes_pct")
                    )
                rules.append(
                    DiskRule(
                        path,
                        _pct(problems, host, f"{where}.max_used_pct", spec.get("max_used_pct")),
                        _pct(problems, host, f"{where}.max_inodes_pct", spec.get("max_inodes_pct")),
                    )
                )
            else:
                rules.append(DiskRule(path, _pct(problems, host, where, spec)))
        return tuple(rules), problems

    def drift(self, host: str, want: tuple[DiskRule, ...], check: dict[str, Any]) -> list[Drift]:
        if check.get("status") != "ok":
            return [could_not_look(host, "disk", "-", check, "disk check")]
        seen = {m.get("path"): m for m in check.get("mounts") or [] if isinstance(m, dict)}
        out: list[Drift] = []
        for rule in want:
            mount = seen.get(rule.path)
            if mount is None:
                continue  # not looked at this time
            target = slug(rule.path)
            wanted = {"path": rule.path, "max_used_pct": rule.max_used_pct, "max_inodes_pct": rule.max_inodes_pct}
            if mount.get("present") is None:  # the node could not look (hung mount, permission): not "missing"
                out.append(
                    Drift(
                        host,
                        "disk",
                        target,
                        "no_answer",
                        f"{rule.path} on {host} could not be examined: {mount.get('error')}",
                        desired=wanted,
                        observed={"present": None},
                        notice_only=True,
                        also_called=(rule.path,),
                    )
                )
                continue
            if mount.get("present") is False:
                out.append(
                    Drift(
                        host,
                        "disk",
                        target,
                        "missing",
                        f"{rule.path} is not there on {host}: {mount.get('error')}",
                        desired=wanted,
                        observed={"present": False},
                        notice_only=True,
                        also_called=(rule.path,),
                    )
                )
                continue
            if mount.get("read_only"):
                out.append(
                    Drift(
                        host,
                        "disk",
                        target,
                        "read_only",
                        f"{rule.path} on {host} is mounted read-only",
                        desired=wanted,
                        observed={"read_only": True},
                        notice_only=True,
                        also_called=(rule.path,),
                    )
                )
            used = mount.get("used_pct")
            if rule.max_used_pct is not None and isinstance(used, int | float) and used > rule.max_used_pct:
                # evidence: over the line, not the exact figure, so the plan stays valid while usage wiggles
                out.append(
                    Drift(
                        host,
                        "disk",
                        target,
                        "over_threshold",
                        f"{rule.path} on {host} is {used} % used (limit {rule.max_used_pct} %)",
                        desired=wanted,
                        observed={"over_threshold": True},
                        also_called=(rule.path,),
                    )
                )
            inodes = mount.get("inodes_used_pct")
            if rule.max_inodes_pct is not None and isinstance(inodes, int | float) and inodes > rule.max_inodes_pct:
                out.append(
                    Drift(
                        host,
                        "disk",
                        target,
                        "inodes_over_threshold",
                        f"{rule.path} on {host} uses {inodes} % of its inodes (limit {rule.max_inodes_pct} %)",
                        desired=wanted,
                        observed={"inodes_over_threshold": True},
                        notice_only=True,
                        also_called=(rule.path,),
                    )
                )
        return out

    def remediation(self, d: Drift, want: tuple[DiskRule, ...]) -> Remedy | None:
        if d.kind != "over_threshold":
            return None
        return Remedy(
            what="free space: remove dangling Docker images and build cache (if that is not enough, a human must look)",
            modules="community.docker.docker_prune",
            tasks=[
                {
                    "name": "Remove dangling images and the build cache",
                    "community.docker.docker_prune": {
                        "images": True,
                        "images_filters": {"dangling": True},
                        "builder_cache": True,
                        "docker_host": "{{ steward_docker_host | default(omit) }}",
                    },
                }
            ],
        )

    def check_problem(self, check: Any) -> str | None:
        return shared_check_problem(self.name, check)

    def collateral(self, target: str, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        return None

    def sources(self, want: Any) -> tuple[Path, ...]:
        return ()

    def targets(self, want: tuple[DiskRule, ...]) -> tuple[str, ...]:
        return tuple(slug(rule.path) for rule in want)


AREA = DiskArea()
