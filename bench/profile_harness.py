# SPDX-License-Identifier: Apache-2.0
"""Where the lockstep harness spends its time: ms of wall time per simulated second.

Runs a scenario on the whole stack (as ``space-miner eval`` does) with each component and
the world's per-step calls timed, and prints one row per part::

    .venv/bin/python bench/profile_harness.py config/scenarios/default.yaml --time 60
    .venv/bin/python bench/profile_harness.py config/scenarios/body_moon.yaml --cprofile

``--cprofile`` prints cProfile's 40 costliest functions instead (cumulative time);
``--cpu`` times with the process's CPU time instead of wall time (steadier on a machine
shared with other work).
"""

import argparse
import cProfile
import os
import pstats
import time

os.environ.setdefault('MUJOCO_GL', 'egl')


#: The clock every part is timed with (time.process_time with --cpu).
CLOCK = {'now': time.perf_counter}


class _Timed:
    """Wrap a component, adding up the wall time of its steps [s]."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name
        self.period_s = inner.period_s
        self.wall_s = 0.0

    def step(self, t_s: float, bus: object) -> None:
        now = CLOCK['now']
        start = now()
        self.inner.step(t_s, bus)
        self.wall_s += now() - start

    def __getattr__(self, name: str) -> object:   # wants_depth and the like
        return getattr(self.inner, name)


def _time_method(obj: object, name: str, totals: dict) -> None:
    """Replace ``obj.name`` by a wrapper adding its wall time to ``totals[name]`` [s]."""
    inner = getattr(obj, name)
    totals[name] = 0.0

    def wrapper(*args, **kwargs):
        now = CLOCK['now']
        start = now()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[name] += now() - start

    setattr(obj, name, wrapper)


WORLD_CALLS = ('step', 'read_sensors', 'render_depth', 'holding_truth', 'external_load_n',
               'is_detached', 'ground_truth')


def breakdown(path: str, time_s: float, camera: bool = True) -> tuple:
    """Run ``path``'s first ``time_s`` seconds; return (rows {part: ms per sim s}, summary)."""
    from space_miner.core.scenario import load_scenario
    from space_miner.sim.components import full_stack_components
    from space_miner.sim.harness import Harness, HarnessConfig
    scenario = load_scenario(path)
    config = HarnessConfig() if camera else HarnessConfig(camera=None)
    harness = Harness(scenario, [], config)
    timed = [_Timed(c) for c in full_stack_components(scenario, harness.world)]
    harness.components = timed
    totals: dict = {}
    for name in WORLD_CALLS:
        if hasattr(harness.world, name):
            _time_method(harness.world, name, totals)
    _time_method(harness.judge, 'step', judge := {})
    start = CLOCK['now']()
    summary = harness.run(time_limit_s=time_s)
    wall = CLOCK['now']() - start
    sim = summary['sim_time_s']
    rows = {f'world.{k}': v for k, v in totals.items()}
    rows['judge.step'] = judge['step']
    rows.update({c.name: c.wall_s for c in timed})
    rows['harness loop (rest)'] = wall - sum(rows.values())
    rows['total'] = wall
    return {k: 1e3 * v / sim for k, v in rows.items()}, summary


def main() -> None:
    """Print the breakdown (or a cProfile) of one scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('scenario')
    parser.add_argument('--time', type=float, default=60.0, help='simulated seconds')
    parser.add_argument('--no-camera', action='store_true')
    parser.add_argument('--cprofile', action='store_true')
    parser.add_argument('--cpu', action='store_true', help='time with process CPU time')
    args = parser.parse_args()
    if args.cpu:
        CLOCK['now'] = time.process_time
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        breakdown(args.scenario, args.time, not args.no_camera)
        prof.disable()
        pstats.Stats(prof).sort_stats('tottime').print_stats(45)
        return
    rows, summary = breakdown(args.scenario, args.time, not args.no_camera)
    print(f"{summary['scenario']}: {summary['sim_time_s']:.1f} s simulated, "
          f"rtf {1e3 / rows['total']:.2f}x ({'CPU' if args.cpu else 'wall'} time), "
          f"mode times {summary['gait_time_s']}")
    for key, value in sorted(rows.items(), key=lambda kv: -kv[1]):
        print(f'  {key:28s} {value:8.1f} ms per simulated s')


if __name__ == '__main__':
    main()
