"""Which keys of a Compose service differ between the running container and the desired config.

The config-hash label says *that* a service's config differs, not *what*. Two ways to say what:

* the running container was made from a version of the project this controller has read before
  (its hash is in the compose cache): the two versions' fingerprints (path -> digest of the value,
  compose_hash.fingerprint) name every key that differs, ``environment.TZ``, ``volumes[0]`` ...,
  environment values included — without either value being known here;
* otherwise, what the node reports of the container (image, env names, mount destinations,
  published ports, labels) is compared with the desired config: keys added or removed show,
  a changed environment value cannot (the node never reports values), and the header says so.
"""

from __future__ import annotations

from typing import Any

from steward.areas.docker.compose_hash import HASHES

MAX_KEYS = 12


def changed_keys(project: str, service: Any, observed: dict[str, Any]) -> tuple[list[str], str]:
    """(the keys that differ, how they were found) for one service; ``service`` is a ComposeService."""
    earlier = HASHES.earlier(project, service.name, str(observed.get("config_hash")))
    if earlier is not None:
        now = service.facts.get("fingerprint") or {}
        keys = sorted(k for k in earlier.keys() | now.keys() if earlier.get(k) != now.get(k))
        return _bounded(keys), "changed since the version it runs"
    return _observable(service.facts, observed)


def _observable(facts: dict[str, Any], observed: dict[str, Any]) -> tuple[list[str], str]:
    if "env" not in observed:
        return [], "this observation does not report the container's config"
    keys: list[str] = []
    if facts.get("image") and facts["image"] != observed.get("image"):
        keys.append("image")
    want_env, have_env = set(facts.get("env") or ()), set(observed.get("env") or ())
    keys += [f"environment.{n} (added)" for n in sorted(want_env - have_env)]
    keys += [f"environment.{n} (removed)" for n in sorted(have_env - want_env)]
    have_mounts = {m.get("destination") for m in observed.get("mounts") or ()}
    keys += [f"volumes: {t} (added)" for t in sorted(set(facts.get("volumes") or ()) - have_mounts)]
    keys += [f"volumes: {t} (removed)" for t in sorted(have_mounts - set(facts.get("volumes") or ()))]
    have_ports = {p.get("port") for p in observed.get("ports") or ()}
    keys += [f"ports: {p} (added)" for p in sorted(set(facts.get("ports") or ()) - have_ports)]
    keys += [f"ports: {p} (removed)" for p in sorted(have_ports - set(facts.get("ports") or ()))]
    want_labels, have_labels = set(facts.get("labels") or ()), set(observed.get("labels") or {})
    keys += [f"labels.{k} (added)" for k in sorted(want_labels - have_labels)]
    keys += [f"labels.{k} (removed)" for k in sorted(have_labels - want_labels)]
    if not keys:
        return [], (
            "the container was made from a version of the project this controller has not read; what the node "
            "reports is the same, so a value it does not report differs (an environment value, a command, a "
            "health check ...)"
        )
    return _bounded(keys), "compared with what the node reports"


def _bounded(keys: list[str]) -> list[str]:
    if len(keys) <= MAX_KEYS:
        return keys
    return [*keys[:MAX_KEYS], f"and {len(keys) - MAX_KEYS} more"]
