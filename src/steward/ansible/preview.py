"""The dry run of a Compose remedy: what `docker compose up` would do on the node, asked, never done.

`community.docker.docker_compose_v2` in check mode runs `docker compose up --dry-run` and returns
the actions it would take (``Recreate homeauto-broker-1``, ``Starting homeauto-dash-1``). For that
answer to be about the *new* project, the preview stages the inventory's folder on the node in
``<steward_compose_dir>/.steward-preview/NAME/`` (a copy beside the live one, never over it) and
points Compose at it with ``files``/``env_files`` while the project directory stays the live one
(relative bind mounts resolve as the real run will resolve them). A remedy without a copy
(restart, stop) is previewed as it is, in check mode.

The preview is stored beside the signed playbook (``ID.preview.json``), never inside it. The
executor takes it again right before a run: an answer of another kind (a recreate where it said
start, another container) means the plan is stale.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from steward.ansible.runner import run_playbook
from steward.areas.docker.compose import COMPOSE_MODULE, COPY_MODULE
from steward.areas.docker.compose_hash import COMPOSE_FILES
from steward.core.atomic import atomic_write_bytes, read_regular_file
from steward.core.inert import terminal as _terminal
from steward.state.journal import isotime
from steward.state.settings import Settings

STAGING = ".steward-preview"


def previewable(tasks: list[dict[str, Any]]) -> bool:
    return any(COMPOSE_MODULE in task for task in tasks)


def preview_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The remedy's tasks turned into its dry run (the copy goes to the staging folder)."""
    out: list[dict[str, Any]] = []
    staged: PurePosixPath | None = None
    src: Path | None = None
    for task in tasks:
        task = copy.deepcopy(task)
        if COPY_MODULE in task:
            params = task[COPY_MODULE]
            live = PurePosixPath(str(params["dest"]).rstrip("/"))
            staged = live.parent / STAGING / live.name
            src = Path(str(params["src"]).rstrip("/"))
            params["dest"] = f"{staged}/"
            task["name"] = f"Stage the project folder for the dry run in {staged}"
        elif COMPOSE_MODULE in task:
            params = task[COMPOSE_MODULE]
            params.pop("wait", None)
            if staged is not None and src is not None:
                compose_file = next((n for n in COMPOSE_FILES if (src / n).is_file()), COMPOSE_FILES[1])
                params["files"] = [f"{staged}/{compose_file}"]
                if (src / ".env").is_file():
                    params["env_files"] = [f"{staged}/.env"]
            task["check_mode"] = True
            task["name"] = "Dry run: " + str(task.get("name", ""))
        out.append(task)
    return out


def take_preview(settings: Settings, host: str, action_id: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """{taken_at, actions: [{what, id, status}], error}: error set (and actions empty) when it could not be had."""
    taken_at = isotime()
    host, tasks = str(host), json.loads(json.dumps(tasks))  # plain data (a loaded playbook's strings are tagged)
    play = {
        "name": f"Steward dry run of {action_id}",
        "hosts": host,
        "gather_facts": False,
        "tasks": preview_tasks(tasks),
    }
    runs = settings.paths.runs / "preview"
    runs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{action_id[:40]}.", dir=runs) as tmp:
        playbook = Path(tmp) / "preview.yml"
        atomic_write_bytes(playbook, yaml.safe_dump([play], sort_keys=False).encode())
        try:
            outcome = run_playbook(settings, playbook, Path(tmp) / "run", limit=host)
        except Exception as exc:  # a runner crash is an unavailable preview, never a failed action
            return {"taken_at": taken_at, "actions": [], "error": f"the dry run did not run: {exc!r}"}
    if not outcome.ok:
        failed = next((t for t in outcome.tasks if t["result"] != "ok"), None)
        why = f"{failed['task']}: {failed['msg']}" if failed else f"{outcome.status}, rc {outcome.rc}"
        return {"taken_at": taken_at, "actions": [], "error": f"the dry run failed ({why})"}
    return {"taken_at": taken_at, "actions": clean_actions(outcome.actions), "error": None}


# Compose renames the container it replaces to "<12 hex>_<name>" for the moment of a recreate: the
# same container, not another action
_REPLACED = re.compile(r"^[0-9a-f]{12}_")


def inert(text: str, limit: int) -> str:
    return _terminal(text)[:limit]


def clean_actions(actions: list[Any]) -> list[dict[str, str]]:
    """What the node's Compose answered, as data: three bounded printable strings per action."""
    out = []
    for a in actions:
        if not isinstance(a, dict):
            continue
        entry = {k: inert(str(a.get(k)), 200) for k in ("what", "id", "status")}
        if not _REPLACED.match(entry["id"]):
            out.append(entry)
    return out


def read_preview(path: Path) -> dict[str, Any] | None:
    """A stored dry run (``ID.preview.json``); None when there is none. Text a queue folder's writers
    could have edited: shown through inert rendering, compared, never run."""
    if not os.path.lexists(path):
        return None
    try:
        doc = json.loads(read_regular_file(path))
    except (OSError, ValueError) as exc:
        return {"actions": [], "error": f"{path.name} unreadable: {exc}"}
    actions = doc.get("actions") if isinstance(doc, dict) else None
    if not isinstance(actions, list) or not all(
        isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("what", "id", "status")) for a in actions
    ):
        return {"actions": [], "error": f"{path.name} is not a dry run"}
    error = doc.get("error")
    return {
        "taken_at": str(doc.get("taken_at")),
        "actions": clean_actions(actions),
        "error": None if error is None else str(error),
    }


def changed_kind(before: dict[str, Any] | None, now: dict[str, Any], own: tuple[str, ...] = ()) -> str | None:
    """Why the dry run taken now makes the plan stale, or None: it would touch a container that is
    not the service's own (``own``: its name prefixes), or it does something of another kind than the
    dry run stored when the action was written."""
    foreign = sorted(
        a["id"]
        for a in now.get("actions") or ()
        if own and a["what"] == "container" and not (a["id"].startswith(own) or a["id"] in own)
    )
    if foreign:
        return f"stale plan: the dry run now would also touch {', '.join(foreign)} (not the service's own container)"
    if before is None or before.get("error") or now.get("error"):
        return None  # nothing to compare with: the run goes on, the new dry run is recorded
    if kinds(before) == kinds(now):
        return None
    return (
        f"stale plan: the dry run now says {', '.join(kinds(now)) or 'nothing would change'}; "
        f"when the action was written it said {', '.join(kinds(before)) or 'nothing would change'}"
    )


def kinds(preview: dict[str, Any]) -> list[str]:
    """What a preview says it would do, as comparable lines ("Recreate homeauto-broker-1")."""
    return sorted(f"{a['status']} {a['id']}" for a in preview.get("actions") or ())


def summary(preview: dict[str, Any] | None) -> str:
    if preview is None:
        return "no dry run taken"
    if preview.get("error"):
        return f"dry run unavailable: {preview['error']}"
    return ", ".join(kinds(preview)) or "the dry run says nothing would change"
