"""Run an Ansible module's main() in-process, the way ansible-core's own unit tests do."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.testing import patch_module_args


def run_module(
    module: ModuleType, capsys: pytest.CaptureFixture[str], args: dict[str, Any], check_mode: bool = False
) -> dict[str, Any]:
    """Return the module's JSON result; exit_json and fail_json both end with SystemExit."""
    if check_mode:
        args = {**args, "_ansible_check_mode": True}
    capsys.readouterr()
    # Once controller code (ansible.template, ...) is imported in this process, module warnings
    # would go to the controller's Display instead of the result: run as a module really does.
    with mock.patch.object(_internal, "is_controller", False), patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)
