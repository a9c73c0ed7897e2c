# SPDX-License-Identifier: Apache-2.0
"""The mission autopilot: waypoints, then sampling sites, through the gait capability.

A pure state machine (no ROS), stepped with an explicit time [s] and a
:class:`MissionInputs` snapshot; each step returns a :class:`MissionOutput`::

    START -> TRAVEL (waypoints, in order) -> APPROACH -> SAMPLING (each site, in order) -> DONE
                  any phase -> HOLD (time limit, site unsampleable, no route, cannot crawl)

- It steers by the *estimated* pose: a goal pose for the gait controller (the lowest
  priority of the gait's command mux, so operator input wins), a carrot ``lookahead_m``
  along a route planned with A* on the terrain's coarse global map
  (:mod:`space_miner.core.route`): around what no allowed gait can cross, through weak
  grips when the loads allow. It replans when the map changes (at most every
  ``replan_interval_s``, at once when the route runs into a blocked cell) and when the
  robot strays more than ``path_deviation_m`` from it. Without a map it drives straight.
- At a site it stops (no goal) and asks the sampling sequence to start
  (:class:`SamplingStartRequest`: site [m] and the container mass [g] to reach, the
  mass before plus ``sample_target_g``); the sequence anchors, drills, verifies. A done
  sequence records the sample and moves on; a failed or aborted one ends the mission in
  ``hold`` with the sequence's reason.
- It ends ``time_margin_s`` before the scenario's time limit (simulated time), aborting a
  running sequence (``sampling_abort``), in ``hold``.
- On a body that requires grip, a robot that cannot crawl (a failed claw: the gait's
  ``cannot_crawl`` for ``cannot_crawl_hold_s``, or a known ``claw_failure`` fault) and
  still has ground to cover ends in ``hold``: it stays anchored. At a site it may still
  sample (anchoring needs two claws).
- A non-finite or stale pose (older than ``pose_timeout_s``) gives no goal and says why
  in ``status.note``; the mission resumes when the pose is valid again.

Ending: the phase becomes ``done`` or ``hold`` at once, with ``success`` and ``reason``;
``status.done`` (the harness stops on it) follows once the robot has settled: after
``end_settle_s``, with no sampling running and, for ``hold``, the gait in ``hold`` (the
autopilot asks for it in ``gait_request``), or after ``end_settle_timeout_s`` at the latest.
Deterministic: the same inputs give the same outputs.
"""

from dataclasses import dataclass, fields, replace
import enum
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from space_miner.core.gait_types import Pose2D
from space_miner.core.params import parse_params, read_yaml
from space_miner.core.robot import ConfigError
from space_miner.core.route import CostModel, plan_route, route_blocked, Route, RouteMap
from space_miner.core.terrain_types import TerrainClass

NODE_NAME = 'mission'


# --- Parameters -----------------------------------------------------------------------------

@dataclass(frozen=True)
class MissionParams:
    """A frozen snapshot of the autopilot's parameters (units in the names).

    Meanings are documented beside each key in ``config/mission.yaml``, the only place
    holding the defaults; :data:`PARAM_RANGES` gives the accepted range of each.
    """

    waypoint_tolerance_m: float
    site_tolerance_m: float
    lookahead_m: float
    path_deviation_m: float
    replan_interval_s: float
    pose_timeout_s: float
    inflation_radius_m: float
    unknown_cost_factor: float
    weak_grip_cost_factor: float
    min_traversability: float
    class_cost_smooth: float
    class_cost_regolith: float
    class_cost_rubble: float
    class_cost_rock: float
    crawl_load_n: float
    load_safety_factor: float
    min_holding_claws: int
    cannot_crawl_hold_s: float
    no_route_timeout_s: float
    sampling_start_timeout_s: float
    sampling_start_retries: int
    time_margin_s: float
    end_settle_s: float
    end_settle_timeout_s: float

    def class_factors(self) -> dict:
        """Cost factor per :class:`TerrainClass` (int) for the route's cost model."""
        return {int(TerrainClass.SMOOTH): self.class_cost_smooth,
                int(TerrainClass.REGOLITH): self.class_cost_regolith,
                int(TerrainClass.RUBBLE): self.class_cost_rubble,
                int(TerrainClass.ROCK): self.class_cost_rock}


#: Accepted range [low, high] of every parameter (inclusive).
PARAM_RANGES: Mapping[str, tuple] = MappingProxyType({
    'waypoint_tolerance_m': (0.01, 2.0),
    'site_tolerance_m': (0.005, 1.0),
    'lookahead_m': (0.05, 5.0),
    'path_deviation_m': (0.05, 10.0),
    'replan_interval_s': (0.0, 600.0),
    'pose_timeout_s': (0.01, 60.0),
    'inflation_radius_m': (0.0, 2.0),
    'unknown_cost_factor': (1.0, 100.0),
    'weak_grip_cost_factor': (0.0, 100.0),
    'min_traversability': (0.0, 1.0),
    'class_cost_smooth': (0.1, 100.0),
    'class_cost_regolith': (0.1, 100.0),
    'class_cost_rubble': (0.1, 100.0),
    'class_cost_rock': (0.1, 100.0),
    'crawl_load_n': (0.0, 1000.0),
    'load_safety_factor': (2.0, 10.0),
    'min_holding_claws': (2, 3),
    'cannot_crawl_hold_s': (0.0, 600.0),
    'no_route_timeout_s': (0.0, 3600.0),
    'sampling_start_timeout_s': (0.1, 600.0),
    'sampling_start_retries': (0, 10),
    'time_margin_s': (0.0, 3600.0),
    'end_settle_s': (0.0, 600.0),
    'end_settle_timeout_s': (0.0, 3600.0),
})


def parse_mission_params(data: Any, source: str = 'mission.yaml') -> MissionParams:
    """Check a parsed parameter file (or a flat mapping of values) and build the params.

    ``data`` is either the whole file (``{mission: {ros__parameters: {...}}}``) or the flat
    ``ros__parameters`` mapping. Unknown, missing and out-of-range keys raise
    :class:`ConfigError` naming the key.
    """
    params = parse_params(MissionParams, data, NODE_NAME, PARAM_RANGES, source)
    if params.end_settle_timeout_s < params.end_settle_s:
        raise ConfigError('end_settle_timeout_s', params.end_settle_timeout_s,
                          f'must not be below end_settle_s {params.end_settle_s:g}', source)
    return params


def load_mission_params(path: str | Path | None = None) -> MissionParams:
    """Load and check ``config/mission.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('mission.yaml')
    return parse_mission_params(read_yaml(path), str(path))


def mission_params_to_dict(params: MissionParams) -> dict:
    """Return the flat ``ros__parameters`` mapping of ``params``."""
    return {f.name: getattr(params, f.name) for f in fields(MissionParams)}


# --- Inputs and outputs ---------------------------------------------------------------------

class MissionPhase(str, enum.Enum):
    """Phase of the mission."""

    START = 'start'
    TRAVEL = 'travel'        # to the next waypoint
    APPROACH = 'approach'    # to the next sampling site
    SAMPLING = 'sampling'    # the sampling sequence runs at the site
    DONE = 'done'            # every site sampled to target
    HOLD = 'hold'            # ended early, with a reason; the robot keeps every grip


#: Phases a mission ends in.
TERMINAL_PHASES = frozenset({MissionPhase.DONE, MissionPhase.HOLD})

#: Sampling phases (``SamplingPhase`` values) in which a sequence runs, and those it ends in.
_SAMPLING_ACTIVE = frozenset({'site_check', 'anchor', 'deploy', 'drill', 'close_lid', 'stow',
                              'verify', 'aborting'})
_SAMPLING_OUTCOME = {'done': 'success', 'failed': 'failed', 'aborted': 'aborted'}
#: Fault kinds (as the stack knows them) that leave a robot on a grip body unable to crawl.
CRAWL_FAULTS = ('claw_failure',)


@dataclass(frozen=True)
class MissionInputs:
    """Everything one step reads.

    ``pose`` is the estimator's pose of base_link in odom (never the simulator's truth)
    and ``pose_stamp_s`` [s] its time; ``route_map`` the terrain's global map (None: none
    yet); ``gait_mode`` the gait's current mode name, ``cannot_crawl`` and ``refusals``
    (texts) its refusals; ``sampling`` the sampling sequence's status (a ``SamplingStatus``
    or any object with ``phase``, ``mass_g``, ``reason`` and ``site_xy_m``; None: none
    yet); ``faults`` the fault kinds the stack knows of (e.g. ``claw_failure``; texts may
    carry a detail after a colon).
    """

    pose: Pose2D | None = None
    pose_stamp_s: float = -math.inf
    route_map: RouteMap | None = None
    gait_mode: str | None = None
    cannot_crawl: bool = False
    refusals: tuple = ()
    sampling: Any = None
    faults: tuple = ()


@dataclass(frozen=True)
class SamplingView:
    """The part of the sampling status the autopilot reads, e.g. from ``/sampling/status``.

    ``phase`` is a ``SamplingPhase`` value, ``mass_g`` the container's mass [g], ``site_xy_m``
    the site [m] of the running or last sequence.
    """

    phase: str
    mass_g: float
    reason: str = ''
    site_xy_m: tuple | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> 'SamplingView':
        """Read a status mapping (``phase``, ``mass_g``, ``reason``, ``site_xy_m``).

        Raises ``ValueError`` naming the key that is missing or not of its type.
        """
        try:
            phase = str(data['phase'])
            mass = float(data.get('mass_g', math.nan))
            site = data.get('site_xy_m')
            site = None if site is None else (float(site[0]), float(site[1]))
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ValueError(f'sampling status refused: {err!r}') from err
        return cls(phase=phase, mass_g=mass, reason=str(data.get('reason', '')),
                   site_xy_m=site)


@dataclass(frozen=True)
class SamplingStartRequest:
    """Start the sampling sequence at ``site_xy_m`` [m, odom] until ``target_g`` [g] is in."""

    site_xy_m: tuple
    target_g: float


@dataclass(frozen=True)
class SampleRecord:
    """One site's outcome, as DESIGN.md section 7's summary lists it.

    ``mass_g`` is what this site added to the container [g]; ``duration_s`` from the start
    request to the sequence's end [s]; ``outcome`` success, failed, aborted or rejected.
    """

    site_index: int
    site_xy_m: tuple
    mass_g: float
    duration_s: float
    outcome: str
    reason: str = ''

    def as_summary(self) -> dict:
        """Return the ``{site, mass_g, duration_s, outcome}`` entry (plus index and reason)."""
        return {'site': [round(float(v), 4) for v in self.site_xy_m],
                'mass_g': round(float(self.mass_g), 3),
                'duration_s': round(float(self.duration_s), 3),
                'outcome': self.outcome,
                'site_index': self.site_index,
                'reason': self.reason}


@dataclass(frozen=True)
class MissionStatus:
    """The mission's state: phase, target, samples, and how it ended.

    ``target_kind`` is ``waypoint`` or ``site`` (empty when none), ``target_index`` its
    index in the scenario's list and ``target_xy_m`` its position [m]; ``done`` is true
    once the mission has ended and the robot settled, ``success`` when every site was
    sampled to target, ``reason`` why it ended; ``note`` says what holds the robot back
    now (a stale pose, no route); ``route_m`` is the planned polyline [m].
    """

    phase: MissionPhase
    target_kind: str
    target_index: int
    target_xy_m: tuple | None
    samples: tuple
    done: bool
    success: bool
    reason: str
    note: str = ''
    route_m: tuple = ()
    replans: int = 0

    @property
    def total_sample_g(self) -> float:
        """Mass collected over every site [g]."""
        return sum(s.mass_g for s in self.samples)

    def samples_summary(self) -> list:
        """Return the samples as the summary's list of ``{site, mass_g, duration_s, outcome}``."""
        return [s.as_summary() for s in self.samples]

    def as_dict(self) -> dict:
        """Return a JSON-ready mapping of the status (for a status topic or a log)."""
        return {'phase': self.phase.value, 'target_kind': self.target_kind,
                'target_index': self.target_index,
                'target_xy_m': None if self.target_xy_m is None else list(self.target_xy_m),
                'samples': self.samples_summary(), 'done': self.done,
                'success': self.success, 'reason': self.reason, 'note': self.note,
                'replans': self.replans}

    def apply_to(self, state: object) -> None:
        """Fill a harness ``MissionState`` (duck-typed: done, success, reason, samples)."""
        state.done = self.done
        state.success = self.success
        state.reason = self.reason
        state.samples = self.samples_summary()


@dataclass(frozen=True)
class MissionOutput:
    """One step's commands and status.

    ``goal`` goes to the gait controller (None: stand still); ``sampling_start`` and
    ``sampling_abort`` (the abort's reason) are one-shot requests to the sampling
    sequence (``SamplingSequence.start(t, site_xy_m, target_g)`` / ``abort(t, reason)``);
    ``gait_request`` is ``hold`` once the mission ended in hold (None otherwise);
    ``events`` are log lines of this step.
    """

    goal: Pose2D | None
    sampling_start: SamplingStartRequest | None
    sampling_abort: str | None
    gait_request: str | None
    status: MissionStatus
    events: tuple = ()


# --- The autopilot --------------------------------------------------------------------------

def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _phase_name(phase: Any) -> str:
    return str(getattr(phase, 'value', phase) or '')


class MissionAutopilot:
    """Follows a scenario's mission through the gait and sampling capabilities.

    ``waypoints`` and ``sample_sites`` are (x, y) [m] in odom, ``sample_target_g`` [g] the
    mass to collect at each site, ``time_limit_s`` [s] the simulated time the mission may
    take; ``cost_model`` prices the terrain for routes; ``requires_grip`` is the body's
    flag; ``sampler_mount_xy_m`` [m] the sampler axis in base_link (the body stops so that
    the axis is over the site).
    """

    def __init__(self, params: MissionParams, *, waypoints: Sequence, sample_sites: Sequence,
                 sample_target_g: float, time_limit_s: float, cost_model: CostModel,
                 requires_grip: bool, sampler_mount_xy_m: Sequence[float] = (0.0, 0.0)) -> None:
        self.params = params
        self.waypoints = tuple((float(p[0]), float(p[1])) for p in waypoints)
        self.sites = tuple((float(p[0]), float(p[1])) for p in sample_sites)
        if not (_finite(sample_target_g) and sample_target_g >= 0.0):
            raise ValueError(f'sample_target_g = {sample_target_g!r} must be finite, >= 0')
        if not (_finite(time_limit_s) and time_limit_s > 0.0):
            raise ValueError(f'time_limit_s = {time_limit_s!r} must be finite and positive')
        self.sample_target_g = float(sample_target_g)
        self.time_limit_s = float(time_limit_s)
        self.cost_model = cost_model
        self.requires_grip = bool(requires_grip)
        self.mount_xy_m = (float(sampler_mount_xy_m[0]), float(sampler_mount_xy_m[1]))
        self._phase = MissionPhase.START
        self._started = False
        self._index = 0                      # into the waypoints, then into the sites
        self._samples: list = []
        self._reason = ''
        self._success = False
        self._done = False
        self._note = ''
        self._events: list = []
        self._t_end_s: float | None = None
        self._abort_pending = False
        # route
        self._route: Route | None = None
        self._route_target: tuple | None = None
        self._seg = 0
        self._map_stamp: float | None = None
        self._raw_cost = None
        self._plan_t_s = -math.inf
        self._plan_map_stamp: float | None = None
        self._no_route_since_s: float | None = None
        self._last_plan_reason = ''
        self._replans = 0
        # sampling
        self._start_t_s = 0.0
        self._start_tries = 0
        self._mass_before_g = 0.0
        self._pre_status: Any = None
        self._seen_active = False
        self._cannot_crawl_since_s: float | None = None
        self._last_t_s: float | None = None

    @classmethod
    def from_scenario(cls, params: MissionParams, scenario: Any, gait_params: Any,
                      robot: Any = None) -> 'MissionAutopilot':
        """Build the autopilot for a ``Scenario`` with the gait's and robot's figures.

        The gaits the body allows and their speeds come from the gait selector
        (:func:`route_cost_model`); the sampler mount from ``robot`` (a ``RobotConfig``;
        default ``config/robot.yaml``).
        """
        if robot is None:
            from space_miner.core.robot import load_robot_config
            robot = load_robot_config()
        model = route_cost_model(params, scenario, gait_params, robot)
        m = scenario.mission
        return cls(params, waypoints=m.waypoints, sample_sites=m.sample_sites,
                   sample_target_g=m.sample_target_g, time_limit_s=m.time_limit_s,
                   cost_model=model, requires_grip=scenario.body_config.requires_grip,
                   sampler_mount_xy_m=tuple(robot.sampler.mount_xyz_m[:2]))

    # --- public API ---

    @property
    def phase(self) -> MissionPhase:
        """Current phase."""
        return self._phase

    @property
    def route(self) -> Route | None:
        """The route being followed, if any."""
        return self._route

    def status(self) -> MissionStatus:
        """Return the current status."""
        kind, index, xy = self._target()
        return MissionStatus(
            phase=self._phase, target_kind=kind, target_index=index, target_xy_m=xy,
            samples=tuple(self._samples), done=self._done, success=self._success,
            reason=self._reason, note=self._note,
            route_m=self._route.points_m if self._route is not None else (),
            replans=self._replans)

    def step(self, t_s: float, inputs: MissionInputs) -> MissionOutput:
        """Advance to time ``t_s`` [s] (simulated) with ``inputs``; return the commands.

        Raises ``ValueError`` for a non-finite time; a time earlier than the last step is
        treated as no time passing.
        """
        if not _finite(t_s):
            raise ValueError(f'non-finite time {t_s!r}')
        if self._last_t_s is not None and t_s < self._last_t_s:
            self._event(t_s, f'time went back from {self._last_t_s:g} s to {t_s:g} s; '
                             'treated as no time passing')
            t_s = self._last_t_s
        self._last_t_s = t_s
        self._note = ''
        start = None
        abort = None
        goal = None
        if self._phase is MissionPhase.START:
            self._begin(t_s)
        if self._phase not in TERMINAL_PHASES:
            abort = self._check_limits(t_s, inputs)
        if self._phase in (MissionPhase.TRAVEL, MissionPhase.APPROACH):
            goal = self._drive(t_s, inputs)
        if self._phase is MissionPhase.SAMPLING:
            start = self._sample(t_s, inputs)
        if self._phase in TERMINAL_PHASES:
            goal = None
            self._settle(t_s, inputs)
        gait = 'hold' if self._phase is MissionPhase.HOLD else None
        events, self._events = tuple(self._events), []
        return MissionOutput(goal=goal, sampling_start=start, sampling_abort=abort,
                             gait_request=gait, status=self.status(), events=events)

    # --- internals: bookkeeping ---

    def _event(self, t_s: float, text: str) -> None:
        self._events.append(f'[{t_s:.2f} s] {text}')

    def _target(self) -> tuple:
        """(kind, index, xy) of the current target, or ('', -1, None)."""
        if self._phase is MissionPhase.START and not self._started:
            return '', -1, None
        n_wp = len(self.waypoints)
        if self._index < n_wp:
            return 'waypoint', self._index, self.waypoints[self._index]
        site = self._index - n_wp
        if site < len(self.sites):
            return 'site', site, self.sites[site]
        return '', -1, None

    def _goal_xy(self, yaw_rad: float | None) -> tuple | None:
        """Where the body must stand for the current target [m]: the sampler over a site.

        The goal carries no heading, so the sampler's mount offset is turned by the present
        heading ``yaw_rad`` [rad] (unturned when unknown; zero offset for a sampler on the
        body axis).
        """
        kind, _, xy = self._target()
        if xy is None:
            return None
        if kind == 'site':
            yaw = yaw_rad if _finite(yaw_rad) else 0.0
            mx, my = self.mount_xy_m
            return (xy[0] - (math.cos(yaw) * mx - math.sin(yaw) * my),
                    xy[1] - (math.sin(yaw) * mx + math.cos(yaw) * my))
        return xy

    def _begin(self, t_s: float) -> None:
        self._index = 0
        self._started = True
        self._event(t_s, f'mission started: {len(self.waypoints)} waypoint(s), '
                         f'{len(self.sites)} site(s), target {self.sample_target_g:g} g each, '
                         f'time limit {self.time_limit_s:g} s')
        self._next_target(t_s)

    def _next_target(self, t_s: float) -> None:
        self._route = None
        self._route_target = None
        self._no_route_since_s = None
        kind, index, xy = self._target()
        if kind == 'waypoint':
            self._phase = MissionPhase.TRAVEL
        elif kind == 'site':
            self._phase = MissionPhase.APPROACH
        else:
            total = sum(s.mass_g for s in self._samples)
            self._end(t_s, MissionPhase.DONE, True,
                      f'mission complete: {len(self.sites)} site(s) sampled, '
                      f'{total:.1f} g collected' if self.sites else
                      'mission complete: every waypoint reached (no sampling site)')
            return
        self._event(t_s, f'heading for {kind} {index + 1} at ({xy[0]:.2f}, {xy[1]:.2f}) m')

    def _end(self, t_s: float, phase: MissionPhase, success: bool, reason: str) -> None:
        self._phase = phase
        self._success = success
        self._reason = reason
        self._t_end_s = t_s
        self._route = None
        self._event(t_s, f'mission {phase.value}: {reason}')

    def _settle(self, t_s: float, inp: MissionInputs) -> None:
        if self._done:
            return
        p = self.params
        waited = t_s - (self._t_end_s if self._t_end_s is not None else t_s)
        sampling_idle = (inp.sampling is None
                         or _phase_name(getattr(inp.sampling, 'phase', '')) not in
                         _SAMPLING_ACTIVE)
        mode_ok = self._phase is MissionPhase.DONE or inp.gait_mode == 'hold'
        if (waited >= p.end_settle_s and sampling_idle and mode_ok) \
                or waited >= p.end_settle_timeout_s:
            self._done = True

    # --- internals: limits and faults ---

    def _check_limits(self, t_s: float, inp: MissionInputs) -> str | None:
        """End the mission on the time limit or an inability to crawl; return an abort."""
        p = self.params
        end_s = self.time_limit_s - p.time_margin_s
        if t_s >= end_s:
            abort = None
            if self._phase is MissionPhase.SAMPLING:
                abort = 'mission time limit'
                self._record_sample(t_s, inp.sampling, 'aborted', 'time limit')
            self._end(t_s, MissionPhase.HOLD, False,
                      f'time limit: {t_s:.1f} s of {self.time_limit_s:g} s used '
                      f'({p.time_margin_s:g} s kept to stow), {self._progress_text()}')
            return abort
        if not self.requires_grip:
            self._cannot_crawl_since_s = None
            return None
        fault = next((f for f in inp.faults
                      if str(f).split(':', 1)[0].strip() in CRAWL_FAULTS), None)
        if inp.cannot_crawl:
            if self._cannot_crawl_since_s is None:
                self._cannot_crawl_since_s = t_s
        else:
            self._cannot_crawl_since_s = None
        lasting = (self._cannot_crawl_since_s is not None
                   and t_s - self._cannot_crawl_since_s >= p.cannot_crawl_hold_s)
        if (fault is None and not lasting) or self._phase is MissionPhase.SAMPLING:
            return None
        why = [str(getattr(r, 'reason', r)) for r in inp.refusals
               if 'crawl' in str(getattr(r, 'reason', r))]
        cause = (f'fault {fault}' if fault is not None
                 else why[0] if why else 'the gait reports it cannot crawl')
        self._end(t_s, MissionPhase.HOLD, False,
                  f'cannot crawl ({cause}): staying anchored, {self._progress_text()}')
        return None

    def _progress_text(self) -> str:
        kind, index, _ = self._target()
        done_sites = sum(1 for s in self._samples if s.outcome == 'success')
        where = f'at {kind} {index + 1}' if kind else 'no target left'
        return f'{where}, {done_sites} of {len(self.sites)} site(s) sampled'

    # --- internals: driving ---

    def _pose_ok(self, t_s: float, inp: MissionInputs) -> bool:
        pose = inp.pose
        if pose is None:
            self._note = 'no pose estimate: standing still'
            return False
        if not (_finite(pose.x_m) and _finite(pose.y_m)):
            self._note = f'pose not finite ({pose.x_m!r}, {pose.y_m!r}): standing still'
            return False
        if not _finite(inp.pose_stamp_s) or t_s - inp.pose_stamp_s > self.params.pose_timeout_s:
            self._note = (f'pose stale (stamp {inp.pose_stamp_s!r} s at {t_s:.2f} s, timeout '
                          f'{self.params.pose_timeout_s:g} s): standing still')
            return False
        return True

    def _drive(self, t_s: float, inp: MissionInputs) -> Pose2D | None:
        p = self.params
        if not self._pose_ok(t_s, inp):
            return None
        target = self._goal_xy(inp.pose.yaw_rad)
        here = (float(inp.pose.x_m), float(inp.pose.y_m))
        dist = math.dist(here, target)
        tol = (p.site_tolerance_m if self._phase is MissionPhase.APPROACH
               else p.waypoint_tolerance_m)
        if dist <= tol:
            kind, index, _ = self._target()
            self._event(t_s, f'{kind} {index + 1} reached ({dist:.3f} m)')
            if self._phase is MissionPhase.APPROACH:
                self._phase = MissionPhase.SAMPLING
                self._route = None
                self._start_tries = 0
                self._pre_status = None
                return None
            self._index += 1
            self._next_target(t_s)
            if self._phase in (MissionPhase.TRAVEL, MissionPhase.APPROACH):
                return self._drive(t_s, inp)
            return None
        self._update_route(t_s, inp.route_map, here, target)
        if self._route is None:
            if self._no_route_since_s is not None \
                    and t_s - self._no_route_since_s >= p.no_route_timeout_s:
                kind, index, xy = self._target()
                self._end(t_s, MissionPhase.HOLD, False,
                          f'{kind} {index + 1} at ({xy[0]:.2f}, {xy[1]:.2f}) m unreachable '
                          f'for {p.no_route_timeout_s:g} s: {self._note}')
            return None
        return self._carrot(here)

    def _update_route(self, t_s: float, route_map: RouteMap | None, here: tuple,
                      target: tuple) -> None:
        p = self.params
        if route_map is not None and route_map.stamp_s != self._map_stamp:
            self._raw_cost = self.cost_model.cost_grid(route_map)
            self._map_stamp = route_map.stamp_s
        why = ''
        moved = (self._route_target is None
                 or math.dist(self._route_target, target) > 0.5 * p.site_tolerance_m)
        if self._route is not None and not moved and self._route.points_m[-1] != target:
            # the body goal of a site shifts a little with the heading: move the end only
            self._route = replace(self._route, points_m=self._route.points_m[:-1] + (target,))
        if self._route is None or moved:
            why = 'new target' if moved else 'no route yet'
            if self._route is None and not moved \
                    and t_s - self._plan_t_s < p.replan_interval_s:
                why = ''      # failed recently: retry at the replan interval
        elif route_map is not None and self._plan_map_stamp != route_map.stamp_s:
            if route_blocked(self._route, route_map, self._raw_cost, self._seg):
                why = 'route blocked on the new map'
            elif t_s - self._plan_t_s >= p.replan_interval_s:
                why = 'map changed'
        if not why and self._route is not None \
                and self._distance_to_route(here) > p.path_deviation_m:
            why = 'off the route'
        if not why:
            if self._route is None and self._no_route_since_s is not None:
                self._note = self._last_plan_reason
            return
        self._plan(t_s, route_map, here, target, why)

    def _plan(self, t_s: float, route_map: RouteMap | None, here: tuple, target: tuple,
              why: str) -> None:
        p = self.params
        self._plan_t_s = t_s
        self._route_target = target
        self._seg = 0
        if route_map is None:
            self._route = Route((here, target), math.nan, 0, 'no map: straight line')
            self._plan_map_stamp = None
            self._no_route_since_s = None
            return
        self._plan_map_stamp = route_map.stamp_s
        res = route_map.geometry.resolution_m
        inflation = int(math.ceil(p.inflation_radius_m / res - 1e-9))
        result = plan_route(route_map, self._raw_cost, here, target,
                            self.cost_model.min_s_per_m(), inflation)
        if result.route is None:
            self._route = None
            self._last_plan_reason = f'no route: {result.reason}'
            self._note = self._last_plan_reason
            if self._no_route_since_s is None:
                self._no_route_since_s = t_s
                self._event(t_s, f'{self._note} ({why})')
            return
        self._route = result.route
        self._no_route_since_s = None
        self._replans += 1
        self._event(t_s, f'route planned ({why}): {len(result.route.points_m)} points, '
                         f'{result.route.length_m:.2f} m, cost {result.route.cost_s:.0f} s')

    def _distance_to_route(self, here: tuple) -> float:
        pts = self._route.points_m
        return min(_point_segment(here, a, b)[0] for a, b in zip(pts, pts[1:]))

    def _carrot(self, here: tuple) -> Pose2D:
        """Return the goal: ``lookahead_m`` along the route beyond the robot's projection.

        Its heading is that of the route's segment it lies on: the robot faces where it
        goes, so that its depth camera (which looks ahead) sees the ground it will cross
        and the site it will sample (walking sideways to a site, it arrived on ground it
        had never seen, and the site check refused it).
        """
        pts = self._route.points_m
        best = None
        last = min(len(pts) - 2, self._seg + 2)
        for i in range(self._seg, last + 1):
            d, s = _point_segment(here, pts[i], pts[i + 1])
            if best is None or d < best[0] - 1e-12:
                best = (d, i, s)
        _, seg, s = best
        self._seg = seg
        remaining = self.params.lookahead_m
        a, b = pts[seg], pts[seg + 1]
        pos = (a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]))
        i = seg
        while True:
            end = pts[i + 1]
            yaw = math.atan2(end[1] - pts[i][1], end[0] - pts[i][0])
            left = math.dist(pos, end)
            if left >= remaining:
                f = remaining / left if left > 0 else 0.0
                return Pose2D(pos[0] + f * (end[0] - pos[0]), pos[1] + f * (end[1] - pos[1]),
                              yaw)
            remaining -= left
            pos = end
            i += 1
            if i >= len(pts) - 1:
                return Pose2D(end[0], end[1], yaw)

    # --- internals: sampling ---

    def _sample(self, t_s: float, inp: MissionInputs) -> SamplingStartRequest | None:
        p = self.params
        st = inp.sampling
        _, index, site = self._target()
        if self._start_tries == 0:
            return self._request_start(t_s, st, site)
        phase = _phase_name(getattr(st, 'phase', '')) if st is not None else ''
        ours = st is not None and _same_site(getattr(st, 'site_xy_m', None), site)
        if phase in _SAMPLING_ACTIVE and ours:
            self._seen_active = True
            return None
        if phase in _SAMPLING_OUTCOME and ours and (self._seen_active or st != self._pre_status):
            outcome = _SAMPLING_OUTCOME[phase]
            reason = str(getattr(st, 'reason', '') or '')
            if outcome == 'failed' and reason.startswith('site rejected'):
                outcome = 'rejected'
            self._record_sample(t_s, st, outcome, reason)
            if outcome == 'success':
                self._index += 1
                self._next_target(t_s)
            else:
                self._end(t_s, MissionPhase.HOLD, False,
                          f'site {index + 1} at ({site[0]:.2f}, {site[1]:.2f}) m not sampled '
                          f'({outcome}): {reason or "no reason given"}')
            return None
        if t_s - self._start_t_s >= p.sampling_start_timeout_s and not self._seen_active:
            if self._start_tries <= p.sampling_start_retries:
                self._event(t_s, f'sampling did not start within '
                                 f'{p.sampling_start_timeout_s:g} s: asking again')
                return self._request_start(t_s, st, site)
            self._end(t_s, MissionPhase.HOLD, False,
                      f'site {index + 1} at ({site[0]:.2f}, {site[1]:.2f}) m: sampling did not '
                      f'start after {self._start_tries} request(s)')
        return None

    def _request_start(self, t_s: float, st: Any, site: tuple) -> SamplingStartRequest:
        mass = getattr(st, 'mass_g', None) if st is not None else None
        self._mass_before_g = float(mass) if _finite(mass) else 0.0
        self._pre_status = st
        self._seen_active = False
        self._start_t_s = t_s
        self._start_tries += 1
        target = self._mass_before_g + self.sample_target_g
        self._event(t_s, f'sampling requested at ({site[0]:.2f}, {site[1]:.2f}) m: container '
                         f'to {target:.1f} g (attempt {self._start_tries})')
        return SamplingStartRequest(site_xy_m=site, target_g=target)

    def _record_sample(self, t_s: float, st: Any, outcome: str, reason: str) -> None:
        _, index, site = self._target()
        mass = getattr(st, 'mass_g', None) if st is not None else None
        collected = (float(mass) - self._mass_before_g) if _finite(mass) else 0.0
        self._samples.append(SampleRecord(
            site_index=index, site_xy_m=site, mass_g=max(0.0, collected),
            duration_s=max(0.0, t_s - self._start_t_s), outcome=outcome, reason=reason))
        self._event(t_s, f'site {index + 1}: {outcome}, {collected:.1f} g ({reason})')


def _point_segment(p: tuple, a: tuple, b: tuple) -> tuple:
    """(distance [m], fraction along a->b) of the point of segment a-b nearest to p."""
    vx, vy = b[0] - a[0], b[1] - a[1]
    length2 = vx * vx + vy * vy
    dot = (p[0] - a[0]) * vx + (p[1] - a[1]) * vy
    s = 0.0 if length2 <= 0.0 else max(0.0, min(1.0, dot / length2))
    return math.hypot(p[0] - a[0] - s * vx, p[1] - a[1] - s * vy), s


def _same_site(xy: Any, site: tuple, tol_m: float = 1e-6) -> bool:
    try:
        return math.dist((float(xy[0]), float(xy[1])), site) <= tol_m
    except (TypeError, ValueError, IndexError):
        return False


# --- Building the cost model from the body and the gaits -------------------------------------

def grip_fractions(terrain_table: Any) -> dict:
    """Grip fraction per :class:`TerrainClass` (int) from a scenario's terrain table."""
    out = {}
    for cls in (TerrainClass.SMOOTH, TerrainClass.REGOLITH, TerrainClass.RUBBLE,
                TerrainClass.ROCK):
        out[int(cls)] = float(terrain_table[cls.name.lower()].grip_fraction)
    return out


def route_cost_model(params: MissionParams, scenario: Any, gait_params: Any,
                     robot: Any = None) -> CostModel:
    """Build the route cost model of a scenario: the gaits the body allows, speeds, loads.

    The gait selector decides which modes the body allows on flat smooth ground with every
    claw working (roll needs traction, walk needs feet to come back down, neither on a
    body that requires grip), at the speed :func:`mode_speed_limit_m_s` gives. The crawl
    load adds the body's outward pull (mass x outward effective acceleration) to
    ``crawl_load_n``.
    """
    from space_miner.core.gait_guard import DetachGuard
    from space_miner.core.gait_selector import GaitSelector, mode_speed_limit_m_s
    from space_miner.core.gait_types import (BodyInfo, ClawStatus, Mode,
                                             TerrainClass as GaitClass, TerrainSummary)
    from space_miner.interfaces import CLAW_LEGS

    accel = scenario.effective_acceleration_m_s2()
    body = BodyInfo.from_body_config(scenario.body_config, tuple(accel))
    guard = DetachGuard(body.requires_grip, body.name, gait_params.min_verified_grips,
                        gait_params.load_fraction)
    selector = GaitSelector(gait_params, body, guard)
    claws = {c: ClawStatus(gripping=True, verified=True, verified_holding_n=1.0)
             for c in CLAW_LEGS}
    flat = TerrainSummary(GaitClass.SMOOTH, GaitClass.SMOOTH, 0.0)
    speeds = {}
    for mode in (Mode.ROLL, Mode.WALK, Mode.CRAWL):
        if not selector.mode_refusal(mode, flat, claws):
            speeds[mode.value] = mode_speed_limit_m_s(gait_params, mode, body)
    mass_kg = robot.total_mass_kg if robot is not None else 0.0
    outward_n = mass_kg * max(0.0, float(accel[2]))
    return CostModel(
        speeds_m_s=MappingProxyType(speeds), class_factor=MappingProxyType(params.class_factors()),
        grip_force_n=float(gait_params.grip_force_n),
        crawl_load_n=params.crawl_load_n + outward_n,
        load_safety_factor=params.load_safety_factor,
        min_holding_claws=params.min_holding_claws,
        min_traversability=params.min_traversability,
        weak_grip_cost_factor=params.weak_grip_cost_factor,
        unknown_cost_factor=params.unknown_cost_factor)
