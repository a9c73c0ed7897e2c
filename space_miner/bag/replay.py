# SPDX-License-Identifier: Apache-2.0
"""``space-miner replay BAG``: play a bag on its topics, or through the cores offline.

Live (like ``ros2 bag play``): every selected topic is published (as the recorded CDR
bytes) at its recorded time, scaled by ``--rate``, with ``/clock``: the bag's own
``/clock`` messages when it recorded them (a simulated run), otherwise a ``/clock`` at
100 Hz from the bag's receive time. ``--topics`` selects topics, ``--loop`` repeats. The
spacing between messages is kept within the timer resolution of the machine (about a
millisecond on an idle one); the test of this module states its tolerance. Topics whose
message package rclpy cannot import here (``/tf``, ``/tf_static``: ``tf2_msgs``) are
skipped with one note; on a ROS 2 install they play.

Offline (``--through terrain`` or ``--through gait``): the recorded sensor topics are fed
through the core components (no DDS) and their outputs are compared with what the bag
recorded from the live nodes, listing the differences: the tool to check a change against
yesterday's runs. When the bag lacks the node's output topics, it says so and prints what
the core computed.

A bag of a robot in a namespace (``/r1/...``) plays on its recorded names, as ``ros2 bag
play`` does, and goes through the cores like any other; ``--namespace`` names the robot in
a bag that holds several (see :func:`space_miner.bag.reader.open_bag`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import math
from pathlib import Path
import struct
import sys
import threading
import time

import numpy as np

from space_miner import interfaces as itf
from space_miner.bag.reader import Bag, BagError, open_bag

CLOCK_PERIOD_NS = 10_000_000  # a synthesised /clock at 100 Hz
#: --through gait: leg commands that differ by more than this [rad] are listed.
LEG_TOLERANCE_RAD = 0.02


@dataclass
class PlayStats:
    """What a replay published: counts per topic, skipped topics, loops, wall time [s]."""

    published: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    loops: int = 0
    clock_source: str = ''
    max_lateness_s: float = 0.0
    wall_time_s: float = 0.0


def _qos_for(name: str, bag: Bag):
    """Return the publisher QoS: interfaces.py's where declared, the recorded profile otherwise."""
    from space_miner.interfaces import QosSpec
    try:
        return itf.topic(name).pub_qos.to_rclpy()
    except KeyError:
        pass
    qos_text = bag.topics[name].qos if name in bag.topics else ''
    durability = 'transient_local' if 'transient_local' in qos_text else 'volatile'
    reliability = 'best_effort' if 'best_effort' in qos_text else 'reliable'
    return QosSpec('replay', reliability, durability, 10).to_rclpy()


def _clock_cdr(t_ns: int) -> bytes:
    sec, nsec = divmod(int(t_ns), 1_000_000_000)
    return b'\x00\x01\x00\x00' + struct.pack('<iI', sec, nsec)


def play(bag_path: str | Path, rate: float = 1.0, topics: list | tuple | None = None,
         loop: bool = False, context=None, stop: threading.Event | None = None,
         log=print, max_loops: int | None = None, delay_s: float = 0.0,
         namespace: str | None = None) -> PlayStats:
    """Publish the bag's messages with their recorded timing (see the module docstring).

    ``context`` is the rclpy Context to use (rclpy must be initialised on it; None: the
    default context, initialised here if needed). ``stop`` ends the replay when set.
    ``delay_s`` [s] waits after creating the publishers, so subscribers can discover them
    (as ``ros2 bag play --delay``). ``namespace``: the robot to play from a bag of several.
    Messages go out on their recorded names; ``topics`` may name them so or by their
    root-namespace names; :attr:`PlayStats.published` counts by recorded name.
    """
    import rclpy
    from rclpy.node import Node
    if not (rate > 0.0 and math.isfinite(rate)):
        raise ValueError(f'rate must be a positive number, not {rate!r}')
    own_init = False
    if context is None and not rclpy.ok():
        rclpy.init()
        own_init = True
    stop = stop or threading.Event()
    stats = PlayStats()
    bag = open_bag(bag_path, namespace)
    try:
        if topics is not None:
            by_recorded = {bag.recorded_name(t): t for t in bag.topics}
            topics = [by_recorded.get(t, t) for t in topics]
        selected = [t for t in bag.topics if (topics is None or t in topics)
                    and bag.topics[t].count > 0]
        if topics is not None:
            for name in topics:
                if name not in bag.topics:
                    stats.skipped[name] = 'not in the bag'
        node = Node('bag_player', context=context) if context is not None \
            else Node('bag_player')
        pubs = {}
        for name in selected:
            info = bag.topics[name]
            try:
                msg_type = itf.msg_class(info.msgtype)
            except (ImportError, AttributeError, ValueError) as err:
                stats.skipped[name] = f'{info.msgtype} not importable here ({err})'
                continue
            pubs[name] = node.create_publisher(msg_type, bag.recorded_name(name),
                                               _qos_for(name, bag))
        for name, why in stats.skipped.items():
            log(f'replay: skipping {name}: {why}')
        recorded_clock = itf.CLOCK.name in pubs
        clock_pub = None
        if not recorded_clock:
            from rosgraph_msgs.msg import Clock
            clock_pub = node.create_publisher(Clock, itf.CLOCK.name,
                                              itf.CLOCK.pub_qos.to_rclpy())
            stats.clock_source = 'synthesised from bag time (100 Hz)'
        else:
            stats.clock_source = "the bag's recorded /clock"
        if delay_s > 0.0:
            stop.wait(delay_s)
        started = time.monotonic()
        while not stop.is_set():
            _play_once(bag, pubs, clock_pub, rate, stop, stats)
            stats.loops += 1
            if not loop or (max_loops is not None and stats.loops >= max_loops):
                break
        stats.wall_time_s = time.monotonic() - started
        node.destroy_node()
    finally:
        bag.close()
        if own_init:
            rclpy.try_shutdown()
    return stats


def _play_once(bag: Bag, pubs: dict, clock_pub, rate: float, stop: threading.Event,
               stats: PlayStats) -> None:
    first_ns = None
    wall0 = 0.0
    next_clock_ns = None
    for topic, stamp, data in bag.messages(list(pubs)):
        if stop.is_set():
            return
        if first_ns is None:
            first_ns, wall0 = stamp, time.monotonic()
            next_clock_ns = stamp
        if clock_pub is not None:
            while next_clock_ns <= stamp:
                _wait(wall0 + (next_clock_ns - first_ns) * 1e-9 / rate, stop)
                clock_pub.publish(_clock_cdr(next_clock_ns))
                next_clock_ns += CLOCK_PERIOD_NS
        due = wall0 + (stamp - first_ns) * 1e-9 / rate
        _wait(due, stop)
        stats.max_lateness_s = max(stats.max_lateness_s, time.monotonic() - due)
        pubs[topic].publish(bytes(data))
        recorded = bag.recorded_name(topic)
        stats.published[recorded] = stats.published.get(recorded, 0) + 1


def _wait(due: float, stop: threading.Event) -> None:
    while True:
        left = due - time.monotonic()
        if left <= 0.0 or stop.is_set():
            return
        if left > 0.002:
            time.sleep(left - 0.001)
        # the last millisecond: yield, keep checking


# --- offline regression through the cores ----------------------------------------------------

@dataclass
class ThroughReport:
    """What a run through a core found: steps, comparisons, differences, notes."""

    component: str
    steps: int = 0
    compared: int = 0
    differences: list = field(default_factory=list)   # (t_s, what, recorded, computed, seq)
    notes: list = field(default_factory=list)
    computed: list = field(default_factory=list)      # (t_s, summary text)
    seq: dict = field(default_factory=dict)           # comparisons made, per kind

    def compare(self, t_s: float, what: str, recorded: object, computed: object,
                differs: bool) -> None:
        """Count one comparison of kind ``what``; keep it when it ``differs``."""
        self.compared += 1
        n = self.seq[what] = self.seq.get(what, 0) + 1
        if differs:
            self.differences.append((t_s, what, recorded, computed, n))

    def spans(self) -> list:
        """Merge runs of the same difference: ``(t_start_s, t_end_s, what, rec, comp, n)``."""
        out: list = []
        last: dict = {}   # what -> (index of its latest span, its last comparison number)
        for t, what, rec, comp, seq in self.differences:
            k, prev_seq = last.get(what, (None, -1))
            if k is not None and seq == prev_seq + 1 and out[k][3] == rec and (
                    out[k][4] == comp or what.startswith('leg command')):
                start, _end, _w, _r, prev, n = out[k]
                if what.startswith('leg command'):
                    comp = max(prev, comp)
                out[k] = (start, t, what, rec, comp, n + 1)
                last[what] = (k, seq)
            else:
                last[what] = (len(out), seq)
                out.append((t, t, what, rec, comp, 1))
        return sorted(out, key=lambda s: s[0])

    def text(self, limit: int = 50) -> str:
        """Render as text for the terminal."""
        spans = self.spans()
        lines = [f'--through {self.component}: {self.steps} steps, {self.compared} compared '
                 f'with the bag, {len(self.differences)} differences in {len(spans)} spans']
        lines += [f'  note: {n}' for n in self.notes]
        for start, end, what, rec, comp, n in spans[:limit]:
            told = f'recorded {rec!s}, computed {comp!s}' if rec != '' else f'up to {comp!s}'
            lines.append(f'  t={start:9.3f} .. {end:9.3f} s  {what}: {told} ({n} steps)')
        if len(spans) > limit:
            lines.append(f'  ... {len(spans) - limit} more spans')
        if not self.compared and self.computed:
            lines.append('  computed (nothing recorded to compare with):')
            for t, text in self.computed[:limit]:
                lines.append(f'  t={t:9.3f} s  {text}')
        return '\n'.join(lines)


def _has(bag: Bag, name: str) -> bool:
    """Whether the bag holds messages on ``name`` (a connection alone does not count)."""
    info = bag.topics.get(name)
    return info is not None and info.count > 0


def _deserialize(store, raw: bytes, msgtype: str):
    return store.deserialize_cdr(raw, msgtype)


def _stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def _timeline_labels(rows: list) -> list:
    out = []
    for t, label in rows:
        if not out or out[-1][1] != label:
            out.append((t, label))
    return out


def through_terrain(bag: Bag, log=print) -> ThroughReport:
    """Feed recorded depth images and poses through TerrainPerception; compare summaries."""
    from rosbags.typesys import get_typestore, Stores
    from space_miner.core.analysis import parse_json, summary_class_under
    from space_miner.core.kinematics import pose_matrix
    from space_miner.core.robot import load_robot_config
    from space_miner.core.terrain import TerrainPerception
    from space_miner.core.terrain_grid import decode_depth  # noqa: F401  (accepts both)
    from space_miner.core.terrain_params import load_terrain_params
    from space_miner.core.terrain_types import CameraIntrinsics
    rep = ThroughReport('terrain')
    store = get_typestore(Stores.ROS2_JAZZY)
    needed = (itf.DEPTH_IMAGE.name, itf.DEPTH_INFO.name)
    for name in needed:
        if not _has(bag, name):
            rep.notes.append(f'{name} is not in the bag: nothing to feed terrain perception')
            return rep
    pose_topic = itf.ODOM.name if _has(bag, itf.ODOM.name) else itf.GROUND_TRUTH_ODOM.name
    if not _has(bag, pose_topic):
        rep.notes.append('neither /odom nor /ground_truth/odom is in the bag: no pose for '
                         'the camera')
        return rep
    if pose_topic != itf.ODOM.name:
        rep.notes.append('no /odom in the bag: using /ground_truth/odom for the pose '
                         '(the live node uses the estimate)')
    out_topic = itf.TERRAIN_SUMMARY.name
    if not _has(bag, out_topic):
        rep.notes.append(f'{out_topic} (terrain_perception\'s output) is not in the bag: '
                         'nothing to compare; listing what the core computed')
    images = bag.topics[itf.DEPTH_IMAGE.name].count
    if bag.duration_s > 0 and images / bag.duration_s < 0.5 * itf.DEPTH_IMAGE.rate_hz:
        rep.notes.append('depth images are recorded decimated (1 Hz by default): the '
                         'replayed map fuses fewer frames than the live node did')
    perception = TerrainPerception(load_terrain_params(), load_robot_config())
    pose = None
    info = None
    recorded = []
    positions = {}
    feed = list(needed) + [pose_topic, out_topic, itf.JOINT_STATES.name]
    for topic, _stamp_ns, raw in bag.messages(feed):
        if topic == pose_topic:
            msg = _deserialize(store, raw, 'nav_msgs/msg/Odometry')
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            pose = pose_matrix((p.x, p.y, p.z), (q.w, q.x, q.y, q.z))
        elif topic == itf.DEPTH_INFO.name:
            msg = _deserialize(store, raw, 'sensor_msgs/msg/CameraInfo')
            info = CameraIntrinsics(int(msg.width), int(msg.height),
                                    tuple(float(v) for v in msg.k))
        elif topic == itf.JOINT_STATES.name:
            msg = _deserialize(store, raw, 'sensor_msgs/msg/JointState')
            named = dict(zip(msg.name, msg.position))
            positions = {leg: tuple(named.get(f'{leg}_{seg}_joint', 0.0)
                                    for seg in itf.SEGMENTS) for leg in itf.LEG_ORDER}
        elif topic == out_topic:
            payload = parse_json(_deserialize(store, raw, 'std_msgs/msg/String').data)
            label = summary_class_under(payload)
            if label is not None:
                recorded.append((_stamp_ns * 1e-9, payload.get('stamp_s'), label))
        elif topic == itf.DEPTH_IMAGE.name:
            msg = _deserialize(store, raw, 'sensor_msgs/msg/Image')
            if info is None:
                continue
            dtype = '<f4' if msg.encoding == '32FC1' else '<u2'
            width = msg.step // np.dtype(dtype).itemsize
            depth = np.frombuffer(bytes(msg.data), dtype=dtype).reshape(
                msg.height, width)[:, :msg.width]
            t = _stamp(msg)
            perception.process_frame(depth, msg.encoding, info, t, pose,
                                     joint_positions=positions or None)
            summary = perception.summary(pose, None, t)
            rep.steps += 1
            rep.computed.append((t, summary.class_under.name.lower()))
    # compare: each recorded summary against the computed class in force at its time
    if recorded and rep.computed:
        comp_t = np.array([c[0] for c in rep.computed])
        bag_t0 = bag.start_ns * 1e-9
        for recv_s, stamp_s, label in recorded:
            t = float(stamp_s) if isinstance(stamp_s, (int, float)) else recv_s - bag_t0
            k = int(np.searchsorted(comp_t, t, side='right')) - 1
            if k < 0:
                continue
            rep.compare(t, 'class_under', label, rep.computed[k][1], rep.computed[k][1] != label)
    rep.computed = _timeline_labels(rep.computed)
    return rep


def through_gait(bag: Bag, log=print) -> ThroughReport:
    """Feed recorded sensor and claw topics through GaitController; compare mode and commands."""
    from rosbags.typesys import get_typestore, Stores
    from space_miner.core import adapters
    from space_miner.core.analysis import parse_json
    from space_miner.core.claw_codec import decode_claw_state
    from space_miner.core.gait import GaitController
    from space_miner.core.gait_params import load_gait_params
    from space_miner.core.gait_types import (BodyInfo, GaitInputs, OdomState, OperatorInput,
                                             TerrainSummary)
    from space_miner.core.robot import load_robot_config
    from space_miner.core.scenario import load_scenario
    rep = ThroughReport('gait')
    store = get_typestore(Stores.ROS2_JAZZY)
    if not _has(bag, itf.JOINT_STATES.name):
        rep.notes.append('/joint_states is not in the bag: nothing to feed the gait core')
        return rep
    outputs = (itf.GAIT_MODE.name, itf.LEG_COMMANDS.name)
    absent = [t for t in outputs if not _has(bag, t)]
    if absent:
        rep.notes.append(f'{", ".join(absent)} (gait_controller\'s output) not in the bag: '
                         'compared only what is there')
    for name in (itf.CLAW_STATE.name, itf.ODOM.name):
        if not _has(bag, name):
            rep.notes.append(f'{name} is not in the bag: the core runs without it (claws '
                             'unknown / pose at the origin), so its choices may differ')
    scenario_path = bag.run_info.get('scenario_file') or None
    try:
        scenario = load_scenario(scenario_path)
    except Exception as err:  # a bag from elsewhere: the default scenario's body
        rep.notes.append(f'scenario {scenario_path!r} not loadable ({err}); using the default')
        scenario = load_scenario(None)
    robot = load_robot_config()
    accel = scenario.effective_acceleration_m_s2
    accel = accel() if callable(accel) else accel
    body = BodyInfo.from_body_config(scenario.body_config, tuple(float(v) for v in accel))
    gait = GaitController(load_gait_params(), robot, body)
    claws = {}
    wrist = {c: (0.0, 0.0, 0.0) for c in itf.CLAW_LEGS}
    wrench_t = {c: -math.inf for c in itf.CLAW_LEGS}
    raw_wrench = {}
    odom = OdomState()
    terrain = None
    operator = OperatorInput()
    load = 0.0
    q18 = None
    joint_t = 0.0
    recorded_mode = None
    computed_mode = None
    wanted = [itf.JOINT_STATES.name, itf.CLAW_STATE.name, itf.ODOM.name,
              itf.TERRAIN_SUMMARY.name, itf.SAMPLING_LOAD.name, itf.GAIT_MODE.name,
              itf.LEG_COMMANDS.name, itf.GAIT_REQUEST.name, itf.ESTOP.name] + \
        [s.name for s in itf.FT_WRENCHES]
    step_period = 1.0 / itf.LEG_COMMANDS.rate_hz
    next_step = -math.inf
    last_out = None
    for topic, stamp_ns, raw in bag.messages(wanted):
        if topic == itf.JOINT_STATES.name:
            msg = _deserialize(store, raw, 'sensor_msgs/msg/JointState')
            named = dict(zip(msg.name, msg.position))
            q_all = [named.get(j, 0.0) for j in itf.ALL_JOINTS]
            q18 = adapters.leg_positions(q_all)
            joint_t = _stamp(msg)
            for claw, (force, _torque) in raw_wrench.items():
                wrist[claw] = tuple(adapters.wrist_force_in_base(robot, claw, q18, force))
            if joint_t >= next_step:
                next_step = joint_t + step_period - 1e-9
                inputs = GaitInputs(joint_positions_rad=tuple(q18), joint_stamp_s=joint_t,
                                    claws=claws or {}, wrist_forces_n=dict(wrist),
                                    wrench_stamps_s=dict(wrench_t), odom=odom, terrain=terrain,
                                    operator=operator, external_load_n=load)
                try:
                    last_out = gait.step(joint_t, inputs)
                except Exception as err:  # keep going; report the core's refusal
                    rep.compare(joint_t, 'core raised', '', repr(err), True)
                    continue
                rep.steps += 1
                mode = last_out.mode.value
                if mode != computed_mode:
                    rep.computed.append((joint_t, f'mode {mode}'))
                    computed_mode = mode
                if recorded_mode is not None:
                    rep.compare(joint_t, 'mode', recorded_mode, mode, recorded_mode != mode)
        elif topic in [s.name for s in itf.FT_WRENCHES]:
            msg = _deserialize(store, raw, 'geometry_msgs/msg/WrenchStamped')
            claw = topic.strip('/').split('_')[0]
            f = msg.wrench.force
            raw_wrench[claw] = ((f.x, f.y, f.z), None)
            wrench_t[claw] = _stamp(msg)
        elif topic == itf.CLAW_STATE.name:
            try:
                report = decode_claw_state(_deserialize(store, raw, 'std_msgs/msg/String').data)
            except ValueError as err:
                rep.notes.append(f'claw state refused: {err}')
                continue
            claws = adapters.claw_statuses(report.states, report.pull_requests)
        elif topic == itf.ODOM.name:
            msg = _deserialize(store, raw, 'nav_msgs/msg/Odometry')
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            v, w = msg.twist.twist.linear, msg.twist.twist.angular
            odom = OdomState((p.x, p.y, p.z), (q.w, q.x, q.y, q.z), (v.x, v.y, v.z),
                             (w.x, w.y, w.z), _stamp(msg))
        elif topic == itf.TERRAIN_SUMMARY.name:
            payload = parse_json(_deserialize(store, raw, 'std_msgs/msg/String').data)
            if isinstance(payload, dict):
                terrain = TerrainSummary(_terrain_class(payload.get('class_under')),
                                         _terrain_class(payload.get('class_ahead')),
                                         float(payload.get('slope_deg', 0.0) or 0.0),
                                         stamp_s=float(payload.get('stamp_s', joint_t)
                                                       or joint_t))
        elif topic == itf.SAMPLING_LOAD.name:
            load = float(_deserialize(store, raw, 'std_msgs/msg/Float64').data)
        elif topic == itf.GAIT_MODE.name:
            text = _deserialize(store, raw, 'std_msgs/msg/String').data
            payload = parse_json(text)
            recorded_mode = str(payload.get('mode') if isinstance(payload, dict)
                                else payload).lower()
        elif topic == itf.GAIT_REQUEST.name:
            text = _deserialize(store, raw, 'std_msgs/msg/String').data
            operator = OperatorInput(**{**operator.__dict__, 'gait_request': text,
                                        'gait_request_stamp_s': joint_t})
        elif topic == itf.ESTOP.name:
            operator = OperatorInput(**{**operator.__dict__, 'estop': bool(
                _deserialize(store, raw, 'std_msgs/msg/Bool').data)})
        elif topic == itf.LEG_COMMANDS.name and last_out is not None:
            data = np.asarray(_deserialize(store, raw, 'std_msgs/msg/Float64MultiArray').data)
            if len(data) == len(last_out.leg_positions_rad):
                diff = float(np.max(np.abs(data - np.asarray(last_out.leg_positions_rad))))
                rep.compare(joint_t, 'leg commands, max |difference| [rad]', '',
                            round(diff, 3), diff > LEG_TOLERANCE_RAD)
    return rep


def _terrain_class(value) -> object:
    from space_miner.core.analysis import TERRAIN_NAMES
    from space_miner.core.gait_types import TerrainClass
    name = TERRAIN_NAMES.get(value, str(value)) if isinstance(value, int) else \
        str(value or 'unknown').lower()
    try:
        return TerrainClass(name)
    except ValueError:
        return TerrainClass.UNKNOWN


def main(argv: list | None = None) -> int:
    """Run ``space-miner replay BAG [--rate R] [--topics ...] [--loop] [--through ...]``."""
    parser = argparse.ArgumentParser(prog='space-miner replay',
                                     description='Play a bag like ros2 bag play, or run it '
                                                 'through the cores offline.')
    parser.add_argument('bag', help='rosbag2 directory, .mcap or .db3 file')
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed factor')
    parser.add_argument('--topics', nargs='+', default=None, help='topics to play')
    parser.add_argument('--loop', action='store_true', help='play again and again')
    parser.add_argument('--delay', type=float, default=0.0,
                        help='wait this long [s] before playing (discovery)')
    parser.add_argument('--through', choices=('terrain', 'gait'), default=None,
                        help='feed the recorded sensors through a core, no DDS, and list '
                             'differences against the bag')
    parser.add_argument('--json', default=None, help='--through: write the report as JSON')
    parser.add_argument('--namespace', default=None,
                        help="the robot's namespace in the bag (default: recorded, or what "
                             'the topic names show; needed for a bag of several robots)')
    args = parser.parse_args(argv)
    if args.through:
        try:
            bag = open_bag(args.bag, args.namespace)
        except BagError as err:
            print(f'space-miner replay: {err}', file=sys.stderr)
            return 2
        with bag:
            fn = through_terrain if args.through == 'terrain' else through_gait
            rep = fn(bag)
        print(rep.text())
        if args.json:
            Path(args.json).write_text(json.dumps(rep.__dict__, indent=1, default=str))
        return 0
    if not (args.rate > 0.0 and math.isfinite(args.rate)):
        print(f'space-miner replay: --rate must be positive, not {args.rate}', file=sys.stderr)
        return 2
    try:
        stats = play(args.bag, rate=args.rate, topics=args.topics, loop=args.loop,
                     delay_s=max(0.0, args.delay), namespace=args.namespace)
    except BagError as err:
        print(f'space-miner replay: {err}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    total = sum(stats.published.values())
    print(f'replayed {total} messages on {len(stats.published)} topics in '
          f'{stats.wall_time_s:.1f} s ({stats.loops} loop(s)); /clock: {stats.clock_source}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
