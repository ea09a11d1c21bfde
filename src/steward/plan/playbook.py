"""The action playbook as a file: how the engine writes it and how the executor reads and judges it.

Writing: `dump_play` emits YAML in which every value marked `Unsafe` carries Ansible's `!unsafe`
tag, so Ansible never templates it (the play's name and every string of `vars.steward_action`,
some of which describe what a node reported).

Reading: `load_playbook` parses the signed bytes with a safe loader that understands `!unsafe`
and nothing else beyond plain YAML. `shape_problem` says why a parsed playbook is not the one
shape a Steward remedy has: exactly one YAML document holding exactly one play, on the action's
host only, whose vars are only `steward_action`, whose tasks use only the modules the area's
remedy allows and none of the keywords that would run elsewhere or pull in other files
(`delegate_to`, `local_action`, `include_*`/`import_*`, `become`...). A signature proves who
wrote a file; the shape proves it is what that writer may write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

__all__ = ["PlaybookShapeError", "Unsafe", "dump_play", "load_playbook", "shape_problem", "unsafe_strings"]

PLAY_KEYS = {"name", "hosts", "gather_facts", "vars", "tasks"}
# task keywords a remedy may use besides its one module; everything else is refused
TASK_KEYS = {"name", "changed_when", "no_log"}
# the only templates a remedy's arguments may hold (plain variable references from the inventory)
ALLOWED_TEMPLATES = re.compile(
    r"\{\{\s*(?:steward_docker_host \| default\(omit\)|steward_action\.id"
    # a container's environment, read from the inventory when the task runs (values never in the file)
    r"|(?:steward_containers|steward_services) \| selectattr\('name', 'equalto', '[A-Za-z0-9][A-Za-z0-9_.-]*'\)"
    r" \| map\(attribute='env'\) \| first)\s*\}\}"
)
TEMPLATE_MARKERS = ("{{", "{%", "{#")
# a string starting so sets its own template delimiters (ansible-core 2.19 _extract_template_overrides)
OVERRIDE_MARKER = "#jinja2:"


class PlaybookShapeError(ValueError):
    """The playbook cannot be read as YAML at all."""


class Unsafe(str):
    """A string Ansible must never template: written with the `!unsafe` tag."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_unsafe(dumper: yaml.SafeDumper, data: Unsafe) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", str(data), style="'")


_Dumper.add_representer(Unsafe, _represent_unsafe)


class _Loader(yaml.SafeLoader):
    pass


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Unsafe:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, "!unsafe on a non-scalar", node.start_mark)
    return Unsafe(loader.construct_scalar(node))


_Loader.add_constructor("!unsafe", _construct_unsafe)


def unsafe_strings(value: Any) -> Any:
    """`value` with every string (keys excepted) wrapped as Unsafe."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {k: unsafe_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unsafe_strings(v) for v in value]
    return value


def dump_play(play: dict[str, Any]) -> str:
    """One play as a one-document YAML list (no document markers: the caller adds `---`)."""
    return yaml.dump([play], Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100, allow_unicode=False)


def load_playbook(content: bytes) -> list[Any]:
    """Every YAML document of the file (a well-formed action has exactly one)."""
    try:
        return list(yaml.load_all(content, Loader=_Loader))  # _Loader is a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PlaybookShapeError(f"not valid YAML ({exc})") from None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _template_problem(where: str, value: Any) -> str | None:
    for text in _strings(value):
        rest = ALLOWED_TEMPLATES.sub("", text)
        if any(marker in rest for marker in TEMPLATE_MARKERS) or text.lstrip().startswith(OVERRIDE_MARKER):
            return f"{where} holds a template a Steward remedy never writes: {text[:80]!r}"
    return None


def _not_unsafe(value: Any) -> str | None:
    """A string of `value` that is not tagged !unsafe (the engine tags every one it writes there)."""
    if isinstance(value, str):
        return None if isinstance(value, Unsafe) else value
    if isinstance(value, dict):
        return next((s for v in value.values() if (s := _not_unsafe(v)) is not None), None)
    if isinstance(value, list):
        return next((s for v in value if (s := _not_unsafe(v)) is not None), None)
    return None


def shape_problem(documents: list[Any], host: str, action_id: str, modules: Iterable[str]) -> str | None:
    """Why these documents are not one Steward remedy play on `host` (None when they are)."""
    allowed = set(modules)
    if len(documents) != 1:
        return f"{len(documents)} YAML documents, expected exactly one"
    plays = documents[0]
    if not isinstance(plays, list) or len(plays) != 1 or not isinstance(plays[0], dict):
        return "not a list holding exactly one play"
    play = plays[0]
    extra = sorted(set(map(str, play)) - PLAY_KEYS)
    if extra:
        return f"the play uses keyword(s) {', '.join(extra)}; a remedy play has only {', '.join(sorted(PLAY_KEYS))}"
    if play.get("hosts") != host:
        return f"the play targets {play.get('hosts')!r}, not the action's host {host!r}"
    if not isinstance(play.get("vars"), dict) or set(play["vars"]) != {"steward_action"}:
        return "the play's vars must hold steward_action and nothing else"
    meta = play["vars"]["steward_action"]
    if not isinstance(meta, dict) or meta.get("id") != action_id or meta.get("host") != host:
        return "steward_action does not name this action and host"
    if not isinstance(play.get("name", Unsafe()), Unsafe) or not isinstance(play.get("gather_facts", False), bool):
        return "the play's name is not !unsafe or gather_facts is not true/false"
    plain_string = _not_unsafe(meta)
    if plain_string is not None:
        return f"steward_action holds a string without !unsafe ({plain_string[:40]!r}): Ansible would template it"
    tasks = play.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        return "the play has no task list"
    for n, task in enumerate(tasks, 1):
        if not isinstance(task, dict):
            return f"task {n} is not a mapping"
        used = [k for k in map(str, task) if k not in TASK_KEYS]
        if len(used) != 1:
            return f"task {n} uses {', '.join(used) or 'no module'}; a remedy task is one module call"
        module = used[0]
        for keyword in ("changed_when", "no_log"):
            if keyword in task and not isinstance(task[keyword], bool):
                return f"task {n}: {keyword} must be true or false (an expression is a template)"
        if _is_dangerous(module):
            return f"task {n} uses {module}: it would run elsewhere, as someone else, or pull in other files"
        if module not in allowed:
            return f"task {n} uses {module}, not one of this area's remedy modules ({', '.join(sorted(allowed))})"
        problem = _template_problem(f"task {n}", task)
        if problem:
            return problem
    return None


def _is_dangerous(keyword: str) -> bool:
    bare = keyword.rsplit(".", 1)[-1]
    return bare in {"delegate_to", "local_action", "delegate_facts", "become", "become_user"} or bare.startswith(
        ("include", "import_")
    )
