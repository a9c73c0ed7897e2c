# SPDX-License-Identifier: Apache-2.0
"""The sampler lifecycle node with real rclpy and DDS.

A fake stack publishes what the sampler reads (joint states echoing the feed command, a
perfect position servo; the container mass; odometry; the gait mode; the claw states;
a terrain summary with a site check) and records what it commands. The tests check the
lifecycle transitions, that a start without a verified anchor ends with a reason and no
drill command, that an abort retracts the sampler, that every attempt reaches the sample
log (reloaded on restart), and that a clicked point in a foreign frame is refused.
"""

import dataclasses
import json
import math
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from geometry_msgs.msg import PointStamped  # noqa: E402
from lifecycle_msgs.msg import State  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Bool, Float64, Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.core.claw import ClawMode, ClawState  # noqa: E402
from space_miner.core.claw_codec import encode_claw_state  # noqa: E402
from space_miner.core.sample_log import SampleLog  # noqa: E402
from space_miner.core.terrain_types import (encode_summary, MapStatus, SiteCheck,  # noqa: E402
                                            SiteReason, TerrainClass, TerrainReport,
                                            TerrainSummary, TraverseMode)
from space_miner.nodes import conversions as cv  # noqa: E402
from space_miner.core.adapters import site_verdict  # noqa: E402
from space_miner.nodes.sampler import PARAMS, SamplerNode  # noqa: E402
from ros_graph import spin_until as _spin_until  # noqa: E402

FEED = itf.ALL_JOINTS.index('sampler_feed_joint')
SITE = (0.0, 0.0)


def _report(site_ok=True):
    modes = {m: 1.0 for m in TraverseMode}
    summary = TerrainSummary(0.0, MapStatus.OK, TerrainClass.ROCK, modes, 1.0, 0.0,
                             TerrainClass.ROCK, modes, 1.0, 0.01, 0.05)
    site = SiteCheck(site_ok, SiteReason.OK if site_ok else SiteReason.TOO_STEEP,
                     TerrainClass.ROCK, SITE)
    return TerrainReport(summary, site=site)


def _claws(holding_n):
    mode = ClawMode.HOLDING if holding_n > 0 else ClawMode.GRIPPING
    return [ClawState(c, mode, 150.0, 150.0, 150.0, holding_n, False, False, 0.0, 0)
            for c in itf.CLAW_LEGS]


class FakeStack:
    """What the sampler reads, published at 100 Hz; what it commands, recorded."""

    def __init__(self, context):
        self.node = n = rclpy.create_node('sampler_test_stack', context=context)
        self.feed_m = 0.0
        self.gait_mode = 'walk'
        self.holding_n = 0.0
        self.feed, self.drill, self.lid, self.status, self.gait_requests = [], [], [], [], []
        self.load = []
        n.create_subscription(Float64MultiArray, itf.SAMPLER_FEED_COMMANDS.name, self._on_feed,
                              itf.SAMPLER_FEED_COMMANDS.qos.to_rclpy())
        n.create_subscription(Float64MultiArray, itf.SAMPLER_DRILL_COMMANDS.name,
                              lambda m: self.drill.append(m.data[0]),
                              itf.SAMPLER_DRILL_COMMANDS.qos.to_rclpy())
        n.create_subscription(Bool, itf.SAMPLER_LID.name, lambda m: self.lid.append(m.data),
                              itf.SAMPLER_LID.qos.to_rclpy())
        n.create_subscription(Float64, itf.SAMPLING_LOAD.name,
                              lambda m: self.load.append(m.data), itf.SAMPLING_LOAD.qos.to_rclpy())
        n.create_subscription(String, itf.SAMPLING_STATUS.name,
                              lambda m: self.status.append(json.loads(m.data)),
                              itf.SAMPLING_STATUS.qos.to_rclpy())
        n.create_subscription(String, itf.GAIT_REQUEST.name,
                              lambda m: self.gait_requests.append(m.data),
                              itf.GAIT_REQUEST.qos.to_rclpy())
        self.pubs = {
            'joints': n.create_publisher(JointState, itf.JOINT_STATES_LOW_RATE.name,
                                         itf.JOINT_STATES_LOW_RATE.pub_qos.to_rclpy()),
            'mass': n.create_publisher(Float64, itf.SAMPLER_MASS.name,
                                       itf.SAMPLER_MASS.pub_qos.to_rclpy()),
            'odom': n.create_publisher(Odometry, itf.ODOM.name, itf.ODOM.pub_qos.to_rclpy()),
            'mode': n.create_publisher(String, itf.GAIT_MODE.name, itf.GAIT_MODE.qos.to_rclpy()),
            'claws': n.create_publisher(String, itf.CLAW_STATE.name,
                                        itf.CLAW_STATE.qos.to_rclpy()),
            'terrain': n.create_publisher(String, itf.TERRAIN_SUMMARY.name,
                                          itf.TERRAIN_SUMMARY.qos.to_rclpy()),
            'clicked': n.create_publisher(PointStamped, itf.CLICKED_POINT.name,
                                          itf.CLICKED_POINT.qos.to_rclpy()),
        }
        self.start = n.create_client(Trigger, itf.SAMPLING_START.name)
        self.abort = n.create_client(Trigger, itf.SAMPLING_ABORT.name)
        n.create_timer(0.01, self._tick)

    def _on_feed(self, msg):
        self.feed.append(msg.data[0])
        self.feed_m = msg.data[0]      # a perfect servo that never touches the ground

    def _tick(self):
        t = time.time()
        position = [0.0] * len(itf.ALL_JOINTS)
        position[FEED] = self.feed_m
        zeros = [0.0] * len(itf.ALL_JOINTS)
        self.pubs['joints'].publish(cv.joint_state_msg(t, itf.ALL_JOINTS, position, zeros,
                                                       zeros))
        self.pubs['mass'].publish(Float64(data=0.0))
        self.pubs['odom'].publish(cv.odometry_msg(t, 'odom', 'base_link', (0.0, 0.0, 0.24),
                                                  (1.0, 0.0, 0.0, 0.0), (0.0,) * 3, (0.0,) * 3))
        self.pubs['mode'].publish(String(data=self.gait_mode))
        self.pubs['claws'].publish(String(data=encode_claw_state(t, _claws(self.holding_n))))
        self.pubs['terrain'].publish(String(data=encode_summary(_report())))

    def click(self, frame='odom'):
        msg = PointStamped()
        msg.header.frame_id = frame
        msg.point.x, msg.point.y = SITE
        self.pubs['clicked'].publish(msg)

    def call(self, executor, client):
        assert _spin_until(executor, lambda: client.service_is_ready(), 10.0)
        future = client.call_async(Trigger.Request())
        assert _spin_until(executor, future.done, 10.0)
        return future.result()


def _sampler(context, tmp_path, **overrides):
    params = [Parameter('sample_log_path', value=str(tmp_path / 'samples.jsonl'))]
    params += [Parameter(k, value=v) for k, v in overrides.items()]
    return SamplerNode(context=context, parameter_overrides=params)


def _state(node):
    return node._state_machine.current_state[0]


def test_lifecycle_transitions_create_and_destroy_the_interfaces(graph, tmp_path):
    context, executor, add = graph
    node = add(_sampler(context, tmp_path))
    stack = FakeStack(context)
    add(stack.node)
    assert _state(node) == State.PRIMARY_STATE_UNCONFIGURED
    assert not stack.start.service_is_ready()
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert _state(node) == State.PRIMARY_STATE_INACTIVE
    # Configured: the services answer, the latched status says idle; starts are refused.
    assert _spin_until(executor, lambda: stack.status and stack.status[-1]['phase'] == 'idle')
    reply = stack.call(executor, stack.start)
    assert not reply.success and 'not active' in reply.message
    assert not stack.feed      # inactive: no commands
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert _state(node) == State.PRIMARY_STATE_ACTIVE
    assert _spin_until(executor, lambda: len(stack.feed) > 5 and stack.load)
    assert max(stack.feed) == 0.0 and max(stack.drill) == 0.0 and not any(stack.lid)
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert _state(node) == State.PRIMARY_STATE_INACTIVE
    assert not node.commanding      # stowed and idle: stops commanding at once
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert _state(node) == State.PRIMARY_STATE_UNCONFIGURED
    assert _spin_until(executor, lambda: not stack.start.service_is_ready(), 5.0)


def test_a_lifecycle_manager_configures_and_activates_it_over_dds(graph, tmp_path):
    """As launch does: change_state calls from another node, answered over DDS."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    context, executor, add = graph
    node = add(_sampler(context, tmp_path))
    manager = add(rclpy.create_node('lifecycle_manager', context=context))
    change = manager.create_client(ChangeState, '/sampler/change_state')
    get = manager.create_client(GetState, '/sampler/get_state')
    assert change.wait_for_service(timeout_sec=10.0) and get.wait_for_service(timeout_sec=10.0)
    for transition, label in ((Transition.TRANSITION_CONFIGURE, 'inactive'),
                              (Transition.TRANSITION_ACTIVATE, 'active')):
        future = change.call_async(ChangeState.Request(transition=Transition(id=transition)))
        assert _spin_until(executor, future.done, 10.0), 'change_state did not answer'
        assert future.result().success
        future = get.call_async(GetState.Request())
        assert _spin_until(executor, future.done, 10.0), 'get_state did not answer'
        assert future.result().current_state.label == label
    assert _state(node) == State.PRIMARY_STATE_ACTIVE


def test_start_without_a_verified_anchor_fails_with_a_reason_and_never_drills(
        graph, tmp_path):
    context, executor, add = graph
    node = add(_sampler(context, tmp_path, anchor_timeout_s=1.0, max_attempts=1))
    stack = FakeStack(context)
    add(stack.node)
    node.trigger_configure()
    node.trigger_activate()
    stack.click('odom')
    assert _spin_until(executor, lambda: node._clicked is not None)
    reply = stack.call(executor, stack.start)
    assert reply.success, reply.message
    assert 'rviz site' in reply.message
    # The site passes; the anchor is asked of the gait, but never verified (walk, no grip).
    assert _spin_until(executor, lambda: 'anchor' in stack.gait_requests, 5.0)
    assert _spin_until(executor, lambda: stack.status[-1]['phase'] == 'failed', 10.0)
    reason = stack.status[-1]['reason']
    assert 'anchor not verified' in reason
    assert max(stack.drill) == 0.0 and max(stack.feed) == 0.0 and max(stack.load) == 0.0
    # The anchor is let go of (auto), never a release: anchor, then auto.
    assert _spin_until(executor, lambda: stack.gait_requests[-1] == 'auto', 5.0)
    assert set(stack.gait_requests) <= {'anchor', 'hold', 'auto'}
    records = SampleLog(tmp_path / 'samples.jsonl').records
    assert len(records) == 1 and records[0].outcome == 'failed'
    assert 'anchor not verified' in records[0].reason
    assert records[0].site_xy_m == SITE


def test_abort_retracts_the_sampler_and_the_log_survives_a_restart(graph, tmp_path):
    context, executor, add = graph
    node = add(_sampler(context, tmp_path))
    stack = FakeStack(context)
    add(stack.node)
    stack.gait_mode, stack.holding_n = 'anchor', 100.0     # anchored on three claws
    node.trigger_configure()
    node.trigger_activate()
    stack.click('map')
    assert _spin_until(executor, lambda: node._clicked is not None)
    assert stack.call(executor, stack.start).success
    # Deploying: the feed goes down, the lid opens, the load stays within the budget.
    assert _spin_until(executor, lambda: stack.feed and stack.feed[-1] > 0.01, 10.0)
    assert stack.status[-1]['phase'] == 'deploy' and stack.lid[-1]
    assert max(stack.load) <= 0.5 * 3 * 100.0
    reply = stack.call(executor, stack.abort)
    assert reply.success and 'retract' in reply.message
    assert _spin_until(executor, lambda: stack.status[-1]['phase'] == 'aborted', 10.0)
    assert stack.feed[-1] == 0.0 and stack.drill[-1] == 0.0 and not stack.lid[-1]
    assert set(stack.gait_requests) <= {'anchor', 'auto'}     # never a release
    records = SampleLog(tmp_path / 'samples.jsonl').records
    assert [r.outcome for r in records] == ['aborted']
    # A second abort has nothing to abort.
    assert not stack.call(executor, stack.abort).success
    # Restart: the log is reloaded and the next record follows the first.
    node.trigger_deactivate()
    node.trigger_cleanup()
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert len(node.log.records) == 1 and node.log.next_id == 2


def test_deactivate_mid_sequence_retracts_before_it_stops_commanding(graph, tmp_path):
    context, executor, add = graph
    node = add(_sampler(context, tmp_path))
    stack = FakeStack(context)
    add(stack.node)
    stack.gait_mode, stack.holding_n = 'anchor', 100.0
    node.trigger_configure()
    node.trigger_activate()
    stack.click()
    assert _spin_until(executor, lambda: node._clicked is not None)
    assert stack.call(executor, stack.start).success
    assert _spin_until(executor, lambda: stack.feed and stack.feed[-1] > 0.01, 10.0)
    node.trigger_deactivate()
    assert node.commanding      # still retracting
    assert _spin_until(executor, lambda: not node.commanding, 10.0)
    assert _spin_until(executor, lambda: stack.status[-1]['phase'] == 'aborted', 5.0)
    assert stack.feed[-1] == 0.0 and stack.drill[-1] == 0.0
    n_commands = len(stack.feed)
    _spin_until(executor, lambda: False, 0.5)
    assert len(stack.feed) == n_commands      # inactive and retracted: no more commands


def test_a_clicked_point_in_a_foreign_frame_is_refused_with_the_reason(graph, tmp_path):
    context, executor, add = graph
    node = add(_sampler(context, tmp_path))
    stack = FakeStack(context)
    add(stack.node)
    node.trigger_configure()
    node.trigger_activate()
    reply = stack.call(executor, stack.start)
    assert not reply.success and 'no site' in reply.message
    stack.click('camera_link')
    assert _spin_until(executor, lambda: node._clicked is not None)
    reply = stack.call(executor, stack.start)
    assert not reply.success and "'camera_link'" in reply.message


def test_site_verdict_uses_the_terrain_check_near_the_site():
    verdict = site_verdict(_report(site_ok=False), SITE, 0.15)
    assert not verdict.sampleable and verdict.kind == 'rock' and 'too_steep' in verdict.reason
    far = site_verdict(_report(site_ok=False), (3.0, 0.0), 0.15)
    assert far.sampleable and far.kind == 'rock'      # the class under the robot
    assert site_verdict(None, SITE, 0.15) is None
    assert site_verdict(_report(), None, 0.15) is None
    # Ground under the robot not seen yet and no check of this site: no verdict (the
    # sequence waits for the terrain's check) rather than a refusal.
    unseen = dataclasses.replace(_report(site_ok=False).summary,
                                 class_under=TerrainClass.UNKNOWN)
    assert site_verdict(TerrainReport(unseen), SITE, 0.15) is None
    assert site_verdict(TerrainReport(unseen, site=_report().site), SITE, 0.15).sampleable


def test_params_come_from_the_core_ranges():
    specs = {s.name: s for s in PARAMS}
    assert specs['safety_factor'].lo == 2.0
    assert specs['max_attempts'].kind is int
    assert specs['sample_log_path'].kind is str
    assert math.isfinite(specs['feed_force_n'].hi)
