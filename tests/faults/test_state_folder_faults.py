"""The state folder keeps its promises against a careless or hostile local user (issue 10), and the
project Steward runs is the one it is installed from, never one planted near the current folder
(issue 9, What must exist 7). Real files, real `steward` processes, real ansible-playbook runs.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO, all_files, make_settings, service
from steward.core.atomic import NotARegularFile
from steward.core.locks import exclusive
from steward.events.outbox import Outbox
from steward.state.journal import Journal

BIN = Path(sys.executable).parent


def steward(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(
        [sys.executable, "-m", "steward", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300
    )


def _outside(tmp_path: Path) -> tuple[Path, bytes]:
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir()
    victim.write_bytes(b"precious\n")
    return victim, victim.read_bytes()


# -- symlinks (Why 2) ----------------------------------------------------------------------
PLANTED = [
    "journal.jsonl",
    "engine/locks/engine.lock",
    "engine/outbox.jsonl",
    "engine/outbox.jsonl.pos",
    "engine/observations.json",
    "engine/hmac.key",
]


@pytest.mark.parametrize("where", PLANTED)
def test_a_symlink_planted_in_the_state_folder_is_refused_and_nothing_outside_changes(tmp_path, fault, where) -> None:
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    victim, before = _outside(tmp_path)
    link = settings.state_dir / where
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(victim)
    fault.inject(f"{where} -> a file outside the state folder")
    out = steward("plan", STEWARD_STATE_DIR=str(settings.state_dir), STEWARD_INVENTORY=str(settings.inventory))
    fault.check(out.returncode == 2, f"refused with exit 2: {out.returncode} {out.stderr}")
    fault.check("symlink" in out.stderr and "Traceback" not in out.stderr, f"one clear line: {out.stderr}")
    fault.check(victim.read_bytes() == before, "the file outside is unchanged")


def test_writers_never_follow_a_symlink_planted_after_the_start(tmp_path, fault) -> None:
    """The check at start cannot see what is planted later: every writer opens with O_NOFOLLOW."""
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    victim, before = _outside(tmp_path)
    engine = settings.paths.engine

    def plant(path: Path) -> None:
        path.unlink(missing_ok=True)
        path.symlink_to(victim)
        fault.inject(f"{path.relative_to(settings.state_dir)} -> outside, after the start")

    plant(settings.paths.journal)
    with pytest.raises(NotARegularFile):
        Journal(settings.paths.journal, bus=None).append("probe")
    plant(settings.paths.locks / "engine.lock")
    with pytest.raises(OSError), exclusive(settings.paths.locks / "engine.lock"):
        pass
    outbox = Outbox(engine / "outbox.jsonl")
    plant(engine / "outbox.jsonl")
    with pytest.raises(NotARegularFile):
        outbox.append([{"type": "probe"}])
    (engine / "outbox.jsonl").unlink()
    outbox.append([{"type": "a"}, {"type": "b"}])
    plant(engine / "outbox.jsonl.pos")
    outbox.delivered(10)  # replaces the link itself: never writes through it
    fault.check(not (engine / "outbox.jsonl.pos").is_symlink(), "the position file is a file again, not the link")
    # the old code wrote through a predictable temp name: plant one for every pid nearby
    for pid in range(os.getpid() - 5, os.getpid() + 5):
        tmp = engine / f"outbox.jsonl.pos.tmp{pid}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(victim)
    outbox.delivered(12)
    fault.check(victim.read_bytes() == before, "the file outside is unchanged")


# -- ownership and modes (Why 2, What 3) ----------------------------------------------------
def test_a_group_writable_state_folder_is_refused(tmp_path, fault) -> None:
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    env = {"STEWARD_STATE_DIR": str(settings.state_dir), "STEWARD_INVENTORY": str(settings.inventory)}
    for part, mode in (("", 0o775), ("engine", 0o775), ("journal.jsonl", 0o666)):
        path = settings.state_dir / part
        path.touch() if part.endswith(".jsonl") else None
        old = path.stat().st_mode & 0o7777
        os.chmod(path, mode)
        fault.inject(f"chmod {oct(mode)} {part or 'the state folder'}")
        out = steward("status", **env)
        fault.check(out.returncode == 2 and "writable" in out.stderr, f"refused: {out.stderr.strip()}")
        os.chmod(path, old)
    fault.check(steward("status", **env).returncode == 0, "accepted again once the modes are right")


def test_an_operator_group_may_write_pending_and_approved_only(tmp_path, fault) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a folder's group needs root")
    group = grp.getgrgid(os.getgid()).gr_name
    state = tmp_path / "state"
    inv = make_settings(tmp_path, {"piha": [service("mqtt")]}).inventory
    env = {"STEWARD_STATE_DIR": str(state), "STEWARD_INVENTORY": str(inv), "STEWARD_OPERATOR_GROUP": group}
    shutil.rmtree(state)  # a new folder, made with the operator group named
    subprocess.run([sys.executable, "-m", "steward", "init"], env={**os.environ, **env}, check=True, timeout=60)
    for sub in ("pending", "approved"):
        st = (state / "actions" / sub).stat()
        fault.check(stat.S_IMODE(st.st_mode) == 0o2775, f"actions/{sub} is made 2775 for the group")
    fault.check(stat.S_IMODE((state / "actions").stat().st_mode) == 0o755, "actions/ itself stays 0755")
    out = steward("status", **env)
    fault.check(out.returncode == 0, f"accepted: {out.stderr}")
    for sub in ("actions", "engine"):
        os.chmod(state / sub, 0o2775)
        fault.inject(f"{sub}/ group-writable too")
        out = steward("status", **env)
        fault.check(out.returncode == 2 and "only actions/pending" in out.stderr, f"refused: {out.stderr.strip()}")
        os.chmod(state / sub, 0o755)


def test_what_steward_creates_under_umask_002_is_accepted_on_the_next_start(tmp_path, fault) -> None:
    """A user's default umask 002 must not make Steward refuse its own folders the next time."""
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    env = {"STEWARD_STATE_DIR": str(tmp_path / "fresh"), "STEWARD_INVENTORY": str(settings.inventory)}
    script = (
        "import os, sys; os.umask(0o002); from steward.interfaces.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    fault.inject("umask 002 for every Steward process")
    for command in (["status"], ["plan"], ["silence", "add", "--host", "piha", "--for", "1m", "--reason", "x"]):
        out = subprocess.run(
            [sys.executable, "-c", script, *command], env={**os.environ, **env}, capture_output=True, text=True
        )
        fault.check(out.returncode in (0, 1), f"{command}: ran ({out.returncode} {out.stderr.strip()})")
    out = subprocess.run(
        [sys.executable, "-c", script, "status"], env={**os.environ, **env}, capture_output=True, text=True
    )
    fault.check(out.returncode == 0 and "writable" not in out.stderr, f"the next start accepts it: {out.stderr}")


def test_the_hmac_key_readable_by_others_is_refused(tmp_path, fault) -> None:
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    from steward.state.ledger import Ledger

    Ledger(settings.paths).sign("x", b"y")  # creates the key, 0600
    os.chmod(settings.paths.hmac_key, 0o644)
    fault.inject("chmod 644 engine/hmac.key")
    out = steward("list", STEWARD_STATE_DIR=str(settings.state_dir), STEWARD_INVENTORY=str(settings.inventory))
    fault.check(out.returncode == 2 and "anyone could sign" in out.stderr, out.stderr.strip())


# -- the state folder never changes silently (Why 3, What 4) --------------------------------
def test_an_inventory_that_cannot_be_validated_never_falls_back_to_another_state_folder(tmp_path, fault) -> None:
    configured = tmp_path / "configured-state"
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"steward_state_dir": str(configured)},
                    "hosts": {"piha": {"steward_services": [{**service("mqtt"), "restart_policy": "sometimes"}]}},
                }
            }
        )
    )
    default = REPO / "state"
    before = sorted(all_files(default)) if default.exists() else None
    env = {k: v for k, v in os.environ.items() if k != "STEWARD_STATE_DIR"}
    fault.inject("steward_state_dir set, restart_policy: sometimes elsewhere in the inventory")
    for command in (["status"], ["list"], ["approve", "x"], ["ack-storm"]):
        out = subprocess.run(
            [sys.executable, "-m", "steward", "-i", str(inv), *command],
            cwd=tmp_path,
            env={**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        fault.check(out.returncode == 2 and "restart_policy" in out.stderr, f"{command}: exit 2 with the reason")
    fault.check(not configured.exists(), "the configured folder was not created")
    fault.check((sorted(all_files(default)) if default.exists() else None) == before, "./state was not touched")


def test_a_state_folder_that_moved_is_not_silently_recreated(tmp_path, fault) -> None:
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    env = {"STEWARD_STATE_DIR": str(settings.state_dir), "STEWARD_INVENTORY": str(settings.inventory)}
    assert steward("status", **env).returncode == 0
    moved = tmp_path / "moved-state"
    os.rename(settings.state_dir, moved)
    fault.inject("mv state moved-state")
    for command in ("status", "plan", "observe"):
        out = steward(command, **env)
        fault.check(out.returncode == 2, f"{command}: exit 2 ({out.returncode})")
        fault.check("moved or deleted" in out.stderr and "Traceback" not in out.stderr, f"{command}: {out.stderr}")
    playbook = subprocess.run(
        ["ansible-playbook", "-i", str(settings.inventory), "observe.yml"],
        cwd=REPO,
        env={**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    fault.check(playbook.returncode != 0 and "moved or deleted" in playbook.stdout, "ansible-playbook observe.yml too")
    fault.check(not settings.state_dir.exists(), "nothing was written at the old path")
    out = steward("status", STEWARD_STATE_DIR=str(moved), STEWARD_INVENTORY=str(settings.inventory))
    fault.check(out.returncode == 0 and out.stdout.startswith(f"state: {moved}"), "the moved folder works")
    out = steward("init", **env)
    fault.check(out.returncode == 0 and (settings.state_dir / ".steward-state").exists(), "init starts anew on purpose")


# -- the project is the installed one (issue 9, What 7) -------------------------------------
VARS_PLUGIN = """
from ansible.plugins.vars import BaseVarsPlugin
open({marker!r}, "a").write("planted vars plugin ran\\n")

class VarsModule(BaseVarsPlugin):
    REQUIRES_ENABLED = False

    def get_vars(self, loader, path, entities, cache=True):
        return {{}}
"""


def test_a_planted_project_near_the_current_folder_and_planted_runner_env_files_are_ignored(tmp_path, fault) -> None:
    marker = tmp_path / "marker"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "planted.py").write_text(VARS_PLUGIN.format(marker=str(marker)))
    shared = tmp_path / "shared"
    (shared / "work").mkdir(parents=True)
    (shared / "observe.yml").write_text("- hosts: all\n  tasks: []\n")
    (shared / "galaxy.yml").write_text("namespace: homelab\nname: steward\nversion: 0.0.1\n")
    (shared / "ansible.cfg").write_text(f"[defaults]\nvars_plugins = {plugins}\n")
    fault.inject("observe.yml + galaxy.yml + ansible.cfg (with a vars plugin) planted in a parent folder")
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "local1": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                            "steward_disk": {"/": 100},
                        }
                    }
                }
            }
        )
    )
    state = tmp_path / "state"
    env = {"STEWARD_STATE_DIR": str(state), "STEWARD_INVENTORY": str(inv)}
    env.pop("ANSIBLE_CONFIG", None)
    base = {k: v for k, v in os.environ.items() if k not in ("ANSIBLE_CONFIG", "STEWARD_PROJECT_DIR")}
    out = subprocess.run(
        [sys.executable, "-m", "steward", "observe", "--no-plan"],
        cwd=shared / "work",
        env={**base, **env, "PATH": f"{BIN}{os.pathsep}{base['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    fault.check(out.returncode == 0, f"observe ran the real observe.yml: {out.stdout} {out.stderr}")
    fault.check(json.loads((state / "world" / "local1.json").read_text())["checks"]["disk"]["status"] == "ok", "saw it")
    fault.check(not marker.exists(), "the planted vars plugin never ran")
    # an env file in ansible-runner's private data dir would configure every later run
    envdir = state / "runs" / "observe" / "env"
    envdir.mkdir(parents=True)
    (envdir / "envvars").write_text(json.dumps({"ANSIBLE_VARS_PLUGINS": str(plugins)}))
    fault.inject("runs/observe/env/envvars planted with ANSIBLE_VARS_PLUGINS")
    out = subprocess.run(
        [sys.executable, "-m", "steward", "observe", "--no-plan"],
        cwd=REPO,
        env={**base, **env, "PATH": f"{BIN}{os.pathsep}{base['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    fault.check(out.returncode == 0, f"observe ran: {out.stderr}")
    fault.check(not marker.exists(), "the planted env file was not used")
    fault.check(not envdir.exists() and any((state / "runs" / "observe").glob("env.set-aside-*")), "it was set aside")
