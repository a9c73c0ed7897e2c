# SPDX-License-Identifier: Apache-2.0
"""Pure glue between the cores' own types: sensors -> claw, claw <-> gait, estimate -> gait.

The cores do not import each other (DESIGN.md section 2): the claw controller
(:mod:`space_miner.core.claw`), the gait controller (:mod:`space_miner.core.gait`) and the
estimator (:mod:`space_miner.core.estimation`) each define the small types they need. The
lockstep harness and the nodes use the functions here to pass one core's output to
another, so that both run the same adaptation (never a second copy of behaviour).

Frames of the wrist wrench: the hardware contract gives it in ``<c>_ft_link``, whose x runs
along the tibia towards the claw (:func:`space_miner.core.gait_compliance.ft_to_base_rotation`);
a leg pressing its claw on the ground reads +x. The claw controller's convention is a z
along the tibia that reads + when pressing (its tangential load is the other two axes):
:func:`claw_frame_wrench` makes that proper rotation. The gait layer wants the force the leg
exerts on its grip in base_link (+z pulls the claw off the surface):
:func:`wrist_force_in_base`.
"""

import math
from typing import Mapping, Sequence

import numpy as np

from space_miner.core.claw import (ClawMode, ClawRequest as ClawCoreRequest,
                                   ClawSensorSample, ClawState)
from space_miner.core.gait_compliance import ft_to_base_rotation
from space_miner.core.gait_types import (ClawAction, ClawRequest as GaitClawRequest,
                                         ClawStatus, claw_status_from_state, OdomState)
from space_miner.core.robot import RobotConfig
from space_miner.interfaces import ALL_JOINTS, CLAW_LEGS, LEG_JOINTS, LEG_ORDER

#: Claw modes in which a gripped claw may be used as a fixed point on the ground: a grip a
#: pull test has verified (a claw still closing, under its pull test or slipping is not).
ANCHOR_MODES = (ClawMode.HOLDING,)

_CLAW_JOINT_INDEX = {c: ALL_JOINTS.index(f'{c}_claw_joint') for c in CLAW_LEGS}


def claw_frame_wrench(force_ft_n: Sequence[float], torque_ft_nm: Sequence[float]) -> tuple:
    """Express a wrist wrench of ``<c>_ft_link`` in the claw controller's convention.

    Returns ``(force [N], torque [N m])`` as 3-tuples with z along the tibia (+ when the leg
    presses the claw on the ground): ``(x, y, z)_claw = (-z, y, x)_ft``, a proper rotation.
    """
    fx, fy, fz = (float(v) for v in force_ft_n)
    tx, ty, tz = (float(v) for v in torque_ft_nm)
    return (-fz, fy, fx), (-tz, ty, tx)


def claw_sensor_sample(claw: str, joint_stamp_s: float, position: Sequence[float],
                       effort: Sequence[float], wrench_stamp_s: float,
                       force_ft_n: Sequence[float] | None,
                       torque_ft_nm: Sequence[float] | None) -> ClawSensorSample:
    """Build one claw's :class:`ClawSensorSample` from ``/joint_states`` arrays and its wrench.

    ``position`` and ``effort`` follow ``ALL_JOINTS`` [m, N]; the claw joint's effort is the
    squeeze. ``force_ft_n``/``torque_ft_nm`` are the latest wrist wrench in ``<c>_ft_link``
    stamped ``wrench_stamp_s`` [s] (None: never received: NaN, which the controller refuses).
    """
    i = _CLAW_JOINT_INDEX[claw]
    if force_ft_n is None or torque_ft_nm is None:
        force, torque = (math.nan,) * 3, (math.nan,) * 3
    else:
        force, torque = claw_frame_wrench(force_ft_n, torque_ft_nm)
    return ClawSensorSample(squeeze_stamp_s=float(joint_stamp_s), squeeze_n=float(effort[i]),
                            joint_position_m=float(position[i]),
                            wrench_stamp_s=float(wrench_stamp_s),
                            wrench_force_xyz_n=force, wrench_torque_xyz_nm=torque)


def claw_core_request(request: GaitClawRequest) -> ClawCoreRequest:
    """Translate the gait layer's request for one claw into the claw controller's request.

    ``grip`` -> grip at ``grip_force_n``; ``verify`` -> a pull test of ``pull_load_n``;
    ``release`` and ``stow`` -> release; ``hold`` -> hold.
    """
    action = request.action
    if action is ClawAction.GRIP:
        return ClawCoreRequest.grip(request.claw, float(request.grip_force_n))
    if action is ClawAction.VERIFY:
        return ClawCoreRequest.verify(request.claw, float(request.pull_load_n))
    if action in (ClawAction.RELEASE, ClawAction.STOW):
        return ClawCoreRequest.release(request.claw)
    return ClawCoreRequest.hold(request.claw)


def claw_statuses(states: Sequence[ClawState], pull_requests: tuple = ()) -> dict:
    """Map the claw controller's states to the gait layer's :class:`ClawStatus` per claw."""
    return {s.claw: claw_status_from_state(s, tuple(pull_requests)) for s in states}


def wrist_force_in_base(robot: RobotConfig, claw: str, q18_rad: Sequence[float],
                        force_ft_n: Sequence[float]) -> tuple:
    """Return the force the leg exerts on its grip in base_link [N] from the wrist reading.

    ``q18_rad`` are the leg joints in LEG_JOINTS order (or ALL_JOINTS: the first 18 are used).
    """
    k = LEG_ORDER.index(claw)
    q_leg = [float(v) for v in q18_rad[3 * k:3 * k + 3]]
    rot = ft_to_base_rotation(robot.mount_yaw_rad[claw], q_leg)
    return tuple(float(v) for v in rot @ np.asarray(force_ft_n, dtype=float))


def odom_state(estimate: object) -> OdomState:
    """Map an estimator ``Estimate`` (duck-typed) to the gait layer's :class:`OdomState`."""
    return OdomState(position_m=tuple(float(v) for v in estimate.position_m),
                     orientation_wxyz=tuple(float(v) for v in estimate.orientation_wxyz),
                     linear_m_s=tuple(float(v) for v in estimate.linear_velocity_m_s),
                     angular_rad_s=tuple(float(v) for v in estimate.angular_velocity_rad_s),
                     stamp_s=float(estimate.stamp_s))


def anchored_claws(states: Sequence[ClawState], wrench_fresh: Mapping[str, bool],
                   walking_stance: Sequence[str] = ()) -> dict:
    """Which claws the estimator may treat as fixed points: claw -> bool.

    A claw anchors while it holds a verified grip (``holding``: not closing, under test,
    slipping, releasing, unknown or failed) and its wrist sensor is alive; a claw that
    slips is dropped at once (its mode leaves ``holding``). While walking, an open claw
    leg in its stance phase (``walking_stance``, from the gait) stands on the ground and
    anchors too.
    """
    stance = set(walking_stance)
    return {s.claw: (s.mode in ANCHOR_MODES and bool(wrench_fresh.get(s.claw, False)))
            or (s.claw in stance and s.mode is ClawMode.OPEN) for s in states}


def leg_positions(position: Sequence[float]) -> tuple:
    """Return the 18 leg joint positions [rad] (LEG_JOINTS order) of an ALL_JOINTS array."""
    return tuple(float(v) for v in position[:len(LEG_JOINTS)])


__all__ = ['ANCHOR_MODES', 'anchored_claws', 'claw_core_request', 'claw_frame_wrench',
           'claw_sensor_sample', 'claw_statuses', 'leg_positions', 'odom_state',
           'wrist_force_in_base', 'ClawStatus']
