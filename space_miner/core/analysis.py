# SPDX-License-Identifier: Apache-2.0
"""Mission analysis: from decoded message streams to what happened on a run.

Pure (numpy only): :mod:`space_miner.bag.decode` turns a bag into :class:`MissionStreams`;
:func:`analyze` returns a :class:`MissionAnalysis` — gait mode timeline, per claw commanded
vs measured squeeze, grip state, slip events, the verified holding force against the
commanded external load (the never-detach margin over time), terrain class under the
robot, sampling phases, samples and mass, body speed against the body's escape velocity,
control-loop rates and latencies from header stamps, and a list of anomalies (slips,
watchdog trips, refused commands, margin below 2, sensor gaps, speed above escape).

Time base: when the bag carries ``/clock``, every receive time is mapped to simulated time
through the recorded clock (so wall-stamped and sim-stamped bags read alike); otherwise
the bag's own receive time (seconds from its first message) is used. JSON payloads of the
stack's internal topics are read tolerantly: unknown keys are ignored, missing keys leave
a field unknown, a payload that is not JSON is counted, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import math
import re

import numpy as np

from space_miner import interfaces as itf

#: Terrain class values as ints (``TerrainClass`` of terrain_types) and as names.
TERRAIN_NAMES = {0: 'unknown', 1: 'smooth', 2: 'regolith', 3: 'rubble', 4: 'rock'}
#: Sampling phases in which a sampling run is under way.
ACTIVE_PHASES = ('site_check', 'anchor', 'deploy', 'drill', 'close_lid', 'stow', 'verify',
                 'aborting')
#: Phases that end a run, and the outcome each gives.
TERMINAL_PHASES = {'done': 'success', 'failed': 'failed', 'aborted': 'aborted'}
#: Margin below which the never-detach rule is broken (verified holding / load).
MARGIN_LIMIT = 2.0
#: Topics the recorder decimates (depth images at 1 Hz by default): no gap checks.
DECIMATED_TOPICS = (itf.DEPTH_IMAGE.name, itf.DEPTH_INFO.name)
#: A claw commanded at least this squeeze [N] is taken as meant to grip (derived states).
GRIP_COMMAND_MIN_N = 10.0
_WATCHDOG = re.compile(r'watchdog|stale|timeout|timed out|deadman|silent|no data', re.I)
_REFUSED = re.compile(r'refus|reject', re.I)

# Which analysis sections need which topics (for "what is missing" in the report).
SECTION_TOPICS = {
    'gait mode timeline': (itf.GAIT_MODE.name, itf.GAIT_STATUS.name),
    'claw squeeze (commanded)': (itf.CLAW_COMMANDS.name,),
    'claw squeeze (measured)': (itf.JOINT_STATES.name,),
    'grip state and verified holding': (itf.CLAW_STATE.name,),
    'slip events': (itf.CLAW_SLIPS.name, itf.CLAW_STATE.name),
    'never-detach margin': (itf.CLAW_STATE.name, itf.SAMPLING_LOAD.name),
    'terrain class under the robot': (itf.TERRAIN_SUMMARY.name,),
    'sampling phases and samples': (itf.SAMPLING_STATUS.name,),
    'sample mass': (itf.SAMPLER_MASS.name, itf.SAMPLING_STATUS.name),
    'body speed': (itf.GROUND_TRUTH_ODOM.name, itf.ODOM.name),
    'simulated time': (itf.CLOCK.name,),
}


# --- inputs -------------------------------------------------------------------------------

@dataclass
class Series:
    """A numeric stream: receive times [s from bag start], values (n, k), header stamps [s]."""

    t_s: np.ndarray
    values: np.ndarray
    stamp_s: np.ndarray | None = None


@dataclass
class MissionStreams:
    """What the analysis reads, decoded from a bag (see :mod:`space_miner.bag.decode`).

    ``stamps``: topic -> (receive times [s], header stamps [s]) of every stamped topic;
    ``texts``: topic -> [(t_s, text)] of the string topics; ``diagnostics``:
    [(t_s, level, name, message, {key: value})]; ``commands``: command topic -> Series;
    ``odometry``: topic -> Series with columns position(3), quaternion xyzw(4), linear(3).
    """

    start_ns: int = 0
    topic_types: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    bytes_per_topic: dict = field(default_factory=dict)
    stamps: dict = field(default_factory=dict)
    joint_names: tuple = ()
    joint_position: Series | None = None
    joint_effort: Series | None = None
    wrench: dict = field(default_factory=dict)
    odometry: dict = field(default_factory=dict)
    commands: dict = field(default_factory=dict)
    floats: dict = field(default_factory=dict)
    clock: Series | None = None
    bools: dict = field(default_factory=dict)
    texts: dict = field(default_factory=dict)
    diagnostics: list = field(default_factory=list)
    bad_messages: dict = field(default_factory=dict)
    unknown_types: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


# --- outputs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A labelled span of mission time [s]."""

    start_s: float
    end_s: float
    label: str

    @property
    def duration_s(self) -> float:
        """Length of the span [s]."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Anomaly:
    """Something that went wrong at ``t_s`` [s]: kind, subject (claw, topic, node), detail."""

    t_s: float
    kind: str      # slip | watchdog | refused | margin_below_2 | sensor_gap | escape | ...
    subject: str
    detail: str


@dataclass(frozen=True)
class SlipRecord:
    """A slip at ``t_s`` [s] on ``claw``; ``source`` says how it was known."""

    t_s: float
    claw: str
    cause: str
    load_n: float
    source: str    # 'slip_events' | 'claw_state' | 'derived'


@dataclass
class SampleRun:
    """One sampling run (one site) from its first active phase to its end."""

    index: int
    start_s: float
    end_s: float
    outcome: str          # success | failed | aborted | unfinished
    mass_g: float         # container mass at the end [g] (NaN unknown)
    collected_g: float    # mass added during the run [g]
    site: tuple | None
    reason: str
    attempts: int

    @property
    def duration_s(self) -> float:
        """Duration of the run [s]."""
        return self.end_s - self.start_s


@dataclass
class ClawTrace:
    """One claw: commanded and measured squeeze [N], grip state, verified holding [N]."""

    claw: str
    command_t_s: np.ndarray
    commanded_n: np.ndarray
    measured_t_s: np.ndarray
    measured_n: np.ndarray
    state_t_s: np.ndarray
    verified_holding_n: np.ndarray
    load_n: np.ndarray
    grip_timeline: list
    grip_source: str      # 'claw_state' | 'derived from squeeze' | 'none'


@dataclass(frozen=True)
class TopicRate:
    """Rate and latency of one topic: receive rate, header-stamp rate [Hz], latency [ms].

    ``rate_hz`` counts the messages in the bag over their span; ``stamp_rate_hz`` is one
    over the median period of the header stamps over 4-message windows (the producer's
    rate, robust to a few lost messages).
    """

    topic: str
    count: int
    rate_hz: float
    stamp_rate_hz: float
    nominal_hz: float
    latency_median_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    max_gap_s: float


@dataclass
class MissionAnalysis:
    """The whole analysis of one mission (see the module docstring)."""

    start_s: float
    end_s: float
    time_base: str
    counts: dict
    missing_topics: list
    missing_sections: dict
    unknown_types: list
    other_topics: list
    gait_timeline: list
    gait_changes: int
    gait_time_s: dict
    claws: dict
    slips: list
    margin_t_s: np.ndarray
    holding_sum_n: np.ndarray
    load_n: np.ndarray
    margin: np.ndarray
    min_margin: float | None
    terrain_timeline: list
    terrain_time_s: dict
    sampling_phases: list
    samples: list
    mass_t_s: np.ndarray
    mass_g: np.ndarray
    speed_t_s: np.ndarray
    speed_m_s: np.ndarray
    away_speed_m_s: np.ndarray
    speed_source: str
    escape_velocity_m_s: float | None
    rates: list
    anomalies: list
    warnings: list = field(default_factory=list)
    bad_payloads: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Mission time covered [s]."""
        return self.end_s - self.start_s

    @property
    def samples_collected(self) -> int:
        """Runs that ended in success."""
        return sum(1 for s in self.samples if s.outcome == 'success')

    @property
    def max_speed_m_s(self) -> float | None:
        """Highest body speed [m/s], None without odometry."""
        return float(np.nanmax(self.speed_m_s)) if len(self.speed_m_s) else None

    def anomaly_counts(self) -> dict:
        """Return the number of anomalies per kind."""
        out: dict = {}
        for a in self.anomalies:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out


# --- helpers ------------------------------------------------------------------------------

def parse_json(text: str) -> object:
    """Return the JSON value of ``text``, the stripped text itself if it is not JSON."""
    text = text.strip()
    if text[:1] in '{["' or text[:1].isdigit() or text[:1] == '-':
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _num(value: object, default: float = math.nan) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out


def _first(data: dict, *keys: str, default: object = None) -> object:
    for key in keys:
        if key in data:
            return data[key]
    return default


def _word(value: object) -> str:
    """Normalise an enum-ish value (name, 'Mode.CRAWL', int class) to a lower-case word."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return TERRAIN_NAMES.get(int(value), str(value))
    text = str(value).strip()
    if '.' in text and text.split('.')[0][:1].isupper():
        text = text.split('.')[-1]
    return text.lower()


def claw_records(payload: object) -> dict:
    """Find per-claw dicts in a claw state payload of any reasonable shape."""
    if isinstance(payload, list):
        return {str(d.get('claw')): d for d in payload
                if isinstance(d, dict) and d.get('claw') in itf.CLAW_LEGS}
    if not isinstance(payload, dict):
        return {}
    direct = {c: payload[c] for c in itf.CLAW_LEGS if isinstance(payload.get(c), dict)}
    if direct:
        return direct
    for key in ('claws', 'states', 'state'):
        if key in payload:
            return claw_records(payload[key])
    if payload.get('claw') in itf.CLAW_LEGS:
        return {payload['claw']: payload}
    return {}


def _timeline(times: list, labels: list, end_s: float) -> list:
    """Intervals of constant label from change points."""
    out: list = []
    for t, label in zip(times, labels):
        if out and out[-1][1] == label:
            continue
        out.append((t, label))
    return [Interval(t, (out[i + 1][0] if i + 1 < len(out) else max(end_s, t)), label)
            for i, (t, label) in enumerate(out)]


def _time_per_label(intervals: list) -> dict:
    out: dict = {}
    for iv in intervals:
        out[iv.label] = out.get(iv.label, 0.0) + iv.duration_s
    return out


def _hold(t_query: np.ndarray, t: np.ndarray, v: np.ndarray, before: float = math.nan
          ) -> np.ndarray:
    """Sample-and-hold ``v`` (at times ``t``) at ``t_query``."""
    if len(t) == 0:
        return np.full(len(t_query), before)
    idx = np.searchsorted(t, t_query, side='right') - 1
    out = np.asarray(v, dtype=float)[np.clip(idx, 0, None)]
    out = np.where(idx >= 0, out, before)
    return out


def _quat_rotate_z(q_xyzw: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the world z component of body vectors ``v`` (n, 3) rotated by quaternions (n, 4)."""
    x, y, z, w = (q_xyzw[:, i] for i in range(4))
    r20 = 2.0 * (x * z - w * y)
    r21 = 2.0 * (y * z + w * x)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    return r20 * v[:, 0] + r21 * v[:, 1] + r22 * v[:, 2]


# --- the analysis ---------------------------------------------------------------------------

class _Clock:
    """Map receive times [s from bag start] to mission time [s]."""

    def __init__(self, streams: MissionStreams) -> None:
        clock = streams.clock
        self.sim = clock is not None and len(clock.t_s) >= 2 and np.all(
            np.isfinite(clock.values[:, 0]))
        if self.sim:
            t, sim = clock.t_s, clock.values[:, 0]
            order = np.argsort(t, kind='stable')
            self.t, self.v = t[order], np.maximum.accumulate(sim[order])
        self.offset_s = streams.start_ns * 1e-9

    def __call__(self, t_s: np.ndarray) -> np.ndarray:
        t_s = np.asarray(t_s, dtype=float)
        if not self.sim:
            return t_s
        out = np.interp(t_s, self.t, self.v)
        # beyond the recorded clock: extrapolate at the clock's own pace
        return out

    def absolute(self, t_s: np.ndarray) -> np.ndarray:
        """Mission time in the clock domain of header stamps."""
        return self(t_s) if self.sim else np.asarray(t_s, dtype=float) + self.offset_s

    @property
    def base(self) -> str:
        return 'simulated time (from /clock)' if self.sim else 'bag receive time'


def analyze(streams: MissionStreams, escape_velocity_m_s: float | None = None,
            expected_topics: tuple | None = None) -> MissionAnalysis:
    """Analyse one mission.

    ``escape_velocity_m_s`` [m/s] is the body's (None: unknown, no speed check);
    ``expected_topics`` the topics whose absence is reported (default: every topic
    declared in interfaces.py).
    """
    clock = _Clock(streams)
    present = {name for name, n in streams.counts.items() if n > 0}
    all_t = [clock(s.t_s) for s in _all_series(streams) if len(s.t_s)]
    all_t += [clock(np.array([t for t, _ in v])) for v in streams.texts.values() if v]
    if all_t:
        start_s = float(min(np.min(a) for a in all_t))
        end_s = float(max(np.max(a) for a in all_t))
    else:
        start_s = end_s = 0.0
    expected = tuple(t.name for t in itf.TOPICS) if expected_topics is None \
        else tuple(expected_topics)
    missing = [name for name in expected if name not in present]
    missing_sections = {sec: topics for sec, topics in SECTION_TOPICS.items()
                        if not any(t in present for t in topics)}
    declared = {t.name for t in itf.TOPICS}
    other = sorted(t for t in present if t not in declared)
    bad: dict = {}
    anomalies: list = []

    texts: dict = {}
    for topic, rows in streams.texts.items():
        times = clock(np.array([t for t, _ in rows], dtype=float)).tolist()
        parsed = [parse_json(s) for _, s in rows]
        texts[topic] = list(zip(times, parsed))
        n_bad = sum(1 for (_t, s), p in zip(rows, parsed)
                    if s.strip()[:1] in '{[' and not isinstance(p, (dict, list)))
        if n_bad:
            bad[topic] = n_bad

    gait_timeline, gait_refusals = _gait(texts, end_s)
    for t, subject, reason in gait_refusals:
        anomalies.append(Anomaly(t, 'refused', subject, reason))
    claws, claw_states = _claws(streams, texts, clock, end_s)
    slips = _slips(texts, claw_states, claws)
    for s in slips:
        anomalies.append(Anomaly(s.t_s, 'slip', s.claw,
                                 f'{s.cause}, load {s.load_n:.0f} N ({s.source})'))
    margin_t, holding, load, margin = _margin(streams, claw_states, clock)
    min_margin = float(np.nanmin(margin)) if np.any(np.isfinite(margin)) else None
    below = np.isfinite(margin) & (margin < MARGIN_LIMIT)
    entries = np.flatnonzero(below & ~np.concatenate(([False], below[:-1])))
    for i in entries:
        anomalies.append(Anomaly(float(margin_t[i]), 'margin_below_2', 'claws',
                                 f'verified holding {holding[i]:.0f} N vs load '
                                 f'{load[i]:.0f} N: margin {margin[i]:.2f}'))
    terrain_timeline = _terrain(texts, end_s)
    phases, samples = _sampling(texts, end_s)
    mass_t, mass_g = _mass(streams, texts, clock)
    speed_t, speed, away, source = _speed(streams, clock)
    if escape_velocity_m_s is not None and len(speed):
        fast = np.abs(away) > escape_velocity_m_s
        fast_entries = np.flatnonzero(fast & ~np.concatenate(([False], fast[:-1])))
        for i in fast_entries:
            anomalies.append(Anomaly(float(speed_t[i]), 'escape', 'body',
                                     f'moving away from the surface at {away[i]:.3f} m/s, '
                                     f'escape velocity {escape_velocity_m_s:g} m/s'))
    rates = _rates(streams, clock, present)
    for r in rates:
        spec = _spec(r.topic)
        if spec is not None and spec.side == 'hardware' and spec.rate_hz >= 10.0 \
                and r.count > 2 and r.topic not in DECIMATED_TOPICS:
            gap_limit = max(0.5, 10.0 / spec.rate_hz)
            t = _topic_times(streams, r.topic, clock)
            gaps = np.diff(t)
            for i in np.flatnonzero(gaps > gap_limit):
                anomalies.append(Anomaly(float(t[i]), 'sensor_gap', r.topic,
                                         f'silent for {gaps[i]:.2f} s'))
    anomalies += _diagnostic_anomalies(streams, clock)
    anomalies += _claw_anomalies(texts)
    anomalies.sort(key=lambda a: a.t_s)
    unknown = list(streams.unknown_types)
    return MissionAnalysis(
        start_s=start_s, end_s=end_s, time_base=clock.base, counts=dict(streams.counts),
        missing_topics=missing, missing_sections=missing_sections, unknown_types=unknown,
        other_topics=other, gait_timeline=gait_timeline,
        gait_changes=max(0, len(gait_timeline) - 1), gait_time_s=_time_per_label(gait_timeline),
        claws=claws, slips=slips, margin_t_s=margin_t, holding_sum_n=holding, load_n=load,
        margin=margin, min_margin=min_margin, terrain_timeline=terrain_timeline,
        terrain_time_s=_time_per_label(terrain_timeline), sampling_phases=phases,
        samples=samples, mass_t_s=mass_t, mass_g=mass_g, speed_t_s=speed_t,
        speed_m_s=speed, away_speed_m_s=away, speed_source=source,
        escape_velocity_m_s=escape_velocity_m_s, rates=rates, anomalies=anomalies,
        warnings=list(streams.warnings), bad_payloads=bad)


def _spec(topic: str):
    try:
        return itf.topic(topic)
    except KeyError:
        return None


def _all_series(streams: MissionStreams) -> list:
    out = [streams.joint_effort, streams.clock]
    out += list(streams.wrench.values()) + list(streams.odometry.values())
    out += list(streams.commands.values()) + list(streams.floats.values())
    out += list(streams.bools.values())
    out += [Series(t, np.zeros((len(t), 0))) for t, _s in streams.stamps.values()]
    return [s for s in out if s is not None]


def _topic_times(streams: MissionStreams, topic: str, clock: _Clock) -> np.ndarray:
    if topic in streams.stamps:
        return clock(streams.stamps[topic][0])
    for group in (streams.commands, streams.floats, streams.bools):
        if topic in group:
            return clock(group[topic].t_s)
    if topic == itf.CLOCK.name and streams.clock is not None:
        return clock(streams.clock.t_s)
    if topic in streams.texts:
        return clock(np.array([t for t, _ in streams.texts[topic]]))
    return np.zeros(0)


def _gait(texts: dict, end_s: float) -> tuple:
    times, modes, refusals = [], [], []
    seen_refusals: set = set()
    for t, payload in texts.get(itf.GAIT_MODE.name, []):
        mode = payload.get('mode') if isinstance(payload, dict) else payload
        if mode:
            times.append(t)
            modes.append(_word(mode))
    for t, payload in texts.get(itf.GAIT_STATUS.name, []):
        if not isinstance(payload, dict):
            continue
        if itf.GAIT_MODE.name not in texts and payload.get('mode'):
            times.append(t)
            modes.append(_word(payload['mode']))
        current = set()
        for item in payload.get('refusals', []) or []:
            if isinstance(item, dict):
                subject = str(_first(item, 'subject', 'what', default='command'))
                reason = str(_first(item, 'reason', 'why', default=''))
            else:
                subject, reason = 'command', str(item)
            current.add((subject, reason))
            if (subject, reason) not in seen_refusals:
                refusals.append((t, subject, reason))
        seen_refusals = current
    order = np.argsort(times, kind='stable') if times else []
    timeline = _timeline([times[i] for i in order], [modes[i] for i in order], end_s)
    return timeline, refusals


def _claws(streams: MissionStreams, texts: dict, clock: _Clock, end_s: float) -> tuple:
    states: dict = {c: {'t': [], 'mode': [], 'holding': [], 'load': [], 'squeeze': [],
                        'weak': []} for c in itf.CLAW_LEGS}
    for t, payload in texts.get(itf.CLAW_STATE.name, []):
        for claw, rec in claw_records(payload).items():
            s = states[claw]
            s['t'].append(t)
            s['mode'].append(_word(_first(rec, 'mode', 'state', 'grip', default='unknown')))
            s['holding'].append(_num(_first(rec, 'verified_holding_n', 'verified_n',
                                            'holding_n', default=0.0), 0.0))
            s['load'].append(_num(_first(rec, 'load_n', 'wrist_load_n', default=math.nan)))
            s['squeeze'].append(_num(_first(rec, 'squeeze_n', 'measured_n', default=math.nan)))
            s['weak'].append(bool(rec.get('weak', False)))
    cmd = streams.commands.get(itf.CLAW_COMMANDS.name)
    eff = streams.joint_effort
    traces = {}
    for i, claw in enumerate(itf.CLAW_LEGS):
        if cmd is not None and cmd.values.shape[1] > i:
            ct, cv = clock(cmd.t_s), cmd.values[:, i]
        else:
            ct, cv = np.zeros(0), np.zeros(0)
        joint = f'{claw}_claw_joint'
        if eff is not None and joint in streams.joint_names:
            j = streams.joint_names.index(joint)
            mt, mv = clock(eff.t_s), eff.values[:, j]
        else:
            mt, mv = np.zeros(0), np.zeros(0)
        s = states[claw]
        if s['t']:
            grip = _timeline(s['t'], s['mode'], end_s)
            source = 'claw_state'
        elif len(mt):
            gripping = np.where(mv >= GRIP_COMMAND_MIN_N, 'gripping (measured)', 'open')
            change = np.flatnonzero(np.concatenate(([True], gripping[1:] != gripping[:-1])))
            grip = _timeline([float(mt[k]) for k in change], [str(gripping[k]) for k in change],
                             end_s)
            source = 'derived from squeeze'
        else:
            grip, source = [], 'none'
        traces[claw] = ClawTrace(claw, ct, cv, mt, mv, np.asarray(s['t'], dtype=float),
                                 np.asarray(s['holding'], dtype=float),
                                 np.asarray(s['load'], dtype=float), grip, source)
    return traces, states


def _slips(texts: dict, states: dict, traces: dict) -> list:
    slips = []
    if itf.CLAW_SLIPS.name in texts:
        for t, payload in texts[itf.CLAW_SLIPS.name]:
            records = payload if isinstance(payload, list) else [payload]
            for rec in records:
                if isinstance(rec, dict):
                    claw = str(rec.get('claw', '?'))
                    t_rec = _num(_first(rec, 't_s', 'time_s', 'stamp_s'), t)
                    slips.append(SlipRecord(t_rec if math.isfinite(t_rec) else t, claw,
                                            _word(rec.get('cause', 'unknown')),
                                            _num(rec.get('load_n', math.nan)), 'slip_events'))
                elif isinstance(rec, str) and rec:
                    slips.append(SlipRecord(t, rec, 'unknown', math.nan, 'slip_events'))
        return sorted(slips, key=lambda s: s.t_s)
    if any(states[c]['t'] for c in itf.CLAW_LEGS):
        for claw in itf.CLAW_LEGS:
            s = states[claw]
            prev = None
            for t, mode, load in zip(s['t'], s['mode'], s['load']):
                if mode == 'slipping' and prev != 'slipping':
                    slips.append(SlipRecord(t, claw, 'unknown', load, 'claw_state'))
                prev = mode
        return sorted(slips, key=lambda s: s.t_s)
    # No claw controller topics: a grip that cannot hold its commanded squeeze.
    for claw, tr in traces.items():
        if not len(tr.command_t_s) or not len(tr.measured_t_s):
            continue
        commanded = _hold(tr.measured_t_s, tr.command_t_s, tr.commanded_n, 0.0)
        lost = (commanded >= GRIP_COMMAND_MIN_N) & (tr.measured_n < 0.5 * commanded)
        lost = _persistent(tr.measured_t_s, lost, 0.1)
        for i in np.flatnonzero(lost & ~np.concatenate(([False], lost[:-1]))):
            slips.append(SlipRecord(float(tr.measured_t_s[i]), claw, 'squeeze_lost',
                                    math.nan, 'derived'))
    return sorted(slips, key=lambda s: s.t_s)


def _persistent(t: np.ndarray, flag: np.ndarray, min_s: float) -> np.ndarray:
    """Keep runs of ``flag`` lasting at least ``min_s`` (marked from where they qualify)."""
    out = np.zeros_like(flag)
    start = None
    for i in np.flatnonzero(np.diff(np.concatenate(([0], flag.astype(np.int8), [0])))):
        if start is None:
            start = i
        else:
            run = slice(start, i)
            ok = t[start:i] - t[start] >= min_s
            out[run] = ok
            start = None
    return out


def _margin(streams: MissionStreams, states: dict, clock: _Clock) -> tuple:
    times = sorted({t for c in itf.CLAW_LEGS for t in states[c]['t']})
    load_series = streams.floats.get(itf.SAMPLING_LOAD.name)
    if not times:
        z = np.zeros(0)
        return z, z, z, z
    t = np.asarray(times, dtype=float)
    holding = np.zeros(len(t))
    for claw in itf.CLAW_LEGS:
        s = states[claw]
        if s['t']:
            holding += _hold(t, np.asarray(s['t']), np.asarray(s['holding']), 0.0)
    if load_series is not None and len(load_series.t_s):
        lt = clock(load_series.t_s)
        load = np.abs(_hold(t, lt, load_series.values[:, 0], 0.0))
        # the load's own change points count too
        t_all = np.union1d(t, lt)
        holding = np.zeros(len(t_all))
        for claw in itf.CLAW_LEGS:
            s = states[claw]
            if s['t']:
                holding += _hold(t_all, np.asarray(s['t']), np.asarray(s['holding']), 0.0)
        load = np.abs(_hold(t_all, lt, load_series.values[:, 0], 0.0))
        t = t_all
    else:
        load = np.zeros(len(t))
    with np.errstate(divide='ignore', invalid='ignore'):
        margin = np.where(load > 1.0, holding / np.maximum(load, 1e-9), np.nan)
    return t, holding, load, margin


def summary_class_under(payload: object) -> str | None:
    """Return the terrain class under the robot from a ``/terrain/summary`` payload.

    Reads terrain perception's layout (``under.class``, core/terrain_types.encode_summary)
    and, for older or hand-made bags, a flat ``class_under``; None when neither is there.
    """
    value = None
    if isinstance(payload, dict):
        value = _first(payload, 'class_under', 'terrain_under', 'under_class')
        if value is None and isinstance(payload.get('under'), dict):
            value = _first(payload['under'], 'class', 'terrain_class', 'kind')
    elif isinstance(payload, str):
        value = payload
    return None if value is None else _word(value)


def _terrain(texts: dict, end_s: float) -> list:
    times, labels = [], []
    for t, payload in texts.get(itf.TERRAIN_SUMMARY.name, []):
        label = summary_class_under(payload)
        if label is not None:
            times.append(t)
            labels.append(label)
    return _timeline(times, labels, end_s)


def _sampling(texts: dict, end_s: float) -> tuple:
    times, phases, runs = [], [], []
    current = None
    for t, payload in texts.get(itf.SAMPLING_STATUS.name, []):
        if isinstance(payload, dict):
            phase = _word(_first(payload, 'phase', 'state', default='unknown'))
        elif isinstance(payload, str):
            phase, payload = _word(payload), {}
        else:
            continue
        times.append(t)
        phases.append(phase)
        mass = _num(_first(payload, 'mass_g', default=math.nan))
        if math.isnan(mass):
            mass = _num(payload.get('mass_kg', math.nan)) * 1000.0
        if phase in ACTIVE_PHASES and current is None:
            current = {'start': t, 'mass0': mass, 'attempts': set(), 'site': None}
        if current is not None:
            attempt = payload.get('attempt')
            if attempt is not None:
                current['attempts'].add(attempt)
            site = _first(payload, 'site_xy_m', 'site')
            if isinstance(site, (list, tuple)):
                current['site'] = tuple(_num(v) for v in site)
            current['mass'] = mass
            if phase in TERMINAL_PHASES or phase == 'idle':
                runs.append(_run(len(runs), current, t, TERMINAL_PHASES.get(phase, 'aborted'),
                                 str(payload.get('reason', ''))))
                current = None
    if current is not None:
        runs.append(_run(len(runs), current, end_s, 'unfinished', 'bag ends during the run'))
    return _timeline(times, phases, end_s), runs


def _run(index: int, cur: dict, t_end: float, outcome: str, reason: str) -> SampleRun:
    mass = cur.get('mass', math.nan)
    m0 = cur['mass0'] if math.isfinite(cur['mass0']) else 0.0
    return SampleRun(index + 1, cur['start'], t_end, outcome, mass,
                     mass - m0 if math.isfinite(mass) else math.nan, cur['site'], reason,
                     max(1, len(cur['attempts'])))


def _mass(streams: MissionStreams, texts: dict, clock: _Clock) -> tuple:
    series = streams.floats.get(itf.SAMPLER_MASS.name)
    if series is not None and len(series.t_s):
        return clock(series.t_s), series.values[:, 0] * 1000.0
    t, m = [], []
    for ts, payload in texts.get(itf.SAMPLING_STATUS.name, []):
        if isinstance(payload, dict) and 'mass_g' in payload:
            t.append(ts)
            m.append(_num(payload['mass_g']))
    return np.asarray(t, dtype=float), np.asarray(m, dtype=float)


def _speed(streams: MissionStreams, clock: _Clock) -> tuple:
    for topic, source in ((itf.GROUND_TRUTH_ODOM.name, 'ground truth'),
                          (itf.ODOM.name, 'estimate (/odom)')):
        series = streams.odometry.get(topic)
        if series is not None and len(series.t_s):
            v = series.values
            quat, lin = v[:, 3:7], v[:, 7:10]
            speed = np.linalg.norm(lin, axis=1)
            away = _quat_rotate_z(quat, lin)
            return clock(series.t_s), speed, away, source
    z = np.zeros(0)
    return z, z, z, 'none'


def _rates(streams: MissionStreams, clock: _Clock, present: set) -> list:
    out = []
    for topic in sorted(present):
        t = _topic_times(streams, topic, clock)
        if len(t) == 0:
            continue
        n = len(t)
        span = float(t[-1] - t[0]) if n > 1 else 0.0
        rate = (n - 1) / span if span > 0 else math.nan
        max_gap = float(np.max(np.diff(t))) if n > 1 else math.nan
        stamp_rate = lat_med = lat_p95 = lat_max = math.nan
        if topic in streams.stamps:
            recv, stamp = streams.stamps[topic]
            ok = np.isfinite(stamp) & (stamp > 0)
            if np.count_nonzero(ok) > 1:
                s = np.unique(stamp[ok])
                # the producer's period: the median over 4-message windows, robust to
                # messages lost on the way and to periods that alternate with the sim step
                k = min(4, len(s) - 1)
                steps = (s[k:] - s[:-k]) / k if k > 0 else np.zeros(0)
                stamp_rate = 1.0 / float(np.median(steps)) if len(steps) else math.nan
                # each message's receive time against its own stamp (duplicates kept: many
                # nodes publish /diagnostics with the same stamp)
                lat = (clock.absolute(recv[ok]) - stamp[ok]) * 1e3
                lat_med, lat_p95, lat_max = (float(np.median(lat)),
                                             float(np.percentile(lat, 95)), float(np.max(lat)))
        spec = _spec(topic)
        out.append(TopicRate(topic, n, rate, stamp_rate, spec.rate_hz if spec else math.nan,
                             lat_med, lat_p95, lat_max, max_gap))
    return out


def _diagnostic_anomalies(streams: MissionStreams, clock: _Clock) -> list:
    out, active, refused = [], {}, {}
    for t, level, name, message, values in streams.diagnostics:
        tm = float(clock(np.array([t]))[0])
        key = (name, message)
        trip = level >= 1 and bool(_WATCHDOG.search(message))
        if trip and not active.get(name) == message:
            out.append(Anomaly(tm, 'watchdog', name, message))
        active[name] = message if trip else None
        count = values.get('refused_commands')
        if count is not None:
            n = int(_num(count, 0.0))
            if n > refused.get(name, 0):
                out.append(Anomaly(tm, 'refused', name,
                                   f'{n - refused.get(name, 0)} command(s) refused'))
            refused[name] = n
        elif level >= 1 and _REFUSED.search(message) and key not in refused:
            out.append(Anomaly(tm, 'refused', name, message))
            refused[key] = 1
    return out


def _claw_anomalies(texts: dict) -> list:
    out, prev = [], {}
    for t, payload in texts.get(itf.CLAW_STATE.name, []):
        for claw, rec in claw_records(payload).items():
            mode = _word(_first(rec, 'mode', 'state', default=''))
            if mode == 'unknown' and prev.get(claw) not in (None, 'unknown'):
                out.append(Anomaly(t, 'watchdog', claw, 'claw sensors stale: state unknown'))
            if mode == 'failed' and prev.get(claw) != 'failed':
                out.append(Anomaly(t, 'claw_failed', claw, 'claw failed'))
            prev[claw] = mode
            for item in rec.get('refused', []) or []:
                out.append(Anomaly(t, 'refused', claw, str(item)))
    return out
