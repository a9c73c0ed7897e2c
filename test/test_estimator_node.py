# SPDX-License-Identifier: Apache-2.0
"""The state_estimator node with real rclpy and DDS: the simulator's IMU and joints in,
/odom out with covariance and the REP-105 frames; NaN inputs refused and reported in
/diagnostics; anchors from the claw controller's state; tf2 used when importable, and a
single log line when it is not; bad parameters refused at start."""

import math
import sys
import time
import types

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Imu, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.core.claw import ClawMode, ClawState  # noqa: E402
from space_miner.core.claw_codec import encode_claw_state  # noqa: E402
from space_miner.nodes import conversions as cv  # noqa: E402
from space_miner.nodes.state_estimator import StateEstimatorNode  # noqa: E402
from ros_graph import spin_until as _spin_until  # noqa: E402


class Client:
    """Records /odom and the estimator's diagnostics; publishes IMU, joints, claw state."""

    def __init__(self, context):
        self.node = rclpy.create_node('estimator_test_client', context=context)
        self.odom, self.diags = [], []
        n = self.node
        n.create_subscription(Odometry, itf.ODOM.name, self.odom.append, itf.ODOM.qos.to_rclpy())
        n.create_subscription(DiagnosticArray, itf.DIAGNOSTICS.name, self._on_diag,
                              itf.DIAGNOSTICS.qos.to_rclpy())
        self.imu = n.create_publisher(Imu, itf.IMU.name, itf.IMU.pub_qos.to_rclpy())
        self.joints = n.create_publisher(JointState, itf.JOINT_STATES.name,
                                         itf.JOINT_STATES.pub_qos.to_rclpy())
        self.claw_state = n.create_publisher(String, itf.CLAW_STATE.name,
                                             itf.CLAW_STATE.pub_qos.to_rclpy())
        self.t_s = 50.0

    def _on_diag(self, msg):
        for status in msg.status:
            if status.name.startswith('state_estimator'):
                self.diags.append((status, {kv.key: kv.value for kv in status.values}))

    def tick(self, gyro=(0.0, 0.0, 0.0)):
        """Publish one IMU and one joint-state sample 5 ms after the last."""
        self.t_s += 0.005
        self.imu.publish(cv.imu_msg(self.t_s, 'imu_link', (1.0, 0.0, 0.0, 0.0), gyro,
                                    (0.0, 0.0, 0.0)))
        n = len(itf.ALL_JOINTS)
        position = [0.0, 0.4, -1.0] * 6 + [0.0] * (n - 18)
        self.joints.publish(cv.joint_state_msg(self.t_s, itf.ALL_JOINTS, position, [0.0] * n,
                                               [0.0] * n))

    def claws_holding(self, claws):
        states = [ClawState(c, ClawMode.HOLDING if c in claws else ClawMode.OPEN, 100.0,
                            100.0, 100.0, 60.0 if c in claws else 0.0, False, False, 0.0, 0)
                  for c in itf.CLAW_LEGS]
        self.claw_state.publish(String(data=encode_claw_state(self.t_s, states)))


def _drive(executor, client, predicate, timeout_s=20.0, **tick):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():
        client.tick(**tick)
        for _ in range(2):
            executor.spin_once(timeout_sec=0.002)
    return predicate()


def _check_odom(msg):
    assert msg.header.frame_id == itf.ODOM_FRAME and msg.child_frame_id == itf.BASE_FRAME
    pose_cov = np.asarray(msg.pose.covariance).reshape(6, 6)
    twist_cov = np.asarray(msg.twist.covariance).reshape(6, 6)
    for cov in (pose_cov, twist_cov):
        assert np.all(np.isfinite(cov)) and np.allclose(cov, cov.T)
        assert np.all(np.diag(cov) > 0.0)
    p = msg.pose.pose.position
    q = msg.pose.pose.orientation
    assert all(math.isfinite(v) for v in (p.x, p.y, p.z))
    assert math.isclose(math.hypot(q.w, q.x, q.y, q.z), 1.0, rel_tol=1e-6)


def test_simulator_imu_and_joints_in_odom_out_with_covariance_and_frames(graph, capfd):
    from space_miner.sim.sim_node import SimNode
    context, executor, add = graph
    add(SimNode(context=context, parameter_overrides=[
        Parameter('real_time_factor', value=1.0), Parameter('camera_rate_hz', value=0.0)]))
    node = add(StateEstimatorNode(context=context))
    client = Client(context)
    add(client.node)
    assert _spin_until(executor, lambda: len(client.odom) > 40 and client.diags, 30.0)
    for msg in client.odom[-10:]:
        _check_odom(msg)
    stamps = [cv.from_stamp(m.header.stamp) for m in client.odom]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))     # fresh estimates only
    # The robot stands gripped: the estimate stays at the odom origin (start pose).
    p = client.odom[-1].pose.pose.position
    assert math.hypot(p.x, p.y) < 0.02 and abs(p.z) < 0.02
    health = node.estimator.health()
    assert health.rejected['imu'] == 0 and health.rejected['joints'] == 0
    status, values = client.diags[-1]
    assert values['tf2'] == 'not available' and 'rejected_imu' in values
    err = capfd.readouterr().err
    assert err.count('tf2_ros not available') == 1


def test_hand_made_messages_nan_inputs_are_refused_and_reported(graph):
    context, executor, add = graph
    node = add(StateEstimatorNode(context=context, parameter_overrides=[
        Parameter('diagnostics_rate_hz', value=20.0)]))
    client = Client(context)
    add(client.node)
    assert _drive(executor, client, lambda: len(client.odom) > 5)
    _check_odom(client.odom[-1])
    before = len(client.odom)
    assert _drive(executor, client, lambda: client.diags and
                  client.diags[-1][1]['rejected_imu'] != '0',
                  gyro=(float('nan'), 0.0, 0.0))
    status, values = client.diags[-1]
    assert status.level == b'\x01'                      # degraded
    assert 'not finite' in status.message and 'not finite' in values['last_reason']
    assert node.estimator.health().rejected['imu'] > 0
    # The joints still flow: /odom goes on, finite.
    assert _drive(executor, client, lambda: len(client.odom) > before + 3,
                  gyro=(float('nan'), 0.0, 0.0))
    _check_odom(client.odom[-1])
    # A joint state with NaN angles everywhere is refused too.
    n = len(itf.ALL_JOINTS)
    client.t_s += 0.005
    client.joints.publish(cv.joint_state_msg(client.t_s, itf.ALL_JOINTS, [math.nan] * n,
                                             [0.0] * n, [0.0] * n))
    assert _spin_until(executor, lambda: node.estimator.health().rejected['joints'] > 0, 5.0)


def test_claws_the_claw_controller_reports_verified_become_anchors(graph):
    context, executor, add = graph
    node = add(StateEstimatorNode(context=context))
    client = Client(context)
    add(client.node)
    assert _drive(executor, client, lambda: len(client.odom) > 2)

    def anchored():
        client.claws_holding(('c1', 'c3'))
        return node.estimator.health().anchors == ('c1', 'c3')

    assert _drive(executor, client, anchored)
    # Without fresh claw state the anchors are dropped.
    assert _drive(executor, client, lambda: node.estimator.health().anchors == ())


def test_wheel_odometry_is_fused_only_in_roll(graph):
    context, executor, add = graph
    node = add(StateEstimatorNode(context=context, parameter_overrides=[
        Parameter('diagnostics_rate_hz', value=20.0)]))
    client = Client(context)
    add(client.node)
    mode = client.node.create_publisher(String, itf.GAIT_MODE.name,
                                        itf.GAIT_MODE.pub_qos.to_rclpy())
    # No anchors and no wheels: the estimate has nothing to hold it, so it is degraded.
    assert _drive(executor, client, lambda: client.diags and
                  client.diags[-1][1]['status'] == 'degraded')
    mode.publish(String(data='roll'))
    assert _drive(executor, client, lambda: client.diags and
                  client.diags[-1][1]['status'] == 'ok' and
                  client.diags[-1][1]['gait_mode'] == 'roll')
    assert node.estimator.health().rejected['wheels'] == 0


class _FakeBroadcaster:
    sent: list = []

    def __init__(self, node):
        self.node = node

    def sendTransform(self, transform):  # noqa: N802 (tf2_ros' name)
        type(self).sent.append(transform)


def test_transforms_go_through_tf2_when_it_imports(graph, monkeypatch):
    fake = types.ModuleType('tf2_ros')
    _FakeBroadcaster.sent = []
    fake.TransformBroadcaster = fake.StaticTransformBroadcaster = _FakeBroadcaster
    monkeypatch.setitem(sys.modules, 'tf2_ros', fake)
    context, executor, add = graph
    node = add(StateEstimatorNode(context=context))
    assert node.tf_available
    client = Client(context)
    add(client.node)
    assert _drive(executor, client, lambda: len(client.odom) > 3)
    frames = [(t.header.frame_id, t.child_frame_id) for t in _FakeBroadcaster.sent]
    assert frames[0] == (itf.MAP_FRAME, itf.ODOM_FRAME)      # the static map -> odom
    assert frames.count((itf.ODOM_FRAME, itf.BASE_FRAME)) >= 3
    last = [t for t in _FakeBroadcaster.sent if t.child_frame_id == itf.BASE_FRAME][-1]
    assert last.header.stamp in [m.header.stamp for m in client.odom]


@pytest.mark.parametrize('name, value', [('publish_rate_hz', 0.0), ('min_anchors', 7),
                                         ('imu_orientation_std_rad', -1.0)])
def test_out_of_range_parameters_are_refused_at_start(graph, name, value):
    context, _, _ = graph
    with pytest.raises(InvalidParameterValueException):
        StateEstimatorNode(context=context, parameter_overrides=[Parameter(name, value=value)])
