# SPDX-License-Identifier: Apache-2.0
"""Leg kinematics: forward and inverse kinematics, Jacobians, body <-> leg transforms.

Conventions (config/robot.yaml): each leg's frame sits on its coxa axis, x radially out,
z up. The coxa yaws about z; femur and tibia pitch about the leg's y so that a positive
angle moves the foot down. The *foot point* is the claw tip for claw legs and the wheel
centre for wheel legs. Lengths are metres, angles radians.
"""

from dataclasses import dataclass
import math
from typing import Mapping, Sequence

import numpy as np
from transforms3d import affines, axangles, quaternions

from space_miner.core.robot import RobotConfig
from space_miner.interfaces import CLAW_LEGS, LEG_ORDER


@dataclass(frozen=True)
class IkResult:
    """Outcome of an inverse-kinematics request.

    ``q`` holds (coxa, femur, tibia) [rad] when ``ok``; otherwise ``reason`` says why the
    target was refused (unreachable, outside a joint limit, not finite).
    """

    ok: bool
    q: np.ndarray | None
    reason: str = ''


def _wrap(angle_rad: float) -> float:
    return math.atan2(math.sin(angle_rad), math.cos(angle_rad))


class LegKinematics:
    """Kinematics of one leg, in its own frame and in ``base_link``."""

    def __init__(self, robot: RobotConfig, leg: str) -> None:
        if leg not in LEG_ORDER:
            raise ValueError(f'unknown leg {leg!r}; legs are {LEG_ORDER}')
        self.name = leg
        self.is_claw = leg in CLAW_LEGS
        geo = robot.leg
        self.coxa_m = geo.coxa_length_m
        self.femur_m = geo.femur_length_m
        # The foot point sits on the tibia's axis: claw tip, or wheel centre.
        self.tibia_m = geo.tibia_length_m + (robot.claw.length_m if self.is_claw else 0.0)
        self.limits = (robot.joints['coxa'], robot.joints['femur'], robot.joints['tibia'])
        self.mount_yaw_rad = robot.mount_yaw_rad[leg]
        mount = robot.hip_radius_m * np.array(
            [math.cos(self.mount_yaw_rad), math.sin(self.mount_yaw_rad), 0.0])
        self.rotation_body_leg = axangles.axangle2mat([0.0, 0.0, 1.0], self.mount_yaw_rad)
        self.mount_xyz_m = mount
        #: Homogeneous transform from the leg frame to base_link.
        self.transform_body_leg = affines.compose(mount, self.rotation_body_leg, np.ones(3))

    # --- frames ------------------------------------------------------------------------
    def body_to_leg(self, p_body: Sequence[float]) -> np.ndarray:
        """Express a point given in base_link in this leg's frame."""
        return self.rotation_body_leg.T @ (np.asarray(p_body, dtype=float) - self.mount_xyz_m)

    def leg_to_body(self, p_leg: Sequence[float]) -> np.ndarray:
        """Express a point given in this leg's frame in base_link."""
        return self.rotation_body_leg @ np.asarray(p_leg, dtype=float) + self.mount_xyz_m

    # --- forward -----------------------------------------------------------------------
    def fk_leg(self, q: Sequence[float]) -> np.ndarray:
        """Foot point in the leg frame for joint angles (coxa, femur, tibia)."""
        q1, q2, q3 = (float(v) for v in q)
        reach = self.coxa_m + self.femur_m * math.cos(q2) + self.tibia_m * math.cos(q2 + q3)
        height = -(self.femur_m * math.sin(q2) + self.tibia_m * math.sin(q2 + q3))
        return np.array([math.cos(q1) * reach, math.sin(q1) * reach, height])

    def fk(self, q: Sequence[float]) -> np.ndarray:
        """Foot point in base_link for joint angles (coxa, femur, tibia)."""
        return self.leg_to_body(self.fk_leg(q))

    def jacobian(self, q: Sequence[float]) -> np.ndarray:
        """3x3 Jacobian d(foot point in base_link)/dq."""
        q1, q2, q3 = (float(v) for v in q)
        s1, c1 = math.sin(q1), math.cos(q1)
        s2, c2 = math.sin(q2), math.cos(q2)
        s23, c23 = math.sin(q2 + q3), math.cos(q2 + q3)
        reach = self.coxa_m + self.femur_m * c2 + self.tibia_m * c23
        dr2 = -self.femur_m * s2 - self.tibia_m * s23
        dz2 = -(self.femur_m * c2 + self.tibia_m * c23)
        dr3 = -self.tibia_m * s23
        dz3 = -self.tibia_m * c23
        jac_leg = np.array([[-s1 * reach, c1 * dr2, c1 * dr3],
                            [c1 * reach, s1 * dr2, s1 * dr3],
                            [0.0, dz2, dz3]])
        return self.rotation_body_leg @ jac_leg

    # --- checks ------------------------------------------------------------------------
    def limit_violation(self, q: Sequence[float]) -> str:
        """Empty string when ``q`` is within the joint limits, else the reason."""
        for name, value, lim in zip(('coxa', 'femur', 'tibia'), q, self.limits):
            if not math.isfinite(value):
                return f'{self.name} {name} angle is not finite'
            if not lim.contains(value):
                return (f'{self.name} {name} angle {value:.3f} rad outside '
                        f'[{lim.lower_rad:.3f}, {lim.upper_rad:.3f}]')
        return ''

    # --- inverse -----------------------------------------------------------------------
    def ik_leg(self, p_leg: Sequence[float]) -> IkResult:
        """Joint angles that put the foot point at ``p_leg`` (leg frame), or why not."""
        p = np.asarray(p_leg, dtype=float)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            return IkResult(False, None, f'{self.name}: target {p_leg!r} is not a finite 3-vector')
        x, y, z = p
        rho = math.hypot(x, y)
        lo = abs(self.femur_m - self.tibia_m)
        hi = self.femur_m + self.tibia_m
        reasons = []
        # The coxa may point at the target, or away from it with the foot behind the hip.
        for q1, radial in ((math.atan2(y, x), rho), (_wrap(math.atan2(y, x) + math.pi), -rho)):
            if rho < 1e-9:
                q1, radial = 0.0, 0.0
            r = radial - self.coxa_m
            dist = math.hypot(r, z)
            if dist > hi + 1e-12 or dist < lo - 1e-12:
                reasons.append(f'{self.name}: target is {dist:.3f} m from the femur joint; '
                               f'reach is {lo:.3f}..{hi:.3f} m')
                continue
            cos_q3 = (dist ** 2 - self.femur_m ** 2 - self.tibia_m ** 2) / (
                2.0 * self.femur_m * self.tibia_m)
            q3 = math.acos(min(1.0, max(-1.0, cos_q3)))
            knee = math.atan2(self.tibia_m * math.sin(q3),
                              self.femur_m + self.tibia_m * math.cos(q3))
            q2 = math.atan2(-z, r) - knee
            q = np.array([q1, _wrap(q2), q3])
            why = self.limit_violation(q)
            if not why:
                return IkResult(True, q, '')
            reasons.append(why)
        return IkResult(False, None, reasons[0] if reasons else f'{self.name}: unreachable')

    def ik(self, p_body: Sequence[float]) -> IkResult:
        """Joint angles that put the foot point at ``p_body`` (base_link), or why not."""
        p = np.asarray(p_body, dtype=float)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            return IkResult(False, None,
                            f'{self.name}: target {p_body!r} is not a finite 3-vector')
        return self.ik_leg(self.body_to_leg(p))


class RobotKinematics:
    """Kinematics of all six legs, in contract order."""

    def __init__(self, robot: RobotConfig) -> None:
        self.robot = robot
        self.legs: Mapping[str, LegKinematics] = {
            leg: LegKinematics(robot, leg) for leg in LEG_ORDER}

    def stance_q(self) -> np.ndarray:
        """Return the nominal standing posture: 18 joint angles in contract order [rad]."""
        return np.tile(np.asarray(self.robot.leg.stance_rad, dtype=float), len(LEG_ORDER))

    def fk_all(self, q18: Sequence[float]) -> dict:
        """Foot points in base_link of all legs for 18 joint angles in contract order."""
        q = np.asarray(q18, dtype=float).reshape(len(LEG_ORDER), 3)
        return {leg: self.legs[leg].fk(q[i]) for i, leg in enumerate(LEG_ORDER)}

    def ik_all(self, targets: Mapping[str, Sequence[float]],
               fallback_q18: Sequence[float] | None = None) -> tuple:
        """Solve every leg with a target (base_link); others keep ``fallback_q18``.

        Returns (q18, reasons): the 18 angles in contract order and a dict of refusals per
        leg (a refused leg keeps its fallback angles).
        """
        q = np.array(self.stance_q() if fallback_q18 is None else fallback_q18,
                     dtype=float).reshape(len(LEG_ORDER), 3)
        reasons = {}
        for i, leg in enumerate(LEG_ORDER):
            if leg not in targets:
                continue
            result = self.legs[leg].ik(targets[leg])
            if result.ok:
                q[i] = result.q
            else:
                reasons[leg] = result.reason
        return q.reshape(-1), reasons


def pose_matrix(xyz: Sequence[float], quat_wxyz: Sequence[float]) -> np.ndarray:
    """4x4 homogeneous transform from a position and a (w, x, y, z) quaternion."""
    rotation = quaternions.quat2mat(np.asarray(quat_wxyz, dtype=float))
    return affines.compose(np.asarray(xyz, dtype=float), rotation, np.ones(3))
