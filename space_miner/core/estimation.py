# SPDX-License-Identifier: Apache-2.0
"""State estimation: base_link's pose and twist in odom, from legs, wheels and the IMU.

An error-state extended Kalman filter on numpy. The nominal state is

* ``p``: base_link position in odom [m],
* ``q``: base_link orientation in odom, a (w, x, y, z) quaternion (R maps base_link to odom),
* ``v``: base_link velocity in odom [m/s],
* ``b``: gyro bias [rad/s],
* ``phi``: the error of the IMU orientation's reference frame (see below) [rad],
* ``a_c``: for each anchored claw ``c``, its foot point in odom [m].

The error state has 15 + 3 x 3 = 24 components, in that order; the attitude error is a
rotation vector in base_link (``R_true = R Exp(dtheta)``). An anchor (or the IMU reference)
not in use has its rows and columns of the covariance zeroed: it carries no information.

Fusion:

* IMU: the gyro drives the prediction (zero-order hold of the last sample); the IMU's own
  orientation, when it gives one, is fused relative to its first sample after a reset (the
  IMU's reference frame is unknown in odom: its alignment is taken from that sample and
  carried in the state with its uncertainty, and may drift slowly). The accelerometer is
  used only where the local gravity is strong enough (``level_min_gravity_m_s2``): there
  it drives the velocity (``v' = R f - g z``, so that a tilted estimate shows as velocity
  the legs and wheels contradict) and a sample whose magnitude is g levels directly.
* Leg kinematics: when a claw is reported gripped its foot point is added to the state with
  the covariance of the current pose (state augmentation, so anchoring adds no information);
  afterwards the foot point measured by the joint encoders, ``R^T (a_c - p)``, is an update.
  An anchor whose residual fails a Mahalanobis gate is dropped; while still reported gripped
  it re-anchors after ``reanchor_delay_s``. When every anchor fails at once the body, not
  the claws, is taken to have moved (a push): if one displacement of the body explains
  every anchor (each checked against the others), the position covariance is widened by it
  and the update made; otherwise the update waits while the covariance grows.
* Wheel odometry: each wheel in contact measures its centre's velocity over the ground, in
  base_link: wheel speed x radius along its rolling direction, zero along its axle and along
  base_link z. The axle is the leg's y axis after the coxa yaw; a positive speed (right-hand
  about +y, the ground below) rolls the wheel along the leg's +x, radially outwards. The
  legs' own motion (joint velocities) is taken out. Wheels are fused one at a time, the most
  consistent first, so that a wheel failing its gate against the velocity the others give
  (a stall, a skid) is refused and counted.

Inputs are validated before they touch the state: a non-finite value, a stamp that is not
after the same input's previous one, one older than the filter by more than
``stale_timeout_s`` or one too far ahead are refused, counted and reported; the state is
left exactly as it was. A stamp a little behind the filter (within ``stale_timeout_s``, as
two sensor streams interleave) is applied at the filter's time. Time is always passed in
explicitly: the filter is deterministic.

Outputs are for nav_msgs/Odometry: the pose in odom with a 6x6 covariance (x, y, z, then
rotations about odom's x, y, z), the twist in base_link (the child frame) with its 6x6
covariance, and a health record for /diagnostics.
"""

from dataclasses import dataclass, field
import enum
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from transforms3d import axangles, euler, quaternions

from space_miner.core.kinematics import LegKinematics
from space_miner.core.robot import ConfigError, read_yaml, RobotConfig
from space_miner.interfaces import ALL_JOINTS, CLAW_LEGS, LEG_JOINTS, LEG_ORDER, WHEEL_LEGS

NODE_NAME = 'state_estimator'

# --- parameters ----------------------------------------------------------------------------

#: Every parameter: (type, lower bound, upper bound, description with units). The bounds are
#: inclusive; the node declares its parameters with them. Defaults live in the yaml only.
PARAM_SPECS: Mapping[str, tuple] = {
    'publish_rate_hz': (float, 0.1, 1000.0, 'rate of /odom and the transform [Hz]'),
    'initial_x_m': (float, -1e4, 1e4, 'start position x in odom [m]'),
    'initial_y_m': (float, -1e4, 1e4, 'start position y in odom [m]'),
    'initial_yaw_rad': (float, -math.pi, math.pi, 'start heading in odom [rad]'),
    'diagnostics_rate_hz': (float, 0.01, 100.0, 'rate of /diagnostics [Hz]'),
    'imu_rate_hz': (float, 1.0, 10000.0, 'nominal IMU rate [Hz]'),
    'stale_timeout_s': (float, 0.0, 10.0, 'an input older than the filter by this is stale [s]'),
    'max_time_jump_s': (float, 0.001, 3600.0, 'an input further ahead is refused [s]'),
    'input_timeout_s': (float, 0.001, 60.0, 'no IMU or joint input this long: stale [s]'),
    'degraded_hold_s': (float, 0.0, 60.0, 'a rejection keeps the status degraded [s]'),
    'max_predict_step_s': (float, 1e-4, 1.0, 'longest single prediction step [s]'),
    'initial_position_std_m': (float, 0.0, 100.0, 'position std at reset [m]'),
    'initial_orientation_std_rad': (float, 0.0, 3.2, 'orientation std at reset [rad]'),
    'initial_velocity_std_m_s': (float, 0.0, 10.0, 'velocity std at reset [m/s]'),
    'gyro_noise_std_rad_s': (float, 0.0, 1.0, 'gyro noise per sample [rad/s]'),
    'gyro_bias_initial_std_rad_s': (float, 0.0, 1.0, 'gyro bias std at reset [rad/s]'),
    'gyro_bias_random_walk_rad_s_sqrt_s': (float, 0.0, 1.0,
                                           'gyro bias random walk [rad/s/sqrt(s)]'),
    'gyro_missing_std_rad_s_sqrt_s': (float, 0.0, 10.0,
                                      'attitude random walk without gyro [rad/s/sqrt(s)]'),
    'use_imu_orientation': (bool, None, None, 'fuse the IMU orientation when given'),
    'imu_orientation_std_rad': (float, 1e-6, 3.2, 'IMU orientation std [rad]'),
    'imu_orientation_gate_chi2': (float, 0.1, 1e6, 'gate of the IMU orientation (3 dof)'),
    'imu_orientation_drift_rad_sqrt_s': (float, 0.0, 1.0,
                                         'drift of the IMU reference frame [rad/sqrt(s)]'),
    'gravity_m_s2': (float, 0.0, 100.0, 'local effective gravity [m/s^2]'),
    'level_min_gravity_m_s2': (float, 0.0, 100.0,
                               'least gravity to use the accelerometer at all [m/s^2]'),
    'level_static_tolerance_m_s2': (float, 0.0, 100.0,
                                    'largest | |a| - g | to level with [m/s^2]'),
    'level_std_rad': (float, 1e-6, 3.2, 'std of the measured gravity direction [rad]'),
    'level_gate_chi2': (float, 0.1, 1e6, 'gate of the levelling (3 dof)'),
    'accel_random_walk_m_s2_sqrt_s': (float, 1e-6, 100.0,
                                      'velocity random walk [m/s^2/sqrt(Hz)]'),
    'inertial_accel_noise_m_s2_sqrt_s': (float, 1e-6, 100.0,
                                         'velocity random walk, accelerometer-driven '
                                         '[m/s^2/sqrt(Hz)]'),
    'anchor_random_walk_m_sqrt_s': (float, 0.0, 1.0, 'anchor random walk [m/sqrt(s)]'),
    'joint_position_noise_std_rad': (float, 0.0, 1.0, 'joint encoder noise [rad]'),
    'foot_position_noise_std_m': (float, 1e-6, 1.0, 'foot point model error [m]'),
    'anchor_gate_chi2': (float, 0.1, 1e6, 'gate of an anchor (3 dof)'),
    'reanchor_delay_s': (float, 0.0, 60.0, 'wait before re-anchoring a dropped claw [s]'),
    'stance_settle_s': (float, 0.0, 10.0, 'a walking stance leg is used after this [s]'),
    'min_anchors': (int, 0, 3, 'fewer anchors and no wheel odometry: degraded'),
    'wheel_rolling_radius_fraction': (float, 0.5, 1.0,
                                      'radius a loaded tyre rolls on / its radius'),
    'wheel_speed_noise_std_rad_s': (float, 0.0, 100.0, 'wheel speed noise [rad/s]'),
    'wheel_rolling_slip_std_m_s': (float, 1e-6, 10.0, 'rolling slip std [m/s]'),
    'wheel_lateral_std_m_s': (float, 1e-6, 10.0, 'side slip std [m/s]'),
    'wheel_vertical_std_m_s': (float, 1e-6, 10.0, 'vertical velocity std [m/s]'),
    'wheel_gate_chi2': (float, 0.1, 1e6, 'gate of a wheel (3 dof)'),
}


@dataclass(frozen=True)
class EstimatorParams:
    """A frozen snapshot of the state estimator's parameters (``config/state_estimator.yaml``).

    Units are in the names; :data:`PARAM_SPECS` gives each one's range and meaning.
    """

    publish_rate_hz: float
    initial_x_m: float
    initial_y_m: float
    initial_yaw_rad: float
    diagnostics_rate_hz: float
    imu_rate_hz: float
    stale_timeout_s: float
    max_time_jump_s: float
    input_timeout_s: float
    degraded_hold_s: float
    max_predict_step_s: float
    initial_position_std_m: float
    initial_orientation_std_rad: float
    initial_velocity_std_m_s: float
    gyro_noise_std_rad_s: float
    gyro_bias_initial_std_rad_s: float
    gyro_bias_random_walk_rad_s_sqrt_s: float
    gyro_missing_std_rad_s_sqrt_s: float
    use_imu_orientation: bool
    imu_orientation_std_rad: float
    imu_orientation_gate_chi2: float
    imu_orientation_drift_rad_sqrt_s: float
    gravity_m_s2: float
    level_min_gravity_m_s2: float
    level_static_tolerance_m_s2: float
    level_std_rad: float
    level_gate_chi2: float
    accel_random_walk_m_s2_sqrt_s: float
    inertial_accel_noise_m_s2_sqrt_s: float
    anchor_random_walk_m_sqrt_s: float
    joint_position_noise_std_rad: float
    foot_position_noise_std_m: float
    anchor_gate_chi2: float
    reanchor_delay_s: float
    stance_settle_s: float
    min_anchors: int
    wheel_rolling_radius_fraction: float
    wheel_speed_noise_std_rad_s: float
    wheel_rolling_slip_std_m_s: float
    wheel_lateral_std_m_s: float
    wheel_vertical_std_m_s: float
    wheel_gate_chi2: float


def parse_estimator_params(values: Mapping[str, Any],
                           source: str = 'state_estimator.yaml') -> EstimatorParams:
    """Check a ``ros__parameters`` mapping and build :class:`EstimatorParams`.

    Every key of :data:`PARAM_SPECS` must be present, with the right type and within its
    range; an unknown key is refused too. Errors are :class:`ConfigError` naming the key.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f'{NODE_NAME}.ros__parameters', values, 'must be a mapping', source)
    prefix = f'{NODE_NAME}.ros__parameters'
    for key in values:
        if key not in PARAM_SPECS:
            raise ConfigError(f'{prefix}.{key}', values[key], 'unknown parameter', source)
    out = {}
    for key, (kind, lower, upper, _) in PARAM_SPECS.items():
        name = f'{prefix}.{key}'
        if key not in values:
            raise ConfigError(name, None, 'missing key', source)
        value = values[key]
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(name, value, 'must be true or false', source)
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(name, value, 'must be a number', source)
        if kind is int and not isinstance(value, int):
            raise ConfigError(name, value, 'must be an integer', source)
        if not math.isfinite(value):
            raise ConfigError(name, value, 'must be finite', source)
        if value < lower or value > upper:
            raise ConfigError(name, value, f'must lie in [{lower:g}, {upper:g}]', source)
        out[key] = kind(value)
    return EstimatorParams(**out)


def load_estimator_params(path: str | Path | None = None) -> EstimatorParams:
    """Load and check ``config/state_estimator.yaml`` (or the ROS parameter file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('state_estimator.yaml')
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get(NODE_NAME), Mapping):
        raise ConfigError(NODE_NAME, None, 'missing key', str(path))
    node = data[NODE_NAME]
    if 'ros__parameters' not in node:
        raise ConfigError(f'{NODE_NAME}.ros__parameters', None, 'missing key', str(path))
    return parse_estimator_params(node['ros__parameters'], str(path))


# --- inputs and outputs ---------------------------------------------------------------------

@dataclass(frozen=True)
class ImuSample:
    """The content of one sensor_msgs/Imu message, in imu_link (aligned with base_link).

    ``orientation_wxyz`` is ``None`` when the IMU gives no orientation (its covariance's
    first element is -1 in the message).
    """

    stamp_s: float
    orientation_wxyz: Sequence[float] | None
    angular_velocity_rad_s: Sequence[float]
    linear_acceleration_m_s2: Sequence[float]


class HealthStatus(enum.Enum):
    """Overall health of the estimate; :attr:`diagnostic_level` is the DiagnosticStatus level."""

    OK = 'ok'
    DEGRADED = 'degraded'
    STALE = 'stale'

    @property
    def diagnostic_level(self) -> int:
        """diagnostic_msgs/DiagnosticStatus level: OK 0, WARN 1, STALE 3."""
        return {'ok': 0, 'degraded': 1, 'stale': 3}[self.value]


#: Inputs whose samples can be refused as a whole (not finite, stale, backwards, malformed).
INPUTS = ('imu', 'joints', 'wheels', 'clock')
#: Measurements that can fail their innovation gate.
GATED = CLAW_LEGS + WHEEL_LEGS + ('imu_orientation', 'level')


@dataclass(frozen=True)
class EstimatorHealth:
    """The filter's health, for /diagnostics.

    ``rejected``: inputs refused per input (:data:`INPUTS`); ``gated``: measurements refused
    by their innovation gate (:data:`GATED`: a slipping claw, a stalled wheel); ``anchors``:
    claws in use as fixed points; ``anchors_dropped``: anchors dropped by the gate so far.
    """

    status: HealthStatus
    rejected: Mapping[str, int]
    gated: Mapping[str, int]
    anchors: tuple
    anchors_dropped: int
    last_reason: str
    last_reason_stamp_s: float | None

    def key_values(self) -> list:
        """(key, value) string pairs for a DiagnosticStatus."""
        pairs = [('status', self.status.value), ('anchors', ','.join(self.anchors) or '-'),
                 ('anchors_dropped', str(self.anchors_dropped))]
        pairs += [(f'rejected_{k}', str(v)) for k, v in self.rejected.items()]
        pairs += [(f'gated_{k}', str(v)) for k, v in self.gated.items()]
        pairs.append(('last_reason', self.last_reason))
        return pairs


@dataclass(frozen=True)
class Estimate:
    """The estimate at ``stamp_s``, ready for nav_msgs/Odometry (frame odom, child base_link).

    ``position_m`` and ``orientation_wxyz`` are base_link in odom; ``linear_velocity_m_s``
    and ``angular_velocity_rad_s`` are expressed in base_link, as Odometry's twist is.
    ``pose_covariance`` (x, y, z, rotation about odom's x, y, z) and ``twist_covariance``
    (in base_link) are 6x6 [m, rad, m/s, rad/s]. ``stamp_s`` is ``nan`` before any input.
    """

    stamp_s: float
    position_m: np.ndarray
    orientation_wxyz: np.ndarray
    linear_velocity_m_s: np.ndarray
    angular_velocity_rad_s: np.ndarray
    pose_covariance: np.ndarray
    twist_covariance: np.ndarray
    health: EstimatorHealth
    velocity_odom_m_s: np.ndarray = field(default_factory=lambda: np.zeros(3))


# --- maths helpers ---------------------------------------------------------------------------

_P, _TH, _V, _B, _PHI = slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 12), slice(12, 15)
_CORE = 15
_N = _CORE + 3 * len(CLAW_LEGS)
_Z = np.array([0.0, 0.0, 1.0])


_EYE_N = np.eye(_N)
_EYE_CORE = np.eye(_CORE)   # copied, never changed
_EYE3 = np.eye(3)           # never changed
_NEG_EYE3 = -np.eye(3)      # never changed
_DIAG3 = np.arange(3)
_DIAG = np.arange(_N)
_PV_ROWS = np.array([0, 1, 2, 6, 7, 8])
_PV_COLS = np.array([6, 7, 8, 0, 1, 2])


def _anchor_slice(k: int) -> slice:
    return slice(_CORE + 3 * k, _CORE + 3 * k + 3)


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # np.cross is ~20x slower on 3-vectors.
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])


def _quat_exp(rotvec: np.ndarray) -> np.ndarray:
    """Quaternion of a rotation vector [rad] (transforms3d, with a small-angle guard)."""
    angle = math.sqrt(float(rotvec.dot(rotvec)))   # np.linalg.norm's own sum, less overhead
    if angle < 1e-12:
        return np.array([1.0, 0.5 * rotvec[0], 0.5 * rotvec[1], 0.5 * rotvec[2]])
    return quaternions.axangle2quat(rotvec / angle, angle, is_normalized=True)


def quat_log(quat_wxyz: Sequence[float]) -> np.ndarray:
    """Rotation vector [rad] of a (w, x, y, z) quaternion, angle within [0, pi]."""
    q = np.asarray(quat_wxyz, dtype=float)
    if q[0] < 0.0:
        q = -q
    vec = q[1:]
    s = float(np.linalg.norm(vec))
    if s < 1e-12:
        return 2.0 * vec
    angle, axis = 2.0 * math.atan2(s, q[0]), vec / s
    return axis * angle


def _finite(values: Any, size: int | None = None) -> np.ndarray | None:
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    if size is not None and arr.size != size:
        return None
    if not np.isfinite(arr).all():
        return None
    return arr


class _Rejected(Exception):
    """An input is refused; the message says why."""


# --- the filter --------------------------------------------------------------------------------

class StateEstimator:
    """Error-state EKF of base_link's pose and twist in odom (see the module docstring).

    Feed it in time order with :meth:`update_imu`, :meth:`update_joints` and
    :meth:`update_wheels` (each predicts up to its own stamp first), optionally
    :meth:`predict` from a clock; read :meth:`estimate`. Nothing here blocks or reads a clock.
    """

    def __init__(self, params: EstimatorParams, robot_cfg: RobotConfig) -> None:
        self.params = params
        self.robot = robot_cfg
        self.legs = {leg: LegKinematics(robot_cfg, leg) for leg in LEG_ORDER}
        # the radius the loaded tyre rolls on (it sinks into the ground a little)
        self.wheel_radius_m = robot_cfg.wheel.radius_m * params.wheel_rolling_radius_fraction
        self._leg_slices = {leg: slice(3 * i, 3 * i + 3) for i, leg in enumerate(LEG_ORDER)}
        self._rejected = {k: 0 for k in INPUTS}
        self._gated = {k: 0 for k in GATED}
        self._anchors_dropped = 0
        self._last_reason = ''
        self._last_reason_t: float | None = None
        self.reset((params.initial_x_m, params.initial_y_m, 0.0),
                   euler.euler2quat(0.0, 0.0, params.initial_yaw_rad))

    # --- set-up ------------------------------------------------------------------------------
    def reset(self, position_m: Sequence[float] = (0.0, 0.0, 0.0),
              orientation_wxyz: Sequence[float] = (1.0, 0.0, 0.0, 0.0),
              t_s: float | None = None) -> None:
        """Restart at a pose in odom [m, (w, x, y, z)], at ``t_s`` [s] or at the next input.

        The pose covariance goes back to its initial figures, anchors are forgotten and the
        IMU orientation is re-referenced; the health counters are kept.
        """
        p = _finite(position_m, 3)
        q = _finite(orientation_wxyz, 4)
        if p is None or q is None or np.linalg.norm(q) < 1e-9:
            raise ValueError(f'reset pose must be finite: {position_m!r}, {orientation_wxyz!r}')
        pr = self.params
        self.p = p.copy()
        self.q = q / np.linalg.norm(q)
        self.v = np.zeros(3)
        self.b = np.zeros(3)
        self.anchor_odom = np.zeros((len(CLAW_LEGS), 3))
        self.anchor_active = [False] * len(CLAW_LEGS)
        self._reanchor_at = [None] * len(CLAW_LEGS)
        self.P = np.zeros((_N, _N))
        diag = np.zeros(_CORE)
        diag[_P] = pr.initial_position_std_m ** 2
        diag[_TH] = pr.initial_orientation_std_rad ** 2
        diag[_V] = pr.initial_velocity_std_m_s ** 2
        diag[_B] = pr.gyro_bias_initial_std_rad_s ** 2
        diag[_PHI] = 0.0
        self.P[:_CORE, :_CORE] = np.diag(diag)
        self.t_s = None if t_s is None else float(t_s)
        self._last_stamp = {k: None for k in INPUTS}
        self._last_accept = {k: None for k in INPUTS}
        self._gyro = None            # last gyro sample [rad/s]
        self._gyro_t = None
        self._accel = None           # last accelerometer sample (specific force) [m/s^2]
        self._imu_ref = None         # odom <- IMU reference frame, from the first orientation
        self._q_legs = None          # last finite leg joint angles, LEG_JOINTS order
        self._last_wheel_ok_t = None
        self._q_diag = np.zeros(_N)
        self._rot_key = None         # quaternion bytes of the cached rotation matrix
        self._rot = None
        self._stance_since: dict = {}  # walking leg -> when it entered its stance [s]

    def _rotation(self) -> np.ndarray:
        """Rotation matrix of ``self.q`` (cached while ``q`` is unchanged; do not modify)."""
        key = self.q.tobytes()
        if key != self._rot_key:
            self._rot_key = key
            self._rot = quaternions.quat2mat(self.q)
        return self._rot

    # --- reporting -----------------------------------------------------------------------------
    def _report(self, reason: str) -> None:
        self._last_reason = reason
        self._last_reason_t = self.t_s

    def _refuse(self, stream: str, reason: str) -> None:
        self._rejected[stream] += 1
        self._report(f'{stream}: {reason}')

    def _gate_fail(self, name: str, reason: str) -> None:
        self._gated[name] += 1
        self._report(reason)

    # --- time --------------------------------------------------------------------------------
    def _admit(self, stream: str, t_s: Any) -> float:
        """Check a stamp and predict up to it; raise :class:`_Rejected` with the reason."""
        try:
            t = float(t_s)
        except (TypeError, ValueError):
            raise _Rejected(f'stamp {t_s!r} is not a number') from None
        if not math.isfinite(t):
            raise _Rejected(f'stamp {t} is not finite')
        if self.t_s is not None:
            if t < self.t_s - self.params.stale_timeout_s:
                raise _Rejected(f'stale: stamp {t:.6f} s is {self.t_s - t:.3f} s behind the '
                                f'filter (limit {self.params.stale_timeout_s:g} s)')
            if t > self.t_s + self.params.max_time_jump_s:
                raise _Rejected(f'stamp {t:.6f} s jumps {t - self.t_s:.3f} s ahead of the '
                                f'filter (limit {self.params.max_time_jump_s:g} s)')
        last = self._last_stamp[stream]
        if last is not None and t <= last:
            raise _Rejected(f'stamp {t:.6f} s is not after the previous {last:.6f} s')
        return t

    def _commit(self, stream: str, t: float) -> None:
        self._last_stamp[stream] = t
        self._last_accept[stream] = t
        if self.t_s is None:
            self.t_s = t
        elif t > self.t_s:
            self._propagate(t)

    def predict(self, t_s: float) -> bool:
        """Advance the filter to ``t_s`` [s] with the last gyro sample; False if refused.

        A clock is trusted to move time forward by any amount (taken in steps of at most
        ``max_predict_step_s``: the covariance grows). A time up to ``stale_timeout_s``
        before the filter's (a clock a little behind the sensors' stamps) changes nothing;
        further back it is refused and reported.
        """
        try:
            t = float(t_s)
        except (TypeError, ValueError):
            t = math.nan
        if not math.isfinite(t):
            self._refuse('clock', f'time {t_s!r} is not finite')
            return False
        if self.t_s is None:
            self.t_s = t
            return True
        if t < self.t_s - self.params.stale_timeout_s:
            self._refuse('clock', f'time {t:.6f} s is before the filter\'s {self.t_s:.6f} s')
            return False
        self._propagate(t)
        return True

    def _propagate(self, t: float) -> None:
        pr = self.params
        while self.t_s < t:
            gap = t - self.t_s
            dt = min(gap, pr.max_predict_step_s)
            if gap > pr.max_time_jump_s and not self._gyro_fresh():
                dt = gap   # a long silence, the gyro stale: one coarse step
            self._predict_step(dt)
            self.t_s = t if dt >= gap else self.t_s + dt

    def _gyro_fresh(self) -> bool:
        return (self._gyro is not None and self.t_s is not None
                and self.t_s - self._gyro_t <= self.params.input_timeout_s)

    def _predict_step(self, dt: float) -> None:
        pr = self.params
        fresh = self._gyro_fresh()
        omega = self._gyro - self.b if fresh else np.zeros(3)
        # nominal state: where gravity levels, the accelerometer drives the velocity
        # (f: the specific force in base_link, held since its sample like the gyro's)
        inertial = fresh and self._accel is not None and self._levels()
        if inertial:
            rot = self._rotation()
            rot_skew_f = rot @ _skew(self._accel)
            acc = rot @ self._accel
            acc[2] -= pr.gravity_m_s2
            self.p = self.p + self.v * dt + 0.5 * dt * dt * acc
            self.v = self.v + acc * dt
        else:
            self.p = self.p + self.v * dt
        self.q = quaternions.qmult(self.q, _quat_exp(omega * dt))
        self.q /= math.sqrt(float(self.q @ self.q))
        # error state: F on the core rows/columns, identity on the anchors
        F = _EYE_CORE.copy()
        F[0, 6] = F[1, 7] = F[2, 8] = dt
        angle = math.sqrt(float(omega @ omega)) * dt
        if angle > 1e-12:
            F[_TH, _TH] = axangles.axangle2mat(omega, -angle)
        if fresh:
            F[3, 9] = F[4, 10] = F[5, 11] = -dt
        if inertial:
            F[_V, _TH] = -rot_skew_f * dt
            F[_P, _TH] = -0.5 * dt * dt * rot_skew_f
        P = self.P
        P[:_CORE, :] = F @ P[:_CORE, :]
        P[:, :_CORE] = P[:, :_CORE] @ F.T
        # process noise: diagonal, plus the position-velocity cross terms
        qa = (pr.inertial_accel_noise_m_s2_sqrt_s if inertial
              else pr.accel_random_walk_m_s2_sqrt_s) ** 2
        qth = (pr.gyro_noise_std_rad_s ** 2 / pr.imu_rate_hz if fresh
               else pr.gyro_missing_std_rad_s_sqrt_s ** 2)
        diag = self._q_diag
        diag[0:3] = qa * dt ** 3 / 3.0
        diag[3:6] = qth * dt
        diag[6:9] = qa * dt
        diag[9:12] = pr.gyro_bias_random_walk_rad_s_sqrt_s ** 2 * dt
        diag[12:15] = (pr.imu_orientation_drift_rad_sqrt_s ** 2 * dt
                       if self._imu_ref is not None else 0.0)
        qan = pr.anchor_random_walk_m_sqrt_s ** 2 * dt
        for k, active in enumerate(self.anchor_active):
            diag[_anchor_slice(k)] = qan if active else 0.0
        P[_DIAG, _DIAG] += diag
        P[_PV_ROWS, _PV_COLS] += qa * dt ** 2 / 2.0

    # --- the Kalman update ---------------------------------------------------------------------
    def _correct(self, H: np.ndarray, y: np.ndarray, R: np.ndarray,
                 PHt: np.ndarray | None = None, S: np.ndarray | None = None) -> bool:
        """Apply one update (Joseph form); False, and no change, if it fails numerically."""
        P = self.P
        if PHt is None or S is None:
            PHt = P @ H.T
            S = H @ PHt + R
        try:
            K = np.linalg.solve(S, PHt.T).T
        except np.linalg.LinAlgError:
            self._report('update skipped: singular innovation covariance')
            return False
        dx = K @ y
        IKH = _EYE_N - K @ H
        P_new = IKH @ P @ IKH.T + K @ R @ K.T
        P_new = 0.5 * (P_new + P_new.T)
        if not (np.isfinite(dx).all() and np.isfinite(P_new).all()):
            self._report('update skipped: not finite')
            return False
        self.P = P_new
        self._inject(dx)
        return True

    def _inject(self, dx: np.ndarray) -> None:
        self.p = self.p + dx[_P]
        self.q = quaternions.qmult(self.q, _quat_exp(dx[_TH]))
        self.q /= math.sqrt(float(self.q.dot(self.q)))   # = np.linalg.norm(self.q)
        self.v = self.v + dx[_V]
        self.b = self.b + dx[_B]
        if self._imu_ref is not None:
            self._imu_ref = quaternions.qmult(self._imu_ref, _quat_exp(dx[_PHI]))
            self._imu_ref /= np.linalg.norm(self._imu_ref)
        for k, active in enumerate(self.anchor_active):
            if active:
                self.anchor_odom[k] += dx[_anchor_slice(k)]

    def _nis(self, H: np.ndarray, y: np.ndarray, R: np.ndarray) -> float:
        S = H @ self.P @ H.T + R
        try:
            return float(y @ np.linalg.solve(S, y))
        except np.linalg.LinAlgError:
            return math.inf

    # --- IMU -----------------------------------------------------------------------------------
    def update_imu(self, sample: ImuSample) -> bool:
        """Fuse one IMU sample: gyro for prediction, orientation and levelling as updates.

        Returns False (the state untouched, the refusal counted and reported) when the
        sample is not finite, stale, not after the previous one or too far ahead.
        """
        gyro = _finite(getattr(sample, 'angular_velocity_rad_s', None), 3)
        acc = _finite(getattr(sample, 'linear_acceleration_m_s2', None), 3)
        quat = None
        raw_q = getattr(sample, 'orientation_wxyz', None)
        if raw_q is not None:
            quat = _finite(raw_q, 4)
            if quat is None or np.linalg.norm(quat) < 1e-6:
                self._refuse('imu', f'orientation {raw_q!r} is not a finite quaternion')
                return False
        if gyro is None or acc is None:
            self._refuse('imu', 'angular velocity or linear acceleration is not finite')
            return False
        try:
            t = self._admit('imu', getattr(sample, 'stamp_s', None))
        except _Rejected as why:
            self._refuse('imu', str(why))
            return False
        self._commit('imu', t)
        self._gyro = gyro
        self._gyro_t = t
        self._accel = acc
        if quat is not None and self.params.use_imu_orientation:
            self._update_imu_orientation(quat / np.linalg.norm(quat))
        self._update_level(acc)
        return True

    def _update_imu_orientation(self, quat: np.ndarray) -> None:
        R = np.eye(3) * self.params.imu_orientation_std_rad ** 2
        rot_m = quaternions.quat2mat(quat)
        if self._imu_ref is None:
            # odom <- IMU reference, so that this first sample agrees with the estimate; its
            # error (the pose's and this sample's) enters the state: dphi = R_m (dtheta + n).
            self._imu_ref = quaternions.qmult(self.q, quaternions.qinverse(quat))
            P = self.P
            cross = rot_m @ P[_TH, :]
            P[_PHI, :] = cross
            P[:, _PHI] = cross.T
            P[_PHI, _PHI] = rot_m @ (P[_TH, _TH] + R) @ rot_m.T
            return
        pred_inv = quaternions.qinverse(self.q)
        y = quat_log(quaternions.qmult(pred_inv, quaternions.qmult(self._imu_ref, quat)))
        H = np.zeros((3, _N))
        H[:, _TH] = np.eye(3)
        H[:, _PHI] = -rot_m.T
        if self._nis(H, y, R) > self.params.imu_orientation_gate_chi2:
            self._gate_fail('imu_orientation', 'IMU orientation disagrees with the estimate '
                            f'by {math.degrees(float(np.linalg.norm(y))):.2f} deg')
            return
        self._correct(H, y, R)

    def settled_stance(self, t_s: float, walking_stance: Sequence[str]) -> tuple:
        """Return the legs of ``walking_stance`` that have stood in it ``stance_settle_s``.

        A walking leg enters its stance phase by the gait's schedule before its foot has
        come to rest: for about a tenth of a second it is still touching down (on the Moon
        in the simulator a tyre sinks 6 mm and moves 6 mm forward in that time). Taken as a
        fixed point then, it reads as the body rising and pitching; so a stance leg is used
        only once it has settled, ``t_s`` [s] having come that long after it entered.
        """
        since = {leg: self._stance_since.get(leg, t_s) for leg in walking_stance}
        self._stance_since = since
        return tuple(leg for leg, t0 in since.items()
                     if t_s - t0 >= self.params.stance_settle_s)

    def _levels(self) -> bool:
        """Whether gravity is strong enough here to level with (``level_min_gravity_m_s2``)."""
        pr = self.params
        return pr.gravity_m_s2 >= pr.level_min_gravity_m_s2 and pr.gravity_m_s2 > 0.0

    def _update_level(self, acc: np.ndarray) -> None:
        pr = self.params
        if not self._levels():
            return
        norm = float(np.linalg.norm(acc))
        if abs(norm - pr.gravity_m_s2) > pr.level_static_tolerance_m_s2 or norm <= 0.0:
            return
        up_body = self._rotation().T @ _Z
        y = acc / norm - up_body
        H = np.zeros((3, _N))
        H[:, _TH] = _skew(up_body)
        R = np.eye(3) * pr.level_std_rad ** 2
        if self._nis(H, y, R) > pr.level_gate_chi2:
            self._gate_fail('level', 'accelerometer disagrees with the estimated level')
            return
        self._correct(H, y, R)

    # --- legs --------------------------------------------------------------------------------
    def _legs_from(self, q: Any) -> np.ndarray:
        """Leg joint angles in LEG_JOINTS order; NaN where a joint is missing or not finite."""
        out = np.full(len(LEG_JOINTS), math.nan)
        if isinstance(q, Mapping):
            for i, name in enumerate(LEG_JOINTS):
                value = q.get(name)
                try:
                    out[i] = float(value)
                except (TypeError, ValueError):
                    pass
            return out
        try:
            arr = np.asarray(q, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise _Rejected(f'joint positions {q!r} are not numbers') from None
        if arr.size == len(LEG_JOINTS):
            out[:] = arr
        elif arr.size == len(ALL_JOINTS):
            out[:] = arr[:len(LEG_JOINTS)]
        else:
            raise _Rejected(f'{arr.size} joint positions: expected {len(LEG_JOINTS)} '
                            f'(LEG_JOINTS) or {len(ALL_JOINTS)} (ALL_JOINTS)')
        out[~np.isfinite(out)] = math.nan
        return out

    def _foot_measurement(self, leg: str, q3: np.ndarray) -> tuple:
        """Foot point in base_link [m] and its covariance [m^2] from three joint angles."""
        kin = self.legs[leg]
        foot = kin.fk(q3)
        jac = kin.jacobian(q3)
        pr = self.params
        cov = (jac @ jac.T) * pr.joint_position_noise_std_rad ** 2
        cov[_DIAG3, _DIAG3] += pr.foot_position_noise_std_m ** 2
        return foot, cov

    def update_joints(self, t_s: float, q: Mapping[str, float] | Sequence[float],
                      anchored: Mapping[str, bool]) -> bool:
        """Fuse the leg joint angles [rad] at ``t_s`` [s] with the claws' anchor states.

        ``q``: joint name -> angle (e.g. from /joint_states), or an array in LEG_JOINTS or
        ALL_JOINTS order. ``anchored``: claw -> True when the caller trusts it as gripped
        (verified grip, wrist sensor alive, not slipping); a missing claw counts as False.
        A claw turning True is anchored at its current foot point in odom; turning False
        drops the anchor. Returns False when the whole input is refused (state untouched);
        a leg with a non-finite angle is skipped and reported, the others are used.
        """
        try:
            legs_q = self._legs_from(q)
            t = self._admit('joints', t_s)
        except _Rejected as why:
            self._refuse('joints', str(why))
            return False
        finite = np.isfinite(legs_q).reshape(len(LEG_ORDER), 3).all(axis=1)
        bad = [leg for leg, ok in zip(LEG_ORDER, finite) if not ok]
        wanted = [c for c in CLAW_LEGS if bool(anchored.get(c, False))] \
            if isinstance(anchored, Mapping) else []
        if len(bad) == len(LEG_ORDER):
            self._refuse('joints', 'no leg has finite joint angles')
            return False
        self._commit('joints', t)
        if bad:
            self._refuse('joints', f'not finite or missing angles of {",".join(bad)}: skipped')
        if self._q_legs is None:
            self._q_legs = np.array(legs_q)
        else:
            good = np.isfinite(legs_q)
            self._q_legs[good] = legs_q[good]
        self._update_anchors(t, legs_q, wanted, bad)
        return True

    def _update_anchors(self, t: float, legs_q: np.ndarray, wanted: list, bad: list) -> None:
        rot = self._rotation()
        # 1. anchors no longer trusted are dropped (marginalised)
        for k, claw in enumerate(CLAW_LEGS):
            if claw not in wanted:
                self._reanchor_at[k] = None
                if self.anchor_active[k]:
                    self._deactivate(k)
        # 2. gate every active anchor against the prior (stacked: one H P H^T for all)
        ks = [k for k, claw in enumerate(CLAW_LEGS) if self.anchor_active[k] and claw not in bad]
        if ks:
            m = 3 * len(ks)
            H = np.zeros((m, _N))
            y = np.empty(m)
            R = np.zeros((m, m))
            for i, k in enumerate(ks):
                foot, cov = self._foot_measurement(CLAW_LEGS[k],
                                                   legs_q[self._leg_slices[CLAW_LEGS[k]]])
                h0 = rot.T @ (self.anchor_odom[k] - self.p)
                r = slice(3 * i, 3 * i + 3)
                y[r] = foot - h0
                H[r, _P] = -rot.T
                H[r, _TH] = _skew(h0)
                H[r, _anchor_slice(k)] = rot.T
                R[r, r] = cov
            PHt = self.P @ H.T
            S = H @ PHt + R
            blocks = np.stack([S[3 * i:3 * i + 3, 3 * i:3 * i + 3] for i in range(len(ks))])
            ys = y.reshape(-1, 3)
            nis = np.einsum('ij,ij->i', ys, np.linalg.solve(blocks, ys[:, :, None])[:, :, 0])
            gate = self.params.anchor_gate_chi2
            fail = nis > gate
            if fail.all() and len(ks) >= 2:
                # Every anchor disagrees: the body moved (a push), not the claws. If one body
                # displacement explains them all, the position's uncertainty is widened by it
                # and the update made; otherwise it waits while the covariance grows.
                shift_m = float(np.max(np.linalg.norm(ys, axis=1)))
                if self._explained_by_a_push(H, y, R, ks, shift_m):
                    self._report(f'all {len(ks)} anchors moved together by up to '
                                 f'{1000 * shift_m:.1f} mm: the body was pushed')
                    self._correct(H, y, R)
                else:
                    self._report(f'all {len(ks)} anchors disagree with the predicted pose '
                                 f'(NIS {nis.min():.1f} and up): update deferred')
            elif fail.any():
                for i in np.flatnonzero(fail):
                    k = ks[i]
                    claw = CLAW_LEGS[k]
                    self._gate_fail(claw, f'{claw} anchor dropped: residual '
                                    f'{1000 * float(np.linalg.norm(ys[i])):.1f} mm, NIS '
                                    f'{nis[i]:.1f} > {gate:g} (slip?)')
                    self._anchors_dropped += 1
                    self._deactivate(k)
                    self._reanchor_at[k] = t + self.params.reanchor_delay_s
                keep = np.repeat(~fail, 3)
                H, y, R = H[keep], y[keep], R[np.ix_(keep, keep)]
                self._correct(H, y, R)
            else:
                self._correct(H, y, R, PHt, S)
        # 3. newly trusted claws are anchored at their current foot point
        for k, claw in enumerate(CLAW_LEGS):
            if claw not in wanted or self.anchor_active[k] or claw in bad:
                continue
            if self._reanchor_at[k] is not None and t < self._reanchor_at[k]:
                continue
            self._reanchor_at[k] = None
            self._activate(k, legs_q[self._leg_slices[claw]])

    def _explained_by_a_push(self, H: np.ndarray, y: np.ndarray, R: np.ndarray, ks: list,
                             shift_m: float) -> bool:
        """Widen the position covariance by ``shift_m`` if then every anchor passes its gate."""
        P = self.P.copy()
        P[_P, _P] += np.eye(3) * shift_m ** 2
        S = H @ P @ H.T + R
        ys = y.reshape(-1, 3)
        for i in range(len(ks)):
            block = slice(3 * i, 3 * i + 3)
            # each anchor against the body position the others give
            others = np.ones(len(y), dtype=bool)
            others[block] = False
            try:
                gain = P @ H[others].T @ np.linalg.inv(S[np.ix_(others, others)])
            except np.linalg.LinAlgError:
                return False
            P_i = P - gain @ H[others] @ P
            x_i = gain @ y[others]
            r_i = ys[i] - H[block] @ x_i
            S_i = H[block] @ P_i @ H[block].T + R[block, block]
            if float(r_i @ np.linalg.solve(S_i, r_i)) > self.params.anchor_gate_chi2:
                return False
        self.P = P
        return True

    def _activate(self, k: int, q3: np.ndarray) -> None:
        """Add claw ``k``'s foot point to the state, correlated with the pose (augmentation)."""
        foot, cov = self._foot_measurement(CLAW_LEGS[k], q3)
        rot = self._rotation()
        self.anchor_odom[k] = self.p + rot @ foot
        G = np.zeros((3, _N))
        G[:, _P] = np.eye(3)
        G[:, _TH] = -rot @ _skew(foot)
        s = _anchor_slice(k)
        P = self.P
        cross = G @ P
        P[s, :] = cross
        P[:, s] = cross.T
        P[s, s] = cross @ G.T + rot @ cov @ rot.T
        self.anchor_active[k] = True

    def _deactivate(self, k: int) -> None:
        s = _anchor_slice(k)
        self.P[s, :] = 0.0
        self.P[:, s] = 0.0
        self.anchor_active[k] = False

    # --- wheels --------------------------------------------------------------------------------
    def update_wheels(self, t_s: float, wheel_speeds_rad_s: Mapping[str, float] | Sequence[float],
                      contact: Mapping[str, bool] | None = None,
                      q: Mapping[str, float] | Sequence[float] | None = None,
                      qd: Mapping[str, float] | Sequence[float] | None = None,
                      standing: bool = False) -> bool:
        """Fuse wheel odometry at ``t_s`` [s]: wheel speeds [rad/s] (name or WHEEL_JOINTS order).

        Call it while the wheels drive the robot (``roll``). ``contact``: wheel leg -> on the
        ground (default: all three). ``q``: leg joint angles for the steering, as in
        :meth:`update_joints` (default: the last ones given there). ``qd``: leg joint
        velocities [rad/s] in the same form (from /joint_states), so that steering and leg
        motion are not taken for body motion (default: the legs are still). Each wheel's
        centre velocity over the ground, in base_link, is measured: wheel speed x radius
        along its rolling direction, zero along its axle and along base_link z.
        ``standing``: the wheels stand as walking feet; the tyre then turns with its leg
        too (femur and tibia pitch about the axle), so a wheel whose leg sweeps back under
        the moving body rolls forward on the ground (12 mm over a walking stance on the
        Moon, traced in the simulator) though its own joint stands still, and with ``qd``
        that rolling is measured. While rolling the legs hold their posture and their
        measured pitch rates are the servos' flex over bumps, not the tyre turning on the
        ground, so they are left out (README: walking and rolling on the Moon). A wheel that
        fails its gate (a stall) is refused and counted in ``gated``. Returns False when the
        input is refused.
        """
        try:
            if isinstance(wheel_speeds_rad_s, Mapping):
                speeds = np.array([float(wheel_speeds_rad_s.get(f'{w}_wheel_joint', math.nan))
                                   for w in WHEEL_LEGS])
            else:
                speeds = np.asarray(wheel_speeds_rad_s, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            self._refuse('wheels', f'wheel speeds {wheel_speeds_rad_s!r} are not numbers')
            return False
        if speeds.size != len(WHEEL_LEGS) or not np.isfinite(speeds).all():
            self._refuse('wheels', f'wheel speeds {speeds.tolist()} are not 3 finite numbers')
            return False
        try:
            legs_q = self._q_legs if q is None else self._legs_from(q)
            legs_qd = None if qd is None else self._legs_from(qd)
        except _Rejected as why:
            self._refuse('wheels', str(why))
            return False
        used = [w for w in WHEEL_LEGS if contact is None or bool(contact.get(w, False))]
        if legs_q is None or not all(
                np.isfinite(legs_q[self._leg_slices[w]]).all() for w in used):
            self._refuse('wheels', 'no finite joint angles for the wheel legs')
            return False
        if legs_qd is not None and not all(
                np.isfinite(legs_qd[self._leg_slices[w]]).all() for w in used):
            self._refuse('wheels', 'joint velocities of the wheel legs are not finite')
            return False
        try:
            t = self._admit('wheels', t_s)
        except _Rejected as why:
            self._refuse('wheels', str(why))
            return False
        self._commit('wheels', t)
        if not used:
            return True
        pr = self.params
        var_roll = (self.wheel_radius_m * pr.wheel_speed_noise_std_rad_s) ** 2 \
            + pr.wheel_rolling_slip_std_m_s ** 2
        R = np.diag([var_roll, pr.wheel_lateral_std_m_s ** 2, pr.wheel_vertical_std_m_s ** 2])
        gate = pr.wheel_gate_chi2
        # Sequential updates, the most consistent wheel first: the others are then judged
        # against a velocity the good wheels have already pinned, so one stalled wheel of
        # three stands out however loose the prior was.
        # (A wheel's geometry does not depend on the state: worked out once. A row of the
        # first pass stands until an update changes the state.)
        geometry = {w: self._wheel_geometry(w, legs_q, legs_qd, speeds[i], standing)
                    for i, w in enumerate(WHEEL_LEGS) if w in used}
        first = [(self._wheel_row(geometry[w], R), i, w)
                 for i, w in enumerate(WHEEL_LEGS) if w in used]
        first.sort(key=lambda row: (row[0][2], row[1], row[2]))
        if first[0][0][2] > gate:
            self._report(f'every wheel disagrees with the estimated velocity '
                         f'(NIS {first[0][0][2]:.1f} and up): update deferred')
            return True
        updated = False
        for row, i, w in first:
            H, y, nis = self._wheel_row(geometry[w], R) if updated else row
            if nis > gate:
                self._gate_fail(w, f'{w} odometry refused: {1000 * abs(float(y[0])):.1f} mm/s '
                                f'off along its rolling direction, NIS {nis:.1f} > {gate:g} '
                                '(stall?)')
                continue
            if self._correct(H, y, R):
                updated = True
                self._last_wheel_ok_t = t
        return True

    def _wheel_geometry(self, w: str, legs_q: np.ndarray, legs_qd: np.ndarray | None,
                        speed_rad_s: float, standing: bool) -> tuple:
        """Work out what one wheel's row takes from its leg and speed alone (not the state).

        (centre in base_link [m], base_link -> wheel rotation M, the leg's own centre
        velocity [m/s] or None, M x skew(centre), the measured velocity [m/s]).
        """
        q3 = legs_q[self._leg_slices[w]]
        kin = self.legs[w]
        centre = kin.fk(q3)
        heading = kin.mount_yaw_rad + float(q3[0])
        c, s = math.cos(heading), math.sin(heading)
        M = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        qd3 = None if legs_qd is None else legs_qd[self._leg_slices[w]]
        leg_vel = None if qd3 is None else kin.jacobian(q3) @ qd3
        # the tyre's rate about its axle: its joint's, and standing its leg's pitch too
        spin_rad_s = speed_rad_s + (float(qd3[1] + qd3[2]) if standing and qd3 is not None
                                    else 0.0)
        measured = np.array([spin_rad_s * self.wheel_radius_m, 0.0, 0.0])
        return centre, M, leg_vel, M @ _skew(centre), measured

    def _wheel_row(self, geometry: tuple, R: np.ndarray) -> tuple:
        """Jacobian, innovation and NIS of one wheel's centre velocity in base_link."""
        centre, M, leg_vel, m_skew_centre, measured = geometry
        rot = self._rotation()
        v_body = rot.T @ self.v
        omega = (self._gyro - self.b) if self._gyro_fresh() else np.zeros(3)
        vel = v_body + _cross(omega, centre)
        if leg_vel is not None:
            vel = vel + leg_vel
        y = measured - M @ vel
        H = np.zeros((3, _N))
        H[:, _TH] = M @ _skew(v_body)
        H[:, _V] = M @ rot.T
        H[:, _B] = m_skew_centre
        return H, y, self._nis(H, y, R)

    # --- output --------------------------------------------------------------------------------
    def health(self) -> EstimatorHealth:
        """Return the filter's health now (status, refusal counts, anchors, last reason)."""
        pr = self.params
        t = self.t_s
        anchors = tuple(c for k, c in enumerate(CLAW_LEGS) if self.anchor_active[k])

        def fresh(when: float | None) -> bool:
            return when is not None and t is not None and t - when <= pr.input_timeout_s

        if not (fresh(self._last_accept['imu']) and fresh(self._last_accept['joints'])):
            status = HealthStatus.STALE
        elif (len(anchors) < pr.min_anchors and not fresh(self._last_wheel_ok_t)) or (
                self._last_reason_t is not None and t - self._last_reason_t
                <= pr.degraded_hold_s):
            status = HealthStatus.DEGRADED
        else:
            status = HealthStatus.OK
        return EstimatorHealth(
            status=status, rejected=dict(self._rejected), gated=dict(self._gated),
            anchors=anchors, anchors_dropped=self._anchors_dropped,
            last_reason=self._last_reason, last_reason_stamp_s=self._last_reason_t)

    def estimate(self) -> Estimate:
        """Return the current estimate: pose, twist, their covariances and the health."""
        rot = self._rotation()
        P = self.P
        # pose: attitude error to odom's axes
        J = np.zeros((6, _N))
        J[0:3, _P] = _EYE3
        J[3:6, _TH] = rot
        pose_cov = J @ P @ J.T
        # twist in base_link: v_b = R^T v, w = gyro - b
        v_body = rot.T @ self.v
        Jt = np.zeros((6, _N))
        Jt[0:3, _TH] = _skew(v_body)
        Jt[0:3, _V] = rot.T
        Jt[3:6, _B] = _NEG_EYE3
        twist_cov = Jt @ P @ Jt.T
        if self._gyro_fresh():
            omega = self._gyro - self.b
            twist_cov[3:6, 3:6] += _EYE3 * self.params.gyro_noise_std_rad_s ** 2
        else:
            omega = np.zeros(3)
            twist_cov[3:6, 3:6] += _EYE3 * 1.0
        return Estimate(
            stamp_s=math.nan if self.t_s is None else self.t_s,
            position_m=self.p.copy(),
            orientation_wxyz=self.q.copy(),
            linear_velocity_m_s=v_body,
            angular_velocity_rad_s=omega,
            pose_covariance=0.5 * (pose_cov + pose_cov.T),
            twist_covariance=0.5 * (twist_cov + twist_cov.T),
            health=self.health(),
            velocity_odom_m_s=self.v.copy(),
        )

    def error_covariance(self) -> np.ndarray:
        """Return the 12x12 error covariance of position, attitude, velocity and gyro bias."""
        return self.P[:12, :12].copy()


__all__ = [
    'EstimatorParams', 'EstimatorHealth', 'Estimate', 'HealthStatus', 'ImuSample', 'INPUTS',
    'GATED', 'PARAM_SPECS', 'StateEstimator', 'load_estimator_params',
    'parse_estimator_params', 'quat_log']


def fuse_legs_and_wheels(estimator: StateEstimator, t_s: float, q_legs_rad: Sequence[float],
                         qd_legs_rad_s: Sequence[float] | None,
                         wheel_speeds_rad_s: Sequence[float], anchored: Mapping[str, bool],
                         gait_mode: str, walking_stance: Sequence[str] = ()) -> tuple:
    """Fuse one step's legs and wheels, the same way in the node and in the harness.

    The leg joints go in with the claws that may anchor (``anchored``); the wheels while
    the gait rolls (all three on the ground) and while it walks (a wheel leg in its stance
    phase, listed in ``walking_stance``, stands still on the ground, which wheel odometry
    measures as well as a rolling one). A leg of ``walking_stance`` starts to be used, as
    an anchor or a wheel, only once it has stood ``stance_settle_s`` in it
    (:meth:`StateEstimator.settled_stance`); a claw already anchored (gripped before the
    robot stood on its feet) stays so. Returns (joints accepted, wheels accepted or not
    used).
    """
    settled = set(estimator.settled_stance(t_s, walking_stance))
    if walking_stance:   # (an anchor already held, e.g. a gripped claw, is kept)
        active = dict(zip(CLAW_LEGS, estimator.anchor_active))
        anchored = {c: bool(on) and (c not in walking_stance or c in settled
                                     or active.get(c, False))
                    for c, on in anchored.items()}
    joints_ok = estimator.update_joints(t_s, q_legs_rad, anchored)
    wheels_ok = True
    if gait_mode == 'roll':
        wheels_ok = estimator.update_wheels(t_s, wheel_speeds_rad_s, None, q_legs_rad,
                                            qd_legs_rad_s)
    elif walking_stance:
        wheels_ok = estimator.update_wheels(t_s, wheel_speeds_rad_s,
                                            {w: w in settled for w in WHEEL_LEGS}, q_legs_rad,
                                            qd_legs_rad_s, standing=True)
    return joints_ok, wheels_ok
