"""A read-only look at one container on its host: homelab.steward.container_logs_info, run by ansible-runner.

The play is fixed text (LOOK_PLAY); the host comes from the signed ledger entry (--limit) and
the container name - a NAME_RE name from the drift key - and the line count arrive as extra
vars. The task runs in check mode as well: the module only reads, and says so twice.

The module's result is read back from ansible-runner's job events in the run's artifacts,
then the run's folder is removed: the raw lines (env values already scrubbed on the node, other
secrets not yet) are not left in the state folder; the redacted request is kept instead.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from steward.ansible.runner import run_playbook
from steward.core.atomic import atomic_write_text, make_dir
from steward.core.model import NAME_RE
from steward.diagnose.errors import Unavailable
from steward.state.settings import Settings

MODULE = "homelab.steward.container_logs_info"
LOOK_PLAY = f"""---
# Written by steward.diagnose.look: a read-only look at one container for a diagnosis.
- name: Read one container's exit state and last log lines
  hosts: all
  gather_facts: false
  tasks:
    - name: Read the container's exit state and last log lines
      {MODULE}:
        name: "{{{{ steward_diagnose_container }}}}"
        docker_host: "{{{{ steward_docker_host | default(omit) }}}}"
        lines: "{{{{ steward_diagnose_lines }}}}"
      check_mode: true
"""

# (settings, host, container, lines) -> the module's `container_logs` result, or Unavailable(reason)
ContainerLook = Callable[[Settings, str, str, int], dict[str, Any]]


def _module_result(private_data_dir: Path, host: str) -> dict[str, Any] | None:
    """The last result of the module for `host` among the run's job events."""
    found: dict[str, Any] | None = None
    for path in sorted(private_data_dir.glob("artifacts/*/job_events/*.json"), key=lambda p: p.stat().st_mtime_ns):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data = event.get("event_data") or {}
        if data.get("host") != host or data.get("task_action") not in (MODULE, "container_logs_info"):
            continue
        res: dict[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
        if event.get("event") == "runner_on_ok" and isinstance(res.get("container_logs"), dict):
            found = res["container_logs"]
        elif event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            found = {"_failed": str(res.get("msg") or event.get("event"))}
    return found


def look_at_container(settings: Settings, host: str, container: str, lines: int) -> dict[str, Any]:
    """What container_logs_info saw of `container` on `host` right now (Unavailable when it could not look)."""
    if not NAME_RE.fullmatch(host) or not NAME_RE.fullmatch(container):
        raise Unavailable(f"not a host/container name: {host!r}/{container!r}")
    base = settings.paths.runs / "diagnose"
    make_dir(base)
    private = Path(tempfile.mkdtemp(dir=base, prefix=f"look-{host}-{container}-"))  # one run's own folder
    try:
        playbook = atomic_write_text(private / "look.yml", LOOK_PLAY)
        outcome = run_playbook(
            settings,
            playbook,
            private,
            limit=host,
            extravars={"steward_diagnose_container": container, "steward_diagnose_lines": lines},
        )
        result = _module_result(private, host)
    except Exception as exc:  # a failed look is a reason in the request, never a crash
        raise Unavailable(f"the look at {host} could not run: {exc!r}") from None
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if result is None:
        raise Unavailable(f"the look at {host} returned nothing (ansible-runner {outcome.status}, rc {outcome.rc})")
    if "_failed" in result:
        raise Unavailable(f"the look at {host} failed: {result['_failed'][:300]}")
    return result
