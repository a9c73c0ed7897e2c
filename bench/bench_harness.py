# SPDX-License-Identifier: Apache-2.0
"""Lockstep harness with the whole stack: real-time factor and where the time goes.

- ``harness_rtf_full_stack_x``: simulated over wall time of a claw crawl on Bennu's rubble
  with the claw controller (500 Hz), state estimator (200 Hz) and gait controller (50 Hz)
  on the MuJoCo world at a 2 ms step, no camera (issue 7's goal: >= 20x).
- ``harness_rtf_full_stack_roll_x``: the same for a roll on the Moon.
- ``harness_rtf_full_stack_cpu_x``, ``harness_rtf_full_stack_roll_cpu_x``: the same over the
  process's CPU time instead of wall time (steadier on a machine shared with other work).
- ``harness_<component>_us_per_sim_s``: wall time each component takes per simulated
  second of the crawl [us]; ``harness_physics_and_sensors_us_per_sim_s`` the rest (world
  stepping, sensor reading, judging).
- ``harness_rtf_default_x``, ``harness_rtf_moon_x``: the whole stack (terrain perception
  on the depth camera, claws, estimator, mission autopilot, sampler, gait) on the shipped
  default scenario's and ``body_moon.yaml``'s first 300 s, as ``space-miner eval`` runs
  them (issue 23's goal: >= 10x on both); ``harness_rtf_*_cpu_x`` over CPU time.
  ``bench/run_all.py`` adds their ratio to ``physics_rtf_rubble_2ms_x``.
- ``harness_default_<part>_ms_per_sim_s``: where the default scenario's first 60 s spend
  their wall time, per component and world call [ms per simulated s]
  (``bench/profile_harness.py``).
"""

import os
from pathlib import Path
import sys
import time

os.environ.setdefault('MUJOCO_GL', 'egl')

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_harness import _Timed, breakdown  # noqa: E402  (wall time per component)
from space_miner.core.gait_types import TerrainClass, TerrainSummary  # noqa: E402
from space_miner.core.scenario import parse_scenario  # noqa: E402


def _scenario(body: str, regions: list, waypoint: list, time_limit_s: float) -> object:
    return parse_scenario({
        'name': f'bench_{body}', 'body': body, 'seed': 7, 'latitude_deg': 0,
        'terrain': {'size_m': [8, 6], 'resolution_m': 0.05, 'regions': regions},
        'mission': {'start': [0, 0, 0], 'waypoints': [waypoint], 'sample_sites': [],
                    'sample_target_g': 0, 'time_limit_s': time_limit_s}}, 'bench')


def _run(scenario: object, terrain: TerrainSummary | None) -> tuple:
    from space_miner.sim.components import stack_components
    from space_miner.sim.harness import Harness, HarnessConfig
    harness = Harness(scenario, [], HarnessConfig(camera=None))
    timed = [_Timed(c) for c in stack_components(scenario, harness.world, terrain=terrain)]
    harness.components = timed
    cpu_start = time.process_time()
    start = time.perf_counter()
    summary = harness.run()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return summary, wall, cpu, timed


#: Simulated time of the whole-stack scenario runs [s].
SCENARIO_TIME_S = 300.0


def _scenario_rtf(path: str) -> tuple:
    """(wall, CPU) real-time factors of the whole stack on ``path``'s first 300 s."""
    from space_miner.core.scenario import load_scenario
    from space_miner.sim.harness import Harness, HarnessConfig
    harness = Harness(load_scenario(path), None, HarnessConfig())
    cpu_start = time.process_time()
    start = time.perf_counter()
    summary = harness.run(time_limit_s=SCENARIO_TIME_S)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return summary['sim_time_s'] / wall, summary['sim_time_s'] / cpu


def scenario_figures() -> dict:
    """The whole stack on the default scenario and on the Moon, and the default's breakdown."""
    from space_miner.paths import config_path
    out = {}
    for key, name in (('default', 'default.yaml'), ('moon', 'body_moon.yaml')):
        wall_x, cpu_x = _scenario_rtf(str(config_path(f'scenarios/{name}')))
        out[f'harness_rtf_{key}_x'] = wall_x
        out[f'harness_rtf_{key}_cpu_x'] = cpu_x
    rows, _ = breakdown(str(config_path('scenarios/default.yaml')), 60.0)
    for part, ms in rows.items():
        slug = part.replace('world.', 'world_').replace(' (rest)', '').replace(' ', '_')
        out[f'harness_default_{slug}_ms_per_sim_s'] = ms
    return out


def run() -> dict:
    """Run the crawl and the roll, then the whole stack on two scenarios; return the figures."""
    crawl = _scenario('bennu', [{'kind': 'rubble', 'center': [1.0, 0], 'radius': 1.5,
                                 'density': 0.3}], [2.0, 0], 20.0)
    summary, wall, cpu, timed = _run(crawl, None)
    sim_s = summary['sim_time_s']
    out = {'harness_rtf_full_stack_x': sim_s / wall, 'harness_rtf_full_stack_cpu_x': sim_s / cpu}
    spent = 0.0
    for comp in timed:
        out[f'harness_{comp.name}_us_per_sim_s'] = 1e6 * comp.wall_s / sim_s
        spent += comp.wall_s
    out['harness_physics_and_sensors_us_per_sim_s'] = 1e6 * (wall - spent) / sim_s
    smooth = TerrainSummary(TerrainClass.SMOOTH, TerrainClass.SMOOTH, 0.0)
    roll = _scenario('moon', [], [3.5, 0], 15.0)
    summary, wall, cpu, _ = _run(roll, smooth)
    out['harness_rtf_full_stack_roll_x'] = summary['sim_time_s'] / wall
    out['harness_rtf_full_stack_roll_cpu_x'] = summary['sim_time_s'] / cpu
    out.update(scenario_figures())
    return out


if __name__ == '__main__':
    for key, value in run().items():
        print(f'{key}: {value:.3f}')
