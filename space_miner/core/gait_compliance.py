# SPDX-License-Identifier: Apache-2.0
"""Stance compliance: a force-limiting layer on the wrist forces of gripping legs.

Stance legs are position servos of finite joint stiffness ``K_q`` (robot.yaml
``joints.*.stiffness_nm_per_rad``); near a posture ``q`` the foot's Cartesian stiffness is
``K_cart = J^-T K_q J^-1`` (J the leg Jacobian in base_link), so a position error ``e``
between the target and the held claw produces ``F = K_cart e`` on the grip. When several
claws grip at once (closed chains), a body position error loads them all; this layer
shifts the position target of every gripping leg along its measured force so that the load
comes back to ``compliance_target_fraction`` of its limit (``load_fraction`` of the claw's
verified holding force; ``unverified_load_limit_n`` before the grip is verified):

    excess = F - F * min(1, F_target / |F|);    offset -= gain * K_cart^-1 excess

While a claw is pull-tested (the body stands still) the other gripping legs are brought
back to their full limit instead: the test's reaction is what they must hold.

``F`` is the force the leg exerts on its grip in base_link (``+z`` pulls the claw off the
surface). Offsets are bounded by ``compliance_offset_max_m`` and cleared when a claw lets
go.
"""

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from space_miner.core.gait_params import GaitParams
from space_miner.core.gait_types import ClawStatus
from space_miner.core.kinematics import RobotKinematics
from space_miner.interfaces import CLAW_LEGS, LEG_ORDER


def ft_to_base_rotation(mount_yaw_rad: float, q_leg_rad: Sequence[float]) -> np.ndarray:
    """Rotation of ``<claw>_ft_link`` into base_link for joint angles (coxa, femur, tibia).

    The wrist frame has the tibia's orientation (x along the tibia towards the claw): yaw
    ``mount + coxa`` about z, then pitch ``femur + tibia`` about the leg's y (a positive
    pitch turns x downwards). The node uses it to express a measured wrist force in
    base_link for :meth:`StanceCompliance.update`.
    """
    yaw = mount_yaw_rad + float(q_leg_rad[0])
    pitch = float(q_leg_rad[1]) + float(q_leg_rad[2])
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    return rz @ ry


class StanceCompliance:
    """Admittance on the gripping claws' foot targets, per step."""

    def __init__(self, params: GaitParams, kinematics: RobotKinematics) -> None:
        self.params = params
        self.kinematics = kinematics
        joints = kinematics.robot.joints
        self.k_q = np.diag([joints['coxa'].stiffness_nm_per_rad,
                            joints['femur'].stiffness_nm_per_rad,
                            joints['tibia'].stiffness_nm_per_rad])
        self.offsets_m = {c: np.zeros(3) for c in CLAW_LEGS}

    def reset(self) -> None:
        """Clear every correction."""
        self.offsets_m = {c: np.zeros(3) for c in CLAW_LEGS}

    def cartesian_stiffness(self, leg: str, q_rad: Sequence[float]) -> np.ndarray:
        """``K_cart = J^-T K_q J^-1`` of ``leg`` at joint angles ``q_rad`` [N/m]."""
        jac = self.kinematics.legs[leg].jacobian(q_rad)
        jinv = np.linalg.inv(jac)
        return jinv.T @ self.k_q @ jinv

    def force_from_error(self, leg: str, q_rad: Sequence[float],
                         error_m: Sequence[float]) -> np.ndarray:
        """Force on the grip [N] of a target ahead of the held claw by ``error_m`` [m]."""
        return self.cartesian_stiffness(leg, q_rad) @ np.asarray(error_m, dtype=float)

    def offset_for_force(self, leg: str, q_rad: Sequence[float],
                         force_n: Sequence[float]) -> np.ndarray:
        """Target shift [m] that makes a held claw feel ``force_n`` [N] (pull tests)."""
        return np.linalg.solve(self.cartesian_stiffness(leg, q_rad),
                               np.asarray(force_n, dtype=float))

    def limit_n(self, status: ClawStatus) -> float:
        """Largest load [N] a gripping claw may carry."""
        if status.holds_verified:
            return self.params.load_fraction * status.verified_holding_n
        return self.params.unverified_load_limit_n

    def update(self, claws: Mapping[str, ClawStatus], forces_n: Mapping[str, Sequence[float]],
               q18_rad: Sequence[float], exclude: Iterable[str] = (),
               unload: Iterable[str] = ()) -> dict:
        """One admittance step from the measured wrist forces; return the offsets [m].

        ``q18_rad`` are the measured leg joints (LEG_JOINTS order); claws in ``exclude``
        (under a pull test) keep their offsets unchanged; claws in ``unload`` (about to be
        released) are brought towards no load at all, so that opening them does not let a
        loaded leg spring the body away.
        """
        p = self.params
        q = np.asarray(q18_rad, dtype=float).reshape(len(LEG_ORDER), 3)
        skip = set(exclude)
        relieve = set(unload)
        for claw in CLAW_LEGS:
            status = claws.get(claw, ClawStatus())
            if not status.gripping or status.failed:
                self.offsets_m[claw] = np.zeros(3)
                continue
            if claw in skip:
                continue
            force = np.asarray(forces_n.get(claw, (0.0, 0.0, 0.0)), dtype=float)
            magnitude = float(np.linalg.norm(force))
            if not math.isfinite(magnitude):
                continue
            # While another claw is pull-tested the body stands still: the others may carry
            # up to their limit, as the test's reaction is what they must hold.
            fraction = 1.0 if skip else p.compliance_target_fraction
            target = 0.0 if claw in relieve else fraction * self.limit_n(status)
            if magnitude <= target or magnitude <= 0.0:
                continue
            excess = force * (1.0 - target / magnitude)
            q_leg = q[LEG_ORDER.index(claw)]
            try:
                shift = np.linalg.solve(self.cartesian_stiffness(claw, q_leg), excess)
            except np.linalg.LinAlgError:
                continue
            offset = self.offsets_m[claw] - p.compliance_gain * shift
            norm = float(np.linalg.norm(offset))
            if norm > p.compliance_offset_max_m:
                offset *= p.compliance_offset_max_m / norm
            self.offsets_m[claw] = offset
        return {c: v.copy() for c, v in self.offsets_m.items()}
