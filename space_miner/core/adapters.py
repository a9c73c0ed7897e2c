# SPDX-License-Identifier: Apache-2.0
"""Pure glue between the cores' own types, shared by the nodes and the lockstep harness.

Sensors -> claw, claw <-> gait, estimate -> gait, terrain -> gait, sampling and the
mission's route map, claw -> sampling.

The cores do not import each other (DESIGN.md section 2): the claw controller
(:mod:`space_miner.core.claw`), the gait controller (:mod:`space_miner.core.gait`) and the
estimator (:mod:`space_miner.core.estimation`) each define the small types they need. The
lockstep harness and the nodes use the functions here to pass one core's output to
another, so that both run the same adaptation (never a second copy of behaviour).

Frames of the wrist wrench: the hardware contract gives it in ``<c>_ft_link``, whose x runs
along the tibia towards the claw (:func:`space_miner.core.gait_compliance.ft_to_base_rotation`);
a leg pressing its claw on the ground reads +x. The claw controller's convention is a z
along the tibia that reads + when pressing (its tangential load is the other two axes):
:func:`claw_frame_wrench` makes that proper rotation. The gait layer wants the force the leg
exerts on its grip in base_link (+z pulls the claw off the surface):
:func:`wrist_force_in_base`.
"""

from dataclasses import replace
import math
from typing import Mapping, Sequence

import numpy as np

from space_miner.core.claw import (ClawMode, ClawRequest as ClawCoreRequest,
                                   ClawSensorSample, ClawState)
from space_miner.core.gait_compliance import ft_to_base_rotation
from space_miner.core.gait_types import (ClawAction, ClawRequest as GaitClawRequest,
                                         ClawStatus, claw_status_from_state, OdomState,
                                         TerrainClass, TerrainSummary)
from space_miner.core.robot import RobotConfig
from space_miner.core.route import RouteMap
from space_miner.core.sampling import ClawHold, SiteVerdict
from space_miner.core.terrain import occupancy_data
from space_miner.core.terrain_types import GridGeometry, TerrainReport, TraverseMode
from space_miner.interfaces import ALL_JOINTS, CLAW_LEGS, LEG_JOINTS, LEG_ORDER, WHEEL_LEGS

#: Claw modes in which a gripped claw may be used as a fixed point on the ground: a grip a
#: pull test has verified (a claw still closing, under its pull test or slipping is not).
ANCHOR_MODES = (ClawMode.HOLDING,)

_CLAW_JOINT_INDEX = {c: ALL_JOINTS.index(f'{c}_claw_joint') for c in CLAW_LEGS}


def claw_frame_wrench(force_ft_n: Sequence[float], torque_ft_nm: Sequence[float]) -> tuple:
    """Express a wrist wrench of ``<c>_ft_link`` in the claw controller's convention.

    Returns ``(force [N], torque [N m])`` as 3-tuples with z along the tibia (+ when the leg
    presses the claw on the ground): ``(x, y, z)_claw = (-z, y, x)_ft``, a proper rotation.
    """
    fx, fy, fz = _floats(force_ft_n)
    tx, ty, tz = _floats(torque_ft_nm)
    return (-fz, fy, fx), (-tz, ty, tx)


def _floats(values: Sequence[float]) -> list:
    """Return ``values`` as a list of Python floats (a float64 array's own ``tolist``)."""
    if type(values) is np.ndarray and values.dtype == np.float64:
        return values.tolist()
    return [float(v) for v in values]


def claw_sensor_sample(claw: str, joint_stamp_s: float, position: Sequence[float],
                       effort: Sequence[float], wrench_stamp_s: float,
                       force_ft_n: Sequence[float] | None,
                       torque_ft_nm: Sequence[float] | None) -> ClawSensorSample:
    """Build one claw's :class:`ClawSensorSample` from ``/joint_states`` arrays and its wrench.

    ``position`` and ``effort`` follow ``ALL_JOINTS`` [m, N]; the claw joint's effort is the
    squeeze. ``force_ft_n``/``torque_ft_nm`` are the latest wrist wrench in ``<c>_ft_link``
    stamped ``wrench_stamp_s`` [s] (None: never received: NaN, which the controller refuses).
    """
    i = _CLAW_JOINT_INDEX[claw]
    if force_ft_n is None or torque_ft_nm is None:
        force, torque = (math.nan,) * 3, (math.nan,) * 3
    else:
        force, torque = claw_frame_wrench(force_ft_n, torque_ft_nm)
    return ClawSensorSample(squeeze_stamp_s=float(joint_stamp_s), squeeze_n=float(effort[i]),
                            joint_position_m=float(position[i]),
                            wrench_stamp_s=float(wrench_stamp_s),
                            wrench_force_xyz_n=force, wrench_torque_xyz_nm=torque)


def claw_core_request(request: GaitClawRequest) -> ClawCoreRequest:
    """Translate the gait layer's request for one claw into the claw controller's request.

    ``grip`` -> grip at ``grip_force_n``; ``verify`` -> a pull test of ``pull_load_n``;
    ``release`` and ``stow`` -> release; ``hold`` -> hold.
    """
    action = request.action
    if action is ClawAction.GRIP:
        return ClawCoreRequest.grip(request.claw, float(request.grip_force_n))
    if action is ClawAction.VERIFY:
        return ClawCoreRequest.verify(request.claw, float(request.pull_load_n))
    if action in (ClawAction.RELEASE, ClawAction.STOW):
        return ClawCoreRequest.release(request.claw)
    return ClawCoreRequest.hold(request.claw)


def claw_statuses(states: Sequence[ClawState], pull_requests: tuple = ()) -> dict:
    """Map the claw controller's states to the gait layer's :class:`ClawStatus` per claw."""
    return {s.claw: claw_status_from_state(s, tuple(pull_requests)) for s in states}


def wrist_force_in_base(robot: RobotConfig, claw: str, q18_rad: Sequence[float],
                        force_ft_n: Sequence[float]) -> tuple:
    """Return the force the leg exerts on its grip in base_link [N] from the wrist reading.

    ``q18_rad`` are the leg joints in LEG_JOINTS order (or ALL_JOINTS: the first 18 are used).
    """
    k = LEG_ORDER.index(claw)
    q_leg = [float(v) for v in q18_rad[3 * k:3 * k + 3]]
    rot = ft_to_base_rotation(robot.mount_yaw_rad[claw], q_leg)
    return tuple(float(v) for v in rot @ np.asarray(force_ft_n, dtype=float))


def odom_state(estimate: object) -> OdomState:
    """Map an estimator ``Estimate`` (duck-typed) to the gait layer's :class:`OdomState`."""
    return OdomState(position_m=tuple(float(v) for v in estimate.position_m),
                     orientation_wxyz=tuple(float(v) for v in estimate.orientation_wxyz),
                     linear_m_s=tuple(float(v) for v in estimate.linear_velocity_m_s),
                     angular_rad_s=tuple(float(v) for v in estimate.angular_velocity_rad_s),
                     stamp_s=float(estimate.stamp_s))


def anchored_claws(states: Sequence[ClawState], wrench_fresh: Mapping[str, bool],
                   walking_stance: Sequence[str] = ()) -> dict:
    """Which claws the estimator may treat as fixed points: claw -> bool.

    A claw anchors while it holds a verified grip (``holding``: not closing, under test,
    slipping, releasing, unknown or failed) and its wrist sensor is alive; a claw that
    slips is dropped at once (its mode leaves ``holding``). While walking, an open claw
    leg in its stance phase (``walking_stance``, from the gait) stands on the ground and
    anchors too.
    """
    stance = set(walking_stance)
    return {s.claw: (s.mode in ANCHOR_MODES and bool(wrench_fresh.get(s.claw, False)))
            or (s.claw in stance and s.mode is ClawMode.OPEN) for s in states}


def joints_by_leg(q18_rad: Sequence[float]) -> dict:
    """Return {leg: (coxa, femur, tibia) [rad]} of the legs whose three angles are finite.

    What terrain perception's self-filter takes (a leg with a bad reading is left out).
    """
    out = {}
    for i, leg in enumerate(LEG_ORDER):
        angles = tuple(float(v) for v in q18_rad[3 * i:3 * i + 3])
        if all(math.isfinite(v) for v in angles):
            out[leg] = angles
    return out


def leg_positions(position: Sequence[float]) -> tuple:
    """Return the 18 leg joint positions [rad] (LEG_JOINTS order) of an ALL_JOINTS array."""
    return tuple(float(v) for v in position[:len(LEG_JOINTS)])


__all__ = ['ANCHOR_MODES', 'anchored_claws', 'claw_core_request', 'claw_frame_wrench',
           'claw_sensor_sample', 'claw_statuses', 'leg_positions', 'odom_state',
           'wrist_force_in_base', 'ClawStatus']


def terrain_for_gait(report: TerrainReport, stamp_s: float) -> TerrainSummary:
    """Adapt terrain perception's report (``/terrain/summary``) to the gait's TerrainSummary.

    Classes under and ahead by name; the slope ahead in degrees (NaN: unknown, which the
    selector treats as too steep); every claw leg's grasp candidates as odom points, with
    their graspability (the grip fraction the map expects there);
    stamped ``stamp_s`` [s]. A summary without data gives unknown classes.
    """
    s = report.summary
    known = s.status.value == 'ok'

    def cls(value) -> TerrainClass:
        try:
            return TerrainClass(value.name.lower()) if known else TerrainClass.UNKNOWN
        except ValueError:
            return TerrainClass.UNKNOWN

    slope = math.degrees(s.max_slope_ahead_rad) if math.isfinite(s.max_slope_ahead_rad) \
        else math.nan
    usable = [c for leg in CLAW_LEGS for c in report.grasp_candidates.get(leg, ())
              if all(math.isfinite(v) for v in c.position_m)]
    candidates = tuple(tuple(float(v) for v in c.position_m) for c in usable)
    fractions = tuple(float(c.graspability) for c in usable)
    return TerrainSummary(cls(s.class_under), cls(s.class_ahead), slope, candidates,
                          float(stamp_s), fractions)


def site_verdict(report: TerrainReport | None, site_xy_m: tuple | None,
                 tolerance_m: float) -> SiteVerdict | None:
    """Return the sampling sequence's SiteVerdict from terrain perception's report.

    The terrain's own check of a site (``report.site``) counts when it is within
    ``tolerance_m`` [m] of ``site_xy_m``; otherwise, with a fresh map, the class under
    the robot stands for the site's (the sampler's axis is under the body, and the
    sequence itself refuses a site out of the sampler's reach); None without a verdict
    (no map, or the ground under the robot not seen yet: the sequence waits for the
    terrain's check of the site, which it makes for the site the sampler works on).
    """
    if report is None or site_xy_m is None:
        return None
    site = report.site
    if site is not None and all(math.isfinite(v) for v in site.xy_m) and math.hypot(
            site.xy_m[0] - site_xy_m[0], site.xy_m[1] - site_xy_m[1]) <= tolerance_m:
        return SiteVerdict(bool(site.ok), site.terrain_class.name.lower(),
                           f'{site.reason.value}{": " if site.detail else ""}{site.detail}')
    summary = report.summary
    kind = summary.class_under.name.lower()
    if summary.status.value != 'ok' or kind == 'unknown':
        return None   # no verdict yet: the sequence waits for the terrain's site check
    return SiteVerdict(True, kind, 'class under the robot')


def global_occupancy(global_map: object) -> np.ndarray:
    """Return the ``/terrain/global/traversability`` cells of a global map.

    The best traversability over the modes, as a cost (0 free .. 100 blocked), -1 where
    the map has seen nothing.
    """
    best = np.fmax.reduce([global_map.traversability[m] for m in TraverseMode])
    best = np.where(global_map.seen, best, np.nan)
    return occupancy_data(best)


def route_map_from_occupancy(geometry: GridGeometry, occupancy: Sequence[int], modes: tuple,
                             stamp_s: float) -> RouteMap:
    """Build the autopilot's RouteMap from the global traversability grid's cells.

    The grid carries the best traversability over the modes; it stands for each of
    ``modes`` (the modes the body allows).
    """
    first = modes[0] if modes else 'crawl'
    base = RouteMap.from_occupancy(geometry, np.asarray(occupancy, dtype=float), first,
                                   stamp_s)
    layer = base.traversability[first]
    return replace(base, traversability={m: layer for m in (modes or (first,))})


def sampling_claw_holds(states: Sequence[ClawState], statuses: Mapping[str, ClawStatus]
                        ) -> tuple:
    """Return the sampling sequence's view of the claws: verified, holding [N], slipping."""
    holds = []
    for state in states:
        holding = state.verified_holding_n
        holds.append(ClawHold(state.claw, statuses[state.claw].holds_verified,
                              holding if math.isfinite(holding) else 0.0,
                              state.mode is ClawMode.SLIPPING))
    return tuple(holds)


#: Modes whose own gait moves the wheel legs (roll's wheels are fused by the estimator
#: itself; crawl lifts and drags them).
_WHEELS_NOT_STANDING_MODES = ('roll', 'crawl')


def walking_stance(controller: object, output: object) -> tuple:
    """Return the legs standing on the ground this step (``/gait/status``).

    Their wheel odometry measures the body's motion (a wheel that stands is as good as one
    that rolls), and an open claw leg among them is a fixed point for the leg odometry:
    the legs in their stance phase while walking or while a walk is brought to rest;
    every leg while the gait stands on its feet (anchor and hold, the grip and verify
    stages); the wheel legs only while the feet move into an anchor or hold posture (the
    claw legs are lifted then). None in roll (its wheels are fused as rolling) and in
    crawl, nor while the claws let go (the body settles onto its wheels) or the feet move
    into roll's or crawl's posture (far from the standing one: the wheels slide):
    measured, counting those as standing cost the 10 m Moon roll 0.6 % of drift. Without
    it, an estimate coming out of a walk kept the walk's velocity while the robot stood
    and anchored (0.3 m of drift at a sampling site). ``controller`` is the
    GaitController, ``output`` its GaitOutput.
    """
    mode, stage = output.mode.value, output.stage.value
    if stage == 'stop' or (mode == 'walk' and stage == 'none'):
        return tuple(leg for leg in LEG_ORDER if not controller.walk.in_swing(leg))
    if stage == 'release' or (stage in ('none', 'posture')
                              and mode in _WHEELS_NOT_STANDING_MODES):
        return ()
    if stage == 'posture':
        return tuple(WHEEL_LEGS)
    return tuple(LEG_ORDER)


#: A standing gait request (the sampler's anchor, the mission's hold) is sent again this
#: often [s]: ``/gait/request`` is volatile, and a late gait controller or a lost message
#: must not leave it unasked.
GAIT_REQUEST_REPEAT_S = 1.0


class GaitRequestRepeater:
    """When to send a component's gait request: on change, and again while one stands.

    :meth:`due` returns the text to send now, or None. ``idle`` is what a change to "no
    request" sends (the sampler's ``auto``, letting go); None sends nothing then (the
    mission's). Used by the sampler and mission nodes and their harness components.
    """

    def __init__(self, idle: str | None, repeat_s: float = GAIT_REQUEST_REPEAT_S) -> None:
        self.idle = idle
        self.repeat_s = repeat_s
        self._last: str | None = None
        self._sent_s = -math.inf

    def due(self, t_s: float, wanted: str | None) -> str | None:
        """Return the request to send at ``t_s`` [s] given the one ``wanted`` now."""
        again = wanted is not None and not 0.0 <= t_s - self._sent_s < self.repeat_s
        if wanted == self._last and not again:
            return None
        self._last, self._sent_s = wanted, t_s
        return wanted if wanted is not None else self.idle
