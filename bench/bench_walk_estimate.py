# SPDX-License-Identifier: Apache-2.0
"""The estimate while walking: 5 m across flat lunar ground on the lockstep harness.

The whole locomotion stack walks from (-2.5, 0) to (2.5, 0) on a flat Moon patch (the
terrain summary says regolith, so the selector walks rather than rolls); every 0.5 s the
estimate is compared with the simulator's truth. Per seed it prints the horizontal error
at the end as a percentage of the distance walked, and the largest pitch, roll and height
errors on the way; ``run()`` returns the medians over the seeds::

    .venv/bin/python bench/bench_walk_estimate.py            # seeds 1-4, about 3 minutes
    .venv/bin/python bench/bench_walk_estimate.py --seeds 1 2 --body psyche

Figures: ``walk_<body>_drift_pct`` (median end error % of distance),
``walk_<body>_pitch_err_max_deg``, ``walk_<body>_height_err_max_m``.
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

DISTANCE_M = 5.0
TIME_LIMIT_S = 60.0
REGOLITH = TerrainSummary(TerrainClass.REGOLITH, TerrainClass.REGOLITH, 0.0)


def walk(body: str, seed: int) -> dict:
    """Walk DISTANCE_M on flat ground of ``body``; return the estimate's errors."""
    scenario = parse_scenario({
        'name': f'walk_{body}', 'body': body, 'seed': seed, 'latitude_deg': 0,
        'terrain': {'size_m': [16, 6], 'resolution_m': 0.1, 'regions': []},
        'mission': {'start': [-DISTANCE_M / 2, 0, 0], 'waypoints': [[DISTANCE_M / 2, 0]],
                    'sample_sites': [], 'sample_target_g': 0, 'time_limit_s': TIME_LIMIT_S},
        'faults': []}, 'bench')
    harness = Harness(scenario, [], HarnessConfig(camera=None))
    harness.components = stack_components(scenario, harness.world, terrain=REGOLITH)
    rows = []   # (roll, pitch error [deg], height error [m], horizontal error [m], true xy)

    def sample(_t_s: float, bus: object) -> None:
        estimate = bus.values.get('estimate')
        if estimate is None:
            return
        truth = harness.world.ground_truth()
        roll_t, pitch_t, _ = euler.quat2euler(truth.quat_wxyz)
        roll_e, pitch_e, _ = euler.quat2euler(estimate.orientation_wxyz)
        error = np.asarray(estimate.position_m) - np.asarray(truth.position_m)
        rows.append((math.degrees(roll_e - roll_t), math.degrees(pitch_e - pitch_t),
                     float(error[2]), float(np.linalg.norm(error[:2])),
                     np.asarray(truth.position_m[:2])))

    summary = harness.run(progress=sample, progress_period_s=0.5)
    walked = float(np.linalg.norm(rows[-1][4] - rows[0][4]))
    return {'drift_pct': 100.0 * rows[-1][3] / max(walked, 1e-9), 'walked_m': walked,
            'roll_err_max_deg': max(abs(r[0]) for r in rows),
            'pitch_err_max_deg': max(abs(r[1]) for r in rows),
            'height_err_max_m': max(abs(r[2]) for r in rows),
            'reason': summary['reason']}


def run(body: str = 'moon', seeds: tuple = (1, 2, 3, 4)) -> dict:
    """Walk on each seed, print one row per seed, return the medians."""
    results = []
    for seed in seeds:
        r = walk(body, seed)
        results.append(r)
        print(f'   {body} seed {seed}: walked {r["walked_m"]:.2f} m, end error '
              f'{r["drift_pct"]:.1f} % of it; largest errors: pitch {r["pitch_err_max_deg"]:.1f} '
              f'deg, roll {r["roll_err_max_deg"]:.2f} deg, height '
              f'{100 * r["height_err_max_m"]:.1f} cm ({r["reason"]})', flush=True)
    return {f'walk_{body}_{key}': float(np.median([r[key] for r in results]))
            for key in ('drift_pct', 'pitch_err_max_deg', 'height_err_max_m')}


def main() -> None:
    """Command line: --body, --seeds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--body', default='moon')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3, 4])
    args = parser.parse_args()
    for key, value in run(args.body, tuple(args.seeds)).items():
        print(f'{key:40s} {value:10.4g}')


if __name__ == '__main__':
    main()
