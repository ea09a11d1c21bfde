"""The use-case layer (steward.app) on a real state folder: decisions say how (`via`) and who (`by`),
from the CLI, from a file moved by hand and from a direct call (as the web page and the bot will make)."""

from __future__ import annotations

import json
import os
import pwd
from datetime import UTC, datetime

import pytest

from helpers import Clock, container, make_settings, service, write_world
from steward.app import actions, escalations, execute
from steward.app.errors import NothingToClear, QueueError
from steward.app.plan import plan
from steward.app.status import status
from steward.interfaces.cli.main import main
from steward.state.actions import ActionQueue
from steward.state.journal import Journal
from steward.state.outcomes import Outcomes

KEY = "piha/docker/mqtt/not_running"  # the drift key of the stopped container


def look_and_plan(settings, observed_at: datetime):
    """One observation of piha (mqtt stopped, homeauto running), then one cycle through app/."""
    write_world(settings, "piha", [container("mqtt", state="exited"), container("homeauto")], observed_at=observed_at)
    return plan(settings)


@pytest.fixture
def planned(tmp_path):
    """Two observations of a stopped container: one signed pending action."""
    settings = make_settings(tmp_path, {"piha": [service("mqtt"), service("homeauto")]})
    clock = Clock()
    *_, second = [look_and_plan(settings, clock.tick()) for _ in range(2)]
    (action_id,) = second.new_actions
    return settings, action_id


def events(settings, type_: str) -> list[dict]:
    return [e for e in Journal(settings.paths.journal).events() if e["type"] == type_]


def cli(settings, *args: str) -> int:
    return main(["--state-dir", str(settings.state_dir), "-i", str(settings.inventory), *args])


def test_app_approve_journals_how_and_who_and_refuses_a_second_decision(planned) -> None:
    settings, action_id = planned
    decision = actions.approve(settings, action_id, via="web", by="phone-token", reason="the spare is ready")
    assert decision.folder == "approved" and decision.path.is_file()
    assert decision.path == settings.paths.actions / "approved" / f"{action_id}.yml"
    (approved,) = events(settings, "action_approved")
    assert (approved["action"], approved["host"], approved["key"]) == (action_id, "piha", KEY)
    assert (approved["via"], approved["by"], approved["reason"]) == ("web", "phone-token", "the spare is ready")
    with pytest.raises(QueueError, match="is in approved/, only a pending action can be approved"):
        actions.approve(settings, action_id, via="telegram", by="42")
    assert len(events(settings, "action_approved")) == 1  # the refused second decision journaled nothing


def test_app_reject_keeps_how_and_who_in_the_journal_the_result_and_the_signed_end(planned) -> None:
    settings, action_id = planned
    decision = actions.reject(settings, action_id, "not tonight", via="telegram", by="42 (alice)")
    assert decision.folder == "rejected" and decision.path.is_file()
    (rejected,) = events(settings, "action_rejected")
    assert (rejected["via"], rejected["by"], rejected["reason"]) == ("telegram", "42 (alice)", "not tonight")
    result = json.loads((settings.paths.actions / "rejected" / f"{action_id}.result.json").read_text())
    assert (result["via"], result["by"], result["reason"]) == ("telegram", "42 (alice)", "not tonight")
    queue = ActionQueue(settings.paths, Journal(settings.paths.journal))
    ended = queue.ended(action_id)
    assert ended["state"] == "rejected" and ended["verified"] is True
    assert ended["decided"] == {"via": "telegram", "by": "42 (alice)"}
    # who decided is signed: an end record edited to name someone else no longer verifies
    record = settings.paths.ledger / "ended" / f"{action_id}.json"
    doc = json.loads(record.read_text())
    doc["decided"]["by"] = "mallory"
    os.chmod(record, 0o600)
    record.write_text(json.dumps(doc))
    assert queue.ended(action_id)["verified"] is False


def test_cli_decisions_are_journaled_via_cli_by_the_os_user(planned, capsys) -> None:
    settings, action_id = planned
    user = pwd.getpwuid(os.getuid()).pw_name
    assert cli(settings, "approve", action_id) == 0
    assert capsys.readouterr().out == f"approved: {settings.paths.actions / 'approved' / action_id}.yml\n"
    assert cli(settings, "reject", action_id, "--reason", "changed my mind") == 0
    assert capsys.readouterr().out == f"rejected: {settings.paths.actions / 'rejected' / action_id}.yml\n"
    (approved,) = events(settings, "action_approved")
    (rejected,) = events(settings, "action_rejected")
    assert (approved["via"], approved["by"]) == ("cli", user)
    assert (rejected["via"], rejected["by"], rejected["reason"]) == ("cli", user, "changed my mind")
    assert "reason" not in approved  # the CLI's approve takes no reason


def _hourly_budget_used_up(settings) -> None:
    """Every pass claims the action, then puts it back in approved/ without a look (no run slot)."""
    stamps = [datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")] * 30
    (settings.paths.engine / "runs_last_hour.json").write_text(json.dumps(stamps))


def test_a_file_moved_by_hand_is_journaled_once_via_file(planned) -> None:
    settings, action_id = planned
    os.rename(
        settings.paths.actions / "pending" / f"{action_id}.yml",
        settings.paths.actions / "approved" / f"{action_id}.yml",
    )
    _hourly_budget_used_up(settings)
    for _ in range(2):  # two claims, one approval
        assert execute.run_once(settings).deferred == [action_id]
    (approved,) = events(settings, "action_approved")
    assert approved["via"] == "file" and approved["by"] is None  # a rename does not say who made it
    assert (approved["action"], approved["host"], approved["key"]) == (action_id, "piha", KEY)


def test_an_approval_from_an_interface_is_not_journaled_again_when_the_executor_claims_it(planned) -> None:
    settings, action_id = planned
    actions.approve(settings, action_id, via="cli", by="ops")
    _hourly_budget_used_up(settings)
    assert execute.run_once(settings).deferred == [action_id]
    assert [(e["via"], e["by"]) for e in events(settings, "action_approved")] == [("cli", "ops")]


def test_reading_use_cases_work_without_the_cli(planned) -> None:
    settings, action_id = planned
    (info,) = actions.list_actions(settings)
    assert (info.id, info.folder, info.host, info.signed) == (action_id, "pending", "piha", True)
    detail = actions.show(settings, action_id)
    assert detail.folder == "pending" and detail.result is None and action_id in (detail.playbook or "")
    now = status(settings)
    assert now.queue["pending"] == 1 and now.hosts["piha"].docker == "ok" and now.hosts["piha"].in_inventory
    assert now.inventory_error is None and now.world_errors == {} and "last_known_good" not in now.as_dict()
    actions.reject(settings, action_id, "no", via="web", by="desk")
    assert actions.list_actions(settings) == []
    assert [i.folder for i in actions.list_actions(settings, every_folder=True)] == ["rejected"]
    assert actions.show(settings, action_id).result["reason"] == "no"


def test_clearing_an_escalation_journals_how_and_who(planned) -> None:
    settings, _ = planned
    key = KEY
    with pytest.raises(NothingToClear, match="no failed remediations"):
        escalations.clear(settings, key, via="web", by="desk")
    Outcomes(settings.paths).record(key, "a1", fixed=False, escalate_after=1)
    escalations.clear(settings, key, via="web", by="desk")
    (cleared,) = events(settings, "escalation_cleared")
    assert (cleared["key"], cleared["via"], cleared["by"]) == (key, "web", "desk")
    assert Outcomes(settings.paths).get(key)["escalated"] is False


@pytest.mark.parametrize("via", ["", "Web", "web\nforged", "a" * 33, "file move (seen by the executor)"])
def test_via_is_a_surface_name_never_free_text(planned, via: str) -> None:
    settings, action_id = planned
    with pytest.raises(QueueError, match="is not the name of a surface"):
        actions.approve(settings, action_id, via=via, by="x")
    with pytest.raises(QueueError, match="is not the name of a surface"):
        actions.reject(settings, action_id, "no", via=via, by="x")
    assert [i.folder for i in actions.list_actions(settings)] == ["pending"] and not events(settings, "action_approved")
