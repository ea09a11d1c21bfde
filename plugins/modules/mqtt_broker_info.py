#!/usr/bin/python
# Copyright: Steward maintainers
# MIT License (see galaxy.yml)

# Ansible module layout: DOCUMENTATION/EXAMPLES/RETURN come before the imports (pyproject.toml ignores E402 here).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mqtt_broker_info
short_description: Check from the node that MQTT brokers accept a session, and optionally carry a message
version_added: 0.1.0
description:
  - For each broker, opens a TCP connection, sends a real MQTT 3.1.1 C(CONNECT) (clean session,
    optional username and password) and reports the C(CONNACK) return code, what it means and how
    long it took. With O(brokers[].roundtrip), also subscribes to a topic, publishes a unique
    message (QoS 1) and waits for it to come back. Then it disconnects cleanly.
  - Uses the Python standard library only (a plain socket), so it runs on any node with python3
    (no C(paho-mqtt)).
  - Never fails because of a broker. A name that does not resolve, a refused or timed-out
    connection, a refused C(CONNECT), a server that does not speak MQTT or a lost message is
    reported per broker in RV(mqtt.brokers), so that "could not connect" is never mistaken for "fine".
  - The brokers are checked in parallel, each step bounded by O(timeout).
  - The task fails only for options that cannot describe a check (see O(brokers)).
author:
  - Steward maintainers
options:
  brokers:
    description:
      - The brokers to check. Broker names must be unique.
      - The role C(homelab.steward.mqtt_health) fills this from the inventory variable C(steward_mqtt_brokers).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the broker in the result (the drift engine keys on it). Defaults to C(host:port).
        type: str
      host:
        description:
          - Host name or address of the broker, as seen from the node.
        type: str
        required: true
      port:
        description:
          - TCP port of the broker (plain MQTT; TLS is not supported).
        type: int
        default: 1883
      username:
        description:
          - User name to send in the C(CONNECT); none when omitted.
        type: str
      password:
        description:
          - Password to send in the C(CONNECT). MQTT 3.1.1 allows it only together with O(brokers[].username).
        type: str
        no_log: true
      client_id:
        description:
          - MQTT client identifier. Defaults to C(steward-) followed by 12 random hex digits, new for
            every check, so that two nodes checking the same broker never take over each other's session.
        type: str
      roundtrip:
        description:
          - Also subscribe to O(brokers[].topic), publish a unique payload there (QoS 1, not retained)
            and wait for it to come back.
        type: bool
        default: false
      topic:
        description:
          - Topic for the round trip, without wildcards. Defaults to C(steward/health/<client id>).
        type: str
  timeout:
    description:
      - Seconds allowed for each step of a broker check (resolving the name, the TCP connect, waiting
        for the C(CONNACK), the whole round trip). A broker check never takes much more than four times this.
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
  - Mosquitto 2.0 answers a wrong password, an unknown user and missing credentials alike with
    C(CONNACK) 5 (not authorised), not 4; the module reports the code the broker really sent.
  - A round trip publishes a short message on the topic. Mosquitto acknowledges a publish that its
    ACL denies and drops it silently, so a denied topic shows up as a message that did not come back.
  - Only MQTT over plain TCP is supported; a TLS port shows up as a protocol error.
seealso:
  - module: community.general.mqtt
    description: Publishes a message to a broker; needs C(paho-mqtt) on the node.
"""

EXAMPLES = r"""
---
- name: Check that the home broker accepts our credentials and carries a message
  homelab.steward.mqtt_broker_info:
    brokers:
      - name: home
        host: piha.example.internal
        username: steward
        password: "{{ vault_mqtt_password }}"
        roundtrip: true
    timeout: 3
  register: mqtt_info

- name: Check two brokers, anonymously
  homelab.steward.mqtt_broker_info:
    brokers:
      - host: 127.0.0.1
      - host: 127.0.0.1
        port: 1884
  register: mqtt_info

- name: Show the brokers that refused us, and why
  ansible.builtin.debug:
    msg: "{{ mqtt_info.mqtt.brokers | rejectattr('accepted') | map(attribute='error') }}"
"""

RETURN = r"""
mqtt:
  description: What each broker answered, or why it could not be asked.
  returned: always
  type: dict
  contains:
    status:
      description: Always V(ok) here; the state of each broker is in RV(mqtt.brokers).
      type: str
      returned: always
      sample: ok
    error:
      description: Always V(null) here; each broker has its own RV(mqtt.brokers[].error).
      type: str
      returned: always
      sample: null
    brokers:
      description: One entry per broker of O(brokers), in the same order.
      type: list
      elements: dict
      returned: always
      contains:
        name:
          description: The broker's O(brokers[].name) (C(host:port) when none was given).
          type: str
          returned: always
          sample: home
        host:
          description: The host that was asked.
          type: str
          returned: always
          sample: 127.0.0.1
        port:
          description: The port that was asked.
          type: int
          returned: always
          sample: 1883
        status:
          description:
            - V(accepted) when the broker accepted the connection (C(CONNACK) 0).
            - V(refused) when it answered with a non-zero C(CONNACK) return code.
            - V(unreachable) when no TCP connection could be opened (name not resolved, refused, timed out).
            - V(protocol_error) when the server answered, but not with a C(CONNACK) (not an MQTT broker).
            - V(timeout) when the connection opened but no C(CONNACK) came within O(timeout).
          type: str
          returned: always
          choices: [accepted, refused, unreachable, protocol_error, timeout]
          sample: accepted
        reachable:
          description: Whether a TCP connection to the broker could be opened.
          type: bool
          returned: always
          sample: true
        connack_code:
          description: The C(CONNACK) return code; V(null) when no C(CONNACK) was received.
          type: int
          returned: always
          sample: 0
        connack_reason:
          description:
            - The meaning of RV(mqtt.brokers[].connack_code) in MQTT 3.1.1; V(null) without a C(CONNACK).
            - 0 V(connection accepted), 1 V(unacceptable protocol version), 2 V(identifier rejected),
              3 V(server unavailable), 4 V(bad username or password), 5 V(not authorised);
              any other code gives V(unknown return code N).
          type: str
          returned: always
          sample: connection accepted
        accepted:
          description: Whether the broker accepted the connection (C(CONNACK) 0).
          type: bool
          returned: always
          sample: true
        latency_ms:
          description: Milliseconds from the start of the TCP connect to the C(CONNACK); V(null) without one.
          type: float
          returned: always
          sample: 2.31
        roundtrip:
          description:
            - The round trip; V(null) unless O(brokers[].roundtrip) was set.
            - When the connection was not accepted it was not attempted, and
              RV(mqtt.brokers[].roundtrip.ok) is V(false).
          type: dict
          returned: always
          contains:
            ok:
              description: Whether the published message came back.
              type: bool
              returned: when O(brokers[].roundtrip) is set
              sample: true
            latency_ms:
              description: Milliseconds from the C(PUBLISH) to the message coming back; V(null) unless it did.
              type: float
              returned: when O(brokers[].roundtrip) is set
              sample: 0.42
            error:
              description: Why the round trip failed; V(null) when it worked.
              type: str
              returned: when O(brokers[].roundtrip) is set
              sample: null
        error:
          description: Why the broker is not fine (unreachable, refused, protocol error); V(null) when accepted.
          type: str
          returned: always
          sample: "connection refused by 127.0.0.1:1883"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.steward.plugins.module_utils._check_mqtt import (
    OPTIONS_SPEC,
    MqttConfigError,
    collect,
)

ARGUMENT_SPEC = OPTIONS_SPEC


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        mqtt = collect(**module.params)
    except MqttConfigError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    module.exit_json(changed=False, mqtt=mqtt)


if __name__ == "__main__":
    main()
