# SPDX-License-Identifier: Apache-2.0
"""Cost of one state-estimator step: predict, IMU update and joint update with 3 anchors.

The filter runs on a standing robot whose three claws are anchored, fed at the lockstep
harness's rates (joint states 500 Hz, IMU every step here, so that each timed step holds all
three parts). Inputs are synthesised beforehand, so only the filter is timed.
"""

import time

import numpy as np

from space_miner.core.estimation import ImuSample, load_estimator_params, StateEstimator
from space_miner.core.kinematics import RobotKinematics
from space_miner.core.robot import load_robot_config
from space_miner.interfaces import CLAW_LEGS

STEPS = 4000
WARMUP = 200
JOINT_RATE_HZ = 500.0


def run() -> dict[str, float]:
    """Time STEPS filter steps; return the median and p99 step cost [us]."""
    robot = load_robot_config()
    params = load_estimator_params()
    kin = RobotKinematics(robot)
    rng = np.random.default_rng(0)
    q0 = kin.stance_q()
    qs = q0 + rng.normal(0.0, params.joint_position_noise_std_rad, (STEPS, q0.size))
    gyro = rng.normal(0.0, params.gyro_noise_std_rad_s, (STEPS, 3))
    acc = rng.normal(0.0, robot.imu.accel_noise_std_m_s2, (STEPS, 3))
    anchored = {c: True for c in CLAW_LEGS}
    est = StateEstimator(params, robot)
    est.reset(t_s=0.0)
    costs = []
    for i in range(STEPS):
        t = (i + 1) / JOINT_RATE_HZ
        sample = ImuSample(t, None, gyro[i], acc[i])
        start = time.perf_counter()
        est.predict(t)
        est.update_imu(sample)
        est.update_joints(t, qs[i], anchored)
        costs.append(time.perf_counter() - start)
    assert len(est.health().anchors) == 3, est.health()
    us = np.asarray(costs[WARMUP:]) * 1e6
    return {'estimator_step_us': float(np.median(us)),
            'estimator_step_p99_us': float(np.percentile(us, 99))}


if __name__ == '__main__':
    print(run())
