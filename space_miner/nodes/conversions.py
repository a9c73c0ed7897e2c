# SPDX-License-Identifier: Apache-2.0
"""Messages <-> plain numbers, for every node: the one place that knows message layouts.

Nodes stay thin: they call these to turn a message into numpy arrays for the core, and
the core's outputs back into messages. Stamps are seconds (float) on the core side.
"""

import math
from typing import Sequence

from builtin_interfaces.msg import Time
from geometry_msgs.msg import WrenchStamped
from nav_msgs.msg import Odometry
import numpy as np
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Imu, JointState
from std_msgs.msg import Float64, Float64MultiArray

DEPTH_ENCODINGS = ('32FC1', '16UC1')


def to_stamp(t_s: float) -> Time:
    """Seconds -> builtin_interfaces/Time."""
    sec = math.floor(t_s)
    nanosec = int(round((t_s - sec) * 1e9))
    if nanosec >= 1_000_000_000:
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return Time(sec=int(sec), nanosec=nanosec)


def from_stamp(stamp: Time) -> float:
    """builtin_interfaces/Time -> seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def clock_msg(t_s: float) -> Clock:
    """Build a /clock message for simulated time ``t_s``."""
    return Clock(clock=to_stamp(t_s))


def command_array(msg: Float64MultiArray, expected_len: int, lower: Sequence[float],
                  upper: Sequence[float], what: str) -> np.ndarray:
    """Check a ``*/commands`` array: length, finiteness and limits.

    Returns the values as an array; raises ValueError with a clear reason otherwise (the
    caller logs it and keeps its last safe command).
    """
    values = np.asarray(msg.data, dtype=float)
    if values.shape != (expected_len,):
        raise ValueError(f'{what}: expected {expected_len} values, got {values.size}')
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f'{what}: element {int(np.flatnonzero(bad)[0])} is not finite')
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    out = (values < lo - 1e-9) | (values > hi + 1e-9)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ValueError(f'{what}: element {i} = {values[i]:g} outside [{lo[i]:g}, {hi[i]:g}]')
    return values


def float_array_msg(values: Sequence[float]) -> Float64MultiArray:
    """Build a Float64MultiArray carrying ``values``."""
    return Float64MultiArray(data=[float(v) for v in values])


def joint_state_msg(t_s: float, names: Sequence[str], position: Sequence[float],
                    velocity: Sequence[float], effort: Sequence[float]) -> JointState:
    """Build a JointState for the given joints (positions [rad|m], velocities, efforts [N m|N])."""
    msg = JointState()
    msg.header.stamp = to_stamp(t_s)
    msg.name = list(names)
    msg.position = [float(v) for v in position]
    msg.velocity = [float(v) for v in velocity]
    msg.effort = [float(v) for v in effort]
    return msg


def joint_state_arrays(msg: JointState, names: Sequence[str]) -> tuple:
    """Pick ``names`` out of a JointState, in that order.

    Returns (stamp_s, position, velocity, effort); missing joints or values are NaN so the
    core's health checks see them.
    """
    index = {name: i for i, name in enumerate(msg.name)}
    out = []
    for field in (msg.position, msg.velocity, msg.effort):
        column = np.full(len(names), np.nan)
        for k, name in enumerate(names):
            i = index.get(name)
            if i is not None and i < len(field):
                column[k] = field[i]
        out.append(column)
    return (from_stamp(msg.header.stamp), *out)


def wrench_msg(t_s: float, frame_id: str, force: Sequence[float],
               torque: Sequence[float]) -> WrenchStamped:
    """Build a WrenchStamped [N, N m] in ``frame_id``."""
    msg = WrenchStamped()
    msg.header.stamp = to_stamp(t_s)
    msg.header.frame_id = frame_id
    msg.wrench.force.x, msg.wrench.force.y, msg.wrench.force.z = (float(v) for v in force)
    msg.wrench.torque.x, msg.wrench.torque.y, msg.wrench.torque.z = (float(v) for v in torque)
    return msg


def wrench_arrays(msg: WrenchStamped) -> tuple:
    """(stamp_s, force[3], torque[3]) of a WrenchStamped."""
    f, m = msg.wrench.force, msg.wrench.torque
    return (from_stamp(msg.header.stamp), np.array([f.x, f.y, f.z]),
            np.array([m.x, m.y, m.z]))


def imu_msg(t_s: float, frame_id: str, quat_wxyz: Sequence[float],
            gyro_rad_s: Sequence[float], accel_m_s2: Sequence[float],
            gyro_var: float = 0.0, accel_var: float = 0.0) -> Imu:
    """Build an Imu message (orientation as w,x,y,z on the core side)."""
    msg = Imu()
    msg.header.stamp = to_stamp(t_s)
    msg.header.frame_id = frame_id
    q = msg.orientation
    q.w, q.x, q.y, q.z = (float(v) for v in quat_wxyz)
    w = msg.angular_velocity
    w.x, w.y, w.z = (float(v) for v in gyro_rad_s)
    a = msg.linear_acceleration
    a.x, a.y, a.z = (float(v) for v in accel_m_s2)
    msg.angular_velocity_covariance[0::4] = [gyro_var] * 3
    msg.linear_acceleration_covariance[0::4] = [accel_var] * 3
    return msg


def imu_arrays(msg: Imu) -> tuple:
    """(stamp_s, quat_wxyz[4], gyro[3], accel[3]) of an Imu message."""
    q, w, a = msg.orientation, msg.angular_velocity, msg.linear_acceleration
    return (from_stamp(msg.header.stamp), np.array([q.w, q.x, q.y, q.z]),
            np.array([w.x, w.y, w.z]), np.array([a.x, a.y, a.z]))


def float64_msg(value: float) -> Float64:
    """Build a Float64."""
    return Float64(data=float(value))


def depth_image_msg(t_s: float, frame_id: str, depth_m: np.ndarray) -> Image:
    """Build a 32FC1 depth Image [m] from a float array (NaN where there is no return)."""
    depth = np.ascontiguousarray(depth_m, dtype=np.float32)
    msg = Image()
    msg.header.stamp = to_stamp(t_s)
    msg.header.frame_id = frame_id
    msg.height, msg.width = depth.shape
    msg.encoding = '32FC1'
    msg.is_bigendian = 0
    msg.step = 4 * msg.width
    msg.data = depth.tobytes()
    return msg


def depth_image_array(msg: Image) -> np.ndarray:
    """Convert a depth Image (32FC1 metres or 16UC1 millimetres) -> float32 metres, NaN invalid.

    Raises ValueError naming the encoding when it is neither, or when the buffer does not
    match the header.
    """
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(f'depth encoding {msg.encoding!r} not supported '
                         f'(accepted: {", ".join(DEPTH_ENCODINGS)})')
    dtype = np.dtype('<f4' if msg.encoding == '32FC1' else '<u2')
    if msg.is_bigendian:
        dtype = dtype.newbyteorder('>')
    row = msg.width * dtype.itemsize
    if msg.step < row or len(msg.data) < msg.step * msg.height:
        raise ValueError(f'depth image {msg.width}x{msg.height}: {len(msg.data)} bytes '
                         f'do not fit step {msg.step}')
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8, count=msg.step * msg.height)
    rows = raw.reshape(msg.height, msg.step)[:, :row]
    image = np.ascontiguousarray(rows).view(dtype).reshape(msg.height, msg.width)
    if msg.encoding == '16UC1':
        metres = image.astype(np.float32) * 1e-3
        metres[image == 0] = np.nan
        return metres
    metres = image.astype(np.float32)
    metres[~np.isfinite(metres) | (metres <= 0.0)] = np.nan
    return metres


def camera_info_msg(t_s: float, frame_id: str, width: int, height: int,
                    k: np.ndarray) -> CameraInfo:
    """Build a CameraInfo for a pinhole camera without distortion (``k`` is the 3x3 matrix)."""
    msg = CameraInfo()
    msg.header.stamp = to_stamp(t_s)
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in np.asarray(k, dtype=float).reshape(9)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    p = np.zeros((3, 4))
    p[:, :3] = np.asarray(k, dtype=float).reshape(3, 3)
    msg.p = [float(v) for v in p.reshape(12)]
    return msg


def odometry_msg(t_s: float, frame_id: str, child_frame_id: str, position: Sequence[float],
                 quat_wxyz: Sequence[float], linear: Sequence[float],
                 angular: Sequence[float], pose_cov: np.ndarray | None = None,
                 twist_cov: np.ndarray | None = None) -> Odometry:
    """Build an Odometry (covariances 6x6 in ROS order x, y, z, rx, ry, rz)."""
    msg = Odometry()
    msg.header.stamp = to_stamp(t_s)
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    p = msg.pose.pose.position
    p.x, p.y, p.z = (float(v) for v in position)
    q = msg.pose.pose.orientation
    q.w, q.x, q.y, q.z = (float(v) for v in quat_wxyz)
    v = msg.twist.twist.linear
    v.x, v.y, v.z = (float(x) for x in linear)
    w = msg.twist.twist.angular
    w.x, w.y, w.z = (float(x) for x in angular)
    if pose_cov is not None:
        msg.pose.covariance = [float(x) for x in np.asarray(pose_cov).reshape(36)]
    if twist_cov is not None:
        msg.twist.covariance = [float(x) for x in np.asarray(twist_cov).reshape(36)]
    return msg


def odometry_arrays(msg: Odometry) -> tuple:
    """(stamp_s, position[3], quat_wxyz[4], linear[3], angular[3], pose_cov 6x6)."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    v, w = msg.twist.twist.linear, msg.twist.twist.angular
    return (from_stamp(msg.header.stamp), np.array([p.x, p.y, p.z]),
            np.array([q.w, q.x, q.y, q.z]), np.array([v.x, v.y, v.z]),
            np.array([w.x, w.y, w.z]), np.asarray(msg.pose.covariance).reshape(6, 6))
