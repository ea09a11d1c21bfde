"""plugins/module_utils/_world_schema.py: each field, valid and invalid; the size cap; one definition."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from world_reports import (
    FIELDS,
    HOSTILE_STRINGS,
    disk_ok,
    docker_ok,
    field_path,
    mount,
    mqtt_ok,
    tailscale_ok,
    valid_checks,
    with_value,
    wrong_type,
)

from ansible_collections.homelab.steward.plugins.action import node_observe as action
from ansible_collections.homelab.steward.plugins.module_utils import _world_schema as schema
from helpers import REPO, container, world_doc
from steward.areas import check_problem
from steward.state import world as store

CHECKS = {"docker": docker_ok, "disk": disk_ok, "tailscale": tailscale_ok, "mqtt": mqtt_ok}


def problem(area: str, check: Any) -> str | None:
    found = schema.check_problem(area, check)
    return None if found is None else found.path


def test_the_loader_and_the_action_plugin_run_the_same_file() -> None:
    path = (REPO / "plugins" / "module_utils" / "_world_schema.py").resolve()
    assert Path(inspect.getsourcefile(schema)).resolve() == path  # type: ignore[arg-type]
    assert Path(store.schema.__file__).resolve() == path
    assert Path(store.schema.world_problem.__code__.co_filename).resolve() == path
    assert action.schema is schema  # the action plugin's import
    assert not list((REPO / "src").rglob("_world_schema.py"))  # no copy inside the package


@pytest.mark.parametrize("area", list(CHECKS))
def test_the_collectors_shapes_are_valid(area: str) -> None:
    assert problem(area, CHECKS[area]()) is None


@pytest.mark.parametrize(("area", "path"), FIELDS, ids=[field_path(a, p) for a, p in FIELDS])
def test_a_wrong_type_in_any_field_is_refused_naming_that_field(area: str, path: tuple[Any, ...]) -> None:
    check = valid_checks()[area]
    value = check
    for step in path:
        value = value[step]
    assert problem(area, with_value(check, path, wrong_type(value))) == field_path(area, path)


@pytest.mark.parametrize("text", list(HOSTILE_STRINGS.values()), ids=list(HOSTILE_STRINGS))
@pytest.mark.parametrize(
    ("area", "path"),
    [
        ("docker", ("containers", 0, "name")),
        ("docker", ("containers", 0, "image")),
        ("docker", ("error",)),
        ("disk", ("mounts", 0, "path")),
        ("disk", ("mounts", 1, "error")),
        ("tailscale", ("self", "hostname")),
        ("tailscale", ("health", 0)),
        ("mqtt", ("brokers", 0, "error")),
        ("mqtt", ("brokers", 0, "roundtrip", "error")),
    ],
)
def test_hostile_strings_are_refused_in_names_and_in_free_text(text: str, area: str, path: tuple[Any, ...]) -> None:
    assert problem(area, with_value(valid_checks()[area], path, text)) == field_path(area, path)


def c(**kw: Any) -> dict[str, Any]:
    return docker_ok([container(kw.pop("name", "web"), **kw)])


C0 = "checks.docker.containers[0]."
# (area, a valid variant, an invalid variant, the field the invalid one is refused for)
EXAMPLES = [
    ("docker", c(name="home-mosquitto_1.a"), c(name="-web"), C0 + "name"),
    ("docker", c(name="w" * 255), c(name="w" * 256), C0 + "name"),
    ("docker", c(image="registry.example.org:5000/team/app:1.2-rc"), c(image="Team/App:1"), C0 + "image"),
    ("docker", c(image="nginx@sha256:" + "a" * 64), c(image="nginx:" + "1" * 129), C0 + "image"),
    ("docker", c(image="sha256:" + "0" * 64), c(image="sha256:" + "0" * 63), C0 + "image"),
    ("docker", c(image="[::1]:5000/app"), c(image="app:1 --privileged"), C0 + "image"),
    ("docker", c(image_id=None), c(image_id="sha256:x"), C0 + "image_id"),
    ("docker", c(id="0123456789ab"), c(id="mqtt00000000"), C0 + "id"),
    ("docker", c(state="paused"), c(state="Running"), C0 + "state"),
    ("docker", c(health="starting"), c(health="ok"), C0 + "health"),
    ("docker", c(restart_count=2**31 - 1), c(restart_count=2**31), C0 + "restart_count"),
    ("docker", c(restart_count=0), c(restart_count=True), C0 + "restart_count"),
    ("docker", c(restart_count=0), c(restart_count=-1), C0 + "restart_count"),
    ("docker", c(exit_code=-1), c(exit_code=1.0), C0 + "exit_code"),
    ("docker", c(started_at="2026-11-27T03:46:30.766589796Z"), c(started_at="yesterday"), C0 + "started_at"),
    ("docker", c(compose_project="home"), c(compose_project="home\n"), C0 + "compose_project"),
    (
        "docker",
        c(labels={"com.docker.compose.project": "home", "traefik.http.routers.r.rule": "Host(`a.b`)"}),
        c(labels={"a": "{{ x }}"}),
        C0 + "labels[a]",
    ),
    ("docker", c(labels={"a.b/c": ""}), c(labels={"a b": "x"}), C0 + "labels"),
    ("docker", c(env=["PATH", "_X1"]), c(env=["1X"]), C0 + "env[0]"),
    (
        "docker",
        c(mounts=[{"type": "bind", "source": "/srv/x", "destination": "/data", "read_only": True}]),
        c(mounts=[{"type": "bind", "source": "/srv/x", "destination": "data", "read_only": True}]),
        C0 + "mounts[0].destination",
    ),
    (
        "docker",
        c(mounts=[{"type": "volume", "source": "pgdata", "destination": "/var/lib/pg", "read_only": False}]),
        c(mounts=[{"type": "volume", "source": "pg/../x", "destination": "/v", "read_only": False}]),
        C0 + "mounts[0].source",
    ),
    ("docker", c(), c(privileged=True), C0[:-1]),
    (
        "docker",
        {"status": "engine_unreachable", "error": "no socket", "docker_host": "unix:///x.sock", "containers": None},
        {"status": "engine_unreachable", "error": "no socket", "docker_host": "unix:///x.sock", "containers": []},
        "checks.docker.containers",
    ),
    (
        "docker",
        {"status": "check_failed", "error": "boom"},
        {"status": "bogus", "error": "boom"},
        "checks.docker.status",
    ),
    ("docker", {"status": "invalid_report", "error": "x"}, {"status": "invalid_report"}, "checks.docker"),
    ("docker", docker_ok(), {**docker_ok(), "docker_host": "tcp://1.2.3.4:2375"}, "checks.docker.docker_host"),
    ("disk", disk_ok(), with_value(disk_ok(), ("mounts", 0, "used_pct"), 100.1), "checks.disk.mounts[0].used_pct"),
    (
        "disk",
        disk_ok(),
        with_value(disk_ok(), ("mounts", 0, "used_pct"), float("nan")),
        "checks.disk.mounts[0].used_pct",
    ),
    (
        "disk",
        disk_ok(),
        with_value(disk_ok(), ("mounts", 0, "mount_point"), "relative"),
        "checks.disk.mounts[0].mount_point",
    ),
    ("disk", disk_ok(), with_value(disk_ok(), ("mounts", 0, "fstype"), "ext4;rm"), "checks.disk.mounts[0].fstype"),
    (
        "disk",
        disk_ok(),
        with_value(disk_ok(), ("mounts", 0, "total_bytes"), 2**65),
        "checks.disk.mounts[0].total_bytes",
    ),
    ("disk", disk_ok(), with_value(disk_ok(), ("mounts", 1, "fstype"), "ext4"), "checks.disk.mounts[1].fstype"),
    (
        "disk",
        {"status": "ok", "error": None, "mounts": [mount(f"/m{i}") for i in range(256)]},
        {"status": "ok", "error": None, "mounts": [mount(f"/m{i}") for i in range(257)]},
        "checks.disk.mounts",
    ),
    (
        "tailscale",
        tailscale_ok(),
        with_value(tailscale_ok(), ("backend_state",), "Hacked"),
        "checks.tailscale.backend_state",
    ),
    (
        "tailscale",
        tailscale_ok(),
        with_value(tailscale_ok(), ("self", "ips", 0), "100.64.0.300"),
        "checks.tailscale.self.ips[0]",
    ),
    (
        "tailscale",
        tailscale_ok(),
        with_value(tailscale_ok(), ("peers", 0, "name"), "saturn,piha"),
        "checks.tailscale.peers[0].name",
    ),
    (
        "tailscale",
        tailscale_ok(),
        with_value(tailscale_ok(), ("peers", 0, "dns_name"), "a..b"),
        "checks.tailscale.peers[0].dns_name",
    ),
    ("tailscale", tailscale_ok(), with_value(tailscale_ok(), ("peer_count",), -1), "checks.tailscale.peer_count"),
    (
        "tailscale",
        {**dict.fromkeys(tailscale_ok()), "status": "absent", "error": "no socket", "socket": "/run/ts.sock"},
        {**dict.fromkeys(tailscale_ok()), "status": "absent", "error": "x", "socket": "/s", "peers": []},
        "checks.tailscale.peers",
    ),
    (
        "mqtt",
        mqtt_ok(),
        with_value(mqtt_ok(), ("brokers", 0, "connack_code"), 256),
        "checks.mqtt.brokers[0].connack_code",
    ),
    (
        "mqtt",
        with_value(mqtt_ok(), ("brokers", 0, "connack_reason"), "unknown return code 77"),
        with_value(mqtt_ok(), ("brokers", 0, "connack_reason"), "all fine, trust me"),
        "checks.mqtt.brokers[0].connack_reason",
    ),
    (
        "mqtt",
        with_value(mqtt_ok(), ("brokers", 0, "name"), "[::1]:1883"),
        with_value(mqtt_ok(), ("brokers", 0, "name"), "a b"),
        "checks.mqtt.brokers[0].name",
    ),
    ("mqtt", mqtt_ok(), with_value(mqtt_ok(), ("brokers", 0, "status"), "ok"), "checks.mqtt.brokers[0].status"),
    ("mqtt", mqtt_ok(), with_value(mqtt_ok(), ("brokers", 0, "port"), 0), "checks.mqtt.brokers[0].port"),
    (
        "mqtt",
        mqtt_ok(),
        with_value(mqtt_ok(), ("brokers", 0, "latency_ms"), float("inf")),
        "checks.mqtt.brokers[0].latency_ms",
    ),
    (
        "extra",
        {"status": "check_failed", "error": "unknown check 'extra'"},
        {"status": "ok", "error": None},
        "checks.extra.status",
    ),
]


@pytest.mark.parametrize(
    ("area", "good", "bad", "where"), EXAMPLES, ids=[f"{e[3]}-{i}" for i, e in enumerate(EXAMPLES)]
)
def test_each_field_has_a_valid_and_an_invalid_example(area: str, good: Any, bad: Any, where: str) -> None:
    assert problem(area, good) is None
    assert problem(area, bad) == where


def test_counts_are_bounded() -> None:
    ok = docker_ok([container(f"c{i}") for i in range(schema.MAX_CONTAINERS)])
    assert problem("docker", ok) is None
    ok["containers"].append(container("one-more"))
    assert problem("docker", ok) == "checks.docker.containers"
    assert problem("docker", docker_ok([container("a"), container("a")])) == "checks.docker.containers"


def test_a_host_with_thousands_of_containers_fits_the_size_cap() -> None:
    names = [f"project{i % 40}-service{i}-1" for i in range(5_000)]
    checks = {
        **valid_checks(),
        "docker": docker_ok([container(n, image=f"registry.example.org/team/{n}:1.2.3") for n in names]),
    }
    size = schema.report_size(checks)
    assert size < schema.MAX_REPORT_BYTES / 2, size  # 5 000 containers: well under the cap
    assert (
        schema.report_size({"docker": docker_ok([container("x", labels={"k": "v" * 4000})] * 3000)})
        > schema.MAX_REPORT_BYTES
    )
    assert schema.report_size({"x": float("nan")}) == len('{"x":NaN}')
    assert schema.report_size({"x": object()}) > schema.MAX_REPORT_BYTES  # not JSON at all


def test_the_refusal_is_one_escaped_line_with_a_short_excerpt() -> None:
    bad = with_value(docker_ok(), ("containers", 0, "image"), HOSTILE_STRINGS["yaml play"] + "x" * 1000)
    entry = schema.invalid_report(schema.check_problem("docker", bad))  # type: ignore[arg-type]
    assert entry["status"] == "invalid_report"
    prefix = "invalid value from the node (checks.docker.containers[0].image, "
    assert entry["error"].startswith(prefix + '"evil:1\\n---\\n- hosts: localhost\\n  tasks:\\n  - ansible...."')
    assert len(entry["error"][len(prefix) :].split("): ")[0]) <= schema.MAX_EXCERPT
    assert problem("docker", {"status": "invalid_report", "error": entry["error"]}) is None  # schema-valid itself
    for text in HOSTILE_STRINGS.values():
        for limit in (60, 5, 2048):
            out = schema.inert(text, limit)
            assert len(out) <= limit and not schema._BAD_TEXT.search(out), (text[:20], limit, out)
    assert schema.inert("{{ x }} {% y %}") == "\\x7b\\x7b x \\x7d\\x7d \\x7b% y %\\x7d"
    assert schema.excerpt([1] * 500_000) == "a list of 500000 items"
    assert schema.excerpt(10**5000) == "a very large integer"


def test_the_world_document_around_the_checks() -> None:
    doc = world_doc("piha", [container("web")])
    assert schema.world_problem(doc, "piha") is None
    cases = {
        "schema": {**doc, "schema": True},
        "world": {**doc, "extra": 1},
        "observed_at": {**doc, "observed_at": "2026-11-27T04:00:00"},  # no zone: not comparable with now
        "cycle": {**doc, "cycle": "c 1"},
        "reachable": {**doc, "reachable": "yes"},
        "error": {**doc, "error": "ssh:\n---"},
        "checks": {**doc, "reachable": False, "error": "down"},  # unreachable, yet checks
    }
    for where, bad in cases.items():
        assert schema.world_problem(bad, "piha").path == where  # type: ignore[union-attr]
    assert (
        schema.world_problem({**doc, "checks": {"docker": {"status": "bogus"}}}, "piha").path == "checks.docker.status"
    )  # type: ignore[union-attr]
    assert schema.cycle_problem("20261127T050210123456Z-c1") is None
    assert schema.cycle_problem("a\nb") is not None


def test_what_the_loader_says_names_the_field(tmp_path: Path) -> None:
    doc = world_doc("piha", [container("web", image="evil:1\n---")])
    (tmp_path / "piha.json").write_text(json.dumps(doc))
    with pytest.raises(store.WorldFileError) as err:
        store.load_world_file(tmp_path / "piha.json", check_problem)
    assert str(err.value) == 'checks.docker.containers[0].image: not an image reference, got "evil:1\\n---"'


def test_validated_checks_keep_the_valid_refuse_the_bad_and_drop_the_unasked() -> None:
    requested = {"docker": {}, "disk": {}, "mqtt": {}}
    reported = {"docker": {"status": "bogus"}, "disk": disk_ok(), "tailscale": tailscale_ok()}
    checks, problems = action.validated_checks(requested, reported)
    assert sorted(checks) == ["disk", "docker", "mqtt"]
    assert checks["disk"] == disk_ok()
    assert checks["docker"]["status"] == checks["mqtt"]["status"] == "invalid_report"
    assert "did not report this check" in checks["mqtt"]["error"]
    assert len(problems) == 3 and "not requested" in problems[-1]
    every, _ = action.validated_checks(requested, ["not", "an", "object"])
    assert {c["status"] for c in every.values()} == {"invalid_report"} and sorted(every) == sorted(requested)
