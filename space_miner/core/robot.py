# SPDX-License-Identifier: Apache-2.0
"""The robot's description, loaded and checked from ``config/robot.yaml``.

Every consumer (kinematics, simulator, controllers) receives the frozen
:class:`RobotConfig`; nothing else repeats the file's numbers. Loading refuses a
missing key, a wrong type, a non-positive length or a limit above what the hardware
can do, with a :class:`ConfigError` naming the key and the value.
"""

from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from space_miner.interfaces import CLAW_LEGS, LEG_ORDER, SEGMENTS, WHEEL_LEGS  # noqa: F401

#: Hardware limits no configuration may exceed (DESIGN.md section 3).
CLAW_FORCE_HW_MAX_N = 200.0
CLAW_FORCE_TOTAL_HW_MAX_N = 600.0
SAMPLER_FEED_FORCE_HW_MAX_N = 250.0
SAMPLER_DRILL_HW_MAX_RAD_S = 20.0

LEG_MOUNT_YAW_DEG = {'c1': 0.0, 'w1': 60.0, 'c2': 120.0, 'w2': 180.0, 'c3': 240.0, 'w3': 300.0}


class ConfigError(ValueError):
    """A configuration file is missing a key or holds a value that is refused."""

    def __init__(self, key: str, value: Any, why: str, source: str = '') -> None:
        where = f'{source}: ' if source else ''
        super().__init__(f'{where}{key} = {value!r}: {why}')
        self.key = key
        self.value = value


@dataclass(frozen=True)
class JointLimits:
    """Limits and servo figures of one joint type [rad, rad/s, N m, N m/rad]."""

    lower_rad: float
    upper_rad: float
    velocity_rad_s: float
    effort_nm: float
    stiffness_nm_per_rad: float
    damping_nms_per_rad: float

    def contains(self, q_rad: float, tol_rad: float = 1e-9) -> bool:
        """Whether ``q_rad`` lies within the limits (with a small tolerance)."""
        return self.lower_rad - tol_rad <= q_rad <= self.upper_rad + tol_rad


@dataclass(frozen=True)
class LegGeometry:
    """Lengths [m] and masses [kg] of one leg's segments (the same for all six)."""

    coxa_length_m: float
    femur_length_m: float
    tibia_length_m: float
    link_radius_m: float
    coxa_mass_kg: float
    femur_mass_kg: float
    tibia_mass_kg: float
    stance_rad: tuple  # (coxa, femur, tibia) nominal standing posture


@dataclass(frozen=True)
class ClawConfig:
    """Claw figures: grip limits [N], geometry [m], actuator lag and sensor noise."""

    grip_force_max_n: float
    grip_force_total_max_n: float
    length_m: float
    stroke_m: float
    pad_radius_m: float
    mass_kg: float
    time_constant_s: float
    friction_n: float
    effort_noise_std_n: float
    effort_bias_n: float
    wrench_force_noise_std_n: float
    wrench_force_bias_n: float
    wrench_torque_noise_std_nm: float
    wrench_torque_bias_nm: float


@dataclass(frozen=True)
class WheelConfig:
    """Wheel figures [m, kg, rad/s, N m]."""

    radius_m: float
    width_m: float
    mass_kg: float
    velocity_max_rad_s: float
    effort_nm: float


@dataclass(frozen=True)
class SamplerConfig:
    """Sampler figures: mount [m], feed [m, N, m/s, N/m], drill [rad/s, N m], container [g]."""

    mount_xyz_m: tuple
    feed_stroke_m: float
    feed_force_max_n: float
    feed_velocity_m_s: float
    feed_stiffness_n_per_m: float
    drill_velocity_max_rad_s: float
    drill_torque_nm: float
    bit_radius_m: float
    mass_kg: float
    container_capacity_g: float


@dataclass(frozen=True)
class ImuConfig:
    """IMU placement [m] and noise."""

    xyz_m: tuple
    gyro_noise_std_rad_s: float
    accel_noise_std_m_s2: float
    gyro_bias_rad_s: float


@dataclass(frozen=True)
class CameraConfig:
    """Depth camera placement [m, deg], image size [px], field of view and noise."""

    xyz_m: tuple
    pitch_down_deg: float
    width_px: int
    height_px: int
    hfov_deg: float
    rate_hz: float
    range_min_m: float
    range_max_m: float
    depth_noise_std_m: float


@dataclass(frozen=True)
class RobotConfig:
    """The whole robot, as ``config/robot.yaml`` describes it."""

    hip_radius_m: float
    body_size_m: tuple
    body_mass_kg: float
    leg_order: tuple
    mount_yaw_rad: Mapping[str, float]
    leg: LegGeometry
    joints: Mapping[str, JointLimits]
    claw: ClawConfig
    wheel: WheelConfig
    sampler: SamplerConfig
    imu: ImuConfig
    camera: CameraConfig

    @property
    def total_mass_kg(self) -> float:
        """Mass of the whole robot [kg]."""
        leg = self.leg
        per_leg = leg.coxa_mass_kg + leg.femur_mass_kg + leg.tibia_mass_kg
        return (self.body_mass_kg + 6 * per_leg + 3 * self.claw.mass_kg
                + 3 * self.wheel.mass_kg + self.sampler.mass_kg)


class _Reader:
    """Walks a YAML mapping by dotted key paths and checks each value."""

    def __init__(self, data: Any, source: str) -> None:
        self.data = data
        self.source = source

    def get(self, path: str) -> Any:
        node = self.data
        walked = []
        for part in path.split('.'):
            walked.append(part)
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError('.'.join(walked), None, 'missing key', self.source)
            node = node[part]
        return node

    def number(self, path: str, *, positive: bool = False, non_negative: bool = False,
               maximum: float | None = None) -> float:
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, value, 'must be a number', self.source)
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(path, value, 'must be finite', self.source)
        if positive and value <= 0.0:
            raise ConfigError(path, value, 'must be positive', self.source)
        if non_negative and value < 0.0:
            raise ConfigError(path, value, 'must not be negative', self.source)
        if maximum is not None and value > maximum:
            raise ConfigError(path, value, f'above the hardware limit {maximum:g}', self.source)
        return value

    def integer(self, path: str) -> int:
        value = self.get(path)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(path, value, 'must be a positive integer', self.source)
        return value

    def vector(self, path: str, length: int, *, positive: bool = False) -> tuple:
        value = self.get(path)
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != length:
            raise ConfigError(path, value, f'must be a list of {length} numbers', self.source)
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (int, float)) \
                    or not math.isfinite(item):
                raise ConfigError(f'{path}[{i}]', item, 'must be a finite number', self.source)
            if positive and item <= 0:
                raise ConfigError(f'{path}[{i}]', item, 'must be positive', self.source)
            out.append(float(item))
        return tuple(out)


def _joint(r: _Reader, name: str) -> JointLimits:
    key = f'joints.{name}'
    limits = JointLimits(
        lower_rad=r.number(f'{key}.lower_rad'),
        upper_rad=r.number(f'{key}.upper_rad'),
        velocity_rad_s=r.number(f'{key}.velocity_rad_s', positive=True),
        effort_nm=r.number(f'{key}.effort_nm', positive=True),
        stiffness_nm_per_rad=r.number(f'{key}.stiffness_nm_per_rad', positive=True),
        damping_nms_per_rad=r.number(f'{key}.damping_nms_per_rad', non_negative=True),
    )
    if limits.lower_rad >= limits.upper_rad:
        raise ConfigError(f'{key}.upper_rad', limits.upper_rad,
                          f'must be above lower_rad {limits.lower_rad:g}', r.source)
    return limits


def parse_robot_config(data: Any, source: str = 'robot.yaml') -> RobotConfig:
    """Check a parsed robot.yaml mapping and build the :class:`RobotConfig`."""
    r = _Reader(data, source)
    order = r.get('legs.order')
    if tuple(order) != LEG_ORDER:
        raise ConfigError('legs.order', order, f'must be {list(LEG_ORDER)} (the contract order)',
                          source)
    mount = {}
    for leg in LEG_ORDER:
        deg = r.number(f'legs.mount_yaw_deg.{leg}')
        if abs(deg - LEG_MOUNT_YAW_DEG[leg]) > 1e-9:
            raise ConfigError(f'legs.mount_yaw_deg.{leg}', deg,
                              f'must be {LEG_MOUNT_YAW_DEG[leg]:g} (DESIGN.md section 3)', source)
        mount[leg] = math.radians(deg)
    joints = {name: _joint(r, name) for name in SEGMENTS}
    stance = tuple(math.radians(r.number(f'legs.stance_deg.{s}')) for s in SEGMENTS)
    for name, q in zip(SEGMENTS, stance):
        if not joints[name].contains(q):
            raise ConfigError(f'legs.stance_deg.{name}', math.degrees(q),
                              f'outside the {name} joint limits', source)
    leg = LegGeometry(
        coxa_length_m=r.number('legs.coxa_length_m', positive=True),
        femur_length_m=r.number('legs.femur_length_m', positive=True),
        tibia_length_m=r.number('legs.tibia_length_m', positive=True),
        link_radius_m=r.number('legs.link_radius_m', positive=True),
        coxa_mass_kg=r.number('legs.coxa_mass_kg', positive=True),
        femur_mass_kg=r.number('legs.femur_mass_kg', positive=True),
        tibia_mass_kg=r.number('legs.tibia_mass_kg', positive=True),
        stance_rad=stance,
    )
    claw = ClawConfig(
        grip_force_max_n=r.number('claw.grip_force_max_n', positive=True,
                                  maximum=CLAW_FORCE_HW_MAX_N),
        grip_force_total_max_n=r.number('claw.grip_force_total_max_n', positive=True,
                                        maximum=CLAW_FORCE_TOTAL_HW_MAX_N),
        length_m=r.number('claw.length_m', positive=True),
        stroke_m=r.number('claw.stroke_m', positive=True),
        pad_radius_m=r.number('claw.pad_radius_m', positive=True),
        mass_kg=r.number('claw.mass_kg', positive=True),
        time_constant_s=r.number('claw.actuator.time_constant_s', positive=True),
        friction_n=r.number('claw.actuator.friction_n', non_negative=True),
        effort_noise_std_n=r.number('claw.sensors.effort_noise_std_n', non_negative=True),
        effort_bias_n=r.number('claw.sensors.effort_bias_n'),
        wrench_force_noise_std_n=r.number('claw.sensors.wrench_force_noise_std_n',
                                          non_negative=True),
        wrench_force_bias_n=r.number('claw.sensors.wrench_force_bias_n'),
        wrench_torque_noise_std_nm=r.number('claw.sensors.wrench_torque_noise_std_nm',
                                            non_negative=True),
        wrench_torque_bias_nm=r.number('claw.sensors.wrench_torque_bias_nm'),
    )
    wheel = WheelConfig(
        radius_m=r.number('wheel.radius_m', positive=True),
        width_m=r.number('wheel.width_m', positive=True),
        mass_kg=r.number('wheel.mass_kg', positive=True),
        velocity_max_rad_s=r.number('wheel.velocity_max_rad_s', positive=True),
        effort_nm=r.number('wheel.effort_nm', positive=True),
    )
    sampler = SamplerConfig(
        mount_xyz_m=r.vector('sampler.mount_xyz_m', 3),
        feed_stroke_m=r.number('sampler.feed_stroke_m', positive=True),
        feed_force_max_n=r.number('sampler.feed_force_max_n', positive=True,
                                  maximum=SAMPLER_FEED_FORCE_HW_MAX_N),
        feed_velocity_m_s=r.number('sampler.feed_velocity_m_s', positive=True),
        feed_stiffness_n_per_m=r.number('sampler.feed_stiffness_n_per_m', positive=True),
        drill_velocity_max_rad_s=r.number('sampler.drill_velocity_max_rad_s', positive=True,
                                          maximum=SAMPLER_DRILL_HW_MAX_RAD_S),
        drill_torque_nm=r.number('sampler.drill_torque_nm', positive=True),
        bit_radius_m=r.number('sampler.bit_radius_m', positive=True),
        mass_kg=r.number('sampler.mass_kg', positive=True),
        container_capacity_g=r.number('sampler.container_capacity_g', positive=True),
    )
    imu = ImuConfig(
        xyz_m=r.vector('imu.xyz_m', 3),
        gyro_noise_std_rad_s=r.number('imu.gyro_noise_std_rad_s', non_negative=True),
        accel_noise_std_m_s2=r.number('imu.accel_noise_std_m_s2', non_negative=True),
        gyro_bias_rad_s=r.number('imu.gyro_bias_rad_s'),
    )
    camera = CameraConfig(
        xyz_m=r.vector('camera.xyz_m', 3),
        pitch_down_deg=r.number('camera.pitch_down_deg'),
        width_px=r.integer('camera.width_px'),
        height_px=r.integer('camera.height_px'),
        hfov_deg=r.number('camera.hfov_deg', positive=True, maximum=170.0),
        rate_hz=r.number('camera.rate_hz', positive=True),
        range_min_m=r.number('camera.range_min_m', positive=True),
        range_max_m=r.number('camera.range_max_m', positive=True),
        depth_noise_std_m=r.number('camera.depth_noise_std_m', non_negative=True),
    )
    if camera.range_max_m <= camera.range_min_m:
        raise ConfigError('camera.range_max_m', camera.range_max_m,
                          f'must be above range_min_m {camera.range_min_m:g}', source)
    return RobotConfig(
        hip_radius_m=r.number('body.hip_radius_m', positive=True),
        body_size_m=r.vector('body.size_m', 3, positive=True),
        body_mass_kg=r.number('body.mass_kg', positive=True),
        leg_order=LEG_ORDER,
        mount_yaw_rad=mount,
        leg=leg,
        joints=joints,
        claw=claw,
        wheel=wheel,
        sampler=sampler,
        imu=imu,
        camera=camera,
    )


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file; an unreadable file or bad YAML is a ConfigError naming the file."""
    path = Path(path)
    try:
        with open(path, encoding='utf-8') as handle:
            return yaml.safe_load(handle)
    except OSError as err:
        raise ConfigError('<file>', str(path), f'cannot be read: {err}', str(path)) from err
    except yaml.YAMLError as err:
        raise ConfigError('<file>', str(path), f'not valid YAML: {err}', str(path)) from err


def load_robot_config(path: str | Path | None = None) -> RobotConfig:
    """Load and check ``config/robot.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('robot.yaml')
    return parse_robot_config(read_yaml(path), str(path))
