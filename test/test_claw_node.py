# SPDX-License-Identifier: Apache-2.0
"""The claw_controller lifecycle node with real rclpy and DDS: the simulator's sensors in,
effort commands, state and diagnostics out; a stale wrench makes its claw unknown with its
force kept; e-stop keeps every grip; deactivation never releases; bad parameters refused."""

import json
import math
import statistics
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from geometry_msgs.msg import WrenchStamped  # noqa: E402
from std_msgs.msg import Bool, Float64MultiArray, String  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.core.claw import ClawMode, ClawState, PullRequest  # noqa: E402
from space_miner.core.claw import ClawRequest as CoreRequest  # noqa: E402
from space_miner.core.claw import SlipCause, SlipEvent  # noqa: E402
from space_miner.core.claw_codec import (anchored_claws, claw_requests_from_gait,  # noqa: E402
                                         claw_statuses, ClawStateReport,
                                         decode_claw_state, decode_requests_message,
                                         decode_slip_event, encode_claw_state,
                                         encode_slip_event, screen_for_estop)
from space_miner.core.gait_types import (ClawAction, ClawRequest,  # noqa: E402
                                         encode_claw_requests)
from space_miner.core.robot import ConfigError  # noqa: E402
from space_miner.nodes import conversions as cv  # noqa: E402
from space_miner.nodes.claw_controller import ClawControllerNode  # noqa: E402
from ros_graph import spin_until as _spin_until  # noqa: E402

STALE = b'\x03'
SQUEEZE_N = 100.0
POSITION_M = 0.0169


class Client:
    """A fake stack and hardware: records the node's outputs, publishes its inputs."""

    def __init__(self, context):
        self.node = rclpy.create_node('claw_test_client', context=context)
        self.commands, self.states, self.diags, self.slips = [], [], [], []
        n = self.node
        n.create_subscription(Float64MultiArray, itf.CLAW_COMMANDS.name,
                              lambda m: self.commands.append(list(m.data)),
                              itf.CLAW_COMMANDS.qos.to_rclpy())
        n.create_subscription(String, itf.CLAW_STATE.name,
                              lambda m: self.states.append(decode_claw_state(m.data)),
                              itf.CLAW_STATE.qos.to_rclpy())
        n.create_subscription(String, itf.CLAW_SLIPS.name,
                              lambda m: self.slips.append(decode_slip_event(m.data)),
                              itf.CLAW_SLIPS.qos.to_rclpy())
        n.create_subscription(DiagnosticArray, itf.DIAGNOSTICS.name, self._on_diag,
                              itf.DIAGNOSTICS.qos.to_rclpy())
        self.joints = n.create_publisher(JointState, itf.JOINT_STATES.name,
                                         itf.JOINT_STATES.pub_qos.to_rclpy())
        self.wrenches = {c: n.create_publisher(WrenchStamped, s.name, s.pub_qos.to_rclpy())
                         for c, s in zip(itf.CLAW_LEGS, itf.FT_WRENCHES)}
        self.requests = n.create_publisher(String, itf.CLAW_REQUESTS.name,
                                           itf.CLAW_REQUESTS.qos.to_rclpy())
        self.estop = n.create_publisher(Bool, itf.ESTOP.name, itf.ESTOP.qos.to_rclpy())
        self.t_s = 100.0

    def _on_diag(self, msg):
        if any(s.name.startswith('claw_controller') for s in msg.status):
            self.diags.append({s.name: s for s in msg.status})

    def tick(self, silent=(), squeeze_n=SQUEEZE_N):
        """Publish one sensor cycle 4 ms after the last (wrenches first, then joints)."""
        self.t_s += 0.004
        for claw, pub in self.wrenches.items():
            if claw not in silent:
                pub.publish(cv.wrench_msg(self.t_s, f'{claw}_ft_link', (2.0, 0.0, 0.0),
                                          (0.0, 0.0, 0.0)))
        n = len(itf.ALL_JOINTS)
        position = [0.0] * n
        effort = [0.0] * n
        for i in range(3):
            position[n - 5 + i] = POSITION_M
            effort[n - 5 + i] = squeeze_n
        self.joints.publish(cv.joint_state_msg(self.t_s, itf.ALL_JOINTS, position, [0.0] * n,
                                               effort))

    def request(self, claw, action, grip_n=0.0):
        self.requests.publish(String(data=encode_claw_requests(
            (ClawRequest(claw, action, grip_n),))))


def _drive(executor, client, predicate, timeout_s=20.0, **tick):
    """Publish sensor cycles until ``predicate()``; spin in between."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():
        client.tick(**tick)
        for _ in range(3):
            executor.spin_once(timeout_sec=0.002)
    return predicate()


def _active_node(context, add, **kwargs):
    node = add(ClawControllerNode(context=context, **kwargs))
    assert node.trigger_configure() is not None
    node.trigger_activate()
    assert node.active
    return node


def _mode(client, claw):
    return client.states[-1].state(claw).mode.value if client.states else None


def test_simulator_sensors_in_effort_commands_state_and_diagnostics_out(graph):
    from space_miner.sim.sim_node import SimNode
    context, executor, add = graph
    sim = add(SimNode(context=context, parameter_overrides=[
        Parameter('real_time_factor', value=1.0), Parameter('camera_rate_hz', value=0.0)]))
    _active_node(context, add)
    client = Client(context)
    add(client.node)
    # The robot starts gripped on Bennu: the controller adopts each grip it finds (not
    # verified), holds it, and reports per-claw state and diagnostics.
    assert _spin_until(executor, lambda: len(client.commands) > 250 and client.diags and all(
        _mode(client, c) == 'gripping' for c in itf.CLAW_LEGS), 30.0), \
        (len(client.commands), client.states[-1:] if client.states else None)
    last = client.commands[-1]
    assert len(last) == 3 and all(0.0 <= v <= 200.0 for v in last) and sum(last) <= 600.0
    report = client.states[-1]
    for claw in itf.CLAW_LEGS:
        s = report.state(claw)
        assert s.verified_holding_n == 0.0          # found gripped: never verified by assumption
        assert s.target_n > 50.0 and abs(s.squeeze_n - s.target_n) < 15.0, s
        assert s.command_n == pytest.approx(last[itf.CLAW_LEGS.index(claw)], abs=30.0)
    statuses = client.diags[-1]
    for claw in itf.CLAW_LEGS:
        status = statuses[f'claw_controller: {claw}']
        assert status.level == b'\x00', status.message
        values = {kv.key: kv.value for kv in status.values}
        assert values['mode'] == 'gripping' and float(values['squeeze_n']) > 50.0
    # The state is decimated to its declared rate (50 Hz against 250 Hz of commands).
    stamps = [r.t_s for r in client.states[-20:]]
    assert min(b - a for a, b in zip(stamps, stamps[1:])) >= 1.0 / itf.CLAW_STATE.rate_hz - 1e-3
    # A new grip target from the gait layer: the loop through the simulated actuator
    # regulates the squeeze to it.

    def at_120():
        client.request('c1', ClawAction.GRIP, 120.0)
        s = client.states[-1].state('c1')
        return s.target_n == 120.0 and abs(s.squeeze_n - 120.0) < 3.0
    assert _spin_until(executor, at_120, 30.0), client.states[-1].state('c1')
    # The command holding it: over a settled half second (one sample of a 250 Hz PI loop
    # with noise and friction can stray; the loop's command must not).
    settled = len(client.commands)
    assert _spin_until(executor, lambda: len(client.commands) >= settled + 125, 10.0)
    window = [command[0] for command in client.commands[settled:]]
    assert statistics.median(window) == pytest.approx(120.0, abs=15.0), window[-10:]
    assert abs(client.states[-1].state('c1').squeeze_n - 120.0) < 5.0
    assert sim.refused_commands == 0


def test_a_stale_wrench_makes_that_claw_unknown_with_its_last_force_kept(graph):
    context, executor, add = graph
    node = _active_node(context, add)
    client = Client(context)
    add(client.node)
    assert _drive(executor, client, lambda: len(client.states) > 3 and all(
        _mode(client, c) == 'gripping' for c in itf.CLAW_LEGS))
    assert _drive(executor, client, lambda: len(client.commands) > 20)
    assert client.commands[-1][1] > 50.0
    # c2's wrist sensor goes silent (ft_dropout): joint states keep coming.
    assert _drive(executor, client, lambda: _mode(client, 'c2') == 'unknown', silent=('c2',))
    count = len(client.commands)
    assert _drive(executor, client, lambda: len(client.commands) > count + 25, silent=('c2',))
    held_n = client.commands[count][1]
    assert held_n > 50.0
    for command in client.commands[count:]:
        assert command[1] == held_n     # its last safe force, kept exactly
    assert _mode(client, 'c1') == 'gripping' and _mode(client, 'c3') == 'gripping'
    assert _drive(executor, client, lambda: client.diags and
                  client.diags[-1]['claw_controller: c2'].level == STALE, silent=('c2',))
    assert 'wrist wrench stale' in client.diags[-1]['claw_controller: c2'].message
    # A release asked of an unknown claw is refused: its grip stays.
    client.request('c2', ClawAction.RELEASE)
    refused = node.refused_requests
    assert _drive(executor, client, lambda: node.refused_requests > refused, silent=('c2',))
    assert client.commands[-1][1] == held_n
    # The sensor comes back: the claw resumes where it was.
    assert _drive(executor, client, lambda: _mode(client, 'c2') == 'gripping')


def test_estop_keeps_every_grip_and_refuses_releases(graph):
    context, executor, add = graph
    node = _active_node(context, add)
    client = Client(context)
    add(client.node)
    assert _drive(executor, client, lambda: len(client.states) > 3 and all(
        _mode(client, c) == 'gripping' for c in itf.CLAW_LEGS))
    client.estop.publish(Bool(data=True))
    assert _drive(executor, client, lambda: node.estop)
    client.request('c1', ClawAction.RELEASE)
    assert _drive(executor, client, lambda: node.refused_requests > 0)
    assert _drive(executor, client, lambda: len(client.states) > 10 and client.states[-1].estop)
    assert _mode(client, 'c1') == 'gripping' and client.commands[-1][0] > 50.0
    client.estop.publish(Bool(data=False))
    assert _drive(executor, client, lambda: not node.estop)
    client.request('c1', ClawAction.RELEASE)
    assert _drive(executor, client, lambda: _mode(client, 'c1') == 'releasing')
    assert client.commands[-1][0] == 0.0


def test_deactivate_stops_commanding_and_never_releases(graph):
    context, executor, add = graph
    node = _active_node(context, add)
    client = Client(context)
    add(client.node)
    assert _drive(executor, client, lambda: len(client.states) > 3 and all(
        _mode(client, c) == 'gripping' for c in itf.CLAW_LEGS))
    assert _drive(executor, client, lambda: len(client.commands) > 20)
    node.trigger_deactivate()
    assert not node.active
    _drive(executor, client, lambda: False, timeout_s=0.3)
    count = len(client.commands)
    _drive(executor, client, lambda: False, timeout_s=0.5)
    assert len(client.commands) == count                # no more commands ...
    assert min(client.commands[-1]) > 50.0              # ... and the last one holds the grips
    assert _drive(executor, client, lambda: client.diags and 'inactive' in
                  client.diags[-1]['claw_controller'].message)
    node.trigger_activate()
    assert _drive(executor, client, lambda: len(client.commands) > count + 5)
    assert min(client.commands[-1]) > 50.0


def test_silent_joint_states_are_reported_and_the_efforts_held(graph):
    context, executor, add = graph
    _active_node(context, add)
    client = Client(context)
    add(client.node)
    assert _drive(executor, client, lambda: len(client.commands) > 20 and all(
        _mode(client, c) == 'gripping' for c in itf.CLAW_LEGS))
    assert _spin_until(executor, lambda: client.diags and 'no /joint_states' in
                       client.diags[-1]['claw_controller'].message, 5.0)
    assert client.diags[-1]['claw_controller'].level == STALE
    count = len(client.commands)
    _spin_until(executor, lambda: False, 0.3)
    assert len(client.commands) == count       # nothing new is commanded: the hardware holds
    assert min(client.commands[-1]) > 50.0


@pytest.mark.parametrize('name, value', [
    ('kp', 50.0),                       # above its range
    ('force_rate_max_n_per_s', 0.0),    # an exclusive lower bound
    ('regrasp_retries_max', -1),
    ('stale_timeout_s', math.inf),
])
def test_out_of_range_parameters_are_refused_at_start(graph, name, value):
    context, _, _ = graph
    with pytest.raises(InvalidParameterValueException):
        ClawControllerNode(context=context, parameter_overrides=[Parameter(name, value=value)])


def test_inconsistent_parameters_are_refused_at_start(graph):
    context, _, _ = graph
    with pytest.raises(ConfigError, match='closing_force_n'):
        ClawControllerNode(context=context,
                           parameter_overrides=[Parameter('closing_force_n', value=4.0)])


def test_parameters_carry_their_range_and_unit(graph):
    context, _, add = graph
    node = add(ClawControllerNode(context=context))
    descriptor = node.describe_parameter('kp')
    assert descriptor.floating_point_range[0].to_value == 20.0
    assert 'proportional gain' in descriptor.description
    assert '[N]' in node.describe_parameter('min_grip_force_n').description


# --- the topics' payloads (pure: core/claw_codec.py) ------------------------------------------

def _state(claw, mode=ClawMode.HOLDING, verified_n=60.0, squeeze_n=120.0):
    target_n = 0.0 if mode is ClawMode.OPEN else 120.0
    return ClawState(claw, mode, squeeze_n, target_n, 121.0, verified_n, False, False, 4.0, 1)


def test_claw_state_round_trips_and_non_finite_numbers_become_null():
    states = (_state('c1'), _state('c2', ClawMode.SLIPPING, 0.0, math.nan),
              _state('c3', ClawMode.UNKNOWN, 0.0))
    pulls = (PullRequest('c3', 40.0, 100.0),)
    text = encode_claw_state(12.5, states, pulls, estop=True)
    assert 'NaN' not in text and json.loads(text)['claws']['c2']['squeeze_n'] is None
    report = decode_claw_state(text)
    assert report.t_s == 12.5 and report.estop and report.pull_requests == pulls
    assert report.state('c1') == states[0] and report.state('c3') == states[2]
    assert math.isnan(report.state('c2').squeeze_n)
    statuses = claw_statuses(report)
    assert statuses['c1'].holds_verified and not statuses['c2'].verified
    assert statuses['c3'].pull_request_n == 40.0


@pytest.mark.parametrize('text, words', [
    ('not json', 'not JSON'),
    ('{"t_s": 1}', '"claws"'),
    ('{"t_s": 1, "claws": {"c9": {}}}', 'c9'),
    ('{"t_s": 1, "claws": {"c1": {"mode": "asleep"}}}', 'asleep'),
    ('{"t_s": 1, "claws": {"c1": {"mode": "open", "squeeze_n": "lots"}}}', 'squeeze_n'),
])
def test_malformed_claw_state_is_refused_naming_the_fault(text, words):
    with pytest.raises(ValueError, match=words):
        decode_claw_state(text)


def test_slip_events_round_trip():
    event = SlipEvent(3.25, 'c2', SlipCause.LOAD_DROP, 151.0, True)
    assert decode_slip_event(encode_slip_event(event)) == event
    with pytest.raises(ValueError):
        decode_slip_event('{"claw": "c2"}')


def test_gait_requests_map_to_the_core_requests():
    gait = (ClawRequest('c1', ClawAction.GRIP, 120.0), ClawRequest('c2', ClawAction.VERIFY,
                                                                   120.0, 40.0),
            ClawRequest('c3', ClawAction.STOW, 120.0))
    core = decode_requests_message(encode_claw_requests(gait))
    assert core == (CoreRequest.grip('c1', 120.0), CoreRequest.verify('c2', 40.0),
                    CoreRequest.release('c3'))
    assert claw_requests_from_gait((ClawRequest('c1', ClawAction.HOLD, 90.0),)) == \
        (CoreRequest.hold('c1'),)


def test_estop_screen_keeps_grips_and_refuses_loosening():
    states = (_state('c1'), _state('c2'), _state('c3', ClawMode.OPEN, 0.0))
    asked = (CoreRequest.release('c1'), CoreRequest.verify('c2', 40.0),
             CoreRequest.grip('c2', 80.0), CoreRequest.grip('c1', 150.0),
             CoreRequest.grip('c3', 100.0), CoreRequest.hold('c2'))
    kept, refused = screen_for_estop(asked, states)
    assert kept == (CoreRequest.grip('c1', 150.0), CoreRequest.grip('c3', 100.0),
                    CoreRequest.hold('c2'))
    assert [r for r, _ in refused] == list(asked[:3])


def test_only_fresh_verified_unslipping_grips_are_anchors():
    report = ClawStateReport(10.0, (_state('c1'), _state('c2', ClawMode.SLIPPING),
                                    _state('c3', ClawMode.GRIPPING, 0.0)))
    assert anchored_claws(report, 10.2, 0.5) == {'c1': True, 'c2': False, 'c3': False}
    assert not any(anchored_claws(report, 10.6, 0.5).values())   # old news
    assert not any(anchored_claws(None, 10.0, 0.5).values())
    unknown = ClawStateReport(10.0, (_state('c1', ClawMode.UNKNOWN),))
    assert not any(anchored_claws(unknown, 10.0, 0.5).values())
