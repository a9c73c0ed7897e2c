# SPDX-License-Identifier: Apache-2.0
"""Core tests of the sampling sequence, its interlocks, its parameters and the sample log.

A small test-side plant stands in for the sampler: an ideal position servo on the feed that
stops on the ground (force = feed stiffness x lead, up to 250 N), collection at the kind's
rate of DESIGN.md section 6 (linear in feed force and drill speed), a gait layer that
anchors a moment after being asked, and claws whose holding force the test scripts.
"""

import dataclasses
import json
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from space_miner.core.robot import ConfigError, load_robot_config
from space_miner.core.sample_log import atomic_write_bytes, SampleLog, SampleRecord
from space_miner.core.sampling import (
    AbortCause, AttemptOutcome, AttemptResult, ClawHold, DrillRates, EventLevel, GaitRequest,
    LidCommand, load_drill_rates, load_sampling_params, parse_drill_rates, parse_sampling_params,
    predict_collection_rate_g_s, predict_collection_time_s, sampling_params_to_dict,
    SamplingInputs, SamplingPhase, SamplingSequence, SiteVerdict, TERMINAL_PHASES)

ROOT = Path(__file__).resolve().parent.parent
SAMPLER = load_robot_config().sampler
PARAMS = load_sampling_params()
#: DESIGN.md section 6, passed explicitly so these tests do not hang on a colleague's file.
RATES = DrillRates(50.0, 10.0, {'smooth': 1.0, 'regolith': 2.0, 'rubble': 0.5, 'rock': 0.3})
GRIP_FRACTION = {'smooth': 0.2, 'regolith': 0.1, 'rubble': 0.8, 'rock': 1.0}
SITE = (6.0, 1.0)
DT_S = 0.02
CLAWS = ('c1', 'c2', 'c3')


def claws(holding_n, verified=True, slipping=()):
    """Claw reports: the same holding force [N] on each claw, unless a mapping is given."""
    if not isinstance(holding_n, dict):
        holding_n = {c: holding_n for c in CLAWS}
    return tuple(ClawHold(c, verified, f, c in slipping) for c, f in holding_n.items())


class Plant:
    """Feed servo on the ground, collection at the kind's rate, a gait layer, a lid."""

    def __init__(self, kind='rock', ground_m=0.03, depth_per_g_m=3.0e-4, rates=RATES,
                 anchor_delay_s=0.5, anchors=True):
        self.kind = kind
        self.ground_m = ground_m
        self.depth_per_g_m = depth_per_g_m
        self.rates = rates
        self.pos_m = 0.0
        self.force_n = 0.0
        self.mass_g = 0.0
        self.gait_mode = 'crawl'
        self.anchor_asked_s = None
        self.anchor_delay_s = anchor_delay_s
        self.anchors = anchors

    def step(self, t_s, dt_s, out):
        cmd = out.feed_position_m
        if cmd <= self.ground_m:
            self.pos_m, self.force_n = cmd, 0.0
        else:
            self.pos_m = self.ground_m
            self.force_n = min(SAMPLER.feed_force_max_n,
                               SAMPLER.feed_stiffness_n_per_m * (cmd - self.ground_m))
        if out.drill_speed_rad_s > 0.0 and self.force_n > 0.0 and out.lid is LidCommand.OPEN:
            rate = predict_collection_rate_g_s(self.rates, self.kind, self.force_n,
                                               out.drill_speed_rad_s)
            self.mass_g += rate * dt_s
            self.ground_m += rate * dt_s * self.depth_per_g_m
        if out.gait_request is GaitRequest.ANCHOR and self.anchors:
            if self.anchor_asked_s is None:
                self.anchor_asked_s = t_s
            if t_s - self.anchor_asked_s >= self.anchor_delay_s:
                self.gait_mode = 'anchor'
        elif out.gait_request is GaitRequest.HOLD:
            self.gait_mode = 'hold'


class Run:
    """Steps a sequence against a plant; records every output."""

    def __init__(self, kind='rock', params=PARAMS, rates=RATES, plant=None, site=SITE,
                 holding_n=None, target_g=None):
        self.seq = SamplingSequence(params, SAMPLER, rates)
        self.plant = plant or Plant(kind=kind, rates=rates)
        self.kind = kind
        self.verdict = SiteVerdict(True, kind)
        self.t_s = 0.0
        self.outs = []
        self.inputs = []
        self.holding_n = 200.0 * GRIP_FRACTION[kind] if holding_n is None else holding_n
        self.claws = claws(self.holding_n)
        self.fault = ''
        self.overrides = {}
        ok, msg = self.seq.start(0.0, site, target_g)
        assert ok, msg

    def step(self):
        values = dict(feed_position_m=self.plant.pos_m, mass_kg=self.plant.mass_g / 1000.0,
                      claws=self.claws, gait_mode=self.plant.gait_mode, site=self.verdict,
                      body_xy_m=SITE, body_yaw_rad=0.3, feed_force_n=self.plant.force_n,
                      fault=self.fault)
        values.update(self.overrides)
        inputs = SamplingInputs(**values)
        out = self.seq.step(self.t_s, inputs)
        self.inputs.append(inputs)
        self.outs.append(out)
        self.plant.step(self.t_s, DT_S, out)
        self.t_s = round(self.t_s + DT_S, 9)
        return out

    def until(self, predicate, limit_s=600.0):
        """Step until ``predicate(out)``; fail the test if it never holds."""
        end = self.t_s + limit_s
        while self.t_s < end:
            out = self.step()
            if predicate(out):
                return out
        raise AssertionError(f'condition not reached by {self.t_s:g} s; '
                             f'phase {self.seq.phase}, reason {self.seq.status().reason!r}')

    def to_phase(self, phase):
        return self.until(lambda o: o.status.phase is phase)

    def finish(self, limit_s=900.0):
        return self.until(lambda o: o.status.phase in TERMINAL_PHASES, limit_s)

    def results(self):
        return [r for o in self.outs for r in o.attempt_results]

    def events(self):
        return [e.text for o in self.outs for e in o.events]


def budget_n(inputs):
    """Half the verified holding of the non-slipping claws with finite figures [N]."""
    total = sum(c.holding_force_n for c in inputs.claws
                if c.verified and not c.slipping and math.isfinite(c.holding_force_n)
                and c.holding_force_n > 0)
    return total / 2.0


def assert_never_releases(run):
    for out in run.outs:
        assert out.gait_request in (None, GaitRequest.ANCHOR, GaitRequest.HOLD)


def assert_interlocks_held(run):
    """Every step: feed force <= half the holding; drill only when anchored; limits kept."""
    for inputs, out in zip(run.inputs, run.outs):
        assert 0.0 <= out.feed_force_n <= budget_n(inputs) + 1e-9
        assert out.feed_force_n <= 250.0
        assert 0.0 <= out.drill_speed_rad_s <= 20.0
        anchored = inputs.gait_mode == 'anchor' and sum(
            1 for c in inputs.claws if c.verified and not c.slipping
            and math.isfinite(c.holding_force_n) and c.holding_force_n > 0) >= 2
        if out.drill_speed_rad_s > 0.0 or out.feed_force_n > 0.0:
            assert anchored
        assert 0.0 <= out.feed_position_m <= SAMPLER.feed_stroke_m
    assert_never_releases(run)


# --- the gait request set itself -----------------------------------------------------------

def test_the_sampler_can_only_ask_for_stances_that_keep_every_grip():
    assert {m.value for m in GaitRequest} == {'anchor', 'hold'}


# --- nominal -------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['smooth', 'regolith', 'rubble', 'rock'])
def test_nominal_sequence_reaches_done_with_the_target(kind):
    run = Run(kind)
    out = run.finish()
    assert out.status.phase is SamplingPhase.DONE, out.status.reason
    assert out.status.mass_g >= 100.0
    assert run.plant.mass_g >= 100.0
    phases = [o.status.phase for o in run.outs]
    order = [SamplingPhase.ANCHOR, SamplingPhase.DEPLOY, SamplingPhase.DRILL,
             SamplingPhase.CLOSE_LID, SamplingPhase.STOW, SamplingPhase.VERIFY,
             SamplingPhase.DONE]
    assert [p for i, p in enumerate(phases) if i == 0 or p is not phases[i - 1]
            ][-len(order):] == order
    results = run.results()
    assert len(results) == 1 and results[0].outcome is AttemptOutcome.SUCCESS
    assert results[0].terrain_kind == kind and results[0].depth_m > 0.0
    assert results[0].collected_g >= 100.0
    assert_interlocks_held(run)
    # the drill only turned with the lid open and the anchor stance asked for
    for o in run.outs:
        if o.drill_speed_rad_s > 0:
            assert o.lid is LidCommand.OPEN and o.gait_request is GaitRequest.ANCHOR
    # the feed force used the budget: half the holding of three claws, or the 250 N limit
    peak = max(o.feed_force_n for o in run.outs)
    assert peak == pytest.approx(min(250.0, 3 * 200.0 * GRIP_FRACTION[kind] / 2.0), rel=1e-6)
    # the sampler ends stowed, lid closed, nothing asked of the gait
    assert run.plant.pos_m <= PARAMS.stow_tolerance_m and out.lid is LidCommand.CLOSED
    assert out.gait_request is None


# --- interlock: no verified anchor, no drill ------------------------------------------------

@pytest.mark.parametrize('case', ['unverified', 'one_claw', 'gait_not_anchor', 'weak'])
def test_no_verified_anchor_no_drill(case):
    params = dataclasses.replace(PARAMS, anchor_timeout_s=3.0)
    run = Run('rock', params=params)
    if case == 'unverified':
        run.claws = claws(200.0, verified=False)
    elif case == 'one_claw':
        run.claws = claws({'c1': 200.0, 'c2': 0.0, 'c3': 0.0})
    elif case == 'gait_not_anchor':
        run.plant.anchors = False
    else:   # verified, but 2 x 15 N holds less than twice the approach force
        run.claws = claws({'c1': 15.0, 'c2': 15.0, 'c3': 0.0})
    out = run.finish()
    assert out.status.phase is SamplingPhase.FAILED
    assert all(o.drill_speed_rad_s == 0.0 and o.feed_force_n == 0.0 for o in run.outs)
    assert all(o.status.phase is not SamplingPhase.DEPLOY for o in run.outs)
    assert all(o.feed_position_m == 0.0 for o in run.outs)
    assert len(run.results()) == PARAMS.max_attempts
    assert 'anchor not verified' in out.status.reason
    assert_never_releases(run)


def test_verified_holding_lost_mid_drill_stops_the_drill_in_the_same_step():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.drill_speed_rad_s > 0
              and o.status.mass_g > 5.0)
    run.claws = claws({'c1': 200.0, 'c2': 200.0, 'c3': 200.0}, verified=False)
    out = run.step()
    assert out.drill_speed_rad_s == 0.0 and out.feed_force_n == 0.0
    assert out.status.phase is SamplingPhase.ABORTING
    assert out.gait_request is GaitRequest.ANCHOR
    assert out.feed_position_m <= run.inputs[-1].feed_position_m
    assert any('verified holding lost' in e for e in run.events())


def test_gait_leaving_anchor_mid_drill_aborts_in_the_same_step():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.drill_speed_rad_s > 0)
    run.plant.gait_mode = 'crawl'
    out = run.step()
    assert out.status.phase is SamplingPhase.ABORTING
    assert out.drill_speed_rad_s == 0.0 and out.feed_force_n == 0.0
    assert out.gait_request is GaitRequest.ANCHOR
    assert any("gait left anchor (mode 'crawl')" in e for e in run.events())


def test_a_slip_while_deploying_cuts_the_approach_force():
    run = Run('rock')
    before = run.until(lambda o: o.status.phase is SamplingPhase.DEPLOY)
    assert before.feed_force_n == pytest.approx(PARAMS.approach_force_n)
    run.claws = claws(200.0, slipping=('c1',))
    out = run.step()
    assert out.feed_force_n == pytest.approx(PARAMS.slip_feed_factor * PARAMS.approach_force_n)
    assert out.feed_position_m <= (run.inputs[-1].feed_position_m
                                   + out.feed_force_n / SAMPLER.feed_stiffness_n_per_m + 1e-12)


# --- interlock: reaction at most half the holding ------------------------------------------

def test_feed_force_is_held_to_half_the_verified_holding():
    run = Run('rock', holding_n=50.0)      # 150 N held: at most 75 N of feed
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.status.mass_g > 5.0)
    assert run.outs[-1].feed_force_n == pytest.approx(75.0)
    assert any('limited to 75.0 N by the holding budget' in e for e in run.events())
    run.claws = claws({'c1': 50.0, 'c2': 20.0, 'c3': 20.0})   # holding drops to 90 N
    out = run.step()
    assert out.feed_force_n == pytest.approx(45.0)            # lowered in the same step
    assert out.feed_position_m <= run.inputs[-1].feed_position_m + 45.0 / 20000.0 + 1e-12
    run.until(lambda o: o.status.phase is SamplingPhase.DONE)
    assert_interlocks_held(run)


def test_measured_reaction_above_half_the_holding_stops_the_feed():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.feed_force_n > 100.0)
    run.overrides = {'feed_force_n': 320.0}     # more than the 300 N budget, measured
    out = run.step()
    assert out.feed_force_n == 0.0 and out.drill_speed_rad_s == 0.0
    assert out.feed_position_m <= run.inputs[-1].feed_position_m
    assert any('above the budget' in e and 'feed stopped' in e for e in run.events())
    run.overrides = {}
    out = run.step()
    assert 0.0 < out.feed_force_n <= 300.0 + 1e-9     # ramps back from zero


def test_the_feed_limit_toggling_is_told_once_then_debug_and_counted():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.feed_force_n > 100.0)
    before = len(run.outs)
    for _ in range(3):   # the measured reaction crosses the budget again and again
        run.overrides = {'feed_force_n': 320.0}
        run.step()
        run.overrides = {}
        run.step()
    stops = [e for o in run.outs[before:] for e in o.events if 'feed stopped' in e.text]
    assert len(stops) == 3
    assert stops[0].level is EventLevel.INFO
    assert all(e.level is EventLevel.DEBUG for e in stops[1:])
    assert run.outs[-1].status.feed_limit_changes >= 3


def test_budget_below_the_minimum_stops_feed_and_drill_then_aborts():
    params = dataclasses.replace(PARAMS, drill_stall_s=2.0, max_attempts=1)
    run = Run('rock', params=params)
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.feed_force_n > 50.0)
    run.claws = claws({'c1': 4.0, 'c2': 4.0, 'c3': 0.0})   # 8 N held: 4 N budget < 5 N
    out = run.step()
    assert out.feed_force_n == 0.0 and out.drill_speed_rad_s == 0.0
    out = run.finish()
    assert out.status.phase is SamplingPhase.FAILED
    assert 'no mass gained' in out.status.reason
    assert_interlocks_held(run)


# --- interlock: slip -----------------------------------------------------------------------

def test_a_slip_cuts_the_feed_at_once_and_a_short_one_is_ridden_out():
    run = Run('rock')
    before = run.until(lambda o: o.status.phase is SamplingPhase.DRILL
                       and o.feed_force_n >= 200.0)
    run.claws = claws(200.0, slipping=('c2',))
    out = run.step()
    assert out.feed_force_n <= PARAMS.slip_feed_factor * before.feed_force_n + 1e-9
    assert out.status.phase is SamplingPhase.DRILL
    for _ in range(5):                   # 0.1 s of slip: no ramp-up meanwhile
        assert run.step().feed_force_n <= out.feed_force_n + 1e-9
    run.claws = claws(200.0)
    out = run.finish()
    assert out.status.phase is SamplingPhase.DONE
    assert any('slip on c2' in e for e in run.events())
    assert_interlocks_held(run)


@pytest.mark.parametrize('case', ['long_slip', 'two_claws_one_slips', 'many_slips'])
def test_slip_beyond_the_limit_aborts_retracts_and_keeps_every_grip(case):
    params = dataclasses.replace(PARAMS, max_attempts=1)
    run = Run('rock', params=params)
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.feed_force_n > 100.0)
    if case == 'two_claws_one_slips':
        run.claws = claws({'c1': 200.0, 'c2': 200.0})
        run.step()
        run.claws = (ClawHold('c1', True, 200.0, False), ClawHold('c2', True, 200.0, True))
        out = run.step()
        assert out.status.phase is SamplingPhase.ABORTING and out.drill_speed_rad_s == 0.0
    elif case == 'long_slip':
        run.claws = claws(200.0, slipping=('c1',))
        onset_s = run.t_s
        run.until(lambda o: o.status.phase is SamplingPhase.ABORTING, limit_s=2.0)
        assert run.t_s - DT_S - onset_s == pytest.approx(PARAMS.slip_abort_s, abs=1.5 * DT_S)
    else:
        for _ in range(PARAMS.slip_max_count + 1):
            run.claws = claws(200.0, slipping=('c3',))
            run.step()
            run.claws = claws(200.0)
            if run.step().status.phase is SamplingPhase.ABORTING:
                break
    out = run.finish()
    assert out.status.phase is SamplingPhase.FAILED
    aborting = [o for o in run.outs if o.status.phase is SamplingPhase.ABORTING]
    assert aborting
    for o in aborting:
        assert o.gait_request is GaitRequest.ANCHOR       # the anchor stance, all grips kept
        assert o.drill_speed_rad_s == 0.0 and o.feed_force_n == 0.0
        assert o.lid is LidCommand.CLOSED
    cmds = [o.feed_position_m for o in aborting]
    assert all(b <= a + 1e-12 for a, b in zip(cmds, cmds[1:]))
    assert run.plant.pos_m <= PARAMS.stow_tolerance_m
    assert run.results()[-1].outcome is AttemptOutcome.FAILED
    expected = AbortCause.HOLDING_LOST if case == 'two_claws_one_slips' else AbortCause.SLIP
    assert run.results()[-1].cause is expected
    assert_never_releases(run)


# --- abort from every phase ----------------------------------------------------------------

ABORTABLE = [SamplingPhase.SITE_CHECK, SamplingPhase.ANCHOR, SamplingPhase.DEPLOY,
             SamplingPhase.DRILL, SamplingPhase.CLOSE_LID, SamplingPhase.STOW,
             SamplingPhase.VERIFY]


@pytest.mark.parametrize('how', ['operator', 'fault'])
@pytest.mark.parametrize('phase', ABORTABLE, ids=lambda p: p.value)
def test_abort_from_every_phase_retracts_and_keeps_every_grip(phase, how):
    run = Run('rock')
    if phase is not SamplingPhase.SITE_CHECK:
        run.to_phase(phase)
        if phase is SamplingPhase.DRILL:
            run.until(lambda o: o.status.mass_g > 10.0)
    assert run.seq.phase is phase
    anchor_asked = phase is not SamplingPhase.SITE_CHECK
    start = len(run.outs)
    if how == 'operator':
        ok, msg = run.seq.abort(run.t_s, 'test')
        assert ok, msg
    else:
        run.fault = 'estop'
    out = run.finish(limit_s=60.0)
    after = run.outs[start:]
    cmds = [o.feed_position_m for o in after]
    assert all(b <= a + 1e-12 for a, b in zip(cmds, cmds[1:]))
    for o in after:
        assert o.drill_speed_rad_s == 0.0 and o.feed_force_n == 0.0
        assert o.lid is LidCommand.CLOSED
        if how == 'fault':
            assert o.gait_request is GaitRequest.HOLD
        elif o.status.phase is SamplingPhase.ABORTING:
            assert o.gait_request is (GaitRequest.ANCHOR if anchor_asked else None)
    assert run.plant.pos_m <= PARAMS.stow_tolerance_m and out.feed_position_m == 0.0
    results = run.results()
    assert len(results) == 1
    if how == 'operator':
        assert out.status.phase is SamplingPhase.ABORTED
        assert results[0].outcome is AttemptOutcome.ABORTED
        assert 'aborted: test' in out.status.reason
    else:
        assert out.status.phase is SamplingPhase.FAILED
        assert results[0].outcome is AttemptOutcome.FAILED
        assert 'fault: estop' in out.status.reason
        assert run.plant.gait_mode == 'hold'
    assert_interlocks_held(run)
    # a second abort is refused; nothing is running
    assert run.seq.abort(run.t_s)[0] is False


def test_estop_freezes_the_sampler_where_it_is_then_retracts_once_cleared():
    """DESIGN.md: e-stop stops motion and keeps every grip; the drill is not pulled out."""
    run = Run('rock')
    run.to_phase(SamplingPhase.DRILL)
    run.until(lambda o: o.status.mass_g > 10.0)
    depth_m = run.plant.pos_m
    assert depth_m > PARAMS.stow_tolerance_m
    run.overrides['estop'] = True
    start = len(run.outs)
    frozen_s = PARAMS.stow_timeout_s + 5.0  # longer than any timeout: none may fire
    for _ in range(int(frozen_s / DT_S)):
        run.step()
    frozen = run.outs[start:]
    for o in frozen:
        assert o.drill_speed_rad_s == 0.0 and o.feed_force_n == 0.0
        assert o.feed_position_m == pytest.approx(depth_m, abs=1e-9)
        assert o.gait_request is GaitRequest.HOLD
        assert o.status.phase is SamplingPhase.ABORTING
    assert run.plant.pos_m == pytest.approx(depth_m, abs=1e-9)
    assert not run.results()  # no timeout ended the attempt while frozen
    del run.overrides['estop']
    out = run.finish(limit_s=60.0)
    assert out.status.phase is SamplingPhase.FAILED and 'fault: e-stop' in out.status.reason
    assert run.plant.pos_m <= PARAMS.stow_tolerance_m
    assert run.plant.gait_mode == 'hold'
    assert_interlocks_held(run)


def _hold_gait_for(run, hold_s):
    """Put the plant's gait in ``hold`` for ``hold_s`` [s]; return the outputs meanwhile."""
    run.overrides['gait_mode'] = 'hold'
    start = len(run.outs)
    for _ in range(round(hold_s / DT_S)):
        run.step()
    del run.overrides['gait_mode']
    return run.outs[start:]


def test_a_short_gait_hold_pauses_the_drilling_which_then_resumes_and_succeeds():
    """A watchdog trip (stale sensor) holds the gait a moment: the site is not given up."""
    run = Run('rock')
    run.to_phase(SamplingPhase.DRILL)
    run.until(lambda o: o.status.mass_g > 10.0)
    depth_m, mass_g = run.plant.pos_m, run.plant.mass_g
    paused = _hold_gait_for(run, 0.6 * PARAMS.gait_hold_grace_s)
    for o in paused:
        assert o.status.phase is SamplingPhase.DRILL
        assert o.drill_speed_rad_s == 0.0 and o.feed_force_n == 0.0
        assert o.feed_position_m == pytest.approx(depth_m, abs=1e-9)
        assert o.gait_request is GaitRequest.ANCHOR    # asked back, never released
    assert run.plant.mass_g == pytest.approx(mass_g)   # nothing drilled while paused
    events = run.events()
    assert any('gait in hold: sequence paused' in e for e in events)
    out = run.finish()
    assert any('gait left hold after' in e for e in run.events())
    assert out.status.phase is SamplingPhase.DONE, out.status.reason
    assert [r.outcome for r in run.results()] == [AttemptOutcome.SUCCESS]
    assert_interlocks_held(run)


def test_a_gait_hold_longer_than_the_grace_is_a_fault_that_retracts_and_latches_hold():
    run = Run('rock')
    run.to_phase(SamplingPhase.DRILL)
    run.until(lambda o: o.status.mass_g > 10.0)
    onset_s = run.t_s
    run.overrides['gait_mode'] = 'hold'
    run.until(lambda o: o.status.phase is SamplingPhase.ABORTING)
    assert run.t_s - DT_S - onset_s == pytest.approx(PARAMS.gait_hold_grace_s, abs=1.5 * DT_S)
    out = run.finish(limit_s=60.0)
    assert out.status.phase is SamplingPhase.FAILED
    assert 'fault: gait in hold for' in out.status.reason
    assert out.gait_request is GaitRequest.HOLD
    assert [r.cause for r in run.results()] == [AbortCause.FAULT]   # no retry of a fault
    assert run.plant.pos_m <= PARAMS.stow_tolerance_m
    assert_interlocks_held(run)


# --- retries -------------------------------------------------------------------------------

def test_retries_are_bounded_then_failed_with_a_reason():
    params = dataclasses.replace(PARAMS, drill_stall_s=2.0)
    rates = DrillRates(50.0, 10.0, {'smooth': 1.0, 'regolith': 2.0, 'rubble': 0.5,
                                    'rock': 0.0})
    run = Run('rock', params=params, rates=rates)
    out = run.finish()
    results = run.results()
    assert out.status.phase is SamplingPhase.FAILED
    assert [r.attempt for r in results] == [1, 2, 3]
    assert all(r.outcome is AttemptOutcome.FAILED for r in results)
    assert out.status.reason.startswith('3 attempts used; last: no mass gained')
    assert out.status.attempt == 3
    assert any('retrying' in e for e in run.events())
    assert_interlocks_held(run)


def test_low_mass_is_retried_and_the_container_accumulates():
    params = dataclasses.replace(PARAMS, collect_max_s=10.0)
    run = Run('rock', params=params)    # <= 3 g/s for 10 s per attempt: 3 attempts fall short
    out = run.finish()
    results = run.results()
    assert out.status.phase is SamplingPhase.FAILED and len(results) == 3
    masses = [r.mass_g for r in results]
    assert masses == sorted(masses) and 20.0 < masses[0] < masses[-1] < 100.0
    assert 'below target' in out.status.reason


def test_low_mass_then_success_on_a_retry():
    params = dataclasses.replace(PARAMS, collect_max_s=25.0)
    run = Run('rock', params=params)
    out = run.finish()
    outcomes = [r.outcome for r in run.results()]
    assert out.status.phase is SamplingPhase.DONE
    assert outcomes == [AttemptOutcome.FAILED, AttemptOutcome.SUCCESS]


@pytest.mark.parametrize('case', ['not_sampleable', 'out_of_reach', 'unknown_kind',
                                  'no_verdict'])
def test_a_rejected_site_fails_at_once_without_retries(case):
    params = dataclasses.replace(PARAMS, site_check_timeout_s=1.0)
    run = Run('rock', params=params, site=(7.0, 1.0) if case == 'out_of_reach' else SITE)
    if case == 'not_sampleable':
        run.verdict = SiteVerdict(False, 'rock', 'slope 40 deg')
    elif case == 'unknown_kind':
        run.verdict = SiteVerdict(True, 'ice')
    elif case == 'no_verdict':
        run.verdict = None
    out = run.finish()
    assert out.status.phase is SamplingPhase.FAILED
    assert out.status.reason.startswith('site rejected')
    assert [r.outcome for r in run.results()] == [AttemptOutcome.REJECTED]
    assert all(o.gait_request is None and o.drill_speed_rad_s == 0.0 for o in run.outs)


# --- refused inputs ------------------------------------------------------------------------

def test_nan_mass_is_refused_reported_and_not_used():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.status.mass_g > 20.0)
    held = run.outs[-1].status.mass_g
    for bad in (math.nan, math.inf, -1.0):
        run.overrides = {'mass_kg': bad}
        out = run.step()
        assert out.status.mass_g == pytest.approx(held, abs=5.0)
        assert math.isfinite(out.status.mass_g)
        assert any(f.startswith('mass_kg=') for f in out.status.input_faults)
        held = out.status.mass_g
    run.overrides = {}
    out = run.finish()
    assert out.status.phase is SamplingPhase.DONE
    events = run.events()
    assert any('refused non-finite or invalid input: mass_kg=nan' in e for e in events)
    assert any('inputs valid again' in e for e in events)
    # It had been valid: a warning.
    (refused,) = [e for o in run.outs for e in o.events if 'mass_kg=nan' in e.text]
    assert refused.level is EventLevel.WARN


def test_an_input_not_yet_received_at_the_start_is_told_not_warned():
    run = Run('rock')
    run.overrides = {'mass_kg': math.nan}   # the load cell's first reading still to come
    out = run.step()
    assert any(f.startswith('mass_kg=') for f in out.status.input_faults)
    (waiting,) = [e for e in out.events if 'mass_kg=nan' in e.text]
    assert waiting.level is EventLevel.INFO


def test_nan_mass_during_verify_never_counts_as_the_target():
    params = dataclasses.replace(PARAMS, max_attempts=1)
    run = Run('rock', params=params)
    run.to_phase(SamplingPhase.VERIFY)
    run.overrides = {'mass_kg': math.nan}
    out = run.finish()
    assert out.status.phase is SamplingPhase.FAILED
    assert 'no valid mass reading' in out.status.reason


def test_non_finite_holding_is_refused_and_counts_as_no_grip():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL and o.feed_force_n >= 250.0)
    run.claws = claws({'c1': math.nan, 'c2': 100.0, 'c3': 100.0})
    out = run.step()
    assert out.feed_force_n <= 100.0 + 1e-9      # (100 + 100) / 2, never NaN
    assert 'c1.holding_force_n=nan' in out.status.input_faults
    assert out.status.phase is SamplingPhase.DRILL
    # c1's holding was valid before: someone should look.
    (refused,) = [e for e in out.events if 'c1.holding_force_n=nan' in e.text]
    assert refused.level is EventLevel.WARN
    run.claws = claws({'c1': math.inf, 'c2': math.nan, 'c3': 100.0})
    out = run.step()
    assert out.status.phase is SamplingPhase.ABORTING
    assert out.feed_force_n == 0.0 and out.drill_speed_rad_s == 0.0
    assert math.isfinite(out.status.holding_budget_n)
    assert_interlocks_held(run)


def test_non_finite_feed_position_aborts_and_time_must_be_finite():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DRILL)
    run.overrides = {'feed_position_m': math.nan}
    out = run.step()
    assert out.status.phase is SamplingPhase.ABORTING and out.drill_speed_rad_s == 0.0
    assert any('feed position not finite' in e for e in run.events())
    with pytest.raises(ValueError, match='non-finite time'):
        run.seq.step(math.nan, run.inputs[-1])


def test_start_refuses_bad_requests():
    seq = SamplingSequence(PARAMS, SAMPLER, RATES)
    assert seq.start(0.0, (math.nan, 0.0))[0] is False
    assert seq.start(0.0, (1.0,))[0] is False
    assert seq.start(0.0, SITE, target_g=math.inf)[0] is False
    assert seq.start(0.0, SITE, target_g=1000.0)[0] is False    # beyond the container
    assert seq.phase is SamplingPhase.IDLE
    assert seq.start(0.0, SITE)[0] is True
    ok, msg = seq.start(0.1, SITE)
    assert ok is False and 'already running' in msg


# --- parameters ----------------------------------------------------------------------------

def test_default_parameters_match_the_design():
    assert PARAMS.safety_factor == 2.0
    assert PARAMS.max_attempts == 3
    assert PARAMS.target_mass_g == 100.0
    assert PARAMS.feed_force_n <= 250.0 and PARAMS.drill_speed_rad_s <= 20.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        PARAMS.safety_factor = 1.0  # type: ignore[misc]


def _flat():
    return sampling_params_to_dict(PARAMS)


@pytest.mark.parametrize('key,value,why', [
    ('safety_factor', 1.5, 'within'),
    ('max_attempts', 0, 'within'),
    ('max_attempts', 2.5, 'integer'),
    ('feed_force_n', 300.0, 'within'),
    ('drill_speed_rad_s', 25.0, 'within'),
    ('target_mass_g', math.nan, 'finite'),
    ('slip_abort_s', True, 'number'),
    ('min_anchor_claws', 1, 'within'),
    ('contact_force_n', 30.0, 'approach_force_n'),
])
def test_bad_parameters_are_refused_naming_the_key(key, value, why, tmp_path):
    data = _flat()
    data[key] = value
    path = tmp_path / 'sampler.yaml'
    path.write_text(yaml.safe_dump({'sampler': {'ros__parameters': data}}))
    with pytest.raises(ConfigError) as err:
        load_sampling_params(path)
    assert err.value.key == key and why in str(err.value)


def test_unknown_and_missing_parameters_are_refused():
    data = _flat()
    data['feed_forse_n'] = 1.0
    with pytest.raises(ConfigError, match='feed_forse_n.*unknown parameter'):
        parse_sampling_params(data)
    data = _flat()
    del data['stow_timeout_s']
    with pytest.raises(ConfigError, match='stow_timeout_s.*missing key'):
        parse_sampling_params({'sampler': {'ros__parameters': data}})


def test_parameters_beyond_the_sampler_hardware_are_refused():
    weak = dataclasses.replace(SAMPLER, feed_force_max_n=100.0)
    with pytest.raises(ConfigError, match='feed_force_n.*robot.yaml'):
        SamplingSequence(PARAMS, weak, RATES)
    # The contact lead must stay below what the feed servo's stiffness gives at approach.
    lagging = dataclasses.replace(PARAMS, contact_lag_m=0.01)
    with pytest.raises(ConfigError) as err:
        SamplingSequence(lagging, SAMPLER, RATES)
    assert err.value.key == 'contact_lag_m' and 'approach_force_n' in str(err.value)


def test_sampler_yaml_is_a_ros_parameter_file():
    data = yaml.safe_load((ROOT / 'config' / 'sampler.yaml').read_text())
    assert list(data) == ['sampler'] and list(data['sampler']) == ['ros__parameters']
    assert set(data['sampler']['ros__parameters']) == set(_flat())


# --- the collection model and its figures ---------------------------------------------------

def test_collection_is_linear_up_to_the_limits():
    for kind, rate in RATES.rate_g_s.items():
        assert predict_collection_rate_g_s(RATES, kind, 50.0, 10.0) == pytest.approx(rate)
        assert predict_collection_rate_g_s(RATES, kind, 100.0, 20.0) == pytest.approx(4 * rate)
        assert predict_collection_rate_g_s(RATES, kind, 400.0, 30.0) == pytest.approx(
            rate * 5.0 * 2.0)
        assert predict_collection_rate_g_s(RATES, kind, -5.0, 10.0) == 0.0
    assert predict_collection_time_s(RATES, 'rock', 30.0, 250.0, 20.0) == pytest.approx(10.0)
    assert predict_collection_time_s(RATES, 'rock', 30.0, 0.0, 20.0) == math.inf
    with pytest.raises(ValueError):
        predict_collection_rate_g_s(RATES, 'rock', math.nan, 10.0)
    with pytest.raises(KeyError):
        predict_collection_rate_g_s(RATES, 'ice', 50.0, 10.0)


def test_drill_rates_in_config_match_the_design_when_the_file_has_them():
    path = ROOT / 'config' / 'terrain.yaml'
    if not path.is_file():
        pytest.skip('config/terrain.yaml not written yet (the simulator colleague owns it)')
    rates = load_drill_rates(path)
    assert dict(rates.rate_g_s) == dict(RATES.rate_g_s)
    assert (rates.ref_feed_n, rates.ref_speed_rad_s) == (50.0, 10.0)


def test_drill_rate_reader_is_tolerant_of_layout_and_names_a_missing_key(tmp_path):
    flat = parse_drill_rates({'drill_rate_g_s': {'rock': 0.3, 'smooth': 1.0}})
    assert flat.rate_g_s['rock'] == 0.3 and flat.ref_feed_n == 50.0
    nested = parse_drill_rates({'kinds': {'rock': {'drill_rate_g_s': 0.3}}})
    assert nested.rate_g_s == {'rock': 0.3}
    with pytest.raises(ConfigError) as err:
        parse_drill_rates({'kinds': {'rock': {'friction': 0.9}}})
    assert err.value.key == 'kinds.rock.drill_rate_g_s'
    with pytest.raises(ConfigError, match='finite'):
        parse_drill_rates({'kinds': {'rock': {'drill_rate_g_s': math.nan}}})
    with pytest.raises(ConfigError, match='not found'):
        load_drill_rates(tmp_path / 'absent.yaml')


# --- the sample log ------------------------------------------------------------------------

def _result(i, outcome=AttemptOutcome.SUCCESS, reason='ok'):
    return AttemptResult(attempt=1, t_start_s=10.0 * i, t_end_s=10.0 * i + 7.5,
                         site_xy_m=(6.0, 1.0 + i), terrain_kind='rock', mass_g=101.0 + i,
                         collected_g=101.0 + i, depth_m=0.03, outcome=outcome, reason=reason)


def test_log_appends_reloads_and_continues_the_ids(tmp_path):
    path = tmp_path / 'new' / 'dir' / 'samples.jsonl'
    log = SampleLog(path)
    assert log.records == () and log.next_id == 1
    first = [log.append(_result(i)) for i in range(3)]
    assert [r.id for r in first] == [1, 2, 3]
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[1])['id'] == 2
    again = SampleLog(path)
    assert again.records == tuple(first) and again.warnings == []
    assert again.append(_result(9, AttemptOutcome.FAILED, 'slip')).id == 4
    record = SampleLog(path).records[-1]
    assert (record.outcome, record.reason, record.duration_s) == ('failed', 'slip', 7.5)
    assert record.site_xy_m == (6.0, 10.0) and record.cause == ''
    log.append(dataclasses.replace(_result(3), cause=AbortCause.SLIP))   # a stale writer
    final = SampleLog(path)
    assert [r.id for r in final.records] == [1, 2, 3, 4, 5]
    assert final.records[-1].cause == 'slip'


def test_log_keeps_a_nan_site_as_null(tmp_path):
    log = SampleLog(tmp_path / 's.jsonl')
    log.append(dataclasses.replace(_result(0), site_xy_m=(math.nan, math.nan)))
    assert 'null' in (tmp_path / 's.jsonl').read_text()
    assert math.isnan(SampleLog(tmp_path / 's.jsonl').records[0].site_xy_m[0])


@pytest.mark.parametrize('torn', [b'{"id":4,"time_s":4', b'{', b'\xff\xfe', b'   '])
def test_a_torn_last_line_is_ignored_and_earlier_records_kept(tmp_path, torn):
    path = tmp_path / 'samples.jsonl'
    log = SampleLog(path)
    for i in range(3):
        log.append(_result(i))
    with open(path, 'ab') as handle:       # a crash mid-write: no newline at the end
        handle.write(torn)
    again = SampleLog(path)
    assert [r.id for r in again.records] == [1, 2, 3]
    assert any('torn last line' in w for w in again.warnings)
    assert again.append(_result(5)).id == 4
    final = SampleLog(path)
    assert [r.id for r in final.records] == [1, 2, 3, 4] and final.warnings == []
    assert (tmp_path / 'samples.jsonl.rejected').read_bytes() == torn + b'\n'


def test_a_corrupt_middle_line_is_skipped_without_a_traceback(tmp_path):
    path = tmp_path / 'samples.jsonl'
    good = [SampleRecord(i, 1.0, (0.0, 0.0), 'rock', 1.0, 0.0, 1.0, 'failed').to_json()
            for i in (1, 2)]
    path.write_text(good[0] + '\n[1, 2]\n{"id": "x"}\nnot json\n' + good[1] + '\n')
    log = SampleLog(path)
    assert [r.id for r in log.records] == [1, 2] and len(log.warnings) == 3
    assert log.append(_result(0)).id == 3


def test_a_leftover_temporary_file_is_removed_and_rewrites_are_atomic(tmp_path):
    path = tmp_path / 'samples.jsonl'
    leftover = tmp_path / '.samples.jsonl.abc123.tmp'
    leftover.write_bytes(b'half a rewrite')
    SampleLog(path).append(_result(0))
    assert not leftover.exists()
    atomic_write_bytes(path, b'')
    assert path.read_bytes() == b''
    assert [p.name for p in tmp_path.iterdir()] == ['samples.jsonl']


CHILD = textwrap.dedent('''
    import sys
    from space_miner.core.sample_log import SampleLog
    from space_miner.core.sampling import AttemptOutcome, AttemptResult
    log = SampleLog(sys.argv[1])
    i = 0
    while True:
        i += 1
        log.append(AttemptResult(attempt=1, t_start_s=float(i), t_end_s=i + 1.0,
                                 site_xy_m=(1.0, 2.0), terrain_kind='rock', mass_g=float(i),
                                 collected_g=1.0, depth_m=0.01,
                                 outcome=AttemptOutcome.FAILED, reason='x' * 20000))
''')


def test_the_log_survives_sigkill_mid_append(tmp_path):
    path = tmp_path / 'samples.jsonl'
    log = SampleLog(path)
    log.append(_result(0))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(path)], env=env)
    try:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and path.stat().st_size < 40 * 20000:
            time.sleep(0.005)
        assert child.poll() is None, 'the writer died on its own'
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    data = path.read_bytes()
    complete = data.count(b'\n')
    again = SampleLog(path)
    assert len(again.records) == complete >= 40
    assert [r.id for r in again.records] == list(range(1, complete + 1))
    assert all(r.reason == 'x' * 20000 for r in again.records[1:])
    assert again.next_id == complete + 1
    assert again.append(_result(1)).id == complete + 1
    assert len(SampleLog(path).records) == complete + 1


def test_time_going_back_is_reported_and_treated_as_no_time_passing():
    run = Run('rock')
    run.until(lambda o: o.status.phase is SamplingPhase.DEPLOY)
    inputs = run.inputs[-1]
    ahead = run.seq.step(run.t_s + 1.0, inputs)
    back = run.seq.step(run.t_s, inputs)
    assert any('time went back' in e.text for e in back.events)
    assert back.feed_position_m == ahead.feed_position_m      # no time, no feed motion


TORN_CHILD = textwrap.dedent('''
    import os
    import sys
    import time
    from space_miner.core import sample_log
    from space_miner.core.sampling import AttemptOutcome, AttemptResult
    log = sample_log.SampleLog(sys.argv[1])
    def result(i):
        return AttemptResult(attempt=1, t_start_s=float(i), t_end_s=i + 1.0,
                             site_xy_m=(1.0, 2.0), terrain_kind='rock', mass_g=float(i),
                             collected_g=1.0, depth_m=0.01, outcome=AttemptOutcome.SUCCESS,
                             reason='ok')
    for i in range(5):
        log.append(result(i))
    real_write = os.write
    def half_write(fd, data):   # the disk takes half the line, then the process hangs
        real_write(fd, bytes(data[:len(data) // 2]))
        print('torn', flush=True)
        time.sleep(60)
    sample_log.os.write = half_write
    log.append(result(5))
''')


def test_the_log_survives_sigkill_in_the_middle_of_a_line(tmp_path):
    path = tmp_path / 'samples.jsonl'
    SampleLog(path).append(_result(0))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, '-c', TORN_CHILD, str(path)], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == 'torn'
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert not path.read_bytes().endswith(b'\n')        # the crash really tore a line
    again = SampleLog(path)
    assert [r.id for r in again.records] == [1, 2, 3, 4, 5, 6]
    assert any('torn last line' in w for w in again.warnings)
    assert again.append(_result(7)).id == 7
    assert [r.id for r in SampleLog(path).records] == list(range(1, 8))
