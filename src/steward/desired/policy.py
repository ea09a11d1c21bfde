"""Policy knobs (inventory var `steward_policy`, group `all`), maintenance windows and flap math.

Defaults follow DESIGN.md: confirm in 2 observations; Nagios-style flap detection over 21
samples, weights 0.75 -> 1.25, start above 50 %, stop below 25 %; storm above 10 new actions
(or more than half of one host's services); backoff 1, 3, 9 ... cycles, escalate after 3 failures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from steward.core.model import Problem

POLICY_VAR = "steward_policy"
WINDOWS_VAR = "steward_maintenance_windows"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> int:
    """Seconds from 90, "90s", "15m", "2h", "1d"; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    m = _DURATION.match(str(value))
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"not a duration (like 90, 15m, 2h, 1d): {value!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class Policy:
    confirm_after: int = 2  # consecutive observations before a drift becomes an action
    action_ttl: int = 24 * 3600  # seconds a pending action stays valid
    stale_after: int = 3 * 300  # a world file older than this is not evidence (3 x observe interval)
    flap_window: int = 21
    flap_start_pct: float = 50.0
    flap_stop_pct: float = 25.0
    storm_max_actions: int = 10
    storm_host_fraction: float = 0.5
    # actions written within this many seconds count together with the cycle's own: event-triggered
    # runs plan one host at a time, and a fleet-wide outage must still trip the breaker
    storm_window: int = 120
    backoff_base: int = 3
    backoff_cap_cycles: int = 27
    escalate_after: int = 3
    max_runs_per_hour: int = 30
    # seconds between two observations that count separately (by observed_at), and the pause between
    # the looks of an event-triggered observe (observe.yml with steward_observe_plan)
    confirm_interval: int = 2


DURATIONS = {"action_ttl", "stale_after", "confirm_interval", "storm_window"}
# confirm_interval: observations closer than this (by observed_at, one-second resolution) count as
# one, so two looks that confirm a drift are always more than confirm_interval - 1 s apart; at
# least 2 s (then never the same second twice), at most a minute (an event-triggered run waits it
# twice per run)
LIMITS = {"confirm_interval": (2, 60)}


def parse_policy(value: Any) -> tuple[Policy, list[Problem]]:
    if value is None:
        return Policy(), []
    if not isinstance(value, dict):
        return Policy(), [("all", POLICY_VAR, f"must be a mapping, got {type(value).__name__}")]
    known = {f.name: f for f in fields(Policy)}
    problems: list[Problem] = []
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        var = f"{POLICY_VAR}.{key}"
        if key not in known:
            problems.append(("all", var, f"unknown setting; allowed: {', '.join(sorted(known))}"))
            continue
        try:
            if key in DURATIONS:
                kwargs[key] = parse_duration(raw)
                low, high = LIMITS.get(key, (1, None))
                if not low <= kwargs[key] <= (high or kwargs[key]):
                    raise ValueError(f"must be from {low} s to {high} s, got {raw!r}")
            elif known[key].type == "float":
                if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
                    raise ValueError(f"must be a positive number, got {raw!r}")
                kwargs[key] = float(raw)
            else:
                if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                    raise ValueError(f"must be a positive whole number, got {raw!r}")
                kwargs[key] = raw
        except ValueError as exc:
            problems.append(("all", var, str(exc)))
    policy = Policy(**kwargs)
    if policy.flap_stop_pct > policy.flap_start_pct:
        problems.append(("all", f"{POLICY_VAR}.flap_stop_pct", "must not be above flap_start_pct"))
    return policy, problems


@dataclass(frozen=True)
class Window:
    """A recurring maintenance window: on these weekdays, from start (UTC) for duration."""

    name: str
    weekdays: tuple[int, ...]
    start_minute: int
    duration: int
    targets: tuple[str, ...] = ()  # empty: the whole host

    def active(self, now: datetime) -> bool:
        for back in (0, 1, 2, 3, 4, 5, 6, 7):  # a window may have started on an earlier day
            day = now - timedelta(days=back)
            if day.weekday() not in self.weekdays:
                continue
            begin = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=self.start_minute)
            if begin <= now < begin + timedelta(seconds=self.duration):
                return True
        return False


def parse_windows(host: str, value: Any) -> tuple[tuple[Window, ...], list[Problem]]:
    if value is None:
        return (), []
    if not isinstance(value, list):
        return (), [(host, WINDOWS_VAR, "must be a list of windows")]
    problems: list[Problem] = []
    out = []
    for i, item in enumerate(value):
        var = f"{WINDOWS_VAR}[{i}]"
        if not isinstance(item, dict):
            problems.append((host, var, "must be a mapping {name, weekdays, start, duration, targets}"))
            continue
        unknown = sorted(set(item) - {"name", "weekdays", "start", "duration", "targets"})
        if unknown:
            problems.append((host, var, f"unknown key(s) {', '.join(unknown)}"))
        days = item.get("weekdays", list(WEEKDAYS))
        if not isinstance(days, list) or not all(isinstance(d, str) and d.lower()[:3] in WEEKDAYS for d in days):
            problems.append((host, f"{var}.weekdays", f"must be a list of {', '.join(WEEKDAYS)}"))
            days = []
        start = str(item.get("start", ""))
        m = re.match(r"^(\d{1,2}):(\d{2})$", start)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            problems.append((host, f"{var}.start", f"must be HH:MM (UTC), got {item.get('start')!r}"))
            continue
        try:
            duration = parse_duration(item.get("duration"))
        except ValueError as exc:
            problems.append((host, f"{var}.duration", str(exc)))
            continue
        targets = item.get("targets", [])
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            problems.append((host, f"{var}.targets", "must be a list of targets (container names, mounts, ...)"))
            targets = []
        out.append(
            Window(
                str(item.get("name", f"window {i}")),
                tuple(WEEKDAYS.index(d.lower()[:3]) for d in days),
                int(m.group(1)) * 60 + int(m.group(2)),
                duration,
                tuple(targets),
            )
        )
    return tuple(out), problems


def flap_percent(samples: list[bool], window: int = 21) -> float:
    """Nagios' weighted percent state change over the last `window` samples.

    Each of the (window - 1) possible transitions gets a weight rising linearly from 0.75
    (oldest) to 1.25 (newest); the sum of the weights of the transitions that changed state,
    divided by the number of possible transitions, is the percentage.
    """
    samples = samples[-window:]
    slots = window - 1
    if slots < 1 or len(samples) < 2:
        return 0.0
    offset = slots - (len(samples) - 1)  # fewer samples: they take the newest (heaviest) weights
    total = 0.0
    for i in range(1, len(samples)):
        if samples[i] != samples[i - 1]:
            position = offset + i - 1
            total += 0.75 + 0.5 * position / (slots - 1 if slots > 1 else 1)
    return 100.0 * total / slots
