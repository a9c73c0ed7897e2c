# SPDX-License-Identifier: Apache-2.0
"""Record a run to a rosbag2 bag (MCAP by default) with ``rosbags``' writer, from rclpy.

:class:`BagRecorder` is an rclpy node that subscribes to topics declared in
``space_miner/interfaces.py`` (default :data:`DEFAULT_TOPICS`: every contract topic of
DESIGN.md section 4 and the stack's internal topics) with raw (serialised CDR)
subscriptions, and writes each record with its receive time (the system clock, like
``ros2 bag record``; simulated time travels in the recorded ``/clock``). Depth images and
their camera info are decimated to ``image_max_rate_hz`` (1 Hz by default). It adds, built
with rosbags' own type store (rclpy cannot create ``tf2_msgs`` here):

- ``/tf_static``: the URDF's fixed joints and ``map`` -> ``odom`` (identity), once;
- ``/tf``: ``odom`` -> ``base_link`` from ``/odom`` (from ``/ground_truth/odom`` until the
  estimator publishes), and every moving joint of the URDF from ``/joint_states``, at
  ``tf_rate_hz``;
- ``/robot_description`` (std_msgs/String, transient-local): the expanded URDF,

so ``ros2 bag play`` and rviz show the robot without robot_state_publisher.

A robot in a namespace (``namespace='/r1'``): its topics are recorded under their names in
the graph (``/r1/joint_states``, ``/r1/tf``, ...; ``/clock`` is global), as ``ros2 bag
record`` would, and the namespace goes into the run information, so ``space-miner
analyze`` and ``replay`` read the bag like any other. Topics are named as interfaces.py
declares them (root-namespace names) wherever this module takes them.

Crash safety: the writer's open chunk is closed and flushed to the operating system every
``flush_period_s`` (and at 1 MiB), so a SIGKILL loses at most that last chunk. A bag cut
short has no ``metadata.yaml`` and no MCAP summary; read it with
:func:`space_miner.bag.reader.open_bag` (``space-miner analyze`` does), list it with
``python -m space_miner.bag.reader BAG``, or make a whole copy for other tools with
``python -m space_miner.bag.reader BAG --repair OUT``. Run information (scenario, body,
escape velocity) is written at start to ``space_miner_run.json`` in the bag directory and
as the bag's ``custom_data`` at close.

Run it alone: ``python -m space_miner.bag.recorder OUT_DIR [--topics ...]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
import threading
import time
import xml.etree.ElementTree as ET

import numpy as np
from transforms3d import axangles, euler, quaternions
from rclpy.node import Node

from space_miner import interfaces as itf
from space_miner.bag.reader import RUN_INFO_FILE
from space_miner.core.sample_log import atomic_write_bytes

#: Recorded by default: every topic interfaces.py declares (hardware contract, operator,
#: internal topics of the stack).
DEFAULT_TOPICS = tuple(spec.name for spec in itf.TOPICS)
#: Decimated to ``image_max_rate_hz``.
IMAGE_TOPICS = (itf.DEPTH_IMAGE.name, itf.DEPTH_INFO.name)
TF_TOPIC = itf.TF_TOPIC
TF_STATIC_TOPIC = itf.TF_STATIC_TOPIC
ROBOT_DESCRIPTION_TOPIC = itf.ROBOT_DESCRIPTION_TOPIC


# --- URDF kinematics for /tf ---------------------------------------------------------------

def _rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF ``rpy`` (fixed axes x, y, z) -> rotation matrix."""
    return euler.euler2mat(roll, pitch, yaw, 'sxyz')


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    return axangles.axangle2mat(axis, angle)


def _quat_xyzw(r: np.ndarray) -> tuple:
    """Rotation matrix -> quaternion (x, y, z, w), as geometry_msgs orders it."""
    w, x, y, z = quaternions.mat2quat(r)
    return (float(x), float(y), float(z), float(w))


class UrdfJoints:
    """The joints of a URDF: fixed transforms, and moving ones as functions of position."""

    def __init__(self, urdf_text: str) -> None:
        root = ET.fromstring(urdf_text)
        self.joints = []   # (name, type, parent, child, xyz, R, axis)
        for joint in root.findall('joint'):
            origin = joint.find('origin')
            xyz = np.array([float(v) for v in (origin.get('xyz', '0 0 0') if origin is not None
                                               else '0 0 0').split()])
            rpy = [float(v) for v in (origin.get('rpy', '0 0 0') if origin is not None
                                      else '0 0 0').split()]
            axis_el = joint.find('axis')
            axis = np.array([float(v) for v in (axis_el.get('xyz', '1 0 0') if axis_el is not None
                                                else '1 0 0').split()])
            norm = np.linalg.norm(axis)
            axis = axis / norm if norm > 0 else np.array([1.0, 0.0, 0.0])
            self.joints.append((joint.get('name'), joint.get('type'),
                                joint.find('parent').get('link'), joint.find('child').get('link'),
                                xyz, _rpy_matrix(*rpy), axis))

    def fixed(self) -> list:
        """Return ``(parent, child, xyz, quat_xyzw)`` of every fixed joint."""
        return [(p, c, tuple(xyz), _quat_xyzw(r)) for _n, kind, p, c, xyz, r, _a in self.joints
                if kind == 'fixed']

    def moving(self, positions: dict) -> list:
        """``(parent, child, xyz, quat_xyzw)`` of every moving joint at ``positions``."""
        out = []
        for name, kind, parent, child, xyz, r, axis in self.joints:
            if kind == 'fixed':
                continue
            q = float(positions.get(name, 0.0))
            if not math.isfinite(q):
                q = 0.0
            if kind == 'prismatic':
                out.append((parent, child, tuple(xyz + r @ (axis * q)), _quat_xyzw(r)))
            else:
                out.append((parent, child, tuple(xyz), _quat_xyzw(r @ _axis_angle(axis, q))))
        return out


# --- the recorder --------------------------------------------------------------------------

def _rosbags_qos(spec: itf.QosSpec):
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)
    return Qos(QosHistory.KEEP_LAST, spec.depth,
               QosReliability.RELIABLE if spec.reliability == 'reliable'
               else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if spec.durability == 'transient_local'
               else QosDurability.VOLATILE,
               QosTime(0, 0), QosTime(0, 0), QosLiveliness.AUTOMATIC, QosTime(0, 0), False)


class BagRecorder(Node):
    """Record topics to a rosbag2 bag (see the module docstring)."""

    def __init__(self, bag_path: str | Path, topics: tuple | list | None = None, *,
                 image_max_rate_hz: float = 1.0, storage: str = 'mcap',
                 flush_period_s: float = 1.0, tf_rate_hz: float = 30.0,
                 robot_description: bool = True, run_info: dict | None = None,
                 node_name: str = 'bag_recorder', namespace: str = '', **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import get_typestore, Stores
        if storage not in ('mcap', 'sqlite3'):
            raise ValueError(f"storage must be 'mcap' or 'sqlite3', not {storage!r}")
        if image_max_rate_hz < 0.0 or flush_period_s <= 0.0 or tf_rate_hz < 0.0:
            raise ValueError('image_max_rate_hz and tf_rate_hz must be >= 0, '
                             'flush_period_s > 0')
        self.path = Path(bag_path)
        #: The robot's namespace ('' : the root); topics are recorded under it.
        self.namespace = itf.normalize_namespace(namespace)
        self.store = get_typestore(Stores.ROS2_JAZZY)
        self.image_period_ns = int(1e9 / image_max_rate_hz) if image_max_rate_hz > 0 else 0
        self.tf_period_ns = int(1e9 / tf_rate_hz) if tf_rate_hz > 0 else None
        self.flush_period_s = flush_period_s
        self.counts: dict = {}
        self.dropped_images = 0
        self._lock = threading.Lock()
        self._closed = False
        self._last_image_ns: dict = {}
        self._last_tf_ns = -(1 << 62)
        self._odom_seen = False
        self._last_flush = time.monotonic()
        self.writer = Writer(self.path, version=9,
                             storage_plugin=StoragePlugin.MCAP if storage == 'mcap'
                             else StoragePlugin.SQLITE3)
        self.writer.open()
        info = dict(run_info or {})
        info.setdefault('recorded_by', 'space_miner.bag.recorder')
        info.setdefault('start_wall_time_s', time.time())
        if self.namespace:
            info['namespace'] = self.namespace
        self.run_info = info
        atomic_write_bytes(self.path / RUN_INFO_FILE,
                           json.dumps(info, sort_keys=True, default=str).encode('utf-8'))
        for key, value in info.items():
            self.writer.set_custom_data(f'space_miner.{key}', str(value))
        self.conns: dict = {}
        self.topics = tuple(topics) if topics is not None else DEFAULT_TOPICS
        for name in self.topics:
            spec = itf.topic(name)  # KeyError naming an undeclared topic
            self.conns[name] = self.writer.add_connection(
                spec.resolved(self.namespace), spec.msg_type, typestore=self.store,
                offered_qos_profiles=[_rosbags_qos(spec.pub_qos)])
            qos = itf.QosSpec('record', spec.pub_qos.reliability, spec.pub_qos.durability,
                              max(spec.pub_qos.depth, 100 if spec.rate_hz >= 20 else 10))
            self.create_subscription(itf.msg_class(spec.msg_type),
                                     spec.resolved(self.namespace),
                                     lambda data, n=name: self._on_message(n, data),
                                     qos.to_rclpy(), raw=True)
        self.urdf = None
        self.joints = None
        latched = _rosbags_qos(itf.LATCHED_QOS)
        if robot_description:
            from space_miner.sim.model import expand_urdf
            self.urdf = expand_urdf()
            self.joints = UrdfJoints(self.urdf)
            self.conns[ROBOT_DESCRIPTION_TOPIC] = self.writer.add_connection(
                self._in_namespace(ROBOT_DESCRIPTION_TOPIC), 'std_msgs/msg/String',
                typestore=self.store, offered_qos_profiles=[latched])
        self.conns[TF_STATIC_TOPIC] = self.writer.add_connection(
            self._in_namespace(TF_STATIC_TOPIC), 'tf2_msgs/msg/TFMessage',
            typestore=self.store, offered_qos_profiles=[latched])
        self.conns[TF_TOPIC] = self.writer.add_connection(
            self._in_namespace(TF_TOPIC), 'tf2_msgs/msg/TFMessage',
            typestore=self.store, offered_qos_profiles=[_rosbags_qos(itf.STATE_QOS)])
        now = time.time_ns()
        if self.urdf is not None:
            string = self.store.types['std_msgs/msg/String']
            self._write(ROBOT_DESCRIPTION_TOPIC, now, self.store.serialize_cdr(
                string(data=self.urdf), 'std_msgs/msg/String'))
        statics = [(itf.MAP_FRAME, itf.ODOM_FRAME, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))]
        if self.joints is not None:
            statics += self.joints.fixed()
        self._write(TF_STATIC_TOPIC, now, self._tf_cdr(0.0, statics))
        self.create_timer(flush_period_s, self.flush)

    def _in_namespace(self, name: str) -> str:
        """Return the robot's topic ``name`` (root-namespace) as recorded: in its namespace."""
        return itf.resolve(name.lstrip('/'), self.namespace)

    # --- writing ----------------------------------------------------------------------
    def _write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self.writer.write(self.conns[topic], stamp_ns, data)
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def _on_message(self, topic: str, data: bytes) -> None:
        stamp = time.time_ns()
        if topic in IMAGE_TOPICS and self.image_period_ns:
            last = self._last_image_ns.get(topic)
            if last is not None and stamp - last < self.image_period_ns:
                self.dropped_images += 1
                return
            self._last_image_ns[topic] = stamp
        self._write(topic, stamp, data)
        if topic == itf.JOINT_STATES.name and self.joints is not None \
                and self.tf_period_ns is not None \
                and stamp - self._last_tf_ns >= self.tf_period_ns:
            self._last_tf_ns = stamp
            self._joint_tf(stamp, data)
        elif topic == itf.ODOM.name or (
                topic == itf.GROUND_TRUTH_ODOM.name and not self._odom_seen):
            self._odom_seen = self._odom_seen or topic == itf.ODOM.name
            self._odom_tf(stamp, data)

    def _tf_cdr(self, stamp_s: float, transforms: list) -> bytes:
        t = self.store.types
        sec = int(math.floor(stamp_s))
        stamp = t['builtin_interfaces/msg/Time'](sec=sec, nanosec=int((stamp_s - sec) * 1e9))
        items = []
        for parent, child, xyz, q in transforms:
            items.append(t['geometry_msgs/msg/TransformStamped'](
                header=t['std_msgs/msg/Header'](stamp=stamp, frame_id=parent),
                child_frame_id=child,
                transform=t['geometry_msgs/msg/Transform'](
                    translation=t['geometry_msgs/msg/Vector3'](x=float(xyz[0]), y=float(xyz[1]),
                                                               z=float(xyz[2])),
                    rotation=t['geometry_msgs/msg/Quaternion'](x=float(q[0]), y=float(q[1]),
                                                               z=float(q[2]), w=float(q[3])))))
        return bytes(self.store.serialize_cdr(t['tf2_msgs/msg/TFMessage'](transforms=items),
                                              'tf2_msgs/msg/TFMessage'))

    def _joint_tf(self, stamp_ns: int, data: bytes) -> None:
        try:
            from space_miner.bag.decode import joint_state_layout
            import struct
            fields, _prefix, names = joint_state_layout(data)
            offset, count = fields['position']
            positions = np.frombuffer(data, '<f8', count, offset) if count else []
            stamp_s = struct.unpack_from('<i', data, 4)[0] + \
                struct.unpack_from('<I', data, 8)[0] * 1e-9
        except (ValueError, IndexError, struct.error):
            return
        joint_positions = dict(zip(names, positions))
        self._write(TF_TOPIC, stamp_ns, self._tf_cdr(stamp_s,
                                                     self.joints.moving(joint_positions)))

    def _odom_tf(self, stamp_ns: int, data: bytes) -> None:
        from space_miner.bag.decode import _layout_odometry
        import struct
        try:
            fields, _p = _layout_odometry(data)
            pos = np.frombuffer(data, '<f8', 3, fields['position'][0])
            quat = np.frombuffer(data, '<f8', 4, fields['quat_xyzw'][0])
            stamp_s = struct.unpack_from('<i', data, 4)[0] + \
                struct.unpack_from('<I', data, 8)[0] * 1e-9
        except (ValueError, IndexError, struct.error):
            return
        self._write(TF_TOPIC, stamp_ns, self._tf_cdr(
            stamp_s, [(itf.ODOM_FRAME, itf.BASE_FRAME, tuple(pos), tuple(quat))]))

    def flush(self) -> None:
        """Close the open chunk and hand it to the operating system (survives SIGKILL)."""
        with self._lock:
            if self._closed:
                return
            storage = self.writer.storage
            close_chunk = getattr(storage, 'close_chunk', None)
            chunk = getattr(storage, 'chunk', None)
            if close_chunk is not None and chunk is not None and chunk.bio.tell():
                close_chunk()
            bio = getattr(storage, 'bio', None)
            if bio is not None:
                bio.flush()
            conn = getattr(storage, 'conn', None)
            if conn is not None:  # sqlite3: commit what was written
                conn.commit()
            self._last_flush = time.monotonic()

    def close(self) -> None:
        """Write the index and metadata.yaml; the bag is whole afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for key, value in (('dropped_images', self.dropped_images),):
                self.writer.set_custom_data(f'space_miner.{key}', str(value))
            self.writer.close()

    def destroy_node(self) -> None:
        """Close the bag, then destroy the node."""
        self.close()
        super().destroy_node()


def main(argv: list | None = None) -> int:
    """Record until Ctrl-C: ``python -m space_miner.bag.recorder OUT [--topics ...]``."""
    parser = argparse.ArgumentParser(prog='python -m space_miner.bag.recorder',
                                     description='Record space_miner topics to rosbag2.')
    parser.add_argument('out', help='bag directory to create')
    parser.add_argument('--topics', nargs='*', default=None)
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--image-rate', type=float, default=1.0, help='depth images [Hz]')
    parser.add_argument('--namespace', default='',
                        help="the robot's namespace (default: the root namespace)")
    args = parser.parse_args(argv)
    from space_miner.nodes.run import run_node
    run_node(lambda: BagRecorder(args.out, args.topics, storage=args.storage,
                                 image_max_rate_hz=args.image_rate,
                                 namespace=args.namespace))
    return 0


if __name__ == '__main__':
    sys.exit(main())
