# SPDX-License-Identifier: Apache-2.0
"""The stack's cores as lockstep-harness components (:class:`space_miner.sim.harness.Component`).

Each component wraps the *same* core object the matching node wraps, reads only what the
hardware contract gives (``bus.sensors``) and what other components published
(``bus.values``), and writes hardware commands to ``bus.commands``. The conversions between
the cores' types are :mod:`space_miner.core.adapters` (shared with the nodes).

``bus.values`` keys written here:

- ``claw_output``: the claw controller's latest :class:`~space_miner.core.claw.ClawOutput`;
  ``claw_slips``: every slip event so far (list);
- ``estimate``: the estimator's :class:`~space_miner.core.estimation.Estimate`;
  ``estimate_position_m``: its position (the summary's final estimation error);
- ``gait_output``: the gait controller's :class:`~space_miner.core.gait_types.GaitOutput`;
  ``gait_claw_requests``: its claw requests (the claw component executes them);
- ``terrain_summary``: read by the gait (a :class:`~space_miner.core.gait_types.TerrainSummary`),
  written by a terrain component (:class:`StaticTerrainComponent` until perception joins).

Nothing here reads the world's truth for control: the estimator starts at the mission's
start pose (the odom frame is the patch frame at the start), and the gait steers by the
estimate.
"""

from dataclasses import replace
import math
from typing import Sequence

import numpy as np

from space_miner import interfaces as itf
from space_miner.core import adapters
from space_miner.core.claw import ClawController, load_claw_params
from space_miner.core.estimation import (fuse_legs_and_wheels, ImuSample, load_estimator_params,
                                         StateEstimator)
from space_miner.core.gait import GaitController
from space_miner.core.gait_params import load_gait_params
from space_miner.core.gait_types import (BodyInfo, GaitInputs, OperatorInput, Pose2D,
                                         TerrainSummary)
from space_miner.core.robot import load_robot_config, RobotConfig
from space_miner.core.scenario import Scenario
from space_miner.interfaces import CLAW_LEGS, LEG_JOINTS, WHEEL_LEGS
from space_miner.sim.harness import Lazy

#: Harness rates [Hz] (issue 5: the claw controller runs at 500 Hz in the harness).
CLAW_RATE_HZ = 500.0
ESTIMATOR_RATE_HZ = 200.0
GAIT_RATE_HZ = 50.0

_WHEEL_INDEX = np.array([itf.ALL_JOINTS.index(f'{w}_wheel_joint') for w in WHEEL_LEGS])


class _WrenchTracker:
    """The latest wrist wrench per claw and when it arrived (a silent sensor keeps its last)."""

    def __init__(self) -> None:
        self.force = {c: None for c in CLAW_LEGS}
        self.torque = {c: None for c in CLAW_LEGS}
        self.stamp = {c: -math.inf for c in CLAW_LEGS}

    def update(self, sensors: object) -> None:
        stamp_s = float(sensors.time_s)
        wrenches = sensors.wrenches
        for claw in CLAW_LEGS:
            wrench = wrenches.get(claw)
            if wrench is not None:
                self.force[claw] = wrench.force_n
                self.torque[claw] = wrench.torque_nm
                self.stamp[claw] = stamp_s


class ClawComponent:
    """The claw force controller (:class:`ClawController`) at :data:`CLAW_RATE_HZ`.

    Executes the gait's claw requests (``bus.values['gait_claw_requests']``) and any
    ``extra_requests`` (claw-core :class:`~space_miner.core.claw.ClawRequest`, e.g. from a
    test or the sampler) and commands ``/claw_effort_controller/commands``.
    """

    name = 'claw_controller'

    def __init__(self, robot_cfg: RobotConfig | None = None, params: object = None,
                 rate_hz: float = CLAW_RATE_HZ) -> None:
        self.robot = robot_cfg or load_robot_config()
        self.controller = ClawController(params or load_claw_params(), self.robot)
        self.period_s = 1.0 / rate_hz
        self.wrenches = _WrenchTracker()
        self.extra_requests: list = []
        self.slips: list = []
        # The gait's claw requests (an immutable tuple, replaced at the gait's rate) and
        # their claw-core translation, made once per tuple.
        self._gait_requests: tuple | None = None
        self._core_requests: list = []

    def step(self, t_s: float, bus: object) -> None:
        """Read the claw joints and wrist wrenches, run the controller, command the claws."""
        s = bus.sensors
        self.wrenches.update(s)
        samples = {c: adapters.claw_sensor_sample(
            c, s.time_s, s.position, s.effort, self.wrenches.stamp[c],
            self.wrenches.force[c], self.wrenches.torque[c]) for c in CLAW_LEGS}
        gait_requests = bus.values.get('gait_claw_requests', ())
        if gait_requests is not self._gait_requests:
            self._gait_requests = gait_requests
            self._core_requests = [adapters.claw_core_request(r) for r in gait_requests]
        requests = self._core_requests + list(self.extra_requests)
        out = self.controller.step(t_s, samples, requests)
        self.slips.extend(out.slip_events)
        bus.values['claw_output'] = out
        bus.values['claw_slips'] = self.slips
        bus.claw_verified_n = {st.claw: st.verified_holding_n for st in out.states}
        bus.commands[itf.CLAW_COMMANDS.name] = np.asarray(out.effort_commands_n)


class EstimatorComponent:
    """The state estimator (:class:`StateEstimator`) at :data:`ESTIMATOR_RATE_HZ`.

    Each step feeds the IMU and the leg joints (with the claws it may anchor: gripping at
    force with a live wrist sensor, from the claw component's output), and the wheel speeds
    while the gait rolls. The filter is reset at the mission's start pose ``start_xyz_m``
    and ``start_quat_wxyz``, so odom is the patch frame at the start. ``gravity_m_s2`` is
    the body's effective gravity (levelling only where it is strong enough).

    The simulated IMU's orientation output is exact (no noise, no drift), unlike a real
    one's: by default it is not fused (``use_imu_orientation`` False), so heading comes from
    the gyro (with robot.yaml's noise and bias), the anchored claws and the wheels.
    """

    name = 'state_estimator'
    reads_imu = True   # the IMU gives a sample at each of its steps (World.read_sensors)

    def __init__(self, start_xyz_m: Sequence[float], start_quat_wxyz: Sequence[float],
                 gravity_m_s2: float, robot_cfg: RobotConfig | None = None,
                 params: object = None, use_imu_orientation: bool = False,
                 rate_hz: float = ESTIMATOR_RATE_HZ) -> None:
        self.robot = robot_cfg or load_robot_config()
        params = params or load_estimator_params()
        params = replace(params, gravity_m_s2=float(gravity_m_s2),
                         use_imu_orientation=bool(use_imu_orientation))
        self.estimator = StateEstimator(params, self.robot)
        self.estimator.reset(start_xyz_m, start_quat_wxyz, t_s=0.0)
        self.period_s = 1.0 / rate_hz
        self.wrenches = _WrenchTracker()
        self._stale_s = load_claw_params().stale_timeout_s

    def step(self, t_s: float, bus: object) -> None:
        """Fuse this step's IMU, joints and (rolling) wheels; publish the estimate."""
        s = bus.sensors
        est = self.estimator
        self.wrenches.update(s)
        imu = s.imu
        est.update_imu(ImuSample(s.time_s, imu.quat_wxyz, imu.gyro_rad_s, imu.accel_m_s2))
        claw_out = bus.values.get('claw_output')
        fresh = {c: s.time_s - self.wrenches.stamp[c] <= self._stale_s for c in CLAW_LEGS}
        anchored = adapters.anchored_claws(claw_out.states, fresh,
                                           bus.values.get('walking_stance', ())) \
            if claw_out else {}
        q_legs = s.position[:len(LEG_JOINTS)]
        fuse_legs_and_wheels(est, s.time_s, q_legs, s.velocity[:len(LEG_JOINTS)],
                             s.velocity[_WHEEL_INDEX], anchored, bus.mode,
                             bus.values.get('walking_stance', ()))
        # Made when first read (the gait reads it at 50 Hz, the estimator steps at 200 Hz);
        # nothing changes the estimator until its next step replaces these.
        bus.values['estimate'] = Lazy(est.estimate)
        bus.values['estimate_position_m'] = Lazy(lambda: est.p.copy())


class StaticTerrainComponent:
    """A fixed terrain summary (a surveyed site) on ``bus.values['terrain_summary']``.

    Stands in for terrain perception, which is not wired to the harness yet; it states
    what the gait selector needs (classes under and ahead, slope), never where to step.
    """

    name = 'terrain_static'

    def __init__(self, summary: TerrainSummary, rate_hz: float = 1.0) -> None:
        self.summary = summary
        self.period_s = 1.0 / rate_hz

    def step(self, t_s: float, bus: object) -> None:
        """Publish the summary, stamped now."""
        bus.values['terrain_summary'] = replace(self.summary, stamp_s=t_s)


class GaitComponent:
    """The gait controller (:class:`GaitController`) at :data:`GAIT_RATE_HZ`, with an autopilot.

    Without a mission component (locomotion tests), its own waypoint follower hands the
    gait the mission's waypoints one by one (as its goal in odom) and reports the mission
    done when the last is reached by the estimate (and there are no sample sites). With
    one (:mod:`space_miner.sim.mission_components`), the goal is the autopilot's
    (``bus.values['autopilot_goal']``) and the sampler's and mission's gait requests
    (``bus.values['gait_request']``) arrive as ``/gait/request`` would. ``gait_request``
    is what ``/gait/request`` carries before any such request; ``cmd_vel`` (a
    ``BodyTwist``) an operator's teleop command, repeated each step. Writes the leg and
    wheel commands, the claw requests for the claw component, ``bus.mode`` and
    ``bus.verified_holding_n``.
    """

    name = 'gait_controller'

    def __init__(self, scenario: Scenario, robot_cfg: RobotConfig | None = None,
                 params: object = None, gait_request: str = 'auto',
                 waypoints: Sequence[Sequence[float]] | None = None,
                 rate_hz: float = GAIT_RATE_HZ) -> None:
        self.robot = robot_cfg or load_robot_config()
        self.params = params or load_gait_params()
        body = BodyInfo.from_body_config(scenario.body_config,
                                         tuple(scenario.effective_acceleration_m_s2()))
        self.controller = GaitController(self.params, self.robot, body)
        self.period_s = 1.0 / rate_hz
        self.gait_request = gait_request
        self.cmd_vel = None
        self.waypoints = [tuple(map(float, w[:2])) for w in (
            scenario.mission.waypoints if waypoints is None else waypoints)]
        self.finish_when_done = not scenario.mission.sample_sites
        self.wrenches = _WrenchTracker()
        self.last_output = None
        self.reached: list = []   # (t_s, waypoint) as the estimate reached each

    def _goal(self, t_s: float, odom: object) -> Pose2D | None:
        while self.waypoints:
            x, y = self.waypoints[0]
            if odom is not None and math.hypot(x - odom.position_m[0], y - odom.position_m[1]) \
                    <= self.params.goal_tolerance_m:
                self.reached.append((t_s, self.waypoints.pop(0)))
                continue
            return Pose2D(x, y)
        return None

    def step(self, t_s: float, bus: object) -> None:
        """Run one gait step from the bus; write its commands and state."""
        s = bus.sensors
        self.wrenches.update(s)
        claw_out = bus.values.get('claw_output')
        claws = adapters.claw_statuses(claw_out.states, claw_out.pull_requests) \
            if claw_out is not None else {}
        q18 = adapters.leg_positions(s.position)
        forces = {c: adapters.wrist_force_in_base(self.robot, c, q18, self.wrenches.force[c])
                  for c in CLAW_LEGS if self.wrenches.force[c] is not None}
        estimate = bus.values.get('estimate')
        odom = adapters.odom_state(estimate) if estimate is not None else None
        had_goals = bool(self.waypoints)
        if 'autopilot_goal' in bus.values:   # the mission component's (/mission/goal)
            goal = bus.values['autopilot_goal']
        else:
            goal = self._goal(t_s, odom)
        request, request_s = bus.values.get('gait_request', (self.gait_request, 0.0))
        operator = OperatorInput(
            cmd_vel=self.cmd_vel, cmd_vel_stamp_s=t_s if self.cmd_vel is not None else -math.inf,
            gait_request=request, gait_request_stamp_s=request_s)
        inputs = GaitInputs(
            joint_positions_rad=q18, joint_stamp_s=float(s.time_s), claws=claws,
            wrist_forces_n=forces, wrench_stamps_s=dict(self.wrenches.stamp), odom=odom,
            terrain=bus.values.get('terrain_summary'), operator=operator,
            autopilot_goal=goal, external_load_n=float(bus.external_load_n))
        out = self.controller.step(t_s, inputs)
        self.last_output = out
        bus.values['gait_output'] = out
        bus.values['gait_claw_requests'] = out.claw_requests
        bus.commands[itf.LEG_COMMANDS.name] = _within_limits(self.robot, out.leg_positions_rad)
        bus.commands[itf.WHEEL_COMMANDS.name] = np.clip(
            np.asarray(out.wheel_speeds_rad_s), -self.robot.wheel.velocity_max_rad_s,
            self.robot.wheel.velocity_max_rad_s)
        bus.mode = out.mode.value
        bus.values['walking_stance'] = adapters.walking_stance(self.controller, out)
        bus.verified_holding_n = {c: st.verified_holding_n if st.holds_verified else 0.0
                                  for c, st in claws.items()}
        if had_goals and not self.waypoints and self.finish_when_done:
            bus.mission.done = True
            bus.mission.success = True
            bus.mission.reason = f'every waypoint reached (by the estimate) at {t_s:.1f} s'


def _within_limits(robot: RobotConfig, q18: Sequence[float]) -> np.ndarray:
    """Clamp leg targets into the joint limits (the controller's IK already respects them)."""
    q = np.asarray(q18, dtype=float).copy()
    for i in range(len(LEG_JOINTS)):
        lim = robot.joints[itf.SEGMENTS[i % 3]]
        q[i] = min(max(q[i], lim.lower_rad), lim.upper_rad)
    return q


def full_stack_components(scenario: Scenario, world: object) -> list:
    """Return the whole stack: terrain perception, claw, estimator, mission, sampler, gait.

    What ``space-miner eval`` runs: the mission autopilot (not the gait's own waypoint
    follower) plans on the terrain's global map, the sampler samples each site.
    """
    from space_miner.sim.mission_components import mission_components
    robot = world.robot
    terrain, mission, sampler = mission_components(scenario, robot)
    claw, estimator, gait = stack_components(scenario, world, gait_request='auto')
    gait.waypoints = []            # the autopilot's goals, not the gait's own follower
    gait.finish_when_done = False
    return [terrain, claw, estimator, mission, sampler, gait]


def stack_components(scenario: Scenario, world: object, *, gait_request: str | None = None,
                     terrain: TerrainSummary | None = None,
                     use_imu_orientation: bool = False) -> list:
    """Return the claw, estimator and gait components (and a static terrain summary).

    The terrain component is added only when ``terrain`` is given. The estimator starts at
    the world's start pose (the mission start, settled). ``gait_request`` None: ``auto``
    when the mission has somewhere to go, else ``hold`` (no mission: stand still, keep
    every grip).
    """
    if gait_request is None:
        mission = scenario.mission
        gait_request = 'auto' if (mission.waypoints or mission.sample_sites) else 'hold'
    robot = world.robot
    truth = world.ground_truth()   # the start pose only: odom := patch frame at the start
    gravity = float(np.linalg.norm(world.gravity_m_s2))
    comps: list = []
    if terrain is not None:
        comps.append(StaticTerrainComponent(terrain))
    comps += [ClawComponent(robot),
              EstimatorComponent(truth.position_m, truth.quat_wxyz, gravity, robot,
                                 use_imu_orientation=use_imu_orientation),
              GaitComponent(scenario, robot, gait_request=gait_request)]
    return comps


__all__ = ['ClawComponent', 'EstimatorComponent', 'GaitComponent', 'StaticTerrainComponent',
           'full_stack_components', 'stack_components', 'CLAW_RATE_HZ', 'ESTIMATOR_RATE_HZ',
           'GAIT_RATE_HZ']
