# SPDX-License-Identifier: Apache-2.0
"""The sim node with a real rclpy client: commands move joints, sensors and clock flow,
malformed commands are refused (logged, last safe command kept), bad parameters refused."""

import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from geometry_msgs.msg import WrenchStamped  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.nodes import conversions as cv  # noqa: E402
from space_miner.sim.sim_node import SimNode  # noqa: E402
from ros_graph import spin_until as _spin_until  # noqa: E402

FAST = [Parameter('real_time_factor', value=0.0), Parameter('camera_rate_hz', value=0.0)]


def test_commands_move_joints_sensors_flow_and_the_clock_advances(graph):
    context, executor, add = graph
    sim = add(SimNode(context=context, parameter_overrides=FAST))
    client = add(rclpy.create_node('fake_stack', context=context))
    last = {}
    client.create_subscription(JointState, itf.JOINT_STATES.name,
                               lambda m: last.__setitem__('joints', m),
                               itf.JOINT_STATES.qos.to_rclpy())
    clocks = []
    client.create_subscription(Clock, itf.CLOCK.name, clocks.append, itf.CLOCK.qos.to_rclpy())
    wrenches = []
    client.create_subscription(WrenchStamped, itf.FT_WRENCHES[0].name, wrenches.append,
                               itf.FT_WRENCHES[0].qos.to_rclpy())
    legs = client.create_publisher(Float64MultiArray, itf.LEG_COMMANDS.name,
                                   itf.LEG_COMMANDS.qos.to_rclpy())
    assert _spin_until(executor, lambda: 'joints' in last and len(clocks) > 5 and wrenches)
    assert tuple(last['joints'].name) == itf.ALL_JOINTS
    t0 = cv.from_stamp(clocks[0].clock)
    # Command w1's coxa to +0.4 rad; it moves there.
    _, q, _, _ = cv.joint_state_arrays(last['joints'], itf.LEG_JOINTS)
    target = q.copy()
    target[3] = 0.4
    for _ in range(3):
        legs.publish(cv.float_array_msg(target))
        executor.spin_once(timeout_sec=0.01)

    def w1_coxa():
        return cv.joint_state_arrays(last['joints'], itf.LEG_JOINTS)[1][3]

    assert _spin_until(executor, lambda: abs(w1_coxa() - 0.4) < 0.02), w1_coxa()
    assert cv.from_stamp(clocks[-1].clock) > t0  # the clock advances
    forces = np.array([cv.wrench_arrays(w)[1] for w in wrenches])
    assert forces.std(axis=0).max() > 0.0  # wrist readings are live, noisy measurements
    assert sim.refused_commands == 0


@pytest.mark.parametrize('data, words', [
    ([0.1] * 17, 'expected 18 values, got 17'),
    ([float('nan')] + [0.0] * 17, 'not finite'),
    ([0.0, 0.0, 5.0] + [0.0] * 15, 'outside'),
])
def test_malformed_leg_commands_are_refused_and_the_last_safe_one_kept(graph, capfd, data,
                                                                       words):
    context, executor, add = graph
    sim = add(SimNode(context=context, parameter_overrides=FAST))
    client = add(rclpy.create_node('fake_stack', context=context))
    last = {}
    client.create_subscription(JointState, itf.JOINT_STATES.name,
                               lambda m: last.__setitem__('joints', m),
                               itf.JOINT_STATES.qos.to_rclpy())
    legs = client.create_publisher(Float64MultiArray, itf.LEG_COMMANDS.name,
                                   itf.LEG_COMMANDS.qos.to_rclpy())
    assert _spin_until(executor, lambda: 'joints' in last)
    before = cv.joint_state_arrays(last['joints'], itf.LEG_JOINTS)[1]
    assert _spin_until(executor, lambda: (legs.publish(Float64MultiArray(data=data))
                                          or sim.refused_commands > 0), 10.0)
    stamp = cv.from_stamp(last['joints'].header.stamp)
    assert _spin_until(executor, lambda: cv.from_stamp(last['joints'].header.stamp)
                       > stamp + 0.5)
    after = cv.joint_state_arrays(last['joints'], itf.LEG_JOINTS)[1]
    assert np.allclose(after, before, atol=0.05)  # still holding the last safe posture
    err = capfd.readouterr().err
    assert 'refused command, last safe command kept' in err and words in err


def test_claw_total_above_600_n_is_refused(graph):
    context, executor, add = graph
    sim = add(SimNode(context=context, parameter_overrides=FAST))
    client = add(rclpy.create_node('fake_stack', context=context))
    claws = client.create_publisher(Float64MultiArray, itf.CLAW_COMMANDS.name,
                                    itf.CLAW_COMMANDS.qos.to_rclpy())
    too_much = Float64MultiArray(data=[200.0, 200.0, 201.0])  # 601 N in all
    assert _spin_until(executor, lambda: (claws.publish(too_much)
                                          or sim.refused_commands > 0), 10.0)


def test_pause_stops_the_clock(graph):
    context, executor, add = graph
    add(SimNode(context=context, parameter_overrides=FAST))
    client = add(rclpy.create_node('fake_stack', context=context))
    clocks = []
    client.create_subscription(Clock, itf.CLOCK.name, clocks.append, itf.CLOCK.qos.to_rclpy())
    pause = client.create_client(SetBool, '/mujoco_sim/pause')
    assert pause.wait_for_service(timeout_sec=10.0)
    future = pause.call_async(SetBool.Request(data=True))
    assert _spin_until(executor, future.done)
    time.sleep(0.2)
    executor.spin_once(timeout_sec=0.05)
    clocks.clear()
    _spin_until(executor, lambda: False, 0.5)
    assert len({(c.clock.sec, c.clock.nanosec) for c in clocks}) <= 1


def test_the_world_waits_for_a_lagging_estimate_and_not_for_a_stopped_one(
        graph, monkeypatch):
    from nav_msgs.msg import Odometry
    from space_miner.sim import sim_node

    # A longer stall window than the node's, so that a loaded machine cannot make the
    # frozen estimate below count as a stopped estimator before the world is seen waiting.
    monkeypatch.setattr(sim_node, 'STACK_STALL_S', 3.0)
    context, executor, add = graph
    sim = add(SimNode(context=context, parameter_overrides=FAST))
    lag_s = sim.params['max_stack_lag_s']
    assert lag_s > 0.0  # config/sim.yaml paces the world by default
    client = add(rclpy.create_node('fake_estimator', context=context))
    clocks = []
    client.create_subscription(Clock, itf.CLOCK.name, clocks.append, itf.CLOCK.qos.to_rclpy())
    odom = client.create_publisher(Odometry, itf.ODOM.name, itf.ODOM.qos.to_rclpy())

    def now_s():
        return cv.from_stamp(clocks[-1].clock)

    def estimate(t_s):
        msg = Odometry()
        msg.header.stamp = cv.to_stamp(t_s)
        odom.publish(msg)

    def world_stops(timeout_s):
        """Spin until the clock has not moved for 0.3 s; return the time it stopped at."""
        deadline = time.monotonic() + timeout_s
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
            if clocks and now_s() != last:
                last, since = now_s(), time.monotonic()
            elif last is not None and time.monotonic() - since > 0.3:
                return last
        return None

    assert _spin_until(executor, lambda: clocks)
    # An estimate stuck at t0: the world stops within one /clock period (10 ms) of
    # t0 + max_stack_lag_s.
    t0 = now_s() + 0.3
    estimate(t0)
    stopped_s = world_stops(2.5)
    assert stopped_s is not None and abs(stopped_s - (t0 + lag_s)) <= 0.011, (stopped_s, t0)
    assert sim.stack_wait_s > 0.0
    # The estimate moves on: so does the world, and it stops again at the new limit.
    advanced = time.monotonic()
    estimate(t0 + 1.0)
    stopped_s = world_stops(2.5)
    assert stopped_s is not None and abs(stopped_s - (t0 + 1.0 + lag_s)) <= 0.011
    # The estimator stops: STACK_STALL_S of wall time after its stamp last advanced, the
    # world runs on without it.
    assert _spin_until(executor, lambda: now_s() > t0 + 2.0, 10.0 + sim_node.STACK_STALL_S)
    assert time.monotonic() - advanced >= sim_node.STACK_STALL_S


def test_the_status_says_when_the_world_cannot_keep_the_real_time_factor_asked(graph):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    context, executor, add = graph
    add(SimNode(context=context, parameter_overrides=[
        Parameter('real_time_factor', value=1000.0), Parameter('camera_rate_hz', value=0.0),
        Parameter('diagnostics_rate_hz', value=10.0)]))
    client = add(rclpy.create_node('fake_monitor', context=context))
    seen = []
    client.create_subscription(
        DiagnosticArray, itf.DIAGNOSTICS.name,
        lambda m: seen.extend(s for s in m.status if s.name.startswith('mujoco_sim')),
        itf.DIAGNOSTICS.qos.to_rclpy())
    assert _spin_until(executor, lambda: any('not the 1000x asked' in s.message
                                             for s in seen), 15.0), [s.message for s in seen]
    status = next(s for s in seen if 'not the 1000x asked' in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert 'waiting for the stack 0%' in status.message   # no estimator here: never waits


@pytest.mark.parametrize('name, value', [('physics_step_s', 0.5), ('imu_rate_hz', -1.0),
                                         ('camera_width_px', 5), ('low_rate_hz', 0.0),
                                         ('max_stack_lag_s', -0.1)])
def test_out_of_range_parameters_are_refused_at_start(graph, name, value):
    context, _, _ = graph
    with pytest.raises(InvalidParameterValueException):
        SimNode(context=context, parameter_overrides=[Parameter(name, value=value)])


def test_sensor_rates_beyond_the_message_budget_are_refused(graph):
    context, _, _ = graph
    with pytest.raises(ValueError, match='above the message budget'):
        SimNode(context=context, parameter_overrides=[
            Parameter('wrench_rate_hz', value=1000.0),
            Parameter('joint_state_rate_hz', value=1000.0)])


def _summary_node(context, path, exit_at_end):
    from pathlib import Path

    scenario = Path(__file__).resolve().parent.parent / 'config' / 'scenarios' / \
        'short_live.yaml'  # the Moon: no grip required, so no rule to break standing still
    return SimNode(context=context, parameter_overrides=FAST + [
        Parameter('scenario', value=str(scenario)),
        Parameter('summary_path', value=str(path)),
        Parameter('exit_at_end', value=exit_at_end)])


def test_when_the_mission_reports_done_the_summary_is_written_and_the_node_stops(tmp_path):
    import json

    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    context = rclpy.Context()  # its own: the node shuts it down
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    path = tmp_path / 'run' / 'summary.json'
    sim = _summary_node(context, path, True)
    mission = rclpy.create_node('fake_mission', context=context)
    for node in (sim, mission):
        executor.add_node(node)
    try:
        status = mission.create_publisher(String, itf.MISSION_STATUS.name,
                                          itf.MISSION_STATUS.qos.to_rclpy())
        mode = mission.create_publisher(String, itf.GAIT_MODE.name,
                                        itf.GAIT_MODE.qos.to_rclpy())
        assert _spin_until(executor, lambda: sim.record.progress.sim_time_s > 1.0)
        mode.publish(String(data='anchor'))
        assert _spin_until(executor, lambda: sim.record.progress.mode == 'anchor')
        t_anchor = sim.record.progress.sim_time_s
        assert _spin_until(executor, lambda: sim.record.progress.sim_time_s > t_anchor + 1)
        assert not path.exists() and context.ok()  # not over before the mission says so
        status.publish(String(data=json.dumps({
            'phase': 'done', 'done': True, 'success': True, 'reason': 'mission complete: test',
            'samples': [{'site': [1.0, 0.0], 'mass_g': 3.0, 'duration_s': 5.0,
                         'outcome': 'success'}]})))
        assert _spin_until(executor, lambda: not context.ok(), 30.0), 'the node did not stop'
        summary = json.loads(path.read_text())
        assert summary['success'] is True and summary['expected_outcome_met'] is True
        assert summary['reason'] == 'mission complete: test'
        assert summary['total_sample_g'] == 3.0 and summary['summary_by'] == 'mujoco_sim'
        assert summary['gait_time_s']['anchor'] >= 1.0
        assert summary['gait_time_s']['hold'] == pytest.approx(t_anchor, abs=0.05)
        assert (path.parent / 'summary.md').is_file()
        assert not sim._thread.is_alive()  # stepping stopped before the context went
    finally:
        mission.destroy_node()
        sim.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_run_stopped_before_its_end_still_gets_its_summary_saying_so(graph, tmp_path):
    import json

    context, executor, add = graph
    path = tmp_path / 'summary.json'
    sim = _summary_node(context, path, False)
    assert _spin_until(executor, lambda: sim.record.progress.sim_time_s > 0.5)
    sim.destroy_node()  # what a Ctrl-C of the launch ends in
    summary = json.loads(path.read_text())
    assert summary['success'] is False and summary['expected_outcome_met'] is False
    assert summary['reason'] == 'stopped before the run was over'
    assert summary['sim_time_s'] >= 0.5
