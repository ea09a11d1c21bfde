"""The dry run of a Compose remedy: staged beside the live project, compared before the run (issue 13, item 6)."""

from __future__ import annotations

from pathlib import Path

from steward.ansible.preview import changed_kind, kinds, preview_tasks, read_preview, summary

LIVE = "/srv/compose/home"


def remedy(tmp_path: Path, env: bool = False) -> list[dict]:
    (tmp_path / "compose.yml").write_text("services: {}\n")
    if env:
        (tmp_path / ".env").write_text("TZ=UTC\n")
    return [
        {"name": "Copy", "ansible.builtin.copy": {"src": f"{tmp_path}/", "dest": f"{LIVE}/", "mode": "preserve"}},
        {
            "name": "Recreate: home.broker",
            "community.docker.docker_compose_v2": {
                "project_src": LIVE,
                "services": ["broker"],
                "state": "present",
                "wait": True,
            },
        },
    ]


def test_the_dry_run_stages_the_folder_beside_the_live_one_and_never_writes_over_it(tmp_path: Path) -> None:
    copy, up = preview_tasks(remedy(tmp_path, env=True))
    assert copy["ansible.builtin.copy"]["dest"] == "/srv/compose/.steward-preview/home/"
    params = up["community.docker.docker_compose_v2"]
    assert up["check_mode"] is True and "wait" not in params
    assert params["project_src"] == LIVE, "relative paths resolve against the live folder, as in the real run"
    assert params["files"] == ["/srv/compose/.steward-preview/home/compose.yml"]
    assert params["env_files"] == ["/srv/compose/.steward-preview/home/.env"]


def test_the_remedy_itself_is_left_as_it_was(tmp_path: Path) -> None:
    tasks = remedy(tmp_path)
    preview_tasks(tasks)
    assert tasks[0]["ansible.builtin.copy"]["dest"] == f"{LIVE}/" and "check_mode" not in tasks[1]


def test_a_restart_is_dry_run_as_it_is(tmp_path: Path) -> None:
    restart = [{"name": "Restart", "community.docker.docker_compose_v2": {"project_src": LIVE, "state": "restarted"}}]
    (task,) = preview_tasks(restart)
    assert task["check_mode"] is True and "files" not in task["community.docker.docker_compose_v2"]


def preview(*lines: tuple[str, str]) -> dict:
    return {"actions": [{"what": "container", "id": i, "status": s} for s, i in lines], "error": None}


def test_another_kind_of_action_makes_the_plan_stale_naming_both() -> None:
    written = preview(("Recreate", "home-broker-1"))
    assert changed_kind(written, preview(("Recreate", "home-broker-1"))) is None
    why = changed_kind(written, preview(("Starting", "home-broker-1"), ("Recreate", "home-dash-1")))
    assert why == (
        "stale plan: the dry run now says Recreate home-dash-1, Starting home-broker-1; "
        "when the action was written it said Recreate home-broker-1"
    )
    assert changed_kind(None, written) is None  # none taken when written: nothing to compare with
    assert changed_kind({"actions": [], "error": "host down"}, written) is None


def test_a_stored_dry_run_is_read_as_data(tmp_path: Path) -> None:
    path = tmp_path / "A.preview.json"
    assert read_preview(path) is None
    path.write_text("{not json")
    assert "unreadable" in str(read_preview(path))
    path.write_text('{"actions": "rm -rf /"}')
    assert read_preview(path) == {"actions": [], "error": "A.preview.json is not a dry run"}
    assert summary(None) == "no dry run taken" and kinds(preview(("Recreate", "x"))) == ["Recreate x"]


def test_a_dry_run_touching_another_container_is_stale_whatever_was_stored() -> None:
    own = ("home-broker-", "home_broker_")
    now = preview(("Recreate", "home-broker-1"), ("Restarting", "home-dash-1"))
    assert changed_kind(None, now, own) == (
        "stale plan: the dry run now would also touch home-dash-1 (not the service's own container)"
    )
    network = {"actions": [{"what": "network", "id": "home_default", "status": "Creating"}], "error": None}
    assert changed_kind(None, network, own) is None  # a network the project needs is not another service


def test_what_the_node_answered_is_cleaned_and_a_malformed_sidecar_is_no_dry_run(tmp_path: Path) -> None:
    from steward.ansible.preview import clean_actions

    replaced = {"what": "container", "id": "0123456789ab_home-broker-1", "status": "Starting"}
    shown = clean_actions([{"what": "container", "id": "home-broker-1\x1b[31m", "status": "Recreate"}, replaced, 7])
    assert shown == [{"what": "container", "id": "home-broker-1\\x1b[31m", "status": "Recreate"}]
    path = tmp_path / "A.preview.json"
    path.write_text('{"actions": [1]}')
    assert read_preview(path) == {"actions": [], "error": "A.preview.json is not a dry run"}
