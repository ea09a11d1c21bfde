"""plugins/modules/mqtt_broker_info.py run in-process against a real mosquitto; its docs and its role's contract."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _module_runner import run_module
from mosquitto import Mosquitto, free_port
from test_plugin_docs import normalised

from ansible_collections.homelab.steward.plugins.module_utils._check_mqtt import BROKER_STATUSES
from ansible_collections.homelab.steward.plugins.modules import mqtt_broker_info

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "mqtt_health"
PASSWORD = "hunter2-but-longer"

needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto", path="/usr/sbin:/usr/bin:/sbin:/bin") is None,
    reason="needs the Debian package mosquitto (run scripts/bootstrap.sh)",
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    if shutil.which("mosquitto", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        pytest.skip("needs the Debian package mosquitto (run scripts/bootstrap.sh)")
    with Mosquitto(tmp_path_factory.mktemp("mqtt-mod"), users={"steward": PASSWORD}) as b:
        yield b


@needs_mosquitto
@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_brokers_and_never_changes(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str], check_mode: bool
) -> None:
    args = {
        "brokers": [
            {
                "name": "piha",
                "host": "127.0.0.1",
                "port": broker.port,
                "username": "steward",
                "password": PASSWORD,
                "roundtrip": True,
            },
            {"name": "wrong", "host": "127.0.0.1", "port": broker.port, "username": "steward", "password": "nope"},
        ],
        "timeout": 2,
    }
    result = run_module(mqtt_broker_info, capsys, args, check_mode=check_mode)

    assert result["changed"] is False
    assert "failed" not in result
    mqtt = result["mqtt"]
    assert (mqtt["status"], mqtt["error"]) == ("ok", None)
    piha, wrong = mqtt["brokers"]
    assert (piha["name"], piha["status"], piha["connack_code"], piha["accepted"]) == ("piha", "accepted", 0, True)
    assert piha["roundtrip"]["ok"] is True
    assert (wrong["status"], wrong["connack_code"], wrong["connack_reason"]) == ("refused", 5, "not authorised")
    # The password never shows up in what Ansible prints or registers.
    assert PASSWORD not in json.dumps(result)


def test_closed_port_is_reported_not_failed(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    result = run_module(mqtt_broker_info, capsys, {"brokers": [{"host": "127.0.0.1", "port": port}], "timeout": 1})

    assert "failed" not in result
    assert result["changed"] is False
    assert result["mqtt"]["brokers"] == [
        {
            "name": f"127.0.0.1:{port}",
            "host": "127.0.0.1",
            "port": port,
            "status": "unreachable",
            "reachable": False,
            "connack_code": None,
            "connack_reason": None,
            "accepted": False,
            "latency_ms": None,
            "roundtrip": None,
            "error": f"connection refused by 127.0.0.1:{port}",
        }
    ]


def test_no_brokers_is_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_module(mqtt_broker_info, capsys, {})
    assert result["mqtt"] == {"status": "ok", "error": None, "brokers": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"brokers": [{"host": "h", "password": "s3cret"}]}, "allows a password only with a username"),
        ({"brokers": [{"host": "h", "name": "a"}, {"host": "g", "name": "a"}]}, "repeated: a"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"brokers": [{"port": 1883}]}, "host"),  # Ansible's own validation: required suboption
    ],
)
def test_bad_options_fail_the_task(capsys: pytest.CaptureFixture[str], args: dict, message: str) -> None:
    result = run_module(mqtt_broker_info, capsys, args)
    assert result["failed"] is True
    assert message in result["msg"]


# --------------------------------------------------------------------------- docs


def _suboptions(options: dict[str, Any]) -> dict[str, Any]:
    return {name: normalised(opt) for name, opt in options.items()}


def test_documented_options_and_suboptions_equal_argument_spec() -> None:
    doc = yaml.safe_load(mqtt_broker_info.DOCUMENTATION)
    assert _suboptions(doc["options"]) == _suboptions(mqtt_broker_info.ARGUMENT_SPEC)
    assert _suboptions(doc["options"]["brokers"]["suboptions"]) == _suboptions(
        mqtt_broker_info.ARGUMENT_SPEC["brokers"]["options"]
    )
    assert doc["module"] == "mqtt_broker_info"
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert yaml.safe_load(mqtt_broker_info.EXAMPLES)


def test_return_documents_every_broker_field(capsys: pytest.CaptureFixture[str]) -> None:
    returned = yaml.safe_load(mqtt_broker_info.RETURN)["mqtt"]["contains"]
    result = run_module(
        mqtt_broker_info,
        capsys,
        {"brokers": [{"host": "127.0.0.1", "port": free_port(), "roundtrip": True}], "timeout": 1},
    )
    mqtt = result["mqtt"]
    assert set(returned) == set(mqtt)
    broker_fields = returned["brokers"]["contains"]
    assert set(broker_fields) == set(mqtt["brokers"][0])
    assert set(broker_fields["roundtrip"]["contains"]) == set(mqtt["brokers"][0]["roundtrip"])
    assert broker_fields["status"]["choices"] == list(BROKER_STATUSES)


# --------------------------------------------------------------------------- role contract


def test_role_argument_specs_defaults_and_readme_agree() -> None:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    readme = (ROLE / "README.md").read_text()
    variables_table = readme.split("## Variables", 1)[1].split("\n## ", 1)[0]
    in_readme = set(re.findall(r"^\| `(mqtt_health_[a-z_]+)` \|", variables_table, flags=re.M))

    assert set(specs) == set(defaults) == in_readme
    for name, spec in specs.items():
        assert name.startswith("mqtt_health_")
        assert spec.get("description"), name
        if "default" in spec:
            assert spec["default"] == defaults[name], name
        row = re.search(rf"^\| `{name}` \| (\w+) \|", variables_table, flags=re.M)
        assert row and row.group(1) == spec["type"], name


def test_role_broker_spec_matches_the_module() -> None:
    """The role validates the same broker fields (and types) the module accepts."""
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    role_broker = specs["mqtt_health_brokers"]["options"]
    module_broker = mqtt_broker_info.ARGUMENT_SPEC["brokers"]["options"]
    assert {k: v["type"] for k, v in role_broker.items()} == {k: v["type"] for k, v in module_broker.items()}
    assert role_broker["password"].get("no_log") is True
