# SPDX-License-Identifier: Apache-2.0
"""The estimate while walking and rolling across flat ground on the lockstep harness.

The whole locomotion stack goes from (-d/2, 0) to (d/2, 0) on a flat patch: walking 5 m
(the terrain summary says regolith, so the selector walks) or rolling 10 m (it says
smooth); every 0.5 s the estimate is compared with the simulator's truth. Per seed it
prints the true distance covered, the horizontal error at the end as a percentage of it,
and the largest pitch, roll, heading and height errors on the way; ``run()`` returns the
medians over the seeds of both gaits on the Moon::

    .venv/bin/python bench/bench_walk_estimate.py                  # Moon, seeds 1-4, ~2 min
    .venv/bin/python bench/bench_walk_estimate.py --gait roll --body psyche --seeds 1 2 3

Figures: ``<gait>_moon_drift_pct`` (median end error % of distance),
``<gait>_moon_pitch_err_max_deg``, ``<gait>_moon_height_err_max_m``,
``<gait>_moon_distance_min_m`` (the least true distance of the seeds).
"""

import argparse
import math
import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
from transforms3d import euler  # noqa: E402

from space_miner.core.gait_types import TerrainClass, TerrainSummary  # noqa: E402
from space_miner.core.scenario import parse_scenario  # noqa: E402
from space_miner.sim.components import stack_components  # noqa: E402
from space_miner.sim.harness import Harness, HarnessConfig  # noqa: E402

#: Per gait: the terrain class the surveyed site gives the selector, and the distance [m].
GAITS = {'walk': (TerrainClass.REGOLITH, 5.0), 'roll': (TerrainClass.SMOOTH, 10.0)}
TIME_LIMIT_S = 60.0


def cross(body: str, seed: int, gait: str = 'walk') -> dict:
    """Walk or roll across flat ground of ``body``; return the estimate's errors."""
    kind, distance_m = GAITS[gait]
    scenario = parse_scenario({
        'name': f'{gait}_{body}', 'body': body, 'seed': seed, 'latitude_deg': 0,
        'terrain': {'size_m': [16, 6], 'resolution_m': 0.1, 'regions': []},
        'mission': {'start': [-distance_m / 2, 0, 0], 'waypoints': [[distance_m / 2, 0]],
                    'sample_sites': [], 'sample_target_g': 0, 'time_limit_s': TIME_LIMIT_S},
        'faults': []}, 'bench')
    harness = Harness(scenario, [], HarnessConfig(camera=None))
    harness.components = stack_components(scenario, harness.world,
                                          terrain=TerrainSummary(kind, kind, 0.0))
    rows = []   # roll, pitch, yaw error [deg], height, horizontal error [m], true xy [m]

    def sample(_t_s: float, bus: object) -> None:
        estimate = bus.values.get('estimate')
        if estimate is None:
            return
        truth = harness.world.ground_truth()
        roll_t, pitch_t, yaw_t = euler.quat2euler(truth.quat_wxyz)
        roll_e, pitch_e, yaw_e = euler.quat2euler(estimate.orientation_wxyz)
        error = np.asarray(estimate.position_m) - np.asarray(truth.position_m)
        rows.append((math.degrees(roll_e - roll_t), math.degrees(pitch_e - pitch_t),
                     math.degrees(math.remainder(yaw_e - yaw_t, 2.0 * math.pi)),
                     float(error[2]), float(np.linalg.norm(error[:2])),
                     np.asarray(truth.position_m[:2])))

    summary = harness.run(progress=sample, progress_period_s=0.5)
    covered = float(np.linalg.norm(rows[-1][5] - rows[0][5]))
    return {'drift_pct': 100.0 * rows[-1][4] / max(covered, 1e-9), 'distance_m': covered,
            'roll_err_max_deg': max(abs(r[0]) for r in rows),
            'pitch_err_max_deg': max(abs(r[1]) for r in rows),
            'heading_err_max_deg': max(abs(r[2]) for r in rows),
            'height_err_max_m': max(abs(r[3]) for r in rows),
            'reason': summary['reason']}


def figures(gait: str, body: str, seeds: tuple) -> dict:
    """Cross on each seed, print one row per seed, return the medians (and least distance)."""
    results = []
    for seed in seeds:
        r = cross(body, seed, gait)
        results.append(r)
        print(f'   {gait} {body} seed {seed}: {r["distance_m"]:.3f} m, end error '
              f'{r["drift_pct"]:.2f} % of it; largest errors: pitch '
              f'{r["pitch_err_max_deg"]:.2f} deg, roll {r["roll_err_max_deg"]:.2f} deg, heading '
              f'{r["heading_err_max_deg"]:.2f} deg, height {100 * r["height_err_max_m"]:.1f} cm '
              f'({r["reason"]})', flush=True)
    out = {f'{gait}_{body}_{key}': float(np.median([r[key] for r in results]))
           for key in ('drift_pct', 'pitch_err_max_deg', 'height_err_max_m')}
    out[f'{gait}_{body}_distance_min_m'] = min(r['distance_m'] for r in results)
    return out


def run(body: str = 'moon', seeds: tuple = (1, 2, 3, 4), gaits: tuple = ('walk', 'roll')) -> dict:
    """Return the figures of every gait in ``gaits`` on ``body`` over ``seeds``."""
    out: dict = {}
    for gait in gaits:
        out.update(figures(gait, body, seeds))
    return out


def main() -> None:
    """Command line: --gait, --body, --seeds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gait', choices=sorted(GAITS), action='append')
    parser.add_argument('--body', default='moon')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3, 4])
    args = parser.parse_args()
    gaits = tuple(args.gait) if args.gait else ('walk', 'roll')
    for key, value in run(args.body, tuple(args.seeds), gaits).items():
        print(f'{key:40s} {value:10.4g}')


if __name__ == '__main__':
    main()
