"""A standalone container's config: a recreate carries all of it, or is not proposed (issue 13, item 7)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from helpers import container
from steward.areas.docker.containers import AREA, Container
from steward.plan.playbook import Unsafe, shape_problem

NEW = "nginx:1.28"
OLD = "nginx:1.27"
# `docker run -v /srv/www:/var/www -e TZ=Europe/Berlin -e SECRET=... --label owner=me -p 8080:80 nginx`
CONFIGURED = {
    "mounts": [{"type": "bind", "source": "/srv/www", "destination": "/var/www", "read_only": False}],
    "env": ["SECRET", "TZ"],
    "labels": {"owner": "me"},
    "ports": [{"port": "80/tcp", "host_ip": None, "host_port": 8080}],
    "networks": ["bridge"],
}


def want(**item: Any) -> tuple[Container, ...]:
    parsed, problems = AREA.parse("saturn", [{"name": "web", "image": NEW, **item}])
    assert problems == []
    return parsed


def drifts(wanted: tuple[Container, ...], record: dict[str, Any]) -> list[Any]:
    check = {"status": "ok", "error": None, "docker_host": "unix:///x.sock", "containers": [record]}
    return AREA.drift("saturn", wanted, check)


def test_a_new_image_for_a_container_with_unnamed_config_is_a_notice_saying_what_would_be_lost() -> None:
    wanted = want()
    (d,) = drifts(wanted, container("web", image=OLD, **CONFIGURED))

    assert d.kind == "wrong_image" and d.notice_only
    assert (
        "recreating web would drop mount /srv/www:/var/www, port 8080->80/tcp, env SECRET and TZ, label owner; "
        "describe them in steward_containers or make it a compose service" in d.summary
    )
    assert d.observed["would_drop"] == [
        "mount /srv/www:/var/www",
        "port 8080->80/tcp",
        "env SECRET and TZ",
        "label owner",
    ]
    assert AREA.remediation(d, wanted) is None  # no recreate is proposed


def test_a_container_the_inventory_describes_whole_is_recreated_with_all_of_it_and_no_env_value_in_the_playbook() -> (
    None
):
    wanted = want(
        volumes=["/srv/www:/var/www"],
        ports=["8080:80"],
        env={"TZ": "Europe/Berlin", "SECRET": "hunter2"},
        labels={"owner": "me"},
    )
    (d,) = drifts(wanted, container("web", image=OLD, **CONFIGURED))
    assert not d.notice_only and "would_drop" not in d.observed
    remedy = AREA.remediation(d, wanted)
    assert remedy is not None
    (task,) = remedy.tasks
    params = task["community.docker.docker_container"]
    assert params["image"] == NEW and params["state"] == "started"
    assert params["volumes"] == ["/srv/www:/var/www"] and params["published_ports"] == ["8080:80"]
    assert params["labels"] == {"owner": "me"}
    assert params["env"] == (
        "{{ steward_containers | selectattr('name', 'equalto', 'web') | map(attribute='env') | first }}"
    )
    text = yaml.safe_dump(remedy.tasks)
    assert "hunter2" not in text and "Europe/Berlin" not in text
    assert task["no_log"] is True, "the module's result (and so the run's artifacts) would echo the values"
    # the executor's shape check accepts the one template it reads the env with, and no other
    assert shape_problem([[play(remedy.tasks)]], "saturn", "A1", [remedy.modules]) is None
    params["env"] = "{{ steward_containers | map(attribute='env') | first }}"
    assert "template" in str(shape_problem([[play(remedy.tasks)]], "saturn", "A1", [remedy.modules]))


def play(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    meta = {"id": Unsafe("A1"), "host": Unsafe("saturn")}
    return {
        "name": Unsafe("x"),
        "hosts": "saturn",
        "gather_facts": False,
        "vars": {"steward_action": meta},
        "tasks": tasks,
    }


def test_an_env_file_covers_the_environment_and_a_missing_part_still_blocks() -> None:
    wanted = want(env_file="/etc/web.env", volumes=["/srv/www:/var/www"], labels={"owner": "me"})
    (d,) = drifts(wanted, container("web", image=OLD, **CONFIGURED))
    assert d.notice_only and d.observed["would_drop"] == ["port 8080->80/tcp"]


def test_a_compose_container_is_never_recreated_by_docker_container() -> None:
    record = container("web", image=OLD, compose_project="home", compose_service="web")
    (d,) = drifts(want(), record)
    assert d.notice_only and d.observed["would_drop"] == ["its Compose project labels (project home)"]


def test_an_observation_without_config_fields_cannot_say_what_would_be_lost_so_nothing_is_recreated() -> None:
    record = container("web", image=OLD)
    for key in ("compose_service", "config_hash", "labels", "env", "mounts", "ports", "networks"):
        del record[key]
    (d,) = drifts(want(), record)
    assert d.notice_only and "does not say what the container's config is" in d.summary


def test_an_anonymous_volume_and_a_user_network_count_as_config() -> None:
    record = container(
        "web",
        image=OLD,
        mounts=[{"type": "volume", "source": "3f" * 32, "destination": "/data", "read_only": False}],
        networks=["bridge", "proxy"],
    )
    (d,) = drifts(want(), record)
    assert d.observed["would_drop"] == [f"mount {'3f' * 32}:/data", "network proxy"]
    (d,) = drifts(want(volumes=["/data"], networks=["proxy"]), record)
    assert not d.notice_only


@pytest.mark.parametrize("kind_state", [("not_running", "exited"), ("unhealthy", "running")])
def test_a_start_or_restart_never_recreates_whatever_config_the_container_has(kind_state: tuple[str, str]) -> None:
    kind, state = kind_state
    wanted = want(healthy=True)
    record = container("web", image=NEW, state=state, health="unhealthy" if kind == "unhealthy" else None, **CONFIGURED)
    (d,) = drifts(wanted, record)
    assert d.kind == kind and not d.notice_only
    remedy = AREA.remediation(d, wanted)
    assert remedy is not None
    params = remedy.tasks[0]["community.docker.docker_container"]
    assert params["comparisons"] == {"*": "ignore"}
    assert not {"image", "volumes", "env", "labels", "published_ports", "command"} & params.keys()


@pytest.mark.parametrize(
    ("item", "where", "words"),
    [
        ({"ports": ["80:80:80:80"]}, "steward_containers[0] (web).ports", "is not published ports"),
        ({"ports": "8080:80"}, "steward_containers[0] (web).ports", "must be a list"),
        ({"volumes": ["/srv:data"]}, "steward_containers[0] (web).volumes", "SOURCE:/DESTINATION"),
        ({"env": {"TZ": 1}}, "steward_containers[0] (web).env.TZ", "quote numbers"),
        ({"env": {"1X": "a"}}, "steward_containers[0] (web).env", "environment variable names"),
        ({"env": ["TZ=UTC"]}, "steward_containers[0] (web).env", "must be a mapping"),
        ({"env_file": "web.env"}, "steward_containers[0] (web).env_file", "absolute path"),
        ({"labels": {"owner": True}}, "steward_containers[0] (web).labels.owner", "must be a string"),
        ({"networks": ["bad name"]}, "steward_containers[0] (web).networks", "network names"),
    ],
)
def test_a_malformed_config_key_names_the_host_and_the_variable(item: dict[str, Any], where: str, words: str) -> None:
    _, problems = AREA.parse("saturn", [{"name": "web", "image": NEW, **item}])
    assert [(h, w) for h, w, _ in problems] == [("saturn", where)]
    assert words in problems[0][2]
