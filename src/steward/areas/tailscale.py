"""Tailscale: steward_tailscale {required, expected_peers} versus checks.tailscale (LocalAPI status)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steward.areas.base import ParseContext, shared_check_problem
from steward.core.model import Drift, Problem, Remedy, slug

LOGIN_STATES = {"NeedsLogin", "NeedsMachineAuth"}


@dataclass(frozen=True)
class TailscaleWant:
    required: bool = False
    expected_peers: tuple[str, ...] = ()


class TailscaleArea:
    """steward_tailscale versus checks.tailscale."""

    name = "tailscale"
    check = "tailscale"
    context_vars: tuple[str, ...] = ()
    var = "steward_tailscale"
    deprecated_vars: tuple[str, ...] = ()
    empty: TailscaleWant | None = None
    remedy_modules: tuple[str, ...] = ("ansible.builtin.service", "ansible.builtin.command")
    targets_are_services = False

    def parse(
        self, host: str, value: Any, var: str | None = None, context: ParseContext | None = None
    ) -> tuple[TailscaleWant | None, list[Problem]]:
        var = var or self.var
        if value is None:
            return None, []
        if not isinstance(value, dict):
            return None, [(host, var, f"must be a mapping {{required, expected_peers}}, got {type(value).__name__}")]
        problems: list[Problem] = []
        unknown = sorted(set(value) - {"required", "expected_peers"})
        if unknown:
            problems.append((host, var, f"unknown key(s) {', '.join(unknown)}; allowed: required, expected_peers"))
        required = value.get("required", False)
        if not isinstance(required, bool):
            problems.append((host, f"{var}.required", f"must be true or false, got {required!r}"))
        peers = value.get("expected_peers", [])
        if not isinstance(peers, list) or not all(isinstance(p, str) and p for p in peers):
            problems.append((host, f"{var}.expected_peers", f"must be a list of peer names, got {peers!r}"))
            peers = []
        return TailscaleWant(required=required is True, expected_peers=tuple(peers)), problems

    def drift(self, host: str, want: TailscaleWant | None, check: dict[str, Any]) -> list[Drift]:
        if want is None:
            return []
        status = check.get("status")
        wanted = {"required": want.required, "expected_peers": list(want.expected_peers)}
        if status != "ok":
            if not want.required:
                return []
            if status == "unreachable":  # the socket is there, nobody answers: the daemon is down
                return [
                    Drift(
                        host,
                        "tailscale",
                        "daemon",
                        "daemon_down",
                        f"tailscaled on {host} does not answer on its socket: {check.get('error')}",
                        desired=wanted,
                        observed={"status": status},
                    )
                ]
            return [
                Drift(
                    host,
                    "tailscale",
                    "daemon",
                    str(status),
                    f"Tailscale on {host}: {status}: {check.get('error')}",
                    desired=wanted,
                    observed={"status": status},
                    notice_only=True,
                )
            ]
        out: list[Drift] = []
        state = check.get("backend_state")
        if state != "Running":
            if state == "Stopped":
                out.append(
                    Drift(
                        host,
                        "tailscale",
                        "daemon",
                        "stopped",
                        f"Tailscale on {host} is Stopped (tailscale down)",
                        desired=wanted,
                        observed={"backend_state": state},
                    )
                )
            elif state in LOGIN_STATES:
                out.append(
                    Drift(
                        host,
                        "tailscale",
                        "daemon",
                        "needs_login",
                        f"Tailscale on {host} is {state}: a human must log the node in",
                        desired=wanted,
                        observed={"backend_state": state},
                        notice_only=True,
                    )
                )
            else:
                out.append(
                    Drift(
                        host,
                        "tailscale",
                        "daemon",
                        "not_running",
                        f"Tailscale on {host} is {state}",
                        desired=wanted,
                        observed={"backend_state": state},
                        notice_only=True,
                    )
                )
            return out  # peers mean nothing while the node itself is not on the tailnet
        peers = {p.get("name"): p for p in check.get("peers") or [] if isinstance(p, dict)}
        for name in want.expected_peers:
            peer = peers.get(name)
            if peer is None:
                continue
            if not peer.get("found"):
                out.append(
                    Drift(
                        host,
                        "tailscale",
                        slug(name),
                        "peer_missing",
                        f"peer {name} is not in {host}'s tailnet view",
                        desired=wanted,
                        observed={"found": False},
                        notice_only=True,
                    )
                )
            elif peer.get("online") is False:
                out.append(
                    Drift(
                        host,
                        "tailscale",
                        slug(name),
                        "peer_offline",
                        f"peer {name} is offline as seen from {host} (last seen {peer.get('last_seen')})",
                        desired=wanted,
                        observed={"online": False},
                        notice_only=True,
                    )
                )
        return out

    def remediation(self, d: Drift, want: TailscaleWant | None) -> Remedy | None:
        if d.kind == "daemon_down":
            return Remedy(
                what="restart the tailscaled service",
                modules="ansible.builtin.service",
                tasks=[
                    {
                        "name": "Restart tailscaled",
                        "ansible.builtin.service": {"name": "tailscaled", "state": "restarted"},
                    }
                ],
            )
        if d.kind == "stopped":
            return Remedy(
                what="bring Tailscale back up with `tailscale up` (keeps the node's saved settings; refuses, "
                "rather than resets, if they differ)",
                modules="ansible.builtin.command",
                tasks=[
                    {
                        "name": "Run tailscale up",
                        "ansible.builtin.command": {"argv": ["tailscale", "up"]},
                        "changed_when": True,
                    }
                ],
            )
        return None

    def check_problem(self, check: Any) -> str | None:
        return shared_check_problem(self.name, check)

    def collateral(self, target: str, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        return None

    def sources(self, want: Any) -> tuple[Path, ...]:
        return ()

    def targets(self, want: TailscaleWant | None) -> tuple[str, ...]:
        return () if want is None else ("daemon", *(slug(peer) for peer in want.expected_peers))


AREA = TailscaleArea()
