"""Redaction: secrets never reach the server; what a human needs to read the error stays."""

from __future__ import annotations

import json

import pytest
from diagnose_lab import Lab, container_seen
from ollama_server import OllamaServer

from steward.diagnose.action import diagnose_action
from steward.diagnose.config import DiagnosisConfig
from steward.diagnose.redact import MASK, Redactor

AWS = "AKIAIOSFODNN7EXAMPLE"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
B64 = "dGhpcyBpcyBhIHNlY3JldCBrZXkgdGhhdCBpcyBsb25nIGVub3VnaA9Xz"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("connect failed: password=hunter2hunter2 host=db", "hunter2hunter2", "host=db"),
        ("DB_PASSWORD: 's3cr3t with spaces' retrying", "s3cr3t with spaces", "retrying"),
        ('{"api_key": "abcd1234efgh", "user": "bob"}', "abcd1234efgh", '"user": "bob"'),
        ("GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ0123 set", "ghp_0123456789abcdefghij", "set"),
        ("GET / Authorization: Bearer abc.def-123456 HTTP/1.1", "abc.def-123456", "GET /"),
        ("retrying with bearer zZ9yY8xX7wW6vV5u", "zZ9yY8xX7wW6vV5u", "retrying with bearer"),
        ("mqtt://steward:pa55w0rd@broker:1883 refused", "pa55w0rd", "broker:1883 refused"),
        (f"aws key {AWS} denied", AWS, "denied"),
        (f"session {JWT} expired", JWT, "expired"),
        (f"key material {B64} loaded", B64, "loaded"),
        ("secret " + "ab" * 20 + " end", "ab" * 20, "end"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- ok", "MIIEow", "ok"),
        ("X-Auth-Token: 0a1b2c3d4e5f", "0a1b2c3d4e5f", "X-Auth-Token"),
        ("using sk-proj-abcdefghijklmnop1234567890", "abcdefghijklmnop1234567890", "using"),
    ],
)
def test_default_patterns_remove_the_secret_and_keep_the_context(text: str, secret: str, kept: str) -> None:
    out = Redactor().text(text)
    assert secret not in out and MASK in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "20261202T060830Z-piha-mqtt-not_running-cfe0",
        "image_id sha256:" + "4a3b2c1d" * 8,
        "/usr/local/lib/python3.11/site-packages/paho/mqtt/client.py line 1181",
        "Error: unable to open /mosquitto/config/mosquitto.conf",
        "token verification is disabled; basic authentication only",
        "Starting Mosquitto 2.0.18 on port 1883",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_secret_named_fields_are_masked_and_their_values_scrubbed_everywhere() -> None:
    request = {
        "tasks": [{"docker_container": {"name": "db", "env": {"POSTGRES_PASSWORD": "correct-horse", "TZ": "UTC"}}}],
        "secrets": {"api_token": "tok-998877"},
        "logs": ["echo: correct-horse accepted", "client tok-998877 connected"],
    }
    out = Redactor().tree(request)
    blob = json.dumps(out)
    assert "correct-horse" not in blob and "tok-998877" not in blob
    assert out["tasks"][0]["docker_container"]["env"] == {"POSTGRES_PASSWORD": MASK, "TZ": MASK}
    assert out["tasks"][0]["docker_container"]["name"] == "db"
    assert out["logs"] == [f"echo: {MASK} accepted", f"client {MASK} connected"]


def test_configured_patterns_are_removed_too() -> None:
    out = Redactor([r"customer-\d+", r"(?i)internal\.example\.lan"]).text("customer-4411 at db.INTERNAL.example.lan")
    assert out == f"{MASK} at db.{MASK}"


def test_no_secret_reaches_the_server(lab: Lab, server: OllamaServer) -> None:
    lab.seen = container_seen(
        "connecting with password=hunter2hunter2",
        "GET /api Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIz",
        f"loaded credentials {AWS}",
        "customer-4411 logged in",
        "MQTT_PASSWORD value was [env:MQTT_PASSWORD]",  # already scrubbed on the node
    )
    config = DiagnosisConfig(enabled=True, url=server.url, model="llama3.2", timeout=5.0, redact=(r"customer-\d+",))
    assert diagnose_action(lab.settings, lab.action_id, config=config, look=lab.look).ok

    received = server.everything_received()
    for secret in (b"hunter2hunter2", b"eyJhbGciOiJIUzI1NiJ9", AWS.encode(), b"customer-4411"):
        assert secret not in received
    assert b"[env:MQTT_PASSWORD]" in received and b"connecting with password=[REDACTED]" in received
