# SPDX-License-Identifier: Apache-2.0
"""The claw controller's topics as plain data: one JSON schema, and the small adapters.

Pure (no rclpy). Every node that talks to the claw controller uses these functions, so the
payloads of ``/claw_controller/state``, ``/claw_controller/requests`` and
``/claw_controller/slip_events`` (``std_msgs/String``) are written and read in one place.

Requests use the gait capability's format, :func:`space_miner.core.gait_types.
encode_claw_requests` (``{"c1": {"action": "grip", "grip_force_n": 120.0, "pull_load_n":
0.0}, ...}``); :func:`claw_requests_from_gait` turns them into the core's
:class:`~space_miner.core.claw.ClawRequest`.

State (:func:`encode_claw_state`), one object per controller step that is published::

    {"t_s": 12.34,                 # sensor time of the step [s]
     "estop": false,               # the claw controller is holding for an e-stop
     "claws": {"c1": {"mode": "holding", "squeeze_n": 120.1, "target_n": 120.0,
                      "command_n": 121.3, "verified_holding_n": 40.2, "weak": false,
                      "verifying": false, "load_n": 3.1, "regrasp_count": 0}, ...},
     "pull_requests": {"c2": {"target_load_n": 40.0, "ramp_rate_n_per_s": 100.0}}}

Non-finite numbers are written as ``null`` and read back as NaN (JSON has no NaN).

Slip events (:func:`encode_slip_event`): ``{"t_s", "claw", "cause", "load_n",
"during_pull_test"}``.
"""

from dataclasses import dataclass
import json
import math
from typing import Mapping, Sequence

from space_miner.core import adapters
from space_miner.core.claw import (ClawMode, ClawRequest, ClawRequestKind, ClawState,
                                   PullRequest, SlipCause, SlipEvent)
from space_miner.core.gait_types import ClawStatus, decode_claw_requests
from space_miner.interfaces import CLAW_LEGS

#: The numeric fields of one claw's state, in the order of :class:`ClawState`.
_STATE_FLOATS = ('squeeze_n', 'target_n', 'command_n', 'verified_holding_n', 'load_n')


@dataclass(frozen=True)
class ClawStateReport:
    """One decoded ``/claw_controller/state`` message.

    ``t_s`` [s] is the sensor time of the controller step; ``states`` one
    :class:`ClawState` per claw present (``CLAW_LEGS`` order); ``pull_requests`` the pull
    tests the controller asks the gait layer to run; ``estop`` whether it holds for an
    e-stop.
    """

    t_s: float
    states: tuple
    pull_requests: tuple = ()
    estop: bool = False

    def state(self, claw: str) -> ClawState | None:
        """Return the state of ``claw`` (None when the message did not carry it)."""
        return next((s for s in self.states if s.claw == claw), None)


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _float(item: Mapping, key: str, where: str) -> float:
    value = item.get(key)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{where}.{key} = {value!r}: must be a number')
    return float(value)


def encode_claw_state(t_s: float, states: Sequence[ClawState],
                      pull_requests: Sequence[PullRequest] = (), estop: bool = False) -> str:
    """Serialise the claws' states at ``t_s`` [s] as compact JSON (the schema above)."""
    claws = {}
    for s in states:
        item = {'mode': s.mode.value, 'weak': bool(s.weak), 'verifying': bool(s.verifying),
                'regrasp_count': int(s.regrasp_count)}
        for key in _STATE_FLOATS:
            item[key] = _num(getattr(s, key))
        claws[s.claw] = item
    pulls = {p.claw: {'target_load_n': _num(p.target_load_n),
                      'ramp_rate_n_per_s': _num(p.ramp_rate_n_per_s)} for p in pull_requests}
    return json.dumps({'t_s': _num(t_s), 'estop': bool(estop), 'claws': claws,
                       'pull_requests': pulls},
                      sort_keys=True, separators=(',', ':'), allow_nan=False)


def decode_claw_state(text: str) -> ClawStateReport:
    """Parse :func:`encode_claw_state` output; ValueError naming what is wrong."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise ValueError(f'claw state is not JSON: {err}') from err
    if not isinstance(data, dict) or not isinstance(data.get('claws'), dict):
        raise ValueError('claw state must be a JSON object with a "claws" object')
    unknown = set(data['claws']) - set(CLAW_LEGS)
    if unknown:
        raise ValueError(f'unknown claw(s) {sorted(unknown)} in claw state')
    t_s = _float(data, 't_s', 'claw state')
    states = []
    for claw in CLAW_LEGS:
        item = data['claws'].get(claw)
        if item is None:
            continue
        where = f'claw state {claw}'
        if not isinstance(item, dict):
            raise ValueError(f'{where} must be an object')
        try:
            mode = ClawMode(item.get('mode'))
        except ValueError:
            raise ValueError(f'{where}.mode = {item.get("mode")!r}: not a claw mode '
                             f'({", ".join(m.value for m in ClawMode)})') from None
        floats = {key: _float(item, key, where) for key in _STATE_FLOATS}
        regrasps = item.get('regrasp_count', 0)
        if isinstance(regrasps, bool) or not isinstance(regrasps, int):
            raise ValueError(f'{where}.regrasp_count = {regrasps!r}: must be an integer')
        states.append(ClawState(claw=claw, mode=mode, weak=bool(item.get('weak', False)),
                                verifying=bool(item.get('verifying', False)),
                                regrasp_count=regrasps, **floats))
    pulls = []
    raw_pulls = data.get('pull_requests') or {}
    if not isinstance(raw_pulls, dict):
        raise ValueError('claw state pull_requests must be an object keyed by claw')
    for claw in CLAW_LEGS:
        item = raw_pulls.get(claw)
        if isinstance(item, dict):
            where = f'claw state pull_requests.{claw}'
            pulls.append(PullRequest(claw, _float(item, 'target_load_n', where),
                                     _float(item, 'ramp_rate_n_per_s', where)))
    return ClawStateReport(t_s, tuple(states), tuple(pulls), bool(data.get('estop', False)))


def encode_slip_event(event: SlipEvent) -> str:
    """Serialise one slip event as compact JSON."""
    return json.dumps({'t_s': _num(event.t_s), 'claw': event.claw, 'cause': event.cause.value,
                       'load_n': _num(event.load_n),
                       'during_pull_test': bool(event.during_pull_test)},
                      sort_keys=True, separators=(',', ':'), allow_nan=False)


def decode_slip_event(text: str) -> SlipEvent:
    """Parse :func:`encode_slip_event` output; ValueError naming what is wrong."""
    try:
        data = json.loads(text)
        return SlipEvent(_float(data, 't_s', 'slip event'), str(data['claw']),
                         SlipCause(data['cause']), _float(data, 'load_n', 'slip event'),
                         bool(data.get('during_pull_test', False)))
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f'slip event refused: {err!r}') from err


# --- requests ------------------------------------------------------------------------------

def claw_requests_from_gait(gait_requests: Sequence) -> tuple:
    """Map the gait layer's claw requests (gait_types.ClawRequest) to the core's requests.

    One request each, by :func:`space_miner.core.adapters.claw_core_request` (the mapping the
    harness uses too): ``hold`` -> hold; ``grip`` -> grip at ``grip_force_n``; ``verify`` ->
    a pull test at ``pull_load_n``; ``release`` and ``stow`` -> release.
    """
    return tuple(adapters.claw_core_request(req) for req in gait_requests)


def decode_requests_message(text: str) -> tuple:
    """Parse a ``/claw_controller/requests`` payload into core ClawRequests (ValueError)."""
    return claw_requests_from_gait(decode_claw_requests(text))


def screen_for_estop(requests: Sequence[ClawRequest],
                     states: Sequence[ClawState]) -> tuple:
    """Keep what an e-stop allows: every grip kept, nothing loosened or pulled on.

    Releases, pull tests and grips below the claw's present target are refused; holds and
    grips at or above the present target pass. Returns ``(kept, refused)`` where
    ``refused`` is a tuple of ``(request, reason)``.
    """
    targets = {s.claw: s.target_n for s in states}
    kept, refused = [], []
    for req in requests:
        kind = req.kind
        if kind is ClawRequestKind.RELEASE:
            refused.append((req, 'e-stop: every grip is kept, release refused'))
        elif kind is ClawRequestKind.VERIFY:
            refused.append((req, 'e-stop: no pull test while stopped'))
        elif kind is ClawRequestKind.GRIP and isinstance(req.value_n, (int, float)) and \
                req.value_n < targets.get(req.claw, 0.0):
            refused.append((req, f'e-stop: grip target {req.value_n:g} N below the present '
                                 f'{targets[req.claw]:g} N refused'))
        else:
            kept.append(req)
    return tuple(kept), tuple(refused)


# --- what other capabilities read from the state -----------------------------------------

def anchored_claws(report: ClawStateReport | None, now_s: float,
                   max_age_s: float, walking_stance: Sequence[str] = ()) -> dict:
    """Claws the estimator may take as fixed points: verified grip, not slipping, sensors alive.

    The rule is :func:`space_miner.core.adapters.anchored_claws` (``holding``: a verified
    grip, not closing, under test, slipping or failed), the one the harness applies; the
    wrist sensor's freshness is carried by the state itself, since the claw controller puts
    a claw whose sensor is stale or invalid in ``unknown``. The report must be no older than
    ``max_age_s`` [s] at ``now_s`` [s]; without a fresh report no claw is anchored.
    ``walking_stance`` (from ``/gait/status``) lists the legs in stance while walking.
    """
    out = {c: False for c in CLAW_LEGS}
    if report is None or not math.isfinite(report.t_s) or \
            not abs(float(now_s) - report.t_s) <= max_age_s:
        return out
    alive = {s.claw: s.mode is not ClawMode.UNKNOWN for s in report.states}
    out.update(adapters.anchored_claws(report.states, alive, walking_stance))
    return out


def claw_statuses(report: ClawStateReport) -> dict:
    """Adapt a report to the gait layer's ClawStatus per claw (missing claws: the default).

    By :func:`space_miner.core.adapters.claw_statuses`, as the harness does.
    """
    out = {c: ClawStatus() for c in CLAW_LEGS}
    out.update(adapters.claw_statuses(report.states, report.pull_requests))
    return out
