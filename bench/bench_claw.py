# SPDX-License-Identifier: Apache-2.0
"""Cost of one claw controller step (space_miner/core/claw.py), in microseconds.

The controller runs closed loop on three ClawActuator plants at 500 Hz through a realistic
cycle: open (zero learning), grip at 120 N, a pull test, holding under a slowly varying
load. Sensor samples are built before the timed call; only ``ClawController.step`` is timed.
Figures: ``claw_controller_step_us`` (median) and ``claw_controller_step_p99_us``.
Run: ``.venv/bin/python bench/run_all.py claw``.
"""

import time

import numpy as np

from space_miner.core.claw import (
    ClawController, ClawRequest, ClawSensorSample, load_claw_params)
from space_miner.core.robot import load_robot_config
from space_miner.interfaces import CLAW_LEGS
from space_miner.sim.claw_actuator import ClawActuator

DT_S = 0.002
STEPS = 20000  # 40 s of simulated time


def run() -> dict:
    """Time the controller step; return the median and p99 cost [us]."""
    robot = load_robot_config()
    params = load_claw_params()
    rng = np.random.default_rng(1)
    actuators = [ClawActuator(robot.claw, rng) for _ in CLAW_LEGS]
    controller = ClawController(params, robot)
    commands = (0.0, 0.0, 0.0)
    load_n = [0.0, 0.0, 0.0]
    costs_ns = np.empty(STEPS)
    for k in range(STEPS):
        t_s = (k + 1) * DT_S
        requests = ()
        if k == 200:
            requests = tuple(ClawRequest.grip(c, 120.0) for c in CLAW_LEGS)
        elif k == 800:
            requests = tuple(ClawRequest.verify(c, 40.0) for c in CLAW_LEGS)
        sensors = {}
        for i, (claw, actuator) in enumerate(zip(CLAW_LEGS, actuators)):
            actuator.step(commands[i], DT_S)
            if k > 800:
                goal = 40.0 if k < 1400 else 20.0 + 10.0 * np.sin(t_s)
                load_n[i] += float(np.clip(goal - load_n[i], -0.2, 0.2))
            force, torque = actuator.measured_wrench((0.0, 0.0, -load_n[i]), (0.0, 0.0, 0.0))
            sensors[claw] = ClawSensorSample(t_s, actuator.measured_effort_n(), 0.01, t_s,
                                             tuple(force), tuple(torque))
        start = time.perf_counter_ns()
        out = controller.step(t_s, sensors, requests)
        costs_ns[k] = time.perf_counter_ns() - start
        commands = out.effort_commands_n
    costs_us = costs_ns / 1000.0
    return {
        'claw_controller_step_us': float(np.median(costs_us)),
        'claw_controller_step_p99_us': float(np.percentile(costs_us, 99)),
    }


if __name__ == '__main__':
    print(run())
