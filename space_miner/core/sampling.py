# SPDX-License-Identifier: Apache-2.0
"""The sampling sequence: site check, anchor, deploy, drill and collect, stow, verify.

A pure state machine (no ROS), stepped with an explicit time [s] and a
:class:`SamplingInputs` snapshot; each step returns a :class:`SamplingOutput` with the feed
position command [m], the feed force set point [N] (the reaction the robot must hold), the
drill speed [rad/s], the lid command, the gait request, a :class:`SamplingStatus` and the
events for the log::

    IDLE -> SITE_CHECK -> ANCHOR -> DEPLOY -> DRILL -> CLOSE_LID -> STOW -> VERIFY -> DONE
                 any active phase --abort--> ABORTING (retract) -> retry | FAILED | ABORTED

Interlocks (DESIGN.md section 5, the never-detach rule):

- no verified anchor (gait mode ``anchor`` and at least ``min_anchor_claws`` verified,
  non-slipping claws) -> no deploy, no feed force and no drill;
- the feed force, whose reaction the claws carry, stays at most the verified holding force
  of the non-slipping claws divided by ``safety_factor`` (2); a measured feed force above
  that stops the feed at once; a budget below ``min_feed_force_n`` stops feed and drill;
- any slip cuts the feed force at once to ``slip_feed_factor`` of its value; a slip that
  lasts ``slip_abort_s``, too many slips, or too few claws left holding abort the attempt;
- an abort, whatever its cause, retracts the sampler, stops the drill, closes the lid and
  keeps every grip: the only gait requests this module can make are ``anchor`` and ``hold``
  (:class:`GaitRequest`), never a release. A fault latches ``hold``;
- a gait in ``hold`` it did not ask for (a watchdog tripped by a stale sensor, a claw
  failure) pauses the sequence as e-stop freezes it — drill stopped, feed held where it
  is, no timeout running — and the sequence resumes if the gait leaves ``hold`` within
  ``gait_hold_grace_s``; a longer hold is a fault. A watchdog trip of a second on a loaded
  machine is no reason to give up a site; every interlock is judged again on resuming.

Retries are bounded by ``max_attempts`` (OSIRIS-REx budgeted three); then FAILED with the
reason. Non-finite inputs (mass, holding force, feed position, pose) are refused, reported
as events and in ``status.input_faults``, and never used: a claw with a non-finite holding
force counts as not verified.

The drill rates per terrain kind are read from ``config/terrain.yaml``
(:func:`load_drill_rates`); :func:`predict_collection_rate_g_s` is the shared model:
linear in feed force and drill speed up to the sampler's limits.
"""

from dataclasses import dataclass, field, fields
import enum
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import yaml

from space_miner.core.params import check_number, parse_params, read_yaml
from space_miner.core.robot import (ConfigError, SAMPLER_DRILL_HW_MAX_RAD_S,
                                    SAMPLER_FEED_FORCE_HW_MAX_N, SamplerConfig)

NODE_NAME = 'sampler'

#: Reference conditions of DESIGN.md section 6's drill-rate column, used when
#: ``config/terrain.yaml`` does not state them (they define the table, they are not tunables).
DESIGN_DRILL_REF_FEED_N = 50.0
DESIGN_DRILL_REF_SPEED_RAD_S = 10.0


# --- Parameters -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SamplingParams:
    """A frozen snapshot of the sampling parameters (units in the names).

    Meanings are documented beside each key in ``config/sampler.yaml``, the only place
    holding the defaults; :data:`PARAM_RANGES` gives the accepted range of each.
    """

    target_mass_g: float
    max_attempts: int
    collect_margin_g: float
    safety_factor: float
    min_anchor_claws: int
    min_feed_force_n: float
    reaction_tolerance_n: float
    slip_feed_factor: float
    slip_abort_s: float
    slip_max_count: int
    gait_hold_grace_s: float
    feed_force_n: float
    approach_force_n: float
    feed_force_rate_n_per_s: float
    feed_speed_m_s: float
    contact_force_n: float
    contact_lag_m: float
    stow_tolerance_m: float
    drill_speed_rad_s: float
    collect_max_s: float
    drill_stall_s: float
    stall_mass_step_g: float
    site_reach_m: float
    site_check_timeout_s: float
    anchor_timeout_s: float
    deploy_timeout_s: float
    lid_close_s: float
    lid_timeout_s: float
    stow_timeout_s: float
    verify_settle_s: float
    verify_timeout_s: float


#: Accepted range [low, high] of every parameter (inclusive).
PARAM_RANGES: Mapping[str, tuple] = MappingProxyType({
    'target_mass_g': (0.1, 10000.0),
    'max_attempts': (1, 20),
    'collect_margin_g': (0.0, 1000.0),
    'safety_factor': (2.0, 10.0),
    'min_anchor_claws': (2, 3),
    'min_feed_force_n': (0.0, SAMPLER_FEED_FORCE_HW_MAX_N),
    'reaction_tolerance_n': (0.0, 50.0),
    'slip_feed_factor': (0.0, 0.9),
    'slip_abort_s': (0.0, 60.0),
    'slip_max_count': (0, 100),
    'gait_hold_grace_s': (0.0, 600.0),
    'feed_force_n': (1.0, SAMPLER_FEED_FORCE_HW_MAX_N),
    'approach_force_n': (1.0, SAMPLER_FEED_FORCE_HW_MAX_N),
    'feed_force_rate_n_per_s': (1.0, 1.0e5),
    'feed_speed_m_s': (1.0e-4, 1.0),
    'contact_force_n': (0.1, SAMPLER_FEED_FORCE_HW_MAX_N),
    'contact_lag_m': (1.0e-6, 0.05),
    'stow_tolerance_m': (1.0e-5, 0.05),
    'drill_speed_rad_s': (0.1, SAMPLER_DRILL_HW_MAX_RAD_S),
    'collect_max_s': (0.1, 3600.0),
    'drill_stall_s': (0.1, 3600.0),
    'stall_mass_step_g': (0.0, 100.0),
    'site_reach_m': (0.0, 2.0),
    'site_check_timeout_s': (0.0, 3600.0),
    'anchor_timeout_s': (0.1, 3600.0),
    'deploy_timeout_s': (0.1, 3600.0),
    'lid_close_s': (0.0, 60.0),
    'lid_timeout_s': (0.1, 600.0),
    'stow_timeout_s': (0.1, 3600.0),
    'verify_settle_s': (0.0, 600.0),
    'verify_timeout_s': (0.1, 3600.0),
})


def parse_sampling_params(data: Any, source: str = 'sampler.yaml') -> SamplingParams:
    """Check a parsed parameter file (or a flat mapping of values) and build the params.

    ``data`` is either the whole file (``{sampler: {ros__parameters: {...}}}``) or the flat
    ``ros__parameters`` mapping. Unknown, missing and out-of-range keys raise
    :class:`ConfigError` naming the key.
    """
    params = parse_params(SamplingParams, data, NODE_NAME, PARAM_RANGES, source)
    _cross_check(params, source)
    return params


def _cross_check(p: SamplingParams, source: str) -> None:
    if p.min_feed_force_n > p.feed_force_n:
        raise ConfigError('min_feed_force_n', p.min_feed_force_n,
                          f'must not be above feed_force_n {p.feed_force_n:g}', source)
    if p.contact_force_n >= p.approach_force_n:
        raise ConfigError('contact_force_n', p.contact_force_n,
                          f'must be below approach_force_n {p.approach_force_n:g}', source)
    if p.lid_close_s > p.lid_timeout_s:
        raise ConfigError('lid_close_s', p.lid_close_s,
                          f'must not be above lid_timeout_s {p.lid_timeout_s:g}', source)
    if p.verify_settle_s >= p.verify_timeout_s:
        raise ConfigError('verify_settle_s', p.verify_settle_s,
                          f'must be below verify_timeout_s {p.verify_timeout_s:g}', source)


def check_params_against_sampler(params: SamplingParams, sampler: SamplerConfig,
                                 source: str = 'sampler.yaml') -> None:
    """Refuse parameters beyond the sampler hardware of ``config/robot.yaml``."""
    checks = (
        ('feed_force_n', params.feed_force_n, sampler.feed_force_max_n),
        ('approach_force_n', params.approach_force_n, sampler.feed_force_max_n),
        ('drill_speed_rad_s', params.drill_speed_rad_s, sampler.drill_velocity_max_rad_s),
        ('feed_speed_m_s', params.feed_speed_m_s, sampler.feed_velocity_m_s),
        ('target_mass_g', params.target_mass_g + params.collect_margin_g,
         sampler.container_capacity_g),
    )
    for key, value, limit in checks:
        if value > limit:
            raise ConfigError(key, value, f'above the sampler limit {limit:g} of robot.yaml',
                              source)
    lead_m = params.approach_force_n / sampler.feed_stiffness_n_per_m
    if params.contact_lag_m >= lead_m:
        raise ConfigError('contact_lag_m', params.contact_lag_m,
                          f'must be below approach_force_n / robot.yaml\'s sampler '
                          f'feed_stiffness_n_per_m = {lead_m:g} m (the largest lead while '
                          'approaching)', source)


def load_sampling_params(path: str | Path | None = None) -> SamplingParams:
    """Load and check ``config/sampler.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('sampler.yaml')
    return parse_sampling_params(read_yaml(path), str(path))


def sampling_params_to_dict(params: SamplingParams) -> dict:
    """Return the flat ``ros__parameters`` mapping of ``params``."""
    return {f.name: getattr(params, f.name) for f in fields(SamplingParams)}


# --- Drill rates and the collection model ---------------------------------------------------

@dataclass(frozen=True)
class DrillRates:
    """Collection rates [g/s] per terrain kind at a reference feed force [N] and speed [rad/s].

    The figures of DESIGN.md section 6, as ``config/terrain.yaml`` holds them.
    """

    ref_feed_n: float
    ref_speed_rad_s: float
    rate_g_s: Mapping[str, float]

    @property
    def kinds(self) -> tuple:
        """Terrain kinds with a rate."""
        return tuple(self.rate_g_s)


def _lookup(data: Any, *paths: str) -> Any:
    """Return the value at the first dotted path present in ``data``, else ``KeyError``."""
    for path in paths:
        node = data
        for part in path.split('.'):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return node
    raise KeyError(paths[0])


def parse_drill_rates(data: Any, source: str = 'terrain.yaml') -> DrillRates:
    """Read the drill rates out of a parsed terrain file, tolerant of its layout.

    Each kind's rate is looked up as ``kinds.<kind>.drill_rate_g_s``, then
    ``<kind>.drill_rate_g_s``, then ``drill_rate_g_s.<kind>``. The reference conditions
    ``drill_ref_feed_n`` and ``drill_ref_speed_rad_s`` default to DESIGN.md's 50 N and
    10 rad/s. A kind without a rate, or a rate that is not a finite non-negative number,
    raises :class:`ConfigError` naming the key.
    """
    if not isinstance(data, Mapping):
        raise ConfigError('<file>', data, 'must be a mapping', source)
    kinds_node = data.get('kinds')
    if isinstance(kinds_node, Mapping):
        kinds = [str(k) for k in kinds_node]
    elif isinstance(data.get('drill_rate_g_s'), Mapping):
        kinds = [str(k) for k in data['drill_rate_g_s']]
    else:
        kinds = [str(k) for k, v in data.items() if isinstance(v, Mapping)]
    if not kinds:
        raise ConfigError('kinds', None, 'missing key (no terrain kinds)', source)
    rates = {}
    for kind in kinds:
        key = f'kinds.{kind}.drill_rate_g_s'
        try:
            value = _lookup(data, key, f'{kind}.drill_rate_g_s', f'drill_rate_g_s.{kind}')
        except KeyError:
            raise ConfigError(key, None, 'missing key (drill rate of this kind)',
                              source) from None
        rates[kind] = check_number(key, value, 0.0, 1.0e6, False, source)
    refs = []
    for key, default in (('drill_ref_feed_n', DESIGN_DRILL_REF_FEED_N),
                         ('drill_ref_speed_rad_s', DESIGN_DRILL_REF_SPEED_RAD_S)):
        value = data.get(key, default)
        refs.append(check_number(key, value, 1.0e-6, 1.0e6, False, source))
    return DrillRates(ref_feed_n=refs[0], ref_speed_rad_s=refs[1],
                      rate_g_s=MappingProxyType(rates))


def load_drill_rates(path: str | Path | None = None) -> DrillRates:
    """Load the drill rates from ``config/terrain.yaml`` (or the file at ``path``).

    A missing file or key raises :class:`ConfigError` saying which.
    """
    if path is None:
        from space_miner.paths import config_path
        path = config_path('terrain.yaml')
    path = Path(path)
    if not path.is_file():
        raise ConfigError('<file>', str(path), 'terrain file not found (drill rates)', str(path))
    try:
        with open(path, encoding='utf-8') as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as err:
        raise ConfigError('<file>', str(path), f'not valid YAML: {err}', str(path)) from err
    return parse_drill_rates(data, str(path))


def predict_collection_rate_g_s(rates: DrillRates, kind: str, feed_force_n: float,
                                drill_speed_rad_s: float, *,
                                feed_force_max_n: float = SAMPLER_FEED_FORCE_HW_MAX_N,
                                drill_speed_max_rad_s: float = SAMPLER_DRILL_HW_MAX_RAD_S
                                ) -> float:
    """Predict the collection rate [g/s] on ``kind`` at a feed force [N] and drill speed [rad/s].

    Linear in both, from the kind's rate at the reference conditions; the feed force is
    clipped to [0, ``feed_force_max_n``] and the speed to [0, ``drill_speed_max_rad_s``]
    (the sampler's limits). Raises ``KeyError`` for an unknown kind and ``ValueError`` for
    a non-finite input.
    """
    if not (math.isfinite(feed_force_n) and math.isfinite(drill_speed_rad_s)):
        raise ValueError(f'non-finite feed force {feed_force_n!r} N or drill speed '
                         f'{drill_speed_rad_s!r} rad/s')
    if kind not in rates.rate_g_s:
        raise KeyError(f'no drill rate for terrain kind {kind!r} (known: {rates.kinds})')
    force = min(max(feed_force_n, 0.0), feed_force_max_n)
    speed = min(max(drill_speed_rad_s, 0.0), drill_speed_max_rad_s)
    return (rates.rate_g_s[kind] * (force / rates.ref_feed_n)
            * (speed / rates.ref_speed_rad_s))


def predict_collection_time_s(rates: DrillRates, kind: str, mass_g: float, feed_force_n: float,
                              drill_speed_rad_s: float) -> float:
    """Predict the time [s] to collect ``mass_g`` [g]; ``math.inf`` when the rate is zero."""
    rate = predict_collection_rate_g_s(rates, kind, feed_force_n, drill_speed_rad_s)
    return mass_g / rate if rate > 0.0 else math.inf


# --- Inputs and outputs ---------------------------------------------------------------------

class SamplingPhase(str, enum.Enum):
    """Phase of the sampling sequence."""

    IDLE = 'idle'
    SITE_CHECK = 'site_check'
    ANCHOR = 'anchor'
    DEPLOY = 'deploy'
    DRILL = 'drill'
    CLOSE_LID = 'close_lid'
    STOW = 'stow'
    VERIFY = 'verify'
    ABORTING = 'aborting'
    DONE = 'done'
    FAILED = 'failed'
    ABORTED = 'aborted'


#: Phases in which a sequence is running (an abort applies).
ACTIVE_PHASES = frozenset({
    SamplingPhase.SITE_CHECK, SamplingPhase.ANCHOR, SamplingPhase.DEPLOY, SamplingPhase.DRILL,
    SamplingPhase.CLOSE_LID, SamplingPhase.STOW, SamplingPhase.VERIFY, SamplingPhase.ABORTING})
#: Phases a sequence ends in.
TERMINAL_PHASES = frozenset({SamplingPhase.DONE, SamplingPhase.FAILED, SamplingPhase.ABORTED})


class LidCommand(str, enum.Enum):
    """Command to the container's lid."""

    OPEN = 'open'
    CLOSED = 'closed'


class GaitRequest(str, enum.Enum):
    """What the sampler may ask of the gait capability: both keep every grip.

    Values are those of ``/gait/request``. There is deliberately no member that releases a
    claw: the sampler can never ask for one.
    """

    ANCHOR = 'anchor'
    HOLD = 'hold'


class AbortCause(str, enum.Enum):
    """Why an attempt ended other than in success."""

    OPERATOR = 'operator'
    FAULT = 'fault'
    SLIP = 'slip'
    HOLDING_LOST = 'holding_lost'
    TIMEOUT = 'timeout'
    INVALID_INPUT = 'invalid_input'
    NO_CONTACT = 'no_contact'
    LOW_MASS = 'low_mass'
    SITE_REJECTED = 'site_rejected'
    STUCK = 'stuck'


#: Causes after which another attempt may be made (when the budget allows).
RETRYABLE_CAUSES = frozenset({AbortCause.SLIP, AbortCause.HOLDING_LOST, AbortCause.TIMEOUT,
                              AbortCause.INVALID_INPUT, AbortCause.NO_CONTACT,
                              AbortCause.LOW_MASS})


class AttemptOutcome(str, enum.Enum):
    """How one attempt ended (the sample log's ``outcome``)."""

    SUCCESS = 'success'
    FAILED = 'failed'
    ABORTED = 'aborted'
    REJECTED = 'rejected'


class EventLevel(str, enum.Enum):
    """Severity of a :class:`SamplingEvent`."""

    DEBUG = 'debug'
    INFO = 'info'
    WARN = 'warn'
    ERROR = 'error'


@dataclass(frozen=True)
class ClawHold:
    """One claw as the claw capability reports it.

    ``holding_force_n`` [N] is the verified holding force (shown by a pull test); it only
    counts when ``verified`` is true and ``slipping`` is false.
    """

    claw: str
    verified: bool
    holding_force_n: float
    slipping: bool = False


@dataclass(frozen=True)
class SiteVerdict:
    """The terrain capability's verdict on the sampling site: sampleable, and its kind."""

    sampleable: bool
    kind: str
    reason: str = ''


@dataclass(frozen=True)
class SamplingInputs:
    """Everything one step reads.

    ``feed_position_m`` [m] is the measured feed extension (0 stowed, positive down);
    ``mass_kg`` [kg] the load cell; ``feed_force_n`` [N] the measured feed force, if known;
    ``lid_closed`` the lid's state, if reported; ``body_xy_m`` [m] and ``body_yaw_rad``
    [rad] the body pose in the frame of the site; ``gait_mode`` the gait capability's
    current mode (``hold`` pauses the sequence, see the module docstring); ``fault`` a
    non-empty description of an active fault, which aborts the attempt;
    ``estop`` the operator's e-stop (DESIGN.md: stop motion, keep every grip): the attempt
    aborts, but while it lasts the sampler freezes — drill stopped, feed held where it is,
    no retraction — and the abort's retraction (and its timeout) starts once it clears.
    """

    feed_position_m: float
    mass_kg: float
    claws: tuple = ()
    gait_mode: str | None = None
    site: SiteVerdict | None = None
    body_xy_m: tuple = (0.0, 0.0)
    body_yaw_rad: float = 0.0
    feed_force_n: float | None = None
    lid_closed: bool | None = None
    fault: str = ''
    estop: bool = False


@dataclass(frozen=True)
class SamplingEvent:
    """One line for the log: time [s], severity, text."""

    t_s: float
    level: EventLevel
    text: str


@dataclass(frozen=True)
class AttemptResult:
    """One finished attempt: what the sample log records.

    ``mass_g`` is the container's mass at the end [g], ``collected_g`` what this attempt
    added [g], ``depth_m`` the deepest the bit went below contact [m]; ``cause`` why it
    ended, ``None`` on success.
    """

    attempt: int
    t_start_s: float
    t_end_s: float
    site_xy_m: tuple
    terrain_kind: str
    mass_g: float
    collected_g: float
    depth_m: float
    outcome: AttemptOutcome
    reason: str
    cause: AbortCause | None = None

    @property
    def duration_s(self) -> float:
        """Duration of the attempt [s]."""
        return self.t_end_s - self.t_start_s


@dataclass(frozen=True)
class SamplingStatus:
    """The sequence's state, as the latched status topic carries it."""

    phase: SamplingPhase
    attempt: int
    max_attempts: int
    mass_g: float
    target_g: float
    reason: str
    terrain_kind: str = ''
    site_xy_m: tuple | None = None
    feed_force_n: float = 0.0
    holding_budget_n: float = 0.0
    input_faults: tuple = ()
    #: Changes of the feed's force limit in this run (limited by the budget, stopped or
    #: reduced on the measured force, budget too low): the force control at work.
    feed_limit_changes: int = 0


@dataclass(frozen=True)
class SamplingOutput:
    """Commands and status of one step.

    ``feed_position_m`` [m] and ``drill_speed_rad_s`` [rad/s] go to the sampler's
    controllers; ``feed_force_n`` [N] is the feed force set point, i.e. the reaction load
    the claws carry (for the force-limited feed and the harness's holding margin);
    ``gait_request`` is ``None`` when the sampler asks nothing (the gait capability keeps
    its mode; it is never a release).
    """

    feed_position_m: float
    feed_force_n: float
    drill_speed_rad_s: float
    lid: LidCommand
    gait_request: GaitRequest | None
    status: SamplingStatus
    events: tuple = ()
    attempt_results: tuple = field(default=())


@dataclass(frozen=True)
class _Clean:
    """Inputs after refusal of non-finite values (None where refused or absent)."""

    feed_position_m: float | None
    mass_g: float | None
    feed_force_n: float | None
    body_xy_m: tuple | None
    body_yaw_rad: float | None
    holding_sum_n: float
    holding_claws: int
    slipping: tuple
    gait_mode: str | None
    site: SiteVerdict | None
    lid_closed: bool | None
    fault: str
    estop: bool = False


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


# --- The sequence ---------------------------------------------------------------------------

class SamplingSequence:
    """The sampling state machine. See the module docstring for phases and interlocks.

    Use: ``start(t_s, site_xy_m)``, then ``step(t_s, inputs)`` at the control rate; call
    ``abort(t_s)`` at any time. The caller appends each ``attempt_results`` entry of an
    output to the sample log.
    """

    def __init__(self, params: SamplingParams, sampler: SamplerConfig,
                 rates: DrillRates) -> None:
        check_params_against_sampler(params, sampler)
        self.params = params
        self.sampler = sampler
        self.rates = rates
        self._events: list = []
        self._results: list = []
        self._input_faults: tuple = ()
        #: Inputs (field names) that have been valid at least once.
        self._inputs_valid_once: set = set()
        self._mass_g = 0.0
        self._last_t_s: float | None = None
        self._hold_latched = False
        self._last_lid = LidCommand.CLOSED
        self._frozen_feed_m: float | None = None
        self._gait_hold_since_s: float | None = None
        self._reset_run()
        self._phase = SamplingPhase.IDLE
        self._reason = ''

    # --- public API ---

    @property
    def phase(self) -> SamplingPhase:
        """Current phase."""
        return self._phase

    @property
    def active(self) -> bool:
        """Whether a sequence is running."""
        return self._phase in ACTIVE_PHASES

    def status(self) -> SamplingStatus:
        """Return the current status."""
        return SamplingStatus(
            phase=self._phase, attempt=self._attempt, max_attempts=self.params.max_attempts,
            mass_g=self._mass_g, target_g=self._target_g, reason=self._reason,
            terrain_kind=self._kind, site_xy_m=self._site_xy_m,
            feed_force_n=self._feed_force_n, holding_budget_n=self._budget_n,
            input_faults=self._input_faults, feed_limit_changes=self._limit_changes)

    def start(self, t_s: float, site_xy_m: Sequence[float],
              target_g: float | None = None) -> tuple:
        """Start a sequence at ``site_xy_m`` [m] toward ``target_g`` [g] (default: params).

        Returns ``(accepted, message)``, as a ``std_srvs/Trigger`` response carries it.
        Refused while a sequence runs, or for a non-finite site or target.
        """
        if self.active:
            return False, f'sampling already running (phase {self._phase.value})'
        if not _finite(t_s):
            return False, f'non-finite time {t_s!r}'
        try:
            site = tuple(float(v) for v in site_xy_m)
        except (TypeError, ValueError):
            return False, f'site must be two numbers [m], got {site_xy_m!r}'
        if len(site) != 2 or not all(math.isfinite(v) for v in site):
            return False, f'site must be two finite numbers [m], got {site_xy_m!r}'
        target = self.params.target_mass_g if target_g is None else target_g
        if not _finite(target) or target <= 0.0 \
                or target + self.params.collect_margin_g > self.sampler.container_capacity_g:
            return False, (f'target {target!r} g refused (positive, and with the margin '
                           f'within the container capacity '
                           f'{self.sampler.container_capacity_g:g} g)')
        self._reset_run()
        self._hold_latched = False
        self._site_xy_m = site
        self._target_g = float(target)
        self._attempt = 1
        self._reason = ''
        self._begin_attempt(t_s)
        self._event(t_s, EventLevel.INFO,
                    f'sampling started at site ({site[0]:.3f}, {site[1]:.3f}) m, '
                    f'target {self._target_g:g} g')
        return True, 'sampling started'

    def abort(self, t_s: float, reason: str = 'operator request') -> tuple:
        """Abort the running sequence: retract, keep every grip, end as ABORTED.

        Returns ``(accepted, message)``.
        """
        if not self.active:
            return False, f'nothing to abort (phase {self._phase.value})'
        self._begin_abort(t_s, AbortCause.OPERATOR, f'aborted: {reason}')
        return True, 'aborting: retracting the sampler, keeping every grip'

    def step(self, t_s: float, inputs: SamplingInputs) -> SamplingOutput:
        """Advance to time ``t_s`` [s] with ``inputs`` and return the commands.

        Raises ``ValueError`` for a non-finite time; a time earlier than the last step is
        treated as no time passing.
        """
        if not _finite(t_s):
            raise ValueError(f'non-finite time {t_s!r}')
        dt = 0.0 if self._last_t_s is None else max(0.0, t_s - self._last_t_s)
        if self._last_t_s is not None and t_s < self._last_t_s:
            self._event(t_s, EventLevel.WARN, f'time went back from {self._last_t_s:g} s '
                        f'to {t_s:g} s; treated as no time passing')
        self._last_t_s = t_s if self._last_t_s is None else max(t_s, self._last_t_s)
        clean = self._clean(t_s, inputs)
        if clean.mass_g is not None:
            self._mass_g = clean.mass_g
        fault = clean.fault or ('e-stop' if clean.estop else '')
        if fault and self.active and not (
                self._phase is SamplingPhase.ABORTING and self._hold_latched):
            self._begin_abort(t_s, AbortCause.FAULT, f'fault: {fault}')
        if clean.estop and self.active:
            return self._frozen(t_s, clean)
        if self._gait_hold_pauses(t_s, clean):
            self._phase_t0_s += dt   # the phase's clock stops while paused
            return self._frozen(t_s, clean, restart_clock=False)
        self._frozen_feed_m = None
        self._transition(t_s, clean)
        return self._command(t_s, dt, clean)

    def _gait_hold_pauses(self, t_s: float, c: _Clean) -> bool:
        """Whether a gait ``hold`` the sequence did not ask for pauses it at ``t_s``.

        A hold that outlasts ``gait_hold_grace_s`` aborts the attempt as a fault (which
        latches ``hold``: from then on the hold is the sequence's own and pauses nothing).
        """
        since = self._gait_hold_since_s
        if not (self.active and c.gait_mode == GaitRequest.HOLD.value
                and not self._hold_latched):
            if since is not None and self.active:
                self._event(t_s, EventLevel.INFO, f'gait left hold after {t_s - since:.2f} s: '
                                                  f'sequence resumed')
            self._gait_hold_since_s = None
            return False
        if since is None:
            self._gait_hold_since_s = since = t_s
            self._event(t_s, EventLevel.WARN,
                        f'gait in hold: sequence paused (drill stopped, feed held, every grip '
                        f'kept) for at most {self.params.gait_hold_grace_s:g} s')
        if t_s - since < self.params.gait_hold_grace_s:
            return True
        self._gait_hold_since_s = None
        self._begin_abort(t_s, AbortCause.FAULT, f'fault: gait in hold for {t_s - since:.1f} s')
        return False

    def _frozen(self, t_s: float, c: _Clean, restart_clock: bool = True) -> SamplingOutput:
        """Drill stopped, feed held where it is, lid as it was; no timeout runs.

        E-stop restarts the phase's clock (the retraction gets its whole timeout once it
        clears); a pause (``restart_clock`` False) has stopped it.
        """
        if restart_clock:
            self._phase_t0_s = t_s
        if self._frozen_feed_m is None:   # held where it is at the onset: no force, no move
            position = self._feed_cmd_m if c.feed_position_m is None else c.feed_position_m
            self._frozen_feed_m = max(0.0, min(position, self._feed_cmd_m,
                                               self.sampler.feed_stroke_m))
        self._feed_cmd_m = self._frozen_feed_m
        self._feed_force_n = 0.0
        events, self._events = tuple(self._events), []
        results, self._results = tuple(self._results), []
        return SamplingOutput(feed_position_m=self._feed_cmd_m, feed_force_n=0.0,
                              drill_speed_rad_s=0.0, lid=self._last_lid,
                              gait_request=self._gait_request(), status=self.status(),
                              events=events, attempt_results=results)

    # --- internals: bookkeeping ---

    def _reset_run(self) -> None:
        self._phase = SamplingPhase.IDLE
        self._phase_t0_s = 0.0
        self._attempt = 0
        self._site_xy_m: tuple | None = None
        self._target_g = self.params.target_mass_g
        self._kind = ''
        self._anchor_requested = False
        self._abort: tuple | None = None
        self._feed_cmd_m = 0.0
        self._feed_force_n = 0.0
        self._budget_n = 0.0
        self._attempt_t0_s = 0.0
        self._attempt_mass0_g = 0.0
        self._contact_m = 0.0
        self._depth_m = 0.0
        self._slip_since_s: float | None = None
        self._slip_count = 0
        self._best_mass_g = 0.0
        self._gain_t_s = 0.0
        self._limit_state = ''
        self._limit_changes = 0
        self._limits_told: set = set()

    def _event(self, t_s: float, level: EventLevel, text: str) -> None:
        self._events.append(SamplingEvent(t_s, level, text))

    def _enter(self, t_s: float, phase: SamplingPhase, why: str = '') -> None:
        self._phase = phase
        self._phase_t0_s = t_s
        self._event(t_s, EventLevel.INFO,
                    f'attempt {self._attempt}: phase {phase.value}' + (f' ({why})' if why else ''))

    def _begin_attempt(self, t_s: float) -> None:
        self._attempt_t0_s = t_s
        self._attempt_mass0_g = self._mass_g
        self._depth_m = 0.0
        self._slip_since_s = None
        self._slip_count = 0
        self._kind = '' if self._attempt <= 1 else self._kind
        self._enter(t_s, SamplingPhase.SITE_CHECK)

    def _begin_abort(self, t_s: float, cause: AbortCause, text: str) -> None:
        if cause is AbortCause.FAULT:
            self._hold_latched = True
        if self._phase is SamplingPhase.ABORTING and self._abort is not None:
            # Already retracting: a fault or an operator abort overrides a retryable cause.
            if self._abort[0] in RETRYABLE_CAUSES and cause not in RETRYABLE_CAUSES:
                self._abort = (cause, text)
                self._event(t_s, EventLevel.ERROR, f'abort escalated: {text}')
            return
        self._abort = (cause, text)
        level = EventLevel.WARN if cause is AbortCause.OPERATOR else EventLevel.ERROR
        self._event(t_s, level, f'attempt {self._attempt}: abort from {self._phase.value}: '
                                f'{text}; retracting, keeping every grip')
        self._feed_force_n = 0.0
        self._enter(t_s, SamplingPhase.ABORTING, text)

    def _end_attempt(self, t_s: float, outcome: AttemptOutcome, cause: AbortCause | None,
                     reason: str) -> None:
        collected = self._mass_g - self._attempt_mass0_g
        self._results.append(AttemptResult(
            attempt=self._attempt, t_start_s=self._attempt_t0_s, t_end_s=t_s,
            site_xy_m=self._site_xy_m or (math.nan, math.nan), terrain_kind=self._kind,
            mass_g=self._mass_g, collected_g=collected, depth_m=self._depth_m,
            outcome=outcome, reason=reason, cause=cause))
        self._abort = None
        self._feed_force_n = 0.0
        if outcome is AttemptOutcome.SUCCESS:
            self._reason = reason
            self._enter(t_s, SamplingPhase.DONE, reason)
            return
        if cause in RETRYABLE_CAUSES and self._attempt < self.params.max_attempts:
            self._reason = f'attempt {self._attempt} failed: {reason}; retrying'
            self._event(t_s, EventLevel.WARN, self._reason)
            self._attempt += 1
            self._begin_attempt(t_s)
            return
        if cause is AbortCause.OPERATOR:
            self._reason = reason
            self._enter(t_s, SamplingPhase.ABORTED, reason)
            return
        if cause in RETRYABLE_CAUSES:
            self._reason = (f'{self.params.max_attempts} attempts used; last: {reason} '
                            f'(mass {self._mass_g:.1f} g of {self._target_g:g} g)')
        else:
            self._reason = reason
        self._event(t_s, EventLevel.ERROR, f'sampling failed: {self._reason}')
        self._enter(t_s, SamplingPhase.FAILED, self._reason)

    # --- internals: inputs ---

    def _clean(self, t_s: float, inp: SamplingInputs) -> _Clean:
        faults = []
        pos = inp.feed_position_m if _finite(inp.feed_position_m) else None
        if pos is None:
            faults.append(f'feed_position_m={inp.feed_position_m!r}')
        mass_g = 1000.0 * inp.mass_kg if _finite(inp.mass_kg) and inp.mass_kg >= 0.0 else None
        if mass_g is None:
            faults.append(f'mass_kg={inp.mass_kg!r}')
        force = None
        if inp.feed_force_n is not None:
            if _finite(inp.feed_force_n):
                force = float(inp.feed_force_n)
            else:
                faults.append(f'feed_force_n={inp.feed_force_n!r}')
        xy = None
        try:
            if len(inp.body_xy_m) == 2 and all(_finite(v) for v in inp.body_xy_m):
                xy = (float(inp.body_xy_m[0]), float(inp.body_xy_m[1]))
        except TypeError:
            pass
        if xy is None:
            faults.append(f'body_xy_m={inp.body_xy_m!r}')
        yaw = float(inp.body_yaw_rad) if _finite(inp.body_yaw_rad) else None
        if yaw is None:
            faults.append(f'body_yaw_rad={inp.body_yaw_rad!r}')
        holding = 0.0
        count = 0
        slipping = []
        for claw in inp.claws:
            if claw.slipping:
                slipping.append(claw.claw)
            if not _finite(claw.holding_force_n) or claw.holding_force_n < 0.0:
                faults.append(f'{claw.claw}.holding_force_n={claw.holding_force_n!r}')
                continue
            if claw.verified and not claw.slipping and claw.holding_force_n > 0.0:
                holding += float(claw.holding_force_n)
                count += 1
        faults_t = tuple(faults)
        faulty = {f.split('=', 1)[0] for f in faults_t}
        if faults_t != self._input_faults:
            new = [f for f in faults_t if f not in self._input_faults]
            if new:
                # An input that has never been valid is one still to come (the node just
                # started): expected, told at INFO; one that was valid is a fault.
                level = EventLevel.WARN if any(
                    f.split('=', 1)[0] in self._inputs_valid_once for f in new) \
                    else EventLevel.INFO
                self._event(t_s, level, 'refused non-finite or invalid input: '
                            + ', '.join(new))
            elif not faults_t:
                self._event(t_s, EventLevel.INFO, 'inputs valid again')
            self._input_faults = faults_t
        checked = ['feed_position_m', 'mass_kg', 'body_xy_m', 'body_yaw_rad']
        checked += ['feed_force_n'] if inp.feed_force_n is not None else []
        checked += [f'{claw.claw}.holding_force_n' for claw in inp.claws]
        self._inputs_valid_once.update(n for n in checked if n not in faulty)
        return _Clean(feed_position_m=pos, mass_g=mass_g, feed_force_n=force, body_xy_m=xy,
                      body_yaw_rad=yaw, holding_sum_n=holding, holding_claws=count,
                      slipping=tuple(slipping), gait_mode=inp.gait_mode, site=inp.site,
                      lid_closed=inp.lid_closed, fault=inp.fault or '',
                      estop=bool(inp.estop))

    def _anchor_ok(self, c: _Clean) -> bool:
        return (c.gait_mode == GaitRequest.ANCHOR.value
                and c.holding_claws >= self.params.min_anchor_claws)

    # --- internals: transitions ---

    def _transition(self, t_s: float, c: _Clean) -> None:
        p = self.params
        phase = self._phase
        elapsed = t_s - self._phase_t0_s
        if phase is SamplingPhase.SITE_CHECK:
            self._site_check(t_s, c, elapsed)
        elif phase is SamplingPhase.ANCHOR:
            self._anchor_requested = True
            needed_n = max(p.min_feed_force_n, p.approach_force_n)
            if self._anchor_ok(c) and c.holding_sum_n / p.safety_factor >= needed_n:
                self._enter(t_s, SamplingPhase.DEPLOY,
                            f'{c.holding_claws} claws verified, {c.holding_sum_n:.0f} N')
            elif elapsed >= p.anchor_timeout_s:
                self._begin_abort(t_s, AbortCause.TIMEOUT,
                                  f'anchor not verified within {p.anchor_timeout_s:g} s '
                                  f'({c.holding_claws} claws, gait {c.gait_mode!r})')
        elif phase in (SamplingPhase.DEPLOY, SamplingPhase.DRILL):
            if not self._anchor_watch(t_s, c):
                return
            if c.feed_position_m is None:
                self._begin_abort(t_s, AbortCause.INVALID_INPUT, 'feed position not finite')
            elif phase is SamplingPhase.DEPLOY:
                self._deploy_check(t_s, c, elapsed)
            else:
                self._drill_check(t_s, c, elapsed)
        elif phase is SamplingPhase.CLOSE_LID:
            if c.lid_closed is None:
                if elapsed >= p.lid_close_s:
                    self._enter(t_s, SamplingPhase.STOW, 'lid closed (timed)')
            elif c.lid_closed:
                self._enter(t_s, SamplingPhase.STOW, 'lid closed')
            elif elapsed >= p.lid_timeout_s:
                self._begin_abort(t_s, AbortCause.TIMEOUT,
                                  f'lid not closed within {p.lid_timeout_s:g} s')
        elif phase in (SamplingPhase.STOW, SamplingPhase.ABORTING):
            if c.feed_position_m is not None and c.feed_position_m <= p.stow_tolerance_m \
                    and self._feed_cmd_m <= 0.0:
                if phase is SamplingPhase.STOW:
                    self._enter(t_s, SamplingPhase.VERIFY, 'stowed')
                else:
                    cause, text = self._abort or (AbortCause.OPERATOR, 'aborted')
                    outcome = (AttemptOutcome.ABORTED if cause is AbortCause.OPERATOR
                               else AttemptOutcome.FAILED)
                    self._end_attempt(t_s, outcome, cause, text)
            elif elapsed >= p.stow_timeout_s:
                self._hold_latched = True
                self._end_attempt(t_s, AttemptOutcome.FAILED, AbortCause.STUCK,
                                  f'sampler not stowed within {p.stow_timeout_s:g} s '
                                  f'(feed at {c.feed_position_m!r} m); holding')
        elif phase is SamplingPhase.VERIFY:
            if elapsed >= p.verify_settle_s and c.mass_g is not None:
                if c.mass_g >= self._target_g:
                    self._end_attempt(t_s, AttemptOutcome.SUCCESS, None,
                                      f'collected {c.mass_g:.1f} g >= target '
                                      f'{self._target_g:g} g')
                else:
                    self._end_attempt(t_s, AttemptOutcome.FAILED, AbortCause.LOW_MASS,
                                      f'mass {c.mass_g:.1f} g below target '
                                      f'{self._target_g:g} g')
            elif elapsed >= p.verify_timeout_s:
                self._end_attempt(t_s, AttemptOutcome.FAILED, AbortCause.LOW_MASS,
                                  f'no valid mass reading within {p.verify_timeout_s:g} s')

    def _site_check(self, t_s: float, c: _Clean, elapsed_s: float) -> None:
        p = self.params
        verdict = c.site
        if verdict is None or c.body_xy_m is None or c.body_yaw_rad is None:
            if elapsed_s >= p.site_check_timeout_s:
                what = 'no terrain verdict' if verdict is None else 'no valid body pose'
                self._end_attempt(t_s, AttemptOutcome.REJECTED, AbortCause.SITE_REJECTED,
                                  f'site rejected: {what} within {p.site_check_timeout_s:g} s')
            return
        reject = ''
        if not verdict.sampleable:
            reject = f'terrain says not sampleable ({verdict.reason or verdict.kind})'
        elif verdict.kind not in self.rates.rate_g_s:
            reject = f'unknown terrain kind {verdict.kind!r}'
        else:
            distance = self._site_distance_m(c)
            if distance > p.site_reach_m:
                reject = (f'site {distance:.3f} m from the sampler axis, beyond reach '
                          f'{p.site_reach_m:g} m')
        self._kind = verdict.kind
        if reject:
            self._end_attempt(t_s, AttemptOutcome.REJECTED, AbortCause.SITE_REJECTED,
                              f'site rejected: {reject}')
            return
        self._enter(t_s, SamplingPhase.ANCHOR, f'site on {verdict.kind}')
        self._anchor_requested = True

    def _site_distance_m(self, c: _Clean) -> float:
        mx, my = self.sampler.mount_xyz_m[0], self.sampler.mount_xyz_m[1]
        cos_yaw, sin_yaw = math.cos(c.body_yaw_rad), math.sin(c.body_yaw_rad)
        ax = c.body_xy_m[0] + cos_yaw * mx - sin_yaw * my
        ay = c.body_xy_m[1] + sin_yaw * mx + cos_yaw * my
        return math.hypot(self._site_xy_m[0] - ax, self._site_xy_m[1] - ay)

    def _anchor_watch(self, t_s: float, c: _Clean) -> bool:
        """Watch grips while the sampler is out; abort and return False when they fail."""
        p = self.params
        if c.slipping:
            if self._slip_since_s is None:
                self._slip_since_s = t_s
                self._slip_count += 1
                self._event(t_s, EventLevel.WARN, f'slip on {", ".join(c.slipping)}: '
                            f'feed force cut to {p.slip_feed_factor:g} of its value')
            if t_s - self._slip_since_s >= p.slip_abort_s:
                self._begin_abort(t_s, AbortCause.SLIP,
                                  f'slip on {", ".join(c.slipping)} lasted '
                                  f'{t_s - self._slip_since_s:.2f} s')
                return False
            if self._slip_count > p.slip_max_count:
                self._begin_abort(t_s, AbortCause.SLIP,
                                  f'{self._slip_count} slips in this attempt')
                return False
        else:
            self._slip_since_s = None
        if c.gait_mode != GaitRequest.ANCHOR.value:
            self._begin_abort(t_s, AbortCause.HOLDING_LOST,
                              f'gait left anchor (mode {c.gait_mode!r})')
            return False
        if c.holding_claws < p.min_anchor_claws:
            self._begin_abort(t_s, AbortCause.HOLDING_LOST,
                              f'verified holding lost: {c.holding_claws} claws hold '
                              f'(need {p.min_anchor_claws})')
            return False
        return True

    def _deploy_check(self, t_s: float, c: _Clean, elapsed_s: float) -> None:
        p = self.params
        pos = c.feed_position_m
        lead = self._feed_cmd_m - pos
        by_force = c.feed_force_n is not None and c.feed_force_n >= p.contact_force_n
        if by_force or lead >= p.contact_lag_m:
            self._contact_m = pos
            self._best_mass_g = self._mass_g
            self._gain_t_s = t_s
            how = (f'feed force {c.feed_force_n:.1f} N' if by_force
                   else f'lead {lead * 1000:.2f} mm')
            self._enter(t_s, SamplingPhase.DRILL, f'contact at {pos:.4f} m, {how}')
        elif self._feed_cmd_m >= self.sampler.feed_stroke_m - 1e-12 \
                and pos >= self.sampler.feed_stroke_m - p.stow_tolerance_m:
            self._begin_abort(t_s, AbortCause.NO_CONTACT,
                              f'no contact within the stroke {self.sampler.feed_stroke_m:g} m')
        elif elapsed_s >= p.deploy_timeout_s:
            self._begin_abort(t_s, AbortCause.TIMEOUT,
                              f'no contact within {p.deploy_timeout_s:g} s')

    def _drill_check(self, t_s: float, c: _Clean, elapsed_s: float) -> None:
        p = self.params
        self._depth_m = max(self._depth_m, c.feed_position_m - self._contact_m)
        if self._mass_g >= self._best_mass_g + p.stall_mass_step_g:
            self._best_mass_g = self._mass_g
            self._gain_t_s = t_s
        if self._mass_g >= self._target_g + p.collect_margin_g:
            self._enter(t_s, SamplingPhase.CLOSE_LID, f'{self._mass_g:.1f} g collected')
        elif elapsed_s >= p.collect_max_s:
            self._enter(t_s, SamplingPhase.CLOSE_LID,
                        f'collection time {p.collect_max_s:g} s used, {self._mass_g:.1f} g')
        elif c.feed_position_m >= self.sampler.feed_stroke_m - p.stow_tolerance_m:
            self._enter(t_s, SamplingPhase.CLOSE_LID, f'stroke end, {self._mass_g:.1f} g')
        elif t_s - self._gain_t_s >= p.drill_stall_s:
            self._begin_abort(t_s, AbortCause.TIMEOUT,
                              f'no mass gained for {p.drill_stall_s:g} s '
                              f'(feed force {self._feed_force_n:.1f} N)')

    # --- internals: commands ---

    def _command(self, t_s: float, dt_s: float, c: _Clean) -> SamplingOutput:
        p = self.params
        phase = self._phase
        stroke = self.sampler.feed_stroke_m
        pos = c.feed_position_m
        self._budget_n = c.holding_sum_n / p.safety_factor
        drill = 0.0
        lid = LidCommand.CLOSED
        force = 0.0
        cmd = self._feed_cmd_m
        if phase is SamplingPhase.DEPLOY:
            lid = LidCommand.OPEN
            force = min(p.approach_force_n, self._budget_n)
            if c.slipping:
                force *= p.slip_feed_factor
            cmd = min(stroke, cmd + p.feed_speed_m_s * dt_s)
            if pos is not None:
                cmd = min(cmd, pos + force / self.sampler.feed_stiffness_n_per_m)
        elif phase is SamplingPhase.DRILL:
            lid = LidCommand.OPEN
            force = self._drill_force(t_s, dt_s, c)
            if force > 0.0:
                drill = min(p.drill_speed_rad_s, self.sampler.drill_velocity_max_rad_s)
            lead_cmd = pos + force / self.sampler.feed_stiffness_n_per_m
            cmd = min(stroke, lead_cmd, cmd + p.feed_speed_m_s * dt_s)
        elif phase is SamplingPhase.CLOSE_LID:
            if pos is not None:
                cmd = min(cmd, pos)
        elif phase in (SamplingPhase.STOW, SamplingPhase.ABORTING):
            if pos is not None:
                cmd = min(cmd, pos)
            cmd = max(0.0, cmd - p.feed_speed_m_s * dt_s)
        else:
            cmd = max(0.0, cmd - p.feed_speed_m_s * dt_s)
        # Last line of defence: no verified anchor, no feed force and no drill.
        if (force > 0.0 or drill > 0.0) and not self._anchor_ok(c):
            force, drill = 0.0, 0.0
            if pos is not None:
                cmd = min(cmd, pos)
        self._feed_force_n = force
        self._feed_cmd_m = max(0.0, min(cmd, stroke))
        self._last_lid = lid
        gait = self._gait_request()
        events, self._events = tuple(self._events), []
        results, self._results = tuple(self._results), []
        return SamplingOutput(feed_position_m=self._feed_cmd_m, feed_force_n=force,
                              drill_speed_rad_s=drill, lid=lid, gait_request=gait,
                              status=self.status(), events=events, attempt_results=results)

    def _drill_force(self, t_s: float, dt_s: float, c: _Clean) -> float:
        """Feed force [N]: ramped, within the holding budget, cut at once on a slip."""
        p = self.params
        target = min(p.feed_force_n, self.sampler.feed_force_max_n, self._budget_n)
        current = self._feed_force_n
        if c.slipping:
            if self._slip_since_s == t_s:   # onset of this slip: cut at once
                current *= p.slip_feed_factor
            force = min(current, target)     # no ramp-up while slipping
        else:
            force = min(target, current + p.feed_force_rate_n_per_s * dt_s)
        key, text = '', ''
        if self._budget_n < p.min_feed_force_n or (c.slipping and force < p.min_feed_force_n):
            force = 0.0
            key = 'budget_low'
            text = (f'feed budget {self._budget_n:.1f} N below {p.min_feed_force_n:g} N: '
                    'feed and drill stopped')
        elif c.feed_force_n is not None \
                and c.feed_force_n > self._budget_n + p.reaction_tolerance_n:
            if current > self._budget_n:
                # The budget just fell below our own set point: the shorter lead reduces it.
                key = 'reduced'
                text = (f'holding budget fell to {self._budget_n:.1f} N under a measured '
                        f'feed force of {c.feed_force_n:.1f} N: feed reduced')
            else:
                force = 0.0
                key = 'stopped'
                text = (f'measured feed force {c.feed_force_n:.1f} N above the budget '
                        f'{self._budget_n:.1f} N: feed stopped')
        elif target < p.feed_force_n:
            key = f'limited {target:.1f}'
            text = f'feed force limited to {target:.1f} N by the holding budget'
        if key != self._limit_state:
            # The force control at work: each kind of limit is told once a run (a feed budget
            # too low to drill as a warning), its repeats at DEBUG and in the count.
            if text:
                kind = key.split(' ')[0]
                level = EventLevel.DEBUG if kind in self._limits_told else (
                    EventLevel.WARN if kind == 'budget_low' else EventLevel.INFO)
                self._limits_told.add(kind)
                self._limit_changes += 1
                self._event(t_s, level, text)
            self._limit_state = key
        return max(0.0, force)

    def _gait_request(self) -> GaitRequest | None:
        if self._hold_latched:
            return GaitRequest.HOLD
        if self._phase in ACTIVE_PHASES and self._anchor_requested:
            return GaitRequest.ANCHOR
        return None
