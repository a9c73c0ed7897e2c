# SPDX-License-Identifier: Apache-2.0
"""The robot settles on a flat patch on its three claws, carrying its own weight."""

import subprocess
import sys

import pytest

from space_miner.core.robot import load_robot_config
from space_miner.sim.settle import settle_on_flat_patch


def test_robot_rests_level_on_its_claws_and_the_ground_carries_its_weight():
    robot = load_robot_config()
    report = settle_on_flat_patch(duration_s=4.0, gravity_m_s2=1.62)
    touching = {body for body, _ in report.contacts}
    assert touching == {'c1_claw_link', 'c2_claw_link', 'c3_claw_link'}
    total_n = sum(force for _, force in report.contacts)
    assert total_n == pytest.approx(robot.total_mass_kg * 1.62, rel=0.03)
    assert report.speed_m_s < 1e-3
    w, x, y, z = report.quat_wxyz
    assert abs(x) < 1e-3 and abs(y) < 1e-3  # level
    assert 0.1 < report.position_m[2] < 0.4


def test_settling_refuses_a_non_positive_duration():
    with pytest.raises(ValueError, match='duration_s'):
        settle_on_flat_patch(duration_s=0.0)


def test_cli_refuses_bad_arguments_with_a_clear_message():
    result = subprocess.run([sys.executable, '-m', 'space_miner.cli', 'settle', '--gravity',
                             'nan'], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "'nan' must be a positive finite number" in result.stderr
