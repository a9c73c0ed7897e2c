# SPDX-License-Identifier: Apache-2.0
"""The gait_controller node with real rclpy and DDS.

A fake robot echoes the leg commands back as the low-rate joint states (a perfect position servo)
and publishes ``/odom``; the test checks that ``/cmd_vel`` turns into commands, that
``/estop`` holds on the next control step, that operator silence past the deadman hands
the robot back to the autopilot's ``/mission/goal``, and that bad parameters are refused.
"""

import json
import math
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from geometry_msgs.msg import PoseStamped, Twist  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Bool, Float64MultiArray, String  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.core.kinematics import RobotKinematics  # noqa: E402
from space_miner.core.robot import load_robot_config  # noqa: E402
from space_miner.nodes import conversions as cv  # noqa: E402
from space_miner.core.adapters import terrain_for_gait  # noqa: E402
from space_miner.nodes.gait_controller import GaitControllerNode, PARAMS  # noqa: E402
from space_miner.paths import config_path  # noqa: E402
from ros_graph import spin_until as _spin_until  # noqa: E402

MOON = [Parameter('scenario', value=str(config_path('scenarios/body_moon.yaml')))]


class FakeRobot:
    """Echoes leg commands as joint states at 100 Hz, publishes odom; records outputs."""

    def __init__(self, context):
        self.node = n = rclpy.create_node('gait_test_robot', context=context)
        self.q = RobotKinematics(load_robot_config()).stance_q()
        self.legs, self.wheels, self.modes, self.status, self.claws = [], [], [], [], []
        self.markers = []
        n.create_subscription(Float64MultiArray, itf.LEG_COMMANDS.name, self._on_legs,
                              itf.LEG_COMMANDS.qos.to_rclpy())
        n.create_subscription(Float64MultiArray, itf.WHEEL_COMMANDS.name,
                              lambda m: self.wheels.append(list(m.data)),
                              itf.WHEEL_COMMANDS.qos.to_rclpy())
        n.create_subscription(String, itf.GAIT_MODE.name, lambda m: self.modes.append(m.data),
                              itf.GAIT_MODE.qos.to_rclpy())
        n.create_subscription(String, itf.GAIT_STATUS.name,
                              lambda m: self.status.append(json.loads(m.data)),
                              itf.GAIT_STATUS.qos.to_rclpy())
        n.create_subscription(String, itf.CLAW_REQUESTS.name,
                              lambda m: self.claws.append(json.loads(m.data)),
                              itf.CLAW_REQUESTS.qos.to_rclpy())
        n.create_subscription(MarkerArray, itf.GAIT_MARKERS.name, self.markers.append,
                              itf.GAIT_MARKERS.qos.to_rclpy())
        self.pub_joints = n.create_publisher(JointState, itf.JOINT_STATES_LOW_RATE.name,
                                             itf.JOINT_STATES_LOW_RATE.pub_qos.to_rclpy())
        self.pub_odom = n.create_publisher(Odometry, itf.ODOM.name, itf.ODOM.pub_qos.to_rclpy())
        self.pub_cmd = n.create_publisher(Twist, itf.CMD_VEL.name, itf.CMD_VEL.qos.to_rclpy())
        self.pub_estop = n.create_publisher(Bool, itf.ESTOP.name, itf.ESTOP.qos.to_rclpy())
        self.pub_goal = n.create_publisher(PoseStamped, itf.MISSION_GOAL.name,
                                           itf.MISSION_GOAL.qos.to_rclpy())
        self.twist = None      # published at 20 Hz while set
        self.goal = None       # (x, y) published at 5 Hz while set
        n.create_timer(0.01, self._tick)
        n.create_timer(0.05, self._teleop)
        n.create_timer(0.2, self._autopilot)

    def _on_legs(self, msg):
        self.legs.append(list(msg.data))
        self.q = list(msg.data)

    def _tick(self):
        t = time.time()
        position = list(self.q) + [0.0] * (len(itf.ALL_JOINTS) - len(itf.LEG_JOINTS))
        zeros = [0.0] * len(itf.ALL_JOINTS)
        self.pub_joints.publish(cv.joint_state_msg(t, itf.ALL_JOINTS, position, zeros, zeros))
        self.pub_odom.publish(cv.odometry_msg(t, 'odom', 'base_link', (0.0, 0.0, 0.24),
                                              (1.0, 0.0, 0.0, 0.0), (0.0,) * 3, (0.0,) * 3))

    def _teleop(self):
        if self.twist is not None:
            msg = Twist()
            msg.linear.x, msg.angular.z = self.twist
            self.pub_cmd.publish(msg)

    def _autopilot(self):
        if self.goal is not None:
            msg = PoseStamped()
            msg.header.frame_id = 'odom'
            msg.pose.position.x, msg.pose.position.y = self.goal
            self.pub_goal.publish(msg)


def _spin_for(executor, duration_s):
    _spin_until(executor, lambda: False, duration_s)


def test_cmd_vel_in_commands_out_and_estop_holds_on_the_next_step(graph):
    context, executor, add = graph
    gait = add(GaitControllerNode(context=context, parameter_overrides=MOON))
    robot = FakeRobot(context)
    add(robot.node)
    # Until odometry has arrived the core holds (a stale critical input); then it stands.
    assert _spin_until(executor, lambda: robot.modes and robot.modes[-1] != 'hold')
    assert robot.modes[0] == 'hold'
    assert len(robot.legs[-1]) == len(itf.LEG_JOINTS)
    assert len(robot.wheels[-1]) == len(itf.WHEEL_JOINTS)
    assert set(robot.claws[-1]) == set(itf.CLAW_LEGS)
    first_mode = robot.modes[-1]
    assert first_mode in ('roll', 'walk')

    robot.twist = (0.1, 0.0)
    assert _spin_until(executor, lambda: any(
        s['command_source'] == 'operator_twist' for s in robot.status), 10.0)
    # The robot moves: legs swing (walk) or wheels turn (roll), within a few seconds.
    legs_before = list(robot.legs[-1])
    assert _spin_until(executor, lambda: max(abs(v) for v in robot.wheels[-1]) > 0.1 or max(
        abs(a - b) for a, b in zip(robot.legs[-1], legs_before)) > 0.01, 15.0)
    assert all(math.isfinite(v) for v in robot.legs[-1] + robot.wheels[-1])
    # Standing on the feet without a terrain summary, the Moon robot walks; the status
    # names the legs in stance (a tripod: three at a time).
    assert robot.modes[-1] == 'walk'
    assert _spin_until(executor, lambda: any(
        len(s['walking_stance']) == 3 for s in robot.status), 10.0)
    stances = {tuple(s['walking_stance']) for s in robot.status if s['walking_stance']}
    assert all(set(legs) <= set(itf.LEG_ORDER) for legs in stances)

    # /estop: hold on the first control step after it arrives.
    robot.pub_estop.publish(Bool(data=True))
    n_before = len(robot.legs)
    assert _spin_until(executor, lambda: robot.modes[-1] == 'hold', 5.0)
    # Commands that crossed the e-stop in flight: at most the step under way and one more.
    assert len(robot.legs) - n_before <= 2
    assert gait.last_output.mode.value == 'hold'
    held = list(robot.legs[-1])
    _spin_for(executor, 0.5)
    assert max(abs(a - b) for a, b in zip(robot.legs[-1], held)) < 1e-9
    assert max(abs(v) for v in robot.wheels[-1]) == 0.0
    assert robot.status[-1]['command_source'] == 'estop'
    # Markers: the mode above the robot and each claw beside its foot, in base_link.
    assert _spin_until(executor, lambda: robot.markers and robot.markers[-1].markers[0].text
                       .startswith('hold'), 5.0)
    texts = [m.text for m in robot.markers[-1].markers]
    assert [t.split(':')[0] for t in texts[1:]] == list(itf.CLAW_LEGS)
    assert {m.header.frame_id for m in robot.markers[-1].markers} == {'base_link'}


def test_operator_deadman_stops_teleop_while_the_mission_goal_goes_on(graph):
    context, executor, add = graph
    gait = add(GaitControllerNode(context=context, parameter_overrides=MOON))
    robot = FakeRobot(context)
    add(robot.node)
    robot.goal = (3.0, 0.0)
    assert _spin_until(executor, lambda: any(
        s['command_source'] == 'autopilot' for s in robot.status), 10.0)
    robot.twist = (0.0, 0.2)
    assert _spin_until(executor, lambda: robot.status[-1]['command_source'] == 'operator_twist',
                       10.0)
    robot.twist = None      # the operator goes silent
    start = len(robot.status)
    assert _spin_until(executor, lambda: robot.status[-1]['command_source'] == 'autopilot',
                       5.0)
    after = robot.status[start:]
    assert after and all(s['command_source'] != 'operator_twist' for s in after[-1:])
    # The goal goes on being followed: the mux keeps the autopilot, the robot is not held,
    # and the core's body twist heads for the goal (+x) once the mode runs.
    _spin_for(executor, 3.0)
    out = gait.last_output
    assert out.command_source.value == 'autopilot'
    assert out.mode.value != 'hold'
    assert _spin_until(executor, lambda: gait.last_output.body_twist.vx_m_s > 0.0, 20.0)
    assert abs(gait.last_output.body_twist.wz_rad_s) < 0.2


def test_stale_odometry_holds(graph):
    context, executor, add = graph
    add(GaitControllerNode(context=context, parameter_overrides=MOON))
    robot = FakeRobot(context)
    add(robot.node)
    assert _spin_until(executor, lambda: robot.status and robot.status[-1]['mode'] != 'hold')
    robot.pub_odom = robot.node.create_publisher(Odometry, '/unused_odom', 10)   # silence
    assert _spin_until(executor, lambda: robot.status[-1]['mode'] == 'hold', 5.0)
    assert robot.status[-1]['stale_inputs'] == 'odometry'
    assert any(r['reason'] == 'hold: stale input: odometry' for r in robot.status[-1]['refusals'])
    assert _spin_until(executor, lambda: robot.modes[-1] == 'hold', 5.0)


@pytest.mark.parametrize('name, value', [('grip_force_n', 500.0), ('cmd_vel_timeout_s', 0.0),
                                         ('walk_pattern', 'gallop')])
def test_out_of_range_parameters_are_refused_at_start(graph, name, value):
    context, _, _ = graph
    with pytest.raises((InvalidParameterValueException, ValueError)):
        node = GaitControllerNode(context=context,
                                  parameter_overrides=MOON + [Parameter(name, value=value)])
        node.destroy_node()


def test_params_come_from_the_core_ranges():
    specs = {s.name: s for s in PARAMS}
    assert specs['grip_force_n'].lo == 1.0 and specs['grip_force_n'].hi == 200.0
    assert specs['grip_force_n'].unit == 'N'
    assert specs['switch_min_decisions'].kind is int
    assert specs['scenario'].kind is str


def test_terrain_summary_adapts_for_the_selector():
    from space_miner.core.terrain_types import (MapStatus, TerrainClass, TerrainReport,
                                                TerrainSummary, TraverseMode)
    modes = {m: 1.0 for m in TraverseMode}
    summary = TerrainSummary(1.0, MapStatus.OK, TerrainClass.RUBBLE, modes, 1.0, 0.0,
                             TerrainClass.ROCK, modes, 1.0, 0.05, math.radians(12.0))
    out = terrain_for_gait(TerrainReport(summary), 5.0)
    assert (out.class_under.value, out.class_ahead.value) == ('rubble', 'rock')
    assert out.slope_deg == pytest.approx(12.0) and out.stamp_s == 5.0
    blind = TerrainSummary(1.0, MapStatus.NO_DATA, TerrainClass.UNKNOWN, modes, 0.0,
                           0.0, TerrainClass.UNKNOWN, modes, 0.0, math.nan, math.nan)
    out = terrain_for_gait(TerrainReport(blind), 5.0)
    assert out.class_under.value == 'unknown' and math.isnan(out.slope_deg)


def test_grasp_candidates_reach_the_gait_with_what_the_map_expects_them_to_hold():
    from space_miner.core.terrain_types import (GraspCandidate, MapStatus, TerrainClass,
                                                TerrainReport, TerrainSummary, TraverseMode)
    modes = {m: 1.0 for m in TraverseMode}
    summary = TerrainSummary(1.0, MapStatus.OK, TerrainClass.RUBBLE, modes, 1.0, 0.0,
                             TerrainClass.RUBBLE, modes, 1.0, 0.05, 0.1)

    def cand(leg, xyz, grasp):
        return GraspCandidate(leg, xyz, (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 1.0), grasp, grasp,
                              TerrainClass.RUBBLE, (0.0, 0.0, 0.0))
    report = TerrainReport(summary, grasp_candidates={
        'c1': [cand('c1', (0.5, 0.0, 0.1), 0.8), cand('c1', (0.6, 0.1, 0.0), 0.2)],
        'c2': [cand('c2', (math.nan, 0.0, 0.0), 0.8)],      # not a point: dropped
        'c3': [cand('c3', (-0.2, -0.4, 0.0), 0.55)]})
    out = terrain_for_gait(report, 5.0)
    assert out.grasp_candidates_m == ((0.5, 0.0, 0.1), (0.6, 0.1, 0.0), (-0.2, -0.4, 0.0))
    assert out.grasp_fractions == pytest.approx((0.8, 0.2, 0.55))
