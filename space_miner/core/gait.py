# SPDX-License-Identifier: Apache-2.0
"""Gait selection and locomotion: the controller that the node and the harness step.

:class:`GaitController` ties together the command mux (:mod:`gait_mux`), the selector
(:mod:`gait_selector`), the never-detach guard (:mod:`gait_guard`), the gait library
(:mod:`gait_library`) and the stance compliance (:mod:`gait_compliance`). Each call of
:meth:`GaitController.step` takes the time [s] and a :class:`GaitInputs` and returns a
:class:`GaitOutput`: 18 leg joint targets (LEG_JOINTS order), 3 wheel speeds, one request
per claw, the mode, the transition stage, refusals with reasons and diagnostics. Nothing
reads a clock; the same inputs give the same outputs.

Order of authority each step: e-stop or a stale critical input (joint states, odometry, a
wrist wrench where grip is required or while its claw grips) -> ``hold`` at once; else the
selector's mode. Changing mode runs a transition plan (:func:`plan_transition`), e.g.
roll -> crawl: stop, deploy the claws, grip, verify, then move. Every claw request, pull
test and external load passes the guard (:class:`DetachGuard`) before the joint targets are
made from it, whatever produced it: a refused pull test pulls nothing, a scaled one pulls
the allowed load.

Pull tests are bounded by the guard (see :mod:`gait_guard`): its least holding of a grip
not yet verified is the one the stance compliance already assumes (it lets such a grip
carry ``unverified_load_limit_n``: ``unverified_load_limit_n / load_fraction`` of holding,
20 N with the shipped 10 N and 0.5), and a claw that lost its verification while gripping
(a slip) earns none until it opens.

Releases under load (``release_load_check``, off by default). With it, where grip is
required, a claw is opened only while its wrist load is at most the guard's release bound
(``probe_contact_force_n``, or ``load_fraction`` of the verified holding that stays if
that is more): a release whose unloading ran out of time is refused (the claw keeps its
grip, the refusal says why), its leg goes on being relieved while the gait still asks for
it, a claw whose release went out is relieved until it opens, the crawl body waits while a
leg is being relieved, and the crawl keeps the claw and tries again. It is off by default
because on the lockstep Bennu crawl (test_locomotion_harness, seed 7) the crawl as it is
completes its 0.3 m only by opening c1 at 13.8 s while that claw still pulls 23 N off the
rock (+17 N of shear, with 24 N of verified holding left on c2 and c3). Refusing it changed
the outcome of that run (in ``hold`` after a claw failure, without a rule violation; with
other sequencing changes tried, a detachment in the claw-failure test instead): see the
report of issue 7. The guard always offers the check (:meth:`DetachGuard.check_release`).
"""

import math
from typing import Mapping

import numpy as np

from space_miner.core.gait_compliance import StanceCompliance
from space_miner.core.gait_guard import (DetachGuard, Verdict, verified_claws,
                                         verified_holding_n, working_claws)
from space_miner.core.gait_library import (CrawlGait, Footholds, odom_to_body, RollGait,
                                           smoothstep, WalkGait, yaw_of)
from space_miner.core.gait_mux import CommandMux, MuxResult
from space_miner.core.gait_params import GaitParams, load_gait_params  # noqa: F401
from space_miner.core.gait_selector import GaitSelector, mode_speed_limit_m_s, Selection
from space_miner.core.gait_types import (  # noqa: F401
    BodyInfo, BodyTwist, ClawAction, ClawRequest, ClawStatus, CommandSource, GaitInputs,
    GaitOutput, GaitRequest, GRIPPED_MODES, Mode, OdomState, OperatorInput,
    parse_gait_request, Pose2D, Refusal, RELEASING_ACTIONS, Stage, TerrainClass,
    TerrainSummary, WalkPattern)
from space_miner.core.kinematics import RobotKinematics
from space_miner.core.robot import ConfigError, RobotConfig
from space_miner.interfaces import CLAW_LEGS, LEG_JOINTS, LEG_ORDER, WHEEL_LEGS

ZERO = BodyTwist()


def plan_transition(running: Mode | None, target: Mode) -> tuple:
    """Stages that take the robot from the gait ``running`` into ``target``.

    ``hold`` is entered at once. Between the gripped modes (crawl, anchor) the crawl machine
    carries on. Into a gripped mode from another: stop, deploy the claws, grip, verify. Into
    roll or walk from another: stop, release every claw, take the new posture.
    """
    if target is Mode.HOLD or running is target:
        return ()
    if target in GRIPPED_MODES:
        if running in GRIPPED_MODES:
            return ()
        return (Stage.STOP, Stage.POSTURE, Stage.GRIP, Stage.VERIFY)
    return (Stage.STOP, Stage.RELEASE, Stage.POSTURE)


def _finite(values) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


class GaitController:
    """The gait capability's core, stepped with explicit time."""

    def __init__(self, params: GaitParams, robot_cfg: RobotConfig, body: BodyInfo,
                 release_load_check: bool = False) -> None:
        """Build the controller; ``release_load_check``: see the module docstring."""
        claw = robot_cfg.claw
        if params.grip_force_n > claw.grip_force_max_n:
            raise ConfigError('grip_force_n', params.grip_force_n,
                              f'above the claw limit {claw.grip_force_max_n:g} N (robot.yaml)')
        if len(CLAW_LEGS) * params.grip_force_n > claw.grip_force_total_max_n:
            raise ConfigError('grip_force_n', params.grip_force_n,
                              f'{len(CLAW_LEGS)} claws would exceed the total '
                              f'{claw.grip_force_total_max_n:g} N (robot.yaml)')
        self.params = params
        self.robot = robot_cfg
        self.body = body
        self.kinematics = RobotKinematics(robot_cfg)
        self.footholds = Footholds(params, robot_cfg)
        outward_n = robot_cfg.total_mass_kg * max(0.0, float(body.gravity_m_s2[2]))
        #: Refuse to open a claw that still carries load (issue 7; off by default, see the
        #: module docstring).
        self.release_load_check = bool(release_load_check)
        self.guard = DetachGuard(
            body.requires_grip, body.name, params.min_verified_grips, params.load_fraction,
            unverified_holding_n=params.unverified_load_limit_n / params.load_fraction,
            body_outward_n=outward_n, release_load_max_n=params.probe_contact_force_n)
        self.selector = GaitSelector(params, body, self.guard)
        self.mux = CommandMux(params.cmd_vel_timeout_s, params.operator_goal_timeout_s)
        self.roll = RollGait(params, robot_cfg, self.footholds)
        self.walk = WalkGait(params, self.footholds)
        self.crawl = CrawlGait(params, self.footholds, self.guard, self.roll)
        self.crawl.reachable = self._reachable
        self.compliance = StanceCompliance(params, self.kinematics)
        self._t_prev_s: float | None = None
        self._q = self.kinematics.stance_q()
        self._feet: dict = self.footholds.posture(Mode.ANCHOR)
        self._mode: Mode | None = None
        self._running: Mode | None = None
        self._plan: list = []
        self._stage_since_s = 0.0
        self._posture_start: dict | None = None
        self._verify_skipped: set = set()
        #: Critical inputs that have been fresh at least once (see stale_inputs).
        self._inputs_seen: set = set()
        self._twist = ZERO
        self._pull_n = {c: 0.0 for c in CLAW_LEGS}
        self._pull_trim_n = {c: 0.0 for c in CLAW_LEGS}
        self._notes: list = []
        self._ik_cache: dict = {}
        self._contact: dict | None = None
        self._loads_n: dict = {}
        self._wheel_dz_m = {w: 0.0 for w in WHEEL_LEGS}
        #: Claws whose release went out (granted) and that have not opened yet.
        self._opening: set = set()
        #: Claws that lost a verification while gripping (a slip): until they open, their
        #: grip earns no least holding in the guard's pull-test bound.
        self._demoted: set = set()
        self._was_verified: set = set()
        #: Whether the body waits (no crawl motion) while a claw's leg is being relieved.
        self._body_waits = False

    # --- properties ---------------------------------------------------------------------
    @property
    def mode(self) -> Mode | None:
        """The mode being run or entered (None before the first step)."""
        return self._mode

    @property
    def stage(self) -> Stage:
        """The transition stage under way (NONE once in the mode)."""
        return self._plan[0] if self._plan else Stage.NONE

    # --- inputs -------------------------------------------------------------------------
    def stale_inputs(self, t_s: float, inputs: GaitInputs) -> list:
        """Names of the critical inputs that are missing, not finite or too old."""
        p = self.params
        stale = []
        q = inputs.joint_positions_rad
        if q is None or len(q) != len(LEG_JOINTS) or not _finite(q) \
                or not t_s - inputs.joint_stamp_s <= p.joint_states_timeout_s:
            stale.append('joint_states')
        for claw in CLAW_LEGS:
            # A wrist wrench is critical where grip is required, or while its claw grips.
            status = inputs.claws.get(claw)
            if not self.body.requires_grip and not (status is not None and status.gripping):
                continue
            if not self._wrench_fresh(t_s, inputs, claw):
                stale.append(f'{claw} wrench')
        odom = inputs.odom
        if odom is None or not _finite(odom.position_m) or not _finite(odom.orientation_wxyz) \
                or not t_s - odom.stamp_s <= p.odom_timeout_s:
            stale.append('odometry')
        return stale

    def _wrench_fresh(self, t_s: float, inputs: GaitInputs, claw: str) -> bool:
        """Whether ``claw``'s wrist force is finite and within ``wrench_timeout_s``."""
        force = inputs.wrist_forces_n.get(claw)
        return force is not None and _finite(force) and t_s - inputs.wrench_stamps_s.get(
            claw, -math.inf) <= self.params.wrench_timeout_s

    def _fresh_inputs(self, t_s: float, inputs: GaitInputs, stale: list) -> list:
        """Names (as :meth:`stale_inputs` gives them) of the critical inputs fresh now."""
        fresh = [n for n in ('joint_states', 'odometry') if n not in stale]
        fresh += [f'{c} wrench' for c in CLAW_LEGS if self._wrench_fresh(t_s, inputs, c)]
        return fresh

    def _initialise(self, inputs: GaitInputs, claws: Mapping[str, ClawStatus]) -> None:
        q = inputs.joint_positions_rad
        if q is not None and len(q) == len(LEG_JOINTS) and _finite(q):
            self._q = np.asarray(q, dtype=float).copy()
            self._feet = self.kinematics.fk_all(self._q)
        else:
            self._feet = self.footholds.posture(Mode.ANCHOR)
        claw_z = np.mean([self._feet[c][2] for c in CLAW_LEGS])
        lifted = claw_z > -self.params.body_height_m + 0.5 * self.params.claw_stow_lift_m
        if self.body.requires_grip or any(s.gripping for s in claws.values()):
            self._running = Mode.ANCHOR
            self.crawl.reset(self._feet)
            # The wheels stay where they stand (the ground is rarely at its nominal height).
            limit = self.params.probe_depth_max_m
            for w in WHEEL_LEGS:
                dz = float(self._feet[w][2]) - self.footholds.ground_z_m(w)
                self._wheel_dz_m[w] = min(limit, max(-limit, dz))
        elif lifted:
            self._running = Mode.ROLL
        else:
            self._running = Mode.WALK
            self.walk.reset(self._feet)
        self.roll.reset()

    def _reachable(self, leg: str, point_m: np.ndarray) -> bool:
        """Whether ``leg``'s foot can reach ``point_m`` (base_link) with a margin for a pull."""
        lifted = np.asarray(point_m, dtype=float) + np.array([0.0, 0.0, 0.01])
        return bool(self.kinematics.legs[leg].ik(point_m).ok
                    and self.kinematics.legs[leg].ik(lifted).ok)

    def _claw_contact(self, inputs: GaitInputs, claws: Mapping[str, ClawStatus]) -> dict:
        """Per claw: whether it grips or its wrist feels it pressed on the ground.

        A wrench that carries no information (missing, not finite, or exactly zero on every
        axis, which no real sensor with noise and bias reads) counts as contact: the claw is
        then closed where it was placed, as without a wrist sensor.
        """
        out = {}
        for c in CLAW_LEGS:
            force = inputs.wrist_forces_n.get(c)
            if force is None or not _finite(force) or not any(float(f) for f in force):
                out[c] = True
                continue
            pressed = float(force[2]) <= -self.params.probe_contact_force_n
            out[c] = bool(claws[c].gripping or pressed)
        return out

    # --- commands -------------------------------------------------------------------------
    def _desired_twist(self, t_s: float, mux: MuxResult, odom: OdomState) -> BodyTwist:
        p = self.params
        if mux.twist is not None:
            return mux.twist
        goal = mux.goal
        if goal is None or odom is None or not _finite(odom.position_m):
            return ZERO
        yaw = yaw_of(odom.orientation_wxyz)
        dx = goal.x_m - float(odom.position_m[0])
        dy = goal.y_m - float(odom.position_m[1])
        dist = math.hypot(dx, dy)
        dyaw = 0.0 if goal.yaw_rad is None else math.atan2(math.sin(goal.yaw_rad - yaw),
                                                           math.cos(goal.yaw_rad - yaw))
        if dist <= p.goal_tolerance_m and abs(dyaw) <= p.goal_yaw_tolerance_rad:
            stamp = t_s
            self.mux.goal_reached(mux.source, goal, stamp)
            self._notes.append(f'goal ({goal.x_m:.2f}, {goal.y_m:.2f}) reached')
            return ZERO
        c, s = math.cos(yaw), math.sin(yaw)
        bx, by = c * dx + s * dy, -s * dx + c * dy
        gain = p.goal_gain_per_s if dist > p.goal_tolerance_m else 0.0
        return BodyTwist(gain * bx, gain * by, p.goal_yaw_gain_per_s * dyaw)

    def _slew(self, dt_s: float, desired: BodyTwist, mode: Mode) -> BodyTwist:
        p = self.params
        speed_max = mode_speed_limit_m_s(p, mode, self.body)
        speed = math.hypot(desired.vx_m_s, desired.vy_m_s)
        scale = 1.0 if speed <= speed_max else (speed_max / speed if speed > 0 else 0.0)
        want = (desired.vx_m_s * scale, desired.vy_m_s * scale, desired.wz_rad_s)
        have = (self._twist.vx_m_s, self._twist.vy_m_s, self._twist.wz_rad_s)
        dv = np.array(want[:2]) - np.array(have[:2])
        step = p.accel_max_m_s2 * dt_s
        norm = float(np.linalg.norm(dv))
        if norm > step:
            dv *= step / norm
        dw = want[2] - have[2]
        wstep = p.yaw_accel_max_rad_s2 * dt_s
        dw = min(wstep, max(-wstep, dw))
        self._twist = BodyTwist(have[0] + float(dv[0]), have[1] + float(dv[1]), have[2] + dw)
        return self._twist

    # --- the step -----------------------------------------------------------------------
    def step(self, t_s: float, inputs: GaitInputs) -> GaitOutput:
        """Run one control step at time ``t_s`` [s]."""
        p = self.params
        first = self._t_prev_s is None
        dt_s = 0.0 if first else min(max(0.0, t_s - self._t_prev_s), 0.5)
        self._t_prev_s = t_s
        self._notes = []
        refusals: list = []
        claws = {c: inputs.claws.get(c, ClawStatus()) for c in CLAW_LEGS}
        if first:
            self._initialise(inputs, claws)
        stale = self.stale_inputs(t_s, inputs)
        self._inputs_seen.update(self._fresh_inputs(t_s, inputs, stale))
        self._contact = self._claw_contact(inputs, claws)
        self._loads_n = {c: float(np.linalg.norm(f)) for c, f in inputs.wrist_forces_n.items()
                         if f is not None and _finite(f)}
        q_meas = (np.asarray(inputs.joint_positions_rad, dtype=float)
                  if 'joint_states' not in stale else self._q)

        mux = self.mux.select(t_s, inputs.operator, inputs.autopilot_goal)
        request = parse_gait_request(inputs.operator.gait_request)
        if request is None or inputs.operator.comm_loss:
            if request is None:
                refusals.append(Refusal('gait request', f'unknown request '
                                        f'{inputs.operator.gait_request!r}: auto used'))
            request = GaitRequest.AUTO
        terrain = inputs.terrain
        if terrain is not None and not t_s - terrain.stamp_s <= p.terrain_timeout_s:
            terrain = None
        desired = ZERO if mux.estop or stale else self._desired_twist(t_s, mux, inputs.odom)
        if not desired.is_finite():
            refusals.append(Refusal('body twist', 'not finite: stopped'))
            desired = ZERO
        moving = desired != ZERO

        cannot_crawl = bool(self.selector.mode_refusal(Mode.CRAWL, terrain, claws))
        if mux.estop or stale:
            why = 'estop' if mux.estop else f'stale input: {", ".join(stale)}'
            self.selector.mode = Mode.HOLD
            selection = Selection(Mode.HOLD, (), cannot_crawl, self._mode is not Mode.HOLD, why)
            if stale:
                # Before an input has ever flowed (the stack starting) the hold is expected.
                first = not any(name in self._inputs_seen for name in stale)
                refusals.append(Refusal('motion', f'hold: {why}', expected=first))
        else:
            selection = self.selector.select(t_s, request, terrain, claws, moving)
        refusals.extend(selection.refusals)
        if selection.mode is not self._mode:
            self._enter(t_s, selection.mode)

        mode = self._mode
        twist = self._slew(dt_s, desired if not self._plan else ZERO,
                           self._running if self._plan and self._running else mode)
        requests = {c: ClawRequest(c, ClawAction.HOLD, p.grip_force_n) for c in CLAW_LEGS}
        wheels = {w: 0.0 for w in WHEEL_LEGS}
        body_twist = ZERO
        candidates = ()
        if terrain is not None and terrain.grasp_candidates_m and inputs.odom is not None:
            candidates = tuple(odom_to_body(c, inputs.odom) for c in terrain.grasp_candidates_m)

        if mode is not Mode.HOLD:
            if self._plan:
                wheels, requests = self._run_stage(t_s, dt_s, claws, requests, wheels)
            else:
                body_twist, wheels, requests = self._run_mode(t_s, dt_s, mode, twist, claws,
                                                              candidates, requests)
        filtered, guard_refusals, relieve = self._guard_requests(claws, requests)
        refusals.extend(guard_refusals)
        unloading = self.crawl.unloading is not None and mode in GRIPPED_MODES
        self._body_waits = self.release_load_check and (bool(relieve) or unloading)
        if mode is Mode.HOLD:
            self._twist = ZERO
            q_cmd = self._q.copy()
        else:
            q_cmd = self._targets(dt_s, claws, inputs, q_meas, requests,
                                  {r.claw: r for r in filtered}, relieve)
        load = self.guard.check_load(claws, float(inputs.external_load_n))
        if load.verdict is not Verdict.ALLOW:
            refusals.append(Refusal('external load', load.reason, expected=True))
        self._q = q_cmd
        diagnostics = {
            'mode': mode.value,
            'stage': self.stage.value,
            'running_gait': self._running.value if self._running else 'none',
            'command_source': mux.source.value,
            'selector': selection.why,
            'stale_inputs': ', '.join(stale),
            'verified_grips': float(len(verified_claws(claws))),
            'verified_holding_n': verified_holding_n(claws),
            'working_claws': float(len(working_claws(claws))),
            'crawl_claw': self.crawl.move.claw if self.crawl.move else '',
            'crawl_phase': self.crawl.move.phase.value if self.crawl.move else 'idle',
            'crawl_note': self.crawl.note,
            'crawl_stuck': ', '.join(sorted(self.crawl.stuck)),
            'crawl_holds_placed': float(self.crawl.placements['placed']),
            'crawl_holds_verified': float(self.crawl.placements['held']),
            'crawl_holds_failed': float(self.crawl.placements['failed']),
            'notes': '; '.join(self._notes + ([mux.note] if mux.note else [])),
            'speed_limit_m_s': mode_speed_limit_m_s(p, mode, self.body),
            'roll_alignment': self.roll.alignment,
        }
        return GaitOutput(
            leg_positions_rad=tuple(float(v) for v in q_cmd),
            wheel_speeds_rad_s=tuple(float(wheels[w]) for w in WHEEL_LEGS),
            claw_requests=filtered,
            mode=mode,
            stage=self.stage,
            command_source=mux.source,
            body_twist=body_twist,
            refusals=tuple(refusals),
            cannot_crawl=cannot_crawl,
            external_load_limit_n=self.guard.external_load_limit_n(claws),
            diagnostics=diagnostics,
        )

    # --- the guard on the claw requests ----------------------------------------------------
    def _guard_requests(self, claws: Mapping[str, ClawStatus], requests: dict) -> tuple:
        """Pass the claw requests through the guard: (filtered, refusals, claws to relieve).

        Where grip is required a release is checked against the claw's wrist load too (a
        claw is never opened while loaded); a claw whose release went out on the previous
        step and is still asked to release is already opening and is not checked again.
        Claws to relieve: those whose release was refused for their load (so that the gait
        can ask again). A claw that lost its verification while gripping gets no least
        holding in the pull-test bound until it opens.
        """
        p = self.params
        wants = {c for c in CLAW_LEGS if requests[c].action in RELEASING_ACTIONS}
        under_way = self._opening & wants
        loads = self._loads_n if self.body.requires_grip and self.release_load_check else None
        verified = set(verified_claws(claws))
        gripping = {c for c in CLAW_LEGS if claws[c].gripping}
        self._demoted = ((self._demoted | (self._was_verified - verified)) & gripping) - verified
        self._was_verified = verified
        filtered, refusals = self.guard.filter_claw_requests(
            claws, requests, p.pull_test_load_n, loads_n=loads, under_way=under_way,
            uncredited=self._demoted)
        granted = {r.claw for r in filtered if r.action in RELEASING_ACTIONS}
        self._opening = {c for c in granted if claws[c].gripping}
        if loads is None:
            return filtered, refusals, set()
        relieve = set(self._opening)
        for c in wants - granted:
            load = loads.get(c)
            if claws[c].gripping and (load is None or load > p.probe_contact_force_n):
                relieve.add(c)
                self._notes.append(f'{c} kept gripped: it still carries load')
        return filtered, refusals, relieve

    # --- modes and stages -----------------------------------------------------------------
    def _enter(self, t_s: float, target: Mode) -> None:
        self._plan = list(plan_transition(self._running, target))
        self._mode = target
        self._stage_since_s = t_s
        self._posture_start = None
        self._verify_skipped = set()

    def _next_stage(self, t_s: float) -> None:
        self._plan.pop(0)
        self._stage_since_s = t_s
        self._posture_start = None
        if not self._plan:
            self._running = self._mode
            if self._mode is Mode.WALK:
                self.walk.reset(self._feet)
            elif self._mode in GRIPPED_MODES:
                self.crawl.reset(self._feet)

    def _run_stage(self, t_s: float, dt_s: float, claws: Mapping[str, ClawStatus],
                   requests: dict, wheels: dict) -> tuple:
        p = self.params
        stage = self._plan[0]
        elapsed = t_s - self._stage_since_s
        target = self._mode
        if stage is Stage.STOP:
            done = self._stop_running(t_s, dt_s, claws, requests, wheels)
            if done:
                self._next_stage(t_s)
        elif stage is Stage.RELEASE:
            action = ClawAction.STOW if target is Mode.ROLL else ClawAction.RELEASE
            for c in CLAW_LEGS:
                requests[c] = ClawRequest(c, action, p.grip_force_n)
            if not any(s.gripping for s in claws.values()):
                self._next_stage(t_s)
            elif elapsed > p.claw_action_timeout_s:
                held = [c for c in CLAW_LEGS if claws[c].gripping]
                self._notes.append(f'waiting for {", ".join(held)} to release')
        elif stage is Stage.POSTURE:
            if self._posture_start is None:
                self._posture_start = {k: v.copy() for k, v in self._feet.items()}
                if target is Mode.ROLL:
                    self.roll.reset()
            goal = self.footholds.posture(target)
            s = smoothstep(elapsed / p.posture_transition_s)
            lift = 0.5 * p.claw_stow_lift_m * math.sin(math.pi * min(1.0, elapsed
                                                                     / p.posture_transition_s))
            for leg in LEG_ORDER:
                start = self._posture_start[leg]
                foot = start + (goal[leg] - start) * s
                if leg in CLAW_LEGS and float(np.linalg.norm(goal[leg] - start)) > 0.01:
                    foot[2] += lift
                self._feet[leg] = foot
            if target is Mode.ROLL:
                for c in CLAW_LEGS:
                    requests[c] = ClawRequest(c, ClawAction.STOW, p.grip_force_n)
            if elapsed >= p.posture_transition_s:
                self._feet = goal
                self._next_stage(t_s)
        elif stage is Stage.GRIP:
            missing = [c for c in working_claws(claws) if not claws[c].gripping]
            for c in missing:
                requests[c] = ClawRequest(c, ClawAction.GRIP, p.grip_force_n)
            limit_s = p.claw_action_timeout_s * (p.grip_retries_max + 1)
            if not missing:
                self._next_stage(t_s)
            elif elapsed > limit_s:
                self._notes.append(f'{", ".join(missing)} did not grip: crawl will retry')
                self._next_stage(t_s)
        elif stage is Stage.VERIFY:
            todo = [c for c in working_claws(claws) if claws[c].gripping
                    and not claws[c].holds_verified and c not in self._verify_skipped]
            if not todo:
                self._next_stage(t_s)
            else:
                claw = todo[0]
                requests[claw] = ClawRequest(claw, ClawAction.VERIFY, p.grip_force_n,
                                             p.pull_test_load_n)
                if elapsed > p.verify_timeout_s:
                    self._notes.append(f'{claw} pull test timed out')
                    self._verify_skipped.add(claw)
                    self._stage_since_s = t_s
        return wheels, requests

    def _stop_running(self, t_s: float, dt_s: float, claws: Mapping[str, ClawStatus],
                      requests: dict, wheels: dict) -> bool:
        running = self._running
        if running is Mode.WALK:
            self._feet = self.walk.step(dt_s, ZERO)
            return self.walk.at_rest(ZERO)
        if running is Mode.ROLL:
            twist = self._twist
            feet, speeds = self.roll.step(dt_s, twist)
            self._feet.update(feet)
            wheels.update(speeds)
            return twist == ZERO and self.roll.at_rest()
        if running in GRIPPED_MODES:
            feet, reqs, _, speeds = self.crawl.step(t_s, dt_s, ZERO, claws,
                                                    contact=self._contact,
                                                    loads_n=self._loads_n)
            self._feet = feet
            requests.update(reqs)
            wheels.update(speeds)
            return self.crawl.at_rest()
        return True

    def _run_mode(self, t_s: float, dt_s: float, mode: Mode, twist: BodyTwist,
                  claws: Mapping[str, ClawStatus], candidates: tuple, requests: dict) -> tuple:
        p = self.params
        wheels = {w: 0.0 for w in WHEEL_LEGS}
        body = ZERO
        if mode is Mode.ROLL:
            feet, wheels = self.roll.step(dt_s, twist)
            self._feet.update(feet)
            body = twist
            for c in CLAW_LEGS:
                requests[c] = ClawRequest(c, ClawAction.STOW, p.grip_force_n)
        elif mode is Mode.WALK:
            body = self.walk.limit(twist)
            self._feet = self.walk.step(dt_s, twist)
            for c in CLAW_LEGS:
                requests[c] = ClawRequest(c, ClawAction.RELEASE, p.grip_force_n)
        elif mode in GRIPPED_MODES:
            command = twist if mode is Mode.CRAWL and not self._body_waits else ZERO
            self._feet, reqs, body, wheels = self.crawl.step(t_s, dt_s, command, claws,
                                                             candidates, self._contact,
                                                             self._loads_n)
            requests.update(reqs)

        return body, wheels, requests

    def _seat_wheels(self) -> None:
        """Hold the wheels of a gripped stance at the height they were found standing.

        The ground under a wheel is rarely at its nominal height (rubble): a robot found
        gripped keeps each wheel where it stands (set at the first step) instead of
        springing it to the nominal height, which would push the body off its grips in weak
        gravity. Outside the gripped modes the wheels take their nominal height again.
        """
        if self._mode not in GRIPPED_MODES:
            self._wheel_dz_m = {w: 0.0 for w in WHEEL_LEGS}

    def _targets(self, dt_s: float, claws: Mapping[str, ClawStatus], inputs: GaitInputs,
                 q_meas: np.ndarray, requests: dict, allowed: dict,
                 relieve: set = frozenset()) -> np.ndarray:
        """Feet + compliance + pull-test offsets -> joint targets through IK.

        ``requests`` are the gait's, ``allowed`` the guard's verdict on them: a pull test
        pulls at most the load the guard allowed (nothing when it refused it);
        ``relieve``: claws whose legs are brought towards no load (see _guard_requests).
        """
        p = self.params
        q_legs = q_meas.reshape(len(LEG_ORDER), 3)
        verifying = [c for c in CLAW_LEGS if requests[c].action is ClawAction.VERIFY]
        unload = set() if self.crawl.unloading is None or self._mode not in GRIPPED_MODES \
            else {self.crawl.unloading}
        unload |= set(relieve) - set(verifying)
        offsets = self.compliance.update(claws, inputs.wrist_forces_n, q_meas,
                                         exclude=verifying, unload=unload)
        feet = {leg: np.array(v, dtype=float) for leg, v in self._feet.items()}
        for c in CLAW_LEGS:
            feet[c] = feet[c] + offsets[c]
            if requests[c].action is ClawAction.GRIP and not claws[c].gripping:
                feet[c][2] -= p.grip_press_depth_m     # make contact to close on
            if c in verifying:
                # The guard has bounded the request's load (scaled it, or refused: 0).
                granted = allowed[c]
                limit = granted.pull_load_n if granted.action is ClawAction.VERIFY else 0.0
                want = min(max(0.0, limit), max(0.0, claws[c].pull_request_n))
                rate = claws[c].pull_ramp_rate_n_per_s
                ramp = (rate if rate > 0.0 else p.pull_ramp_rate_n_per_s) * dt_s
                # Ramped both ways: a test the claw controller ends (passed, slipped or
                # abandoned) is unloaded at the ramp rate, never at once.
                self._pull_n[c] = max(min(want, self._pull_n[c] + ramp),
                                      self._pull_n[c] - ramp)
            elif claws[c].gripping and not claws[c].failed:
                # Take a pull test's load off at the ramp rate, never at once: a sudden
                # drop of the wrist load is what a slip looks like (to the claw controller).
                ramp = p.pull_ramp_rate_n_per_s * dt_s
                total = max(0.0, self._pull_n[c] + self._pull_trim_n[c] - ramp)
                self._pull_n[c], self._pull_trim_n[c] = total, 0.0
            else:
                self._pull_n[c] = 0.0
                self._pull_trim_n[c] = 0.0
            if self._pull_n[c] + self._pull_trim_n[c] > 0.0:
                # Feedforward through the leg's stiffness, trimmed by the measured wrist
                # force: the body and the other legs give way too, so the leg's stiffness
                # alone delivers only part of the load.
                force = inputs.wrist_forces_n.get(c)
                if c in verifying and claws[c].pull_request_n > 0.0 and force is not None \
                        and _finite(force):
                    error = self._pull_n[c] - float(force[2])
                    self._pull_trim_n[c] = min(max(
                        self._pull_trim_n[c] + 0.2 * p.compliance_gain * error,
                        -self._pull_n[c]), 2.0 * p.pull_test_load_n)
                q_leg = q_legs[LEG_ORDER.index(c)]
                feet[c] = feet[c] + self.compliance.offset_for_force(
                    c, q_leg, (0.0, 0.0, self._pull_n[c] + self._pull_trim_n[c]))
        self._seat_wheels()
        for w in WHEEL_LEGS:
            feet[w] = feet[w] + np.array([0.0, 0.0, self._wheel_dz_m[w]])
        q = self._q.copy().reshape(len(LEG_ORDER), 3)
        for i, leg in enumerate(LEG_ORDER):
            target = feet[leg]
            cached = self._ik_cache.get(leg)
            if cached is not None and np.array_equal(cached[0], target):
                q[i] = cached[1]
                continue
            result = self.kinematics.legs[leg].ik(target)
            if result.ok:
                q[i] = result.q
                self._ik_cache[leg] = (target.copy(), result.q.copy())
            else:
                self._notes.append(f'ik: {result.reason}')
        return q.reshape(-1)
