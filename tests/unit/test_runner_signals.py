"""A run through ansible-runner leaves the process's SIGTERM / SIGINT handling as it found it.

ansible-runner installs its own handlers at the first run on the main thread and never restores
them: a long-running `steward execute --watch` or `steward diagnose --watch` then swallowed every
later SIGTERM, and systemd could stop it only with SIGKILL (steward.ansible.runner)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from helpers import REPO, service, write_inventory
from steward.ansible.runner import _signals_cancel_the_run, run_playbook
from steward.state.settings import Settings

PLAY = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: hello}\n"


def test_a_real_run_restores_the_handlers_it_found(tmp_path: Path) -> None:
    inventory = write_inventory(
        tmp_path / "hosts.yml", {"here": [service("x")]}, ansible_connection="local",
        ansible_python_interpreter=sys.executable,
    )  # fmt: skip
    settings = Settings(project_dir=REPO, inventory=inventory, state_dir=tmp_path / "state")
    (tmp_path / "play.yml").write_text(PLAY)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    outcome = run_playbook(settings, tmp_path / "play.yml", tmp_path / "run")
    assert outcome.ok
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_signal_during_a_run_cancels_it_then_reaches_the_old_handler() -> None:
    seen: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda number, frame: seen.append(number))
    try:
        with _signals_cancel_the_run() as cancelled:
            assert cancelled is not None and not cancelled()
            os.kill(os.getpid(), signal.SIGTERM)
            assert cancelled() and seen == []  # the run is cancelled; the process not yet told
        assert seen == [signal.SIGTERM]  # ...and after the run it is, as if the run had not been there
    finally:
        signal.signal(signal.SIGTERM, old)
