#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Ansible module layout: DOCUMENTATION/EXAMPLES/RETURN come before the imports (pyproject.toml ignores E402 here).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: tailscale_status_info
short_description: Report the node's Tailscale state and its expected peers, or why it could not be asked
version_added: 0.1.0
description:
  - Asks the node's C(tailscaled) for its status through the LocalAPI on its unix socket, the same
    C(GET /localapi/v0/status) request that C(tailscale status --json) makes, and reports the backend
    state, the node's own name and addresses, the tailnet, health messages and, for each expected peer,
    whether it is in the tailnet and online.
  - Uses the Python standard library only and does not need the C(tailscale) CLI on the node.
  - Never fails because of Tailscale. A missing socket (RV(tailscale.status=absent)), a socket nobody answers on,
    a permission problem or an API error is reported in RV(tailscale.status), with the other fields V(null), so that
    "could not look" is never mistaken for "no peers".
  - The task fails only for options that cannot work at all (a relative O(socket), a O(timeout) that is not positive).
author:
  - Steward maintainers
options:
  socket:
    description:
      - Absolute path of C(tailscaled)'s LocalAPI unix socket on the node.
    type: str
    default: /var/run/tailscale/tailscaled.sock
  expected_peers:
    description:
      - Peers this node should see in its tailnet, by name.
      - A name matches a peer's MagicDNS name (its first label, or the full name) or its host name,
        case-insensitively; the MagicDNS name wins, and an online match wins over an offline one.
      - Duplicates (ignoring case) and empty names are dropped.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds to wait for C(tailscaled) (connect, send, each read).
    type: float
    default: 5.0
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
  - On Linux any local user may read the status; the socket is C(0666). Peers shared into the tailnet by other
    users (C(ShareeNode)) are not matched and not counted, as C(tailscale status) hides them.
"""

EXAMPLES = r"""
---
- name: Look at Tailscale on the node
  homelab.steward.tailscale_status_info:
  register: ts

- name: Check that the node sees its peers
  homelab.steward.tailscale_status_info:
    expected_peers:
      - piha
      - solaria
    timeout: 2
  register: ts

- name: Show expected peers that are offline, but only if tailscaled could be asked
  ansible.builtin.debug:
    msg: "{{ ts.tailscale.peers | rejectattr('online', 'equalto', true) | map(attribute='name') }}"
  when: ts.tailscale.status == 'ok'
"""

RETURN = r"""
tailscale:
  description: What tailscaled reported, or why it could not be asked.
  returned: always
  type: dict
  contains:
    status:
      description:
        - V(ok) when tailscaled answered with its status, whatever its backend state.
        - V(absent) when the socket does not exist (tailscaled not installed or not running).
        - V(unreachable) when the socket exists but refuses the connection, is not a socket, or does not answer in time.
        - V(permission_denied) when the socket may not be opened, or tailscaled answered HTTP 401/403.
        - V(api_error) when tailscaled answered with another HTTP error or with something that is not its status JSON.
      type: str
      returned: always
      choices: [ok, absent, unreachable, permission_denied, api_error]
      sample: ok
    error:
      description: Why tailscaled could not be asked; V(null) when RV(tailscale.status=ok).
      type: str
      returned: always
      sample: >-
        tailscaled socket /var/run/tailscale/tailscaled.sock does not exist:
        tailscaled is not installed or not running
    socket:
      description: The O(socket) that was asked.
      type: str
      returned: always
      sample: /var/run/tailscale/tailscaled.sock
    backend_state:
      description: The daemon's backend state (C(BackendState)); V(null) unless RV(tailscale.status=ok).
      type: str
      returned: always
      sample: Running
      choices: [NoState, InUseOtherUser, NeedsLogin, NeedsMachineAuth, Stopped, Starting, Running]
    tailnet:
      description: Name of the tailnet the node is in (C(CurrentTailnet.Name)); V(null) when not connected.
      type: str
      returned: always
      sample: homelab.example
    self:
      description: The node itself; V(null) unless RV(tailscale.status=ok).
      type: dict
      returned: always
      contains:
        hostname:
          description: The node's host name as Tailscale knows it.
          type: str
          sample: saturn
        dns_name:
          description: The node's MagicDNS name without the trailing dot; V(null) when not logged in.
          type: str
          sample: saturn.tail4e2a9c.ts.net
        ips:
          description: The node's Tailscale addresses; empty when not logged in.
          type: list
          elements: str
          sample: [100.101.42.11, "fd7a:115c:a1e0::6b01:2a0b"]
        online:
          description: Whether the node is connected to the coordination server.
          type: bool
          sample: true
    health:
      description:
        - Health problems tailscaled reports (C(Health)); empty when none.
        - V(null) unless RV(tailscale.status=ok).
      type: list
      elements: str
      returned: always
      sample: [Tailscale is stopped.]
    peers:
      description:
        - One entry per O(expected_peers) name, in that order; V(null) unless RV(tailscale.status=ok).
        - Without a network map (logged out, stopped) no peer is found.
      type: list
      elements: dict
      returned: always
      contains:
        name:
          description: The expected name, as given.
          type: str
          sample: piha
        found:
          description: Whether a peer of that name is in the node's network map.
          type: bool
          sample: true
        online:
          description: Whether that peer is connected to the coordination server; V(null) when not found.
          type: bool
          sample: true
        ips:
          description: The peer's Tailscale addresses; empty when not found.
          type: list
          elements: str
          sample: [100.101.42.13, "fd7a:115c:a1e0::6b01:2a0d"]
        last_seen:
          description:
            - When the coordination server last saw an offline peer (RFC 3339).
            - V(null) when the peer is online or not found.
          type: str
          sample: "2026-03-14T06:52:19Z"
        dns_name:
          description: MagicDNS name of the peer that matched, without the trailing dot; V(null) when not found.
          type: str
          sample: piha.tail4e2a9c.ts.net
    peer_count:
      description:
        - Number of peers in the node's network map (shared-in nodes not counted).
        - V(null) unless RV(tailscale.status=ok).
      type: int
      returned: always
      sample: 2
"""

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.steward.plugins.module_utils._check_tailscale import (
    OPTIONS_SPEC,
    InvalidOption,
    collect,
)

# The options are collect()'s keyword arguments (shared with node_observe's tailscale check).
ARGUMENT_SPEC = OPTIONS_SPEC


def main() -> None:
    module = AnsibleModule(argument_spec=copy.deepcopy(ARGUMENT_SPEC), supports_check_mode=True)
    try:
        tailscale = collect(**module.params)
    except InvalidOption as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, tailscale=tailscale)


if __name__ == "__main__":
    main()
