# SPDX-License-Identifier: Apache-2.0
"""Benchmark: the cost of one gait controller step (core only, no ROS).

Steps :class:`space_miner.core.gait.GaitController` through a crawl on Bennu (claws
scripted to grip, pass their pull test and release after fixed delays) and a roll on the
Moon, at 50 Hz, and times every step. ``gait_controller_step_us`` and ``..._p99_us`` are the
mean and 99th percentile of the CPU time of the step on its thread [us] (the shared cores'
preemption would otherwise set the percentile); ``gait_controller_step_wall_p99_us`` is the
wall-clock percentile, for comparison.
"""

import time

import numpy as np

from space_miner.core.gait import (BodyInfo, BodyTwist, ClawAction, ClawStatus, GaitController,
                                   GaitInputs, load_gait_params, OdomState, OperatorInput,
                                   TerrainClass, TerrainSummary)
from space_miner.core.kinematics import RobotKinematics
from space_miner.core.robot import load_robot_config
from space_miner.interfaces import CLAW_LEGS

DT_S = 0.02
STEPS_PER_CASE = 1500


class _Claws:
    """Claws that follow the requests after a short delay."""

    def __init__(self, gripping: bool) -> None:
        self.gripping = {c: gripping for c in CLAW_LEGS}
        self.verified = {c: gripping for c in CLAW_LEGS}
        self.since = {c: (ClawAction.HOLD, 0.0) for c in CLAW_LEGS}

    def status(self) -> dict:
        return {c: ClawStatus(self.gripping[c], self.verified[c],
                              120.0 if self.verified[c] else 0.0) for c in CLAW_LEGS}

    def apply(self, t_s: float, requests: tuple) -> None:
        for req in requests:
            c = req.claw
            if self.since[c][0] is not req.action:
                self.since[c] = (req.action, t_s)
            if t_s - self.since[c][1] < 0.15:
                continue
            if req.action is ClawAction.GRIP:
                self.gripping[c] = True
            elif req.action is ClawAction.VERIFY and self.gripping[c]:
                self.verified[c] = True
            elif req.action in (ClawAction.RELEASE, ClawAction.STOW):
                self.gripping[c] = self.verified[c] = False


def _case(body: BodyInfo, ground: TerrainClass, speed_m_s: float, gripping: bool) -> list:
    """(CPU, wall) seconds of every step of one run."""
    robot = load_robot_config()
    ctrl = GaitController(load_gait_params(), robot, body)
    claws = _Claws(gripping)
    q = RobotKinematics(robot).stance_q()
    zero = {c: (0.0, 0.0, 0.0) for c in CLAW_LEGS}
    costs = []
    for i in range(STEPS_PER_CASE):
        t = i * DT_S
        inputs = GaitInputs(
            joint_positions_rad=tuple(q), joint_stamp_s=t, claws=claws.status(),
            wrist_forces_n=zero, wrench_stamps_s={c: t for c in CLAW_LEGS},
            odom=OdomState(stamp_s=t), terrain=TerrainSummary(ground, ground, 2.0, (), t),
            operator=OperatorInput(cmd_vel=BodyTwist(speed_m_s), cmd_vel_stamp_s=t))
        wall = time.perf_counter()
        cpu = time.thread_time()
        out = ctrl.step(t, inputs)
        costs.append((time.thread_time() - cpu, time.perf_counter() - wall))
        claws.apply(t, out.claw_requests)
        q = out.leg_positions_rad
    return costs


def run() -> dict:
    """Time the controller's step; return ``gait_controller_step_us`` and its p99 [us]."""
    bennu = BodyInfo('bennu', True, (0.0, 0.0, -8.1e-5), 0.20)
    moon = BodyInfo('moon', False, (0.0, 0.0, -1.62), 2380.0)
    costs = (_case(bennu, TerrainClass.RUBBLE, 0.015, True)
             + _case(moon, TerrainClass.SMOOTH, 0.3, False))
    us = np.asarray(costs) * 1e6
    return {'gait_controller_step_us': float(np.mean(us[:, 0])),
            'gait_controller_step_p99_us': float(np.percentile(us[:, 0], 99)),
            'gait_controller_step_wall_p99_us': float(np.percentile(us[:, 1], 99))}


if __name__ == '__main__':
    for key, value in run().items():
        print(f'{key:32s} {value:10.1f}')
