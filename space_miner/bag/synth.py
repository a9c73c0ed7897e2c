# SPDX-License-Identifier: Apache-2.0
"""Write synthetic mission bags with known content, for tests and benchmarks.

A :class:`MissionPlan` says what happens (gait changes, slips, sampling runs, terrain
under the robot, a load that breaks the margin); :func:`write_mission_bag` writes every
declared topic at its interfaces.py rate, as ``space-miner sim`` would record it, with
rosbags' writer (MCAP or sqlite3). Messages are built from one serialised template per
topic whose stamp and values are patched in place, so large bags are written quickly.
The JSON payloads of the internal topics follow the producers' shapes (claw state keyed by
claw, :func:`space_miner.core.gait_types.encode_claw_requests`, sampling status fields of
``SamplingStatus``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from pathlib import Path
import struct

import numpy as np

from space_miner import interfaces as itf
from space_miner.bag.decode import _layout_float64, _layout_multiarray, _layout_odometry, \
    _layout_wrench, joint_state_layout
from space_miner.core.gait_types import ClawAction, ClawRequest, encode_claw_requests


@dataclass
class MissionPlan:
    """What the synthetic mission contains; times in simulated seconds."""

    duration_s: float = 60.0
    gait_modes: tuple = ((0.0, 'anchor'), (10.0, 'crawl'), (30.0, 'anchor'), (45.0, 'crawl'))
    slips: tuple = ((20.0, 'c2'), (40.0, 'c1'))
    samples: tuple = ((31.0, 40.0, 60.0),)    # (start_s, end_s, mass added g)
    terrain: tuple = ((0.0, 2), (15.0, 3), (32.0, 'rock'))  # class as int or name
    feed_force_n: float = 50.0
    margin_break: tuple | None = None          # (start_s, end_s, load_n)
    holding_n: float = 160.0                   # verified holding per claw [N]
    images_hz: float = 0.0
    image_size: tuple = (160, 120)
    omit: tuple = ()                           # topics left out
    extra_unknown: bool = False                # add a topic of an unknown type
    start_ns: int = 1_700_000_000_000_000_000
    rate_scale: float = 1.0                    # receive time = sim time / rate_scale
    namespace: str = ''                        # the robot's namespace: topics recorded under it
    counts: dict = field(default_factory=dict)


def _cdr_string(text: str) -> bytes:
    data = text.encode('utf-8') + b'\0'
    return b'\x00\x01\x00\x00' + struct.pack('<I', len(data)) + data


def _stamp_rows(rows: np.ndarray, t_s: np.ndarray) -> None:
    sec = np.floor(t_s).astype('<i4')
    nsec = np.round((t_s - np.floor(t_s)) * 1e9).astype('<u4')
    rows[:, 4:8] = sec.view(np.uint8).reshape(-1, 4)
    rows[:, 8:12] = nsec.view(np.uint8).reshape(-1, 4)


def _patch(rows: np.ndarray, offset: int, values: np.ndarray) -> None:
    values = np.ascontiguousarray(values, dtype='<f8').reshape(len(rows), -1)
    rows[:, offset:offset + 8 * values.shape[1]] = values.view(np.uint8)


def _at(times: tuple, t: np.ndarray) -> np.ndarray:
    """Index of the plan entry in force at each time (-1 before the first)."""
    starts = np.array([e[0] for e in times], dtype=float)
    return np.searchsorted(starts, t, side='right') - 1


def _slip_factor(plan: MissionPlan, claw: str, t: np.ndarray) -> np.ndarray:
    """Return 0 for 2 s after each slip of ``claw`` (verified holding lost), else 1."""
    factor = np.ones(len(t))
    for ts, c in plan.slips:
        if c == claw:
            factor[(t >= ts) & (t < ts + 2.0)] = 0.0
    return factor


def write_mission_bag(path: str | Path, plan: MissionPlan | None = None,
                      storage: str = 'mcap') -> MissionPlan:
    """Write the bag for ``plan`` at ``path``; return the plan with message counts filled."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_types_from_msg, get_typestore, Stores
    plan = plan or MissionPlan()
    store = get_typestore(Stores.ROS2_JAZZY)
    T = store.types
    dur = plan.duration_s
    records = []   # (t_s array, topic, list-of-bytes or 2-D uint8 rows)

    def times(rate):
        return np.arange(0.0, dur, 1.0 / rate) + 1e-4

    def template(msgtype, msg):
        return bytes(store.serialize_cdr(msg, msgtype))

    header = T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=0, nanosec=0),
                                      frame_id='')

    def hdr(frame):
        return T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=0, nanosec=0),
                                        frame_id=frame)

    # /joint_states
    t = times(itf.JOINT_STATES.rate_hz)
    n_j = len(itf.ALL_JOINTS)
    js = template('sensor_msgs/msg/JointState', T['sensor_msgs/msg/JointState'](
        header=hdr(''), name=list(itf.ALL_JOINTS), position=np.zeros(n_j),
        velocity=np.zeros(n_j), effort=np.zeros(n_j)))
    fields, _p, _names = joint_state_layout(js)
    rows = np.tile(np.frombuffer(js, np.uint8), (len(t), 1))
    _stamp_rows(rows, t)
    effort = np.zeros((len(t), n_j))
    for i, claw in enumerate(itf.CLAW_LEGS):
        effort[:, itf.ALL_JOINTS.index(f'{claw}_claw_joint')] = 150.0 * _slip_factor(
            plan, claw, t) + 5.0 * (1.0 - _slip_factor(plan, claw, t))
    _patch(rows, fields['effort'][0], effort)
    records.append((t, itf.JOINT_STATES.name, rows))
    # wrenches
    for claw, spec in zip(itf.CLAW_LEGS, itf.FT_WRENCHES):
        t = times(spec.rate_hz)
        w = template('geometry_msgs/msg/WrenchStamped', T['geometry_msgs/msg/WrenchStamped'](
            header=hdr(f'{claw}_ft_link'), wrench=T['geometry_msgs/msg/Wrench'](
                force=T['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=0.0),
                torque=T['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=0.0))))
        rows = np.tile(np.frombuffer(w, np.uint8), (len(t), 1))
        _stamp_rows(rows, t)
        f, _ = _layout_wrench(w)
        _patch(rows, f['force'][0], np.column_stack([np.zeros(len(t)), np.zeros(len(t)),
                                                     10.0 + np.sin(t)]))
        records.append((t, spec.name, rows))
    # IMU
    t = times(itf.IMU.rate_hz)
    v3 = T['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=0.0)
    imu = template('sensor_msgs/msg/Imu', T['sensor_msgs/msg/Imu'](
        header=hdr('imu_link'), orientation=T['geometry_msgs/msg/Quaternion'](
            x=0.0, y=0.0, z=0.0, w=1.0), orientation_covariance=np.zeros(9),
        angular_velocity=v3, angular_velocity_covariance=np.zeros(9),
        linear_acceleration=v3, linear_acceleration_covariance=np.zeros(9)))
    rows = np.tile(np.frombuffer(imu, np.uint8), (len(t), 1))
    _stamp_rows(rows, t)
    records.append((t, itf.IMU.name, rows))
    # odometry: ground truth and estimate; moves at 1 cm/s in crawl
    for spec, frame in ((itf.GROUND_TRUTH_ODOM, 'map'), (itf.ODOM, 'odom')):
        t = times(spec.rate_hz)
        pose = T['geometry_msgs/msg/Pose'](
            position=T['geometry_msgs/msg/Point'](x=0.0, y=0.0, z=0.0),
            orientation=T['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0))
        tw = T['geometry_msgs/msg/Twist'](linear=v3, angular=v3)
        od = template('nav_msgs/msg/Odometry', T['nav_msgs/msg/Odometry'](
            header=hdr(frame), child_frame_id='base_link',
            pose=T['geometry_msgs/msg/PoseWithCovariance'](pose=pose, covariance=np.zeros(36)),
            twist=T['geometry_msgs/msg/TwistWithCovariance'](twist=tw,
                                                             covariance=np.zeros(36))))
        rows = np.tile(np.frombuffer(od, np.uint8), (len(t), 1))
        _stamp_rows(rows, t)
        f, _ = _layout_odometry(od)
        modes = [m for _t, m in plan.gait_modes]
        crawling = np.array([modes[i] == 'crawl' if i >= 0 else False
                             for i in _at(plan.gait_modes, t)])
        vx = np.where(crawling, 0.01, 0.0)
        _patch(rows, f['position'][0], np.column_stack([np.cumsum(vx) / spec.rate_hz,
                                                        np.zeros(len(t)), np.zeros(len(t))]))
        _patch(rows, f['quat_xyzw'][0], np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1)))
        _patch(rows, f['linear'][0], np.column_stack([vx, np.zeros(len(t)),
                                                      0.001 * np.sin(t)]))
        records.append((t, spec.name, rows))
    # command arrays
    for spec in (itf.LEG_COMMANDS, itf.WHEEL_COMMANDS, itf.CLAW_COMMANDS,
                 itf.SAMPLER_FEED_COMMANDS, itf.SAMPLER_DRILL_COMMANDS):
        t = times(spec.rate_hz)
        width = len(itf.COMMAND_JOINTS[spec.name])
        arr = template('std_msgs/msg/Float64MultiArray', T['std_msgs/msg/Float64MultiArray'](
            layout=T['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0),
            data=np.zeros(width)))
        rows = np.tile(np.frombuffer(arr, np.uint8), (len(t), 1))
        f, _ = _layout_multiarray(arr)
        values = np.zeros((len(t), width))
        if spec is itf.CLAW_COMMANDS:
            values[:] = 150.0
        _patch(rows, f['data'][0], values)
        records.append((t, spec.name, rows))
    # floats: mass, sampling load
    mass_t = times(itf.SAMPLER_MASS.rate_hz)
    mass_g = np.zeros(len(mass_t))
    for start, end, grams in plan.samples:
        drill0, drill1 = start + 0.3 * (end - start), start + 0.7 * (end - start)
        mass_g += grams * np.clip((mass_t - drill0) / (drill1 - drill0), 0.0, 1.0)
    load_t = times(itf.SAMPLING_LOAD.rate_hz)
    load = np.zeros(len(load_t))
    for start, end, _g in plan.samples:
        load[(load_t >= start + 0.3 * (end - start)) & (load_t < start + 0.7 * (end - start))] \
            = plan.feed_force_n
    if plan.margin_break is not None:
        a, b, value = plan.margin_break
        load[(load_t >= a) & (load_t < b)] = value
    for spec, t, values in ((itf.SAMPLER_MASS, mass_t, mass_g / 1000.0),
                            (itf.SAMPLING_LOAD, load_t, load)):
        fl = template('std_msgs/msg/Float64', T['std_msgs/msg/Float64'](data=0.0))
        rows = np.tile(np.frombuffer(fl, np.uint8), (len(t), 1))
        _patch(rows, _layout_float64(fl)[0]['value'][0], values)
        records.append((t, spec.name, rows))
    # /clock
    t = times(itf.CLOCK.rate_hz)
    ck = template('rosgraph_msgs/msg/Clock', T['rosgraph_msgs/msg/Clock'](
        clock=T['builtin_interfaces/msg/Time'](sec=0, nanosec=0)))
    rows = np.tile(np.frombuffer(ck, np.uint8), (len(t), 1))
    _stamp_rows(rows, t)
    records.append((t, itf.CLOCK.name, rows))
    # claw state (JSON), claw requests (JSON)
    t = times(itf.CLAW_STATE.rate_hz)
    factors = {c: _slip_factor(plan, c, t) for c in itf.CLAW_LEGS}
    states = []
    for i, ti in enumerate(t):
        doc = {}
        for claw in itf.CLAW_LEGS:
            ok = factors[claw][i] > 0
            doc[claw] = {'mode': 'holding' if ok else 'slipping',
                         'squeeze_n': 150.0 if ok else 5.0, 'target_n': 150.0,
                         'command_n': 150.0,
                         'verified_holding_n': plan.holding_n if ok else 0.0,
                         'weak': False, 'verifying': False, 'load_n': 10.0,
                         'regrasp_count': 0}
        states.append(_cdr_string(json.dumps({'t_s': round(float(ti), 4), 'claws': doc})))
    records.append((t, itf.CLAW_STATE.name, states))
    t = times(itf.CLAW_REQUESTS.rate_hz)
    req = _cdr_string(encode_claw_requests(tuple(ClawRequest(c, ClawAction.HOLD, 150.0)
                                                 for c in itf.CLAW_LEGS)))
    records.append((t, itf.CLAW_REQUESTS.name, [req] * len(t)))
    # slips
    slips = sorted(s for s in plan.slips if s[0] < dur)
    records.append((np.array([s[0] for s in slips], dtype=float), itf.CLAW_SLIPS.name,
                    [_cdr_string(json.dumps({'t_s': ts, 'claw': c, 'cause': 'load_drop',
                                             'load_n': 42.0, 'during_pull_test': False}))
                     for ts, c in slips]))
    # gait mode and status, on change
    modes = [(t0, m) for t0, m in plan.gait_modes if t0 < dur]
    records.append((np.array([m[0] for m in modes]) + 1e-4, itf.GAIT_MODE.name,
                    [_cdr_string(m) for _t, m in modes]))
    records.append((np.array([m[0] for m in modes]) + 2e-4, itf.GAIT_STATUS.name,
                    [_cdr_string(json.dumps({'mode': m, 'stage': 'none',
                                             'command_source': 'autopilot', 'refusals': []}))
                     for _t, m in modes]))
    # terrain summary at 5 Hz
    t = times(itf.TERRAIN_SUMMARY.rate_hz)
    idx = _at(plan.terrain, t)
    records.append((t, itf.TERRAIN_SUMMARY.name, [
        _cdr_string(json.dumps({'class_under': plan.terrain[i][1] if i >= 0 else 0,
                                'class_ahead': 0, 'status': 'ok'})) for i in idx]))
    # sampling status, on change
    idle = {'phase': 'idle', 'attempt': 0, 'mass_g': 0.0, 'target_g': 50.0, 'reason': ''}
    st_t, st = [0.0005], [_cdr_string(json.dumps(idle))]
    total = 0.0
    for start, end, grams in (s for s in plan.samples if s[1] < dur):
        phases = ('site_check', 'anchor', 'deploy', 'drill', 'close_lid', 'stow', 'verify',
                  'done')
        for k, phase in enumerate(phases):
            tk = start + (end - start) * (k / (len(phases) - 1)) if phase != 'drill' \
                else start + 0.3 * (end - start)
            if phase == 'close_lid':
                tk = max(tk, start + 0.7 * (end - start))
            mass = total + (grams if phase in ('close_lid', 'stow', 'verify', 'done') else 0.0)
            st_t.append(tk)
            st.append(_cdr_string(json.dumps({'phase': phase, 'attempt': 1, 'mass_g': mass,
                                              'target_g': 50.0, 'reason': '',
                                              'site_xy_m': [1.0, 2.0]})))
        total += grams
    records.append((np.array(st_t), itf.SAMPLING_STATUS.name, st))
    # diagnostics at 1 Hz
    t = times(1.0)
    diag_type = 'diagnostic_msgs/msg/DiagnosticArray'
    diag = template(diag_type, T[diag_type](
        header=header, status=[T['diagnostic_msgs/msg/DiagnosticStatus'](
            level=0, name='mujoco_sim: simulator', message='running', hardware_id='mujoco',
            values=[T['diagnostic_msgs/msg/KeyValue'](key='refused_commands', value='0')])]))
    rows = np.tile(np.frombuffer(diag, np.uint8), (len(t), 1))
    _stamp_rows(rows, t)
    records.append((t, itf.DIAGNOSTICS.name, rows))
    # depth images
    if plan.images_hz > 0:
        t = times(plan.images_hz)
        w, h = plan.image_size
        img = template('sensor_msgs/msg/Image', T['sensor_msgs/msg/Image'](
            header=hdr('camera_depth_optical_frame'), height=h, width=w, encoding='32FC1',
            is_bigendian=0, step=4 * w, data=np.ones(w * h * 4, dtype=np.uint8)))
        rows = np.tile(np.frombuffer(img, np.uint8), (len(t), 1))
        _stamp_rows(rows, t)
        records.append((t, itf.DEPTH_IMAGE.name, rows))
    unknown_def = 'float64 weirdness\nstring note\n'
    if plan.extra_unknown:
        store.register(get_types_from_msg(unknown_def, 'weird_msgs/msg/Weird'))
        weird = template('weird_msgs/msg/Weird',
                         store.types['weird_msgs/msg/Weird'](weirdness=1.0, note='x'))
        t = times(1.0)
        records.append((t, '/weird', [weird] * len(t)))
    records = [r for r in records if r[1] not in plan.omit]
    # write in time order
    all_t = np.concatenate([r[0] for r in records])
    which = np.concatenate([np.full(len(r[0]), k) for k, r in enumerate(records)])
    pos = np.concatenate([np.arange(len(r[0])) for r in records])
    order = np.argsort(all_t, kind='stable')
    stamps = plan.start_ns + np.round(all_t[order] / plan.rate_scale * 1e9).astype(np.int64)
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    with Writer(Path(path), version=9, storage_plugin=plugin) as writer:
        conns = []
        for _t, topic, _rows in records:
            if topic == '/weird':
                msgtype, recorded = 'weird_msgs/msg/Weird', topic
            else:
                spec = itf.topic(topic)
                msgtype, recorded = spec.msg_type, spec.resolved(plan.namespace)
            conns.append(writer.add_connection(recorded, msgtype, typestore=store))
        datas = [r[2] for r in records]
        rowbytes = [None if isinstance(d, list) else d.tobytes() for d in datas]
        widths = [None if isinstance(d, list) else d.shape[1] for d in datas]
        write = writer.write
        for k, i, stamp in zip(which[order].tolist(), pos[order].tolist(), stamps.tolist()):
            if rowbytes[k] is None:
                write(conns[k], stamp, datas[k][i])
            else:
                w = widths[k]
                write(conns[k], stamp, rowbytes[k][i * w:(i + 1) * w])
    plan.counts = {r[1]: len(r[0]) for r in records}
    return plan
