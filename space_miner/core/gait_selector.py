# SPDX-License-Identifier: Apache-2.0
"""The gait selector: the mode from the terrain, the body, claw health and ``/gait/request``.

Physics first: every mode is checked against the never-detach guard, the terrain ahead
(class and slope), the effective gravity (wheel traction, feet that come back down) and the
body's escape velocity (the speed a mode may use). ``auto`` then picks, on a body that
requires grip, ``crawl`` to move and ``anchor`` to stay (``anchor`` on the two working claws,
then ``hold``, with a claw failed); elsewhere ``roll`` on smooth ground, else ``walk``, else
``crawl``. A request the physics forbids is refused with a reason and ``auto`` decides.
Hysteresis: an ``auto`` change must persist ``switch_dwell_s`` and ``switch_min_decisions``
steps, unless the guard or the ground under the robot forbids the current mode, or the
change is to ``hold``.
"""

from dataclasses import dataclass
import math
from typing import Mapping

from space_miner.core.gait_guard import DetachGuard, verified_claws, working_claws
from space_miner.core.gait_params import GaitParams
from space_miner.core.gait_types import (BodyInfo, ClawStatus, GaitRequest, Mode, Refusal,
                                         TerrainClass, TerrainSummary, WalkPattern)
from space_miner.interfaces import CLAW_LEGS


@dataclass(frozen=True)
class Selection:
    """The selector's choice, the refusals it made and whether crawling is impossible."""

    mode: Mode
    refusals: tuple
    cannot_crawl: bool
    switched: bool
    why: str


def mode_speed_limit_m_s(params: GaitParams, mode: Mode, body: BodyInfo) -> float:
    """Largest body speed of ``mode`` on ``body`` [m/s], well below escape velocity."""
    if mode is Mode.ROLL:
        own = params.roll_speed_max_m_s
    elif mode is Mode.WALK:
        duty = params.duty_factor(WalkPattern(params.walk_pattern))
        own = params.step_length_max_m / (params.walk_cycle_s * duty)
    elif mode is Mode.CRAWL:
        own = params.crawl_speed_max_m_s
    else:
        own = 0.0
    fraction = (params.crawl_escape_speed_fraction if mode is Mode.CRAWL
                else params.escape_speed_fraction)
    return max(0.0, min(own, fraction * body.escape_velocity_m_s))


class GaitSelector:
    """Chooses the mode each step, with hysteresis; time explicit [s]."""

    def __init__(self, params: GaitParams, body: BodyInfo, guard: DetachGuard) -> None:
        self.params = params
        self.body = body
        self.guard = guard
        self.mode: Mode | None = None
        self._candidate: Mode | None = None
        self._candidate_since_s = 0.0
        self._candidate_count = 0
        self._last_request: GaitRequest | None = None

    # --- what the physics allows ------------------------------------------------------
    def mode_refusal(self, mode: Mode, terrain: TerrainSummary | None,
                     claws: Mapping[str, ClawStatus]) -> str:
        """Empty when ``mode`` is allowed here, else the reason it is not."""
        decision = self.guard.check_mode(mode, claws)
        if not decision.allowed:
            return decision.reason
        if mode in (Mode.HOLD, Mode.ANCHOR, Mode.CRAWL):
            return ''
        p = self.params
        terrain = terrain or TerrainSummary()
        name = mode.value
        slope = terrain.slope_deg if math.isfinite(terrain.slope_deg) else math.inf
        down_g = self.body.down_gravity_m_s2
        speed = mode_speed_limit_m_s(p, mode, self.body)
        if speed < p.min_useful_speed_m_s:
            return (f'{name} refused: {self.body.name} escape velocity '
                    f'{self.body.escape_velocity_m_s:g} m/s allows only {speed:.3f} m/s')
        if mode is Mode.ROLL:
            if down_g < p.roll_min_gravity_m_s2:
                return (f'roll refused: effective gravity {down_g:.3g} m/s^2 on '
                        f'{self.body.name} gives the wheels no traction')
            for where, cls in (('under the robot', terrain.class_under),
                               ('ahead', terrain.class_ahead)):
                if cls is not TerrainClass.SMOOTH:
                    return f'roll refused: terrain {where} is {cls.value}, not smooth'
            if slope > p.roll_max_slope_deg:
                return f'roll refused: slope {slope:.1f} deg above {p.roll_max_slope_deg:g}'
            return ''
        if down_g < p.walk_min_gravity_m_s2:
            return (f'walk refused: effective gravity {down_g:.3g} m/s^2 on {self.body.name} '
                    'does not bring a lifted foot back down')
        if slope > p.walk_max_slope_deg:
            return f'walk refused: slope {slope:.1f} deg above {p.walk_max_slope_deg:g}'
        return ''

    def _hard_refusal(self, mode: Mode, terrain: TerrainSummary | None,
                      claws: Mapping[str, ClawStatus]) -> str:
        """Return a refusal that admits no hysteresis: the guard's or the ground under the robot's.

        What the terrain *ahead* forbids waits for the dwell, so that a flickering class
        does not make the robot switch back and forth.
        """
        if terrain is not None:
            terrain = TerrainSummary(terrain.class_under, terrain.class_under,
                                     terrain.slope_deg, (), terrain.stamp_s)
        return self.mode_refusal(mode, terrain, claws)

    def _auto(self, terrain: TerrainSummary | None, claws: Mapping[str, ClawStatus],
              moving: bool, current: Mode | None) -> Mode:
        allowed = {m: not self.mode_refusal(m, terrain, claws) for m in Mode}
        working = working_claws(claws)
        if self.body.requires_grip:
            if len(working) < len(CLAW_LEGS) or not allowed[Mode.CRAWL]:
                if not allowed[Mode.ANCHOR]:
                    return Mode.HOLD
                anchored = set(working) <= set(verified_claws(claws))
                if anchored and self.params.degraded_hold_after_anchor \
                        and current in (Mode.ANCHOR, Mode.HOLD):
                    return Mode.HOLD
                return Mode.ANCHOR
            if moving:
                return Mode.CRAWL
            return current if current in (Mode.CRAWL, Mode.ANCHOR) else Mode.ANCHOR
        if not moving and current not in (None, Mode.HOLD) and allowed[current]:
            return current
        for mode in (Mode.ROLL, Mode.WALK, Mode.CRAWL, Mode.ANCHOR):
            if allowed[mode]:
                return mode
        return Mode.HOLD

    # --- the step ---------------------------------------------------------------------
    def select(self, t_s: float, request: GaitRequest, terrain: TerrainSummary | None,
               claws: Mapping[str, ClawStatus], moving: bool) -> Selection:
        """Choose the mode at ``t_s`` [s] for ``request``; ``moving``: a motion is commanded."""
        refusals = []
        current = self.mode
        working = working_claws(claws)
        cannot_crawl = bool(self.mode_refusal(Mode.CRAWL, terrain, claws))
        forced = current is None
        wanted = request.mode
        new_request = request is not self._last_request
        self._last_request = request
        if wanted is not None:
            why = self.mode_refusal(wanted, terrain, claws)
            if why:
                refusals.append(Refusal(f'request {wanted.value}', why, expected=True))
                wanted = None
            else:
                forced = forced or new_request or current is not wanted
        if wanted is None:
            wanted = self._auto(terrain, claws, moving, current)
        if current is not None and self._hard_refusal(current, terrain, claws):
            forced = True
        if wanted is Mode.HOLD:
            forced = True
        if self.body.requires_grip and len(working) < len(CLAW_LEGS):
            forced = forced or current is Mode.CRAWL
        switched = False
        if wanted is current:
            self._candidate = None
            why = 'unchanged'
        elif forced:
            switched = True
            why = 'forced'
        else:
            if wanted is not self._candidate:
                self._candidate = wanted
                self._candidate_since_s = t_s
                self._candidate_count = 0
            self._candidate_count += 1
            dwell_ok = t_s - self._candidate_since_s >= self.params.switch_dwell_s
            count_ok = self._candidate_count >= self.params.switch_min_decisions
            switched = dwell_ok and count_ok
            why = 'dwell elapsed' if switched else 'waiting (hysteresis)'
        if switched:
            self.mode = wanted
            self._candidate = None
        return Selection(self.mode, tuple(refusals), cannot_crawl, switched, why)
