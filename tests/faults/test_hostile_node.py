"""A compromised node: whatever its node_observe module returns, one host's check "could not look".

The node's module is replaced by one that prints what an attacker chose (raw bytes, so not even
valid UTF-8 is out of reach); everything on the controller is real: ansible-playbook, the
collection's node_observe action plugin, the world file it writes, the task result the executor
judges on, and steward.plan.engine.Engine planning over the state folder. Per case:

* the world file is schema-valid (the loader accepts it), the refused check is ``invalid_report``
  with one escaped line saying which field and what it held, the node's other checks stay as sent;
* planning over it is not skipped, the hostile host gets one notice and no action, and another
  host's real drift is planned as usual.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from world_reports import (
    FIELDS,
    HOSTILE_STRINGS,
    docker_ok,
    field_path,
    valid_checks,
    with_value,
    wrong_type,
)

from helpers import REPO, container
from steward.areas import check_problem
from steward.plan.engine import Engine
from steward.state.settings import Settings
from steward.state.world import load_world, validate_world
from steward.state.world import schema as world_schema

VENV_BIN = Path(sys.executable).parent
CONTROL = set(map(chr, range(0x20))) | {"\x7f", "\u2028", "\u2029", "\u202e"}

# The node's side of a compromise: a node_observe module that answers with the bytes in the file
# named by its own options (checks.<area>.payload), whatever the controller asked.
HOSTILE_MODULE = """#!/usr/bin/python
from __future__ import annotations
import sys
from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = "module: node_observe"


def main():
    module = AnsibleModule(
        argument_spec=dict(checks=dict(type="dict", default={}), timeout=dict(type="int", default=60)),
        supports_check_mode=True,
    )
    path = [o["payload"] for o in module.params["checks"].values() if isinstance(o, dict) and "payload" in o][0]
    with open(path, "rb") as handle:
        sys.stdout.buffer.write(handle.read())
    sys.stdout.flush()
    sys.exit(0)


if __name__ == "__main__":
    main()
"""


def hostile_collection(root: Path) -> Path:
    """A collections path where homelab.steward is this checkout, except the node's module."""
    coll = root / "collections" / "ansible_collections" / "homelab" / "steward"
    (coll / "plugins" / "modules").mkdir(parents=True)
    for part in ("meta", "galaxy.yml"):
        (coll / part).symlink_to(REPO / part)
    for part in ("action", "module_utils"):
        (coll / "plugins" / part).symlink_to(REPO / "plugins" / part)  # the real controller side
    (coll / "plugins" / "modules" / "node_observe.py").write_text(HOSTILE_MODULE)
    return root / "collections"


def module_result(checks: Any) -> bytes:
    return json.dumps({"changed": False, "checks": checks, "elapsed": {}}).encode()


def observe(
    tmp_path: Path, state: Path, reports: dict[str, bytes], areas: dict[str, list[str]], **env_extra: str
) -> dict[str, Any]:
    """One real ansible-playbook run of node_observe over one local host per report.

    Returns the task result of each host (the json callback's view: what ansible-runner sees).
    """
    payloads = tmp_path / "payloads"
    payloads.mkdir(exist_ok=True)
    hosts = {}
    for host, raw in reports.items():
        (payloads / f"{host}.json").write_bytes(raw)
        options = {"payload": str(payloads / f"{host}.json")}
        hosts[host] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "hostile_checks": {area: options for area in areas[host]},
        }
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    playbook = tmp_path / "observe.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "observe",
                            "homelab.steward.node_observe": {
                                "state_dir": str(state),
                                "checks": "{{ hostile_checks }}",
                            },
                        }
                    ],
                }
            ]
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(hostile_collection(tmp_path / f"c{time.monotonic_ns()}")),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_FORKS": "16",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **env_extra,
    }
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]


def one_line(text: str) -> bool:
    return not (set(text) & CONTROL) and "{{" not in text and "{%" not in text


# --- every field of every check, and the hostile strings, through the real action plugin ----------


def _cases() -> dict[str, tuple[str, str, bytes]]:
    """host -> (the check that must be refused, the field it names, the module's stdout)."""
    cases: dict[str, tuple[str, str, bytes]] = {}
    checks = valid_checks()
    for i, (area, path) in enumerate(FIELDS):
        bad = with_value(checks[area], path, wrong_type(_get(checks[area], path)))
        cases[f"type{i:03d}"] = (area, field_path(area, path), module_result({**checks, area: bad}))
    string_fields = [
        ("docker", ("containers", 0, "image")),
        ("docker", ("containers", 0, "name")),
        ("docker", ("containers", 0, "state")),
        ("docker", ("containers", 0, "compose_project")),
        ("docker", ("error",)),
        ("disk", ("mounts", 0, "path")),
        ("disk", ("mounts", 1, "error")),
        ("tailscale", ("peers", 0, "name")),
        ("tailscale", ("health", 0)),
        ("mqtt", ("brokers", 0, "connack_reason")),
        ("mqtt", ("brokers", 0, "error")),
    ]
    for j, text in enumerate(HOSTILE_STRINGS.values()):
        area, path = string_fields[j % len(string_fields)]
        bad = with_value(checks[area], path, text)
        cases[f"str{j:02d}"] = (area, field_path(area, path), module_result({**checks, area: bad}))
        # and the same string as the image, the field that ends up in a plan
        image = with_value(checks["docker"], ("containers", 0, "image"), text)
        cases[f"img{j:02d}"] = (
            "docker",
            "checks.docker.containers[0].image",
            module_result({**checks, "docker": image}),
        )
    for host in ("str10", "img10"):  # a lone surrogate: Ansible does not decode it either (see "bytes")
        assert "\udcff" in HOSTILE_STRINGS["lone surrogate"] and list(HOSTILE_STRINGS).index("lone surrogate") == 10
        cases[host] = ("*", "result", cases[host][2])
    # bytes that are not UTF-8, as a compromised node's stdout would carry them: Ansible itself refuses to
    # decode the answer (MODULE_STRICT_UTF8_RESPONSE), so every check of that host is refused
    raw = module_result({**checks, "docker": docker_ok([container("web", image="IMAGE-HERE")])})
    cases["bytes"] = ("*", "result", raw.replace(b"IMAGE-HERE", b"evil\xff\xfe:1"))
    # absurd counts and sizes
    many = docker_ok([container(f"c{i}") for i in range(10_001)])
    cases["count"] = ("docker", "checks.docker.containers", module_result({**checks, "docker": many}))
    dup = docker_ok([container("web"), container("web")])
    cases["dup"] = ("docker", "checks.docker.containers", module_result({**checks, "docker": dup}))
    cases["status"] = ("docker", "checks.docker.status", module_result({**checks, "docker": {"status": "bogus"}}))
    return cases


def _get(check: dict[str, Any], path: tuple[Any, ...]) -> Any:
    for step in path:
        check = check[step]
    return check


@pytest.mark.slow
def test_every_bad_field_is_that_hosts_could_not_look_and_the_world_file_stays_valid(tmp_path: Path, fault) -> None:
    cases = _cases()
    state = tmp_path / "state"
    areas = {host: sorted(valid_checks()) for host in cases}
    fault.inject(
        f"{len(cases)} hosts, each node's module returning one bad value: a wrong type in each of the "
        f"{len(FIELDS)} observed fields of the four checks, {len(HOSTILE_STRINGS)} hostile strings "
        "(YAML plays, ---/..., {{ }}, {% %}, ANSI, CR, U+2028, bidi, NUL, 1 MB, lone surrogate) in fields and "
        "in the image, non-UTF-8 bytes, 10 001 containers, a duplicate name, an unknown status"
    )
    results = observe(tmp_path, state, {h: c[2] for h, c in cases.items()}, areas)

    snapshot = load_world(state / "world", check_problem)
    fault.check(snapshot.usable and sorted(snapshot.hosts) == sorted(cases), "every world file loads (schema-valid)")
    valid = valid_checks()
    for host, (area, where, _) in cases.items():
        doc = snapshot.hosts[host]
        refused = set(valid) if area == "*" else {area}
        for name in refused:
            check = doc["checks"][name]
            assert check["status"] == "invalid_report", (host, where, check)
            assert set(check) == {"status", "error"}
            message = check["error"]
            assert message.startswith(f"invalid value from the node ({where}"), (host, message)
            assert one_line(message) and len(message) < 400, (host, message)
        for other in set(valid) - refused:  # the node's valid checks are kept as sent
            assert doc["checks"][other] == valid[other], (host, other)
        assert validate_world(results[host]["world"], host, check_problem) == doc  # what the executor judges on
    fault.check(True, f"{len(cases)} refused checks are invalid_report, each one escaped line naming the field")
    fault.check(
        all(one_line(json.dumps(d["checks"], ensure_ascii=False)) for d in snapshot.hosts.values()),
        "no control character or template marker in any world file",
    )
    sizes = [(state / "world" / f"{h}.json").stat().st_size for h in cases]
    fault.check(max(sizes) < 64 * 1024, f"no world file carries the node's bulk (largest {max(sizes)} bytes)")


@pytest.mark.slow
def test_a_report_over_the_size_cap_or_not_an_object_refuses_every_check(tmp_path: Path, fault) -> None:
    # the same file as the plugin's (state/world.py loads it by path): importing it by its collection
    # name here breaks when an earlier test in the process left Ansible's collection finder installed
    MAX_REPORT_BYTES = world_schema.MAX_REPORT_BYTES

    checks = valid_checks()
    label = "x" * 3_000
    big = docker_ok([{**container(f"c{i}"), "labels": {f"l{j}": label for j in range(4)}} for i in range(800)])
    reports = {
        "huge": module_result({**checks, "docker": big}),
        "list": module_result([checks]),
        "text": module_result("all good"),
    }
    fault.inject(f"a {len(reports['huge']) // 1_000_000} MB report (cap {MAX_REPORT_BYTES}), checks as a list, as text")
    assert len(reports["huge"]) > MAX_REPORT_BYTES
    state = tmp_path / "state"
    results = observe(tmp_path, state, reports, {h: sorted(checks) for h in reports})
    snapshot = load_world(state / "world", check_problem)
    fault.check(snapshot.usable, "every world file loads")
    for host in reports:
        doc = snapshot.hosts[host]
        assert sorted(doc["checks"]) == sorted(checks)
        assert {c["status"] for c in doc["checks"].values()} == {"invalid_report"}, doc
        assert results[host]["world"] == doc
    fault.check(True, "every requested check of those hosts is invalid_report")
    assert "bytes, more than" in snapshot.hosts["huge"]["checks"]["docker"]["error"]
    assert (state / "world" / "huge.json").stat().st_size < 10_000


@pytest.mark.slow
def test_with_ansibles_utf8_check_off_bytes_that_are_not_utf8_reach_the_plugin_and_are_refused(
    tmp_path: Path, fault
) -> None:
    checks = valid_checks()
    raw = module_result({**checks, "docker": docker_ok([container("web", image="IMAGE-HERE")])})
    reports = {
        "bytes": raw.replace(b"IMAGE-HERE", b"evil\xff\xfe:1"),
        "escaped": module_result({**checks, "mqtt": with_value(checks["mqtt"], ("brokers", 0, "error"), "x\udcff")}),
    }
    fault.inject(
        "raw 0xff 0xfe in an image, an escaped lone surrogate in a broker error; MODULE_STRICT_UTF8_RESPONSE off"
    )
    state = tmp_path / "state"
    observe(tmp_path, state, reports, {h: sorted(checks) for h in reports}, ANSIBLE_MODULE_STRICT_UTF8_RESPONSE="0")
    snapshot = load_world(state / "world", check_problem)
    fault.check(snapshot.usable, "both world files load")
    docker = snapshot.hosts["bytes"]["checks"]["docker"]
    assert docker["status"] == "invalid_report"
    # surrogate escapes, shown as escapes
    assert docker["error"].startswith(
        'invalid value from the node (checks.docker.containers[0].image, "evil\\udcff\\udcfe:1")'
    )
    mqtt = snapshot.hosts["escaped"]["checks"]["mqtt"]
    assert mqtt["status"] == "invalid_report" and "checks.mqtt.brokers[0].error" in mqtt["error"]
    assert snapshot.hosts["escaped"]["checks"]["docker"] == checks["docker"]
    fault.check(True, "each is that check's invalid_report; the other checks are kept")
    for name in ("bytes.json", "escaped.json"):
        (state / "world" / name).read_bytes().decode("utf-8")  # strict: the files are valid UTF-8


# --- planning: the hostile host is one notice, the others are planned as usual -------------------

HOSTILE_REPORTS = {
    "unknown status": {"docker": {"status": "bogus"}},
    "image with a play": {"docker": docker_ok([container("web", image=HOSTILE_STRINGS["yaml play"])])},
    "image with jinja": {"docker": docker_ok([container("web", image=HOSTILE_STRINGS["jinja expression"])])},
    "state with ANSI": {"docker": docker_ok([container("web", state="exited\x1b[2J")])},
    "1 MB name": {"docker": docker_ok([container("web"), container("w" * 1_000_000)])},
    "10 001 containers": {
        "docker": docker_ok([container("web", state="exited")] + [container(f"c{i}") for i in range(10_000)])
    },
    "restart count as text": {"docker": docker_ok([container("web", state="exited", restart_count="9")])},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HOSTILE_REPORTS))
def test_a_hostile_node_is_one_notice_and_the_other_hosts_are_planned(tmp_path: Path, fault, case: str) -> None:
    state = tmp_path / "state"
    inventory = tmp_path / "hosts.yml"
    web = {"name": "web", "image": "steward-lab/busybox:1", "network_mode": "none"}
    inventory.write_text(
        yaml.safe_dump({"all": {"hosts": {"evil": {"steward_services": [web]}, "good": {"steward_services": [web]}}}})
    )
    settings = Settings(project_dir=REPO, inventory=inventory, state_dir=state)
    settings.paths.ensure()
    engine = Engine(settings)
    reports = {
        "evil": module_result(HOSTILE_REPORTS[case]),
        "good": module_result({"docker": docker_ok([container("web", state="exited")])}),  # a real drift
    }
    fault.inject(f"evil's node reports {case}; good's web container is exited")
    reports_run = []
    for look in range(2):  # confirmation needs two observations, confirm_interval apart
        if look:
            time.sleep(2.1)
        observe(tmp_path, state, reports, {"evil": ["docker"], "good": ["docker"]})
        reports_run.append(engine.plan())
    second = reports_run[1]
    fault.check(not any(r.skipped for r in reports_run), "no plan cycle skipped")
    pending = sorted((state / "actions" / "pending").glob("*.yml"))
    fault.check(len(second.new_actions) == 1 and len(pending) == 1, "good's drift became one pending action")
    text = pending[0].read_text()
    fault.check("good/docker/web/not_running" in text and "evil" not in text, "the action is good's, not evil's")
    evil = [d for d in second.drifts if d["key"].startswith("evil/")]
    fault.check(
        [d["key"] for d in evil] == ["evil/docker/engine/invalid_report"] and evil[0]["notice_only"],
        "evil is one notice-only item, no per-container drift",
    )
    fault.check(one_line(evil[0]["summary"]) and "invalid value from the node" in evil[0]["summary"], "escaped notice")
    journal = [json.loads(line) for line in settings.paths.journal.read_text().splitlines()]
    notices = [e for e in journal if e["type"] == "notice" and e["host"] == "evil"]
    fault.check(len(notices) == 1 and one_line(notices[0]["summary"]), "one notice journaled for evil, one line")
    last_good = settings.paths.last_good.read_bytes()
    fault.check(len(last_good) < 100_000, f"last_good.json holds no node bulk ({len(last_good)} bytes)")
    shutil.rmtree(tmp_path / "payloads")
