"""The desired state kept in the state folder (steward.desired.cached): a fresh process reuses it
while no inventory file changed, and anything it did not write itself is never unpickled."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import make_settings, service, write_inventory
from steward.desired import cached
from steward.desired.cached import MAGIC, PersistedDesired, load_desired_cached
from steward.plan.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
HOSTS = {"saturn": [service("web"), service("db")], "piha": [service("mqtt")]}


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return make_settings(tmp_path, HOSTS)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every full read of the inventory through Ansible from now on; the in-process cache emptied,
    so each call below starts as a fresh process would."""
    monkeypatch.setattr(cached, "_cache", {})
    seen: list[Path] = []
    real = cached.load_checked

    def counting(inventory: Path) -> Any:
        seen.append(inventory)
        return real(inventory)

    monkeypatch.setattr(cached, "load_checked", counting)
    return seen


def fresh(settings: Any) -> Any:
    cached._cache.clear()  # a new process: nothing read yet in memory
    return load_desired_cached(settings.inventory, PersistedDesired(settings.paths))


def test_a_new_process_reuses_the_copy_and_never_parses_the_inventory(settings: Any) -> None:
    Engine(settings).plan()  # reads the inventory and leaves the copy
    assert settings.paths.desired_cache.exists()
    assert settings.paths.desired_cache.stat().st_mode & 0o777 == 0o600
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT / "src")!r})
        from pathlib import Path
        from steward.desired import cached
        from steward.state.paths import StatePaths
        def refuse(inventory):
            raise SystemExit("the inventory was parsed")
        cached.load_checked = refuse
        copy = cached.PersistedDesired(StatePaths(Path({str(settings.state_dir)!r})))
        desired = cached.load_desired_cached(Path({str(settings.inventory)!r}), copy)
        print(sorted((h, [c.name for c in d.want("docker")]) for h, d in desired.hosts.items()))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[('piha', ['mqtt']), ('saturn', ['web', 'db'])]"


def test_an_edited_inventory_is_read_again_and_the_copy_follows(settings: Any, reads: list[Path]) -> None:
    Engine(settings).plan()  # the state folder's key, and a first copy
    reads.clear()
    settings.inventory.write_text(settings.inventory.read_text() + "\n")  # same hosts, other bytes
    first = fresh(settings)
    assert len(reads) == 1 and [c.name for c in first.hosts["piha"].want("docker")] == ["mqtt"]
    assert fresh(settings) == first and len(reads) == 1  # the copy: no second read
    write_inventory(settings.inventory, {**HOSTS, "piha": [service("mqtt"), service("zigbee")]})
    second = fresh(settings)
    assert len(reads) == 2
    assert [c.name for c in second.hosts["piha"].want("docker")] == ["mqtt", "zigbee"]
    assert fresh(settings) == second and len(reads) == 2


def test_a_copy_this_state_folder_did_not_sign_is_never_unpickled(
    settings: Any, reads: list[Path], tmp_path: Path
) -> None:
    fresh(settings)  # no key yet: a reader never makes the state folder's key, so no copy either
    assert not settings.paths.hmac_key.exists() and not settings.paths.desired_cache.exists()
    cached._cache.clear()
    Engine(settings).plan()  # a new process: the engine makes the key and writes the copy
    marker = tmp_path / "unpickled"

    class Bomb:
        def __reduce__(self) -> Any:
            return (Path.touch, (marker,))

    payload = pickle.dumps({"entry": Bomb()})
    data = settings.paths.desired_cache.read_bytes()
    forged = data[: len(MAGIC)] + b"0" * 64 + b"\n" + payload  # a MAC that is not this key's
    settings.paths.desired_cache.write_bytes(forged)
    reads.clear()
    desired = fresh(settings)
    assert not marker.exists()
    assert len(reads) == 1 and sorted(desired.hosts) == ["piha", "saturn"]
    # one flipped byte in a real copy's payload: the same
    settings.paths.desired_cache.write_bytes(data[:-5] + bytes([data[-5] ^ 1]) + data[-4:])
    reads.clear()
    assert sorted(fresh(settings).hosts) == ["piha", "saturn"] and len(reads) == 1


def test_other_code_another_inventory_or_garbage_is_a_miss_never_an_error(
    settings: Any, reads: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    Engine(settings).plan()
    reads.clear()
    fresh(settings)
    assert reads == []
    stamp = cached._code_stamp()
    monkeypatch.setattr(cached, "_code_stamp", lambda: stamp + " (upgraded)")
    fresh(settings)
    assert len(reads) == 1  # and the copy is now the new code's
    fresh(settings)
    assert len(reads) == 1
    (tmp_path / "other").mkdir()
    other = make_settings(tmp_path / "other", HOSTS)
    copy = PersistedDesired(settings.paths)
    cached._cache.clear()
    load_desired_cached(other.inventory, copy)  # the same state folder, another inventory
    assert len(reads) == 2
    for junk in (b"", b"not a cache", MAGIC + b"short"):
        settings.paths.desired_cache.write_bytes(junk)
        assert sorted(fresh(settings).hosts) == ["piha", "saturn"]
    settings.paths.desired_cache.unlink()
    settings.paths.desired_cache.mkdir()  # cannot be read or replaced: no copy, no error
    assert sorted(fresh(settings).hosts) == ["piha", "saturn"]


def test_a_state_folder_named_by_the_inventory_gets_its_copy_too(settings: Any, reads: list[Path]) -> None:
    load_desired_cached(settings.inventory)  # resolve_settings reading steward_state_dir: no state folder yet
    Engine(settings).plan()  # the same process: the read is reused, and the copy written now
    assert len(reads) == 1 and settings.paths.desired_cache.exists()
    assert sorted(fresh(settings).hosts) == ["piha", "saturn"] and len(reads) == 1


def test_hosts_with_the_same_services_share_one_value_and_a_different_var_is_not_merged(tmp_path: Path) -> None:
    """A fleet's services in group vars: one parsed value for every host that has them, so 10 000
    hosts do not hold (and the cache does not pickle) 10 000 copies; two containers that differ only
    in the variable they came from (its env template reads that variable) stay apart."""
    from steward.desired.inventory import load_checked

    inventory = tmp_path / "hosts.yml"
    fleet = [{"name": "web", "image": "nginx:1"}, {"name": "db", "image": "postgres:16"}]
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "fleet": {"vars": {"steward_containers": fleet}, "hosts": {"a": None, "b": None}},
                        "old": {"hosts": {"c": {"steward_services": fleet}}},
                    }
                }
            }
        )
    )
    _, desired = load_checked(inventory)
    a, b, c = (desired.hosts[h].want("docker") for h in ("a", "b", "c"))
    assert a is b, "the same services: one object"
    assert a == c and a is not c, "equal, but c's containers read their env from steward_services"
    assert {x.var for x in c} == {"steward_services"} and {x.var for x in a} == {"steward_containers"}
    assert len(pickle.dumps(desired)) < 2 * len(pickle.dumps(desired.hosts["a"])) + 2000
