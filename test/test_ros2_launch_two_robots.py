# SPDX-License-Identifier: Apache-2.0
"""Two robots on one graph: ``ros2 launch space_miner stack.launch.py namespace:=r1`` and
``namespace:=r2``, with one clock (issue 29).

Jazzy's ``ros2 launch`` (see ``test/launch_run.py``) starts the two stacks on the Moon's
scenario, on sim time, on a DDS domain of this module's own. A test node plays the hardware
side of each robot — a perfect position servo echoing its leg commands as
``/rX/joint_states`` (and the 50 Hz copy), its IMU and wrist wrenches — and publishes the
one ``/clock`` both follow; it records robot r1 with the bag recorder in r1's namespace. It shows:

- every topic and service each stack node publishes, subscribes, serves or calls is under
  its robot's namespace (``/clock`` and rclpy's ``/rosout`` and ``/parameter_events``
  aside), every stack topic is there for both robots, and no robot topic is left in the
  root namespace;
- a teleop command to r2 drives r2 and never reaches r1; an e-stop to r1 holds r1 and
  never reaches r2 (each gait controller's ``gait/status`` says what commands it: its
  mode alone would not tell, as these stand-in robots go in and out of hold by themselves);
- the bag recorded under ``/r1`` is analysed like any other: r1's e-stop hold and nothing of
  r2's teleop.

Twelve stack processes share two cores with the test: about a minute.
"""

import json
import math
from pathlib import Path
import random
import time

import pytest

from launch_run import Launch, launch_env, Probe
from space_miner import interfaces as itf

ROOT = Path(__file__).resolve().parent.parent
#: This module's DDS domain, away from conftest.py's 1-100 (see test_ros2_launch.py).
DOMAIN_ID = random.SystemRandom().randint(101, 231)
ROBOTS = ('/r1', '/r2')
STACK_NODES = ('state_estimator', 'terrain_perception', 'claw_controller', 'gait_controller',
               'sampler', 'mission')
LIFECYCLE_NODES = ('claw_controller', 'sampler')
SCENARIO = ROOT / 'config' / 'scenarios' / 'body_moon.yaml'
#: rclpy's own endpoints, global in every node.
RCLPY_GLOBAL = {'/rosout', '/parameter_events'}
#: Bounds on waits [s, wall], for two loaded cores.
UP_S, REACT_S, WATCH_S = 150.0, 30.0, 4.0
#: The hardware side's rate [Hz, wall]: the gait's control rate, so each robot steps.
HARDWARE_HZ = 50.0
#: What the recording of r1 holds (enough to analyse its gait, light on the graph).
RECORDED = (itf.GAIT_MODE, itf.GAIT_STATUS, itf.ESTOP, itf.CMD_VEL, itf.CLOCK)


class Hardware:
    """The hardware side of every robot and the graph's one clock, on the probe's node."""

    def __init__(self, node) -> None:
        from geometry_msgs.msg import Twist, WrenchStamped
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Imu, JointState
        from std_msgs.msg import Bool, Float64MultiArray, String

        from space_miner.core.kinematics import RobotKinematics
        from space_miner.core.robot import load_robot_config

        self.node = node
        stance = list(RobotKinematics(load_robot_config()).stance_q())
        self.q = {ns: list(stance) for ns in ROBOTS}
        self.status = {ns: [] for ns in ROBOTS}       # decoded gait/status, in order
        self.modes = {ns: [] for ns in ROBOTS}
        self.twist_to = None                           # the robot teleoperated at 20 Hz
        self.clock = node.create_publisher(Clock, itf.CLOCK.name, itf.CLOCK.pub_qos.to_rclpy())
        self.pubs = {}
        for ns in ROBOTS:
            def pub(spec, msg_type, ns=ns):
                return node.create_publisher(msg_type, spec.resolved(ns),
                                             spec.pub_qos.to_rclpy())
            # Both rates of the hardware state (the 50 Hz nodes read the low-rate copies).
            self.pubs[ns] = {'joints': [pub(itf.JOINT_STATES, JointState),
                                        pub(itf.JOINT_STATES_LOW_RATE, JointState)],
                             'imu': pub(itf.IMU, Imu), 'estop': pub(itf.ESTOP, Bool),
                             'cmd_vel': pub(itf.CMD_VEL, Twist),
                             'wrenches': [[pub(s, WrenchStamped), pub(low, WrenchStamped)]
                                          for s, low in zip(itf.FT_WRENCHES,
                                                            itf.FT_WRENCHES_LOW_RATE)]}
            node.create_subscription(
                Float64MultiArray, itf.LEG_COMMANDS.resolved(ns),
                lambda m, ns=ns: self.q.__setitem__(ns, list(m.data)),
                itf.LEG_COMMANDS.qos.to_rclpy())
            node.create_subscription(
                String, itf.GAIT_STATUS.resolved(ns),
                lambda m, ns=ns: self.status[ns].append(json.loads(m.data)),
                itf.GAIT_STATUS.qos.to_rclpy())
            node.create_subscription(String, itf.GAIT_MODE.resolved(ns),
                                     lambda m, ns=ns: self.modes[ns].append(m.data),
                                     itf.GAIT_MODE.qos.to_rclpy())
        node.create_timer(1.0 / HARDWARE_HZ, self._tick)
        node.create_timer(0.05, self._teleop)

    def _tick(self) -> None:
        from geometry_msgs.msg import WrenchStamped
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Imu

        from space_miner.nodes import conversions as cv

        now = time.time()
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = int(now), int(now % 1.0 * 1e9)
        self.clock.publish(clock)
        zeros = [0.0] * len(itf.ALL_JOINTS)
        for ns in ROBOTS:
            position = self.q[ns] + [0.0] * (len(itf.ALL_JOINTS) - len(itf.LEG_JOINTS))
            joints = cv.joint_state_msg(now, itf.ALL_JOINTS, position, zeros, zeros)
            for pub in self.pubs[ns]['joints']:
                pub.publish(joints)
            imu = Imu()
            imu.header.stamp = clock.clock
            imu.header.frame_id = 'imu_link'
            imu.orientation.w = 1.0
            imu.linear_acceleration.z = 1.62             # standing still on the Moon
            self.pubs[ns]['imu'].publish(imu)
            for claw, pubs in zip(itf.CLAW_LEGS, self.pubs[ns]['wrenches']):
                wrench = WrenchStamped()
                wrench.header.stamp = clock.clock
                wrench.header.frame_id = f'{claw}_ft_link'
                for pub in pubs:
                    pub.publish(wrench)

    def _teleop(self) -> None:
        from geometry_msgs.msg import Twist

        if self.twist_to is not None:
            msg = Twist()
            msg.linear.x = 0.05
            self.pubs[self.twist_to]['cmd_vel'].publish(msg)

    def sources(self, ns: str) -> list:
        """Every command source robot ``ns``'s gait controller has reported, in order."""
        return [s.get('command_source') for s in self.status[ns]]


def _endpoints(probe: Probe, name: str, ns: str) -> dict:
    """What node ``ns/name`` publishes, subscribes, serves and calls, from the graph."""
    node = probe.node
    return {
        'pub': {t for t, _ in node.get_publisher_names_and_types_by_node(name, ns)},
        'sub': {t for t, _ in node.get_subscriber_names_and_types_by_node(name, ns)},
        'srv': {t for t, _ in node.get_service_names_and_types_by_node(name, ns)},
        'cli': {t for t, _ in node.get_client_names_and_types_by_node(name, ns)},
    }


@pytest.fixture(scope='module')
def robots(tmp_path_factory):
    """Both stacks up, the hardware side running, r1 recorded; yields what was seen."""
    from space_miner.bag.recorder import BagRecorder

    out = tmp_path_factory.mktemp('two_robots')
    env = launch_env(DOMAIN_ID, out / 'ros_log')
    probe = Probe(DOMAIN_ID)
    launches, recorder = [], None
    try:
        hardware = Hardware(probe.node)
        recorder = BagRecorder(out / 'r1_bag', [s.name for s in RECORDED], namespace='r1',
                               robot_description=False, context=probe.context)
        probe.executor.add_node(recorder)
        started = time.monotonic()
        for ns in ROBOTS:
            (out / ns.strip('/')).mkdir()
            launches.append(Launch(env, 'stack.launch.py', [
                f'namespace:={ns.strip("/")}', f'scenario:={SCENARIO}',
                'use_sim_time:=true'], out / ns.strip('/')))
        expected = {f'{ns}/{n}' for ns in ROBOTS for n in STACK_NODES}
        up = probe.spin_until(lambda: expected <= probe.node_names(), UP_S)
        assert up, (f'not up after {UP_S:g} s: {sorted(expected - probe.node_names())}\n'
                    + '\n'.join(launch.output()[-2000:] for launch in launches))
        for ns in ROBOTS:
            for name in LIFECYCLE_NODES:
                assert probe.spin_until(
                    lambda n=f'{ns}/{name}': probe.lifecycle_state(n) == 'active', UP_S), \
                    f'{ns}/{name} never active'
        # Both robots step: each gait controller, fed by its own robot's topics, leaves the
        # hold it starts in (every input fresh).
        assert probe.spin_until(lambda: all(set(hardware.modes[ns]) - {'hold'}
                                            for ns in ROBOTS), UP_S), \
            {ns: (hardware.modes[ns], hardware.status[ns][-1:]) for ns in ROBOTS}
        seen = {'hardware': hardware, 'probe': probe, 'out': out,
                'up_s': time.monotonic() - started}
        yield seen
    finally:
        if recorder is not None:
            probe.executor.remove_node(recorder)
            recorder.destroy_node()
        for launch in launches:
            launch.interrupt(30.0)
            launch.kill()
        probe.close()


def test_every_topic_and_service_of_each_robot_is_under_its_namespace(robots):
    probe = robots['probe']
    names = probe.node_names()
    ours = {n for n in names if not n.startswith('/launch_ros_') and 'bag_recorder' not in n}
    assert ours == {f'{ns}/{n}' for ns in ROBOTS for n in STACK_NODES}, sorted(names)
    for ns in ROBOTS:
        for name in STACK_NODES:
            got = _endpoints(probe, name, ns)
            assert got['pub'] and got['sub'], (ns, name)
            for kind, found in got.items():
                outside = {t for t in found - RCLPY_GLOBAL
                           if not t.startswith(ns + '/') and t not in itf.global_topic_names()}
                assert not outside, (ns, name, kind, sorted(outside))
        # Every topic a stack node publishes is there, by that node, in this namespace.
        for spec in itf.TOPICS:
            if spec.publisher not in STACK_NODES:
                continue
            infos = probe.node.get_publishers_info_by_topic(spec.resolved(ns))
            assert any(i.node_name == spec.publisher and i.node_namespace == ns
                       for i in infos), (ns, spec.name)
        for srv in itf.SERVICES:
            assert srv.resolved(ns) in _endpoints(probe, srv.server, ns)['srv'], srv.name
    # Nothing of a robot is left in the root namespace: no node there publishes or takes it.
    graph = dict(probe.node.get_topic_names_and_types())
    left = {s.name for s in itf.TOPICS if s.scope == 'robot'} & set(graph)
    assert not left, sorted(left)
    clock_readers = {(i.node_namespace, i.node_name)
                     for i in probe.node.get_subscriptions_info_by_topic(itf.CLOCK.name)}
    assert {(ns, 'gait_controller') for ns in ROBOTS} <= clock_readers  # one clock for both


def test_a_teleop_command_to_r2_drives_r2_and_never_reaches_r1(robots):
    hardware, probe = robots['hardware'], robots['probe']
    hardware.twist_to = '/r2'
    try:
        assert probe.spin_until(
            lambda: 'operator_twist' in hardware.sources('/r2'), REACT_S), \
            hardware.sources('/r2')
        probe.spin_until(lambda: False, WATCH_S)
    finally:
        hardware.twist_to = None
    assert 'operator_twist' not in hardware.sources('/r1'), hardware.sources('/r1')


def test_an_estop_to_r1_holds_r1_and_never_reaches_r2(robots):
    hardware, probe = robots['hardware'], robots['probe']
    from std_msgs.msg import Bool

    assert 'estop' not in hardware.sources('/r1') + hardware.sources('/r2')
    r2_before = len(hardware.status['/r2'])
    hardware.pubs['/r1']['estop'].publish(Bool(data=True))
    assert probe.spin_until(lambda: hardware.sources('/r1')[-1:] == ['estop'], REACT_S), \
        hardware.sources('/r1')
    assert probe.spin_until(lambda: hardware.modes['/r1'][-1:] == ['hold'], REACT_S)
    probe.spin_until(lambda: False, WATCH_S)
    assert 'estop' not in hardware.sources('/r2'), hardware.sources('/r2')[r2_before:]
    assert hardware.sources('/r1')[-1] == 'estop'                     # and r1 stays held


def test_the_bag_recorded_under_r1_is_analysed_like_any_other(robots):
    from space_miner.bag.reader import open_bag
    from space_miner.bag.report import write_report

    probe = robots['probe']
    (recorder,) = [n for n in probe.executor.get_nodes() if n.get_name() == 'bag_recorder']
    recorder.close()                                   # the bag is whole from here on
    with open_bag(robots['out'] / 'r1_bag') as bag:
        assert bag.namespace == '/r1'
        recorded = {bag.recorded_name(t) for t in bag.topics}
        assert {s.resolved('/r1') for s in RECORDED} <= recorded
        assert not any(t.startswith('/r2/') for t in recorded)
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    with open_bag(robots['out'] / 'r1_bag') as bag:
        sources = [json.loads(store.deserialize_cdr(d, 'std_msgs/msg/String').data).get(
            'command_source') for _t, _s, d in bag.messages([itf.GAIT_STATUS.name])]
        counts = {t: info.count for t, info in bag.topics.items()}
    assert sources[-1] == 'estop' and 'operator_twist' not in sources, sources
    assert counts[itf.ESTOP.name] == 1 and counts[itf.CMD_VEL.name] == 0  # r2's not here
    a, out = write_report(robots['out'] / 'r1_bag', body='moon')
    summary = json.loads((out / 'analysis.json').read_text())
    assert summary['namespace'] == '/r1'
    assert summary['gait_modes'] and summary['gait_modes'][-1] == 'hold'  # r1's, held
    assert math.isfinite(a.duration_s) and a.duration_s > 0.0
    hardware = robots['hardware']
    print(f"\ntwo robots: both stacks up and stepping in {robots['up_s']:.0f} s; r1's bag: "
          f"{summary['messages']} messages, gait {' -> '.join(summary['gait_modes'])}, "
          f"command sources {sources}; r2's modes {hardware.modes['/r2']}, sources "
          f"{hardware.sources('/r2')}, last status {hardware.status['/r2'][-1]}")
