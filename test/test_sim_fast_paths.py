# SPDX-License-Identifier: Apache-2.0
"""The simulator's fast paths give the readings of the plain ones, bit for bit."""

import numpy as np

from space_miner.core.robot import load_robot_config
from space_miner.sim.claw_actuator import ClawActuator

ROBOT = load_robot_config()


def _readings(exclusive: bool, steps: int = 400) -> list:
    act = ClawActuator(ROBOT.claw, np.random.default_rng(11), exclusive_rng=exclusive)
    out = []
    for k in range(steps):  # 7 normals a step: crosses several of the blocks drawn ahead
        act.step(120.0 if k < 200 else 0.0, 0.002)
        force, torque = act.measured_wrench((1.0, -2.0, 3.5 + k), (0.1, 0.0, -0.2))
        out.append((act.measured_effort_n(), force.tobytes(), torque.tobytes()))
    return out


def test_an_actuator_drawing_its_noise_ahead_reads_exactly_as_one_drawing_on_demand():
    assert _readings(exclusive=True) == _readings(exclusive=False)


def test_the_noise_is_drawn_as_numpy_normal_would():
    rng = np.random.default_rng(11)
    act = ClawActuator(ROBOT.claw, np.random.default_rng(11), exclusive_rng=True)
    cfg = ROBOT.claw
    expected_effort = act.force_n + cfg.effort_bias_n + float(
        rng.normal(0.0, cfg.effort_noise_std_n))
    assert act.measured_effort_n() == expected_effort
    noise = rng.normal(0.0, 1.0, 6)
    force, _ = act.measured_wrench((1.0, 2.0, 3.0), (0.0, 0.0, 0.0))
    assert np.array_equal(force, np.array([1.0, 2.0, 3.0]) + cfg.wrench_force_bias_n
                          + cfg.wrench_force_noise_std_n * noise[:3])
