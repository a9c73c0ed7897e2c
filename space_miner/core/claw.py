# SPDX-License-Identifier: Apache-2.0
"""Claw force control: grip state machine, squeeze regulation, pull-test verification, slip.

Pure Python (no rclpy), deterministic, stepped with the time as an argument. The node
``claw_controller`` converts ``/joint_states`` and ``/<c>_ft_broadcaster/wrench`` into
:class:`ClawSensorSample` and publishes :attr:`ClawOutput.effort_commands_n` on
``/claw_effort_controller/commands``; the harness calls the same :meth:`ClawController.step`.

Sensor conventions (one sample per claw, two streams with their own stamps):

- ``squeeze_n``: the claw joint's measured effort = the squeeze force [N].
- ``joint_position_m``: the claw joint, 0 open .. ``claw.stroke_m`` closed. A grip that
  slips is pulled open, so slip shows as the joint *opening* from where it gripped.
- ``wrench_force_xyz_n``: the load the leg carries, measured at the wrist in
  ``<c>_ft_link``, whose +z runs from the claw tip back up the tibia (roughly the surface
  normal in stance): pressing the claw on the ground gives +z, pulling it out gives -z.
  The *load* is the magnitude of this force; tangential = hypot(x, y), normal = z.

Per claw, a grip state machine (:class:`ClawMode`); its transitions come from feedback::

    OPEN -grip-> CLOSING -squeeze >= contact-> CONTACT -at force-> GRIPPING
    GRIPPING -pull test passed-> HOLDING (verified)      any -release-> RELEASING -> OPEN
    GRIPPING/HOLDING -slip cue-> SLIPPING -regrasp, quiet, at force-> GRIPPING/HOLDING
    SLIPPING on an overload alone (joint still, load steady) for slip_timeout_s -> back
        to GRIPPING/HOLDING: the shear carried is no new slip cue, and the least pull-off
        load held throughout (a pull test the world ran) may raise the verification
    cannot reach force, cannot release, too many slips -> FAILED (keeps its command)
    sensor stale or NaN -> UNKNOWN (keeps its last safe command) -> back where it was
    CLOSING/CONTACT/GRIPPING/HOLDING/SLIPPING -fingers at the end of the stroke->
        RELEASING (nothing between them: never seated, or the pad torn off; a
        ``grip_lost`` slip event), and it closes again only once its fingers are open

Only force feedback from the wrist ever sets a verified holding force (DESIGN.md section
5): a pull test, at the least load it held, or an overload held without slipping, at the
least pull-off load it held. A slip under work withdraws it until a test passes again; a
pull test that slips leaves ``holding_safety_factor`` x the load it slipped at, before any
new test (issue 20: not yet earned by a test). A grip torn
off (by its pull test, or while slipping) is gripped again one regrasp step harder and
its next test is no larger than ``holding_safety_factor`` x the load it tore at: it
counts as verified (weak) only if that test holds. A running test follows a lower load
asked for (the gait's bound on what the other grips may react), never a higher one.
"""

from dataclasses import dataclass, field
import enum
import math
import numbers
from pathlib import Path
from typing import Any, Mapping, Sequence


from space_miner.core.robot import ConfigError, read_yaml, RobotConfig
from space_miner.interfaces import CLAW_LEGS

#: diagnostic_msgs/DiagnosticStatus levels.
DIAG_OK = 0
DIAG_WARN = 1
DIAG_ERROR = 2
DIAG_STALE = 3

_PARAMS_NODE = 'claw_controller'

#: Each parameter's type and range: name -> (type, low, high, low_is_exclusive); the node
#: builds its ParameterDescriptors from it. The values live in config/claw_controller.yaml.
PARAM_RANGES = {
    'kp': (float, 0.0, 20.0, False),
    'ki_per_s': (float, 0.0, 500.0, False),
    'integral_limit_n': (float, 0.0, 200.0, False),
    'lead_compensation': (float, 0.0, 1.5, False),
    'friction_compensation': (float, 0.0, 1.5, False),
    'force_rate_max_n_per_s': (float, 0.0, 1.0e5, True),
    'effort_filter_time_constant_s': (float, 0.0, 1.0, False),
    'wrench_filter_time_constant_s': (float, 0.0, 1.0, False),
    'bias_tare_time_constant_s': (float, 0.0, 60.0, True),
    'effort_bias_max_n': (float, 0.0, 20.0, False),
    'wrench_bias_max_n': (float, 0.0, 20.0, False),
    'min_grip_force_n': (float, 0.0, 200.0, True),
    'contact_force_n': (float, 0.0, 100.0, True),
    'closing_force_n': (float, 0.0, 100.0, True),
    'at_force_tolerance_n': (float, 0.0, 50.0, True),
    'force_fail_tolerance_n': (float, 0.0, 200.0, True),
    'force_timeout_s': (float, 0.0, 60.0, True),
    'closed_margin_m': (float, 0.0, 0.1, False),
    'release_force_n': (float, 0.0, 100.0, True),
    'release_timeout_s': (float, 0.0, 60.0, True),
    'stale_timeout_s': (float, 0.0, 10.0, True),
    'slip_displacement_m': (float, 0.0, 0.1, True),
    'load_drop_rate_n_per_s': (float, 0.0, 1.0e5, True),
    'load_drop_min_n': (float, 0.0, 600.0, True),
    'load_drop_fraction': (float, 0.0, 1.0, True),
    'load_drop_min_load_n': (float, 0.0, 600.0, False),
    'friction_ratio_bound': (float, 0.0, 10.0, True),
    'slip_persist_s': (float, 0.0, 1.0, False),
    'slip_clear_s': (float, 0.0, 10.0, False),
    'slip_timeout_s': (float, 0.0, 60.0, True),
    'regrasp_step_n': (float, 0.0, 200.0, False),
    'regrasp_retries_max': (int, 0, 100, False),
    'retry_reset_s': (float, 0.0, 3600.0, True),
    'holding_safety_factor': (float, 0.0, 1.0, True),
    'pull_test_max_load_n': (float, 0.0, 600.0, True),
    'pull_ramp_rate_n_per_s': (float, 0.0, 1.0e4, True),
    'pull_tolerance_n': (float, 0.0, 100.0, False),
    'pull_hold_s': (float, 0.0, 10.0, False),
    'pull_timeout_s': (float, 0.0, 600.0, True),
    'pull_retries_max': (int, 0, 100, False),
    'unload_grace_s': (float, 0.0, 10.0, False),
}


@dataclass(frozen=True)
class ClawControlParams:
    """Gains [N/N, 1/s], limits [N], thresholds [N, m] and timeouts [s] of the claw controller.

    Loaded from ``config/claw_controller.yaml`` by :func:`load_claw_params`, which holds the
    defaults and their meaning; ranges are checked by :func:`parse_claw_params`.
    """

    kp: float
    ki_per_s: float
    integral_limit_n: float
    lead_compensation: float
    friction_compensation: float
    force_rate_max_n_per_s: float
    effort_filter_time_constant_s: float
    wrench_filter_time_constant_s: float
    bias_tare_time_constant_s: float
    effort_bias_max_n: float
    wrench_bias_max_n: float
    min_grip_force_n: float
    contact_force_n: float
    closing_force_n: float
    at_force_tolerance_n: float
    force_fail_tolerance_n: float
    force_timeout_s: float
    closed_margin_m: float
    release_force_n: float
    release_timeout_s: float
    stale_timeout_s: float
    slip_displacement_m: float
    load_drop_rate_n_per_s: float
    load_drop_min_n: float
    load_drop_fraction: float
    load_drop_min_load_n: float
    friction_ratio_bound: float
    slip_persist_s: float
    slip_clear_s: float
    slip_timeout_s: float
    regrasp_step_n: float
    regrasp_retries_max: int
    retry_reset_s: float
    holding_safety_factor: float
    pull_test_max_load_n: float
    pull_ramp_rate_n_per_s: float
    pull_tolerance_n: float
    pull_hold_s: float
    pull_timeout_s: float
    pull_retries_max: int
    unload_grace_s: float


def parse_claw_params(data: Any, source: str = 'claw_controller.yaml') -> ClawControlParams:
    """Check a parsed parameter mapping and build :class:`ClawControlParams`.

    ``data`` is either the whole file (``{claw_controller: {ros__parameters: {...}}}``) or
    the ``ros__parameters`` mapping itself. A missing, unknown, mistyped or out-of-range key
    raises :class:`~space_miner.core.robot.ConfigError` naming it.
    """
    prefix = ''
    if isinstance(data, Mapping) and _PARAMS_NODE in data:
        node = data[_PARAMS_NODE]
        if not isinstance(node, Mapping) or 'ros__parameters' not in node:
            raise ConfigError(f'{_PARAMS_NODE}.ros__parameters', None, 'missing key', source)
        data = node['ros__parameters']
        prefix = f'{_PARAMS_NODE}.ros__parameters.'
    if not isinstance(data, Mapping):
        raise ConfigError(prefix or '<file>', data, 'must be a mapping of parameters', source)
    for key in data:
        if key not in PARAM_RANGES:
            raise ConfigError(f'{prefix}{key}', data[key], 'unknown parameter', source)
    values = {}
    for key, (kind, low, high, exclusive) in PARAM_RANGES.items():
        name = f'{prefix}{key}'
        if key not in data:
            raise ConfigError(name, None, 'missing key', source)
        value = data[key]
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(name, value, 'must be an integer', source)
        else:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(name, value, 'must be a number', source)
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(name, value, 'must be finite', source)
        if value < low or (exclusive and value == low) or value > high:
            bracket = '(' if exclusive else '['
            raise ConfigError(name, value, f'outside {bracket}{low:g}, {high:g}]', source)
        values[key] = value
    params = ClawControlParams(**values)
    if params.min_grip_force_n <= params.contact_force_n:
        raise ConfigError(f'{prefix}min_grip_force_n', params.min_grip_force_n,
                          f'must be above contact_force_n {params.contact_force_n:g}', source)
    if not params.contact_force_n < params.closing_force_n <= params.min_grip_force_n:
        raise ConfigError(f'{prefix}closing_force_n', params.closing_force_n,
                          f'must be above contact_force_n {params.contact_force_n:g} and at '
                          f'most min_grip_force_n {params.min_grip_force_n:g}', source)
    return params


def load_claw_params(path: str | Path | None = None) -> ClawControlParams:
    """Load and check ``config/claw_controller.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('claw_controller.yaml')
    return parse_claw_params(read_yaml(path), str(path))


# --- inputs and outputs ---------------------------------------------------------------------

class ClawMode(enum.Enum):
    """Grip state of one claw (the value is what the state topic carries)."""

    OPEN = 'open'
    CLOSING = 'closing'
    CONTACT = 'contact'
    GRIPPING = 'gripping'
    HOLDING = 'holding'
    SLIPPING = 'slipping'
    RELEASING = 'releasing'
    FAILED = 'failed'
    UNKNOWN = 'unknown'


#: Modes in which the fingers are closed on something (or believed to be).
_SEATED = (ClawMode.CONTACT, ClawMode.GRIPPING, ClawMode.HOLDING, ClawMode.SLIPPING)


class ClawRequestKind(enum.Enum):
    """What a :class:`ClawRequest` asks."""

    GRIP = 'grip'
    RELEASE = 'release'
    VERIFY = 'verify'
    HOLD = 'hold'


class SlipCause(enum.Enum):
    """Which cue detected a slip."""

    LOAD_DROP = 'load_drop'
    DISPLACEMENT = 'displacement'
    FRICTION_RATIO = 'friction_ratio'
    GRIP_LOST = 'grip_lost'   # the fingers closed to their end: nothing left between them


@dataclass(frozen=True)
class ClawSensorSample:
    """One claw's latest sensor readings, with the stamp [s] of each stream.

    ``squeeze_stamp_s`` stamps ``squeeze_n`` [N] and ``joint_position_m`` [m] (both from
    ``/joint_states``); ``wrench_stamp_s`` stamps the wrist wrench [N, N m] in
    ``<c>_ft_link``.
    """

    squeeze_stamp_s: float
    squeeze_n: float
    joint_position_m: float
    wrench_stamp_s: float
    wrench_force_xyz_n: tuple = (0.0, 0.0, 0.0)
    wrench_torque_xyz_nm: tuple = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ClawRequest:
    """A request to one claw.

    ``value_n`` is the squeeze target [N] of a grip and the pull-test load [N] of a verify;
    unused by release and hold. Requests may be repeated every step (level-triggered): a
    repeated grip at the same target, or a verify while its test runs, is due or has
    concluded at that load, changes nothing. A verify made before the claw grips at force
    is queued until it does. Hold keeps the present state (the same as no request).
    """

    claw: str
    kind: ClawRequestKind
    value_n: float = 0.0

    @classmethod
    def grip(cls, claw: str, target_n: float) -> 'ClawRequest':
        """Grip (or change the squeeze target) at ``target_n`` [N]."""
        return cls(claw, ClawRequestKind.GRIP, target_n)

    @classmethod
    def release(cls, claw: str) -> 'ClawRequest':
        """Open the claw."""
        return cls(claw, ClawRequestKind.RELEASE)

    @classmethod
    def verify(cls, claw: str, pull_load_n: float) -> 'ClawRequest':
        """Verify the grip by a pull test up to ``pull_load_n`` [N] (bounded by params)."""
        return cls(claw, ClawRequestKind.VERIFY, pull_load_n)

    @classmethod
    def hold(cls, claw: str) -> 'ClawRequest':
        """Keep the present state (a grip stays a grip, a release goes on)."""
        return cls(claw, ClawRequestKind.HOLD)


@dataclass(frozen=True)
class RefusedRequest:
    """A request the controller refused at ``t_s`` [s], and why; the previous one stands."""

    t_s: float
    request: ClawRequest
    reason: str


@dataclass(frozen=True)
class SlipEvent:
    """A slip detected at ``t_s`` [s] on ``claw``, by ``cause``, at the wrist load ``load_n``.

    ``load_n`` [N] is the load the grip carried when it let go (the recent peak).
    ``during_pull_test`` tells a pull-test slip (a weak grip found) from one under work load.
    """

    t_s: float
    claw: str
    cause: SlipCause
    load_n: float
    during_pull_test: bool = False


@dataclass(frozen=True)
class PullRequest:
    """Ask the gait layer to pull on ``claw`` through its leg, ramping the wrist load.

    Present in :attr:`ClawOutput.pull_requests` on every step the test runs; the gait ramps
    the load at ``ramp_rate_n_per_s`` up to ``target_load_n`` [N] and holds it, and unloads
    when the request is no longer present.
    """

    claw: str
    target_load_n: float
    ramp_rate_n_per_s: float


@dataclass(frozen=True)
class ClawState:
    """One claw's published state.

    ``squeeze_n`` is the filtered, zero-corrected measured squeeze [N]; ``load_n`` the wrist
    load [N]. ``verified_holding_n`` [N] is non-zero only while the claw HOLDS a grip that a
    pull test verified; ``weak`` marks a grip whose pull test (or work load) made it slip;
    ``verifying``: a pull test runs or is due.
    """

    claw: str
    mode: ClawMode
    squeeze_n: float
    target_n: float
    command_n: float
    verified_holding_n: float
    weak: bool
    verifying: bool
    load_n: float
    regrasp_count: int

    @property
    def is_verified(self) -> bool:
        """Whether the claw holds a grip verified by force feedback."""
        return self.verified_holding_n > 0.0


@dataclass(frozen=True)
class ClawOutput:
    """Everything one controller step produces.

    ``effort_commands_n`` are the 3 squeeze commands [N] in ``CLAW_LEGS`` order for
    ``/claw_effort_controller/commands``; ``diagnostics`` are ``(level, name, message)``
    tuples with diagnostic_msgs levels (0 OK, 1 WARN, 2 ERROR, 3 STALE): one status per
    claw, then one per event of this step.
    """

    t_s: float
    effort_commands_n: tuple
    states: tuple
    slip_events: tuple = ()
    refused: tuple = ()
    pull_requests: tuple = ()
    diagnostics: tuple = ()

    def state(self, claw: str) -> ClawState:
        """Return the state of ``claw``."""
        return self.states[CLAW_LEGS.index(claw)]


# --- the controller -------------------------------------------------------------------------

_REGULATED = frozenset((ClawMode.CLOSING, ClawMode.CONTACT, ClawMode.GRIPPING,
                        ClawMode.HOLDING, ClawMode.SLIPPING))


@dataclass
class _Claw:
    """Mutable per-claw state of the controller (internal)."""

    name: str
    mode: ClawMode = ClawMode.UNKNOWN
    mode_since_s: float = 0.0
    before_unknown: ClawMode | None = None
    status: str = 'no sensor data yet'
    status_level: int = DIAG_STALE
    # regulation
    requested_n: float = 0.0  # the grip target asked for
    boost_n: float = 0.0      # squeeze added by regrasps (kept until release)
    last_grip_n: float = 0.0  # the grip target before a release (a hold re-grips at it)
    target_n: float = 0.0     # requested + boost, within both limits
    ref_n: float = 0.0
    integral_n: float = 0.0
    command_n: float = 0.0
    safe_command_n: float = 0.0
    low_since_s: float | None = None
    ref_falling: bool = False
    ref_seen_n: float = 0.0  # the reference through the squeeze filter
    dt_s: float = 0.0
    now_s: float = 0.0
    # filtered feedback
    squeeze_n: float = 0.0
    effort_bias_n: float = 0.0
    tare_count: int = 0
    wrench_bias_n: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    wrench_tare_count: int = 0
    force_n: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    load_n: float = 0.0
    load_peak_n: float = 0.0
    position_m: float = 0.0
    grip_position_m: float = 0.0
    # verification
    verified_n: float = 0.0
    weak: bool = False
    verifying: bool = False
    pull_target_n: float = 0.0     # the test load, bounded by pull_test_max_load_n
    pull_requested_n: float = 0.0  # the load asked for
    pull_start_s: float = 0.0
    pull_hold_start_s: float | None = None
    pull_hold_min_n: float = 0.0
    pull_peak_n: float = 0.0
    pull_retries: int = 0
    reverify_n: float = 0.0  # pull load of a test due once at force (0: none)
    tested_n: float = 0.0    # pull load of the last concluded test
    emptied: bool = False    # closed on nothing: opens fully before it may close again
    tear_cap_n: float = 0.0  # a test tore the grip off: the next test is no larger (0: none)
    pull_asked_n: float = 0.0  # the load the running test answers (its own may be capped)
    unload_until_s: float = -math.inf  # the gait unloads a finished pull test until then
    # slip
    cue_since_s: float | None = None
    slip_start_s: float = 0.0
    slip_quiet_since_s: float = 0.0
    slip_anchor_m: float = 0.0
    slip_by_ratio: bool = False
    overload_min_n: float = 0.0   # least tangential overload held while slipping by ratio
    overload_pull_min_n: float = 0.0  # least pull-off load (-z) held meanwhile
    shear_shown_n: float = 0.0    # tangential load beyond friction this grip has carried
    regrasp_at_s: float = 0.0
    regrasps: int = 0
    last_slip_s: float = -math.inf


class ClawController:
    """The three claws' force controller: call :meth:`step` on each sensor arrival.

    ``params`` from :func:`load_claw_params`; ``robot_cfg`` gives the hardware limits
    (``claw.grip_force_max_n`` per claw, ``claw.grip_force_total_max_n`` in total), the
    claw stroke and the actuator's lag and friction used as feedforward. Deterministic: the
    output depends only on the sequence of ``step`` arguments.
    """

    def __init__(self, params: ClawControlParams, robot_cfg: RobotConfig) -> None:
        self.params = params
        self.robot_cfg = robot_cfg
        self.max_n = robot_cfg.claw.grip_force_max_n
        self.total_max_n = robot_cfg.claw.grip_force_total_max_n
        self.stroke_m = robot_cfg.claw.stroke_m
        self.lag_s = robot_cfg.claw.time_constant_s
        self.friction_n = robot_cfg.claw.friction_n
        self._claws = [_Claw(name) for name in CLAW_LEGS]
        self._by_name = {c.name: c for c in self._claws}
        self._last_t: float | None = None

    # --- public ---------------------------------------------------------------------------

    def step(self, t_s: float, sensors: Mapping[str, ClawSensorSample | None],
             requests: Sequence[ClawRequest] = ()) -> ClawOutput:
        """Advance to time ``t_s`` [s] with the latest samples and this step's requests.

        ``sensors`` maps a claw name to its latest sample (absent or None: no data).
        The samples are checked and filtered first, then the requests applied in order, then
        each claw's state machine and regulation run. Refused requests are reported in
        :attr:`ClawOutput.refused` and leave the previous request in force.
        """
        t_s = float(t_s)
        if self._last_t is None or not math.isfinite(t_s):
            dt_s = 0.0
        else:
            dt_s = min(max(t_s - self._last_t, 0.0), 0.1)
        if math.isfinite(t_s):
            self._last_t = t_s
        events: list = []
        slips: list = []
        refused: list = []
        healthy = [self._sense(c, t_s, dt_s, sensors.get(c.name), events) for c in self._claws]
        for request in requests:
            reason = self._apply(t_s, request, events)
            if reason:
                refused.append(RefusedRequest(t_s, request, reason))
                kind = getattr(request.kind, 'value', request.kind)
                events.append((DIAG_WARN, f'claw_controller: {request.claw}',
                               f'refused {kind} {request.value_n!r}: {reason}'))
        self._limit_targets(events)
        for claw, ok in zip(self._claws, healthy):
            if ok:
                self._act(claw, t_s, dt_s, slips, events)
        commands = self._final_commands(events)
        pulls = tuple(PullRequest(c.name, c.pull_target_n, self.params.pull_ramp_rate_n_per_s)
                      for c in self._claws if c.verifying)
        states = tuple(self._state(c) for c in self._claws)
        diags = tuple((c.status_level, f'claw_controller: {c.name}',
                       f'{c.mode.value}: {c.status}') for c in self._claws) + tuple(events)
        return ClawOutput(t_s, commands, states, tuple(slips), tuple(refused), pulls, diags)

    def states(self) -> tuple:
        """Return the claws' current states, in ``CLAW_LEGS`` order."""
        return tuple(self._state(c) for c in self._claws)

    # --- requests ---------------------------------------------------------------------------

    def _apply(self, t: float, req: ClawRequest, events: list) -> str:
        """Apply one request; return the reason for refusing it ('' when accepted)."""
        p = self.params
        claw = self._by_name.get(req.claw) if isinstance(req.claw, str) else None
        if claw is None:
            return f'unknown claw {req.claw!r} (claws are {", ".join(CLAW_LEGS)})'
        if not isinstance(req.kind, ClawRequestKind):
            return f'unknown request kind {req.kind!r}'
        mode = claw.mode
        if mode is ClawMode.UNKNOWN and req.kind is not ClawRequestKind.HOLD:
            return 'claw state unknown (sensor stale or invalid): grip kept as it is'
        if req.kind is ClawRequestKind.GRIP:
            value = req.value_n
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                return 'grip target must be a number of newtons'
            if not math.isfinite(value):
                return f'grip target {value!r} is not finite'
            if value < 0.0:
                return f'grip target {value:g} N is negative'
            if value < p.min_grip_force_n:
                return (f'grip target {value:g} N is below min_grip_force_n '
                        f'{p.min_grip_force_n:g} N (use release)')
            if mode is ClawMode.FAILED:
                return 'claw failed: release it first'
            value = float(value)
            if value > self.max_n:
                events.append((DIAG_WARN, f'claw_controller: {claw.name}',
                               f'grip target {value:g} N limited to {self.max_n:g} N'))
                value = self.max_n
            if claw.emptied:
                # Closed on nothing: the fingers open before they close again.
                if mode is not ClawMode.OPEN or claw.position_m > 0.5 * self.stroke_m:
                    return ''
                claw.emptied = False
            if mode in (ClawMode.OPEN, ClawMode.RELEASING):
                self._start_grip(claw, t, value)
                return ''
            if value == claw.requested_n:
                return ''   # a repeated request changes nothing
            claw.tested_n = 0.0
            if claw.verifying:
                self._end_pull(claw)
                events.append((DIAG_WARN, f'claw_controller: {claw.name}',
                               'pull test cancelled by a new grip target'))
            if value < claw.requested_n and claw.verified_n > 0.0:
                # Less squeeze holds less: the verification no longer stands.
                claw.verified_n = 0.0
                claw.weak = False
                if claw.mode is ClawMode.HOLDING:
                    self._set_mode(claw, ClawMode.GRIPPING, t)
            claw.requested_n = value
            return ''
        if req.kind is ClawRequestKind.RELEASE:
            if mode in (ClawMode.GRIPPING, ClawMode.HOLDING):
                claw.tear_cap_n = 0.0   # let go on purpose: the next foothold is a new grip
            if mode is not ClawMode.OPEN:
                self._end_pull(claw)
                claw.verified_n = claw.shear_shown_n = 0.0
                claw.weak = False
                claw.reverify_n = claw.tested_n = 0.0
                if claw.requested_n > 0.0:
                    claw.last_grip_n = claw.requested_n
                claw.requested_n = claw.boost_n = claw.target_n = 0.0
                claw.integral_n = 0.0
                self._set_mode(claw, ClawMode.RELEASING, t)
            return ''
        if req.kind is ClawRequestKind.VERIFY:
            value = req.value_n
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value) or value <= 0.0:
                return f'pull-test load {value!r} must be a positive finite number of newtons'
            value = float(value)
            if mode in (ClawMode.OPEN, ClawMode.RELEASING, ClawMode.FAILED):
                return f'cannot verify a claw that is {mode.value}'
            if claw.verifying:
                # A test runs: a repeated request changes nothing, a lower one (the load the
                # gait may apply now, e.g. bounded by what the other grips hold) lowers it.
                if value < claw.pull_target_n:
                    self._set_pull_load(claw, value)
                return ''
            if claw.reverify_n > 0.0:
                claw.reverify_n = min(claw.reverify_n, value)   # due: likewise
                return ''
            if mode is ClawMode.HOLDING and value == claw.tested_n:
                return ''   # this test has concluded; re-test with another load or re-grip
            # Runs as soon as the claw is gripping at force (now, or after contact or a slip).
            claw.reverify_n = value
            return ''
        return ''   # HOLD: keep the present state

    def _limit_targets(self, events: list) -> None:
        """Set each target to request + regrasp boost, within 0..max; scale to the total."""
        total = 0.0
        for c in self._claws:
            c.target_n = min(c.requested_n + c.boost_n, self.max_n)
            total += c.target_n
        if total > self.total_max_n:
            scale = self.total_max_n / total
            for c in self._claws:
                c.target_n *= scale
            events.append((DIAG_WARN, 'claw_controller',
                           f'grip targets {total:g} N in total scaled to {self.total_max_n:g} N'))

    # --- per-claw update ----------------------------------------------------------------------

    def _sense(self, c: _Claw, t: float, dt: float, sample: ClawSensorSample | None,
               events: list) -> bool:
        """Check and filter a claw's sample; on a bad one go UNKNOWN. True when usable."""
        c.dt_s = dt
        c.now_s = t
        fault = self._check(c, t, sample)
        if fault is not None:
            level, why = fault
            if c.mode is not ClawMode.UNKNOWN:
                c.before_unknown = c.mode
                if c.verifying:
                    self._end_pull(c)
                    events.append((DIAG_WARN, f'claw_controller: {c.name}',
                                   'pull test abandoned: sensor lost'))
                self._set_mode(c, ClawMode.UNKNOWN, t)
                events.append((level, f'claw_controller: {c.name}',
                               f'{why}: claw unknown, squeeze held at {c.safe_command_n:.1f} N'))
            if c.before_unknown is None:
                self._keep_found_grip(c, t, sample)
            c.command_n = c.safe_command_n
            c.status, c.status_level = f'{why}; command held at {c.safe_command_n:.1f} N', level
            return False
        if c.mode is ClawMode.UNKNOWN:
            self._recover(c, t, sample, events)
        self._filter(c, sample, dt)
        return True

    def _act(self, c: _Claw, t: float, dt: float, slips: list, events: list) -> None:
        """Run a healthy claw's state machine and force regulation."""
        p = self.params
        mode = c.mode
        c.status_level = DIAG_OK
        if mode is ClawMode.OPEN:
            c.command_n = 0.0
            c.ref_n = c.ref_seen_n = max(c.squeeze_n, 0.0)
            c.integral_n = 0.0
        elif mode is ClawMode.RELEASING:
            c.command_n = 0.0
            c.ref_n = c.ref_seen_n = max(c.squeeze_n, 0.0)
            c.integral_n = 0.0
            if c.squeeze_n < p.release_force_n:
                self._set_mode(c, ClawMode.OPEN, t)
            elif t - c.mode_since_s > p.release_timeout_s:
                self._fail(c, t, f'cannot release: squeeze {c.squeeze_n:.1f} N', events)
        elif mode is ClawMode.FAILED:
            c.status_level = DIAG_ERROR
        else:
            self._grip_logic(c, t, slips, events)
            if c.mode in _REGULATED:
                self._check_force(c, t, events)
            if c.mode in _REGULATED:
                self._regulate(c, dt)
        if c.mode is not ClawMode.FAILED:
            c.status = (f'squeeze {c.squeeze_n:.1f} of {c.target_n:.1f} N, load '
                        f'{c.load_n:.1f} N, verified {c.verified_n:.1f} N'
                        + (', weak' if c.weak else ''))
            if c.weak or c.mode is ClawMode.SLIPPING:
                c.status_level = max(c.status_level, DIAG_WARN)
        c.safe_command_n = c.command_n

    def _check(self, c: _Claw, t: float, sample: ClawSensorSample | None):
        """Return (level, reason) when the sample cannot be used, else None."""
        if sample is None:
            return DIAG_STALE, 'no sensor sample'
        timeout = self.params.stale_timeout_s
        age = t - sample.squeeze_stamp_s
        if not age <= timeout:
            return DIAG_STALE, f'joint state stale ({age:.3f} s old)'
        age = t - sample.wrench_stamp_s
        if not age <= timeout:
            return DIAG_STALE, f'wrist wrench stale ({age:.3f} s old)'
        try:
            fx, fy, fz = sample.wrench_force_xyz_n
            squeeze, position = sample.squeeze_n, sample.joint_position_m
            isfinite = math.isfinite
            finite = (isfinite(squeeze) and isfinite(position) and isfinite(fx)
                      and isfinite(fy) and isfinite(fz))
        except (TypeError, ValueError):
            finite = False
        if not finite:
            return DIAG_ERROR, 'sensor reading not finite'
        return None

    def _keep_found_grip(self, c: _Claw, t: float, s: ClawSensorSample | None) -> None:
        """Before the first usable sample: hold any squeeze the joint stream already shows."""
        p = self.params
        try:
            fresh = t - s.squeeze_stamp_s <= p.stale_timeout_s and math.isfinite(s.squeeze_n)
        except (AttributeError, TypeError):
            return
        if fresh and c.safe_command_n == 0.0 and \
                s.squeeze_n > p.contact_force_n + p.effort_bias_max_n:
            c.safe_command_n = min(s.squeeze_n, self.max_n)   # once: no ratchet on noise

    def _recover(self, c: _Claw, t: float, s: ClawSensorSample, events: list) -> None:
        p = self.params
        prev = c.before_unknown
        raw_squeeze = s.squeeze_n - c.effort_bias_n
        c.squeeze_n = raw_squeeze
        c.force_n = [f - b for f, b in zip(s.wrench_force_xyz_n, c.wrench_bias_n)]
        c.load_n = math.sqrt(sum(f * f for f in c.force_n))
        c.load_peak_n = c.load_n
        c.position_m = s.joint_position_m
        c.cue_since_s = None
        c.low_since_s = None
        name = f'claw_controller: {c.name}'
        if prev is None:
            if s.squeeze_n > p.contact_force_n + p.effort_bias_max_n:
                # Found gripped (e.g. a robot that starts gripped): adopt it, never drop it.
                target = min(max(s.squeeze_n, p.min_grip_force_n), self.max_n)
                c.requested_n = c.target_n = c.ref_n = c.ref_seen_n = target
                c.command_n = c.safe_command_n = target
                c.grip_position_m = s.joint_position_m
                self._set_mode(c, ClawMode.GRIPPING, t)
                events.append((DIAG_OK, name, f'found gripped at {s.squeeze_n:.1f} N: adopted '
                                              '(not verified)'))
            else:
                self._set_mode(c, ClawMode.OPEN, t)
            return
        if prev is ClawMode.HOLDING and \
                c.grip_position_m - s.joint_position_m > p.slip_displacement_m:
            c.verified_n = 0.0
            prev = ClawMode.GRIPPING
            events.append((DIAG_WARN, name, 'claw moved while its sensors were lost: '
                                            'verification withdrawn'))
        if prev is ClawMode.SLIPPING:
            c.slip_quiet_since_s = t
            c.slip_anchor_m = s.joint_position_m
        self._set_mode(c, prev, t)
        events.append((DIAG_OK, name, f'sensors back: {prev.value}'))

    def _filter(self, c: _Claw, s: ClawSensorSample, dt: float) -> None:
        p = self.params
        a_e = _alpha(dt, p.effort_filter_time_constant_s)
        a_w = _alpha(dt, p.wrench_filter_time_constant_s)
        if c.mode is ClawMode.OPEN and c.command_n == 0.0:
            self._tare(c, s, dt)
        c.squeeze_n += a_e * (s.squeeze_n - c.effort_bias_n - c.squeeze_n)
        force = c.force_n
        bias = c.wrench_bias_n
        raw = s.wrench_force_xyz_n
        for i in range(3):
            force[i] += a_w * (raw[i] - bias[i] - force[i])
        c.load_n = math.sqrt(force[0] * force[0] + force[1] * force[1] + force[2] * force[2])
        c.position_m = s.joint_position_m

    def _tare(self, c: _Claw, s: ClawSensorSample, dt: float) -> None:
        """Learn the sensors' zero while the claw is open, unloaded and not commanded."""
        p = self.params
        a_tau = _alpha(dt, p.bias_tare_time_constant_s)
        if abs(s.squeeze_n) <= p.effort_bias_max_n:
            c.tare_count += 1
            a = max(a_tau, 1.0 / c.tare_count)
            c.effort_bias_n += a * (s.squeeze_n - c.effort_bias_n)
        raw = s.wrench_force_xyz_n
        if all(abs(f) <= p.wrench_bias_max_n for f in raw):
            c.wrench_tare_count += 1
            a = max(a_tau, 1.0 / c.wrench_tare_count)
            for i in range(3):
                c.wrench_bias_n[i] += a * (raw[i] - c.wrench_bias_n[i])

    def _grip_logic(self, c: _Claw, t: float, slips: list, events: list) -> None:
        p = self.params
        if c.mode is ClawMode.CLOSING:
            if c.squeeze_n >= p.contact_force_n:
                self._set_mode(c, ClawMode.CONTACT, t)
            elif c.position_m >= self.stroke_m - p.closed_margin_m:
                events.append((DIAG_WARN, f'claw_controller: {c.name}',
                               'closed on nothing: releasing'))
                self._release_empty(c, t)
                return
        elif c.mode in _SEATED and c.position_m >= self.stroke_m - p.closed_margin_m:
            # The fingers closed to their end: what they held is gone (a pad torn off, a
            # stone that came away). Nothing is held, whatever the squeeze reads.
            why = ''
            torn_at = max(c.pull_peak_n if c.verifying else c.load_peak_n, c.load_n)
            if c.verifying or c.mode is ClawMode.SLIPPING:
                # Torn off (by its pull test, or slipping): the next grip is tested below the
                # load it let go at, and counts as verified only if that test holds.
                c.tear_cap_n = p.holding_safety_factor * torn_at
                why = f' (torn off at {torn_at:.1f} N; next test at most {c.tear_cap_n:.1f} N)'
            events.append((DIAG_WARN, f'claw_controller: {c.name}',
                           f'grip lost (closed on nothing) in {c.mode.value}: releasing{why}'))
            slips.append(SlipEvent(t, c.name, SlipCause.GRIP_LOST,
                                   torn_at if c.verifying else c.load_n, c.verifying))
            self._release_empty(c, t)
            return
        if c.mode is ClawMode.CONTACT and self._at_force(c):
            c.grip_position_m = c.position_m
            c.load_peak_n = c.load_n
            self._set_mode(c, ClawMode.GRIPPING, t)
        if c.mode in (ClawMode.GRIPPING, ClawMode.HOLDING):
            if c.regrasps and t - c.last_slip_s >= p.retry_reset_s:
                c.regrasps = 0
            ratio = c.mode is ClawMode.HOLDING and not c.verifying
            cause = self._slip_cue(c, t, c.dt_s, ratio)
            if cause is not None:
                self._on_slip(c, t, cause, slips, events)
            elif c.verifying:
                self._pull_step(c, t, events)
            elif c.reverify_n > 0.0 and self._at_force(c):
                self._start_pull(c, t, c.reverify_n)
                c.reverify_n = 0.0
        elif c.mode is ClawMode.SLIPPING:
            self._slipping_step(c, t, slips, events)

    # --- slip -----------------------------------------------------------------------------

    def _slip_cue(self, c: _Claw, t: float, dt: float, ratio: bool) -> SlipCause | None:
        """Update the slip cues; return a cause once one has lasted ``slip_persist_s``."""
        cue = self._cues(c, dt, ratio)
        if cue is None:
            c.cue_since_s = None
            return None
        if c.cue_since_s is None:
            c.cue_since_s = t
        if t - c.cue_since_s >= self.params.slip_persist_s:
            c.cue_since_s = None
            return cue
        return None

    def _cues(self, c: _Claw, dt: float, ratio: bool) -> SlipCause | None:
        p = self.params
        # Displacement: the joint opened from the most-closed position of this grip; a
        # falling squeeze reference lets the claw open legitimately, so re-anchor then.
        if c.ref_n < c.target_n - 1e-9 or c.ref_falling:
            c.grip_position_m = c.position_m
        else:
            c.grip_position_m = max(c.grip_position_m, c.position_m)
        if c.grip_position_m - c.position_m > p.slip_displacement_m:
            return SlipCause.DISPLACEMENT
        if self._load_dropped(c, dt):
            return SlipCause.LOAD_DROP
        if ratio and self._ratio_exceeded(c):
            return SlipCause.FRICTION_RATIO
        return None

    def _load_dropped(self, c: _Claw, dt: float) -> bool:
        p = self.params
        if c.now_s < c.unload_until_s:
            c.load_peak_n = c.load_n   # the gait is taking a passed pull test's load off
            return False
        c.load_peak_n = max(c.load_n, c.load_peak_n - p.load_drop_rate_n_per_s * dt)
        peak = c.load_peak_n
        return peak >= p.load_drop_min_load_n and \
            peak - c.load_n > max(p.load_drop_min_n, p.load_drop_fraction * peak)

    def _grip_shear_n(self, c: _Claw) -> float:
        """Tangential load beyond what friction on the normal load carries: the grip's [N]."""
        fx, fy, fz = c.force_n
        return math.hypot(fx, fy) - self.params.friction_ratio_bound * max(fz, 0.0)

    def _ratio_exceeded(self, c: _Claw) -> bool:
        """Tangential load beyond the friction bound on the normal plus what the grip showed.

        What it showed: its verified holding, or the shear it has carried without slipping
        (an overload held). By more than ``pull_tolerance_n``, the band a test load counts
        as reached in: a grip loaded at what it showed is not overloaded by its noise.
        """
        return self._grip_shear_n(c) > max(c.verified_n, c.shear_shown_n) + \
            self.params.pull_tolerance_n

    def _on_slip(self, c: _Claw, t: float, cause: SlipCause, slips: list,
                 events: list) -> None:
        p = self.params
        load = max(c.load_peak_n, c.load_n)
        name = f'claw_controller: {c.name}'
        if c.verifying:
            load = max(load, c.pull_peak_n)
            slips.append(SlipEvent(t, c.name, cause, load, True))
            pull_n = c.pull_requested_n
            self._end_pull(c)
            c.verified_n = p.holding_safety_factor * load
            c.weak = True
            raised = False
            if c.pull_retries < p.pull_retries_max:
                raised = self._raise_target(c)
            if raised:
                c.pull_retries += 1
                c.reverify_n = pull_n
                what = f'regrasp at {c.target_n:.1f} N and re-test'
            else:
                c.pull_retries = 0
                c.reverify_n = 0.0
                c.tested_n = pull_n
                what = 'kept as a weak grip'
            events.append((DIAG_WARN, name,
                           f'pull test slipped ({cause.value}) at {load:.1f} N: verified '
                           f'{c.verified_n:.1f} N, {what}'))
            self._enter_slipping(c, t, by_ratio=False)
            return
        slips.append(SlipEvent(t, c.name, cause, load, False))
        if cause is SlipCause.FRICTION_RATIO:
            self._raise_target(c)
            events.append((DIAG_WARN, name, f'tangential load beyond friction and verified '
                                            f'grip at {load:.1f} N: squeeze {c.target_n:.1f} N'))
            self._enter_slipping(c, t, by_ratio=True)
            return
        c.weak = True
        c.verified_n = 0.0   # the grip that was tested has moved: untested until tested again
        if self._regrasp(c, t, f'slip ({cause.value}) at {load:.1f} N', events):
            self._enter_slipping(c, t, by_ratio=False)

    def _regrasp(self, c: _Claw, t: float, why: str, events: list) -> bool:
        """Count a regrasp and raise the squeeze; fail the claw beyond the retries."""
        c.regrasps += 1
        c.last_slip_s = t
        c.regrasp_at_s = t
        if c.regrasps > self.params.regrasp_retries_max:
            self._fail(c, t, f'{why}: {c.regrasps - 1} regrasps did not stop it', events)
            return False
        self._raise_target(c)
        events.append((DIAG_WARN, f'claw_controller: {c.name}',
                       f'{why}: regrasp {c.regrasps} at {c.target_n:.1f} N'))
        return True

    def _enter_slipping(self, c: _Claw, t: float, by_ratio: bool) -> None:
        c.slip_by_ratio = by_ratio
        c.slip_start_s = t
        c.regrasp_at_s = t
        c.slip_quiet_since_s = t
        c.slip_anchor_m = c.position_m
        c.overload_min_n = self._grip_shear_n(c)
        c.overload_pull_min_n = self._pull_off_n(c)
        c.cue_since_s = None
        self._set_mode(c, ClawMode.SLIPPING, t)

    def _slipping_step(self, c: _Claw, t: float, slips: list, events: list) -> None:
        p = self.params
        c.load_peak_n = max(c.load_n, c.load_peak_n - p.load_drop_rate_n_per_s * c.dt_s)
        if c.slip_by_ratio:
            moving = c.grip_position_m - c.position_m > p.slip_displacement_m
            if moving or self._load_dropped(c, 0.0):
                # The overload turned into a real slip.
                c.slip_by_ratio = False
                c.mode = ClawMode.HOLDING if c.verified_n > 0.0 else ClawMode.GRIPPING
                self._on_slip(c, t, SlipCause.DISPLACEMENT if moving else SlipCause.LOAD_DROP,
                              slips, events)
                return
            quiet = not self._ratio_exceeded(c)
            if not quiet:
                c.overload_min_n = min(c.overload_min_n, self._grip_shear_n(c))
            c.overload_pull_min_n = min(c.overload_pull_min_n, self._pull_off_n(c))
        else:
            moving = abs(c.position_m - c.slip_anchor_m) > 0.5 * p.slip_displacement_m
            if moving:
                c.slip_anchor_m = c.position_m
            dropping = c.load_peak_n - c.load_n > max(p.load_drop_min_n,
                                                      p.load_drop_fraction * c.load_peak_n)
            quiet = not moving and not dropping
        if not quiet:
            c.slip_quiet_since_s = t
            if not c.slip_by_ratio and self._at_force(c) and \
                    t - c.regrasp_at_s >= p.slip_clear_s:
                # Still slipping at the raised squeeze: regrasp again (bounded).
                if not self._regrasp(c, t, 'still slipping', events):
                    return
        if t - c.slip_quiet_since_s >= p.slip_clear_s and self._at_force(c):
            c.last_slip_s = t
            self._end_slip(c, t)
            if c.reverify_n > 0.0:
                self._start_pull(c, t, c.reverify_n)   # the re-test after a regrasp
                c.reverify_n = 0.0
        elif t - c.slip_start_s >= p.slip_timeout_s:
            if c.slip_by_ratio:
                self._overload_held(c, t, events)
            else:
                self._fail(c, t, f'still slipping after {p.slip_timeout_s:g} s', events)

    def _overload_held(self, c: _Claw, t: float, events: list) -> None:
        """End an overload that never moved the grip: it carries that shear, and no more.

        A tangential load beyond friction and the verified grip, carried for
        ``slip_timeout_s`` with the joint still and the load steady, was no slip: the least
        overload carried becomes shear the grip has shown, so the same load is no new slip
        cue. Shear says little of what the grip holds: friction under a pad pressed on the
        ground carries it too, and the never-detach rule counts the holding against a pull
        off. So the verification is raised only to the least pull-off load (``-z`` at the
        wrist) held throughout, a pull test the world ran for longer than ``pull_hold_s``,
        measured like one; never lowered. A real slip opens the joint or drops the load and
        is handled as one.
        """
        c.shear_shown_n = max(c.shear_shown_n, c.overload_min_n)
        c.verified_n = max(c.verified_n, c.overload_pull_min_n)
        self._end_slip(c, t)
        events.append((DIAG_OK, f'claw_controller: {c.name}',
                       f'overload held {self.params.slip_timeout_s:g} s without slipping: '
                       f'{c.shear_shown_n:.1f} N of shear and {c.overload_pull_min_n:.1f} N '
                       f'of pull-off carried, verified {c.verified_n:.1f} N'))

    @staticmethod
    def _pull_off_n(c: _Claw) -> float:
        """Load pulling the claw off the ground (``-z`` at the wrist, 0 when pressed) [N]."""
        return max(-c.force_n[2], 0.0)

    def _end_slip(self, c: _Claw, t: float) -> None:
        """Leave SLIPPING: the grip is where the joint is now, the load as it is now."""
        c.grip_position_m = c.position_m
        c.load_peak_n = c.load_n
        self._set_mode(c, ClawMode.HOLDING if c.verified_n > 0.0 else ClawMode.GRIPPING, t)

    def _raise_target(self, c: _Claw) -> bool:
        """Raise the squeeze target by one regrasp step within both limits; True if raised."""
        others = sum(o.target_n for o in self._claws if o is not c)
        new = min(c.target_n + self.params.regrasp_step_n, self.max_n,
                  self.total_max_n - others)
        if new > c.target_n + 1e-9:
            c.boost_n += new - c.target_n
            c.target_n = new
            return True
        return False

    # --- pull test ------------------------------------------------------------------------

    def _release_empty(self, c: _Claw, t: float) -> None:
        """Open a claw that holds nothing: no test, no verification; it opens fully first."""
        self._end_pull(c)
        c.verified_n = c.shear_shown_n = 0.0
        c.reverify_n = c.tested_n = 0.0
        c.requested_n = c.boost_n = c.target_n = 0.0
        c.emptied = True
        self._set_mode(c, ClawMode.RELEASING, t)

    def _set_pull_load(self, c: _Claw, load_n: float) -> None:
        """Set the load [N] the running (or starting) pull test builds and holds."""
        c.pull_requested_n = load_n
        c.pull_target_n = min(load_n, self.params.pull_test_max_load_n)

    def _start_pull(self, c: _Claw, t: float, load_n: float) -> None:
        c.pull_asked_n = load_n
        if c.tear_cap_n > 0.0:
            load_n = min(load_n, c.tear_cap_n)
        c.verifying = True
        self._set_pull_load(c, load_n)
        c.pull_start_s = t
        c.pull_hold_start_s = None
        c.pull_hold_min_n = 0.0
        c.pull_peak_n = c.load_n

    def _end_pull(self, c: _Claw) -> None:
        c.verifying = False
        c.pull_hold_start_s = None

    def _pull_step(self, c: _Claw, t: float, events: list) -> None:
        p = self.params
        load = c.load_n
        c.pull_peak_n = max(c.pull_peak_n, load)
        if load >= c.pull_target_n - p.pull_tolerance_n:
            if c.pull_hold_start_s is None:
                c.pull_hold_start_s = t
                c.pull_hold_min_n = load
            else:
                c.pull_hold_min_n = min(c.pull_hold_min_n, load)
            if t - c.pull_hold_start_s >= p.pull_hold_s:
                c.unload_until_s = t + p.unload_grace_s
                c.verified_n = c.pull_hold_min_n
                c.weak = c.pull_asked_n > c.pull_requested_n   # held only a lower test
                c.tear_cap_n = 0.0
                c.pull_retries = 0
                c.tested_n = c.pull_asked_n
                self._end_pull(c)
                self._set_mode(c, ClawMode.HOLDING, t)
                events.append((DIAG_OK, f'claw_controller: {c.name}',
                               f'grip verified: held {c.verified_n:.1f} N'))
                return
        else:
            c.pull_hold_start_s = None
        if t - c.pull_start_s >= p.pull_timeout_s:
            self._end_pull(c)
            events.append((DIAG_WARN, f'claw_controller: {c.name}',
                           f'pull test abandoned: load reached {c.pull_peak_n:.1f} of '
                           f'{c.pull_target_n:.1f} N in {p.pull_timeout_s:g} s'))

    # --- force regulation -------------------------------------------------------------------

    def _at_force(self, c: _Claw) -> bool:
        return abs(c.ref_n - c.target_n) < 1e-9 and \
            abs(c.squeeze_n - c.target_n) <= self.params.at_force_tolerance_n

    def _check_force(self, c: _Claw, t: float, events: list) -> None:
        """Fail a claw whose squeeze stays far below its reached reference (no force)."""
        p = self.params
        if c.mode is ClawMode.CLOSING:
            low = c.squeeze_n < p.contact_force_n
            what = 'no contact force'
        else:
            low = c.squeeze_n < c.target_n - p.force_fail_tolerance_n
            what = 'cannot reach force'
        if low and abs(c.ref_n - self._goal(c)) < 1e-9:
            if c.low_since_s is None:
                c.low_since_s = t
            elif t - c.low_since_s > p.force_timeout_s:
                self._fail(c, t, f'{what}: squeeze {c.squeeze_n:.1f} N of {c.target_n:.1f} N '
                                 f'with command {c.command_n:.1f} N', events)
        else:
            c.low_since_s = None

    def _goal(self, c: _Claw) -> float:
        """Where the reference ramps to: a light closing force until contact, then the target."""
        if c.mode is ClawMode.CLOSING:
            return min(c.target_n, self.params.closing_force_n)
        return c.target_n

    def _regulate(self, c: _Claw, dt: float) -> None:
        """Feedforward (lag and friction) + PI on the rate-limited reference, anti-windup."""
        p = self.params
        step = p.force_rate_max_n_per_s * dt
        goal = self._goal(c)
        delta = goal - c.ref_n
        if delta > step:
            c.ref_n += step
            rate = p.force_rate_max_n_per_s
        elif delta < -step:
            c.ref_n -= step
            rate = -p.force_rate_max_n_per_s
        else:
            c.ref_n = goal
            rate = delta / dt if dt > 0.0 else 0.0
        c.ref_falling = rate < 0.0
        # Compare like with like: the reference through the measurement's own filter.
        c.ref_seen_n += _alpha(dt, p.effort_filter_time_constant_s) * (c.ref_n - c.ref_seen_n)
        error = c.ref_seen_n - c.squeeze_n
        feedforward = c.ref_n + p.lead_compensation * self.lag_s * rate
        if rate:
            feedforward += math.copysign(p.friction_compensation * self.friction_n, rate)
        command = feedforward + p.kp * error + c.integral_n
        saturated_high = command >= self.max_n and error > 0.0
        saturated_low = command <= 0.0 and error < 0.0
        if dt > 0.0 and not saturated_high and not saturated_low:
            limit = p.integral_limit_n
            c.integral_n = min(max(c.integral_n + p.ki_per_s * error * dt, -limit), limit)
        c.command_n = min(max(command, 0.0), self.max_n)

    def _final_commands(self, events: list) -> tuple:
        """Clamp every command to 0..max per claw and scale to the total limit."""
        out = []
        for c in self._claws:
            value = c.command_n
            if not math.isfinite(value):
                value = c.safe_command_n if math.isfinite(c.safe_command_n) else 0.0
            out.append(min(max(value, 0.0), self.max_n))
        total = sum(out)
        if total > self.total_max_n:
            scale = self.total_max_n / total
            out = [v * scale for v in out]
            events.append((DIAG_WARN, 'claw_controller',
                           f'squeeze commands {total:.1f} N in total scaled to '
                           f'{self.total_max_n:g} N'))
        for c, value in zip(self._claws, out):
            c.command_n = value
            if c.mode is not ClawMode.UNKNOWN:
                c.safe_command_n = value
        return tuple(out)

    # --- helpers --------------------------------------------------------------------------

    def _start_grip(self, c: _Claw, t: float, target_n: float) -> None:
        c.requested_n = c.target_n = target_n
        # Gripping again after a pull test tore the grip off: squeeze harder (a regrasp).
        c.boost_n = self.params.regrasp_step_n if c.tear_cap_n > 0.0 else 0.0
        c.ref_n = c.ref_seen_n = max(c.squeeze_n, 0.0)
        c.integral_n = 0.0
        c.low_since_s = None
        c.verified_n = c.shear_shown_n = 0.0
        c.weak = False
        c.pull_retries = 0
        c.reverify_n = c.tested_n = 0.0
        self._set_mode(c, ClawMode.CONTACT if c.squeeze_n >= self.params.contact_force_n
                       else ClawMode.CLOSING, t)

    def _fail(self, c: _Claw, t: float, why: str, events: list) -> None:
        self._end_pull(c)
        c.verified_n = 0.0
        c.reverify_n = 0.0
        c.status = f'{why}; command kept at {c.command_n:.1f} N'
        c.status_level = DIAG_ERROR
        self._set_mode(c, ClawMode.FAILED, t)
        events.append((DIAG_ERROR, f'claw_controller: {c.name}', f'failed: {why}'))

    @staticmethod
    def _set_mode(c: _Claw, mode: ClawMode, t: float) -> None:
        c.mode = mode
        c.mode_since_s = t

    def _state(self, c: _Claw) -> ClawState:
        verified = c.verified_n if c.mode is ClawMode.HOLDING else 0.0
        return ClawState(c.name, c.mode, c.squeeze_n, c.target_n, c.command_n, verified,
                         c.weak, c.verifying or c.reverify_n > 0.0, c.load_n, c.regrasps)


def _alpha(dt: float, tau: float) -> float:
    """Weight of a new sample in a first-order low-pass of time constant ``tau`` [s]."""
    if tau <= 0.0:
        return 1.0
    if dt <= 0.0:
        return 0.0
    return 1.0 - math.exp(-dt / tau)
