# SPDX-License-Identifier: Apache-2.0
"""Terrain perception, sampling and the mission autopilot as lockstep-harness components.

With :mod:`space_miner.sim.components` (claw, estimator, gait) these make the whole stack
on the harness, so that ``space-miner eval`` runs a scenario's mission as the live graph
does: the mission autopilot plans on the terrain's global map and hands the gait its goals,
starts the sampling sequence at each site, and the sampler anchors, drills and verifies.
Each wraps the *same* core object its node wraps (:class:`TerrainPerception`,
:class:`SamplingSequence`, :class:`MissionAutopilot`), at its node's rate, and passes
values between cores with :mod:`space_miner.core.adapters`, as the nodes do after
decoding their messages. Nothing here reads the world's truth: the terrain sees the depth
image, the sampler the joint states, load cell and claw states, everything the estimate.

``bus.values`` keys written here (besides those of :mod:`space_miner.sim.components`):

- ``terrain_report`` (:class:`~space_miner.core.terrain_types.TerrainReport`, what
  ``/terrain/summary`` carries) and ``terrain_summary`` (the gait's view of it);
  ``global_occupancy``: ``(geometry, cells, stamp_s)`` of ``/terrain/global/traversability``;
- ``sampling_status`` (``/sampling/status``), ``sampling_output``, ``sampling_results``
  (every attempt so far: what the sample log would hold);
- ``autopilot_goal`` (``/mission/goal``; None: stand still), ``sampling_start`` and
  ``sampling_abort`` (the autopilot's service calls, taken by the sampler);
- ``gait_request``: ``(text, t_s)``, the latest ``/gait/request`` of the sampler or the
  mission, as the gait node receives them.
"""

import math

import numpy as np

from space_miner import interfaces as itf
from space_miner.core import adapters
from space_miner.core.gait_library import yaw_of
from space_miner.core.gait_params import load_gait_params
from space_miner.core.gait_types import Pose2D
from space_miner.core.kinematics import pose_matrix
from space_miner.core.mission import load_mission_params, MissionAutopilot, MissionInputs
from space_miner.core.robot import RobotConfig
from space_miner.core.sampling import (LidCommand, load_drill_rates, load_sampling_params,
                                       SamplingInputs, SamplingSequence, TERMINAL_PHASES)
from space_miner.core.scenario import Scenario
from space_miner.core.terrain import TerrainPerception
from space_miner.core.terrain_params import load_terrain_params
from space_miner.core.terrain_types import CameraIntrinsics, FrameStatus, TerrainReport

_FEED = itf.ALL_JOINTS.index(itf.SAMPLER_FEED_JOINTS[0])
#: The sampler's step period [s]: its node steps on each joint state, at its command rate.
SAMPLER_PERIOD_S = 1.0 / itf.SAMPLER_FEED_COMMANDS.rate_hz
#: The mission autopilot's step period [s] (its node's timer).
MISSION_PERIOD_S = 0.2


def _pose(bus: object) -> tuple:
    """Return the estimate's (x, y) [m] and yaw [rad], NaN before the first estimate."""
    estimate = bus.values.get('estimate')
    if estimate is None:
        return (math.nan, math.nan), math.nan
    return ((float(estimate.position_m[0]), float(estimate.position_m[1])),
            yaw_of(tuple(estimate.orientation_wxyz)))


def _send(bus: object, t_s: float, request: str | None) -> None:
    """Put a gait request on the bus as ``/gait/request`` carries it: (text, t_s)."""
    if request is not None:
        bus.values['gait_request'] = (request, t_s)


class TerrainComponent:
    """Terrain perception (:class:`TerrainPerception`) on the depth camera's frames.

    Steps at the camera's rate, as the node runs on each image; the core decides which
    frames it fuses (:meth:`TerrainPerception.wants_frame`), and only those are rendered.
    Fuses a frame with the estimate's pose at the frame's time and the leg joints (its
    self-filter); writes the report and the gait's summary at ``/terrain/summary``'s rate,
    the grasp candidates at the local maps' rate and the global map at its own.
    """

    name = 'terrain_perception'

    def __init__(self, robot: RobotConfig, params: object = None,
                 camera_rate_hz: float = itf.DEPTH_IMAGE.rate_hz) -> None:
        self.perception = TerrainPerception(params or load_terrain_params(), robot)
        self.period_s = 1.0 / camera_rate_hz
        self.last_result = None
        self.frames = 0
        self._last_frame_s = -math.inf
        self._grasps: dict = {}
        self._due = {'local': -math.inf, 'global': -math.inf, 'summary': -math.inf}

    def wants_depth(self, t_s: float, bus: object) -> bool:
        """Whether a depth frame taken now would be fused (a pose, and the core wants it)."""
        return bus.values.get('estimate') is not None and self.perception.wants_frame(t_s)

    def _base(self, bus: object) -> np.ndarray | None:
        estimate = bus.values.get('estimate')
        if estimate is None:
            return None
        return pose_matrix(np.asarray(estimate.position_m, dtype=float),
                           np.asarray(estimate.orientation_wxyz, dtype=float))

    def step(self, t_s: float, bus: object) -> None:
        """Fuse a new frame, if one came, and publish the report."""
        base = self._base(bus)
        depth = bus.depth
        if depth is not None and depth[2] > self._last_frame_s:
            image, k, stamp_s = depth
            self._last_frame_s = stamp_s
            height, width = image.shape
            intrinsics = CameraIntrinsics(int(width), int(height),
                                          tuple(float(v) for v in np.ravel(k)))
            joints = adapters.joints_by_leg(adapters.leg_positions(bus.sensors.position))
            self.last_result = self.perception.process_frame(
                image, '32FC1', intrinsics, stamp_s, base, None, joints)
            self.frames += 1
            fused = self.last_result.status == FrameStatus.OK
            if fused and t_s >= self._due['local'] and base is not None:
                self._grasps = self.perception.grasp_candidates(base)
                self._due['local'] = t_s + 1.0 / itf.TERRAIN_TRAVERSABILITY.rate_hz - 1e-6
            if fused and t_s >= self._due['global']:
                gmap = self.perception.global_map
                bus.values['global_occupancy'] = (gmap.geometry,
                                                  adapters.global_occupancy(gmap), t_s)
                self._due['global'] = t_s + 1.0 / itf.TERRAIN_GLOBAL.rate_hz - 1e-6
        if t_s < self._due['summary']:
            return
        self._due['summary'] = t_s + 1.0 / itf.TERRAIN_SUMMARY.rate_hz - 1e-6
        result = self.last_result
        sampling = bus.values.get('sampling_status')
        site = None   # the terrain node checks the site the sampler works on
        if sampling is not None and sampling.site_xy_m is not None and \
                sampling.phase not in TERMINAL_PHASES and sampling.phase.value != 'idle':
            site = self.perception.site_sampleable(sampling.site_xy_m)
        report = TerrainReport(self.perception.summary(base, None, t_s),
                               None if result is None else result.status,
                               '' if result is None else result.detail, site, self._grasps)
        bus.values['terrain_report'] = report
        bus.values['terrain_summary'] = adapters.terrain_for_gait(report, t_s)


class SamplerComponent:
    """The sampling sequence (:class:`SamplingSequence`) at its command rate.

    Started and aborted by the mission component (its ``/sampling/start`` and
    ``/sampling/abort``); commands the feed, the drill and the lid; the feed force it sets
    is the external load the gait's guard weighs (``/sampling/load``). A gait in ``hold``
    pauses the sequence, then is a fault (the core judges it, as in the node).
    """

    name = 'sampler'

    def __init__(self, robot: RobotConfig, params: object = None) -> None:
        self.params = params or load_sampling_params()
        self.sequence = SamplingSequence(self.params, robot.sampler, load_drill_rates())
        self.period_s = SAMPLER_PERIOD_S
        self.results: list = []
        self.last_output = None
        self._requests = adapters.GaitRequestRepeater(idle='auto')

    def _requests_from_mission(self, t_s: float, bus: object) -> None:
        start = bus.values.pop('sampling_start', None)
        if start is not None:
            self.sequence.start(t_s, start.site_xy_m, start.target_g)
        abort = bus.values.pop('sampling_abort', None)
        if abort is not None:
            self.sequence.abort(t_s, f'mission: {abort}')

    def step(self, t_s: float, bus: object) -> None:
        """Run one sampling step from the bus; write the sampler's commands and status."""
        self._requests_from_mission(t_s, bus)
        s = bus.sensors
        seq = self.sequence
        feed_force = float(s.effort[_FEED])
        claw_out = bus.values.get('claw_output')
        claws = () if claw_out is None else adapters.sampling_claw_holds(
            claw_out.states, adapters.claw_statuses(claw_out.states, claw_out.pull_requests))
        xy, yaw = _pose(bus)
        site = adapters.site_verdict(bus.values.get('terrain_report'),
                                     seq.status().site_xy_m, self.params.site_reach_m)
        out = seq.step(t_s, SamplingInputs(
            feed_position_m=float(s.position[_FEED]), mass_kg=float(s.sampler_mass_kg),
            claws=claws, gait_mode=bus.mode, site=site, body_xy_m=xy, body_yaw_rad=yaw,
            feed_force_n=feed_force if math.isfinite(feed_force) else None))
        self.last_output = out
        self.results += out.attempt_results
        bus.commands[itf.SAMPLER_FEED_COMMANDS.name] = [out.feed_position_m]
        bus.commands[itf.SAMPLER_DRILL_COMMANDS.name] = [out.drill_speed_rad_s]
        bus.commands[itf.SAMPLER_LID.name] = out.lid is LidCommand.OPEN
        bus.external_load_n = float(out.feed_force_n)
        bus.values['sampling_status'] = out.status
        bus.values['sampling_output'] = out
        bus.values['sampling_results'] = self.results
        wanted = out.gait_request.value if out.gait_request is not None else None
        _send(bus, t_s, self._requests.due(t_s, wanted))


class MissionComponent:
    """The mission autopilot (:class:`MissionAutopilot`), every :data:`MISSION_PERIOD_S`.

    Reads the estimate, the terrain's global map, the gait's mode and refusals and the
    sampling status; hands the gait its goal, the sampler its start and abort, and fills
    ``bus.mission`` (the harness stops when it is done).
    """

    name = 'mission'

    def __init__(self, scenario: Scenario, robot: RobotConfig, params: object = None) -> None:
        self.autopilot = MissionAutopilot.from_scenario(
            params or load_mission_params(), scenario, load_gait_params(), robot)
        self.modes = tuple(self.autopilot.cost_model.modes)
        self.period_s = MISSION_PERIOD_S
        self.last_output = None
        self.events: list = []
        self._route_map = None
        self._map_stamp_s = None
        self._t0_s: float | None = None
        self._requests = adapters.GaitRequestRepeater(idle=None)

    def step(self, t_s: float, bus: object) -> None:
        """Run one autopilot step from the bus; write its goal, requests and state."""
        if self._t0_s is None:
            self._t0_s = t_s
        grid = bus.values.get('global_occupancy')
        if grid is not None and grid[2] != self._map_stamp_s:
            geometry, cells, stamp_s = grid
            self._route_map = adapters.route_map_from_occupancy(geometry, cells, self.modes,
                                                                stamp_s)
            self._map_stamp_s = stamp_s
        xy, yaw = _pose(bus)
        pose = Pose2D(xy[0], xy[1], yaw) if math.isfinite(yaw) else None
        gait = bus.values.get('gait_output')
        mission_t_s = t_s - self._t0_s
        out = self.autopilot.step(mission_t_s, MissionInputs(
            pose=pose, pose_stamp_s=mission_t_s if pose is not None else -math.inf,
            route_map=self._route_map, gait_mode=bus.mode,
            cannot_crawl=bool(gait is not None and gait.cannot_crawl),
            refusals=() if gait is None else tuple(r.reason for r in gait.refusals),
            sampling=bus.values.get('sampling_status')))
        self.last_output = out
        self.events += [(t_s, e) for e in out.events]
        bus.values['autopilot_goal'] = out.goal
        if out.sampling_start is not None:
            bus.values['sampling_start'] = out.sampling_start
        if out.sampling_abort is not None:
            bus.values['sampling_abort'] = out.sampling_abort
        _send(bus, t_s, self._requests.due(t_s, out.gait_request))
        out.status.apply_to(bus.mission)


def mission_components(scenario: Scenario, robot: RobotConfig) -> tuple:
    """Return (terrain, mission, sampler) components for a scenario's mission."""
    return (TerrainComponent(robot), MissionComponent(scenario, robot),
            SamplerComponent(robot))


__all__ = ['MissionComponent', 'SamplerComponent', 'TerrainComponent', 'mission_components',
           'MISSION_PERIOD_S', 'SAMPLER_PERIOD_S']
