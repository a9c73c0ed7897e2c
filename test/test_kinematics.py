# SPDX-License-Identifier: Apache-2.0
"""Leg kinematics: IK(FK(q)) round trips over the workspace; refusals carry a reason."""

import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from space_miner.core.kinematics import LegKinematics, RobotKinematics
from space_miner.core.robot import load_robot_config
from space_miner.interfaces import LEG_ORDER

ROBOT = load_robot_config()
KIN = RobotKinematics(ROBOT)


def _angles(segment):
    lim = ROBOT.joints[segment]
    return st.floats(lim.lower_rad, lim.upper_rad, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(leg=st.sampled_from(LEG_ORDER), q1=_angles('coxa'), q2=_angles('femur'),
       q3=_angles('tibia'))
def test_ik_inverts_fk_over_the_reachable_workspace(leg, q1, q2, q3):
    kin = KIN.legs[leg]
    target = kin.fk([q1, q2, q3])
    result = kin.ik(target)
    assert result.ok, result.reason
    assert np.allclose(kin.fk(result.q), target, atol=1e-9)
    assert kin.limit_violation(result.q) == ''


@settings(max_examples=100, deadline=None)
@given(q1=_angles('coxa'), q2=_angles('femur'), q3=_angles('tibia'))
def test_ik_recovers_the_joint_angles_when_the_solution_is_unique(q1, q2, q3):
    kin = KIN.legs['c1']
    foot = kin.fk_leg([q1, q2, q3])
    if math.hypot(foot[0], foot[1]) < 1e-3 or foot[0] * math.cos(q1) < 0:
        return  # foot behind or over the coxa axis: the coxa angle is ambiguous
    result = kin.ik_leg(foot)
    assert result.ok
    assert np.allclose(result.q, [q1, q2, q3], atol=1e-6)


def test_stance_is_reachable_and_claws_reach_lower_than_wheel_centres():
    feet = KIN.fk_all(KIN.stance_q())
    for leg, p in feet.items():
        assert KIN.legs[leg].ik(p).ok
    assert feet['c1'][2] < feet['w1'][2]


@pytest.mark.parametrize('target, words', [
    ([1.0, 0.0, -0.2], 'reach is'),
    ([0.25, 0.0, 0.0], 'reach is'),          # too close to the femur joint
    ([float('nan'), 0.0, -0.2], 'not a finite'),
    ([float('inf'), 0.0, -0.2], 'not a finite'),
    ([0.2447, 0.2415, -0.2], 'coxa angle'),   # 75 degrees off in the leg: beyond +-60
    ([0.2447, -0.2415, -0.2], 'coxa angle'),
])
def test_unreachable_targets_are_refused_with_a_reason(target, words):
    result = KIN.legs['c1'].ik(target)
    assert not result.ok
    assert result.q is None
    assert words in result.reason and 'c1' in result.reason


def test_jacobian_matches_finite_differences():
    kin = LegKinematics(ROBOT, 'w2')
    q = np.array([0.3, -0.2, 1.4])
    jac = kin.jacobian(q)
    eps = 1e-7
    numeric = np.column_stack([(kin.fk(q + eps * e) - kin.fk(q - eps * e)) / (2 * eps)
                               for e in np.eye(3)])
    assert np.allclose(jac, numeric, atol=1e-6)


def test_body_leg_transforms_are_inverse_and_follow_the_mount_angle():
    kin = KIN.legs['c2']  # mounted at 120 degrees
    mount = kin.leg_to_body([0.0, 0.0, 0.0])
    assert np.allclose(mount, ROBOT.hip_radius_m * np.array(
        [math.cos(math.radians(120)), math.sin(math.radians(120)), 0.0]))
    p = np.array([0.1, -0.05, 0.02])
    assert np.allclose(kin.body_to_leg(kin.leg_to_body(p)), p)


def test_ik_all_keeps_fallback_for_refused_legs():
    stance = KIN.stance_q()
    q, reasons = KIN.ik_all({'c1': [2.0, 0.0, 0.0], 'w1': KIN.legs['w1'].fk([0.2, 0.0, 1.5])})
    assert 'c1' in reasons and 'w1' not in reasons
    assert np.allclose(q[0:3], stance[0:3])
    assert np.allclose(q[3:6], [0.2, 0.0, 1.5])
