"""MQTT brokers: steward_mqtt_brokers versus checks.mqtt (TCP, CONNACK, optional round trip)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from steward.areas.base import ParseContext, shared_check_problem
from steward.core.model import NAME_RE, Drift, Problem, Remedy, could_not_look

KEYS = {"name", "host", "port", "username", "password", "client_id", "roundtrip", "topic"}


@dataclass(frozen=True)
class Broker:
    name: str
    host: str
    port: int = 1883
    roundtrip: bool = False


class MqttArea:
    """steward_mqtt_brokers versus checks.mqtt."""

    name = "mqtt"
    check = "mqtt"
    context_vars: tuple[str, ...] = ()
    var = "steward_mqtt_brokers"
    deprecated_vars: tuple[str, ...] = ()
    empty: tuple[Broker, ...] = ()
    remedy_modules: tuple[str, ...] = ()
    targets_are_services = False

    def parse(
        self, host: str, value: Any, var: str | None = None, context: ParseContext | None = None
    ) -> tuple[tuple[Broker, ...], list[Problem]]:
        var = var or self.var
        if value is None:
            return (), []
        if not isinstance(value, list):
            return (), [(host, var, f"must be a list of brokers, got {type(value).__name__}")]
        problems: list[Problem] = []
        brokers = []
        for i, item in enumerate(value):
            where = f"{var}[{i}]"
            if not isinstance(item, dict):
                problems.append((host, where, "must be a mapping"))
                continue
            unknown = sorted(set(item) - KEYS)
            if unknown:
                problems.append((host, where, f"unknown key(s) {', '.join(unknown)}; allowed: {sorted(KEYS)}"))
            name, bhost, port = item.get("name"), item.get("host"), item.get("port", 1883)
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                problems.append((host, f"{where}.name", f"must be a broker name, got {name!r}"))
                continue
            if not isinstance(bhost, str) or not bhost:
                problems.append((host, f"{where}.host", f"must be a host name or address, got {bhost!r}"))
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                problems.append((host, f"{where}.port", f"must be a TCP port, got {port!r}"))
            for key in ("username", "password", "client_id", "topic"):
                if item.get(key) is not None and not isinstance(item[key], str):
                    problems.append((host, f"{where}.{key}", "must be a string"))
            roundtrip = item.get("roundtrip", False)
            if not isinstance(roundtrip, bool):
                problems.append((host, f"{where}.roundtrip", f"must be true or false, got {roundtrip!r}"))
            brokers.append(Broker(name, str(bhost), port if isinstance(port, int) else 1883, roundtrip is True))
        return tuple(brokers), problems

    def drift(self, host: str, want: tuple[Broker, ...], check: dict[str, Any]) -> list[Drift]:
        if check.get("status") != "ok":
            return [could_not_look(host, "mqtt", "-", check, "MQTT check")]
        seen = {b.get("name"): b for b in check.get("brokers") or [] if isinstance(b, dict)}
        out = []
        for broker in want:
            got = seen.get(broker.name)
            if got is None:
                continue
            where = f"{broker.host}:{broker.port}"
            wanted = {"broker": where, "roundtrip": broker.roundtrip}
            if not got.get("reachable"):
                out.append(
                    Drift(
                        host,
                        "mqtt",
                        broker.name,
                        "unreachable",
                        f"MQTT broker {broker.name} ({where}) is not reachable from {host}: {got.get('error')}",
                        desired=wanted,
                        observed={"reachable": False},
                        notice_only=True,
                    )
                )
            elif not got.get("accepted"):
                out.append(
                    Drift(
                        host,
                        "mqtt",
                        broker.name,
                        "rejected",
                        f"MQTT broker {broker.name} ({where}) refused {host}'s CONNECT: "
                        f"{got.get('connack_reason') or got.get('error')}",
                        desired=wanted,
                        observed={"connack_code": got.get("connack_code")},
                        notice_only=True,
                    )
                )
            elif broker.roundtrip and not (got.get("roundtrip") or {}).get("ok"):
                out.append(
                    Drift(
                        host,
                        "mqtt",
                        broker.name,
                        "roundtrip_failed",
                        f"MQTT publish/subscribe round trip via {broker.name} ({where}) failed from {host}: "
                        f"{(got.get('roundtrip') or {}).get('error')}",
                        desired=wanted,
                        observed={"roundtrip": False},
                        notice_only=True,
                    )
                )
        return out

    def remediation(self, d: Drift, want: tuple[Broker, ...]) -> Remedy | None:
        return None  # broker trouble needs a human (or shows up as the broker's own container drift)

    def check_problem(self, check: Any) -> str | None:
        return shared_check_problem(self.name, check)

    def collateral(self, target: str, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        return None

    def sources(self, want: Any) -> tuple[Path, ...]:
        return ()

    def targets(self, want: tuple[Broker, ...]) -> tuple[str, ...]:
        return tuple(broker.name for broker in want)


AREA = MqttArea()
