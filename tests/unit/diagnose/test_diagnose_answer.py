"""The answer's schema, its validation, the server status line and how a diagnosis is shown."""

from __future__ import annotations

import json

import pytest
from ollama_server import GOOD_ANSWER, OllamaServer, closed_port_url

from steward.diagnose.answer import LIMITS, MAX_CHECKS, SCHEMA, AnswerInvalid, parse_answer
from steward.diagnose.client import server_status
from steward.diagnose.config import DiagnosisConfig
from steward.diagnose.show import diagnosis_lines


def test_the_schema_names_every_field_and_its_bounds() -> None:
    assert set(SCHEMA["required"]) == set(SCHEMA["properties"]) == set(GOOD_ANSWER)
    assert SCHEMA["properties"]["confidence"]["enum"] == ["low", "medium", "high"]
    assert SCHEMA["properties"]["fix_fits"]["enum"] == ["yes", "no", "unsure"]
    assert SCHEMA["additionalProperties"] is False


def test_long_text_is_cut_extra_fields_dropped_and_control_characters_removed() -> None:
    answer = parse_answer(
        json.dumps(
            {
                **GOOD_ANSWER,
                "summary": "x" * 5000,
                "why": "line one\x1b[2J\u202eevil\nline two",
                "checks_before_approving": [f"check {i}" for i in range(20)] + [""],
                "tasks": [{"ansible.builtin.shell": "rm -rf /"}],
                "confidence": " High ",
            }
        )
    )
    assert len(answer.summary) == LIMITS["summary"] and answer.summary.endswith("\u2026")
    assert answer.why == "line one[2Jevil\nline two"
    assert len(answer.checks_before_approving) == MAX_CHECKS
    assert answer.confidence == "high"
    assert "tasks" not in answer.as_dict()


def test_an_empty_summary_is_not_an_answer() -> None:
    with pytest.raises(AnswerInvalid, match="summary is empty"):
        parse_answer(json.dumps({**GOOD_ANSWER, "summary": "  "}))


def test_server_status_says_version_model_or_why_not() -> None:
    server = OllamaServer(models=["llama3.2:latest"])
    try:
        ok = server_status(DiagnosisConfig(True, server.url, "llama3.2", 5.0))
        missing = server_status(DiagnosisConfig(True, server.url, "mistral", 5.0))
    finally:
        server.close()
    assert ok == f"diagnosis: Ollama 0.6.8 at {server.url}, model llama3.2"
    assert missing == f"diagnosis: Ollama 0.6.8 at {server.url}, but model 'mistral' is missing"
    down = closed_port_url()
    assert server_status(DiagnosisConfig(True, down, "llama3.2", 5.0)) == (
        f"diagnosis: cannot reach the Ollama server at {down} (is it running?)"
    )


def test_shown_text_is_inert_whatever_the_model_wrote() -> None:
    doc = {
        "status": "ok",
        "model": "llama3.2",
        "at": "2026-11-27T04:00:00Z",
        "answer": {**GOOD_ANSWER, "summary": "ok\n---\n- hosts: all\x1b[31m"},
    }
    lines = diagnosis_lines(doc)
    assert all(line.startswith("#") and "\n" not in line and "\x1b" not in line for line in lines)
    assert "#   summary      : ok\\n---\\n- hosts: all\\x1b[31m" in lines
    assert diagnosis_lines(None) == []
    assert diagnosis_lines({"status": "unreadable", "text": "diagnosis unreadable: x"}) == ["# diagnosis unreadable: x"]
