# SPDX-License-Identifier: Apache-2.0
"""The never-detach judge counts what breaks the rule; summaries are complete and atomic."""

import json
import math
from types import SimpleNamespace

import pytest

from space_miner.sim.judge import BELIEF_LAG_S, ClawTruth, NeverDetachJudge
from space_miner.sim.summary import build_summary, grade, REQUIRED_KEYS, write_json

DT = 0.002


def _claws(*holding):
    return {f'c{i + 1}': ClawTruth(gripping=h > 0, holding_force_n=h)
            for i, h in enumerate(holding)}


def test_three_strong_grips_under_a_small_load_keep_the_rule():
    judge = NeverDetachJudge(requires_grip=True)
    for k in range(100):
        assert judge.step(k * DT, DT, _claws(150, 150, 150), 100.0,
                          {'c1': 80, 'c2': 80, 'c3': 80})
    v = judge.verdict
    assert v.violations == 0 and v.violation_time_s == 0.0
    assert v.min_margin_true == pytest.approx(4.5)
    assert v.min_margin_verified == pytest.approx(2.4)


def test_fewer_than_two_holding_claws_is_one_violation_episode_with_its_duration():
    judge = NeverDetachJudge(requires_grip=True)
    states = [_claws(150, 150, 150)] * 10 + [_claws(150, 0, 0)] * 50 + \
        [_claws(150, 150, 0)] * 10 + [_claws(0, 0, 0)] * 5
    ok = [judge.step(k * DT, DT, s, 0.0) for k, s in enumerate(states)]
    assert ok.count(False) == 55
    v = judge.verdict
    assert v.violations == 2  # two episodes
    assert v.violation_time_s == pytest.approx(55 * DT)
    assert v.first_violation_s == pytest.approx(10 * DT)
    assert '1 claw(s) holding' in v.reasons[0] and '0 claw(s)' in v.reasons[1]
    assert v.min_claws_holding == 0


def test_holding_below_twice_the_load_breaks_the_rule():
    judge = NeverDetachJudge(requires_grip=True)
    assert judge.step(0.0, DT, _claws(60, 60, 60), 80.0)       # 180 >= 160
    assert not judge.step(DT, DT, _claws(60, 60, 60), 100.0)   # 180 < 200
    assert 'x external load' in judge.verdict.last_reason
    assert not judge.step(2 * DT, DT, _claws(150, 150, 150), float('nan'))  # unknown load


def test_a_weak_contact_below_one_newton_does_not_count_as_holding():
    judge = NeverDetachJudge(requires_grip=True)
    assert not judge.step(0.0, DT, _claws(150, 0.5, 0), 0.0)


def test_bodies_without_grip_requirement_never_violate_but_margins_are_kept():
    judge = NeverDetachJudge(requires_grip=False)
    assert judge.step(0.0, DT, _claws(0, 0, 0), 50.0)
    assert judge.verdict.violations == 0
    assert judge.verdict.min_margin_true == 0.0


EXPECT = SimpleNamespace(success=True, detached=False, end_mode=None)


@pytest.mark.parametrize('expect, success, detached, end_mode, met', [
    (EXPECT, True, False, 'anchor', True),
    (EXPECT, False, False, 'hold', False),
    (EXPECT, True, True, 'hold', False),
    (SimpleNamespace(success=False, detached=False, end_mode='hold'), False, False, 'hold',
     True),
    (SimpleNamespace(success=False, detached=False, end_mode='hold'), False, False,
     'anchor', False),
])
def test_grading_against_expect(expect, success, detached, end_mode, met):
    assert grade(expect, success, detached, end_mode) is met


def _summary(**over):
    scenario = SimpleNamespace(name='s', body='bennu', seed=7, expect=EXPECT)
    args = dict(scenario=scenario, success=True, reason='done', end_mode='anchor',
                sim_time_s=10.0, wall_time_s=1.0, distance_m=2.0,
                samples=[{'site': [6, 1], 'mass_g': 60.5, 'duration_s': 30.0,
                          'outcome': 'done'},
                         {'site': [6, 1], 'mass_g': 45.0, 'duration_s': 20.0,
                          'outcome': 'done'}],
                detached=False, rule_violations=0, min_holding_margin=float('inf'),
                gait_time_s={'crawl': 8.0, 'anchor': 2.0}, faults_survived=0)
    args.update(over)
    return build_summary(**args)


def test_summary_has_every_design_key_and_sums_samples():
    summary = _summary()
    assert set(REQUIRED_KEYS) <= set(summary)
    assert summary['total_sample_g'] == pytest.approx(105.5)
    assert summary['min_holding_margin'] is None  # inf: there was no load
    assert summary['expected_outcome_met'] is True
    json.dumps(summary, allow_nan=False)


def test_summary_refuses_incomplete_samples():
    with pytest.raises(ValueError, match=r'samples\[0\] lacks'):
        _summary(samples=[{'site': [0, 0], 'mass_g': 1.0}])


def test_write_json_is_atomic_and_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'out' / 'summary.json'
    write_json(path, _summary())
    before = path.read_text()
    with pytest.raises(ValueError):
        write_json(path, {'bad': float('nan')})
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == ['summary.json']  # no temp left


# --- verified means tested: what the stack believes, held against the truth ----------------

def test_a_claw_believed_to_hold_more_than_it_does_is_one_violation_past_the_lag():
    judge = NeverDetachJudge(requires_grip=True)
    truth = _claws(150, 150, 30)
    honest = {'c1': 38.0, 'c2': 38.0, 'c3': 25.0}
    boast = {'c1': 38.0, 'c2': 38.0, 'c3': 38.0}     # c3 holds 30 N
    lag_steps = round(BELIEF_LAG_S / DT)
    t = 0.0
    for _ in range(50):
        assert judge.step(t, DT, truth, 0.0, None, honest)
        t += DT
    # A grip the world took away is seen late: within the lag it is not yet a breach.
    for _ in range(lag_steps):
        assert judge.step(t, DT, truth, 0.0, None, boast)
        t += DT
    assert judge.verdict.violations == 0
    for _ in range(100):   # believed on: one episode, however long
        assert not judge.step(t, DT, truth, 0.0, None, boast)
        t += DT
    v = judge.verdict
    assert v.violations == 1 and v.belief_breaches == 1
    assert 'c3 verified at 38.0 N but truly holds 30.0 N' in v.reasons[0]
    for _ in range(10):
        assert judge.step(t, DT, truth, 0.0, None, honest)
        t += DT
    for _ in range(lag_steps + 1):   # a second episode counts again
        judge.step(t, DT, truth, 0.0, None, {'c1': 151.0, 'c2': 0.0, 'c3': math.nan})
        t += DT
    # c1 above its truth; c3's NaN is no claim (the gait never counts it as verified).
    assert judge.verdict.belief_breaches == 2


def test_belief_is_judged_on_every_body():
    judge = NeverDetachJudge(requires_grip=False)
    for k in range(100):
        judge.step(k * DT, DT, _claws(0, 0, 0), 0.0, None, {'c1': 10.0, 'c2': 0, 'c3': 0})
    assert judge.verdict.violations == 1 and judge.verdict.belief_breaches == 1


def test_a_run_record_counts_gait_time_and_true_distance_and_says_when_the_run_is_over():
    from space_miner.sim.run_record import RunRecord

    record = RunRecord()
    assert record.end_reason(100.0) == ''
    for k in range(11):  # 1 m along x over 10 s, in hold then walk from 4 s
        record.on_time(k * 1.0)
        record.on_position(k * 0.1, 0.0)
        if k == 4:
            record.on_mode('walk')
    assert record.progress.distance_m == pytest.approx(1.0)
    assert record.gait_time_s() == pytest.approx({'hold': 4.0, 'walk': 6.0})
    record.on_mission('not json')  # ignored
    record.on_mission(json.dumps({'phase': 'sample', 'done': False}))
    assert record.progress.phase == 'sample' and record.end_reason(100.0) == ''
    assert record.end_reason(10.0) == 'time limit 10 s reached'
    assert record.end_reason(100.0, error=RuntimeError('x')).startswith('simulator stopped')
    record.on_mission(json.dumps({'phase': 'done', 'done': True, 'reason': 'complete'}))
    assert record.end_reason(10.0) == 'complete'  # the mission's own end comes first
    assert record.end_reason(10.0, (True, 'flew off')) == 'detached: flew off'


def test_a_run_record_summary_fails_on_a_rule_violation_however_the_mission_ended():
    from space_miner.core.scenario import load_scenario
    from space_miner.sim.run_record import RunRecord

    record = RunRecord()
    record.on_mission(json.dumps({'done': True, 'success': True, 'samples': [
        {'site': [1, 0], 'mass_g': 5.0, 'duration_s': 2.0, 'outcome': 'success'}]}))
    scenario = load_scenario()
    clean = SimpleNamespace(violations=0, min_margin_true=3.0, violation_time_s=0.0)
    broken = SimpleNamespace(violations=2, min_margin_true=0.5, violation_time_s=0.1)
    ok = record.summary(scenario, clean, 'done', False, 1.0)
    assert ok['success'] is True and ok['total_sample_g'] == 5.0
    assert set(REQUIRED_KEYS) <= set(ok)
    assert record.summary(scenario, broken, 'done', False, 1.0)['success'] is False
    assert record.summary(scenario, clean, 'done', True, 1.0)['success'] is False
