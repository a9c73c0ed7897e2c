# SPDX-License-Identifier: Apache-2.0
"""The lockstep harness: deterministic, components at their rates, rule judged from truth."""

import json
import subprocess
import sys

import numpy as np
import pytest

from space_miner import interfaces as itf
from space_miner.core.scenario import parse_scenario
from space_miner.sim.harness import Harness, HarnessConfig
from space_miner.sim.summary import REQUIRED_KEYS


def _scenario(body='bennu', seed=3, time_limit_s=3.0, faults=()):
    return parse_scenario({
        'name': f'harness_{body}', 'body': body, 'seed': seed, 'latitude_deg': 0,
        'terrain': {'size_m': [8, 8], 'resolution_m': 0.05,
                    'regions': [{'kind': 'rubble', 'center': [1.5, 0], 'radius': 1,
                                 'density': 0.3}]},
        'mission': {'start': [0, 0, 0], 'waypoints': [], 'sample_sites': [],
                    'sample_target_g': 0, 'time_limit_s': time_limit_s},
        'faults': list(faults)}, 'test')


class Wiggle:
    """A test component: swings w1's coxa and records when it ran and what it saw."""

    name = 'wiggle'

    def __init__(self, period_s):
        self.period_s = period_s
        self.calls = []

    def step(self, t_s, bus):
        self.calls.append((t_s, bus.sensors.time_s))
        q = np.array(bus.sensors.position[:18])
        q[3] = 0.3 * np.sin(2.0 * t_s)
        bus.commands[itf.LEG_COMMANDS.name] = q


def _run(seed):
    harness = Harness(_scenario(seed=seed), [Wiggle(0.02)], HarnessConfig(camera=(64, 48)))
    summary = harness.run()
    return harness, summary


def test_same_scenario_and_seed_give_bit_identical_trajectories():
    first, _ = _run(5)
    second, _ = _run(5)
    assert np.array_equal(np.asarray(first.trace), np.asarray(second.trace))
    assert np.array_equal(first.world.data.qpos, second.world.data.qpos)
    assert np.array_equal(first.world.data.qvel, second.world.data.qvel)
    third, _ = _run(6)  # and the seed matters
    assert not np.array_equal(third.world.data.qpos, first.world.data.qpos)


def test_components_run_at_their_period_on_fresh_sensor_readings():
    harness, summary = _run(5)
    calls = harness.components[0].calls
    times = np.array([t for t, _ in calls])
    assert len(calls) == pytest.approx(3.0 / 0.02, abs=2)
    assert np.allclose(np.diff(times), 0.02, atol=0.0021)
    assert all(t == seen for t, seen in calls)  # readings are of the moment it ran
    q = harness.world.read_sensors().position[3]
    assert abs(q - 0.3 * np.sin(2.0 * times[-1])) < 0.05  # the command reached the joint


def test_summary_has_every_design_key_and_honest_outcome():
    _, summary = _run(5)
    assert set(REQUIRED_KEYS) <= set(summary)
    assert summary['success'] is False  # no autopilot reported a mission done
    assert summary['reason'] == 'time limit 3 s reached'
    assert summary['rule_violations'] == 0 and summary['detached'] is False
    assert summary['gait_time_s'] == {'hold': pytest.approx(3.0)}
    json.dumps(summary, allow_nan=False)


def test_the_judge_sees_the_truth_when_claws_let_go():
    class OpenClaws:
        name = 'open'
        period_s = 0.01

        def step(self, t_s, bus):
            if t_s > 0.5:
                bus.commands[itf.CLAW_COMMANDS.name] = [0.0, 0.0, 0.0]

    harness = Harness(_scenario(body='kamooalewa', time_limit_s=8.0), [OpenClaws()],
                      HarnessConfig(camera=None))
    summary = harness.run()
    assert summary['rule_violations'] >= 1
    assert summary['detached'] is True and summary['reason'].startswith('detached')
    assert summary['expected_outcome_met'] is False


def test_a_component_faster_than_physics_is_refused():
    with pytest.raises(ValueError, match='period_s'):
        Harness(_scenario(), [Wiggle(0.0005)], HarnessConfig(camera=None))


def test_eval_refuses_a_bad_scenario_naming_the_key(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('name: bad\nbody: vesta\nterrain: {size_m: [8, 8], resolution_m: 0.05}\n'
                   'mission: {start: [0, 0, 0], time_limit_s: 10}\n')
    result = subprocess.run([sys.executable, '-m', 'space_miner.cli', 'eval', str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert 'body' in result.stdout and 'vesta' in result.stdout


def test_eval_runs_scenarios_in_parallel_writes_summaries_and_fails_on_a_missed_expectation(
        tmp_path):
    # No waypoint, no site: the autopilot's mission is complete at once. s1 expects
    # otherwise, so eval must say so and exit non-zero.
    files = []
    for i, (body, success) in enumerate((('moon', 'true'), ('psyche', 'false'))):
        path = tmp_path / f's{i}.yaml'
        path.write_text(
            f'name: s{i}\nbody: {body}\nseed: {i}\n'
            'terrain: {size_m: [8, 8], resolution_m: 0.05}\n'
            'mission: {start: [0, 0, 0], time_limit_s: 2}\n'
            f'expect: {{success: {success}, detached: false, end_mode: null}}\n')
        files.append(str(path))
    out, table = tmp_path / 'eval.json', tmp_path / 'eval.md'
    result = subprocess.run([sys.executable, '-m', 'space_miner.cli', 'eval', *files,
                             '--json', str(out), '--markdown', str(table), '--jobs', '2'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert '1 of 2 scenario(s) did not end as expected' in result.stdout
    summaries = json.loads(out.read_text())
    assert [s['scenario'] for s in summaries] == ['s0', 's1']
    assert [s['expected_outcome_met'] for s in summaries] == [True, False]
    assert all(s['success'] and s['rule_violations'] == 0 for s in summaries)
    lines = table.read_text().splitlines()
    assert lines[0].startswith('| scenario | success | as expected |') and len(lines) == 4
    assert lines[2].startswith('| s0 | True | True |')
    assert lines[3].startswith('| s1 | True | False |')


def test_markdown_table_escapes_pipes():
    from space_miner.cli import markdown_table
    text = markdown_table(('a', 'b'), [('x|y', '1')])
    assert text.splitlines() == ['| a | b |', '|---|---|', '| x\\|y | 1 |']


def test_the_rule_weighs_holding_against_the_true_external_load():
    """A push is an external load: the judge sees it while it lasts, and only then."""
    push = {'at_s': 0.5, 'kind': 'push', 'force_n': [30.0, 0.0, 40.0], 'duration_s': 1.0}
    harness = Harness(_scenario(body='ryugu', time_limit_s=2.0, faults=[push]), [],
                      HarnessConfig(camera=None))
    world = harness.world
    assert world.external_load_n() == 0.0
    world.step(int(0.6 / world.timestep_s))
    assert world.external_load_n() == pytest.approx(50.0)
    summary = harness.run()
    assert summary['min_true_holding_margin'] is not None
    assert summary['min_true_holding_margin'] < 3 * 150.0 / 50.0 + 1e-9
    assert world.external_load_n() == 0.0  # the push is over


def _anchored_on_rock(boast):
    """Bennu rock, the stack anchoring (pull tests), the claw core over-reporting ``boast``x."""
    from dataclasses import replace

    from space_miner.sim.components import stack_components

    scenario = parse_scenario({
        'name': 'anchor_rock', 'body': 'bennu', 'seed': 4, 'latitude_deg': 0,
        'terrain': {'size_m': [6, 6], 'resolution_m': 0.05,
                    'regions': [{'kind': 'rock', 'center': [0, 0], 'radius': 2.0}]},
        'mission': {'start': [0, 0, 0], 'waypoints': [], 'sample_sites': [],
                    'sample_target_g': 0, 'time_limit_s': 8.0}}, 'test')
    harness = Harness(scenario, [], HarnessConfig(camera=None))
    claw, estimator, gait = stack_components(scenario, harness.world, gait_request='anchor')
    core_step = claw.controller.step

    def over_reporting_step(t_s, sensors, requests=()):
        out = core_step(t_s, sensors, requests)
        states = tuple(replace(st, verified_holding_n=boast * st.verified_holding_n)
                       for st in out.states)
        return replace(out, states=states)

    claw.controller.step = over_reporting_step
    harness.components = [claw, estimator, gait]
    return harness.run()


@pytest.mark.parametrize('boast', [1.0, 5.0])
def test_the_judge_counts_a_claw_core_that_over_reports_its_grips(boast):
    # Rock holds 150 N at a 150 N squeeze; a 40 N pull test verifies about 38 N. Five times
    # that is more than the world holds: every claw the core over-reports is a breach.
    summary = _anchored_on_rock(boast)
    if boast == 1.0:
        assert summary['rule_violations'] == 0 and summary['belief_breaches'] == 0
        return
    assert summary['belief_breaches'] >= 2
    assert summary['rule_violations'] >= summary['belief_breaches']
    assert any('truly holds' in r for r in summary['rule_violation_reasons'])


def test_only_the_frames_terrain_perception_fuses_are_rendered():
    from space_miner.core.scenario import load_scenario
    from space_miner.paths import config_path
    from space_miner.sim.components import full_stack_components
    scenario = load_scenario(config_path('scenarios/default.yaml'))
    harness = Harness(scenario, [], HarnessConfig())
    harness.components = full_stack_components(scenario, harness.world)
    terrain = harness.components[0]
    render, rendered = harness.world.render_depth, []

    def counted():
        rendered.append(harness.world.time_s)
        return render()

    harness.world.render_depth = counted
    harness.run(time_limit_s=3.0)
    period = terrain.perception.params.frame_period_s
    assert terrain.frames == len(rendered) >= 3.0 / period - 1
    assert np.allclose(np.diff(rendered), period, atol=1e-6)   # at the core's rate
    assert terrain.perception.last_fused_s == pytest.approx(rendered[-1])
