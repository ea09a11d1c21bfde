"""Asking the Ollama server: the official `ollama` client, `/api/chat`, the answer's schema as `format`.

One request: `stream=False`, `format` = answer.SCHEMA, temperature 0.1, a bounded answer length.
`timeout` bounds the whole exchange (connect, send, the model's thinking, the reply): the
request runs on a worker thread, and past the deadline the connection is closed and the
diagnosis is unavailable - nothing waits longer than that for a model.

Every way it can go wrong raises Unavailable with a reason a human can act on: the server down,
too slow, the model missing, an HTTP error, a reply that is not a chat response, an answer
that is not JSON of the schema. The client talks straight to the configured URL: no proxy
from the environment, no redirects followed (what is sent goes where it was configured to).
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING, Any

from steward.core.inert import redact_url, terminal
from steward.diagnose.answer import SCHEMA, Answer, AnswerInvalid, parse_answer
from steward.diagnose.config import DiagnosisConfig
from steward.diagnose.errors import Unavailable

if TYPE_CHECKING:
    import ollama  # imported where a diagnosis is asked for: not by every `steward` command

OPTIONS = {"temperature": 0.1, "num_predict": 1024}


def _short(text: object, limit: int = 200) -> str:
    shown = terminal(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "\u2026"


def _client(config: DiagnosisConfig) -> ollama.Client:
    import httpx
    import ollama

    timeout = httpx.Timeout(config.timeout, connect=min(config.timeout, 10.0))
    return ollama.Client(host=config.url, timeout=timeout, follow_redirects=False, trust_env=False)


def _chat(client: ollama.Client, config: DiagnosisConfig, messages: list[dict[str, str]]) -> Any:
    return client.chat(
        model=config.model, messages=messages, format=SCHEMA, stream=False, options=OPTIONS, keep_alive="10m"
    )


def _reason(exc: BaseException, config: DiagnosisConfig) -> str:
    import httpx
    import ollama

    where = redact_url(config.url)
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404 and "not found" in str(exc.error).lower():
            return f"model {config.model!r} is not on the Ollama server at {where} (ollama pull {config.model})"
        return f"the Ollama server at {where} answered HTTP {exc.status_code}: {_short(exc.error)}"
    if isinstance(exc, ConnectionError | httpx.ConnectError):
        return f"cannot reach the Ollama server at {where} (is it running?)"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from the Ollama server at {where} within {config.timeout:g} s"
    if isinstance(exc, httpx.HTTPError):
        return f"talking to the Ollama server at {where} failed: {_short(exc)}"
    return f"the Ollama server at {where} sent something that is not a chat response ({type(exc).__name__})"


def ask(config: DiagnosisConfig, messages: list[dict[str, str]]) -> tuple[Answer, str]:
    """The model's answer and the model name the server reports, or Unavailable(reason)."""
    client = _client(config)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="steward-diagnose")
    try:
        future = pool.submit(_chat, client, config, messages)
        try:
            response = future.result(timeout=config.timeout)
        except concurrent.futures.TimeoutError:
            threading.Thread(target=client.close, daemon=True).start()  # aborts the request in flight
            raise Unavailable(
                f"no answer from the Ollama server at {redact_url(config.url)} within {config.timeout:g} s"
            ) from None
        except Exception as exc:  # every failure is a reason, never a crash
            raise Unavailable(_reason(exc, config)) from None
    finally:
        pool.shutdown(wait=False)
    message = getattr(response, "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content.strip():
        raise Unavailable("the model's answer is empty")
    try:
        answer = parse_answer(content)
    except AnswerInvalid as exc:
        raise Unavailable(f"the model's answer is not JSON of the schema: {_short(exc)}") from None
    return answer, str(getattr(response, "model", None) or config.model)


def server_status(config: DiagnosisConfig) -> str:
    """One line for `steward status` / a health check: the server's version and whether the model is there."""
    import httpx

    client = _client(config)
    try:
        reply = httpx.get(f"{config.url}/api/version", timeout=min(config.timeout, 10.0), trust_env=False)
        reply.raise_for_status()
        version = reply.json().get("version", "?")
        models = {m.model for m in client.list().models}
    except Exception as exc:  # a status line, never a failure
        return f"diagnosis: {_reason(exc, config)}"
    finally:
        client.close()
    where = redact_url(config.url)
    if config.model not in models and f"{config.model}:latest" not in models:
        return f"diagnosis: Ollama {_short(version, 40)} at {where}, but model {config.model!r} is missing"
    return f"diagnosis: Ollama {_short(version, 40)} at {where}, model {config.model}"
