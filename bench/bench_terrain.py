# SPDX-License-Identifier: Apache-2.0
"""Terrain perception: median time per 640x480 depth frame on one core.

``terrain_frame_640x480_ms`` is the whole local pipeline per frame (back-projection, fusion,
inpainting, layers, classes, global map, grasp candidates for the three claws, summary);
goal <= 10 ms. ``terrain_points_only_640x480_ms`` is the back-projection of every valid
pixel into odom points alone. The frames are ray-cast views of a mixed synthetic patch
(test/terrain_synth.py), with the robot's own legs, from a robot walking forward.
Run: ``python bench/run_all.py terrain``.
"""

from pathlib import Path
import statistics
import sys
import time

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'test'))

from space_miner.core.robot import load_robot_config  # noqa: E402
from space_miner.core.terrain import (camera_optical_pose, robot_capsules,  # noqa: E402
                                      TerrainPerception)
from space_miner.core.terrain_grid import depth_to_points, RayTable  # noqa: E402
from space_miner.core.terrain_params import load_terrain_params  # noqa: E402
from space_miner.core.terrain_types import CameraIntrinsics, TerrainClass  # noqa: E402
from terrain_synth import make_mixed, render_depth  # noqa: E402

STANCE_HEIGHT_M = 0.2146
FRAMES = 3
REPEATS = 40


def _pose(x: float, hf) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = [x, 0.0, float(hf.height(x, 0.0)) + STANCE_HEIGHT_M]
    return pose


def run() -> dict[str, float]:
    """Median milliseconds per 640x480 frame: whole local pipeline, and points only."""
    cv2.setNumThreads(1)
    robot = load_robot_config()
    params = load_terrain_params()
    intr = CameraIntrinsics.from_fov(640, 480, robot.camera.hfov_deg)
    hf = make_mixed(11, [(TerrainClass.ROCK, (1.2, 0.8), 0.8),
                         (TerrainClass.REGOLITH, (1.2, -0.9), 0.7),
                         (TerrainClass.RUBBLE, (2.2, 0.0), 0.6)])
    perception = TerrainPerception(params, robot)
    frames = []
    for i in range(FRAMES):
        base = _pose(0.05 * i, hf)
        optical = camera_optical_pose(base, robot.camera)
        depth = render_depth(hf, intr, optical, noise_std_m=robot.camera.depth_noise_std_m,
                             seed=i, step_m=0.01,
                             capsules=robot_capsules(perception.kinematics, base))
        frames.append((base, optical, depth))

    times = []
    for k in range(REPEATS + 3):
        base, optical, depth = frames[k % FRAMES]
        stamp = 0.1 * k
        start = time.perf_counter()
        perception.process_frame(depth, '32FC1', intr, stamp, base, optical)
        perception.grasp_candidates(base)
        perception.summary(base, None, stamp)
        if k >= 3:      # the first frames fill the grid: not the steady state
            times.append(time.perf_counter() - start)

    rays = RayTable(intr)
    point_times = []
    for k in range(REPEATS):
        base, optical, depth = frames[k % FRAMES]
        start = time.perf_counter()
        depth_to_points(depth, '32FC1', rays, optical, params.min_depth_m, params.max_depth_m)
        point_times.append(time.perf_counter() - start)
    return {
        'terrain_frame_640x480_ms': statistics.median(times) * 1e3,
        'terrain_points_only_640x480_ms': statistics.median(point_times) * 1e3,
    }


if __name__ == '__main__':
    for key, value in run().items():
        print(f'{key:40s} {value:8.2f}')
