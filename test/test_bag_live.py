# SPDX-License-Identifier: Apache-2.0
"""Recording from the real sim node, replay to a real rclpy subscriber, SIGKILL safety.

The sim node runs in-process with the recorder (real_time_factor 0, a 160x120 camera).
Stand-in publishers play the parts of the gait, claw and sampler nodes that are being
written (the same topic names and JSON payloads as interfaces.py and the cores' codecs):
two gait changes, one slip event, one sampling run. Claw c1 is commanded to 0 N: a
commanded release, which the report shows as a grip state change, not as a slip.
"""

import dataclasses
import json
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64, Float64MultiArray, String  # noqa: E402

from space_miner import interfaces as itf  # noqa: E402
from space_miner.bag import report  # noqa: E402
from space_miner.bag.reader import open_bag  # noqa: E402
from space_miner.bag.recorder import BagRecorder  # noqa: E402
from space_miner.core.claw import SlipCause, SlipEvent  # noqa: E402
from space_miner.core.claw_codec import encode_slip_event  # noqa: E402
from space_miner.sim.model import expand_urdf  # noqa: E402
from space_miner.sim.sim_node import SimNode  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUN_S = 6.0
#: Replay timing tolerance: each message's arrival time, against its recorded time
#: divided by the rate (aligned on the median delay), is off by at most this [s] at the
#: median and at the 95th percentile (two shared cores, player in another process).
SPACING_TOL_MEDIAN_S = 0.005
SPACING_TOL_P95_S = 0.030


def _spin_for(executor, seconds, step=None, until=None):
    """Spin for ``seconds`` of wall time, calling ``step(now)``; stop early once ``until()``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until is not None and until()):
        executor.spin_once(timeout_sec=0.005)
        if step is not None:
            step(time.monotonic())


def _play_and_listen(bag_path, topics, delay_s, subscribe):
    """Replay ``topics`` of a bag in a thread while a listener node spins; the play stats.

    ``subscribe(node)`` creates the listener's subscriptions. Player and listener have
    contexts of their own, as two processes would.
    """
    import threading
    from space_miner.bag.replay import play
    player_ctx, listen_ctx = rclpy.Context(), rclpy.Context()
    rclpy.init(context=player_ctx)
    rclpy.init(context=listen_ctx)
    executor = SingleThreadedExecutor(context=listen_ctx)
    node = rclpy.create_node('replay_listener', context=listen_ctx)
    executor.add_node(node)
    subscribe(node)
    result = {}
    thread = threading.Thread(target=lambda: result.update(stats=play(
        bag_path, topics=topics, context=player_ctx, delay_s=delay_s,
        log=lambda _t: None)))
    try:
        thread.start()
        while thread.is_alive():
            executor.spin_once(timeout_sec=0.005)
        _spin_for(executor, 0.3)
    finally:
        thread.join(timeout=30)
        node.destroy_node()
        rclpy.shutdown(context=listen_ctx)
        rclpy.shutdown(context=player_ctx)
    return result['stats']


@pytest.fixture(scope='module')
def live_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp('live') / 'run'
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    sim = SimNode(context=context, parameter_overrides=[
        Parameter('real_time_factor', value=0.0), Parameter('camera_width_px', value=160),
        Parameter('camera_height_px', value=120)])
    rec = BagRecorder(out, context=context,
                      run_info={'scenario': 'default', 'body': 'bennu'})
    stand_in = rclpy.create_node('stand_in_nodes', context=context)
    for node in (sim, rec, stand_in):
        executor.add_node(node)

    def pub(spec, msg_type):
        return stand_in.create_publisher(msg_type, spec.name, spec.pub_qos.to_rclpy())

    claws = pub(itf.CLAW_COMMANDS, Float64MultiArray)
    mode = pub(itf.GAIT_MODE, String)
    slips = pub(itf.CLAW_SLIPS, String)
    status = pub(itf.SAMPLING_STATUS, String)
    load = pub(itf.SAMPLING_LOAD, Float64)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and min(
            p.get_subscription_count() for p in (claws, mode, slips, status, load)) < 1:
        executor.spin_once(timeout_sec=0.02)
    phases = ['site_check', 'anchor', 'deploy', 'drill', 'close_lid', 'stow', 'verify', 'done']
    script = [(0.3, mode, 'anchor'), (1.5, mode, 'crawl'), (3.0, mode, 'anchor'),
              (2.0, slips, encode_slip_event(SlipEvent(2.0, 'c2', SlipCause.LOAD_DROP, 35.0)))]
    script += [(3.2 + 0.25 * k, status, json.dumps(
        {'phase': p, 'attempt': 1, 'mass_g': 12.5 if k >= 4 else 0.0, 'target_g': 10.0,
         'reason': '', 'site_xy_m': [0.5, 0.0]})) for k, p in enumerate(phases)]
    script.sort(key=lambda s: s[0])
    # The script runs on the simulator's clock, and the stand-ins command at 50 Hz (wall):
    # on a loaded machine the sim runs slower than real time, and an unthrottled publisher
    # loop would take the interpreter from the sim's thread.
    sim_now = [None]
    stand_in.create_subscription(Clock, itf.CLOCK.name, lambda m: sim_now.__setitem__(
        0, m.clock.sec + 1e-9 * m.clock.nanosec), itf.CLOCK.qos.to_rclpy())
    sent = []
    last = [-math.inf]

    def step(now):
        el = sim_now[0]
        if el is None or now - last[0] < 0.02:
            return
        last[0] = now
        while script and script[0][0] <= el:
            _t, publisher, text = script.pop(0)
            publisher.publish(String(data=text))
            sent.append(text)
        claws.publish(Float64MultiArray(data=[0.0 if el > 1.0 else 150.0, 150.0, 150.0]))
        load.publish(Float64(data=40.0 if 4.0 < el < 4.5 else 0.0))

    _spin_for(executor, 30.0 * RUN_S, step,
              until=lambda: sim_now[0] is not None and sim_now[0] >= RUN_S)
    assert sim_now[0] is not None and sim_now[0] >= RUN_S, f'sim time {sim_now[0]}'
    counts = dict(rec.counts)
    for node in (stand_in, rec, sim):
        executor.remove_node(node)
        node.destroy_node()
    rclpy.shutdown(context=context)
    return out, counts, len(sent)


def test_recorded_bag_has_the_contract_topics_tf_and_robot_description(live_bag):
    out, counts, _ = live_bag
    bag = open_bag(out)
    assert not bag.truncated and (out / 'metadata.yaml').exists()
    for spec in itf.TOPICS:  # every declared topic has its connection, with its type
        assert bag.topics[spec.name].msgtype == spec.msg_type
    served = [itf.JOINT_STATES, itf.IMU, itf.SAMPLER_MASS, itf.CLOCK, itf.GROUND_TRUTH_ODOM,
              itf.DEPTH_IMAGE, itf.DEPTH_INFO, itf.CLAW_COMMANDS, *itf.FT_WRENCHES]
    for spec in served:
        assert bag.topics[spec.name].count > 0, spec.name
    # Depth images decimated to at most 1 Hz of wall time: their recorded (wall) stamps are
    # a second apart or more, however long the run took on this machine.
    stamps_ns = [stamp for _t, stamp, _d in bag.messages([itf.DEPTH_IMAGE.name])]
    assert len(stamps_ns) >= 2
    assert min(np.diff(stamps_ns)) >= 1e9 - 1e6
    assert bag.topics['/tf'].count > 10 and bag.topics['/tf_static'].count == 1
    assert bag.topics['/tf'].msgtype == 'tf2_msgs/msg/TFMessage'
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    msgs = {t: d for t, _s, d in bag.messages(['/robot_description', '/tf_static'])}
    assert store.deserialize_cdr(msgs['/robot_description'],
                                 'std_msgs/msg/String').data == expand_urdf()
    static = store.deserialize_cdr(msgs['/tf_static'], 'tf2_msgs/msg/TFMessage')
    children = {t.child_frame_id for t in static.transforms}
    assert {'odom', 'imu_link', 'camera_link', 'camera_depth_optical_frame'} <= children
    frames = set()
    for _t, _s, data in bag.messages(['/tf']):
        frames |= {t.child_frame_id for t in
                   store.deserialize_cdr(data, 'tf2_msgs/msg/TFMessage').transforms}
    assert {'base_link', 'c1_coxa_link', 'w3_wheel_link', 'sampler_feed_link'} <= frames
    assert bag.run_info['body'] == 'bennu'


def test_report_on_the_live_bag_names_samples_gait_changes_and_slips(live_bag, tmp_path):
    out, _counts, sent = live_bag
    assert sent == 12
    assert report.main([str(out), '--out', str(tmp_path / 'r'), '--no-progress']) == 0
    summary = json.loads((tmp_path / 'r' / 'analysis.json').read_text())
    assert summary['gait_changes'] == 2
    assert summary['gait_modes'] == ['anchor', 'crawl', 'anchor']
    assert summary['slips'] == 1 and summary['slip_claws'] == ['c2']
    assert summary['samples'] == 1 and summary['samples_collected'] == 1
    assert summary['sample_runs'][0]['collected_g'] == pytest.approx(12.5)
    assert summary['min_margin'] is None  # no claw state: no verified holding to judge
    assert summary['time_base'].startswith('simulated time')
    assert summary['escape_velocity_m_s'] == pytest.approx(0.2)
    assert summary['max_speed_m_s'] < summary['escape_velocity_m_s']
    _b, a = report.analyze_bag(out)
    c1 = a.claws['c1']
    assert c1.grip_source == 'derived from squeeze'
    assert c1.grip_timeline[0].label.startswith('gripping')
    assert c1.grip_timeline[-1].label == 'open'  # the commanded release
    assert a.claws['c2'].grip_timeline[-1].label.startswith('gripping')
    assert np.nanmax(a.claws['c2'].measured_n) > 100.0
    rates = {r.topic: r for r in a.rates}
    assert rates[itf.JOINT_STATES.name].stamp_rate_hz == pytest.approx(250.0, rel=0.02)
    assert 'grip state and verified holding' in a.missing_sections
    for name in ('timeline', 'claws', 'margin', 'mass', 'speed', 'rates'):
        png = (tmp_path / 'r' / 'plots' / f'{name}.png').read_bytes()
        assert png.startswith(b'\x89PNG') and len(png) > 5000


def test_replay_delivers_in_order_with_the_recorded_spacing_and_clock(live_bag):
    out, _counts, _ = live_bag
    rate = 2.0
    bag = open_bag(out)
    recorded = [(s, d) for _t, s, d in bag.messages([itf.JOINT_STATES.name])]
    bag.close()
    rec_t = np.array([s for s, _d in recorded], dtype=float) * 1e-9
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    rec_stamps = [store.deserialize_cdr(d, 'sensor_msgs/msg/JointState').header.stamp
                  for _s, d in recorded]
    rec_stamps = np.array([s.sec + s.nanosec * 1e-9 for s in rec_stamps])
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    node = rclpy.create_node('replay_listener', context=context)
    executor.add_node(node)
    got, clocks = [], []
    node.create_subscription(
        JointState, itf.JOINT_STATES.name,
        lambda m: got.append((time.monotonic(),
                              m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)),
        itf.STATE_QOS.to_rclpy())
    # /clock's own profile keeps one message (a node wants the latest time only); to count
    # what was replayed, this listener keeps a second of them (compatible: depth is not
    # matched between writer and reader).
    clock_qos = dataclasses.replace(itf.CLOCK.qos, depth=500).to_rclpy()
    node.create_subscription(Clock, itf.CLOCK.name,
                             lambda m: clocks.append(m.clock.sec + m.clock.nanosec * 1e-9),
                             clock_qos)
    env = dict(os.environ)
    player = subprocess.Popen(
        [sys.executable, '-m', 'space_miner.bag.replay', str(out), '--rate', str(rate),
         '--topics', itf.JOINT_STATES.name, itf.CLOCK.name, '--delay', '5.0'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60.0
        while player.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.002)
        _spin_for(executor, 0.3)
        stdout, stderr = player.communicate(timeout=10)
    finally:
        if player.poll() is None:
            player.kill()
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert player.returncode == 0, stderr
    assert f'replayed {len(recorded) + len(clocks)}' in stdout or 'replayed' in stdout
    assert len(got) >= 0.97 * len(recorded)
    stamps = np.array([s for _a, s in got])
    assert np.all(np.diff(stamps) > 0)  # in order, no duplicates
    # match each received message to its recorded one by header stamp
    idx = np.searchsorted(rec_stamps, stamps)
    assert np.allclose(rec_stamps[idx], stamps)
    arrival = np.array([a for a, _s in got])
    expected = (rec_t[idx] - rec_t[idx[0]]) / rate
    lag = (arrival - arrival[0]) - expected
    error = np.abs(lag - np.median(lag))  # the first message's own delay is not the spacing
    print(f'replay x{rate}: {len(got)}/{len(recorded)} received, spacing error median '
          f'{np.median(error) * 1e3:.2f} ms, p95 {np.percentile(error, 95) * 1e3:.2f} ms, '
          f'max {np.max(error) * 1e3:.2f} ms')
    assert np.median(error) < SPACING_TOL_MEDIAN_S, np.median(error)
    assert np.percentile(error, 95) < SPACING_TOL_P95_S, np.percentile(error, 95)
    # /clock advances over the recorded simulated time
    recorded_clocks = _counts.get(itf.CLOCK.name, 0)
    assert recorded_clocks > 10
    assert len(clocks) >= 0.9 * recorded_clocks and np.all(np.diff(clocks) >= 0)
    assert clocks[-1] - clocks[0] > 0.8 * (rec_stamps[-1] - rec_stamps[0])


def test_sigkill_leaves_a_bag_readable_up_to_its_last_flushed_chunk(tmp_path):
    out = tmp_path / 'killed'
    recorder = subprocess.Popen(
        [sys.executable, '-m', 'space_miner.bag.recorder', str(out), '--topics',
         itf.JOINT_STATES.name, itf.CLOCK.name], cwd=ROOT, env=dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('killed_talker', context=context)
    pub = node.create_publisher(JointState, itf.JOINT_STATES.name,
                                itf.JOINT_STATES.pub_qos.to_rclpy())
    try:
        deadline = time.monotonic() + 60.0
        while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pub.get_subscription_count() >= 1, 'recorder did not subscribe'
        sent = 0
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            msg = JointState(name=['a'], position=[float(sent)])
            msg.header.stamp.sec = sent
            pub.publish(msg)
            sent += 1
            time.sleep(0.01)
        time.sleep(1.5)  # at least one flush period after the last message
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(timeout=10)
    finally:
        if recorder.poll() is None:
            recorder.kill()
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert not (out / 'metadata.yaml').exists()
    bag = open_bag(out)
    assert bag.truncated
    got = [d for _t, _s, d in bag.messages([itf.JOINT_STATES.name])]
    assert len(got) >= 0.9 * sent
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    secs = [store.deserialize_cdr(d, 'sensor_msgs/msg/JointState').header.stamp.sec
            for d in got]
    assert secs == sorted(secs)
    assert bag.topics['/robot_description'].count == 1


def test_through_terrain_on_the_live_bag_runs_the_core_and_says_the_output_is_absent(
        live_bag):
    from space_miner.bag.replay import through_terrain
    out, _counts, _ = live_bag
    with open_bag(out) as bag:
        rep = through_terrain(bag)
    assert rep.steps >= 3  # one per recorded depth frame
    assert rep.compared == 0
    assert any("/terrain/summary (terrain_perception's output) is not in the bag" in n
               for n in rep.notes)
    assert any('/ground_truth/odom' in n for n in rep.notes)
    assert rep.computed  # what the core computed is listed instead


def test_recorder_writes_sqlite3_too(tmp_path):
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    rec = BagRecorder(tmp_path / 'sq', [itf.SAMPLER_MASS.name], storage='sqlite3',
                      robot_description=False, context=context)
    node = rclpy.create_node('mass_talker', context=context)
    pub = node.create_publisher(Float64, itf.SAMPLER_MASS.name,
                                itf.SAMPLER_MASS.pub_qos.to_rclpy())
    executor.add_node(rec)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + 20.0
        while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
        for k in range(20):
            pub.publish(Float64(data=0.001 * k))
            _spin_for(executor, 0.01)
        _spin_for(executor, 0.3)
    finally:
        node.destroy_node()
        rec.destroy_node()
        rclpy.shutdown(context=context)
    bag = open_bag(tmp_path / 'sq')
    assert bag.storage == 'sqlite3'
    assert bag.topics[itf.SAMPLER_MASS.name].count == 20
    assert bag.topics['/tf_static'].count == 1


def test_replay_synthesises_clock_when_the_bag_has_none(tmp_path):
    from space_miner.bag.synth import MissionPlan, write_mission_bag
    plan = write_mission_bag(tmp_path / 'm', MissionPlan(duration_s=1.5, gait_modes=(),
                                                         slips=(), samples=()))
    masses, clocks = [], []

    def subscribe(node):
        node.create_subscription(Float64, itf.SAMPLER_MASS.name, masses.append,
                                 itf.SAMPLER_MASS.qos.to_rclpy())
        node.create_subscription(Clock, itf.CLOCK.name,
                                 lambda m: clocks.append(m.clock.sec + m.clock.nanosec * 1e-9),
                                 itf.CLOCK.qos.to_rclpy())

    stats = _play_and_listen(tmp_path / 'm', [itf.SAMPLER_MASS.name], 4.0, subscribe)
    assert stats.clock_source.startswith('synthesised')
    assert stats.published == {itf.SAMPLER_MASS.name: plan.counts[itf.SAMPLER_MASS.name]}
    assert len(masses) >= 0.9 * plan.counts[itf.SAMPLER_MASS.name]
    # /clock runs at 100 Hz on the bag's receive time
    assert len(clocks) > 100 and np.all(np.diff(clocks) > 0)
    assert clocks[0] == pytest.approx(plan.start_ns * 1e-9, abs=0.05)
    assert np.median(np.diff(clocks)) == pytest.approx(0.01)


def test_a_recorder_in_a_namespace_records_that_robot_only_under_its_names(tmp_path):
    """Two robots on the graph, /r1 and the root one: recording r1 takes r1's topics only."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    rec = BagRecorder(tmp_path / 'r1', [itf.SAMPLER_MASS.name, itf.GAIT_MODE.name,
                                        itf.CLOCK.name], robot_description=False,
                      namespace='r1', context=context)
    r1 = rclpy.create_node('sampler_r1', namespace='/r1', context=context)
    other = rclpy.create_node('sampler_root', context=context)   # another robot's topics
    pubs = [(n.create_publisher(Float64, itf.SAMPLER_MASS.ros_name,
                                itf.SAMPLER_MASS.pub_qos.to_rclpy()), mass)
            for n, mass in ((r1, 0.5), (other, 9.0))]
    mode = r1.create_publisher(String, itf.GAIT_MODE.ros_name, itf.GAIT_MODE.pub_qos.to_rclpy())
    clock = other.create_publisher(Clock, itf.CLOCK.ros_name, itf.CLOCK.pub_qos.to_rclpy())
    for node in (rec, r1, other):
        executor.add_node(node)
    try:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and (pubs[0][0].get_subscription_count() < 1 or
                                               clock.get_subscription_count() < 1):
            executor.spin_once(timeout_sec=0.02)
        assert pubs[1][0].get_subscription_count() == 0   # the root robot is not recorded
        mode.publish(String(data='anchor'))
        for k in range(20):
            for pub, mass in pubs:
                pub.publish(Float64(data=mass))
            clock.publish(Clock())
            _spin_for(executor, 0.01)
        _spin_for(executor, 0.3)
    finally:
        for node in (r1, other, rec):
            node.destroy_node()
        rclpy.shutdown(context=context)
    bag = open_bag(tmp_path / 'r1')
    recorded = {bag.recorded_name(t): info.count for t, info in bag.topics.items()}
    assert recorded == {'/r1/sampler/mass': 20, '/r1/gait/mode': 1, '/clock': 20,
                        '/r1/tf_static': 1, '/r1/tf': 0}, recorded  # /tf: no odometry here
    assert bag.namespace == '/r1' and bag.run_info['namespace'] == '/r1'
    masses = [np.frombuffer(d, '<f8', 1, 4)[0] for _t, _s, d in
              bag.messages([itf.SAMPLER_MASS.name])]
    bag.close()
    assert masses == [0.5] * 20                               # r1's, never the other's


def test_replay_of_a_namespaced_bag_publishes_on_the_recorded_names(tmp_path):
    from space_miner.bag.synth import MissionPlan, write_mission_bag
    plan = write_mission_bag(tmp_path / 'm', MissionPlan(
        duration_s=1.0, gait_modes=(), slips=(), samples=(), namespace='/r1'))
    got = {name: [] for name in (itf.SAMPLER_MASS.resolved('/r1'), itf.SAMPLER_MASS.name)}

    def subscribe(node):
        for name, seen in got.items():
            node.create_subscription(Float64, name, seen.append,
                                     itf.SAMPLER_MASS.qos.to_rclpy())

    stats = _play_and_listen(tmp_path / 'm', [itf.SAMPLER_MASS.name], 3.0, subscribe)
    count = plan.counts[itf.SAMPLER_MASS.name]
    assert stats.published == {'/r1/sampler/mass': count}
    assert len(got['/r1/sampler/mass']) >= 0.9 * count
    assert got[itf.SAMPLER_MASS.name] == []                  # nothing in the root namespace
