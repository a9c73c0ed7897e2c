# SPDX-License-Identifier: Apache-2.0
"""Turn a bag's raw CDR records into the plain streams the mission analysis reads.

Only what the analysis needs is decoded. The hot, fixed-layout topics (joint states,
wrenches, IMU, odometry, command arrays, clock, floats) are parsed straight from their CDR
bytes with numpy: messages of a topic that share a byte length and a structure prefix (the
frame id, the joint names, the array layout) share one layout, so a whole topic is sliced
as one ``(n, bytes)`` array. Any message that does not fit is parsed on its own. Low-rate
topics (JSON strings, diagnostics) are decoded one by one.

CDR here is XCDR1 little-endian with its 4-byte encapsulation header; alignment counts
from the end of that header.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
import struct
from typing import Callable, Iterable

import numpy as np

from space_miner import interfaces as itf
from space_miner.core.analysis import MissionStreams, Series

#: Types that begin with a std_msgs/Header (their stamp is read for rates and latencies).
HEADER_TYPES = frozenset((
    'sensor_msgs/msg/JointState', 'geometry_msgs/msg/WrenchStamped', 'sensor_msgs/msg/Imu',
    'sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo', 'nav_msgs/msg/Odometry',
    'geometry_msgs/msg/PoseStamped', 'geometry_msgs/msg/PointStamped',
    'geometry_msgs/msg/PoseArray', 'nav_msgs/msg/OccupancyGrid',
    'sensor_msgs/msg/PointCloud2', 'diagnostic_msgs/msg/DiagnosticArray',
    'geometry_msgs/msg/TwistStamped'))
#: Topics carrying text (JSON or a plain word) the analysis reads.
TEXT_TOPICS = (itf.CLAW_STATE.name, itf.CLAW_SLIPS.name,
               itf.GAIT_MODE.name, itf.GAIT_STATUS.name, itf.SAMPLING_STATUS.name,
               itf.TERRAIN_SUMMARY.name, itf.GAIT_REQUEST.name)
BOOL_TOPICS = (itf.ESTOP.name, itf.SAMPLER_LID.name)
FLOAT_TOPICS = (itf.SAMPLER_MASS.name, itf.SAMPLING_LOAD.name)


def _align(pos: int, n: int) -> int:
    """Align ``pos`` (counted from the start of the buffer, header at 0..4) to ``n``."""
    rel = pos - 4
    return 4 + ((rel + n - 1) // n) * n


def _skip_header(buf: bytes) -> int:
    """Return the offset after a std_msgs/Header that starts at 4."""
    (length,) = struct.unpack_from('<I', buf, 12)
    return 16 + length


def _skip_string(buf: bytes, pos: int) -> int:
    pos = _align(pos, 4)
    (length,) = struct.unpack_from('<I', buf, pos)
    return pos + 4 + length


# --- layouts: offset of each wanted field of one message, and where the structure ends -----
# Each returns ({field: (offset, count)}, prefix_end): float64 fields; bytes 12..prefix_end
# (after the stamp) must match for two messages to share a layout.

def _layout_wrench(buf: bytes) -> tuple:
    pos = _align(_skip_header(buf), 8)
    return {'force': (pos, 3), 'torque': (pos + 24, 3)}, pos


def _layout_imu(buf: bytes) -> tuple:
    pos = _align(_skip_header(buf), 8)
    return {'quat_xyzw': (pos, 4), 'gyro': (pos + 32 + 72, 3),
            'accel': (pos + 32 + 72 + 24 + 72, 3)}, pos


def _layout_odometry(buf: bytes) -> tuple:
    pos = _align(_skip_string(buf, _skip_header(buf)), 8)
    twist = pos + 56 + 288
    return {'position': (pos, 3), 'quat_xyzw': (pos + 24, 4), 'linear': (twist, 3),
            'angular': (twist + 24, 3)}, pos


def _layout_float64(buf: bytes) -> tuple:
    return {'value': (4, 1)}, 4


def _layout_multiarray(buf: bytes) -> tuple:
    pos = 4
    (ndim,) = struct.unpack_from('<I', buf, pos)
    pos += 4
    for _ in range(ndim):
        pos = _skip_string(buf, pos)
        pos = _align(pos, 4) + 8
    pos = _align(pos, 4) + 4  # data_offset
    pos = _align(pos, 4)
    (count,) = struct.unpack_from('<I', buf, pos)
    data = _align(pos + 4, 8)
    return {'data': (data, count)}, pos + 4


def joint_state_layout(buf: bytes) -> tuple:
    """Return ({'position'|'velocity'|'effort': (offset, n)}, prefix_end, names)."""
    pos = _skip_header(buf)
    pos = _align(pos, 4)
    (count,) = struct.unpack_from('<I', buf, pos)
    pos += 4
    names = []
    for _ in range(count):
        pos = _align(pos, 4)
        (length,) = struct.unpack_from('<I', buf, pos)
        names.append(buf[pos + 4:pos + 3 + length].decode('utf-8', 'replace'))
        pos += 4 + length
    fields = {}
    for key in ('position', 'velocity', 'effort'):
        pos = _align(pos, 4)
        (n,) = struct.unpack_from('<I', buf, pos)
        pos = _align(pos + 4, 8) if n else pos + 4
        fields[key] = (pos, n)
        pos += 8 * n
    return fields, fields['position'][0], tuple(names)


def _layout_joint_state(buf: bytes) -> tuple:
    fields, prefix, _names = joint_state_layout(buf)
    return fields, prefix


# --- the batch slicer ----------------------------------------------------------------------

@dataclass
class _Batch:
    """Fields of one topic as arrays, in message order; rows that failed are NaN."""

    stamp_s: np.ndarray | None
    fields: dict
    bad: int = 0


def slice_fixed(raws: list, layout: Callable, header: bool, widths: dict) -> _Batch:
    """Parse ``raws`` (CDR bytes of one topic) with ``layout``; ``widths``: field -> count.

    ``widths`` fixes each field's column count (NaN-padded or cut); ``header``: read the
    stamp at bytes 4..12.
    """
    n = len(raws)
    out = {key: np.full((n, width), np.nan) for key, width in widths.items()}
    stamps = np.full(n, np.nan) if header else None
    bad = 0
    if n == 0:
        return _Batch(stamps, out)
    lengths = np.fromiter(map(len, raws), dtype=np.int64, count=n)
    groups = ([np.arange(n)] if lengths.min() == lengths.max()
              else [np.flatnonzero(lengths == v) for v in np.unique(lengths)])
    for idx in groups:
        rows = [raws[i] for i in idx] if len(groups) > 1 else raws
        first = rows[0]
        try:
            fields, prefix = layout(first)
        except (struct.error, ValueError, IndexError):
            fields, prefix = None, 0
        length = len(first)
        if fields is None or length < 8:
            bad += len(idx)
            continue
        buf = np.frombuffer(b''.join(rows), dtype=np.uint8).reshape(len(rows), length)
        same = np.all(buf[:, 12:prefix] == buf[0, 12:prefix], axis=1) if prefix > 12 \
            else np.ones(len(rows), dtype=bool)
        good = idx[same]
        sub = buf[same]
        if header:
            stamps[good] = (sub[:, 4:8].copy().view('<i4')[:, 0]
                            + sub[:, 8:12].copy().view('<u4')[:, 0] * 1e-9)
        for key, width in widths.items():
            offset, count = fields.get(key, (0, 0))
            count = min(count, width)
            if count and offset + 8 * count <= length:
                out[key][good, :count] = sub[:, offset:offset + 8 * count].copy().view('<f8')
        for i in idx[~same]:  # structure differs: parse alone
            one = slice_fixed([raws[i]], layout, header, widths)
            bad += one.bad
            if header:
                stamps[i] = one.stamp_s[0]
            for key in widths:
                out[key][i] = one.fields[key][0]
    return _Batch(stamps, out, bad)


def header_stamps(raws: list) -> np.ndarray:
    """Header stamps [s] of messages that begin with a std_msgs/Header (NaN if too short)."""
    n = len(raws)
    if n == 0:
        return np.zeros(0)
    heads = b''.join(r[:12] if len(r) >= 12 else b'\0' * 12 for r in raws)
    arr = np.frombuffer(heads, dtype=np.uint8).reshape(n, 12)
    stamps = (arr[:, 4:8].copy().view('<i4')[:, 0] + arr[:, 8:12].copy().view('<u4')[:, 0]
              * 1e-9)
    stamps[np.fromiter(map(len, raws), dtype=np.int64, count=n) < 12] = np.nan
    return stamps


def cdr_string(buf: bytes) -> str:
    """Decode a std_msgs/String."""
    (length,) = struct.unpack_from('<I', buf, 4)
    return buf[8:8 + max(0, length - 1)].decode('utf-8', 'replace')


# --- collection ----------------------------------------------------------------------------

@dataclass
class _Collected:
    """Raw records grouped per topic."""

    times: dict = field(default_factory=lambda: defaultdict(list))
    raws: dict = field(default_factory=lambda: defaultdict(list))
    bytes_: dict = field(default_factory=lambda: defaultdict(int))
    counts: dict = field(default_factory=lambda: defaultdict(int))


def wanted_topics(topics: dict) -> tuple:
    """Return the topics whose raw records the analysis keeps, given name -> msgtype."""
    keep = []
    for name, msgtype in topics.items():
        if msgtype in HEADER_TYPES or name in TEXT_TOPICS or name in BOOL_TOPICS \
                or name in FLOAT_TOPICS or name in itf.COMMAND_JOINTS or name == itf.CLOCK.name:
            keep.append(name)
    return tuple(keep)


def collect(records: Iterable, topic_types: dict, on_progress: Callable | None = None,
            progress_every: int = 20000) -> tuple:
    """Group ``(topic, stamp_ns, data)`` records; return (_Collected, first_ns, last_ns).

    Images and camera info keep only their first 12 bytes (the header stamp); every record
    counts towards the byte totals. ``on_progress(n_messages, bytes)`` is called now and then.
    """
    col = _Collected()
    first = last = None
    heavy = {name for name, t in topic_types.items()
             if t in ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo',
                      'sensor_msgs/msg/PointCloud2', 'nav_msgs/msg/OccupancyGrid')}
    n = 0
    total = 0
    times, raws, sizes = col.times, col.raws, col.bytes_
    for topic, stamp, data in records:
        if first is None:
            first = stamp
        last = stamp
        size = len(data)
        total += size
        sizes[topic] += size
        times[topic].append(stamp)
        raws[topic].append(data[:12] if topic in heavy else data)
        n += 1
        if on_progress is not None and n % progress_every == 0:
            on_progress(n, total)
    if on_progress is not None:
        on_progress(n, total)
    for topic, stamps in times.items():
        col.counts[topic] = len(stamps)
    return col, first or 0, last or 0


def build_streams(col: _Collected, topic_types: dict, start_ns: int) -> MissionStreams:
    """Decode the grouped records into :class:`MissionStreams` (times relative to start)."""
    streams = MissionStreams(start_ns=start_ns)
    streams.topic_types = dict(topic_types)
    streams.counts = dict(col.counts)
    streams.bytes_per_topic = dict(col.bytes_)

    def rel(topic):
        return (np.asarray(col.times[topic], dtype=np.int64) - start_ns) * 1e-9

    for topic, raws in col.raws.items():
        msgtype = topic_types.get(topic, '')
        t = rel(topic)
        if msgtype in HEADER_TYPES and msgtype != 'sensor_msgs/msg/JointState':
            streams.stamps[topic] = (t, header_stamps(raws))
        if msgtype == 'sensor_msgs/msg/JointState':
            try:
                _f, _p, names = joint_state_layout(raws[0])
            except (struct.error, ValueError, IndexError):
                names = ()
            width = max(1, len(names))
            batch = slice_fixed(raws, _layout_joint_state, True,
                                {'position': width, 'effort': width})
            streams.stamps[topic] = (t, batch.stamp_s)
            streams.joint_names = names
            streams.joint_position = Series(t, batch.fields['position'], batch.stamp_s)
            streams.joint_effort = Series(t, batch.fields['effort'], batch.stamp_s)
            streams.bad_messages[topic] = batch.bad
        elif msgtype == 'geometry_msgs/msg/WrenchStamped':
            batch = slice_fixed(raws, _layout_wrench, True, {'force': 3, 'torque': 3})
            claw = topic.strip('/').split('_')[0]
            streams.wrench[claw] = Series(t, batch.fields['force'], batch.stamp_s)
            streams.bad_messages[topic] = batch.bad
        elif msgtype == 'nav_msgs/msg/Odometry':
            batch = slice_fixed(raws, _layout_odometry, True,
                                {'position': 3, 'quat_xyzw': 4, 'linear': 3})
            values = np.hstack([batch.fields['position'], batch.fields['quat_xyzw'],
                                batch.fields['linear']])
            streams.odometry[topic] = Series(t, values, batch.stamp_s)
            streams.bad_messages[topic] = batch.bad
        elif msgtype == 'std_msgs/msg/Float64MultiArray':
            width = len(itf.COMMAND_JOINTS.get(topic, ())) or 1
            batch = slice_fixed(raws, _layout_multiarray, False, {'data': width})
            streams.commands[topic] = Series(t, batch.fields['data'])
            streams.bad_messages[topic] = batch.bad
        elif msgtype == 'std_msgs/msg/Float64':
            batch = slice_fixed(raws, _layout_float64, False, {'value': 1})
            streams.floats[topic] = Series(t, batch.fields['value'])
        elif msgtype == 'rosgraph_msgs/msg/Clock':
            streams.clock = Series(t, _clock_values(raws))
        elif msgtype == 'std_msgs/msg/Bool':
            streams.bools[topic] = Series(
                t, np.array([[float(r[4]) if len(r) > 4 else np.nan] for r in raws]))
        elif msgtype == 'std_msgs/msg/String':
            texts = []
            for stamp, raw in zip(t, raws):
                try:
                    texts.append((float(stamp), cdr_string(raw)))
                except (struct.error, IndexError):
                    streams.bad_messages[topic] = streams.bad_messages.get(topic, 0) + 1
            streams.texts[topic] = texts
        elif msgtype == 'diagnostic_msgs/msg/DiagnosticArray':
            streams.diagnostics = _diagnostics(t, raws)
    return streams


def _clock_values(raws: list) -> np.ndarray:
    n = len(raws)
    buf = np.frombuffer(b''.join(r[:12].ljust(12, b'\0') for r in raws),
                        dtype=np.uint8).reshape(n, 12)
    return (buf[:, 4:8].copy().view('<i4')[:, 0]
            + buf[:, 8:12].copy().view('<u4')[:, 0] * 1e-9)[:, None]


def _diagnostics(t: np.ndarray, raws: list) -> list:
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    out = []
    for stamp, raw in zip(t, raws):
        try:
            msg = store.deserialize_cdr(raw, 'diagnostic_msgs/msg/DiagnosticArray')
        except Exception:  # a damaged record: skip it (counted by the caller's totals)
            continue
        for status in msg.status:
            level = status.level
            level = int.from_bytes(level, 'little') if isinstance(level, bytes) else int(level)
            out.append((float(stamp), level, status.name, status.message,
                        {kv.key: kv.value for kv in status.values}))
    return out


def load_streams(bag, on_progress: Callable | None = None) -> MissionStreams:
    """Read ``bag`` (a :class:`space_miner.bag.reader.Bag`) into :class:`MissionStreams`.

    ``on_progress(messages_read, bytes_read, messages_to_read)`` is called now and then.

    Unknown message types (not in the ROS 2 Jazzy standard set rosbags knows) are listed
    and skipped; a contract topic recorded with another type than interfaces.py declares is
    skipped with a warning.
    """
    from rosbags.typesys import get_typestore, Stores
    known = set(get_typestore(Stores.ROS2_JAZZY).types)
    types, unknown, warnings = {}, [], list(bag.warnings)
    for info in bag.topics.values():
        try:
            declared = itf.topic(info.name).msg_type
        except KeyError:
            declared = None
        if info.msgtype not in known:
            unknown.append((info.name, info.msgtype))
        elif declared is not None and declared != info.msgtype:
            warnings.append(f'{info.name}: recorded as {info.msgtype}, interfaces.py declares '
                            f'{declared}: skipped')
        else:
            types[info.name] = info.msgtype
    keep = wanted_topics(types)
    total = sum(bag.topics[name].count for name in keep)
    progress = None if on_progress is None else (lambda n, b: on_progress(n, b, total))
    col, first, _last = collect(bag.messages(keep), types, progress)
    warnings += [w for w in bag.warnings if w not in warnings]
    for info in bag.topics.values():  # every topic's count, also those not decoded
        col.counts.setdefault(info.name, info.count)
    streams = build_streams(col, types, bag.start_ns or first)
    streams.counts = {name: max(col.counts.get(name, 0), 0) for name in bag.topics}
    for name in keep:
        streams.counts[name] = len(col.times.get(name, ()))
    streams.unknown_types = unknown
    streams.warnings = warnings
    return streams
