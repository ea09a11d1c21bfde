"""The plan cycle's and the executor's parts keep their contracts: gates in one documented order,
an executor that only reads the world."""

from __future__ import annotations

import re

from helpers import Clock, container, journal_types, make_settings, service, write_world
from steward.execute.executor import Executor
from steward.plan import gates
from steward.plan.engine import Engine


def test_the_gates_are_applied_in_the_order_their_module_documents() -> None:
    documented = re.findall(r"^\d+\. `(\w+)`", gates.__doc__ or "", flags=re.MULTILINE)
    assert documented == [gate.__name__ for gate in gates.GATES]
    assert len(documented) == 8


def test_the_executors_look_at_the_world_journals_no_plan_cycle_and_leaves_last_good_alone(tmp_path) -> None:
    settings = make_settings(tmp_path, {"piha": [service("mqtt")]})
    clock = Clock()
    write_world(settings, "piha", [container("mqtt")], observed_at=clock.tick())
    Engine(settings).plan()
    last_good = settings.paths.last_good.read_bytes()
    approved = settings.paths.actions / "approved"
    write_world(settings, "piha", [container("mqtt", state="exited")], observed_at=clock.tick())  # usable, newer
    (approved / "stray.yml").write_text("- hosts: all\n")
    assert Executor(settings).run_once().quarantined == ["stray"]
    assert settings.paths.last_good.read_bytes() == last_good  # the engine's to keep, not the executor's
    (settings.paths.world / "piha.json").write_text('{"schema": 1, "host": "pi')  # torn
    (approved / "stray.yml").write_text("- hosts: all\n")
    report = Executor(settings).run_once()
    assert report.skipped_reason and report.quarantined == []
    types = journal_types(settings)
    assert "cycle_skipped" not in types and types[-1] == "executor_skipped"
    assert settings.paths.last_good.read_bytes() == last_good
