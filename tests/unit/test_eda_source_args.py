"""homelab.steward.redis_events validates its arguments before it touches Redis."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from ansible_collections.homelab.steward.extensions.eda.plugins.event_source import redis_events

URL = "redis://steward:s3cret@127.0.0.1:6379/0"


class ListQueue:
    """A queue that only records: main() must reject bad args before it puts anything."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def put(self, item: dict[str, Any]) -> None:
        self.items.append(item)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "http://127.0.0.1:6379"}, "'url' must start with one of redis://"),
        ({"url": ""}, "'url' must be a non-empty string"),
        ({"url": "redis://x", "host": "x"}, "either 'url' or 'host'/'port', not both"),
        ({"host": "127.0.0.1", "port": 0}, "'port' must be an integer from 1 to 65535"),
        ({"host": "127.0.0.1", "port": "six"}, "'port' must be an integer from 1 to 65535"),
        ({"host": "127.0.0.1", "port": True}, "'port' must be an integer"),
        ({"host": ""}, "'host' must be a non-empty string"),
        ({"stream": ""}, "'stream' must be a non-empty string"),
        ({"group": 5}, "'group' must be a non-empty string"),
        ({"consumer": " "}, "'consumer' must be a non-empty string"),
        ({"batch": 0}, "'batch' must be an integer from 1 to 10000"),
        ({"block_ms": -1}, "'block_ms' must be an integer from 1 to 600000"),
        ({"block_ms": 1.5}, "'block_ms' must be an integer"),
        ({"claim_idle_ms": -5}, "'claim_idle_ms' must be an integer from 0 to"),
        ({"retry_delay": 0}, "'retry_delay' must be a number of seconds > 0"),
        ({"retry_delay": 5, "retry_max_delay": 1}, "'retry_max_delay' (1.0) must be >= 'retry_delay' (5.0)"),
        ({"strem": "typo"}, "unknown argument(s) strem"),
    ],
)
def test_main_rejects_bad_args_with_a_clear_message(args: dict[str, Any], message: str) -> None:
    queue = ListQueue()
    base: dict[str, Any] = {"inventory": "/srv/inventory/hosts.yml"}
    if not ({"url", "host", "port"} & set(args)):
        base["url"] = URL
    elif "host" in args or "port" in args:
        base["allow_unauthenticated"] = True
    with pytest.raises(ValueError) as err:
        asyncio.run(redis_events.main(queue, {**base, **args}))
    assert message in str(err.value)
    assert str(err.value).startswith("redis_events: ")
    assert queue.items == []


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_INVENTORY", "/srv/inventory")
    monkeypatch.delenv("STEWARD_REDIS_ALLOW_UNAUTHENTICATED", raising=False)
    opts = redis_events.parse_args({"url": URL})
    assert opts.url == URL and opts.inventory == "/srv/inventory" and not opts.allow_unauthenticated
    assert (opts.stream, opts.group, opts.consumer) == ("steward:events", "steward-eda", socket.gethostname())
    assert (opts.batch, opts.block_ms) == (100, 1000)


def test_host_and_port_make_the_url_and_strings_from_templates_are_accepted() -> None:
    # rulebook templating hands numbers over as strings
    dev = {"inventory": "/i", "allow_unauthenticated": "true"}
    assert redis_events.parse_args({"host": "127.0.0.1", "port": "6380", **dev}).url == "redis://127.0.0.1:6380/0"
    assert redis_events.parse_args({"host": "::1", "port": 7000, **dev}).url == "redis://[::1]:7000/0"
    assert redis_events.parse_args({"url": URL, "inventory": "/i", "batch": "10", "retry_delay": "0.5"}).batch == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "redis://127.0.0.1:6379/0"}, "has no password: Redis must authenticate"),
        ({"url": "redis://198.51.100.7:6379/0", "allow_unauthenticated": True}, "only accepted for a loopback"),
        ({"host": "redis.example", "allow_unauthenticated": True}, "only accepted for a loopback"),
        ({"url": URL, "inventory": "hosts.yml"}, "'inventory' must be an absolute path"),
        ({"url": URL, "inventory": ""}, "'inventory' (or the environment variable STEWARD_INVENTORY)"),
        ({"url": URL, "journal": "journal.jsonl"}, "'journal' must be an absolute path"),
        ({"url": URL, "allow_unauthenticated": "maybe"}, "'allow_unauthenticated' must be true or false"),
        ({"url": "http://steward:s3cret@127.0.0.1:6379/0"}, "got 'http://steward:***@127.0.0.1:6379/0'"),
    ],
)
def test_redis_without_authentication_and_relative_paths_are_refused(
    args: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEWARD_REDIS_ALLOW_UNAUTHENTICATED", raising=False)
    monkeypatch.delenv("STEWARD_INVENTORY", raising=False)
    args = {"inventory": "/srv/inventory", **args}
    if args["inventory"] == "":
        del args["inventory"]
    with pytest.raises(ValueError) as err:
        redis_events.parse_args(args)
    assert message in str(err.value)
    assert "s3cret" not in str(err.value)


def test_the_loopback_development_flag_comes_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_REDIS_ALLOW_UNAUTHENTICATED", "1")
    for url in ("redis://127.0.0.1:6379/0", "redis://localhost:1/0", "redis://[::1]:1/0", "unix:///run/r.sock"):
        assert redis_events.parse_args({"url": url, "inventory": "/i"}).allow_unauthenticated


def test_plugin_is_documented() -> None:
    import yaml

    doc = yaml.safe_load(redis_events.DOCUMENTATION)
    assert set(doc["options"]) == redis_events._KNOWN
    assert doc["short_description"]
