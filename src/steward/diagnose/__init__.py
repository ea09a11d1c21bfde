"""A second opinion on a pending action: a local Ollama model's reading of the evidence.

The model has no hands. It is sent what the engine signed (the drift, its evidence, the fix's
tasks), the drift key's recent history and, for a container, its last log lines - redacted -
and its answer is stored beside the action as text (`actions/pending/ID.diagnosis.json`).
Nothing here approves, rejects, moves or writes an action or a playbook (docs/diagnosis.md).

Entry points: `steward.diagnose.action` (diagnose_action, diagnose_new_pending, watch_pending);
`steward.diagnose.store` reads a stored diagnosis back, `steward.diagnose.show` renders it.
"""
