"""What the lab benches share: may one run here, and a command run from the repository root.

sys.path.insert(0, str(ROOT / "bench")); from lab_bench import lab_refusal, sh
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lab_refusal() -> str | None:
    """Why a lab bench cannot run now (not root; a lab already up: lab/down.sh would take it down), or None."""
    if os.geteuid() != 0:
        return "must run as root (the lab needs namespaces and dockerd)"
    if subprocess.run(["ip", "link", "show", "dev", "stw0"], capture_output=True, check=False).returncode == 0:
        return "a lab is already up (bridge stw0); tear it down first (lab/down.sh)"
    return None


def sh(*cmd: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`cmd` from the repository root; RuntimeError with the end of its output when it fails."""
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out
