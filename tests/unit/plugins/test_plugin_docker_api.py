"""plugins/module_utils/_docker_api.py against a real unix-socket HTTP server."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _docker_server import FakeEngine, load_engine

from ansible_collections.homelab.steward.plugins.module_utils import _docker_api as api


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="sdapi-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def engine(sockdir: Path) -> Iterator[FakeEngine]:
    server = FakeEngine(str(sockdir / "docker.sock"))
    yield server
    server.close()


# the configuration fields of a container that has none of its own (no labels, env, mounts ...)
NO_CONFIG = {
    "compose_service": None,
    "config_hash": None,
    "labels": {},
    "env": [],
    "mounts": [],
    "ports": [],
    "networks": [],
}


def test_lists_and_inspects_every_container(engine: FakeEngine) -> None:
    recorded = load_engine()
    engine.serve_engine(recorded)

    containers = api.list_containers(engine.docker_host, timeout=5)

    assert [c["name"] for c in containers] == ["crashed", "fresh", "home-mosquitto-1", "web"]
    by_name = {c["name"]: c for c in containers}
    assert by_name["web"] == {
        "name": "web",
        "id": "97a25013e960",
        "state": "running",
        "health": "healthy",
        "image": "steward/busybox:test",
        "image_id": "sha256:5c24e77b2e582645fff2cfcf4aa334a7f64f1aee38ad4d26253394a1652bb80b",
        "restart_count": 0,
        "started_at": "2026-11-27T03:46:30.766589796Z",
        "exit_code": 0,
        "compose_project": "home",
        **NO_CONFIG,
        # the recorded engine has no image inspect: its command and health check count as the container's own
        "settings": ["command", "healthcheck"],
    }
    assert by_name["home-mosquitto-1"]["compose_service"] == "mosquitto"
    assert by_name["home-mosquitto-1"]["settings"] == ["command", "healthcheck", "hostname", "restart_policy"]
    crashed = by_name["crashed"]
    assert (crashed["state"], crashed["exit_code"], crashed["health"]) == ("exited", 3, None)
    assert crashed["compose_project"] is None
    # Never started: Docker's zero time is reported as null, not as year 1.
    assert by_name["fresh"]["state"] == "created"
    assert by_name["fresh"]["started_at"] is None
    mosquitto = by_name["home-mosquitto-1"]
    assert mosquitto["state"] == "restarting"
    assert mosquitto["health"] == "unhealthy"
    assert mosquitto["restart_count"] == 4
    assert mosquitto["image"] == "eclipse-mosquitto:2"
    # One listing, one inspect per container and one per image, all on one keep-alive connection.
    assert engine.requests[0] == "/containers/json?all=1"
    images = {doc["Image"] for doc in recorded["inspect"].values()}
    assert len(engine.requests) == 1 + len(recorded["inspect"]) + len(images)
    assert engine.connections == 1


def test_engine_without_containers_is_an_empty_list_not_none(engine: FakeEngine) -> None:
    engine.route("/containers/json?all=1", 200, [])
    assert api.list_containers(engine.docker_host) == []


def test_container_removed_between_listing_and_inspect_is_left_out(engine: FakeEngine) -> None:
    recorded = load_engine()
    engine.serve_engine(recorded)
    gone = next(cid for cid, doc in recorded["inspect"].items() if doc["Name"] == "/crashed")
    engine.route(f"/containers/{gone}/json", 404, {"message": f"No such container: {gone}"})

    names = [c["name"] for c in api.list_containers(engine.docker_host)]

    assert names == ["fresh", "home-mosquitto-1", "web"]


def test_reconnects_once_when_the_engine_drops_a_keep_alive_connection(engine: FakeEngine) -> None:
    engine.serve_engine(load_engine())
    engine.set_close_after_response(True)

    containers = api.list_containers(engine.docker_host)

    assert len(containers) == 4
    images = {doc["Image"] for doc in load_engine()["inspect"].values()}
    assert engine.connections == 5 + len(images)


def test_http_error_on_listing_is_an_api_error_with_the_engine_message(engine: FakeEngine) -> None:
    engine.route("/containers/json?all=1", 500, {"message": "layer does not exist"})

    with pytest.raises(api.ApiError) as caught:
        api.list_containers(engine.docker_host)

    assert caught.value.http_status == 500
    assert caught.value.status == "api_error"
    assert "HTTP 500" in str(caught.value)
    assert "layer does not exist" in str(caught.value)


def test_http_error_on_inspect_other_than_404_is_an_api_error(engine: FakeEngine) -> None:
    recorded = load_engine()
    engine.serve_engine(recorded)
    cid = next(iter(recorded["inspect"]))
    engine.route(f"/containers/{cid}/json", 500, {"message": "boom"})

    with pytest.raises(api.ApiError, match="boom"):
        api.list_containers(engine.docker_host)


def test_invalid_json_is_an_api_error(engine: FakeEngine) -> None:
    engine.route("/containers/json?all=1", 200, b'[{"Id": "abc",')

    with pytest.raises(api.ApiError, match="invalid JSON"):
        api.list_containers(engine.docker_host)


def test_listing_that_is_not_a_list_is_an_api_error(engine: FakeEngine) -> None:
    engine.route("/containers/json?all=1", 200, {"message": "surprise"})

    with pytest.raises(api.ApiError, match="not a list"):
        api.list_containers(engine.docker_host)


def test_missing_socket_is_engine_unreachable(sockdir: Path) -> None:
    with pytest.raises(api.EngineUnreachable, match="does not exist") as caught:
        api.list_containers(f"unix://{sockdir}/absent.sock", timeout=2)
    assert caught.value.status == "engine_unreachable"


def test_socket_nobody_listens_on_is_engine_unreachable(sockdir: Path) -> None:
    # A socket file left behind by a dead dockerd: connect() is refused.
    path = sockdir / "stale.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()

    with pytest.raises(api.EngineUnreachable, match="refused"):
        api.list_containers(f"unix://{path}", timeout=2)


def test_engine_that_never_answers_times_out_as_engine_unreachable(sockdir: Path) -> None:
    path = sockdir / "hung.sock"
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(str(path))
    hung.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(hung.accept()[0]), daemon=True)
    thread.start()
    try:
        with pytest.raises(api.EngineUnreachable, match="timed out"):
            api.list_containers(f"unix://{path}", timeout=1)
    finally:
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        hung.close()


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_access_errors_map_to_permission_denied(code: int) -> None:
    exc = api._translate_os_error(PermissionError(code, os.strerror(code)), "/run/docker.sock")
    assert isinstance(exc, api.PermissionDenied)
    assert exc.status == "permission_denied"
    assert "/run/docker.sock" in str(exc)


PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.homelab.steward.plugins.module_utils import _docker_api as api
try:
    api.list_containers(sys.argv[2], timeout=2)
except api.DockerError as exc:
    print(type(exc).__name__)
else:
    print("no error")
"""


def test_socket_the_user_may_not_open_is_permission_denied(engine: FakeEngine, sockdir: Path) -> None:
    """A real EACCES: the socket is root's 0600 (like /var/run/docker.sock without the docker group)."""
    engine.route("/containers/json?all=1", 200, [])
    collections = str(Path(__file__).resolve().parents[3] / "collections")
    if os.geteuid() == 0:
        # root ignores file modes: ask as nobody instead (the same check a docker-less user hits).
        os.chmod(sockdir, 0o755)
        os.chmod(engine.socket_path, 0o600)
        nobody = 65534

        def demote() -> None:
            os.setgid(nobody)
            os.setuid(nobody)

        # The node side is stdlib only: any python3 nobody may run will do (the venv's
        # interpreter may live under root's 0700 home).
        python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
        try:
            probe = subprocess.run(
                [python, "-c", PROBE, collections, engine.docker_host],
                capture_output=True,
                text=True,
                timeout=30,
                preexec_fn=demote,
                check=False,
            )
        except PermissionError as exc:
            pytest.skip(f"nobody may not run {python}: {exc}")
        if probe.returncode != 0:
            pytest.skip(f"cannot run python as nobody here: {probe.stderr.strip()[-300:]}")
        assert probe.stdout.strip() == "PermissionDenied"
    else:
        os.chmod(engine.socket_path, 0o000)
        with pytest.raises(api.PermissionDenied):
            api.list_containers(engine.docker_host, timeout=2)


@pytest.mark.parametrize(
    "docker_host",
    ["tcp://127.0.0.1:2375", "ssh://me@saturn", "unix://relative/docker.sock", "/var/run/docker.sock", ""],
)
def test_docker_host_that_is_not_an_absolute_unix_url_is_rejected(docker_host: str) -> None:
    with pytest.raises(api.InvalidDockerHost):
        api.DockerClient(docker_host)


def test_summarize_tolerates_missing_optional_sections() -> None:
    record = api.summarize(
        {"Id": "0123456789abcdef", "Name": "/bare", "State": {"Status": "dead"}, "Config": {"Labels": None}}
    )
    assert record == {
        "name": "bare",
        "id": "0123456789ab",
        "state": "dead",
        "health": None,
        "image": None,
        "image_id": None,
        "restart_count": 0,
        "started_at": None,
        "exit_code": None,
        "compose_project": None,
        **NO_CONFIG,
        "settings": [],
    }


# What `docker run -d --name web -v /srv/www:/var/www:ro -v webdata:/data -e TZ=Europe/Berlin
# -e SECRET=hunter2 --label owner=me -p 127.0.0.1:8080:80 nginx` looks like (Engine API 1.41).
WEB_INSPECT = {
    "Id": "4b5e57f6eb2f" + "0" * 52,
    "Name": "/web",
    "Image": "sha256:" + "a" * 64,
    "RestartCount": 0,
    "State": {"Status": "running", "ExitCode": 0, "StartedAt": "2026-12-02T10:00:00.5Z"},
    "Config": {
        "Image": "nginx:1.27",
        "Env": ["TZ=Europe/Berlin", "SECRET=hunter2", "PATH=/usr/local/sbin:/usr/bin", "NGINX_VERSION=1.27.0"],
        "Labels": {
            "owner": "me",
            "maintainer": "NGINX Docker Maintainers",
            "note": "line one\nline two",
            "com.docker.compose.project": "web",
            "com.docker.compose.service": "web",
            "com.docker.compose.config-hash": "f" * 64,
        },
    },
    "HostConfig": {
        "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "443/tcp": None},
        "Devices": [{"PathOnHost": "/dev/ttyACM0", "PathInContainer": "/dev/ttyACM0", "CgroupPermissions": "rwm"}],
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "LogConfig": {"Type": "json-file", "Config": {}},
        "ShmSize": 67108864,
        "IpcMode": "private",
    },
    "Mounts": [
        {
            "Type": "volume",
            "Name": "webdata",
            "Source": "/var/lib/docker/volumes/webdata/_data",
            "Destination": "/data",
            "Mode": "z",
            "RW": True,
        },
        {"Type": "bind", "Source": "/srv/www", "Destination": "/var/www", "Mode": "ro", "RW": False},
    ],
    "NetworkSettings": {"Networks": {"web_default": {}, "bridge": {}}},
}
NGINX_IMAGE_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/bin", "NGINX_VERSION=1.27.0"],
    "Labels": {"maintainer": "NGINX Docker Maintainers"},
}


def test_summarize_reports_the_containers_own_config_and_env_names_never_values() -> None:
    record = api.summarize(WEB_INSPECT, NGINX_IMAGE_CONFIG)

    assert record["env"] == ["SECRET", "TZ"]  # the image's PATH and NGINX_VERSION are not its own
    assert "hunter2" not in repr(record) and "Europe/Berlin" not in repr(record)
    # the image's label is left out, the compose labels are fields of their own, an unprintable value is null
    assert record["labels"] == {"note": None, "owner": "me"}
    assert (record["compose_project"], record["compose_service"], record["config_hash"]) == ("web", "web", "f" * 64)
    assert record["mounts"] == [
        {"type": "volume", "source": "webdata", "destination": "/data", "read_only": False},
        {"type": "bind", "source": "/srv/www", "destination": "/var/www", "read_only": True},
    ]
    assert record["ports"] == [
        {"port": "443/tcp", "host_ip": None, "host_port": None},
        {"port": "80/tcp", "host_ip": "127.0.0.1", "host_port": 8080},
    ]
    assert record["networks"] == ["bridge", "web_default"]
    # what else a recreate would lose, by name only: the device and the restart policy (the rest is default)
    assert record["settings"] == ["devices", "restart_policy"]


def test_a_key_the_world_schema_would_refuse_is_reported_as_a_marker_never_dropped() -> None:
    inspect = {
        **WEB_INSPECT,
        "Config": {**WEB_INSPECT["Config"], "Env": ["1BAD=x"], "Labels": {"a b": "c"}},
        "Mounts": [{"Type": "volume", "Name": "../x", "Destination": "/d", "RW": True}],
    }
    record = api.summarize(inspect, {})
    assert record["env"] == ["STEWARD_UNREPORTABLE"] and list(record["labels"]) == ["steward.unreportable"]
    assert record["mounts"][0]["source"] == "steward.unreportable"


def test_a_compose_run_one_off_is_not_the_service() -> None:
    labels = {**WEB_INSPECT["Config"]["Labels"], "com.docker.compose.oneoff": "True"}
    record = api.summarize({**WEB_INSPECT, "Config": {**WEB_INSPECT["Config"], "Labels": labels}}, {})
    assert record["compose_project"] == "web" and record["compose_service"] is None


def test_an_image_env_entry_the_container_changed_is_its_own() -> None:
    inspect = {**WEB_INSPECT, "Config": {**WEB_INSPECT["Config"], "Env": ["NGINX_VERSION=1.25.0"]}}
    assert api.summarize(inspect, NGINX_IMAGE_CONFIG)["env"] == ["NGINX_VERSION"]


def test_the_summary_of_a_real_looking_container_passes_the_world_schema() -> None:
    from ansible_collections.homelab.steward.plugins.module_utils import _world_schema as schema

    record = api.summarize(WEB_INSPECT, NGINX_IMAGE_CONFIG)
    check = {"status": "ok", "error": None, "docker_host": "unix:///var/run/docker.sock", "containers": [record]}
    assert schema.check_problem("docker", check) is None
