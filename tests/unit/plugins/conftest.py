"""Make ``ansible_collections.homelab.steward`` importable from the checkout.

``collections/ansible_collections/homelab/steward`` is a symlink to the repository root,
so putting ``<repo>/collections`` on sys.path resolves the collection's plugins the same
way ``ansible.cfg`` (collections_path = ./collections) does for ansible-playbook.
"""

from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = Path(__file__).resolve().parents[3] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
