"""steward_policy parsing: every knob validated, errors name the variable."""

from __future__ import annotations

import pytest

from steward.desired.policy import Policy, parse_policy


def test_defaults() -> None:
    policy, problems = parse_policy(None)
    assert problems == [] and policy == Policy()
    assert (policy.confirm_after, policy.confirm_interval, policy.storm_window) == (2, 2, 120)


@pytest.mark.parametrize(("raw", "seconds"), [(2, 2), ("5s", 5), ("1m", 60)])
def test_confirm_interval_accepts_2_to_60_seconds(raw: object, seconds: int) -> None:
    policy, problems = parse_policy({"confirm_interval": raw})
    assert problems == [] and policy.confirm_interval == seconds


@pytest.mark.parametrize("raw", [0, "0s", 0.5, True, 1, "1s", 61, "2m", "soon", None])
def test_confirm_interval_outside_2_to_60_seconds_is_refused(raw: object) -> None:
    _, problems = parse_policy({"confirm_interval": raw})
    assert len(problems) == 1
    host, var, msg = problems[0]
    assert (host, var) == ("all", "steward_policy.confirm_interval") and msg


def test_storm_window_is_a_duration() -> None:
    assert parse_policy({"storm_window": "10m"})[0].storm_window == 600
    assert parse_policy({"storm_window": "never"})[1][0][1] == "steward_policy.storm_window"
