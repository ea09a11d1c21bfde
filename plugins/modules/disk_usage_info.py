#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Ansible module layout: DOCUMENTATION/EXAMPLES/RETURN come before the imports (pyproject.toml ignores E402 here).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: disk_usage_info
short_description: Report how full each configured path's filesystem is, and which mount it lives on
version_added: 0.1.0
description:
  - For each path in O(mounts), reports the mount it lives on (mount point, filesystem type, device),
    whether the path is itself a mount point, whether it is read-only, its size, use and free space
    in bytes, its used percentage, and its inodes.
  - Uses the Python standard library only (C(os.statvfs) and C(/proc/self/mountinfo)), so it runs on
    any Linux node with python3.
  - Percentages are computed like C(df) does, used bytes divided by the sum of used and available bytes
    (available excludes the blocks reserved for root), rounded up to one decimal.
  - Never fails because of what it finds. A path that does not exist is reported with
    RV(disk.mounts[].present=false) and an RV(disk.mounts[].error); a path that could not be looked at
    (permission denied, a hung network mount) with RV(disk.mounts[].present=null). Only when the mount table
    cannot be read is RV(disk.status=check_failed).
  - The thresholds are not compared here; they are reported back so that the result explains itself.
  - The task fails only for options it cannot use (a relative path, a threshold outside 0..100, a
    non-positive O(timeout)).
author:
  - Steward maintainers
options:
  mounts:
    description:
      - The paths to look at, usually mount points, with the thresholds the inventory sets for them.
    type: list
    elements: dict
    default: [{path: /}]
    suboptions:
      path:
        description:
          - Absolute path on the node. It does not have to be a mount point; symlinks are followed.
        type: str
        required: true
      max_used_pct:
        description:
          - Highest acceptable used percentage of the filesystem (0 to 100). Reported back, not compared.
        type: int
      max_inodes_pct:
        description:
          - Highest acceptable used percentage of the filesystem's inodes (0 to 100). Reported back, not compared.
        type: int
  timeout:
    description:
      - Seconds to wait, in total, for the filesystems to answer. All paths are looked at in parallel;
        a path whose filesystem does not answer in time (a hung network mount) is reported with an error.
    type: int
    default: 5
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads, so it behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Linux only (C(/proc/self/mountinfo)). The mount of a path is the longest mount point containing it, as seen
    from the module's mount namespace.
  - RV(disk.mounts[].inodes_used_pct) is V(null) on filesystems that report no inode limit (btrfs, a tmpfs with
    C(nr_inodes=0)).
seealso:
  - module: ansible.builtin.setup
    description: C(ansible_mounts) has sizes too, but only after gathering every fact of the node.
"""

EXAMPLES = r"""
---
- name: Look at the root filesystem
  homelab.steward.disk_usage_info:
  register: disk_info

- name: Look at the data disks with their limits
  homelab.steward.disk_usage_info:
    mounts:
      - path: /
        max_used_pct: 90
      - path: /srv/data
        max_used_pct: 80
        max_inodes_pct: 90
  register: disk_info

- name: Warn about filesystems past their limit
  ansible.builtin.debug:
    msg: "{{ item.path }} is {{ item.used_pct }} % full (limit {{ item.max_used_pct }} %)"
  loop: "{{ disk_info.disk.mounts }}"
  when:
    - disk_info.disk.status == 'ok'
    - item.max_used_pct is not none and item.used_pct is not none
    - item.used_pct > item.max_used_pct
"""

RETURN = r"""
disk:
  description: What the node's filesystems reported, or why the check could not look.
  returned: always
  type: dict
  contains:
    status:
      description:
        - V(ok) when the check ran, even if some paths are missing or could not be looked at.
        - V(check_failed) when the mount table could not be read.
      type: str
      returned: always
      choices: [ok, check_failed]
      sample: ok
    error:
      description: Why the check could not run; V(null) when RV(disk.status=ok).
      type: str
      returned: always
      sample: null
    mounts:
      description:
        - One entry per configured path, in the order of O(mounts).
        - V(null) unless RV(disk.status=ok).
      type: list
      elements: dict
      returned: always
      contains:
        path:
          description: The configured path.
          type: str
          sample: /srv/data
        present:
          description:
            - V(true) when the path exists, V(false) when it does not, V(null) when it could not be looked at.
            - Every field below RV(disk.mounts[].max_inodes_pct) is V(null) unless this is V(true).
          type: bool
          sample: true
        error:
          description: Why the path could not be looked at, or that it does not exist; V(null) otherwise.
          type: str
          sample: /srv/data does not exist
        max_used_pct:
          description: The configured threshold for the used percentage, reported back; V(null) when not set.
          type: int
          sample: 80
        max_inodes_pct:
          description: The configured threshold for the used inodes percentage, reported back; V(null) when not set.
          type: int
          sample: 90
        is_mountpoint:
          description: Whether the path (after following symlinks) is itself a mount point.
          type: bool
          sample: true
        mount_point:
          description: The mount point of the filesystem the path lives on.
          type: str
          sample: /srv/data
        fstype:
          description: Filesystem type of that mount.
          type: str
          sample: ext4
        device:
          description: Source of that mount (a block device, C(tmpfs), C(server:/export), ...).
          type: str
          sample: /dev/sdb1
        read_only:
          description: Whether the path's filesystem is mounted read-only (mount options or C(ST_RDONLY)).
          type: bool
          sample: false
        total_bytes:
          description: Size of the filesystem.
          type: int
          sample: 8388608
        used_bytes:
          description: Bytes in use (size minus free blocks).
          type: int
          sample: 6291456
        avail_bytes:
          description: Bytes available to unprivileged users.
          type: int
          sample: 2097152
        used_pct:
          description:
            - Used bytes divided by the sum of used and available bytes, as a percentage rounded up to one
              decimal, like C(df).
            - V(null) for a filesystem without blocks (such as C(proc)).
          type: float
          sample: 75.0
        inodes_total:
          description: Number of inodes of the filesystem; V(0) when it reports no inode limit.
          type: int
          sample: 2048
        inodes_used:
          description: Inodes in use.
          type: int
          sample: 12
        inodes_free:
          description: Free inodes.
          type: int
          sample: 2036
        inodes_used_pct:
          description:
            - Used inodes divided by RV(disk.mounts[].inodes_total), as a percentage rounded up to one decimal.
            - V(null) when the filesystem reports no inodes (btrfs, some tmpfs).
          type: float
          sample: 0.6
"""

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.steward.plugins.module_utils._check_disk import (
    OPTIONS_SPEC,
    InvalidMountSpec,
    collect,
)

ARGUMENT_SPEC = OPTIONS_SPEC


def main() -> None:
    # A copy: validation fills the suboption defaults into the default list of mounts, in place.
    module = AnsibleModule(argument_spec=copy.deepcopy(ARGUMENT_SPEC), supports_check_mode=True)
    try:
        disk = collect(**module.params)
    except InvalidMountSpec as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, disk=disk)


if __name__ == "__main__":
    main()
