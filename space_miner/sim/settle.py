# SPDX-License-Identifier: Apache-2.0
"""Settle the robot on a flat patch: the smallest honest run of the MuJoCo model.

The robot is dropped in its standing posture onto a plane, its legs held by position
actuators with the stiffness and torque limits of robot.yaml, and stepped until it rests.
The report gives its pose and the contacts it rests on.
"""

from dataclasses import dataclass
import math
from typing import Callable

import mujoco
import numpy as np

from space_miner.core.kinematics import RobotKinematics
from space_miner.core.robot import RobotConfig, load_robot_config
from space_miner.interfaces import LEG_JOINTS, LEG_ORDER, SEGMENTS
from space_miner.sim.model import robot_spec


@dataclass(frozen=True)
class SettleReport:
    """Where the robot came to rest [m, quaternion w,x,y,z] and what it touches."""

    sim_time_s: float
    position_m: tuple
    quat_wxyz: tuple
    speed_m_s: float
    contacts: tuple  # (geom body name, normal force [N]) per contact with the ground


def _build(robot: RobotConfig, gravity_m_s2: float, timestep_s: float) -> mujoco.MjModel:
    spec = robot_spec()
    spec.option.timestep = timestep_s
    spec.option.gravity = [0.0, 0.0, -gravity_m_s2]
    spec.worldbody.add_geom(name='ground', type=mujoco.mjtGeom.mjGEOM_PLANE,
                            size=[5.0, 5.0, 0.1], friction=[0.6, 0.005, 0.0001])
    for leg in LEG_ORDER:
        for seg in SEGMENTS:
            limits = robot.joints[seg]
            act = spec.add_actuator(name=f'{leg}_{seg}_position',
                                    target=f'{leg}_{seg}_joint',
                                    trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_position(kp=limits.stiffness_nm_per_rad,
                                kv=limits.damping_nms_per_rad)
            act.forcelimited = True
            act.forcerange = [-limits.effort_nm, limits.effort_nm]
    feed = spec.add_actuator(name='sampler_feed_position', target='sampler_feed_joint',
                             trntype=mujoco.mjtTrn.mjTRN_JOINT)
    feed.set_to_position(kp=5000.0, kv=100.0)  # held retracted
    feed.forcelimited = True
    feed.forcerange = [-robot.sampler.feed_force_max_n, robot.sampler.feed_force_max_n]
    return spec.compile()


def settle_on_flat_patch(duration_s: float = 5.0, gravity_m_s2: float = 1.62,
                         timestep_s: float = 0.002,
                         progress: Callable[[float], None] | None = None) -> SettleReport:
    """Drop the robot onto a plane in its standing posture and step ``duration_s``."""
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f'duration_s = {duration_s!r}: must be positive')
    robot = load_robot_config()
    model = _build(robot, gravity_m_s2, timestep_s)
    data = mujoco.MjData(model)
    kin = RobotKinematics(robot)
    stance = kin.stance_q()
    for name, q in zip(LEG_JOINTS, stance):
        data.qpos[model.jnt_qposadr[model.joint(name).id]] = q
        data.ctrl[model.actuator(name.replace('_joint', '_position')).id] = q
    lowest = min(p[2] for p in kin.fk_all(stance).values())
    data.qpos[2] = -lowest + robot.claw.pad_radius_m + 0.01
    steps = int(round(duration_s / timestep_s))
    for i in range(steps):
        mujoco.mj_step(model, data)
        if progress is not None and i % 250 == 0:
            progress(data.time)
    ground = model.geom('ground').id
    contacts = []
    force = np.zeros(6)
    for i in range(data.ncon):
        con = data.contact[i]
        if ground not in (con.geom1, con.geom2):
            continue
        other = con.geom2 if con.geom1 == ground else con.geom1
        mujoco.mj_contactForce(model, data, i, force)
        contacts.append((model.body(model.geom_bodyid[other]).name, float(force[0])))
    return SettleReport(
        sim_time_s=float(data.time),
        position_m=tuple(float(v) for v in data.qpos[0:3]),
        quat_wxyz=tuple(float(v) for v in data.qpos[3:7]),
        speed_m_s=float(np.linalg.norm(data.qvel[0:3])),
        contacts=tuple(sorted(contacts)),
    )
