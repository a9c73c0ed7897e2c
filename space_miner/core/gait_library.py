# SPDX-License-Identifier: Apache-2.0
"""The gait library: foot placements of every mode, stepped with explicit time.

Feet are points in base_link: the claw pad's centre of a claw leg, the wheel centre of a
wheel leg (as in :mod:`space_miner.core.kinematics`); the controller turns them into joint
targets through IK. Ground level is ``-body_height_m``: a pad's centre sits one pad radius
above it, a wheel centre one wheel radius.

- :class:`RollGait`: wheel legs steer with their coxa (the wheel axle is the leg's y axis,
  so a wheel rolls along the leg's x after the coxa yaw) and drive; claws stowed.
- :class:`WalkGait`: tripod, ripple and wave over all six legs, with duty factors and
  swing arcs; stance feet move against the body twist.
- :class:`CrawlGait`: claw free-climbing, one claw at a time (release, carry, grip,
  verify) while the others hold; the body advances only while enough verified grips hold;
  with a zero twist it is the ``anchor`` gait (grips and verifies every working claw).
  A claw whose pull test does not pass in ``verify_timeout_s`` is, while crawling, seated
  again beside (``reseat_offset_m`` across its way out, alternating sides), in ``anchor``
  gripped again where it is; a claw leaving while a holder lets go stays gripped (not yet
  released) or is put down at once where it is (mid-swing).
"""

from dataclasses import dataclass
from enum import Enum
import math
from typing import Mapping, Sequence

import numpy as np
from transforms3d import euler, quaternions

from space_miner.core.gait_guard import DetachGuard, verified_claws, working_claws
from space_miner.core.gait_params import GaitParams
from space_miner.core.gait_types import (BodyTwist, ClawAction, ClawRequest, ClawStatus, Mode,
                                         OdomState, WalkPattern)
from space_miner.core.robot import RobotConfig
from space_miner.interfaces import CLAW_LEGS, LEG_ORDER, WHEEL_LEGS

#: Phase offsets (start of swing, in cycles) per leg in LEG_ORDER (around the body).
#: Tripod: the claws and the wheels alternate. Ripple: two legs swing at a time, never two
#: neighbours (the ring order 0, 2, 5, 3, 1, 4). Wave: one leg at a time, around the body.
PATTERN_OFFSETS = {
    WalkPattern.TRIPOD: (0.0, 0.5, 0.0, 0.5, 0.0, 0.5),
    WalkPattern.RIPPLE: (0.0, 4 / 6, 1 / 6, 3 / 6, 5 / 6, 2 / 6),
    WalkPattern.WAVE: (0.0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6),
}


def smoothstep(s: float) -> float:
    """Smooth 0..1 blend with zero slope at both ends."""
    s = min(1.0, max(0.0, s))
    return s * s * (3.0 - 2.0 * s)


def _moving(twist: BodyTwist) -> bool:
    """Whether ``twist`` asks for any motion (a zero twist: the anchor gait)."""
    return (twist.vx_m_s, twist.vy_m_s, twist.wz_rad_s) != (0.0, 0.0, 0.0)


def _rot_z(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def stance_drift(p_m: np.ndarray, twist: BodyTwist, dt_s: float) -> np.ndarray:
    """Move a ground-fixed foot as seen from a body moving with ``twist`` for ``dt_s``."""
    v = np.array([twist.vx_m_s, twist.vy_m_s, 0.0])
    moved = _rot_z(-twist.wz_rad_s * dt_s) @ (p_m - v * dt_s)
    moved[2] = p_m[2]
    return moved


def yaw_of(orientation_wxyz: Sequence[float]) -> float:
    """Yaw [rad] of a (w, x, y, z) quaternion."""
    return float(euler.quat2euler(np.asarray(orientation_wxyz, dtype=float), 'sxyz')[2])


def odom_to_body(point_m: Sequence[float], odom: OdomState) -> np.ndarray:
    """Express a point given in odom in base_link, with the odometry pose."""
    rotation = quaternions.quat2mat(np.asarray(odom.orientation_wxyz, dtype=float))
    return rotation.T @ (np.asarray(point_m, dtype=float) - np.asarray(odom.position_m, float))


class Footholds:
    """Nominal foot points of every posture, in base_link [m]."""

    def __init__(self, params: GaitParams, robot: RobotConfig) -> None:
        self.params = params
        self.wheel_radius_m = robot.wheel.radius_m
        self.pad_radius_m = robot.claw.pad_radius_m
        self.mount_yaw_rad = dict(robot.mount_yaw_rad)
        self.hip_radius_m = robot.hip_radius_m

    def ground_z_m(self, leg: str) -> float:
        """Height of a standing foot point: the claw pad's and the wheel's centre above the ground.

        The legs' foot points (kinematics) are the pad's and the wheel's centres: a pad on
        the ground has its centre ``pad_radius_m`` above it, a wheel its radius.
        """
        z = -self.params.body_height_m
        return z + (self.wheel_radius_m if leg in WHEEL_LEGS else self.pad_radius_m)

    def radial(self, leg: str) -> np.ndarray:
        """Return the unit vector from the body axis through the leg's mount."""
        yaw = self.mount_yaw_rad[leg]
        return np.array([math.cos(yaw), math.sin(yaw), 0.0])

    def nominal(self, leg: str) -> np.ndarray:
        """Standing foot point of ``leg``."""
        p = self.params.foot_radius_m * self.radial(leg)
        p[2] = self.ground_z_m(leg)
        return p

    def stowed(self, leg: str) -> np.ndarray:
        """Roll posture: claws pulled in and lifted clear, wheels standing."""
        if leg in WHEEL_LEGS:
            return self.nominal(leg)
        p = self.params.claw_stow_radius_m * self.radial(leg)
        p[2] = -self.params.body_height_m + self.params.claw_stow_lift_m
        return p

    def posture(self, mode: Mode) -> dict:
        """Every foot of the stance of ``mode`` (roll stows the claws)."""
        pick = self.stowed if mode is Mode.ROLL else self.nominal
        return {leg: pick(leg) for leg in LEG_ORDER}


# --- roll ---------------------------------------------------------------------------------

class RollGait:
    """Wheels drive, coxa joints steer; claws stowed (wheel speeds in rad/s)."""

    def __init__(self, params: GaitParams, robot: RobotConfig, footholds: Footholds) -> None:
        self.params = params
        self.footholds = footholds
        self.radius_m = robot.wheel.radius_m
        self.wheel_speed_max_rad_s = robot.wheel.velocity_max_rad_s
        coxa = robot.joints['coxa']
        margin = 0.02
        self.coxa_lo_rad = coxa.lower_rad + margin
        self.coxa_hi_rad = coxa.upper_rad - margin
        self.coxa_rate_rad_s = coxa.velocity_rad_s
        self.reach_m = params.foot_radius_m - robot.hip_radius_m
        self.coxa_rad = {w: 0.0 for w in WHEEL_LEGS}
        self.wheel_rad_s = {w: 0.0 for w in WHEEL_LEGS}
        #: Worst cosine between a wheel's rolling direction and its contact velocity (1: no
        #: skid). A spin in place cannot be rolled without skidding: the coxa's +-60 deg do
        #: not turn a wheel tangential.
        self.alignment = 1.0

    def reset(self) -> None:
        """Steer straight (radially) and stop the wheels."""
        self.coxa_rad = {w: 0.0 for w in WHEEL_LEGS}
        self.wheel_rad_s = {w: 0.0 for w in WHEEL_LEGS}

    def wheel_point(self, leg: str, coxa_rad: float) -> np.ndarray:
        """Wheel centre in base_link for a coxa yaw, at the nominal reach and height."""
        yaw = self.footholds.mount_yaw_rad[leg]
        mount = self.footholds.hip_radius_m * self.footholds.radial(leg)
        heading = yaw + coxa_rad
        p = mount + self.reach_m * np.array([math.cos(heading), math.sin(heading), 0.0])
        p[2] = self.footholds.ground_z_m(leg)
        return p

    def step(self, dt_s: float, twist: BodyTwist) -> tuple:
        """Steer and drive for ``twist`` over ``dt_s``: (wheel feet dict, speeds dict).

        A wheel turns its coxa towards the velocity of its contact point, the short way
        (rolling backwards when that is nearer), within the coxa's limits and rate; its speed
        is the contact velocity along the direction it can roll, scaled down while it is
        still turning and so that no wheel exceeds its limit.
        """
        vx, vy, wz = twist.vx_m_s, twist.vy_m_s, twist.wz_rad_s
        feet, speeds = {}, {}
        alignment = 1.0
        for leg in WHEEL_LEGS:
            yaw = self.footholds.mount_yaw_rad[leg]
            coxa = self.coxa_rad[leg]
            want = coxa
            for _ in range(2):
                p = self.wheel_point(leg, want)
                cx, cy = vx - wz * p[1], vy + wz * p[0]
                if math.hypot(cx, cy) < 1e-6:
                    break
                heading = math.atan2(cy, cx) - yaw
                heading = math.atan2(math.sin(heading), math.cos(heading))
                if heading > math.pi / 2:
                    heading -= math.pi
                elif heading < -math.pi / 2:
                    heading += math.pi
                want = min(self.coxa_hi_rad, max(self.coxa_lo_rad, heading))
            max_turn = self.coxa_rate_rad_s * max(dt_s, 0.0)
            coxa += min(max_turn, max(-max_turn, want - coxa))
            self.coxa_rad[leg] = coxa
            p = self.wheel_point(leg, coxa)
            cx, cy = vx - wz * p[1], vy + wz * p[0]
            feet[leg] = p
            along = cx * math.cos(yaw + coxa) + cy * math.sin(yaw + coxa)
            speeds[leg] = along / self.radius_m
            contact = math.hypot(cx, cy)
            if contact > 1e-9:
                alignment = min(alignment, abs(along) / contact)
        self.alignment = alignment
        peak = max(abs(s) for s in speeds.values())
        if peak > self.wheel_speed_max_rad_s:
            scale = self.wheel_speed_max_rad_s / peak
            speeds = {k: s * scale for k, s in speeds.items()}
        self.wheel_rad_s = speeds
        return feet, speeds

    def at_rest(self) -> bool:
        """Whether every wheel has stopped."""
        return all(abs(s) < 1e-6 for s in self.wheel_rad_s.values())


# --- walk ---------------------------------------------------------------------------------

class WalkGait:
    """Phase-based six-legged walking; each leg swings for ``1 - duty`` of a cycle."""

    def __init__(self, params: GaitParams, footholds: Footholds,
                 pattern: WalkPattern | None = None) -> None:
        self.params = params
        self.footholds = footholds
        self.pattern = pattern or WalkPattern(params.walk_pattern)
        self.duty = params.duty_factor(self.pattern)
        self.cycle_s = params.walk_cycle_s
        self.offsets = dict(zip(LEG_ORDER, PATTERN_OFFSETS[self.pattern]))
        self.phase = 0.0
        self.feet = footholds.posture(Mode.WALK)
        self.swinging = {leg: False for leg in LEG_ORDER}
        self._lift = {leg: self.feet[leg].copy() for leg in LEG_ORDER}

    @property
    def stance_s(self) -> float:
        """Time a foot spends on the ground each cycle [s]."""
        return self.duty * self.cycle_s

    def reset(self, feet: Mapping[str, np.ndarray]) -> None:
        """Start from ``feet`` with every leg in stance, at the start of a cycle."""
        self.feet = {leg: np.array(feet[leg], dtype=float) for leg in LEG_ORDER}
        self.swinging = {leg: False for leg in LEG_ORDER}
        # Start just after the swing windows that begin at 0, so no leg is caught mid-air.
        self.phase = 1.0 - 1e-9
        self._lift = {leg: self.feet[leg].copy() for leg in LEG_ORDER}

    def leg_phase(self, leg: str) -> float:
        """Phase of ``leg`` within its cycle (0..1, swing first)."""
        return (self.phase + self.offsets[leg]) % 1.0

    def in_swing(self, leg: str) -> bool:
        """Whether ``leg`` is in its swing window at the present phase."""
        return self.leg_phase(leg) < 1.0 - self.duty

    def _touchdown(self, leg: str, twist: BodyTwist) -> np.ndarray:
        half = 0.5 * self.stance_s
        v = np.array([twist.vx_m_s, twist.vy_m_s, 0.0])
        p = _rot_z(twist.wz_rad_s * half) @ self.footholds.nominal(leg) + v * half
        p[2] = self.footholds.ground_z_m(leg)
        return p

    def limit(self, twist: BodyTwist) -> BodyTwist:
        """Scale ``twist`` so that no stance stroke exceeds ``step_length_max_m``."""
        speed_max = self.params.step_length_max_m / self.stance_s
        speed = math.hypot(twist.vx_m_s, twist.vy_m_s)
        scale = 1.0 if speed <= speed_max else speed_max / speed
        wz_max = self.params.walk_yaw_rate_max_rad_s
        return BodyTwist(twist.vx_m_s * scale, twist.vy_m_s * scale,
                         min(wz_max, max(-wz_max, twist.wz_rad_s)))

    def at_rest(self, twist: BodyTwist) -> bool:
        """Whether every foot stands and no motion is asked."""
        still = twist.vx_m_s == 0.0 and twist.vy_m_s == 0.0 and twist.wz_rad_s == 0.0
        return still and not any(self.swinging.values())

    def step(self, dt_s: float, twist: BodyTwist) -> dict:
        """Advance ``dt_s`` [s] with ``twist``; return every foot point (base_link)."""
        twist = self.limit(twist)
        moving = (twist.vx_m_s, twist.vy_m_s, twist.wz_rad_s) != (0.0, 0.0, 0.0)
        self.phase = (self.phase + dt_s / self.cycle_s) % 1.0
        swing_frac = 1.0 - self.duty
        for leg in LEG_ORDER:
            ground = self.footholds.ground_z_m(leg)
            sigma = self.leg_phase(leg) / swing_frac
            if self.in_swing(leg) and not self.swinging[leg]:
                # A swing starts only at the start of its window, and at rest only for a foot
                # that is off its nominal foothold; otherwise the leg stays in stance.
                off = float(np.linalg.norm(self.feet[leg] - self.footholds.nominal(leg)))
                late = sigma * swing_frac * self.cycle_s > max(2.0 * dt_s, 1e-6)
                if not late and (moving or off > 0.002):
                    self.swinging[leg] = True
                    self._lift[leg] = self.feet[leg].copy()
            if self.swinging[leg] and self.in_swing(leg):
                target = self._touchdown(leg, twist)
                lift = self._lift[leg]
                p = lift + (target - lift) * smoothstep(sigma)
                p[2] = (lift[2] + (ground - lift[2]) * smoothstep(sigma)
                        + self.params.step_height_m * math.sin(math.pi * sigma))
                self.feet[leg] = p
            else:
                if self.swinging[leg]:
                    self.swinging[leg] = False
                    self.feet[leg] = self._touchdown(leg, twist)
                    self.feet[leg] = stance_drift(self.feet[leg], twist, dt_s)
                else:
                    self.feet[leg] = stance_drift(self.feet[leg], twist, dt_s)
                self.feet[leg][2] = ground
        return {leg: p.copy() for leg, p in self.feet.items()}


# --- crawl and anchor -----------------------------------------------------------------------

class CrawlPhase(Enum):
    """Where the moving claw of a crawl is."""

    IDLE = 'idle'
    VERIFY = 'verify'
    RELEASE = 'release'
    SWING = 'swing'
    GRIP = 'grip'


@dataclass
class _Move:
    claw: str
    phase: CrawlPhase
    since_s: float
    start_m: np.ndarray
    target_m: np.ndarray
    attempts: int = 0
    probe_m: float = 0.0   # how far below its foothold the claw has felt for the ground
    unloaded: bool = False  # the claw's leg has been relieved of its load before opening
    closing: bool = False   # the claw has been asked to close (feeling for the ground is over)


class CrawlGait:
    """Claw free-climbing: one claw moves at a time while the others hold.

    Each step, in order of priority: a gripping claw not yet verified is pull-tested; a
    working claw that does not grip is carried to a foothold and gripped; while a motion is
    asked, the claw furthest behind is released (when the guard allows), carried to a
    foothold ahead (a grasp candidate near it when there is one), gripped and verified. The
    body advances only while ``min_verified_grips`` verified grips hold and no gripped claw
    is beyond ``crawl_foot_offset_max_m`` of its nominal foothold in the way of the motion.
    A claw about to be released is first relieved of its leg's load (:attr:`unloading`, so
    that opening it does not spring the body off its other grips); a placed claw feels down
    for the ground (``probe_*`` parameters) before it is asked to close.
    """

    def __init__(self, params: GaitParams, footholds: Footholds, guard: DetachGuard,
                 roll: RollGait) -> None:
        self.params = params
        self.footholds = footholds
        self.guard = guard
        self.roll = roll
        self.feet = footholds.posture(Mode.CRAWL)
        self.move: _Move | None = None
        self.note = ''
        #: Claws given up on after ``grip_retries_max`` failed attempts, and since when [s].
        self.stuck: dict = {}
        #: ``reachable(leg, point_in_base_link) -> bool`` (the controller sets it to its IK):
        #: a claw feeling for the ground stops at the edge of its workspace.
        self.reachable = None
        #: The claw whose leg is being relieved of its load before it opens (None: none).
        self.unloading: str | None = None
        #: Grips closed after a placement (``placed``), of them verified (``held``), and
        #: pull tests not passed in time (``failed``): the foothold success rate.
        self.placements = {'placed': 0, 'held': 0, 'failed': 0}

    def reset(self, feet: Mapping[str, np.ndarray]) -> None:
        """Start from ``feet`` with no claw moving."""
        self.feet = {leg: np.array(feet[leg], dtype=float) for leg in LEG_ORDER}
        self.move = None
        self.stuck = {}

    def limit(self, twist: BodyTwist) -> BodyTwist:
        """Clamp ``twist`` to the crawl's speed and yaw rate."""
        speed = math.hypot(twist.vx_m_s, twist.vy_m_s)
        vmax = self.params.crawl_speed_max_m_s
        scale = 1.0 if speed <= vmax else vmax / speed
        wmax = self.params.crawl_yaw_rate_max_rad_s
        return BodyTwist(twist.vx_m_s * scale, twist.vy_m_s * scale,
                         min(wmax, max(-wmax, twist.wz_rad_s)))

    def at_rest(self) -> bool:
        """Whether no claw is moving or being tested."""
        return self.move is None

    def foothold_ahead(self, claw: str, twist: BodyTwist, candidates_body_m: Sequence) -> tuple:
        """Where ``claw`` goes next: (point in base_link, whether it is a grasp candidate)."""
        nominal = self.footholds.nominal(claw)
        speed = math.hypot(twist.vx_m_s, twist.vy_m_s)
        step = self.params.crawl_step_length_m
        point = nominal.copy()
        if speed > 0.0:
            point[:2] += step * np.array([twist.vx_m_s, twist.vy_m_s]) / speed
        if twist.wz_rad_s != 0.0:
            turn = math.copysign(min(abs(twist.wz_rad_s) * step
                                     / max(self.params.crawl_speed_max_m_s, 1e-6), 0.3),
                                 twist.wz_rad_s)
            point = _rot_z(turn) @ point
        point[2] = self.footholds.ground_z_m(claw)
        best, best_d = None, self.params.grasp_search_radius_m
        for cand in candidates_body_m:
            c = np.asarray(cand, dtype=float)
            d = float(np.hypot(*(c[:2] - point[:2])))
            if d <= best_d:
                best, best_d = c, d
        if best is not None:
            chosen = best.copy()
            ground = self.footholds.ground_z_m(claw)
            chosen[2] = min(ground + 0.05, max(ground - 0.05, chosen[2]))
            return chosen, True
        return point, False

    def _lag_m(self, claw: str, twist: BodyTwist) -> float:
        speed = math.hypot(twist.vx_m_s, twist.vy_m_s)
        offset = self.feet[claw] - self.footholds.nominal(claw)
        if speed > 0.0:
            return -float(offset[:2] @ np.array([twist.vx_m_s, twist.vy_m_s])) / speed
        return float(np.linalg.norm(offset[:2]))

    def _held_besides(self, claws: Mapping[str, ClawStatus], moving: str | None) -> list:
        """Return the verified claws other than ``moving``, or [] if fewer than the rule asks."""
        held = [c for c in verified_claws(claws) if c != moving]
        return held if len(held) >= self.guard.min_verified_grips else []

    def _body_twist(self, twist: BodyTwist, claws: Mapping[str, ClawStatus],
                    loads_n: Mapping[str, float] | None) -> BodyTwist:
        moving = self.move.claw if self.move is not None else None
        held = self._held_besides(claws, moving)
        if not held:
            return BodyTwist()
        if loads_n is not None and self.move is not None \
                and self.move.phase in (CrawlPhase.SWING, CrawlPhase.GRIP) and any(
                    loads_n.get(c, 0.0) > self.guard.load_fraction * claws[c].verified_holding_n
                    for c in held):
            # A claw in the air, the two holders all there is, one of them loaded beyond its
            # limit (the compliance offsets saturated): moving the body on would load it
            # further, until its pad tears off. Stand until the claw is down or it relieves.
            return BodyTwist()
        direction = np.array([twist.vx_m_s, twist.vy_m_s])
        for claw in held:
            offset = (self.feet[claw] - self.footholds.nominal(claw))[:2]
            if float(np.linalg.norm(offset)) >= self.params.crawl_foot_offset_max_m \
                    and float(offset @ direction) <= 0.0:
                return BodyTwist(0.0, 0.0, 0.0)
        return twist

    def step(self, t_s: float, dt_s: float, twist: BodyTwist, claws: Mapping[str, ClawStatus],
             candidates_body_m: Sequence = (), contact: Mapping[str, bool] | None = None,
             loads_n: Mapping[str, float] | None = None) -> tuple:
        """Advance ``dt_s`` [s]: (feet dict, claw requests dict, body twist applied, wheels).

        The wheel legs are passive supports: they steer with the body's motion and roll
        along (``wheels`` is a dict of wheel speeds [rad/s]). ``contact`` tells, per claw,
        whether its wrist feels the ground (None: take every placed claw as touching): a
        placed claw that does not is lowered at ``probe_speed_m_s`` (up to
        ``probe_depth_max_m``) before it is asked to close, as the ground is rarely where
        the nominal foothold puts it. ``loads_n`` are the wrist loads [N] (None: unknown):
        a claw about to be released is first relieved (:attr:`unloading`) until its load
        is below ``probe_contact_force_n`` or ``claw_action_timeout_s`` has passed.
        """
        p = self.params
        twist = self.limit(twist)
        body = self._body_twist(twist, claws, loads_n)
        moving_claw = self.move.claw if self.move is not None else None
        for leg in LEG_ORDER:
            if leg in WHEEL_LEGS:
                continue
            if leg == moving_claw and self.move.phase is CrawlPhase.SWING:
                continue
            self.feet[leg] = stance_drift(self.feet[leg], body, dt_s)
        if self.move is not None:
            self.move.target_m = stance_drift(self.move.target_m, body, dt_s)
            self.move.start_m = stance_drift(self.move.start_m, body, dt_s)
        wheel_feet, wheels = self.roll.step(dt_s, body)
        self.feet.update(wheel_feet)
        requests = {c: ClawRequest(c, ClawAction.HOLD, p.grip_force_n) for c in CLAW_LEGS}
        self.unloading = None
        self._advance(t_s, dt_s, twist, claws, candidates_body_m, requests, contact, loads_n)
        return {leg: v.copy() for leg, v in self.feet.items()}, requests, body, wheels

    def _start(self, t_s: float, claw: str, phase: CrawlPhase, target: np.ndarray) -> None:
        self.move = _Move(claw, phase, t_s, self.feet[claw].copy(), np.asarray(target, float))

    def _advance(self, t_s: float, dt_s: float, twist: BodyTwist,
                 claws: Mapping[str, ClawStatus], candidates: Sequence, requests: dict,
                 contact: Mapping[str, bool] | None = None,
                 loads_n: Mapping[str, float] | None = None) -> None:
        p = self.params
        working = working_claws(claws)
        # A claw given up on is tried again after a while (a fresh grip may hold).
        self.stuck = {c: since for c, since in self.stuck.items()
                      if t_s - since < p.stuck_retry_s}
        if self.move is not None and self.move.claw not in working:
            self.note = f'{self.move.claw} failed while moving: left where it is'
            self.move = None
        if self.move is None:
            self._choose(t_s, twist, claws, candidates, working)
        move = self.move
        if move is None:
            return
        status = claws.get(move.claw, ClawStatus())
        elapsed = t_s - move.since_s
        claw = move.claw
        if move.phase in (CrawlPhase.RELEASE, CrawlPhase.SWING) and \
                not self._held_besides(claws, claw):
            # A holder let go (it slipped or failed) while this claw was leaving: it stays
            # (a release not yet done), or goes down at once where it is (mid-swing).
            if move.phase is CrawlPhase.RELEASE and status.gripping:
                self.note = f'{claw} kept: a holder let go before it was released'
                self._start(t_s, claw, CrawlPhase.VERIFY, self.feet[claw])
            elif move.phase is CrawlPhase.SWING:
                self.note = f'{claw} put down where it is: a holder let go during its swing'
                down = self.feet[claw].copy()
                down[2] = self.footholds.ground_z_m(claw)
                self._start(t_s, claw, CrawlPhase.GRIP, down)
                self.feet[claw] = down
            move = self.move
            elapsed = 0.0
        if move.phase is CrawlPhase.VERIFY:
            requests[claw] = ClawRequest(claw, ClawAction.VERIFY, p.grip_force_n,
                                         p.pull_test_load_n)
            if status.holds_verified:
                self.stuck.pop(claw, None)
                self.placements['held'] += int(move.closing)
                self.move = None
            elif not status.gripping:
                self._start(t_s, claw, CrawlPhase.GRIP, self.feet[claw])
            elif elapsed > p.verify_timeout_s and _moving(twist):
                # The test did not hold: gripping again in place would hold the same. While
                # crawling, seat the claw again beside: open, carry, feel, grip.
                self._reseat(t_s, twist, candidates,
                             f'{claw} pull test not passed in {p.verify_timeout_s:g} s: '
                             'seated again beside')
            elif elapsed > p.verify_timeout_s:
                # Anchored (no motion asked): every grip is kept; grip again where it is.
                self._retry(t_s, f'{claw} pull test not passed in {p.verify_timeout_s:g} s')
        elif move.phase is CrawlPhase.RELEASE:
            load = float((loads_n or {}).get(claw, 0.0))
            if not move.unloaded and status.gripping and load > p.probe_contact_force_n \
                    and elapsed < p.claw_action_timeout_s:
                self.unloading = claw   # relieve the leg first; the claw keeps its grip
                return
            if not move.unloaded:
                move.unloaded = True
                move.since_s, elapsed = t_s, 0.0   # the release gets its own time
            requests[claw] = ClawRequest(claw, ClawAction.RELEASE, p.grip_force_n)
            if not status.gripping:
                move.phase, move.since_s = CrawlPhase.SWING, t_s
                move.start_m = self.feet[claw].copy()
            elif elapsed > p.claw_action_timeout_s:
                self.note = f'{claw} did not release: kept'
                self._start(t_s, claw, CrawlPhase.VERIFY, self.feet[claw])
        elif move.phase is CrawlPhase.SWING:
            requests[claw] = ClawRequest(claw, ClawAction.RELEASE, p.grip_force_n)
            sigma = min(1.0, elapsed / p.crawl_swing_s)
            s = smoothstep(sigma)
            foot = move.start_m + (move.target_m - move.start_m) * s
            foot[2] += p.crawl_swing_height_m * math.sin(math.pi * sigma)
            self.feet[claw] = foot
            if sigma >= 1.0:
                self.feet[claw] = move.target_m.copy()
                move.phase, move.since_s = CrawlPhase.GRIP, t_s
        elif move.phase is CrawlPhase.GRIP:
            touching = contact is None or bool(contact.get(claw, True)) or status.gripping
            if not touching and not move.closing and move.probe_m < p.probe_depth_max_m:
                # Feel for the ground: lower the open claw until its wrist feels contact.
                requests[claw] = ClawRequest(claw, ClawAction.RELEASE, p.grip_force_n)
                depth = min(p.probe_depth_max_m, move.probe_m + p.probe_speed_m_s * dt_s)
                foot = move.target_m.copy()
                foot[2] -= depth
                if self.reachable is not None and not self.reachable(claw, foot):
                    move.probe_m = p.probe_depth_max_m   # the edge of reach: close here
                else:
                    move.probe_m = depth
                    self.feet[claw] = foot
                move.since_s = t_s
                return
            move.closing = True
            requests[claw] = ClawRequest(claw, ClawAction.GRIP, p.grip_force_n)
            if status.gripping:
                self.placements['placed'] += 1
                move.phase, move.since_s = CrawlPhase.VERIFY, t_s
            elif elapsed > p.claw_action_timeout_s:
                self._retry(t_s, f'{claw} did not grip in {p.claw_action_timeout_s:g} s')

    def _retry(self, t_s: float, why: str) -> bool:
        """Grip the moving claw again; False once its retries are spent (it is stuck)."""
        move = self.move
        move.attempts += 1
        self.note = why
        if move.attempts > self.params.grip_retries_max:
            self.stuck[move.claw] = t_s
            self.move = None
            return False
        move.since_s = t_s
        move.phase = CrawlPhase.GRIP
        return True

    def _reseat(self, t_s: float, twist: BodyTwist, candidates: Sequence, why: str) -> None:
        """Release the moving claw and carry it to a foothold beside (bounded by retries).

        Attempt k goes ``reseat_offset_m`` x (+1, -1, +2, -2, ...) across the leg's way out
        from the body from the foothold ahead.
        """
        self.placements['failed'] += 1
        if not self._retry(t_s, why):
            return
        move = self.move
        target, _ = self.foothold_ahead(move.claw, twist, candidates)
        target = np.asarray(target, dtype=float)
        out = self.footholds.nominal(move.claw)[:2]
        across = np.array([-out[1], out[0]]) / max(float(np.hypot(*out)), 1e-9)
        k = (move.attempts + 1) // 2 * (1 if move.attempts % 2 else -1)
        target[:2] += k * self.params.reseat_offset_m * across
        move.phase, move.since_s = CrawlPhase.RELEASE, t_s
        move.target_m = target
        move.unloaded = move.closing = False
        move.probe_m = 0.0

    def _choose(self, t_s: float, twist: BodyTwist, claws: Mapping[str, ClawStatus],
                candidates: Sequence, working: tuple) -> None:
        for claw in working:
            status = claws.get(claw, ClawStatus())
            if status.gripping and not status.holds_verified and claw not in self.stuck:
                self._start(t_s, claw, CrawlPhase.VERIFY, self.feet[claw])
                return
        for claw in working:
            status = claws.get(claw, ClawStatus())
            if not status.gripping and claw not in self.stuck:
                target, _ = self.foothold_ahead(claw, twist, candidates)
                self._start(t_s, claw, CrawlPhase.SWING, target)
                return
        if not _moving(twist):
            return
        ranked = sorted(working, key=lambda c: -self._lag_m(c, twist))
        for claw in ranked:
            if claw in self.stuck or not claws.get(claw, ClawStatus()).holds_verified:
                continue
            if self._lag_m(claw, twist) < 0.25 * self.params.crawl_step_length_m:
                return
            if not self.guard.check_release(claws, [claw]).allowed:
                self.note = f'{claw} waits: releasing it would leave too few verified grips'
                return
            target, _ = self.foothold_ahead(claw, twist, candidates)
            self._start(t_s, claw, CrawlPhase.RELEASE, target)
            return
