"""Drift items per kind, and the rule that a host we could not look at yields one host-level item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpers import container, world_doc
from steward.areas.docker.containers import Container
from steward.desired.host import HostDesired
from steward.plan.drift import compute_drift

NOW = datetime.now(UTC)
IMG = "steward-lab/busybox:1"


def desired(*containers: Container) -> HostDesired:
    return HostDesired(host="piha", areas={"docker": containers})


def drift_keys(host: HostDesired, containers, **kw) -> list[str]:
    return [d.key for d in compute_drift(host, world_doc("piha", containers, observed_at=NOW, **kw), NOW, 900)]


def test_in_sync_host_has_no_drift() -> None:
    host = desired(
        Container("mqtt", IMG), Container("old", IMG, state="stopped"), Container("gone", None, state="absent")
    )
    assert drift_keys(host, [container("mqtt"), container("old", state="exited"), container("extra")]) == []


@pytest.mark.parametrize(
    ("svc", "actual", "kind"),
    [
        (Container("mqtt", IMG), [], "missing"),
        (Container("mqtt", IMG), [container("mqtt", state="exited")], "not_running"),
        (Container("mqtt", IMG), [container("mqtt", state="created")], "not_running"),
        (Container("mqtt", IMG), [container("mqtt", image="other:2")], "wrong_image"),
        (Container("mqtt", IMG), [container("mqtt", image="other:2", state="exited")], "wrong_image"),
        (Container("mqtt", IMG, state="stopped"), [container("mqtt")], "should_be_stopped"),
        (Container("mqtt", None, state="absent"), [container("mqtt", state="exited")], "should_be_absent"),
        (Container("mqtt", IMG, healthy=True), [container("mqtt", health="unhealthy")], "unhealthy"),
    ],
)
def test_each_kind_of_container_drift(svc: Container, actual, kind: str) -> None:
    assert drift_keys(desired(svc), actual) == [f"piha/docker/mqtt/{kind}"]


@pytest.mark.parametrize("running", [[], [container("web")]])
def test_every_missing_container_is_its_own_drift_even_when_none_of_them_is_there(running) -> None:
    # deepdiff >= 8 folds two dicts that share few keys into one root change unless told not to
    host = desired(Container("web", IMG), Container("db", IMG), Container("cache", IMG))
    keys = drift_keys(host, running)
    expected = {"piha/docker/db/missing", "piha/docker/cache/missing"}
    assert set(keys) == (expected if running else expected | {"piha/docker/web/missing"})
    assert len(keys) == len(set(keys))


def test_starting_health_is_not_unhealthy() -> None:
    assert drift_keys(desired(Container("mqtt", IMG, healthy=True)), [container("mqtt", health="starting")]) == []


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"reachable": False}, "piha/host/-/unreachable"),
        ({"docker_status": "engine_unreachable"}, "piha/docker/engine/engine_unreachable"),
        ({"docker_status": "permission_denied"}, "piha/docker/engine/permission_denied"),
    ],
)
def test_host_we_could_not_look_at_is_one_notice_not_per_container(kw, key) -> None:
    host = desired(*(Container(f"s{i}", IMG) for i in range(5)))
    drifts = compute_drift(host, world_doc("piha", None, observed_at=NOW, **kw), NOW, 900)
    assert [(d.key, d.notice_only) for d in drifts] == [(key, True)]


def test_stale_world_file_is_one_notice() -> None:
    host = desired(Container("mqtt", IMG))
    old = world_doc("piha", [], observed_at=NOW - timedelta(hours=2))
    assert [(d.key, d.notice_only) for d in compute_drift(host, old, NOW, 900)] == [("piha/host/-/stale", True)]


def test_fingerprint_is_stable_across_observations_and_changes_with_evidence() -> None:
    host = desired(Container("mqtt", IMG))
    a = compute_drift(host, world_doc("piha", [container("mqtt", state="exited")], observed_at=NOW), NOW, 900)[0]
    b = compute_drift(host, world_doc("piha", [container("mqtt", state="exited")], observed_at=NOW), NOW, 900)[0]
    c = compute_drift(
        host, world_doc("piha", [container("mqtt", state="exited", exit_code=1)], observed_at=NOW), NOW, 900
    )[0]
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize("seed", range(4))
def test_the_in_sync_shortcut_says_what_the_full_comparison_says(monkeypatch, seed) -> None:
    """containers.in_sync answers the common case without building the projections; over random
    desired and observed containers it must agree with the full comparison (the shortcut switched off)."""
    import random

    from steward.areas.docker import containers as area

    rng = random.Random(seed)
    images = [IMG, "other:2", None]
    for _ in range(300):
        names = rng.sample(["a", "b", "c", "d"], rng.randint(0, 4))
        want = []
        for n in names:
            state = rng.choice(["running", "running", "stopped", "absent"])
            image = None if state == "absent" else rng.choice(images[:2])
            want.append(Container(n, image, state=state, healthy=rng.random() < 0.3))
        actual = [
            container(
                n,
                state=rng.choice(["running", "exited", "created"]),
                image=rng.choice(images[:2]),
                health=rng.choice([None, "healthy", "unhealthy", "starting"]),
            )
            for n in rng.sample(["a", "b", "c", "d", "e"], rng.randint(0, 5))
        ]
        host = desired(*want)
        fast = drift_keys(host, actual)
        with monkeypatch.context() as m:
            m.setattr(area, "in_sync", lambda want, actual_by_name: False)
            full = drift_keys(host, actual)
        assert fast == full, (want, actual)
        if area.in_sync(tuple(want), {c["name"]: c for c in actual}):
            assert full == []  # (not the converse: "starting" where healthy is wanted differs, and is no drift)
