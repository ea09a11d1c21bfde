"""DOCUMENTATION of homelab.steward.events matches the options set_options() reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

SRC = Path(__file__).resolve().parents[3] / "plugins" / "callback" / "events.py"


def test_documented_options_match_read_options() -> None:
    text = SRC.read_text()
    doc = yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', text, re.S).group(1))
    read = set(re.findall(r'self\.get_option\("(\w+)"\)', text))
    assert set(doc["options"]) == read == {"redis_url", "stream", "journal"}
    for opt in doc["options"].values():
        assert opt.get("env") and opt.get("ini")
    assert 'CALLBACK_NAME = "homelab.steward.events"' in text
    assert "CALLBACK_NEEDS_ENABLED = True" in text
    assert "__metaclass__" not in text and "utcnow()" not in text
