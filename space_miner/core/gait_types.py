# SPDX-License-Identifier: Apache-2.0
"""Plain data of the gait capability: modes, requests, and the controller's inputs and outputs.

The gait controller does not import the claw controller, the estimator or terrain
perception: it defines the small dataclasses it needs from them here (:class:`ClawStatus`,
:class:`OdomState`, :class:`TerrainSummary`), and the node or the lockstep harness adapts
their outputs. Frames: ``base_link`` (x forward, z the outward surface normal) for feet and
wrist forces; ``odom`` for poses and goals. Units are in the field names.
"""

from dataclasses import dataclass, field
from enum import Enum
import json
import math
from typing import Mapping

from space_miner.interfaces import CLAW_LEGS, LEG_JOINTS, WHEEL_LEGS  # noqa: F401


class Mode(Enum):
    """Locomotion modes (DESIGN.md section 5)."""

    ROLL = 'roll'
    WALK = 'walk'
    CRAWL = 'crawl'
    ANCHOR = 'anchor'
    HOLD = 'hold'


#: Modes in which every working claw holds a grip.
GRIPPED_MODES = (Mode.CRAWL, Mode.ANCHOR)


class GaitRequest(Enum):
    """What ``/gait/request`` may ask for."""

    AUTO = 'auto'
    ROLL = 'roll'
    WALK = 'walk'
    CRAWL = 'crawl'
    ANCHOR = 'anchor'
    HOLD = 'hold'

    @property
    def mode(self) -> 'Mode | None':
        """The mode asked for, or None for ``auto``."""
        return None if self is GaitRequest.AUTO else Mode(self.value)


def parse_gait_request(text: str) -> 'GaitRequest | None':
    """Return the request named by ``text`` (case and blanks ignored), or None if unknown."""
    try:
        return GaitRequest(str(text).strip().lower())
    except ValueError:
        return None


class WalkPattern(Enum):
    """Six-legged walking patterns and their duty factors (share of a cycle in stance)."""

    TRIPOD = 'tripod'
    RIPPLE = 'ripple'
    WAVE = 'wave'


class TerrainClass(Enum):
    """Terrain classes of the terrain summary (DESIGN.md section 6)."""

    SMOOTH = 'smooth'
    REGOLITH = 'regolith'
    RUBBLE = 'rubble'
    ROCK = 'rock'
    UNKNOWN = 'unknown'


class ClawAction(Enum):
    """What the gait layer asks of one claw."""

    HOLD = 'hold'        # keep the present state (a grip stays a grip, open stays open)
    GRIP = 'grip'        # close to ``grip_force_n``
    VERIFY = 'verify'    # pull test of a grip, load bounded by ``pull_load_n``
    RELEASE = 'release'  # open
    STOW = 'stow'        # open and lift clear (roll); the guard treats it as a release


#: Actions that let go of a grip.
RELEASING_ACTIONS = (ClawAction.RELEASE, ClawAction.STOW)


class Stage(Enum):
    """Stages of a transition between two modes; NONE when no transition runs."""

    NONE = 'none'
    STOP = 'stop'          # bring the running gait to rest (finish swings and claw moves)
    RELEASE = 'release'    # open every claw (only where grip is not required)
    POSTURE = 'posture'    # move the feet to the next mode's stance
    GRIP = 'grip'          # close every working claw on its foothold
    VERIFY = 'verify'      # pull-test every gripping claw, one at a time


class CommandSource(Enum):
    """Who drives the robot this step (the command mux's choice)."""

    NONE = 'none'
    ESTOP = 'estop'
    OPERATOR_TWIST = 'operator_twist'
    OPERATOR_GOAL = 'operator_goal'
    AUTOPILOT = 'autopilot'


# --- small geometric types ------------------------------------------------------------------

@dataclass(frozen=True)
class BodyTwist:
    """A body velocity command in base_link [m/s, m/s, rad/s]."""

    vx_m_s: float = 0.0
    vy_m_s: float = 0.0
    wz_rad_s: float = 0.0

    def is_finite(self) -> bool:
        """Whether all three components are finite."""
        return all(math.isfinite(v) for v in (self.vx_m_s, self.vy_m_s, self.wz_rad_s))


@dataclass(frozen=True)
class Pose2D:
    """A planar pose in odom [m, m, rad]; ``yaw_rad`` None: any heading will do."""

    x_m: float
    y_m: float
    yaw_rad: float | None = None


# --- inputs -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ClawStatus:
    """One claw as the gait layer needs it (adapted from the claw controller's state).

    ``verified`` only after a pull test has shown the grip (never by assumption);
    ``verified_holding_n`` is the holding force the test showed [N]; ``pull_request_n`` is
    the load the claw controller asks the gait layer to apply for its pull test [N].
    """

    gripping: bool = False
    verified: bool = False
    verified_holding_n: float = 0.0
    failed: bool = False
    pull_request_n: float = 0.0
    pull_ramp_rate_n_per_s: float = 0.0   # 0: the gait's own pull_ramp_rate_n_per_s

    @property
    def holds_verified(self) -> bool:
        """Whether this claw counts as a verified grip for the never-detach rule."""
        return (self.gripping and self.verified and not self.failed
                and math.isfinite(self.verified_holding_n) and self.verified_holding_n > 0.0)


#: Claw controller modes (``ClawState.mode.value``) in which the claw is attached: closed at
#: force, or still opening. ``unknown`` (stale sensors) is taken as attached, not verified.
ATTACHED_CLAW_MODES = ('gripping', 'holding', 'slipping', 'releasing', 'unknown')


def claw_status_from_state(state: object, pull_requests: tuple = ()) -> ClawStatus:
    """Adapt a claw controller ``ClawState`` (duck-typed) and its pull requests.

    Reads ``state.claw``, ``state.mode`` (an Enum or its value) and
    ``state.verified_holding_n``; a pull request is any object with ``claw``,
    ``target_load_n`` and ``ramp_rate_n_per_s``.
    """
    mode = getattr(state, 'mode', 'unknown')
    mode = str(getattr(mode, 'value', mode))
    holding = float(getattr(state, 'verified_holding_n', 0.0) or 0.0)
    claw = getattr(state, 'claw', None)
    pull = next((r for r in pull_requests if getattr(r, 'claw', None) == claw), None)
    failed = mode == 'failed'
    return ClawStatus(
        gripping=mode in ATTACHED_CLAW_MODES and not failed,
        verified=holding > 0.0 and mode in ('holding', 'gripping'),
        verified_holding_n=holding,
        failed=failed,
        pull_request_n=float(pull.target_load_n) if pull is not None else 0.0,
        pull_ramp_rate_n_per_s=float(pull.ramp_rate_n_per_s) if pull is not None else 0.0)


@dataclass(frozen=True)
class OdomState:
    """The estimator's pose of base_link in odom and its twist in base_link, with stamp."""

    position_m: tuple = (0.0, 0.0, 0.0)
    orientation_wxyz: tuple = (1.0, 0.0, 0.0, 0.0)
    linear_m_s: tuple = (0.0, 0.0, 0.0)
    angular_rad_s: tuple = (0.0, 0.0, 0.0)
    stamp_s: float = 0.0


@dataclass(frozen=True)
class TerrainSummary:
    """What the selector needs of terrain perception.

    Classes under the robot and along its heading, the steepest slope there [deg], grasp
    candidates (points in odom [m]) the crawl may put a claw on, and each candidate's grip
    fraction as the map sees it (``grasp_fractions``, same order: the share of a claw's
    squeeze it is expected to hold; empty or NaN where unknown).
    """

    class_under: TerrainClass = TerrainClass.UNKNOWN
    class_ahead: TerrainClass = TerrainClass.UNKNOWN
    slope_deg: float = 0.0
    grasp_candidates_m: tuple = ()
    stamp_s: float = 0.0
    grasp_fractions: tuple = ()


@dataclass(frozen=True)
class BodyInfo:
    """The small body the robot stands on, as the selector needs it.

    ``gravity_m_s2`` is the local effective acceleration in the surface frame (z the outward
    normal): a negative z presses the wheels on the ground.
    """

    name: str
    requires_grip: bool
    gravity_m_s2: tuple
    escape_velocity_m_s: float

    @property
    def down_gravity_m_s2(self) -> float:
        """Effective gravity towards the ground [m/s^2] (negative: it pulls away)."""
        return -float(self.gravity_m_s2[2])

    @classmethod
    def from_body_config(cls, body: object, gravity_m_s2: tuple) -> 'BodyInfo':
        """Build from a ``BodyConfig``-like object and the effective acceleration there."""
        return cls(name=str(getattr(body, 'name')),
                   requires_grip=bool(getattr(body, 'requires_grip')),
                   gravity_m_s2=tuple(float(v) for v in gravity_m_s2),
                   escape_velocity_m_s=float(getattr(body, 'escape_velocity_m_s')))


@dataclass(frozen=True)
class OperatorInput:
    """The operator link's latest messages and their arrival times [s].

    ``cmd_vel`` is the last ``/cmd_vel`` (None when none came), ``goal`` the last
    ``/goal_pose`` in odom, ``estop`` the last ``/estop`` value, ``comm_loss`` whether the
    operator link is cut (a fault).
    """

    cmd_vel: BodyTwist | None = None
    cmd_vel_stamp_s: float = -math.inf
    goal: Pose2D | None = None
    goal_stamp_s: float = -math.inf
    gait_request: str = 'auto'
    gait_request_stamp_s: float = -math.inf
    estop: bool = False
    comm_loss: bool = False


@dataclass(frozen=True)
class GaitInputs:
    """Everything one control step reads.

    ``joint_positions_rad`` holds the 18 leg joints in LEG_JOINTS order; ``wrist_forces_n``
    maps each claw to the force its leg exerts on its grip, in base_link [N] (``+z`` pulls
    the claw off the surface); stamps are the arrival times of the latest samples [s].
    ``external_load_n`` is a load another component asks to apply (sampling reaction) [N].
    """

    joint_positions_rad: tuple
    joint_stamp_s: float
    claws: Mapping[str, ClawStatus]
    wrist_forces_n: Mapping[str, tuple]
    wrench_stamps_s: Mapping[str, float]
    odom: OdomState
    terrain: TerrainSummary | None = None
    operator: OperatorInput = field(default_factory=OperatorInput)
    autopilot_goal: Pose2D | None = None
    external_load_n: float = 0.0


# --- outputs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ClawRequest:
    """What the gait layer asks of one claw: action, grip force [N], pull-test load [N]."""

    claw: str
    action: ClawAction
    grip_force_n: float = 0.0
    pull_load_n: float = 0.0


def encode_claw_requests(requests: tuple) -> str:
    """Serialise claw requests as compact JSON (for a ``std_msgs/String`` topic)."""
    return json.dumps({r.claw: {'action': r.action.value, 'grip_force_n': r.grip_force_n,
                                'pull_load_n': r.pull_load_n} for r in requests},
                      sort_keys=True, separators=(',', ':'))


def decode_claw_requests(text: str) -> tuple:
    """Parse :func:`encode_claw_requests` output; ValueError naming what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'claw requests are not JSON: {err}') from err
    if not isinstance(data, dict):
        raise ValueError('claw requests must be a JSON object keyed by claw')
    out = []
    for claw in CLAW_LEGS:
        if claw not in data:
            continue
        item = data[claw]
        try:
            out.append(ClawRequest(claw, ClawAction(item['action']),
                                   float(item.get('grip_force_n', 0.0)),
                                   float(item.get('pull_load_n', 0.0))))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f'claw request for {claw} refused: {err}') from err
    unknown = set(data) - set(CLAW_LEGS)
    if unknown:
        raise ValueError(f'unknown claw(s) {sorted(unknown)} in claw requests')
    return tuple(out)


@dataclass(frozen=True)
class Refusal:
    """A request or command that was refused or scaled down, and why.

    ``expected``: the control at work rather than something for a person to look at — the
    guard bounding a claw action or the external load, the selector declining a mode the
    ground or the claws do not allow, motion held until a critical input first arrives.
    Nodes count those and log them at DEBUG; the others (malformed input, an input gone
    stale after it flowed) are warnings.
    """

    subject: str
    reason: str
    expected: bool = False


@dataclass(frozen=True)
class GaitOutput:
    """One control step's commands and state.

    ``leg_positions_rad``: 18 targets in LEG_JOINTS order; ``wheel_speeds_rad_s``: 3 in
    WHEEL_LEGS order; ``claw_requests``: one per claw in CLAW_LEGS order. ``mode`` is the
    mode being run or entered, ``stage`` the transition stage (NONE once in the mode).
    ``external_load_limit_n`` is the largest external load the guard allows now [N].
    """

    leg_positions_rad: tuple
    wheel_speeds_rad_s: tuple
    claw_requests: tuple
    mode: Mode
    stage: Stage
    command_source: CommandSource
    body_twist: BodyTwist
    refusals: tuple
    cannot_crawl: bool
    external_load_limit_n: float
    diagnostics: Mapping[str, object]
