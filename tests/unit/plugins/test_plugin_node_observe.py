"""plugins/modules/node_observe.py, run in-process against real servers.

docker: a real HTTP server on a unix socket answering like the Engine API; disk: real paths;
mqtt: a real Debian mosquitto (skipped without it); tailscale: the fake tailscaled LocalAPI.
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _docker_server import FakeEngine, load_engine
from _module_runner import run_module
from fake_tailscaled import FakeTailscaled
from mosquitto import Mosquitto

from ansible_collections.homelab.steward.plugins.module_utils import (
    _check_disk,
    _check_docker,
    _check_mqtt,
    _check_tailscale,
)
from ansible_collections.homelab.steward.plugins.modules import (
    disk_usage_info,
    docker_containers_info,
    mqtt_broker_info,
    node_observe,
    tailscale_status_info,
)

STANDALONE = {
    "docker": (docker_containers_info, _check_docker),
    "disk": (disk_usage_info, _check_disk),
    "mqtt": (mqtt_broker_info, _check_mqtt),
    "tailscale": (tailscale_status_info, _check_tailscale),
}


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="sdobs-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def engine(sockdir: Path) -> Iterator[FakeEngine]:
    server = FakeEngine(str(sockdir / "docker.sock"))
    server.serve_engine(load_engine())
    yield server
    server.close()


@pytest.fixture
def tailscaled(sockdir: Path) -> Iterator[FakeTailscaled]:
    with FakeTailscaled(str(sockdir / "tailscaled.sock"), scenario="running") as fake:
        yield fake


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is needed (Debian package mosquitto)")
    with Mosquitto(tmp_path / "broker", users={"steward": "s3cret-pw"}) as server:
        yield server


def observe(capsys: pytest.CaptureFixture[str], checks: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return run_module(node_observe, capsys, {"checks": checks, **kw.pop("args", {})}, **kw)


# --- the contract with the standalone modules -----------------------------------------------


@pytest.mark.parametrize("area", sorted(STANDALONE))
def test_each_check_takes_exactly_the_options_of_its_standalone_module(area: str) -> None:
    module, check = STANDALONE[area]
    spec = node_observe.CHECKS[area][0]
    assert spec == module.ARGUMENT_SPEC
    # ... which are collect()'s keyword arguments, so one dict serves both.
    params = inspect.signature(check.collect).parameters
    assert set(spec) <= set(params)
    assert node_observe.CHECKS[area][1] is check.collect


def test_knows_every_check_module_util() -> None:
    utils = Path(node_observe.__file__).resolve().parents[1] / "module_utils"
    areas = {p.stem.removeprefix("_check_") for p in utils.glob("_check_*.py")}
    assert areas == set(node_observe.CHECKS)


def test_module_and_action_plugin_agree_on_the_options() -> None:
    from ansible_collections.homelab.steward.plugins.action import node_observe as action

    assert action.ARGUMENT_SPEC == node_observe.ARGUMENT_SPEC


# --- one round trip, four checks --------------------------------------------------------------


@pytest.mark.parametrize("check_mode", [False, True])
def test_runs_all_four_checks_in_one_run(
    capsys: pytest.CaptureFixture[str],
    engine: FakeEngine,
    tailscaled: FakeTailscaled,
    broker: Mosquitto,
    tmp_path: Path,
    check_mode: bool,
) -> None:
    checks = {
        "docker": {"docker_host": engine.docker_host, "timeout": 5},
        "disk": {"mounts": [{"path": str(tmp_path), "max_used_pct": 99}, {"path": str(tmp_path / "gone")}]},
        "mqtt": {
            "brokers": [
                {
                    "name": "home",
                    "host": broker.host,
                    "port": broker.port,
                    "username": "steward",
                    "password": "s3cret-pw",
                }
            ]
        },
        "tailscale": {"socket": tailscaled.socket_path, "expected_peers": []},
    }

    result = observe(capsys, checks, check_mode=check_mode)

    assert result["changed"] is False
    assert "failed" not in result
    seen = result["checks"]
    assert list(seen) == ["disk", "docker", "mqtt", "tailscale"]
    assert all({"status", "error"} <= set(v) for v in seen.values())
    assert seen["docker"]["status"] == "ok"
    assert [c["name"] for c in seen["docker"]["containers"]] == ["crashed", "fresh", "home-mosquitto-1", "web"]
    assert seen["docker"] == _check_docker.collect(engine.docker_host, 5)  # the very same record
    assert seen["disk"]["status"] == "ok"
    assert [(m["path"], m["present"]) for m in seen["disk"]["mounts"]] == [
        (str(tmp_path), True),
        (str(tmp_path / "gone"), False),
    ]
    assert [(b["name"], b["status"]) for b in seen["mqtt"]["brokers"]] == [("home", "accepted")]
    assert seen["tailscale"]["status"] == "ok"
    assert set(result["elapsed"]) == set(seen)


def test_defaults_apply_per_check(capsys: pytest.CaptureFixture[str]) -> None:
    result = observe(capsys, {"disk": None, "tailscale": {"socket": "/nonexistent/tailscaled.sock"}})

    disk = result["checks"]["disk"]
    assert disk["status"] == "ok"
    assert [m["path"] for m in disk["mounts"]] == ["/"]
    assert result["checks"]["tailscale"]["status"] == "absent"


def test_no_checks_means_an_empty_observation(capsys: pytest.CaptureFixture[str]) -> None:
    result = observe(capsys, {})
    assert result["checks"] == {}
    assert result["changed"] is False


# --- one bad check never blinds the others ----------------------------------------------------


def test_bad_options_fail_only_their_check(capsys: pytest.CaptureFixture[str], engine: FakeEngine) -> None:
    result = observe(
        capsys,
        {
            "docker": {"docker_host": "tcp://127.0.0.1:2375"},  # collect() refuses it
            "disk": {"mounts": "not a list of mounts", "timeout": 5},  # the argument spec refuses it
            "mqtt": {"brokers": [{"port": 1883}]},  # host is required
            "tailscale": {"socket": "/nonexistent/ts.sock", "bogus": 1},  # unknown option
            "sparkplug": {},  # unknown check
        },
    )

    assert "failed" not in result
    seen = result["checks"]
    assert {area: c["status"] for area, c in seen.items()} == dict.fromkeys(
        ["disk", "docker", "mqtt", "sparkplug", "tailscale"], "check_failed"
    )
    assert "tcp://127.0.0.1:2375" in seen["docker"]["error"]
    assert "mounts" in seen["disk"]["error"]
    assert "host" in seen["mqtt"]["error"]
    assert "bogus" in seen["tailscale"]["error"]
    assert "unknown check 'sparkplug'" in seen["sparkplug"]["error"]


def test_options_that_are_not_a_dict_fail_only_their_check(
    capsys: pytest.CaptureFixture[str], engine: FakeEngine
) -> None:
    result = observe(capsys, {"disk": ["/"], "docker": {"docker_host": engine.docker_host}})
    assert result["checks"]["disk"]["status"] == "check_failed"
    assert "must be a dict" in result["checks"]["disk"]["error"]
    assert result["checks"]["docker"]["status"] == "ok"


def _crash(**options: Any) -> dict:
    raise RuntimeError("a bug in a check")


def _hang(**options: Any) -> dict:
    threading.Event().wait(30)
    return {"status": "ok", "error": None}


def _not_a_status(**options: Any) -> Any:
    return ["not", "a", "dict"]


@pytest.mark.parametrize(
    ("collect", "expected"),
    [
        (_crash, "the extra check crashed: RuntimeError: a bug in a check"),
        (_hang, "the extra check did not finish within 1 s"),
        (_not_a_status, "the extra check returned list, not a status dict"),
    ],
    ids=["crash", "hang", "garbage"],
)
def test_a_broken_check_is_reported_and_the_others_still_are(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    engine: FakeEngine,
    collect: Any,
    expected: str,
) -> None:
    # A stand-in collector plays the broken check; the wrapper around it is what is tested.
    monkeypatch.setitem(node_observe.CHECKS, "extra", ({}, collect))
    start = time.monotonic()

    result = observe(capsys, {"extra": {}, "docker": {"docker_host": engine.docker_host}}, args={"timeout": 1})

    assert time.monotonic() - start < 10
    assert result["checks"]["extra"] == {"status": "check_failed", "error": expected}
    assert result["checks"]["docker"]["status"] == "ok"


def test_checks_run_in_parallel(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(**options: Any) -> dict:
        time.sleep(0.5)
        return {"status": "ok", "error": None}

    for area in ("a", "b", "c", "d"):
        monkeypatch.setitem(node_observe.CHECKS, area, ({}, slow))
    start = time.monotonic()
    result = observe(capsys, {"a": {}, "b": {}, "c": {}, "d": {}})
    assert time.monotonic() - start < 1.5  # four half-second checks, not two seconds
    assert all(c["status"] == "ok" for c in result["checks"].values())


def test_secrets_in_check_options_never_show_up_in_the_result(
    capsys: pytest.CaptureFixture[str], broker: Mosquitto
) -> None:
    secret = "Very-s3cret-pw"
    result = observe(
        capsys,
        {
            "mqtt": {
                "brokers": [
                    {
                        "name": "home",
                        "host": broker.host,
                        "port": broker.port,
                        "username": "steward",
                        "password": secret,
                    }
                ]
            }
        },
    )
    assert result["checks"]["mqtt"]["brokers"][0]["status"] == "refused"  # wrong password: CONNACK 5
    assert secret not in json.dumps(result)


def test_non_positive_timeout_fails_the_task(capsys: pytest.CaptureFixture[str]) -> None:
    result = observe(capsys, {"disk": {}}, args={"timeout": 0})
    assert result["failed"] is True
    assert "timeout" in result["msg"]
