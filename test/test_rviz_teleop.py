# SPDX-License-Identifier: Apache-2.0
"""Teleoperation from rviz against the live graph on the simulator (issue 10).

The sim node and the whole stack run on real rclpy and Fast DDS, one process per stack node
(:class:`space_miner.live.LiveGraph`, as ``space-miner sim --processes`` runs them). A test
node plays rviz and the operator, on the very topics rviz's tools use, stamped with wall
time as rviz does while the stack runs on sim time:

1. "2D Goal Pose": a PoseStamped on ``/goal_pose`` (frame ``map``) — the robot travels to it;
2. "Publish Point": a PointStamped on ``/clicked_point``, then ``/sampling/start`` — the
   sampler takes that site, the robot anchors there and drills;
3. ``/estop`` true while drilling — the gait holds, every actuator stops (legs, wheels,
   drill, feed) and every grip stays, in the controller's report and in the world's truth.

Motion is judged from the simulator's ground truth, never from the stack's own estimate.
Seven Python processes share two cores: this takes one to two minutes.
"""

import json
import math
from pathlib import Path
import time

import pytest

from space_miner import interfaces as itf
from space_miner.core.claw_codec import decode_claw_state

SCENARIO = Path(__file__).resolve().parent / 'scenarios' / 'rviz_teleop.yaml'
#: Where the operator drives and samples: on the scenario's rock field [m].
GOAL_XY_M = (0.7, 0.0)
#: Simulated-time budgets [s] of each step (the wall-clock guard is ~15x each, at 0.1x).
TRAVEL_S, ANCHOR_S, ESTOP_WATCH_S = 60.0, 90.0, 3.0
#: After the e-stop, commands are compared from this long on [s] (one control period and
#: DDS delivery between processes; the gait's own one-period bound is its node test's).
SETTLE_S = 0.5


class Rviz:
    """The operator's rviz, as a node: its tools' topics, and eyes on the graph."""

    def __init__(self, context, clock) -> None:
        import rclpy
        from geometry_msgs.msg import PointStamped, PoseStamped
        from nav_msgs.msg import Odometry
        from std_msgs.msg import Bool, Float64MultiArray, String
        from std_srvs.srv import Trigger

        self.node = rclpy.create_node('rviz_operator', context=context)
        self.clock = clock                      # () -> sim time [s], from the monitor
        pub = self.node.create_publisher
        self.goal_pub = pub(PoseStamped, itf.GOAL_POSE.name, itf.GOAL_POSE.qos.to_rclpy())
        self.point_pub = pub(PointStamped, itf.CLICKED_POINT.name,
                             itf.CLICKED_POINT.qos.to_rclpy())
        self.estop_pub = pub(Bool, itf.ESTOP.name, itf.ESTOP.qos.to_rclpy())
        self.start = self.node.create_client(Trigger, itf.SAMPLING_START.name)
        self.truth = []                         # (sim t, x, y)
        self.modes = []                         # (sim t, mode)
        self.sampling = {}
        self.claws = None
        self.commands = {name: [] for name in ('legs', 'wheels', 'drill', 'feed')}
        sub = self.node.create_subscription
        sub(Odometry, itf.GROUND_TRUTH_ODOM.name, self._on_truth,
            itf.GROUND_TRUTH_ODOM.qos.to_rclpy())
        sub(String, itf.GAIT_MODE.name, lambda m: self.modes.append((self.clock(), m.data)),
            itf.GAIT_MODE.qos.to_rclpy())
        sub(String, itf.SAMPLING_STATUS.name, self._on_sampling,
            itf.SAMPLING_STATUS.qos.to_rclpy())
        sub(String, itf.CLAW_STATE.name, self._on_claws, itf.CLAW_STATE.qos.to_rclpy())
        for name, spec in (('legs', itf.LEG_COMMANDS), ('wheels', itf.WHEEL_COMMANDS),
                           ('drill', itf.SAMPLER_DRILL_COMMANDS),
                           ('feed', itf.SAMPLER_FEED_COMMANDS)):
            sub(Float64MultiArray, spec.name,
                lambda m, n=name: self.commands[n].append((self.clock(), tuple(m.data))),
                spec.qos.to_rclpy())

    def _on_truth(self, msg) -> None:
        p = msg.pose.pose.position
        self.truth.append((self.clock(), p.x, p.y))

    def _on_sampling(self, msg) -> None:
        self.sampling = json.loads(msg.data)

    def _on_claws(self, msg) -> None:
        self.claws = decode_claw_state(msg.data)

    def _wall_stamp(self, msg) -> None:
        """Stamp as rviz does: its own (wall) clock, whatever the stack runs on."""
        now = time.time()
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int(now % 1.0 * 1e9)
        msg.header.frame_id = 'map'

    def send_goal(self, x_m: float, y_m: float, yaw_rad: float) -> None:
        from geometry_msgs.msg import PoseStamped

        msg = PoseStamped()
        self._wall_stamp(msg)
        msg.pose.position.x, msg.pose.position.y = x_m, y_m
        msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw_rad / 2), \
            math.cos(yaw_rad / 2)
        self.goal_pub.publish(msg)

    def click(self, x_m: float, y_m: float) -> None:
        from geometry_msgs.msg import PointStamped

        msg = PointStamped()
        self._wall_stamp(msg)
        msg.point.x, msg.point.y = x_m, y_m
        self.point_pub.publish(msg)

    def estop(self, on: bool) -> None:
        from std_msgs.msg import Bool

        self.estop_pub.publish(Bool(data=on))

    def call_start(self, timeout_s: float = 120.0):
        from std_srvs.srv import Trigger

        assert self.start.wait_for_service(timeout_sec=timeout_s), 'no /sampling/start'
        future = self.start.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert future.done(), '/sampling/start did not answer'
        return future.result()

    def still(self, window_s: float, tolerance_m: float = 0.005) -> bool:
        """Whether the true body stayed within ``tolerance_m`` over the last ``window_s``."""
        if not self.truth or self.truth[-1][0] - self.truth[0][0] < window_s:
            return False
        recent = [(x, y) for t, x, y in self.truth if t >= self.truth[-1][0] - window_s]
        return max(math.dist(p, recent[-1]) for p in recent) < tolerance_m

    def xy(self) -> tuple:
        return self.truth[-1][1:] if self.truth else (math.nan, math.nan)


def _wait(graph, predicate, sim_s: float, what: str) -> float:
    """Wait until ``predicate()`` or ``sim_s`` of simulated time pass; return the sim time."""
    progress = graph.monitor.progress
    start_s = progress.sim_time_s
    wall_limit = time.monotonic() + 60.0 + 15.0 * sim_s   # the graph may run at ~0.1x
    while time.monotonic() < wall_limit:
        if predicate():
            return progress.sim_time_s
        if progress.sim_time_s - start_s > sim_s:
            break
        error = graph.sim._error
        assert error is None, f'simulator stopped: {error!r}'
        time.sleep(0.05)
    raise AssertionError(f'{what}: not within {sim_s:g} s simulated '
                         f'(now {progress.sim_time_s:.1f} s)')


def _holding(graph) -> dict:
    """The world's true holding force per claw [N] (0 when not gripping)."""
    return dict(graph.sim._status.get('holding_n', {}))


@pytest.fixture(scope='module')
def session(tmp_path_factory):
    """Bring the graph up, play the operator's three steps and keep what was seen."""
    from space_miner.core.scenario import load_scenario
    from space_miner.live import LiveGraph, LiveOptions

    out = tmp_path_factory.mktemp('rviz')
    options = LiveOptions(scenario=str(SCENARIO), summary=out / 'summary.json', bag=None,
                          processes=True, real_time_factor=1.0)
    seen = {}
    with LiveGraph(options, load_scenario(str(SCENARIO)), str(SCENARIO), out) as graph:
        assert not graph.bringup_error, graph.bringup_error
        rviz = Rviz(graph.context, lambda: graph.monitor.progress.sim_time_s)
        graph.add_node(rviz.node)
        _wait(graph, lambda: rviz.truth and rviz.modes and rviz.claws is not None, 30.0,
              'the graph publishes truth, gait mode and claw states')
        _wait(graph, lambda: graph.monitor.progress.sim_time_s > 2.0, 10.0, 'settled')
        seen['start_xy'] = rviz.xy()
        seen['start_distance_m'] = math.dist(seen['start_xy'], GOAL_XY_M)

        # 1. rviz "2D Goal Pose".
        rviz.send_goal(*GOAL_XY_M, 0.0)
        seen['goal_sent_s'] = graph.monitor.progress.sim_time_s
        try:
            seen['arrived_s'] = _wait(
                graph, lambda: math.dist(rviz.xy(), GOAL_XY_M) < 0.1 and rviz.still(1.0),
                TRAVEL_S, 'arrive and stop at the goal pose')
        except AssertionError as err:
            seen['travel_error'] = str(err)
        seen['goal_xy'] = rviz.xy()
        # /gait/mode is latched and sent on change: the mode in force when the goal went out
        # (the selector may have chosen the gait before) counts, then every change after it.
        before = [m for t, m in rviz.modes if t < seen['goal_sent_s']]
        seen['modes_travel'] = before[-1:] + [m for t, m in rviz.modes
                                              if t >= seen['goal_sent_s']]
        if 'travel_error' in seen:
            yield seen
            return

        # 2. rviz "Publish Point" at the body's position, then /sampling/start.
        site = rviz.xy()
        seen['site'] = site
        rviz.click(*site)
        time.sleep(2.0)   # the point reaches the sampler before the service call
        response = rviz.call_start()
        seen['start_response'] = (response.success, response.message)
        try:
            seen['drilling_s'] = _wait(
                graph, lambda: rviz.sampling.get('phase') == 'drill'
                and rviz.sampling.get('mass_g', 0.0) > 0.0, ANCHOR_S, 'drill at the site')
        except AssertionError as err:
            seen['sampling_error'] = f'{err}; status {rviz.sampling}'
        seen['sampling'] = dict(rviz.sampling)
        if 'sampling_error' in seen:
            yield seen
            return

        # 3. /estop while drilling.
        seen['claws_before'] = {s.claw: s for s in rviz.claws.states}
        seen['holding_before'] = _holding(graph)
        rviz.estop(True)
        estop_s = seen['estop_s'] = graph.monitor.progress.sim_time_s
        try:
            seen['hold_s'] = _wait(graph, lambda: rviz.modes[-1][1] == 'hold', 2.0,
                                   'gait in hold after the e-stop')
        except AssertionError as err:
            seen['hold_error'] = str(err)
        _wait(graph, lambda: graph.monitor.progress.sim_time_s > estop_s + ESTOP_WATCH_S,
              ESTOP_WATCH_S + 1.0, 'watch the e-stop')
        seen['claws_after'] = {s.claw: s for s in rviz.claws.states}
        seen['holding_after'] = _holding(graph)
        seen['after'] = {name: [(t, v) for t, v in series if t >= estop_s + SETTLE_S]
                         for name, series in rviz.commands.items()}
        seen['truth_after'] = [(t, x, y) for t, x, y in rviz.truth if t >= estop_s + SETTLE_S]
        seen['sampling_after'] = dict(rviz.sampling)
        seen['violations'] = graph.sim.judge.verdict.violations
        seen['detached'] = graph.sim._status.get('detached', (False, ''))[0]
        yield seen


def test_a_goal_pose_from_rviz_moves_the_robot_there(session):
    assert 'travel_error' not in session, (session.get('travel_error'),
                                           session['modes_travel'])
    assert session['start_distance_m'] > 0.5          # it had somewhere to go
    assert math.dist(session['goal_xy'], GOAL_XY_M) < 0.1
    assert any(m in ('roll', 'walk', 'crawl') for m in session['modes_travel'])


def test_a_clicked_point_then_start_samples_there(session):
    assert 'site' in session, 'the robot never reached the goal pose'
    ok, message = session['start_response']
    assert ok, message
    assert 'rviz site' in message
    assert 'sampling_error' not in session, session.get('sampling_error')
    status = session['sampling']
    assert status['site_xy_m'] == pytest.approx(list(session['site']), abs=1e-3)
    # The sampler's whole status says why, with its attempts' history.
    assert status['terrain_kind'] == 'rock', json.dumps(status, indent=1, default=str)
    assert status['mass_g'] > 0.0


def test_estop_stops_every_motion_and_keeps_every_grip(session):
    assert 'estop_s' in session, 'the robot never drilled: nothing to e-stop'
    assert 'hold_error' not in session, session.get('hold_error')
    assert session['hold_s'] - session['estop_s'] <= 1.0
    after = session['after']
    # Wheels stopped, legs and feed frozen, drill stopped: from the commands themselves.
    assert after['wheels'] and all(v == pytest.approx((0.0,) * 3) for _, v in after['wheels'])
    assert after['drill'] and all(v == (0.0,) for _, v in after['drill'])
    for name in ('legs', 'feed'):
        values = [v for _, v in after[name]]
        assert values, name
        assert max(abs(a - b) for v in values for a, b in zip(v, values[0])) < 1e-6, name
    # The body does not move (the world's truth).
    xs = [(x, y) for _, x, y in session['truth_after']]
    assert xs and max(math.dist(p, xs[0]) for p in xs) < 0.005
    # Every claw that gripped before still grips, in the controller's report and in truth.
    before, now = session['claws_before'], session['claws_after']
    gripped = [c for c, s in before.items() if s.is_verified]
    assert len(gripped) >= 2, before           # anchored for drilling: something to keep
    for claw in gripped:
        assert now[claw].is_verified, (claw, now[claw])
        assert session['holding_after'][claw] >= 0.9 * session['holding_before'][claw] > 0.0
    assert session['sampling_after']['phase'] == 'aborting'  # frozen, not retracting
    assert session['violations'] == 0 and not session['detached']
    print(f"\nrviz teleop: goal reached {session['arrived_s'] - session['goal_sent_s']:.1f} s "
          f"after it was sent ({session['start_distance_m']:.2f} m), drilling "
          f"{session['drilling_s'] - session['arrived_s']:.1f} s after arrival, hold "
          f"{1000 * (session['hold_s'] - session['estop_s']):.0f} ms after the e-stop; "
          f"true holding kept: { {c: round(session['holding_after'][c]) for c in gripped} } N")
