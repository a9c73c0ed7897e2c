# SPDX-License-Identifier: Apache-2.0
"""The mission node with real rclpy and DDS, on the short scenario.

A fake stack publishes ``/odom`` (the robot where the test puts it), the gait's mode and a
sampling status, and serves ``/sampling/start``. The node publishes a goal toward the
first waypoint in odom and a latched status a late subscriber still receives; at the site
it stops, publishes the sampling request and calls ``/sampling/start``.
"""

import json
import math
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from geometry_msgs.msg import PoseStamped  # noqa: E402
from nav_msgs.msg import OccupancyGrid, Odometry  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.nodes import conversions as cv  # noqa: E402
from space_miner.nodes.mission import (MissionNode, PARAMS, pose_msg,  # noqa: E402
                                       route_map_from_grid)
from space_miner.nodes.gait_controller import pose2d_from_msg  # noqa: E402
from space_miner.core.gait_types import Pose2D  # noqa: E402
from space_miner.paths import config_path  # noqa: E402
from ros_graph import spin_until as _spin_until  # noqa: E402

SHORT = [Parameter('scenario', value=str(config_path('scenarios/short_live.yaml')))]


class FakeStack:
    """Odometry, gait mode and sampling status in; goals, status and start calls recorded."""

    def __init__(self, context, serve_sampling=True):
        self.node = n = rclpy.create_node('mission_test_stack', context=context)
        self.xy = (0.0, 0.0)
        self.goals, self.starts = [], []
        n.create_subscription(PoseStamped, itf.MISSION_GOAL.name, self.goals.append,
                              itf.MISSION_GOAL.qos.to_rclpy())
        self.pub_odom = n.create_publisher(Odometry, itf.ODOM.name, itf.ODOM.pub_qos.to_rclpy())
        self.pub_mode = n.create_publisher(String, itf.GAIT_MODE.name,
                                           itf.GAIT_MODE.pub_qos.to_rclpy())
        self.pub_sampling = n.create_publisher(String, itf.SAMPLING_STATUS.name,
                                               itf.SAMPLING_STATUS.pub_qos.to_rclpy())
        self.pub_mode.publish(String(data='walk'))
        if serve_sampling:
            self.pub_sampling.publish(String(data=json.dumps({'phase': 'idle', 'mass_g': 0.0})))
            n.create_service(Trigger, itf.SAMPLING_START.name, self._on_start)
        n.create_timer(0.05, self._tick)

    def _on_start(self, request, response):
        self.starts.append(time.monotonic())
        response.success, response.message = True, 'sampling started'
        self.pub_sampling.publish(String(data=json.dumps(
            {'phase': 'site_check', 'mass_g': 0.0, 'site_xy_m': [1.0, 0.0]})))
        return response

    def _tick(self):
        self.pub_odom.publish(cv.odometry_msg(time.time(), 'odom', 'base_link',
                                              (self.xy[0], self.xy[1], 0.24),
                                              (1.0, 0.0, 0.0, 0.0), (0.0,) * 3, (0.0,) * 3))


def _latched_status(context, executor):
    """Subscribe late to /mission/status and return what arrives (the latched message)."""
    node = rclpy.create_node('mission_late_listener', context=context)
    got = []
    node.create_subscription(String, itf.MISSION_STATUS.name,
                             lambda m: got.append(json.loads(m.data)),
                             itf.MISSION_STATUS.qos.to_rclpy())
    executor.add_node(node)
    _spin_until(executor, lambda: got, 10.0)
    executor.remove_node(node)
    node.destroy_node()
    return got


def test_goal_toward_the_waypoint_then_the_site_and_a_latched_status(graph):
    context, executor, add = graph
    mission = add(MissionNode(context=context, parameter_overrides=SHORT))
    stack = FakeStack(context)
    add(stack.node)
    # Travel: a goal in odom toward the first waypoint (0.3, 0) of short_live.yaml.
    assert _spin_until(executor, lambda: stack.goals, 10.0)
    goal = stack.goals[-1]
    assert goal.header.frame_id == 'odom'
    assert goal.pose.position.x > 0.0 and abs(goal.pose.position.y) < 0.05
    assert goal.pose.position.x <= 0.3 + 1e-6
    status = _latched_status(context, executor)
    assert status and status[-1]['phase'] == 'travel'
    assert status[-1]['target_kind'] == 'waypoint' and status[-1]['target_xy_m'] == [0.3, 0.0]
    assert status[-1]['scenario'] == 'short_live' and status[-1]['done'] is False

    # The robot reaches the waypoint: the autopilot heads for the site (1, 0).
    stack.xy = (0.3, 0.0)
    assert _spin_until(executor, lambda: stack.goals[-1].pose.position.x > 0.3 + 1e-3, 10.0)
    assert mission.last_output.status.phase.value == 'approach'
    # At the site: it stops (a NaN goal clears the gait's autopilot goal) and starts sampling.
    stack.xy = (1.0, 0.0)
    assert _spin_until(executor, lambda: stack.starts, 10.0)
    assert _spin_until(executor, lambda: math.isnan(stack.goals[-1].pose.position.x), 5.0)
    assert _spin_until(executor, lambda: any(c[1] for c in mission.service_calls), 5.0)
    status = _latched_status(context, executor)
    assert status[-1]['phase'] == 'sampling'
    request = status[-1]['sampling_request']
    assert request['site_xy_m'] == [1.0, 0.0] and request['target_g'] == pytest.approx(2.0)


def test_the_sampler_starts_at_the_missions_site_with_its_target(graph, tmp_path):
    from space_miner.nodes.sampler import SamplerNode
    context, executor, add = graph
    sampler = add(SamplerNode(context=context, parameter_overrides=[
        Parameter('sample_log_path', value=str(tmp_path / 'samples.jsonl'))]))
    sampler.trigger_configure()
    sampler.trigger_activate()
    mission = add(MissionNode(context=context, parameter_overrides=SHORT))
    stack = FakeStack(context, serve_sampling=False)
    add(stack.node)
    stack.xy = (0.3, 0.0)      # at the waypoint, then at the site
    assert _spin_until(executor, lambda: mission.autopilot.phase.value == 'approach', 10.0)
    stack.xy = (1.0, 0.0)
    assert _spin_until(executor, lambda: any(c[1] for c in mission.service_calls), 10.0)
    status = sampler.sequence.status()
    assert status.site_xy_m == (1.0, 0.0)
    assert status.target_g == pytest.approx(2.0)
    assert any('mission site' in c[2] for c in mission.service_calls)


def test_goal_message_round_trips_through_the_gait_reader():
    stamp = cv.to_stamp(1.0)
    back = pose2d_from_msg(pose_msg(Pose2D(1.0, 2.0, 0.5), stamp))
    assert (back.x_m, back.y_m) == (1.0, 2.0) and back.yaw_rad == pytest.approx(0.5)
    assert pose2d_from_msg(pose_msg(Pose2D(1.0, 2.0), stamp)).yaw_rad is None
    assert math.isnan(pose2d_from_msg(pose_msg(None, stamp)).x_m)


def test_global_grid_becomes_a_route_map():
    msg = OccupancyGrid()
    msg.header.frame_id = 'odom'
    msg.info.width = msg.info.height = 3
    msg.info.resolution = 0.5
    msg.info.origin.position.x = msg.info.origin.position.y = -0.75
    msg.data = [0, 50, 100, -1, 0, 0, 0, 0, 0]
    rm = route_map_from_grid(msg, ('walk', 'crawl'), 2.0)
    assert set(rm.traversability) == {'walk', 'crawl'}
    assert rm.traversability['walk'][0, 1] == pytest.approx(0.5)
    assert not rm.seen[1, 0] and rm.stamp_s == 2.0
    msg.info.width = 2
    with pytest.raises(ValueError):
        route_map_from_grid(msg, ('walk',), 2.0)


def test_params_come_from_the_core_ranges():
    specs = {s.name: s for s in PARAMS}
    assert specs['load_safety_factor'].lo == 2.0
    assert specs['min_holding_claws'].kind is int
    assert specs['scenario'].kind is str
