# SPDX-License-Identifier: Apache-2.0
"""Golden trajectories: a short crawl, a short roll and the whole stack, hashed (issue 23).

Each run's state is hashed every 0.1 s of simulated time: the world's whole ``qpos`` and
``qvel`` (the truth) and the estimator's position (what the stack believes), as float64
bytes, with the gait mode. A pure refactor or speed-up keeps every hash bit for bit; a
commit that changes one on purpose (a component's rate, a model figure) updates the
constant here and says why in its message.

The constants hold for this project's pinned dependencies (requirements.txt) on x86_64;
another numpy or MuJoCo build may round differently.
"""

import hashlib

import numpy as np
import pytest

from space_miner.core.gait_types import TerrainClass, TerrainSummary
from space_miner.core.scenario import load_scenario, parse_scenario
from space_miner.paths import config_path
from space_miner.sim.components import full_stack_components, stack_components
from space_miner.sim.harness import Harness, HarnessConfig

SMOOTH = TerrainSummary(TerrainClass.SMOOTH, TerrainClass.SMOOTH, 0.0)

#: sha256 of each run's sampled states (see the module docstring).
GOLDEN = {
    'crawl_bennu': 'ffc761a3f4a7fb33da21cadb56dd922f4b5d26d3f09abf34a6ee1d343591a8f9',
    'roll_moon': '8b8a9e05b0923cb445ba0acf7996a5414522dc9e82a55822eb93c64b7817e8ad',
    'stack_default': '3294ac27210d1800fdba95d3a67e73d10ca96e63b18fa20656b41b4ae94b6589',
}


def _scenario(name, body, size_m, regions, start, waypoints, time_limit_s, seed,
              resolution_m):
    return parse_scenario({
        'name': name, 'body': body, 'seed': seed, 'latitude_deg': 0,
        'terrain': {'size_m': list(size_m), 'resolution_m': resolution_m,
                    'regions': list(regions)},
        'mission': {'start': list(start), 'waypoints': [list(w) for w in waypoints],
                    'sample_sites': [], 'sample_target_g': 0, 'time_limit_s': time_limit_s}},
        'test')


def _hash(harness: Harness, time_limit_s: float) -> str:
    digest = hashlib.sha256()
    data = harness.world.data

    def sample(t_s, bus):
        digest.update(np.float64(t_s).tobytes())
        digest.update(np.asarray(data.qpos, dtype=np.float64).tobytes())
        digest.update(np.asarray(data.qvel, dtype=np.float64).tobytes())
        estimate = bus.values.get('estimate')
        if estimate is not None:
            digest.update(np.asarray(estimate.position_m, dtype=np.float64).tobytes())
        digest.update(bus.mode.encode())

    summary = harness.run(time_limit_s=time_limit_s, progress=sample, progress_period_s=0.1)
    digest.update(repr((summary['rule_violations'], summary['reason'])).encode())
    return digest.hexdigest()


def crawl_bennu() -> str:
    """8 s of the claw crawl across Bennu's rubble (seed 1), claws, estimator and gait."""
    scenario = _scenario('bennu_crawl', 'bennu', (6, 6),
                         [{'kind': 'rubble', 'center': [1.0, 0], 'radius': 1.5,
                           'density': 0.3}], (0, 0, 0), [(0.3, 0)], 60.0, 1, 0.05)
    harness = Harness(scenario, [], HarnessConfig(camera=None))
    harness.components = stack_components(scenario, harness.world)
    return _hash(harness, 8.0)


def roll_moon() -> str:
    """8 s of the roll on the Moon (seed 3) on a surveyed smooth site."""
    scenario = _scenario('moon_roll_10m', 'moon', (16, 6), [], (-5, 0, 0), [(5, 0)], 45.0,
                         3, 0.1)
    harness = Harness(scenario, [], HarnessConfig(camera=None))
    harness.components = stack_components(scenario, harness.world, terrain=SMOOTH)
    return _hash(harness, 8.0)


def stack_default() -> str:
    """6 s of the shipped default scenario on the whole stack, with the depth camera."""
    scenario = load_scenario(config_path('scenarios/default.yaml'))
    harness = Harness(scenario, [], HarnessConfig())
    harness.components = full_stack_components(scenario, harness.world)
    return _hash(harness, 6.0)


RUNS = {'crawl_bennu': crawl_bennu, 'roll_moon': roll_moon, 'stack_default': stack_default}


@pytest.mark.parametrize('name', sorted(RUNS))
def test_the_golden_trajectory_is_unchanged(name):
    assert RUNS[name]() == GOLDEN[name]


if __name__ == '__main__':   # print the hashes (to update GOLDEN on a deliberate change)
    for key, run in RUNS.items():
        print(f"    '{key}': '{run()}',")
