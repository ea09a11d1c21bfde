"""`steward diagnose` and `steward show` from the command line: the real engine's pending action, the real
`ollama` client against tests/ollama_server.py, the configuration from the inventory's group var.

The look at the container goes through the real look_at_container with ansible-runner replaced by a
run that cannot reach the host: the look is then a fact ("unavailable") and the model is still asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from diagnose_lab import MODEL, Lab
from ollama_server import GOOD_ANSWER, OllamaServer, closed_port_url

from steward.interfaces.cli.main import main


@pytest.fixture(autouse=True)
def no_real_look(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("piha is a test host: no SSH here")

    monkeypatch.setattr("steward.diagnose.look.run_playbook", unreachable)
    monkeypatch.delenv("STEWARD_OLLAMA_URL", raising=False)
    monkeypatch.delenv("STEWARD_OLLAMA_MODEL", raising=False)


def configure(lab: Lab, **diagnosis: Any) -> None:
    """steward_diagnosis as a group var of all: in the lab's inventory."""
    inventory = Path(lab.settings.inventory)
    doc = yaml.safe_load(inventory.read_text())
    doc["all"]["vars"] = {"steward_diagnosis": diagnosis}
    inventory.write_text(yaml.safe_dump(doc, sort_keys=False))


def steward(lab: Lab, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--state-dir", str(lab.settings.state_dir), "-i", str(lab.settings.inventory), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_diagnose_once_then_show_prints_the_diagnosis(lab: Lab, server: OllamaServer, capsys) -> None:
    configure(lab, url=server.url, model=MODEL, timeout=5)
    code, out, _ = steward(lab, capsys, "diagnose", "--once")
    assert code == 0 and out.strip() == f"{lab.action_id}: {GOOD_ANSWER['summary']}"
    assert steward(lab, capsys, "diagnose", "--once")[1] == ""  # idempotent: one diagnosis per action

    code, out, _ = steward(lab, capsys, "show", lab.action_id)
    assert code == 0 and f"# {lab.action_id} is in pending/" in out
    assert f"# diagnosis by {MODEL} at " in out and "it cannot act on this action" in out
    assert f"#   summary      : {GOOD_ANSWER['summary']}" in out
    assert "#     - Is /mosquitto/config mounted on the host?" in out
    doc = json.loads(steward(lab, capsys, "show", lab.action_id, "--json")[1])
    assert doc["diagnosis"]["status"] == "ok" and doc["diagnosis"]["answer"] == GOOD_ANSWER
    # the look could not reach the host: sent as a fact, the model asked all the same
    (chat,) = server.chats()
    assert "no SSH here" in json.dumps(chat.json())


def test_the_diagnosis_follows_an_approval_and_show_still_prints_it(lab: Lab, server: OllamaServer, capsys) -> None:
    configure(lab, url=server.url, model=MODEL)
    assert steward(lab, capsys, "diagnose", lab.action_id)[0] == 0
    assert steward(lab, capsys, "approve", lab.action_id)[0] == 0
    code, out, _ = steward(lab, capsys, "show", lab.action_id)
    assert code == 0 and "is in approved/" in out and GOOD_ANSWER["summary"] in out
    assert (lab.settings.paths.folder("approved") / f"{lab.action_id}.diagnosis.json").is_file()


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("down", "cannot reach the Ollama server"),
        ("slow", "within 1 s"),
        ("model missing", "is not on the Ollama server"),
        ("bad answer", "not JSON of the schema"),
    ],
)
def test_a_failed_diagnosis_leaves_the_action_pending_and_show_says_why(
    lab: Lab, server: OllamaServer, capsys, setup: str, reason: str
) -> None:
    url, model = server.url, MODEL
    if setup == "down":
        url = closed_port_url()
    elif setup == "slow":
        server.delay = 3.0
    elif setup == "model missing":
        model = "qwen2.5:7b"
    else:
        server.content = '{"summary": "approve it", "fix_fits": "definitely"}'
    configure(lab, url=url, model=model, timeout=1)
    signed = lab.pending.read_bytes()

    code, out, _ = steward(lab, capsys, "diagnose", lab.action_id)
    assert code == 1 and out.startswith("# diagnosis unavailable: ") and reason in out

    code, out, _ = steward(lab, capsys, "show", lab.action_id)
    assert code == 0 and "is in pending/" in out
    assert out.rstrip().splitlines()[-1].startswith("# diagnosis unavailable: ") and reason in out
    assert json.loads(steward(lab, capsys, "show", lab.action_id, "--json")[1])["diagnosis"]["status"] == "unavailable"
    # nothing moved, nothing changed
    assert lab.pending.read_bytes() == signed
    listed = json.loads(steward(lab, capsys, "list", "--all", "--json")[1])
    assert [(a["id"], a["folder"]) for a in listed] == [(lab.action_id, "pending")]


def test_a_models_control_characters_never_reach_the_terminal(lab: Lab, server: OllamaServer, capsys) -> None:
    server.answer({**GOOD_ANSWER, "summary": "fine\x1b[2J\x1b]0;owned\x07", "why": "line\rover\u202ewritten"})
    configure(lab, url=server.url, model=MODEL)
    for args in (("diagnose", lab.action_id), ("show", lab.action_id), ("diagnose", "--once")):
        _, out, _ = steward(lab, capsys, *args)
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out


def test_diagnose_refuses_what_is_not_a_pending_action(lab: Lab, server: OllamaServer, capsys) -> None:
    configure(lab, url=server.url, model=MODEL)
    code, _, err = steward(lab, capsys, "diagnose", "no-such-action")
    assert code == 2 and "no action 'no-such-action'" in err
    code, _, err = steward(lab, capsys, "diagnose", "../../etc/passwd")
    assert code == 2 and "not an action id" in err
    assert steward(lab, capsys, "approve", lab.action_id)[0] == 0
    code, _, err = steward(lab, capsys, "diagnose", lab.action_id)
    assert code == 2 and f"{lab.action_id} is in approved/: only a pending action is diagnosed" in err
    assert server.chats() == []


def test_with_diagnosis_off_show_says_nothing_and_diagnose_says_it_is_off(lab: Lab, capsys) -> None:
    code, out, _ = steward(lab, capsys, "show", lab.action_id)
    assert code == 0 and "# diagnosis" not in out
    assert json.loads(steward(lab, capsys, "show", lab.action_id, "--json")[1])["diagnosis"] is None
    code, _, err = steward(lab, capsys, "diagnose", lab.action_id)
    assert code == 2 and "diagnosis is off" in err
    code, out, err = steward(lab, capsys, "diagnose", "--once")
    assert code == 0 and out == "" and "diagnosis is off" in err
    assert "diagnosis:" not in steward(lab, capsys, "status")[1]


def test_show_says_a_pending_action_waits_for_its_diagnosis(lab: Lab, server: OllamaServer, capsys) -> None:
    configure(lab, url=server.url, model=MODEL)
    out = steward(lab, capsys, "show", lab.action_id)[1]
    assert "# diagnosis: not diagnosed yet" in out


def test_a_malformed_setting_is_exit_2_for_diagnose_and_a_line_for_show(lab: Lab, capsys) -> None:
    configure(lab, url="ftp://ollama", model=MODEL)
    code, _, err = steward(lab, capsys, "diagnose", lab.action_id)
    assert code == 2 and "steward_diagnosis.url" in err
    code, out, _ = steward(lab, capsys, "show", lab.action_id)
    assert code == 0 and "# diagnosis unavailable: steward_diagnosis.url" in out


def test_status_shows_the_diagnosis_servers_health(lab: Lab, server: OllamaServer, capsys) -> None:
    configure(lab, url=server.url, model=MODEL)
    out = steward(lab, capsys, "status")[1]
    assert f"diagnosis: Ollama 0.6.8 at {server.url}, model {MODEL}" in out
    configure(lab, url=closed_port_url(), model=MODEL)
    assert "diagnosis: cannot reach the Ollama server" in steward(lab, capsys, "status")[1]
