# SPDX-License-Identifier: Apache-2.0
"""Core tests of the state estimator, with no simulator.

Ground truth is analytic: a claw crawl (the body advances at 1 cm/s, yawing and rocking a
little, while the claws step one at a time, their joint angles from the inverse
kinematics) and a roll (the body drives at 0.1 m/s on flat ground, the wheels steered so
they roll without side slip). Noisy IMU, joint and wheel measurements are synthesised with
a fixed-seed numpy Generator, with the noise figures the filter is told.
"""

import copy
import dataclasses
import math

import numpy as np
import pytest
from scipy.stats import chi2
from transforms3d import euler, quaternions

from space_miner.core.estimation import (
    fuse_legs_and_wheels, GATED, HealthStatus, ImuSample, INPUTS, load_estimator_params,
    parse_estimator_params, quat_log, StateEstimator)
from space_miner.core.kinematics import RobotKinematics
from space_miner.core.robot import ConfigError, load_robot_config
from space_miner.interfaces import CLAW_LEGS, LEG_JOINTS, LEG_ORDER, WHEEL_LEGS

ROBOT = load_robot_config()
KIN = RobotKinematics(ROBOT)
PARAMS = load_estimator_params()
STANCE = np.asarray(ROBOT.leg.stance_rad, dtype=float)


def _quat_exp(rotvec):
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array([1.0, *(0.5 * np.asarray(rotvec))])
    return quaternions.axangle2quat(np.asarray(rotvec) / angle, angle)


def _cross(a, b):
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])


def _smooth(s):
    s = min(1.0, max(0.0, s))
    return s * s * (3.0 - 2.0 * s)


class Body:
    """An analytic body trajectory: position and roll/pitch/yaw as sums of sines."""

    def __init__(self, speed_m_s, pos_amp, pos_period, rpy_amp, rpy_period, z0_m):
        self.speed = speed_m_s
        self.pos_amp = np.asarray(pos_amp, dtype=float)
        self.pos_w = 2 * math.pi / np.asarray(pos_period, dtype=float)
        self.rpy_amp = np.asarray(rpy_amp, dtype=float)
        self.rpy_w = 2 * math.pi / np.asarray(rpy_period, dtype=float)
        self.z0 = z0_m
        self.bump = None   # (t0, duration, displacement): a push

    def position(self, t):
        p = self.pos_amp * np.sin(self.pos_w * t)
        p[0] += self.speed * t
        p[2] += self.z0
        if self.bump is not None:
            t0, dur, disp = self.bump
            p = p + np.asarray(disp) * _smooth((t - t0) / dur)
        return p

    def velocity(self, t):
        v = self.pos_amp * self.pos_w * np.cos(self.pos_w * t)
        v[0] += self.speed
        if self.bump is not None:
            t0, dur, disp = self.bump
            s = (t - t0) / dur
            if 0.0 < s < 1.0:
                v = v + np.asarray(disp) * 6.0 * s * (1.0 - s) / dur
        return v

    def rpy(self, t):
        return self.rpy_amp * np.sin(self.rpy_w * t), \
            self.rpy_amp * self.rpy_w * np.cos(self.rpy_w * t)

    def rotation(self, t):
        (r, p, y), _ = self.rpy(t)
        return euler.euler2mat(r, p, y, 'sxyz')

    def quat(self, t):
        (r, p, y), _ = self.rpy(t)
        return euler.euler2quat(r, p, y, 'sxyz')

    def omega_body(self, t):
        """Angular velocity in base_link for R = Rz(yaw) Ry(pitch) Rx(roll)."""
        (r, p, _), (dr, dp, dy) = self.rpy(t)
        rx = euler.euler2mat(r, 0, 0, 'sxyz')
        ry = euler.euler2mat(0, p, 0, 'sxyz')
        return rx.T @ ry.T @ np.array([0, 0, dy]) + rx.T @ np.array([0, dp, 0]) \
            + np.array([dr, 0, 0])


CLAW_FOOT0 = {c: KIN.legs[c].fk(STANCE) for c in CLAW_LEGS}
BODY_Z0 = -float(CLAW_FOOT0['c1'][2])


class Crawl:
    """Claw free-climbing: one claw swings at a time, 6 cm steps every 6 s."""

    CYCLE_S, SWING_S, MARGIN_S, LIFT_M, REACH_M = 6.0, 1.0, 0.05, 0.03, 0.025

    def __init__(self, body, untrusted=()):
        self.body = body
        self.untrusted = untrusted   # (claw, t0, t1): caller marks the claw untrusted
        self.slip = None             # (claw, t0, duration, displacement) of the true foot
        self.anchor = {}
        for k, c in enumerate(CLAW_LEGS):
            t_lift = 2.0 * k + 0.5
            offset = np.array([body.speed * t_lift - self.REACH_M, 0, 0])
            self.anchor[c] = self._placed(0.0, c) + offset

    def _placed(self, t, claw):
        a = self.body.position(t) + self.body.rotation(t) @ CLAW_FOOT0[claw]
        a[2] = 0.0
        return a

    def _swing(self, claw, t):
        """(n, s): the cycle and the swing phase in [0, 1], or (n, None) in stance."""
        k = CLAW_LEGS.index(claw)
        t_rel = t - (2.0 * k + 0.5)
        n = math.floor(t_rel / self.CYCLE_S)
        s = (t_rel - n * self.CYCLE_S) / self.SWING_S
        return n, (s if 0.0 <= s <= 1.0 else None)

    def foot(self, claw, t):
        """True foot point of ``claw`` in odom and whether the caller reports it gripped."""
        k = CLAW_LEGS.index(claw)
        n, s = self._swing(claw, t)
        t_lift0 = 2.0 * k + 0.5
        # Anchor of cycle n: placed at the end of swing n (n = -1: the initial one).
        if n < 0:
            a_now = self.anchor[claw]
        else:
            t_land = t_lift0 + n * self.CYCLE_S + self.SWING_S
            a_now = self._placed(t_land, claw) + np.array([self.REACH_M, 0, 0])
        if s is not None:
            a_prev = self.anchor[claw] if n == 0 else self._placed(
                t_lift0 + (n - 1) * self.CYCLE_S + self.SWING_S, claw) + np.array(
                    [self.REACH_M, 0, 0])
            foot = a_prev + (a_now - a_prev) * _smooth(s) \
                + np.array([0, 0, self.LIFT_M * math.sin(math.pi * s)])
        else:
            foot = a_now.copy()
        if self.slip is not None and self.slip[0] == claw and s is None:
            _, t0, dur, disp = self.slip
            n0, _ = self._swing(claw, t0)
            if n0 == n:
                foot = foot + np.asarray(disp) * _smooth((t - t0) / dur)
        # The caller stops trusting a claw MARGIN_S before it lifts and until MARGIN_S after
        # it lands.
        u = t - t_lift0 + self.MARGIN_S
        n_win = math.floor(u / self.CYCLE_S)
        gripped = not (n_win >= 0 and u - n_win * self.CYCLE_S <= self.SWING_S
                       + 2 * self.MARGIN_S)
        for c, t0, t1 in self.untrusted:
            if c == claw and t0 <= t < t1:
                gripped = False
        return foot, gripped

    def joints(self, t):
        """True 18 leg joint angles [rad] and the caller's anchored flags."""
        rot = self.body.rotation(t)
        p = self.body.position(t)
        q = np.tile(STANCE, len(LEG_ORDER))
        flags = {}
        for c in CLAW_LEGS:
            foot, flags[c] = self.foot(c, t)
            result = KIN.legs[c].ik(rot.T @ (foot - p))
            assert result.ok, (t, c, result.reason)
            i = LEG_ORDER.index(c)
            q[3 * i:3 * i + 3] = result.q
        return q, flags


def crawl_body():
    return Body(0.01, [0.0, 0.02, 0.004], [1, 40, 25], [0.015, 0.02, 0.1], [35, 30, 50],
                BODY_Z0)


class Sensors:
    """Noisy IMU, joint and wheel readings, from one fixed-seed Generator."""

    def __init__(self, seed, params, with_orientation=False):
        self.rng = np.random.default_rng(seed)
        self.params = params
        self.bias = self.rng.normal(0.0, params.gyro_bias_initial_std_rad_s, 3)
        self.with_orientation = with_orientation

    def imu(self, body, t):
        pr = self.params
        gyro = body.omega_body(t) + self.bias + self.rng.normal(0, pr.gyro_noise_std_rad_s, 3)
        acc = self.rng.normal(0.0, ROBOT.imu.accel_noise_std_m_s2, 3)
        quat = None
        if self.with_orientation:
            quat = quaternions.qmult(body.quat(t), _quat_exp(
                self.rng.normal(0.0, pr.imu_orientation_std_rad, 3)))
        return ImuSample(t, quat, gyro, acc)

    def legs(self, q_true):
        """Joint angles with encoder noise, and foot-point model noise mapped to the joints."""
        pr = self.params
        q = q_true + self.rng.normal(0.0, pr.joint_position_noise_std_rad, q_true.size)
        for c in CLAW_LEGS:
            i = LEG_ORDER.index(c)
            s = slice(3 * i, 3 * i + 3)
            jac = KIN.legs[c].jacobian(q_true[s])
            q[s] += np.linalg.solve(jac, self.rng.normal(0.0, pr.foot_position_noise_std_m, 3))
        return q

    def wheels(self, speeds):
        return speeds + self.rng.normal(0.0, self.params.wheel_speed_noise_std_rad_s, 3)


def pose_error(est, body, t):
    """Position error [m] and attitude error (base_link rotation vector) [rad], true - est."""
    e_p = body.position(t) - est.p
    e_th = quat_log(quaternions.qmult(quaternions.qinverse(est.q), body.quat(t)))
    return e_p, e_th


def start_filter(params, body, sensors):
    """A filter reset at a pose drawn from its own initial covariance around the truth."""
    est = StateEstimator(params, ROBOT)
    rng = sensors.rng
    p0 = body.position(0.0) + rng.normal(0.0, params.initial_position_std_m, 3)
    # The attitude error e is defined by truth = estimate * Exp(e): start at truth * Exp(-e).
    e_th = rng.normal(0.0, params.initial_orientation_std_rad, 3)
    q0 = quaternions.qmult(body.quat(0.0), _quat_exp(-e_th))
    est.reset(p0, q0, t_s=0.0)
    return est


def run_crawl(seed, duration_s, joint_hz, imu_hz, params=PARAMS, truth_params=PARAMS,
              with_orientation=False, slip=None, untrusted=(), bump=None, nees_every_s=0.5):
    """Run the filter on a synthetic crawl; return errors, NEES samples and the filter."""
    body = crawl_body()
    body.bump = bump
    crawl = Crawl(body, untrusted)
    crawl.slip = slip
    sensors = Sensors(seed, truth_params, with_orientation)
    est = start_filter(params, body, sensors)
    n = int(round(duration_s * joint_hz))
    next_imu = 0.0
    next_nees = nees_every_s
    out = {'t': [], 'e_p': [], 'e_th': [], 'nees': [], 'est_p': [], 'anchors': []}
    dist = 0.0
    last_p = body.position(0.0)
    for i in range(n + 1):
        t = i / joint_hz
        if t + 1e-9 >= next_imu:
            assert est.update_imu(sensors.imu(body, t))
            next_imu += 1.0 / imu_hz
        q_true, flags = crawl.joints(t)
        assert est.update_joints(t, sensors.legs(q_true), flags)
        p_now = body.position(t)
        dist += float(np.linalg.norm(p_now - last_p))
        last_p = p_now
        e_p, e_th = pose_error(est, body, t)
        out['t'].append(t)
        out['e_p'].append(e_p)
        out['e_th'].append(e_th)
        out['est_p'].append(est.p.copy())
        out['anchors'].append(sum(est.anchor_active))
        if t + 1e-9 >= next_nees:
            e = np.concatenate([e_p, e_th])
            cov = est.error_covariance()[:6, :6]
            out['nees'].append(float(e @ np.linalg.solve(cov, e)))
            next_nees += nees_every_s
    for key in ('t', 'e_p', 'e_th', 'nees', 'est_p', 'anchors'):
        out[key] = np.asarray(out[key])
    out['distance_m'] = dist
    out['filter'] = est
    out['body'] = body
    return out


# --- roll ------------------------------------------------------------------------------------

class Arc(Body):
    """Driving on flat ground along a circle: constant body-frame velocity and yaw rate.

    With both constant the wheels keep their steering, so they roll without side slip and
    the legs stay still (a truth the wheel model holds exactly).
    """

    def __init__(self, speed_m_s, yaw_rate_rad_s, z0_m):
        super().__init__(speed_m_s, [0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1], z0_m)
        self.yaw_rate = yaw_rate_rad_s

    def position(self, t):
        radius = self.speed / self.yaw_rate
        return np.array([radius * math.sin(self.yaw_rate * t),
                         radius * (1.0 - math.cos(self.yaw_rate * t)), self.z0])

    def velocity(self, t):
        yaw = self.yaw_rate * t
        return self.speed * np.array([math.cos(yaw), math.sin(yaw), 0.0])

    def rpy(self, t):
        return np.array([0.0, 0.0, self.yaw_rate * t]), np.array([0.0, 0.0, self.yaw_rate])


def roll_body():
    return Arc(0.1, 0.01, 0.2)


def roll_joints_and_speeds(body, t):
    """Leg angles with the wheels steered along their centre's velocity, and wheel speeds."""
    rot = body.rotation(t)
    v_body = rot.T @ body.velocity(t)
    omega = body.omega_body(t)
    q = np.tile(STANCE, len(LEG_ORDER))
    speeds = np.zeros(3)
    for j, w in enumerate(WHEEL_LEGS):
        leg = KIN.legs[w]
        i = LEG_ORDER.index(w)
        q3 = STANCE.copy()
        for _ in range(4):   # the coxa yaw moves the wheel centre: a few fixed-point passes
            centre = leg.fk(q3)
            vel = v_body + _cross(omega, centre)
            heading = math.atan2(vel[1], vel[0])
            q1 = math.atan2(math.sin(heading - leg.mount_yaw_rad),
                            math.cos(heading - leg.mount_yaw_rad))
            sign = 1.0
            if abs(q1) > math.pi / 2:
                q1 = math.atan2(math.sin(q1 + math.pi), math.cos(q1 + math.pi))
                sign = -1.0
            q3[0] = q1
        centre = leg.fk(q3)
        vel = v_body + _cross(omega, centre)
        speeds[j] = sign * math.hypot(vel[0], vel[1]) / ROBOT.wheel.radius_m
        q[3 * i:3 * i + 3] = q3
    return q, speeds


def run_roll(seed, duration_s, rate_hz, imu_hz, params=PARAMS, stall=None,
             nees_every_s=0.5):
    """Run the filter on a synthetic roll; ``stall`` = (wheel index, t0, t1): reads 0."""
    body = roll_body()
    sensors = Sensors(seed, PARAMS)
    est = start_filter(params, body, sensors)
    n = int(round(duration_s * rate_hz))
    next_imu = 0.0
    out = {'t': [], 'e_p': [], 'e_th': [], 'nees': []}
    next_nees = nees_every_s
    dist = 0.0
    last_p = body.position(0.0)
    q_last = roll_joints_and_speeds(body, -1.0 / rate_hz)[0]
    q_const = q_last
    for i in range(n + 1):
        t = i / rate_hz
        if t + 1e-9 >= next_imu:
            assert est.update_imu(sensors.imu(body, t))
            next_imu += 1.0 / imu_hz
        q, speeds = roll_joints_and_speeds(body, t)
        assert np.allclose(q, q_const)   # constant steering
        qd = (q - q_last) * rate_hz      # zero, as /joint_states would report it
        q_last = q
        measured = sensors.wheels(speeds)
        if stall is not None and stall[1] <= t < stall[2]:
            measured[stall[0]] = 0.0
        q_meas = q + sensors.rng.normal(0.0, PARAMS.joint_position_noise_std_rad, q.size)
        assert est.update_joints(t, q_meas, {})
        assert est.update_wheels(t, measured, qd=qd)
        p_now = body.position(t)
        dist += float(np.linalg.norm(p_now - last_p))
        last_p = p_now
        e_p, e_th = pose_error(est, body, t)
        out['t'].append(t)
        out['e_p'].append(e_p)
        out['e_th'].append(e_th)
        if t + 1e-9 >= next_nees:
            e = np.concatenate([e_p, e_th])
            out['nees'].append(float(e @ np.linalg.solve(est.error_covariance()[:6, :6], e)))
            next_nees += nees_every_s
    for key in ('t', 'e_p', 'e_th', 'nees'):
        out[key] = np.asarray(out[key])
    out['distance_m'] = dist
    out['filter'] = est
    return out


def heading_error_deg(e_th):
    return math.degrees(abs(float(e_th[2])))


def nees_bounds(dof, runs, p=0.99):
    """Two-sided chi-square bounds of the NEES averaged over ``runs`` independent runs.

    Each run's NEES is averaged over time too, which only narrows its spread, so the
    bounds are conservative.
    """
    lo = chi2.ppf((1 - p) / 2, dof * runs) / runs
    hi = chi2.ppf(1 - (1 - p) / 2, dof * runs) / runs
    return lo, hi


# --- parameters ------------------------------------------------------------------------------

def _values():
    return {f.name: getattr(PARAMS, f.name) for f in dataclasses.fields(PARAMS)}


def test_the_shipped_parameters_load_and_every_key_is_checked():
    assert PARAMS.anchor_gate_chi2 > 0
    assert parse_estimator_params(_values()) == PARAMS


@pytest.mark.parametrize('key, value, why', [
    ('anchor_gate_chi2', -1.0, 'must lie in'),
    ('stale_timeout_s', float('nan'), 'finite'),
    ('use_imu_orientation', 1, 'true or false'),
    ('min_anchors', 2.5, 'integer'),
    ('wheel_gate_chi2', 'high', 'number'),
])
def test_a_bad_parameter_is_refused_naming_its_key(key, value, why):
    values = _values()
    values[key] = value
    with pytest.raises(ConfigError, match=why) as err:
        parse_estimator_params(values)
    assert key in str(err.value)


def test_missing_and_unknown_parameters_are_refused(tmp_path):
    values = _values()
    del values['gravity_m_s2']
    with pytest.raises(ConfigError, match='gravity_m_s2.*missing'):
        parse_estimator_params(values)
    values = _values()
    values['gyro_noies_std_rad_s'] = 0.1
    with pytest.raises(ConfigError, match='gyro_noies_std_rad_s.*unknown'):
        parse_estimator_params(values)
    bad = tmp_path / 'bad.yaml'
    bad.write_text('state_estimator:\n  ros_parameters: {}\n')
    with pytest.raises(ConfigError, match='ros__parameters'):
        load_estimator_params(bad)


# --- consistency, drift and heading ----------------------------------------------------------

CONSISTENCY_SEEDS = (1, 2, 3, 4)


def test_crawl_filter_is_consistent_nees_within_chi_square_bound():
    params = dataclasses.replace(PARAMS, imu_rate_hz=100.0)
    means = [run_crawl(seed, 20.0, 100.0, 100.0, params, params)['nees'].mean()
             for seed in CONSISTENCY_SEEDS]
    anees = float(np.mean(means))
    lo, hi = nees_bounds(6, len(CONSISTENCY_SEEDS))
    print(f'crawl ANEES {anees:.2f} per run {np.round(means, 2)}, bound [{lo:.2f}, {hi:.2f}]')
    assert lo <= anees <= hi


def test_an_overconfident_filter_fails_the_nees_bound():
    """The consistency check can fail: a filter told the feet are 10x better than they are."""
    truth = dataclasses.replace(PARAMS, imu_rate_hz=100.0)
    told = dataclasses.replace(truth, anchor_gate_chi2=1e6,
                               foot_position_noise_std_m=truth.foot_position_noise_std_m / 10)
    anees = run_crawl(1, 12.0, 100.0, 100.0, told, truth)['nees'].mean()
    print(f'overconfident filter ANEES {anees:.1f}')
    assert anees > nees_bounds(6, len(CONSISTENCY_SEEDS))[1]


def test_crawl_with_imu_orientation_is_consistent():
    params = dataclasses.replace(PARAMS, imu_rate_hz=100.0)
    means = [run_crawl(seed, 16.0, 100.0, 100.0, params, params,
                       with_orientation=True)['nees'].mean() for seed in (5, 6)]
    lo, hi = nees_bounds(6, 2)
    print(f'crawl + IMU orientation ANEES {np.mean(means):.2f}, bound [{lo:.2f}, {hi:.2f}]')
    assert lo <= float(np.mean(means)) <= hi


def test_crawl_drift_and_heading_at_harness_rates():
    """500 Hz joint states, 200 Hz IMU without orientation: legs and gyro only."""
    run = run_crawl(11, 26.0, 500.0, 200.0)
    drift = float(np.linalg.norm(run['e_p'][-1]))
    heading = max(heading_error_deg(e) for e in run['e_th'])
    print(f'crawl: {run["distance_m"]:.3f} m, drift {drift * 1000:.1f} mm '
          f'({100 * drift / run["distance_m"]:.2f} %), max heading error {heading:.3f} deg')
    assert run['distance_m'] > 0.25
    assert drift <= 0.02 * run['distance_m']
    assert heading <= 2.0
    health = run['filter'].health()
    assert health.status is HealthStatus.OK, health
    assert sum(health.gated.values()) <= 3, health.gated


def test_roll_drift_and_heading_and_consistency():
    run = run_roll(21, 24.0, 250.0, 200.0)
    drift = float(np.linalg.norm(run['e_p'][-1]))
    heading = max(heading_error_deg(e) for e in run['e_th'])
    lo, hi = nees_bounds(6, 1)
    anees = float(run['nees'].mean())
    print(f'roll: {run["distance_m"]:.2f} m, drift {drift * 1000:.1f} mm '
          f'({100 * drift / run["distance_m"]:.2f} %), max heading error {heading:.3f} deg, '
          f'ANEES {anees:.2f} [{lo:.2f}, {hi:.2f}]')
    assert run['distance_m'] > 2.3
    assert drift <= 0.05 * run['distance_m']
    assert heading <= 2.0
    assert lo <= anees <= hi
    out = run['filter'].estimate()
    assert out.health.status is HealthStatus.OK
    # Odometry's twist is in base_link: 0.1 m/s forward, turning at 0.01 rad/s.
    assert np.allclose(out.linear_velocity_m_s, [0.1, 0.0, 0.0], atol=0.005)
    assert np.allclose(out.angular_velocity_rad_s, [0.0, 0.0, 0.01], atol=0.002)


# --- faults ------------------------------------------------------------------------------------

def test_a_slipping_claw_does_not_make_the_estimate_jump_more_than_the_slip():
    slip_m = 0.03
    t0 = 5.7   # c1, c2 and c3 all gripped from 5.55 s to 6.45 s
    run = run_crawl(31, 9.0, 500.0, 200.0, slip=('c1', t0, 0.15, [slip_m, 0.0, 0.0]))
    est = run['filter']
    before = run['t'] < t0
    err_before = float(np.linalg.norm(run['e_p'][before][-1]))
    jump = float(np.max(np.linalg.norm(run['e_p'][~before] - run['e_p'][before][-1], axis=1)))
    health = est.health()
    print(f'slip {slip_m * 1000:.0f} mm: error before {err_before * 1000:.2f} mm, largest '
          f'change after {jump * 1000:.2f} mm; {health.last_reason}')
    assert health.gated['c1'] >= 1 and health.anchors_dropped >= 1
    assert jump <= slip_m
    assert jump <= 0.5 * slip_m
    assert 'c1' in health.anchors          # re-anchored where it re-gripped
    assert float(np.linalg.norm(run['e_p'][-1])) <= 0.01


def test_a_dropped_wrist_sensor_and_a_push_keep_the_estimate():
    """c2 untrusted for 5 s (its wrist sensor silent); a 2 cm push of the body in 0.3 s."""
    run = run_crawl(41, 10.0, 250.0, 200.0, untrusted=[('c2', 5.6, 8.4)],
                    bump=(3.8, 0.3, [0.0, 0.02, 0.0]))
    errors = np.linalg.norm(run['e_p'], axis=1)
    during = (run['t'] >= 5.6) & (run['t'] < 8.4)
    assert np.all(run['anchors'][during] <= 2)
    print(f'ft dropout + push: largest error {errors.max() * 1000:.2f} mm')
    assert errors.max() <= 0.01
    assert run['filter'].health().anchors_dropped == 0


def test_a_sudden_shove_is_followed_without_overshoot_or_dropping_anchors():
    """The body is shoved 3 cm sideways within one step, all three claws holding."""
    t0, shove_m = 3.8, 0.03
    run = run_crawl(42, 4.4, 500.0, 200.0, bump=(t0, 1e-4, [0.0, shove_m, 0.0]))
    health = run['filter'].health()
    before = run['t'] < t0
    moved = run['est_p'][~before] - run['est_p'][before][-1]
    err_after = np.linalg.norm(run['e_p'][run['t'] >= t0 + 0.01], axis=1)
    print(f'shove {shove_m * 1000:.0f} mm: estimate moved at most '
          f'{1000 * np.abs(moved[:, 1]).max():.1f} mm, error after 10 ms at most '
          f'{1000 * err_after.max():.1f} mm; {health.last_reason}')
    assert health.anchors_dropped == 0
    assert np.abs(moved[:, 1]).max() <= shove_m + 0.003
    assert err_after.max() <= 0.005


def test_a_stalled_wheel_is_rejected_and_counted():
    clean = run_roll(51, 16.0, 100.0, 100.0)
    run = run_roll(51, 16.0, 100.0, 100.0, stall=(1, 6.0, 12.0))
    health = run['filter'].health()
    err_clean = np.linalg.norm(clean['e_p'], axis=1)
    err = np.linalg.norm(run['e_p'], axis=1)
    print(f'stall: gated {health.gated}, largest error {err.max() * 1000:.1f} mm '
          f'(clean run {err_clean.max() * 1000:.1f} mm)')
    assert health.gated['w2'] >= 0.9 * 6.0 * 100.0
    assert health.gated['w1'] + health.gated['w3'] <= 5
    assert err.max() <= err_clean.max() + 0.01
    assert err.max() <= 0.05 * run['distance_m']


# --- invalid inputs ----------------------------------------------------------------------------

_WARM = []


def _warm_filter():
    """A filter 0.2 s into a crawl (a deep copy of one built once), with its truth."""
    if not _WARM:
        _WARM.append(_build_warm_filter())
    return copy.deepcopy(_WARM[0])


def _build_warm_filter():
    body = crawl_body()
    crawl = Crawl(body)
    sensors = Sensors(61, PARAMS)
    est = start_filter(PARAMS, body, sensors)
    for i in range(101):
        t = i / 500.0
        if i % 5 == 0:
            est.update_imu(sensors.imu(body, t))
        q, flags = crawl.joints(t)
        est.update_joints(t, sensors.legs(q), flags)
    return est, body, crawl, sensors


def _same(a, b):
    return (a.stamp_s == b.stamp_s and np.array_equal(a.position_m, b.position_m)
            and np.array_equal(a.orientation_wxyz, b.orientation_wxyz)
            and np.array_equal(a.linear_velocity_m_s, b.linear_velocity_m_s)
            and np.array_equal(a.pose_covariance, b.pose_covariance)
            and np.array_equal(a.twist_covariance, b.twist_covariance)
            and a.health.anchors == b.health.anchors)


BAD_INPUTS = [
    ('imu', 'not finite', lambda t, q, s: ImuSample(t + 0.002, None, [math.nan, 0, 0], [0, 0, 0])),
    ('imu', 'not finite', lambda t, q, s: ImuSample(t + 0.002, None, [0, 0, 0], [0, math.inf, 0])),
    ('imu', 'finite', lambda t, q, s: ImuSample(t + 0.002, [math.nan, 0, 0, 1], [0, 0, 0],
                                                [0, 0, 0])),
    ('imu', 'not finite', lambda t, q, s: ImuSample(math.nan, None, [0, 0, 0], [0, 0, 0])),
    ('imu', 'not after', lambda t, q, s: ImuSample(t - 0.004, None, [0, 0, 0], [0, 0, 0])),
    ('imu', 'stale', lambda t, q, s: ImuSample(t - 5.0, None, [0, 0, 0], [0, 0, 0])),
    ('imu', 'ahead', lambda t, q, s: ImuSample(t + 100.0, None, [0, 0, 0], [0, 0, 0])),
    ('joints', 'finite', lambda t, q, s: (t + 0.002, np.full(18, math.nan))),
    ('joints', 'not after', lambda t, q, s: (t - 0.001, q)),
    ('joints', 'stale', lambda t, q, s: (t - 1.0, q)),
    ('joints', 'not finite', lambda t, q, s: (math.inf, q)),
    ('joints', 'expected 18', lambda t, q, s: (t + 0.002, q[:7])),
    ('wheels', 'finite', lambda t, q, s: (t + 0.002, [0.0, math.nan, 0.0])),
    ('wheels', 'finite', lambda t, q, s: (t + 0.002, [0.0, 1.0])),
    ('clock', 'before', lambda t, q, s: t - 0.5),
    ('clock', 'not finite', lambda t, q, s: math.nan),
]


@pytest.mark.parametrize('stream, reason, make', BAD_INPUTS)
def test_bad_inputs_are_rejected_reported_and_leave_the_estimate_unchanged(stream, reason,
                                                                           make):
    est, body, crawl, sensors = _warm_filter()
    t = est.t_s
    q, flags = crawl.joints(t)
    before = est.estimate()
    bad = make(t, q, sensors)
    if stream == 'imu':
        ok = est.update_imu(bad)
    elif stream == 'joints':
        ok = est.update_joints(bad[0], bad[1], flags)
    elif stream == 'wheels':
        ok = est.update_wheels(bad[0], bad[1])
    else:
        ok = est.predict(bad)
    after = est.estimate()
    assert ok is False
    assert after.health.rejected[stream] == before.health.rejected[stream] + 1
    assert reason in after.health.last_reason and stream in after.health.last_reason
    assert after.health.status is HealthStatus.DEGRADED
    assert _same(before, after)
    # and the filter goes on as before
    q2, flags2 = crawl.joints(t + 0.002)
    assert est.update_joints(t + 0.002, sensors.legs(q2), flags2)
    assert np.all(np.isfinite(est.estimate().pose_covariance))


def test_a_leg_with_a_nan_angle_is_skipped_and_the_others_used():
    est, body, crawl, sensors = _warm_filter()
    t = est.t_s + 0.002
    q, flags = crawl.joints(t)
    q = sensors.legs(q)
    q[LEG_JOINTS.index('c2_femur_joint')] = math.nan
    assert est.update_joints(t, dict(zip(LEG_JOINTS, q)), flags)
    health = est.health()
    assert health.rejected['joints'] == 1 and 'c2' in health.last_reason
    assert np.all(np.isfinite(est.p)) and np.all(np.isfinite(est.P))
    assert np.linalg.norm(body.position(t) - est.p) < 0.005


def test_silence_makes_the_status_stale_and_the_health_lists_everything():
    est, body, crawl, sensors = _warm_filter()
    assert est.health().status is HealthStatus.OK
    assert est.health().anchors == CLAW_LEGS
    assert est.predict(est.t_s + 2 * PARAMS.input_timeout_s)
    health = est.estimate().health
    assert health.status is HealthStatus.STALE
    assert health.status.diagnostic_level == 3
    assert set(health.rejected) == set(INPUTS) and set(health.gated) == set(GATED)
    keys = dict(health.key_values())
    assert keys['status'] == 'stale' and keys['anchors'] == 'c1,c2,c3'


def test_estimate_is_deterministic_and_ready_for_odometry():
    a = _warm_filter()[0].estimate()
    b = _warm_filter()[0].estimate()
    assert _same(a, b)
    for cov in (a.pose_covariance, a.twist_covariance):
        assert cov.shape == (6, 6) and np.allclose(cov, cov.T)
        assert np.all(np.linalg.eigvalsh(cov) > 0)
    assert math.isclose(float(np.linalg.norm(a.orientation_wxyz)), 1.0)


# --- levelling ---------------------------------------------------------------------------------

@pytest.mark.parametrize('gravity_m_s2, levels', [(1.62, True), (1e-4, False)])
def test_the_accelerometer_levels_only_where_gravity_is_strong_enough(gravity_m_s2, levels):
    """Standing still, no claw gripped, started 2 deg off level (moon vs. Bennu gravity)."""
    params = dataclasses.replace(PARAMS, gravity_m_s2=gravity_m_s2,
                                 initial_orientation_std_rad=0.05)
    body = Body(0.0, [0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1], BODY_Z0)
    rng = np.random.default_rng(71)
    est = StateEstimator(params, ROBOT)
    est.reset(body.position(0.0), euler.euler2quat(math.radians(2.0), 0.0, 0.0), t_s=0.0)
    q = np.tile(STANCE, len(LEG_ORDER))
    up = np.array([0.0, 0.0, gravity_m_s2])
    for i in range(501):
        t = i / 100.0
        acc = up + rng.normal(0.0, ROBOT.imu.accel_noise_std_m_s2, 3)
        gyro = rng.normal(0.0, PARAMS.gyro_noise_std_rad_s, 3)
        assert est.update_imu(ImuSample(t, None, gyro, acc))
        assert est.update_joints(t, q, {})
    tilt_deg = math.degrees(float(np.linalg.norm(pose_error(est, body, 5.0)[1][:2])))
    print(f'g = {gravity_m_s2:g} m/s^2: tilt error after 5 s {tilt_deg:.3f} deg')
    if levels:
        assert tilt_deg < 0.2
    else:
        assert tilt_deg > 1.9
    assert est.health().gated['level'] == 0


def test_a_clock_slightly_behind_the_sensors_is_not_an_error():
    est = _warm_filter()[0]
    before = est.estimate()
    assert est.predict(est.t_s - 0.5 * PARAMS.stale_timeout_s)
    assert _same(before, est.estimate())
    assert est.health().rejected['clock'] == 0


def test_a_long_silence_is_predicted_quickly_and_honestly():
    est = _warm_filter()[0]
    std_before = np.sqrt(np.diag(est.estimate().pose_covariance))
    assert est.predict(est.t_s + 3600.0)
    out = est.estimate()
    std_after = np.sqrt(np.diag(out.pose_covariance))
    assert out.health.status is HealthStatus.STALE
    assert np.all(np.isfinite(out.pose_covariance)) and np.all(std_after > 10 * std_before)


@pytest.mark.parametrize('with_qd', [True, False])
def test_a_wheel_leg_stretching_is_not_taken_for_body_motion(with_qd):
    """Body still; w1's femur and tibia push its wheel 2 cm/s outwards, the wheel rolling."""
    body = Arc(1e-9, 1e-9, 0.2)
    rng = np.random.default_rng(81)
    est = StateEstimator(PARAMS, ROBOT)
    est.reset(body.position(0.0), body.quat(0.0), t_s=0.0)
    leg = KIN.legs['w1']
    i = LEG_ORDER.index('w1')
    q = np.tile(STANCE, len(LEG_ORDER))
    for k in range(201):
        t = k / 200.0
        jac = leg.jacobian(q[3 * i:3 * i + 3])
        radial = leg.rotation_body_leg @ np.array([1.0, 0.0, 0.0])
        # femur and tibia rates that move the wheel centre radially, not vertically
        q23 = np.linalg.lstsq(jac[:, 1:], 0.02 * radial, rcond=None)[0]
        qd = np.zeros(18)
        qd[3 * i + 1:3 * i + 3] = q23
        speeds = np.array([float(jac @ qd[3 * i:3 * i + 3] @ radial) / ROBOT.wheel.radius_m,
                           0.0, 0.0])
        gyro = rng.normal(0.0, PARAMS.gyro_noise_std_rad_s, 3)
        assert est.update_imu(ImuSample(t, None, gyro, np.zeros(3)))
        assert est.update_joints(t, q, {})
        assert est.update_wheels(t, speeds, qd=qd if with_qd else None)
        q = q + qd / 200.0
    moved_mm = 1000 * float(np.linalg.norm(est.p - body.position(1.0)))
    print(f'leg stretching, joint velocities {"given" if with_qd else "not given"}: '
          f'estimate moved {moved_mm:.1f} mm')
    if with_qd:
        assert moved_mm < 2.0
    else:
        assert moved_mm > 4.0


def test_no_anchor_and_no_wheel_odometry_is_degraded():
    est, body, crawl, sensors = _warm_filter()
    t = est.t_s
    for k in range(1, 4):
        q, _ = crawl.joints(t + 0.002 * k)
        assert est.update_imu(sensors.imu(body, t + 0.002 * k))
        assert est.update_joints(t + 0.002 * k, sensors.legs(q), {})
    health = est.health()
    assert health.anchors == () and health.status is HealthStatus.DEGRADED


# --- walking stance ----------------------------------------------------------------------------

@pytest.mark.parametrize('settle_s, moved_max_m, moved_min_m',
                         [(None, 0.0003, None), (0.0, None, 0.001)])
def test_a_walking_leg_is_a_fixed_point_only_once_it_has_touched_down(settle_s, moved_max_m,
                                                                      moved_min_m):
    """The body stands still on three claw legs entering their walking stance together;
    c1's foot is still coming down for 80 ms (its femur 0.03 rad off, closing linearly).
    With the default ``stance_settle_s`` no leg is used before it has settled and the
    estimate stays put; used at once (0 s), c1's touchdown reads as the body moving."""
    params = PARAMS if settle_s is None else dataclasses.replace(PARAMS, stance_settle_s=settle_s)
    est = StateEstimator(params, ROBOT)
    start = np.array([0.0, 0.0, BODY_Z0])
    est.reset(start, (1.0, 0.0, 0.0, 0.0), t_s=0.0)
    stance = tuple(CLAW_LEGS)
    moved = 0.0
    for i in range(101):
        t = i / 200.0
        q = np.tile(STANCE, len(LEG_ORDER))
        q[3 * LEG_ORDER.index('c1') + 1] += 0.03 * max(0.0, 1.0 - t / 0.08)
        assert est.update_imu(ImuSample(t, None, np.zeros(3), np.zeros(3)))
        joints_ok, wheels_ok = fuse_legs_and_wheels(est, t, q, np.zeros(len(LEG_JOINTS)),
                                                    np.zeros(3), {c: True for c in CLAW_LEGS},
                                                    'walk', stance)
        assert joints_ok and wheels_ok
        moved = max(moved, float(np.linalg.norm(est.p - start)))
    print(f'stance_settle_s {params.stance_settle_s:g} s: the estimate moved '
          f'{1000 * moved:.2f} mm')
    if moved_max_m is not None:
        assert moved <= moved_max_m
        assert sum(est.anchor_active) == 3   # every leg is used once settled
    if moved_min_m is not None:
        assert moved >= moved_min_m


def test_a_gripped_claw_stays_anchored_when_the_robot_stands_on_its_feet():
    """Three gripped claws hold the standing body (anchored); then the gait lists every leg
    as standing (the anchor stage): the anchors are kept, not dropped to wait out a
    touchdown that never happened."""
    est = StateEstimator(PARAMS, ROBOT)
    est.reset(np.array([0.0, 0.0, BODY_Z0]), (1.0, 0.0, 0.0, 0.0), t_s=0.0)
    q = np.tile(STANCE, len(LEG_ORDER))
    for i in range(81):
        t = i / 200.0
        stance = tuple(LEG_ORDER) if t >= 0.2 else ()
        assert est.update_imu(ImuSample(t, None, np.zeros(3), np.zeros(3)))
        assert all(fuse_legs_and_wheels(est, t, q, np.zeros(len(LEG_JOINTS)), np.zeros(3),
                                        {c: True for c in CLAW_LEGS}, 'anchor', stance))
        assert all(est.anchor_active), t


# --- the accelerometer driving the velocity ----------------------------------------------------

@pytest.mark.parametrize('gravity_m_s2, levels', [(1.62, True), (1e-4, False)])
def test_a_swaying_body_is_levelled_where_gravity_is_strong(gravity_m_s2, levels):
    """Standing on its three claws (anchored), the body sways: 2 cm at 1 Hz fore and aft,
    1 cm sideways, 5 mm up and down (0.8 m/s^2 at most, half the Moon's gravity, so no
    accelerometer sample is a measure of "up"), and started 2 deg off in pitch. On the Moon
    the accelerometer, driving the velocity the legs contradict, levels it; on Bennu
    nothing can, and nothing pretends to."""
    params = dataclasses.replace(PARAMS, gravity_m_s2=gravity_m_s2,
                                 initial_orientation_std_rad=0.05)
    body = Body(0.0, [0.02, 0.01, 0.005], [1.0, 1.3, 0.7], [0.01, 0.01, 0.0], [3.0, 4.0, 5.0],
                BODY_Z0)
    feet = {c: body.position(0.0) + body.rotation(0.0) @ CLAW_FOOT0[c] for c in CLAW_LEGS}
    rng = np.random.default_rng(73)
    est = StateEstimator(params, ROBOT)
    est.reset(body.position(0.0), quaternions.qmult(body.quat(0.0), _quat_exp(
        [0.0, -math.radians(2.0), 0.0])), t_s=0.0)
    g_world = np.array([0.0, 0.0, gravity_m_s2])
    for i in range(2501):
        t = i / 250.0
        rot, p = body.rotation(t), body.position(t)
        if i % 5 in (0, 2):   # the IMU at 100 Hz + 100 Hz offset: 200 Hz on average
            acc_world = -body.pos_amp * body.pos_w ** 2 * np.sin(body.pos_w * t)
            force = rot.T @ (acc_world + g_world) \
                + rng.normal(0.0, ROBOT.imu.accel_noise_std_m_s2, 3)
            gyro = body.omega_body(t) + rng.normal(0.0, PARAMS.gyro_noise_std_rad_s, 3)
            assert est.update_imu(ImuSample(t, None, gyro, force))
        q = np.tile(STANCE, len(LEG_ORDER))
        for c in CLAW_LEGS:
            result = KIN.legs[c].ik(rot.T @ (feet[c] - p))
            assert result.ok, (t, c, result.reason)
            q[3 * LEG_ORDER.index(c):3 * LEG_ORDER.index(c) + 3] = result.q
        q += rng.normal(0.0, PARAMS.joint_position_noise_std_rad, q.size)
        assert est.update_joints(t, q, {c: True for c in CLAW_LEGS})
    tilt_deg = math.degrees(float(np.linalg.norm(pose_error(est, body, t)[1][:2])))
    print(f'g = {gravity_m_s2:g} m/s^2, swaying: tilt error after 10 s {tilt_deg:.3f} deg')
    if levels:
        assert tilt_deg < 0.3
    else:
        assert tilt_deg > 1.5


# --- standing wheels ---------------------------------------------------------------------------

def test_a_standing_wheel_rolls_with_its_legs_pitch():
    """A wheel standing as a walking foot turns with its leg: femur and tibia pitch about
    its axle. With its joint still and its leg pitching at 0.4 rad/s, one update of a
    standing wheel moves the velocity estimate along the wheel's rolling direction by
    about r x 0.4 rad/s more than a rolling wheel's (whose leg holds its posture)."""
    q = np.tile(STANCE, len(LEG_ORDER))
    qd = np.zeros(len(LEG_JOINTS))
    qd[3 * LEG_ORDER.index('w1') + 1] = 0.4
    velocity = {}
    for standing in (False, True):
        est = StateEstimator(PARAMS, ROBOT)
        est.reset(np.array([0.0, 0.0, BODY_Z0]), (1.0, 0.0, 0.0, 0.0), t_s=0.0)
        assert est.update_imu(ImuSample(0.0, None, np.zeros(3), np.zeros(3)))
        assert est.update_joints(0.0, q, {})
        assert est.update_wheels(0.001, np.zeros(3), {'w1': True}, q, qd, standing=standing)
        velocity[standing] = est.v.copy()
    heading = KIN.legs['w1'].mount_yaw_rad + float(STANCE[0])
    rolling = np.array([math.cos(heading), math.sin(heading), 0.0])
    gained = float((velocity[True] - velocity[False]) @ rolling)
    expected = ROBOT.wheel.radius_m * PARAMS.wheel_rolling_radius_fraction * 0.4
    print(f'standing wheel: {1000 * gained:.1f} mm/s more along its rolling direction '
          f'(r x 0.4 rad/s = {1000 * expected:.1f})')
    assert 0.5 * expected < gained < 1.1 * expected
