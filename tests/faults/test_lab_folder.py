"""lab/up.sh refuses a lab folder it did not create (issue 10, Why 6): its ssh keys and docker
sockets would live in someone else's folder. Runs the real script; it stops before touching anything."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers import REPO


def up(lab_dir) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEWARD_LAB_DIR": str(lab_dir)}
    return subprocess.run([str(REPO / "lab" / "up.sh"), "labx"], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("how", ["owned by another user", "writable by others", "a symlink"])
def test_lab_refuses_a_pre_created_folder_it_does_not_own(tmp_path, fault, how) -> None:
    if os.geteuid() != 0:
        pytest.skip("lab/up.sh runs as root only")
    lab = tmp_path / "lab"
    if how == "a symlink":
        (tmp_path / "elsewhere").mkdir()
        lab.symlink_to(tmp_path / "elsewhere")
    else:
        lab.mkdir()
        if how == "owned by another user":
            os.chown(lab, 65534, 65534)
        else:
            os.chmod(lab, 0o777)
    fault.inject(f"a pre-created lab folder {how}")
    out = up(lab)
    fault.check(out.returncode != 0 and "refusing" in out.stderr, f"refused: {out.stderr.strip()[-300:]}")
    fault.check(sorted(p.name for p in lab.iterdir()) == [], "nothing was put in it (no keys, no sockets)")
