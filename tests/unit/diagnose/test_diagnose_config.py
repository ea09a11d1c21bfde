"""steward_diagnosis / STEWARD_OLLAMA_*: default off, env wins, a malformed value names the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import REPO
from steward.diagnose.config import DEFAULT_URL, DiagnosisConfig, DiagnosisConfigError, load_config, parse_config
from steward.state.settings import Settings


def test_nothing_configured_is_off() -> None:
    assert parse_config(None, {}) == DiagnosisConfig()
    assert parse_config(None, {}).enabled is False


def test_the_group_var_switches_it_on_with_its_values() -> None:
    var = {"url": "http://ollama.lan:11434/", "model": "llama3.2:3b", "timeout": 12, "log_lines": 20}
    cfg = parse_config({**var, "redact": ["x\\d+"]}, {})
    assert cfg == DiagnosisConfig(True, "http://ollama.lan:11434", "llama3.2:3b", 12.0, 20, ("x\\d+",))


def test_the_environment_wins_and_a_url_there_switches_it_on() -> None:
    env = {"STEWARD_OLLAMA_URL": "https://gpu.lan:8443", "STEWARD_OLLAMA_MODEL": "qwen2.5:7b"}
    assert parse_config(None, env) == DiagnosisConfig(True, "https://gpu.lan:8443", "qwen2.5:7b")
    cfg = parse_config({"url": "http://other:1", "model": "llama3.2"}, env)
    assert (cfg.url, cfg.model) == ("https://gpu.lan:8443", "qwen2.5:7b")


def test_enabled_false_in_the_group_var_beats_the_environment() -> None:
    env = {"STEWARD_OLLAMA_URL": "http://127.0.0.1:11434", "STEWARD_OLLAMA_MODEL": "llama3.2"}
    assert parse_config({"enabled": False}, env).enabled is False
    assert parse_config({"enabled": False}, {}).url == DEFAULT_URL


@pytest.mark.parametrize(
    ("value", "env", "names"),
    [
        ("http://x", {}, "steward_diagnosis must be a mapping"),
        ({"url": "http://x", "modle": "m"}, {}, "unknown key(s) modle"),
        ({"url": "http://x"}, {}, "set steward_diagnosis.model or STEWARD_OLLAMA_MODEL"),
        (None, {"STEWARD_OLLAMA_URL": "http://x"}, "STEWARD_OLLAMA_MODEL"),
        ({"url": "ftp://x", "model": "m"}, {}, "steward_diagnosis.url"),
        ({"url": "http://x:port", "model": "m"}, {}, "steward_diagnosis.url has a port"),
        (None, {"STEWARD_OLLAMA_URL": "localhost:11434", "STEWARD_OLLAMA_MODEL": "m"}, "STEWARD_OLLAMA_URL"),
        ({"model": "m; rm -rf /"}, {}, "steward_diagnosis.model"),
        (None, {"STEWARD_OLLAMA_URL": "http://x", "STEWARD_OLLAMA_MODEL": "a b"}, "STEWARD_OLLAMA_MODEL must be"),
        ({"model": "m", "timeout": 0}, {}, "steward_diagnosis.timeout"),
        ({"model": "m", "timeout": "30"}, {}, "steward_diagnosis.timeout"),
        ({"model": "m", "timeout": True}, {}, "steward_diagnosis.timeout"),
        ({"model": "m", "log_lines": 2.5}, {}, "steward_diagnosis.log_lines"),
        ({"model": "m", "enabled": "yes"}, {}, "steward_diagnosis.enabled"),
        ({"model": "m", "redact": "secret"}, {}, "steward_diagnosis.redact must be a list"),
        ({"model": "m", "redact": ["ok", "(unclosed"]}, {}, "steward_diagnosis.redact[1]"),
    ],
)
def test_a_malformed_value_is_an_error_naming_the_variable(value: object, env: dict[str, str], names: str) -> None:
    with pytest.raises(DiagnosisConfigError) as err:
        parse_config(value, env)
    assert names in str(err.value)


def _settings(tmp_path: Path, all_vars: dict[str, object]) -> Settings:
    inventory = tmp_path / "hosts.yml"
    hosts = {"piha": {"steward_services": [{"name": "mqtt", "image": "busybox:1"}]}}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": all_vars}}))
    return Settings(project_dir=REPO, inventory=inventory, state_dir=tmp_path / "state")


def test_load_config_reads_the_inventory_and_the_environment(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {})
    assert load_config(settings, {}).enabled is False
    env = {"STEWARD_OLLAMA_URL": "http://127.0.0.1:11434", "STEWARD_OLLAMA_MODEL": "llama3.2"}
    assert load_config(settings, env) == DiagnosisConfig(True, "http://127.0.0.1:11434", "llama3.2")


def test_load_config_reads_the_group_var(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"steward_diagnosis": {"url": "http://ollama.lan:11434", "model": "llama3.2"}})
    assert load_config(settings, {}) == DiagnosisConfig(True, "http://ollama.lan:11434", "llama3.2")
