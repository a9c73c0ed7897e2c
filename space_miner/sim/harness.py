# SPDX-License-Identifier: Apache-2.0
"""The lockstep harness: the stack's core components and the MuJoCo world in one process.

No DDS and no threads: the world steps at its physics step and each component at its own
period, reading the latest values from a :class:`Bus` and writing its outputs there; the
hardware commands a component leaves on the bus are applied to the world before the next
physics step. Components see only what the hardware interface gives (the world's sensor
readings and depth images, never its truth); the harness judges the never-detach rule
from the world's truth every step and builds the run summary. The same core objects the
nodes wrap plug in here as :class:`Component` adapters — never a second copy of behaviour.

Deterministic: the same scenario and seed give bit-identical trajectories.
"""

from dataclasses import dataclass, field
import math
import time
from typing import Callable, Protocol, Sequence

import numpy as np

from space_miner import interfaces as itf
from space_miner.interfaces import CLAW_LEGS
from space_miner.core.scenario import load_scenario, Scenario
from space_miner.sim.judge import ClawTruth, NeverDetachJudge
from space_miner.sim.summary import build_summary

#: How often the harness samples the true trajectory (distance, determinism) [Hz].
TRACE_RATE_HZ = 10.0


@dataclass
class MissionState:
    """What the mission autopilot reports: done, success, why, and the samples taken."""

    done: bool = False
    success: bool = False
    reason: str = ''
    samples: list = field(default_factory=list)


class Lazy:
    """A bus value worked out when it is first read (an output that may go unread)."""

    __slots__ = ('make',)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


class Values(dict):
    """``Bus.values``: component outputs by name; a :class:`Lazy` entry is made on first read.

    A component that writes a :class:`Lazy` must not change what it reads until it writes
    the next value (so the value made late is the one it would have made at once).
    """

    def __getitem__(self, key: str) -> object:
        value = dict.__getitem__(self, key)
        if type(value) is Lazy:
            value = value.make()
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: object = None) -> object:
        """Return the value of ``key`` (made now if lazy), or ``default``."""
        value = dict.get(self, key, default)
        if type(value) is Lazy:
            value = value.make()
            dict.__setitem__(self, key, value)
        return value

    def pop(self, key: str, *default: object) -> object:
        """Remove ``key`` and return its value (made now if lazy), or ``default``."""
        value = dict.pop(self, key, *default)
        return value.make() if type(value) is Lazy else value


@dataclass
class Bus:
    """The latest value of everything the components exchange, at ``t_s`` [s].

    ``sensors`` and ``depth`` are the hardware side (what the contract's topics carry);
    ``commands`` maps a command topic name (interfaces.COMMAND_JOINTS) to the array a
    component wants applied; ``mode`` is the gait mode (for gait_time_s and end_mode);
    ``external_load_n`` the load the stack commands (sampling reaction), for components
    that need it; ``verified_holding_n`` the claws' verified holding forces as the gait
    last saw them (the summary's holding margin; the rule itself is judged against the
    world's true load); ``claw_verified_n`` the claw controller's verified holding per claw
    as of its latest step (what the stack believes; the judge holds it against the truth
    every physics step); ``values`` holds component outputs by name (:class:`Values`).
    """

    t_s: float = 0.0
    sensors: object = None
    depth: tuple | None = None  # (image [m], K, stamp [s])
    commands: dict = field(default_factory=dict)
    mode: str = 'hold'
    external_load_n: float = 0.0
    verified_holding_n: dict | None = None
    claw_verified_n: dict | None = None
    mission: MissionState = field(default_factory=MissionState)
    values: Values = field(default_factory=Values)


class Component(Protocol):
    """A core component wrapped for the harness: stepped every ``period_s`` seconds.

    A component that reads depth images also has ``wants_depth(t_s, bus) -> bool``: asked
    when the camera has a frame, before it is rendered. One that reads the IMU has
    ``reads_imu = True``: the IMU gives a sample (``bus.sensors.imu``) only on its steps,
    the mean of its accelerometer over the time since its previous one (the IMU's rate is
    its reader's, as on the live graph); on other steps ``bus.sensors.imu`` is None.
    """

    name: str
    period_s: float

    def step(self, t_s: float, bus: Bus) -> None:
        """Read inputs from ``bus``, step the core object, write outputs to ``bus``."""


@dataclass(frozen=True)
class HarnessConfig:
    """Harness settings: camera size [px] (None: no camera) and rate [Hz], seed override.

    The camera offers a frame every 1 / ``camera_rate_hz`` (the contract's depth image
    rate), and the frame is rendered only when a component wants it (``wants_depth``):
    terrain perception's core decides which frames it fuses, as in the node.
    """

    camera: tuple | None = (160, 120)
    camera_rate_hz: float = itf.DEPTH_IMAGE.rate_hz
    seed: int | None = None
    timestep_s: float = 0.002


class Harness:
    """Run one scenario on the world with the given components, deterministically."""

    def __init__(self, scenario: Scenario, components: Sequence[Component] | None = None,
                 config: HarnessConfig = HarnessConfig()) -> None:
        from space_miner.sim.world import World
        self.scenario = scenario
        self.config = config
        self.world = World(scenario, camera=config.camera, seed=config.seed,
                           timestep_s=config.timestep_s)
        self.components = list(default_components(scenario, self.world)
                               if components is None else components)
        for comp in self.components:
            if not (math.isfinite(comp.period_s) and comp.period_s >= config.timestep_s):
                raise ValueError(f'component {comp.name}: period_s = {comp.period_s!r} must '
                                 f'be at least the physics step {config.timestep_s:g} s')
        self.bus = Bus()
        self.judge = NeverDetachJudge(scenario.body_config.requires_grip)
        self.trace: list = []  # (t, x, y, z) of base_link, true, at TRACE_RATE_HZ

    def _command_setters(self) -> dict:
        """Map each command topic to the world's setter for it."""
        world = self.world
        return {
            itf.LEG_COMMANDS.name: world.command_legs,
            itf.WHEEL_COMMANDS.name: world.command_wheels,
            itf.CLAW_COMMANDS.name: world.command_claws,
            itf.SAMPLER_FEED_COMMANDS.name: world.command_feed,
            itf.SAMPLER_DRILL_COMMANDS.name: world.command_drill,
            itf.SAMPLER_LID.name: lambda open_: world.set_lid(bool(open_)),
        }

    def _apply_commands(self, setters: dict | None = None) -> None:
        commands = self.bus.commands
        if not commands:
            return
        setters = setters or self._command_setters()
        for topic_name, values in commands.items():
            setters[topic_name](values)  # a refused command raises: a harness bug
        commands.clear()

    def run(self, time_limit_s: float | None = None,
            progress: Callable[[float, Bus], None] | None = None,
            progress_period_s: float = 1.0) -> dict:
        """Run until the mission ends, the robot detaches or the time limit; summarise."""
        world, bus, judge = self.world, self.bus, self.judge
        limit = self.scenario.mission.time_limit_s if time_limit_s is None else time_limit_s
        dt = world.timestep_s
        next_due = {comp.name: 0.0 for comp in self.components}
        camera_period = (1.0 / self.config.camera_rate_hz
                         if self.config.camera is not None else math.inf)
        next_camera = 0.0 if self.config.camera is not None else math.inf
        depth_wanted = [c.wants_depth for c in self.components if hasattr(c, 'wants_depth')]
        next_trace = 0.0
        next_progress = 0.0
        gait_time: dict = {}
        setters = self._command_setters()
        # The judge's view of each claw, rebuilt only when the world's truth changes.
        truths: dict = {}
        claw_truth: dict = {}
        wall0 = time.perf_counter()
        end_reason = ''
        detached = False
        while True:
            t = world.time_s
            if t + 1e-9 >= next_trace:
                truth = world.ground_truth()
                self.trace.append((t, *truth.position_m))
                next_trace += 1.0 / TRACE_RATE_HZ
            due = [c for c in self.components if t + 1e-9 >= next_due[c.name]]
            bus.t_s = t
            if t + 1e-9 >= next_camera:
                next_camera += camera_period
                if any(wants(t, bus) for wants in depth_wanted):
                    image, k = world.render_depth()
                    bus.depth = None if image is None else (image, k, t)
            if due:
                bus.sensors = world.read_sensors(
                    imu=any(getattr(c, 'reads_imu', False) for c in due))
                for comp in due:
                    comp.step(t, bus)
                    next_due[comp.name] += comp.period_s
            self._apply_commands(setters)
            if progress is not None and t + 1e-9 >= next_progress:
                progress(t, bus)
                next_progress += progress_period_s
            if bus.mission.done:
                end_reason = bus.mission.reason or 'mission done'
                break
            if t + 1e-9 >= limit:
                end_reason = f'time limit {limit:g} s reached'
                break
            world.step(1)
            gait_time[bus.mode] = gait_time.get(bus.mode, 0.0) + dt
            for claw, held in zip(CLAW_LEGS, world.holding_truth()):
                if claw_truth.get(claw) != held:
                    claw_truth[claw] = held
                    truths[claw] = ClawTruth(*held)
            judge.step(world.time_s, dt, truths, world.external_load_n(),
                       bus.verified_holding_n, bus.claw_verified_n)
            detached, why = world.is_detached()
            if detached:
                end_reason = f'detached: {why}'
                break
        wall = time.perf_counter() - wall0
        return self._summary(end_reason, detached, wall, gait_time)

    def _summary(self, reason: str, detached: bool, wall_s: float, gait_time: dict) -> dict:
        world, bus, verdict = self.world, self.bus, self.judge.verdict
        t_end = world.time_s
        trace = np.asarray(self.trace, dtype=float)
        distance = float(np.sum(np.hypot(np.diff(trace[:, 1]), np.diff(trace[:, 2])))) \
            if len(trace) > 1 else 0.0
        started = [f for f in self.scenario.faults if f.at_s <= t_end]
        survived = 0 if detached else len(started)
        success = bool(bus.mission.success) and not detached and verdict.violations == 0
        margin = verdict.min_margin_verified if bus.verified_holding_n is not None \
            else verdict.min_margin_true
        extra = {
            'rule_violation_time_s': round(verdict.violation_time_s, 6),
            'rule_violation_reasons': list(verdict.reasons),
            'belief_breaches': verdict.belief_breaches,
            'min_true_holding_margin': verdict.min_margin_true,
            'real_time_factor': round(t_end / wall_s, 3) if wall_s > 0 else None,
            'faults': [f.kind for f in self.scenario.faults],
        }
        estimate = bus.values.get('estimate_position_m')
        if estimate is not None:
            truth = world.ground_truth().position_m
            extra['final_estimation_error_m'] = round(float(np.linalg.norm(
                np.asarray(estimate)[:2] - truth[:2])), 4)
        return build_summary(
            scenario=self.scenario, success=success, reason=reason, end_mode=bus.mode,
            sim_time_s=t_end, wall_time_s=wall_s, distance_m=distance,
            samples=bus.mission.samples, detached=detached,
            rule_violations=verdict.violations, min_holding_margin=margin,
            gait_time_s=gait_time, faults_survived=survived, extra=extra)


def default_components(scenario: Scenario, world: object) -> list:
    """Return the whole stack's components for the harness.

    Used when a :class:`Harness` is made without an explicit component list (``space-miner
    eval``): terrain perception, the claw controller, the state estimator, the mission
    autopilot, the sampler and the gait controller
    (:func:`space_miner.sim.components.full_stack_components`).
    """
    from space_miner.sim.components import full_stack_components
    return full_stack_components(scenario, world)


def run_scenario(path: str, *, seed: int | None = None, time_limit_s: float | None = None,
                 config: HarnessConfig | None = None,
                 progress: Callable[[float, Bus], None] | None = None) -> dict:
    """Load a scenario file, run it on the harness with the stack, return its summary."""
    scenario = load_scenario(path)
    config = config or HarnessConfig(seed=seed)
    return Harness(scenario, None, config).run(time_limit_s=time_limit_s, progress=progress)
