"""Every ansible run Steward starts goes through ansible_runner, with an event handler.

Artifacts stay in the run's private data dir; stdout is never parsed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from steward.core.atomic import make_dir
from steward.state.settings import Settings

log = logging.getLogger("steward")


@dataclass
class RunOutcome:
    status: str  # successful | failed | timeout | canceled
    rc: int
    private_data_dir: str
    hosts: dict[str, dict[str, int]] = field(default_factory=dict)  # ok/changed/failures/unreachable per host
    tasks: list[dict[str, Any]] = field(default_factory=list)  # one per task result
    cycle: str | None = None  # observe runs: the cycle id every world file of this run carries
    # observe runs: the world document node_observe returned per host (what this run saw, whatever
    # another run wrote to world/<host>.json since)
    worlds: dict[str, dict[str, Any]] = field(default_factory=dict)
    # docker_compose_v2 results: the actions Compose took (or, in check mode, would take)
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


NODE_OBSERVE = {"homelab.steward.node_observe", "node_observe"}
COMPOSE = {"community.docker.docker_compose_v2", "docker_compose_v2"}
RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


def _set_aside_env_files(private_data_dir: Path) -> None:
    """...and reads none: an env/ folder found here (an older version's, or planted) is moved aside.

    ansible-runner reads env/envvars, env/extravars, env/settings, env/cmdline, env/passwords and
    env/ssh_key from the private data dir on every run; a planted file there would configure every
    later run (a vars plugin path, extra vars, ssh options). Steward passes everything as arguments.
    """
    env = private_data_dir / "env"
    if os.path.lexists(env):
        aside = private_data_dir / f"env.set-aside-{time.time_ns()}"
        os.rename(env, aside)
        log.warning("%s held ansible-runner env files; moved to %s, not used", env, aside)


def run_playbook(
    settings: Settings,
    playbook: Path,
    private_data_dir: Path,
    limit: str | None = None,
    extravars: dict[str, Any] | None = None,
    rotate_artifacts: int = 0,
) -> RunOutcome:
    tasks: list[dict[str, Any]] = []
    stats: dict[str, dict[str, int]] = {}
    worlds: dict[str, dict[str, Any]] = {}
    actions: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> bool:
        kind = RESULT_EVENTS.get(event.get("event", ""))
        data = event.get("event_data", {})
        if kind:
            res = data.get("res", {}) if isinstance(data.get("res"), dict) else {}
            tasks.append(
                {
                    "host": data.get("host"),
                    "task": data.get("task"),
                    "result": kind,
                    "changed": bool(res.get("changed")),
                    "msg": res.get("msg"),
                }
            )
            if kind == "ok" and data.get("task_action") in NODE_OBSERVE and isinstance(res.get("world"), dict):
                worlds[str(data.get("host"))] = res["world"]
            if kind == "ok" and data.get("task_action") in COMPOSE and isinstance(res.get("actions"), list):
                actions.extend(a for a in res["actions"] if isinstance(a, dict))
        elif event.get("event") == "playbook_on_stats":
            for counter in ("ok", "changed", "failures", "unreachable", "skipped"):
                for host, n in (data.get(counter) or {}).items():
                    stats.setdefault(host, {})[counter] = n
        return True

    make_dir(private_data_dir)
    _set_aside_env_files(private_data_dir)
    with _signals_cancel_the_run() as cancelled:
        result = _run(settings, playbook, private_data_dir, limit, extravars, rotate_artifacts, on_event, cancelled)
    return RunOutcome(
        status=result.status,
        rc=result.rc,
        private_data_dir=str(private_data_dir),
        hosts=stats,
        tasks=tasks,
        worlds=worlds,
        actions=actions,
    )


@contextlib.contextmanager
def _signals_cancel_the_run() -> Iterator[Callable[[], bool] | None]:
    """SIGTERM / SIGINT during a run cancel it (ansible-runner's cancel callback), then act as before.

    Left alone, ansible-runner installs its own handlers on the main thread at the first run and
    never restores them: every later SIGTERM or Ctrl-C of a long-running process (`execute
    --watch`, `diagnose --watch`) would be swallowed, and systemd could only stop it with SIGKILL.
    Here the handlers are Steward's for the run's duration and the previous ones come back after
    it; a signal caught meanwhile is raised again then, so the process stops as it was asked to
    (the run itself was cancelled first)."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # no signal reaches a worker thread; and ansible-runner installs nothing
        return
    caught: list[int] = []
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}

    def note(number: int, frame: Any) -> None:
        caught.append(number)

    for number in previous:
        signal.signal(number, note)
    try:
        yield lambda: bool(caught)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if caught:
        signal.raise_signal(caught[0])


def _run(
    settings: Settings,
    playbook: Path,
    private_data_dir: Path,
    limit: str | None,
    extravars: dict[str, Any] | None,
    rotate_artifacts: int,
    on_event: Callable[[dict[str, Any]], bool],
    cancelled: Callable[[], bool] | None,
) -> Any:
    return ansible_runner.run(
        private_data_dir=str(private_data_dir),
        project_dir=str(settings.project_dir),
        playbook=str(playbook),
        inventory=str(settings.inventory),
        limit=limit,
        extravars=extravars or {},
        envvars=settings.ansible_env,
        event_handler=on_event,
        quiet=True,
        rotate_artifacts=rotate_artifacts,
        # nothing of one run may configure the next: ansible-runner writes no env/ files...
        suppress_env_files=True,
        cancel_callback=cancelled,
    )
