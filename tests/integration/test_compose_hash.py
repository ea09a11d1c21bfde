"""The controller computes the config hash Compose writes on the node, with the real compose binary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from steward.areas.docker.compose_hash import ComposeConfigError, ComposeHashes, ProjectSource

COMPOSE = """\
services:
  web:
    image: busybox:1.36
    command: ["httpd", "-f", "-p", "8080"]
    environment:
      TZ: ${TZ:-UTC}
    volumes:
      - ./data:/var/www
  worker:
    image: busybox:1.36
    command: ["sleep", "infinity"]
"""

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI missing (scripts/bootstrap.sh)")


def project(tmp_path: Path, text: str = COMPOSE, env: str | None = None) -> Path:
    folder = tmp_path / "services" / "web"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compose.yml").write_text(text)
    if env is not None:
        (folder / ".env").write_text(env)
    return folder


def test_the_hash_depends_on_the_node_folder_not_the_inventory_copy(tmp_path: Path) -> None:
    folder = project(tmp_path)
    copy = tmp_path / "elsewhere"
    shutil.copytree(folder, copy)
    hashes = ComposeHashes()
    a = hashes.hashes(ProjectSource("web", folder, "/opt/homelab/compose/web"))
    b = hashes.hashes(ProjectSource("web", copy, "/opt/homelab/compose/web"))
    c = hashes.hashes(ProjectSource("web", folder, "/srv/web"))
    assert set(a) == {"web", "worker"} and a == b
    assert c["web"] != a["web"], "the bind mount's absolute source is part of the hash"
    assert c["worker"] == a["worker"], "a service without relative paths hashes the same anywhere"


def test_the_controller_environment_never_reaches_the_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = project(tmp_path)
    source = ProjectSource("web", folder, "/opt/homelab/compose/web")
    plain = ComposeHashes().hashes(source)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    monkeypatch.setenv("COMPOSE_PROFILES", "nope")
    assert ComposeHashes().hashes(source) == plain
    (folder / ".env").write_text("TZ=Europe/Berlin\n")
    assert ComposeHashes().hashes(source)["web"] != plain["web"], "the project's own .env counts"


def test_an_unchanged_folder_costs_no_subprocess_and_a_change_one(tmp_path: Path) -> None:
    folder = project(tmp_path)
    cache = tmp_path / "cache.json"
    source = ProjectSource("web", folder, "/opt/homelab/compose/web")
    first = ComposeHashes(cache)
    before = first.hashes(source)
    again = ComposeHashes(cache)  # a new process: the persisted cache answers
    assert again.hashes(source) == before and again.subprocess_runs == 0
    (folder / "compose.yml").write_text(COMPOSE.replace("${TZ:-UTC}", "Europe/Berlin"))
    after = again.hashes(source)
    assert again.subprocess_runs == 1 and after["web"] != before["web"] and after["worker"] == before["worker"]
    cache.write_text('{"entries": ')  # torn cache: costs a subprocess, never an error
    assert ComposeHashes(cache).hashes(source) == after


def test_a_compose_file_compose_rejects_names_the_file_and_the_reason(tmp_path: Path) -> None:
    folder = project(tmp_path, "services:\n  web:\n    image: busybox\n    environment: [A\n")
    with pytest.raises(ComposeConfigError) as caught:
        ComposeHashes().hashes(ProjectSource("web", folder, "/opt/homelab/compose/web"))
    message = str(caught.value)
    assert str(folder / "compose.yml") in message and "yaml: line 3" in message  # Compose's own words and line


def test_a_folder_without_a_compose_file_or_with_a_symlink_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ComposeConfigError, match="no compose.yaml"):
        ComposeHashes().hashes(ProjectSource("empty", empty, "/opt/x"))
    folder = project(tmp_path)
    (folder / "secret").symlink_to("/etc/shadow")
    with pytest.raises(ComposeConfigError, match="regular files only"):
        ComposeHashes().hashes(ProjectSource("web", folder, "/opt/x"))
