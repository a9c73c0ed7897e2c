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
"""

import time

from space_miner.core.gait_types import TerrainClass, TerrainSummary
from space_miner.core.scenario import parse_scenario


def _scenario(body: str, regions: list, waypoint: list, time_limit_s: float) -> object:
    return parse_scenario({
        'name': f'bench_{body}', 'body': body, 'seed': 7, 'latitude_deg': 0,
        'terrain': {'size_m': [8, 6], 'resolution_m': 0.05, 'regions': regions},
        'mission': {'start': [0, 0, 0], 'waypoints': [waypoint], 'sample_sites': [],
                    'sample_target_g': 0, 'time_limit_s': time_limit_s}}, 'bench')


class _Timed:
    """Wrap a component, adding up the wall time of its steps [s]."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name
        self.period_s = inner.period_s
        self.wall_s = 0.0

    def step(self, t_s: float, bus: object) -> None:
        start = time.perf_counter()
        self.inner.step(t_s, bus)
        self.wall_s += time.perf_counter() - start


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


def run() -> dict:
    """Run the crawl and the roll; return the figures."""
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
    return out


if __name__ == '__main__':
    for key, value in run().items():
        print(f'{key}: {value:.3f}')
