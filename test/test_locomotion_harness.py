# SPDX-License-Identifier: Apache-2.0
"""The whole stack moving the robot in MuJoCo physics on the lockstep harness (issues 7, 4).

Claw controller (500 Hz), state estimator (200 Hz) and gait controller with its waypoint
autopilot (50 Hz) drive the simulated robot; the gait steers by the estimate, never by
ground truth. Judged from the simulator's truth (``rule_violations``, ``detached``, the
true trajectory), fixed seeds. Scenarios are written inline; the speeds printed (``-s``)
are the README's figures.
"""

import math

import numpy as np
import pytest
from transforms3d import euler

from space_miner.core.gait_types import TerrainClass, TerrainSummary
from space_miner.core.scenario import parse_scenario
from space_miner.sim.components import stack_components
from space_miner.sim.harness import Harness, HarnessConfig

SMOOTH = TerrainSummary(TerrainClass.SMOOTH, TerrainClass.SMOOTH, 0.0)


def _scenario(name, body, size_m, regions, start, waypoints, time_limit_s, faults=(),
              seed=7, resolution_m=0.05):
    return parse_scenario({
        'name': name, 'body': body, 'seed': seed, 'latitude_deg': 0,
        'terrain': {'size_m': list(size_m), 'resolution_m': resolution_m,
                    'regions': list(regions)},
        'mission': {'start': list(start), 'waypoints': [list(w) for w in waypoints],
                    'sample_sites': [], 'sample_target_g': 0, 'time_limit_s': time_limit_s},
        'faults': list(faults)}, 'test')


class Run:
    """A harness run with the stack, sampling truth and estimate every 0.25 s."""

    def __init__(self, scenario, terrain=None):
        self.harness = Harness(scenario, [], HarnessConfig(camera=None))
        self.harness.components = stack_components(scenario, self.harness.world,
                                                   terrain=terrain)
        self.samples = []   # (t, truth xy, estimate xy, heading error [deg], truth grips)
        self.summary = self.harness.run(progress=self._sample, progress_period_s=0.25)
        self.start = np.asarray(self.samples[0][1])

    def _sample(self, t_s, bus):
        estimate = bus.values.get('estimate')
        if estimate is None:
            return
        world = self.harness.world
        truth = world.ground_truth()
        yaw_true = euler.quat2euler(truth.quat_wxyz)[2]
        yaw_est = euler.quat2euler(estimate.orientation_wxyz)[2]
        heading = math.degrees(abs(math.remainder(yaw_est - yaw_true, 2.0 * math.pi)))
        holding = sum(g.gripping for g in world.grip_truth().values())
        self.samples.append((t_s, truth.position_m[:2].copy(), estimate.position_m[:2].copy(),
                             heading, holding))

    def travelled_m(self):
        path = np.array([s[1] for s in self.samples])
        return float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))

    def errors_m(self):
        return np.array([float(np.linalg.norm(s[1] - s[2])) for s in self.samples])

    def speed_m_s(self):
        end = np.asarray(self.samples[-1][1])
        return float(np.linalg.norm(end - self.start)) / self.summary['sim_time_s']


# --- roll on the Moon --------------------------------------------------------------------

@pytest.fixture(scope='module')
def moon_roll():
    # 10 m across smooth ground; the terrain summary is a surveyed site (terrain
    # perception is not wired to the harness yet): the selector needs smooth ground to roll.
    scenario = _scenario('moon_roll_10m', 'moon', (16, 6), (), (-5, 0, 0), [(5, 0)], 45.0,
                         seed=3, resolution_m=0.1)
    return Run(scenario, SMOOTH)


def test_roll_10_m_on_the_moon(moon_roll):
    s = moon_roll.summary
    assert s['reason'].startswith('every waypoint reached'), s['reason']
    assert s['end_mode'] == 'roll' and s['gait_time_s'].get('roll', 0.0) > 0.9 * s['sim_time_s']
    end = moon_roll.samples[-1][1]
    assert np.linalg.norm(end - moon_roll.start) >= 9.9   # true distance, not the estimate's
    assert abs(end[1]) < 0.2
    assert s['rule_violations'] == 0 and s['detached'] is False
    print(f"\nroll, moon: {moon_roll.speed_m_s():.3f} m/s over "
          f"{np.linalg.norm(end - moon_roll.start):.2f} m")


def test_roll_estimate_drifts_at_most_5_percent_and_2_degrees(moon_roll):
    travelled = moon_roll.travelled_m()
    errors = moon_roll.errors_m()
    assert travelled > 9.0
    assert errors.max() <= 0.05 * travelled
    assert max(s[3] for s in moon_roll.samples) <= 2.0
    assert moon_roll.summary['final_estimation_error_m'] <= 0.05 * travelled
    print(f"\nroll estimate: drift {100 * errors[-1] / travelled:.2f} % of {travelled:.2f} m, "
          f"heading error <= {max(s[3] for s in moon_roll.samples):.2f} deg")


def test_a_wheel_stall_does_not_make_the_estimate_jump():
    scenario = _scenario('moon_stall', 'moon', (12, 6), (), (-3, 0, 0), [(3, 0)], 30.0,
                         faults=[{'at_s': 8.0, 'kind': 'wheel_stall', 'wheel': 'w2',
                                  'duration_s': 3.0}], seed=3, resolution_m=0.1)
    run = Run(scenario, SMOOTH)
    errors = run.errors_m()
    times = np.array([s[0] for s in run.samples])
    before = errors[times <= 8.0][-1]
    during = errors[(times > 8.0) & (times <= 11.5)]
    path = np.array([s[1] for s in run.samples])
    stalled = (times > 8.0) & (times <= 11.0)
    moved = float(np.sum(np.linalg.norm(np.diff(path[stalled], axis=0), axis=1)))
    # The stalled wheel skids the whole way the body moves meanwhile; the estimate's error
    # grows by a small share of it, never by the skid.
    assert moved > 0.5
    assert during.max() - before <= 0.1 * moved
    assert run.summary['final_estimation_error_m'] <= 0.05 * run.travelled_m()
    assert run.summary['rule_violations'] == 0 and run.summary['detached'] is False


# --- crawl on Bennu ------------------------------------------------------------------------

RUBBLE = ({'kind': 'rubble', 'center': [1.0, 0], 'radius': 1.5, 'density': 0.3},)
#: Seeds of the Bennu crawls: each lays out its own boulders and noise, so the claws land on
#: boulders (0.8 x the squeeze) or on the smooth ground between them (0.2 x) differently.
CRAWL_SEEDS = tuple(range(1, 9))


def _rubble_crawl(seed, body='bennu', time_limit_s=60.0, faults=()):
    return Run(_scenario(f'{body}_crawl', body, (6, 6), RUBBLE, (0, 0, 0), [(0.3, 0)],
                         time_limit_s, faults=faults, seed=seed))


@pytest.fixture(scope='module')
def bennu_crawls():
    return {seed: _rubble_crawl(seed) for seed in CRAWL_SEEDS}


@pytest.fixture(scope='module')
def kamooalewa_crawls():
    # Kamo'oalewa: the spin outweighs gravity, the ground pulls nothing back; escape
    # velocity 4 cm/s.
    return {seed: _rubble_crawl(seed, 'kamooalewa') for seed in CRAWL_SEEDS}


def _never_let_go(run):
    s = run.summary
    assert s['rule_violations'] == 0, s['rule_violation_reasons']
    assert s['detached'] is False
    assert set(s['gait_time_s']) <= {'crawl', 'anchor', 'hold'}
    if 'hold' in s['gait_time_s']:    # only once it cannot crawl (a claw is found failed)
        assert run.harness.bus.values['gait_output'].cannot_crawl
    assert min(x[4] for x in run.samples) >= 2          # truth: two claws hold, always


def _move_forward(body, runs):
    """Forward progress over the seeds (the median: a few seeds stall on smooth ground)."""
    progress = {seed: float(run.samples[-1][1][0] - run.start[0])
                for seed, run in runs.items()}
    speeds = {seed: run.speed_m_s() for seed, run in runs.items()}
    drift = {seed: 100.0 * run.errors_m()[-1] / run.travelled_m()
             for seed, run in runs.items()}
    print(f"\ncrawl, {body}: median {np.median(list(speeds.values())):.4f} m/s over seeds "
          f"{', '.join(f'{k}: {v:.4f}' for k, v in speeds.items())}; final estimation error "
          f"{np.median(list(drift.values())):.1f} % of the path (median)")
    assert float(np.median(list(progress.values()))) >= 0.15
    assert sum(p >= 0.05 for p in progress.values()) >= 6


@pytest.mark.parametrize('seed', CRAWL_SEEDS)
def test_crawl_across_rubble_on_bennu_never_lets_go(bennu_crawls, seed):
    _never_let_go(bennu_crawls[seed])


def test_the_bennu_crawls_move_forward(bennu_crawls):
    _move_forward('bennu', bennu_crawls)


@pytest.mark.parametrize('seed', CRAWL_SEEDS)
def test_crawl_across_rubble_on_kamooalewa_never_lets_go(kamooalewa_crawls, seed):
    _never_let_go(kamooalewa_crawls[seed])


def test_the_kamooalewa_crawls_move_forward(kamooalewa_crawls):
    _move_forward('kamooalewa', kamooalewa_crawls)


CLAW_FAILURE = ({'at_s': 15.0, 'kind': 'claw_failure', 'claw': 'c2'},)


@pytest.fixture(scope='module')
def claw_failures():
    return {seed: _rubble_crawl(seed, 'bennu', 40.0, CLAW_FAILURE) for seed in CRAWL_SEEDS}


def _anchored_on_the_two(run):
    """Whether the run ended in hold, anchored (truth and belief) on c1 and c3."""
    s, harness = run.summary, run.harness
    grips = harness.world.grip_truth()
    verified = [st.claw for st in harness.bus.values['claw_output'].states
                if st.verified_holding_n > 0.0]
    return (not s['detached'] and s['end_mode'] == 'hold' and grips['c2'].failed
            and s['gait_time_s'].get('crawl', 0.0) > 10.0     # crawling when c2 failed
            and grips['c1'].gripping and grips['c3'].gripping and verified == ['c1', 'c3']
            and harness.bus.values['gait_output'].cannot_crawl)


@pytest.mark.parametrize('seed', CRAWL_SEEDS)
def test_after_a_claw_failure_no_grip_is_believed_that_does_not_hold(claw_failures, seed):
    run = claw_failures[seed]
    assert run.summary['gait_time_s'].get('crawl', 0.0) > 4.0   # crawling when c2 failed
    grips = run.harness.world.grip_truth()
    assert grips['c2'].failed and not grips['c2'].gripping
    for st in run.harness.bus.values['claw_output'].states:
        if st.verified_holding_n > 0.0:
            assert grips[st.claw].gripping, st       # verified means truly holding


def test_claw_failure_mid_crawl_ends_in_hold_anchored_on_two_claws(claw_failures):
    ended = [seed for seed, run in claw_failures.items() if _anchored_on_the_two(run)]
    print(f"\nclaw failure mid-crawl: anchored on c1 and c3 in hold on seeds {ended}")
    assert ended == list(CRAWL_SEEDS)


def test_claw_failure_mid_crawl_never_detaches(claw_failures):
    detached = [seed for seed, run in claw_failures.items() if run.summary['detached']]
    assert not detached, detached


# --- a 40 N push while crawling on Ryugu ------------------------------------------------------

#: 40 N on the body for 2 s, mostly outward (an outgassing jet, a tether snag), 15 s into
#: the crawl.
PUSH_40N = ({'at_s': 15.0, 'kind': 'push', 'force_n': [16.0, 0.0, 36.66], 'duration_s': 2.0},)
PUSH_SEEDS = (1, 2, 3)


def _ryugu_push(seed, region):
    return Run(_scenario('ryugu_push', 'ryugu', (6, 6), (region,), (0, 0, 0), [(0.6, 0)],
                         40.0, faults=PUSH_40N, seed=seed))


@pytest.mark.parametrize('seed', PUSH_SEEDS)
def test_a_40_n_push_while_crawling_on_ryugu_rock_is_held(seed):
    # The claws grip Ryugu's rock at 150 N: two of them hold 300 N, more than twice 40 N.
    run = _ryugu_push(seed, {'kind': 'rock', 'center': [0.5, 0], 'radius': 2.5})
    _never_let_go(run)                       # judged at every step, the push included
    assert run.summary['end_mode'] == 'crawl'                 # and it crawls on after it
    times = np.array([s[0] for s in run.samples])
    x = np.array([s[1][0] for s in run.samples])
    assert x[-1] - x[times <= 17.0][-1] >= 0.05
    print(f"\npush 40 N on ryugu rock, seed {seed}: {run.speed_m_s():.4f} m/s")


@pytest.mark.xfail(strict=True, reason=(
    'known limit (issue 7): on rubble the claws land on boulders (0.8 x the squeeze) or on '
    'the smooth ground between them (0.2 x 150 N = 30 N each); two holders on ground hold '
    'less than twice 40 N, and on seed 1 the push tears them off'))
def test_a_40_n_push_while_crawling_on_ryugu_rubble_is_held():
    runs = [_ryugu_push(seed, {'kind': 'rubble', 'center': [1.0, 0], 'radius': 1.5,
                               'density': 0.4}) for seed in PUSH_SEEDS]
    broken = [(seed, r.summary['rule_violations'], r.summary['detached'])
              for seed, r in zip(PUSH_SEEDS, runs)
              if r.summary['rule_violations'] or r.summary['detached']]
    assert not broken, broken
