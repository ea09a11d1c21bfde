"""/metrics: the state folder as Prometheus figures, for the homelab's own Prometheus and Grafana.

Open (no login): it carries counts, ages and host names, no secret and no node-written text
other than host names. Figures (all gauges, read anew on every scrape, except the journal
counters, read incrementally from where the last scrape stopped):

    steward_actions{folder}                              actions per queue folder
    steward_pending_oldest_age_seconds                   age of the oldest pending action (0: none)
    steward_drifts{area,host}                            drift keys the engine is tracking
    steward_host_last_observation_age_seconds{host}      since each host's last look
    steward_host_reachable{host}                         1 reachable, 0 not, in the last look
    steward_storm_active                                 1 while the storm breaker holds actions back
    steward_cycles_skipped_total                         plan cycles skipped (unreadable input)
    steward_executor_runs_total{result}                  succeeded | failed | quarantined | interrupted

With STEWARD_REDIS_URL set, the event path's figures too (interfaces/web/event_metrics.py).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.responses import Response

from steward.app import desk
from steward.app.settings import Settings
from steward.core import segmented
from steward.interfaces.web.event_metrics import add_event_path

RUN_RESULTS = {
    "action_succeeded": "succeeded",
    "action_failed": "failed",
    "action_quarantined": "quarantined",
    "action_interrupted": "interrupted",
}


class JournalCounts:
    """Counts of journal event types, read from the byte where the last read stopped (the journal is
    append-only; the offset counts across its rotated segments); a journal that shrank or was replaced
    is counted again from its start."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offset = 0
        self.counts: Counter[str] = Counter()

    def read(self, path: Path) -> Counter[str]:
        with self.lock:
            if segmented.total_size(path) < self.offset:
                self.offset, self.counts = 0, Counter()
            for end, raw in segmented.lines_from(path, self.offset):
                self.offset = end
                try:
                    kind = json.loads(raw).get("type")
                except (ValueError, AttributeError):
                    continue
                if isinstance(kind, str):
                    self.counts[kind] += 1
            return Counter(self.counts)


_COUNTS: dict[Path, JournalCounts] = {}


def figures(settings: Settings) -> CollectorRegistry:
    now = datetime.now(UTC)
    registry = CollectorRegistry()
    fig = desk.figures(settings, now)
    folders = Gauge("steward_actions", "Actions per queue folder", ["folder"], registry=registry)
    for folder, count in fig.counts.items():
        folders.labels(folder).set(count)
    Gauge("steward_pending_oldest_age_seconds", "Age of the oldest pending action", registry=registry).set(
        fig.oldest_pending_s
    )
    seen = Gauge(
        "steward_host_last_observation_age_seconds", "Seconds since the host's last look", ["host"], registry=registry
    )
    reachable = Gauge("steward_host_reachable", "1 when the last look reached the host", ["host"], registry=registry)
    for name, age, up in fig.hosts:
        if age is not None:
            seen.labels(name).set(age)
        reachable.labels(name).set(1 if up else 0)
    drifts = Gauge("steward_drifts", "Drift keys the engine tracks", ["area", "host"], registry=registry)
    for (area, name), count in fig.drifts.items():
        drifts.labels(area, name).set(count)
    Gauge("steward_storm_active", "1 while the storm breaker holds actions back", registry=registry).set(
        1 if fig.storm else 0
    )
    counts = _COUNTS.setdefault(settings.paths.journal, JournalCounts()).read(settings.paths.journal)
    Gauge("steward_cycles_skipped_total", "Plan cycles skipped (unreadable input)", registry=registry).set(
        counts.get("cycle_skipped", 0)
    )
    runs = Gauge("steward_executor_runs_total", "Executor runs by result", ["result"], registry=registry)
    for event, result in RUN_RESULTS.items():
        runs.labels(result).set(counts.get(event, 0))
    add_event_path(settings, registry)  # with STEWARD_REDIS_URL: interfaces/web/event_metrics.py
    return registry


def metrics_response(settings: Settings) -> Response:
    return Response(generate_latest(figures(settings)), media_type=CONTENT_TYPE_LATEST)
