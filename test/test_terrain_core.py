# SPDX-License-Identifier: Apache-2.0
"""Terrain perception core (issue 6): pipeline against a per-pixel oracle, accuracy on
synthetic terrain of DESIGN.md section 6's kinds, edge cases, grasp candidates, params.

Seeds: the thresholds in config/terrain_perception.yaml were tuned on TUNING_SEEDS only;
the accuracy tests run on TEST_SEEDS and MIXED_TEST_SEEDS, which tuning never saw.
"""

import dataclasses
import math

import numpy as np
import pytest
from terrain_synth import Heightfield, KINDS, make_mixed, make_terrain, render_depth
from transforms3d import euler

from space_miner.core.kinematics import LegKinematics, RobotKinematics
from space_miner.core.robot import ConfigError, load_robot_config
from space_miner.core.terrain import (camera_optical_pose, occupancy_data, robot_capsules,
                                      TerrainPerception)
from space_miner.core.terrain_layers import grip_fraction_table
from space_miner.core.terrain_params import (load_terrain_params, parse_terrain_params,
                                             terrain_params_to_dict)
from space_miner.core.terrain_types import (CameraIntrinsics, FrameStatus, KNOWN_CLASSES,
                                            MapStatus, SiteReason, TerrainClass, TraverseMode)
from space_miner.interfaces import CLAW_LEGS

TUNING_SEEDS = (1, 2, 3)          # used to tune the class thresholds; never asserted on here
TEST_SEEDS = (101, 102)           # single-kind patches, one per kind and seed
MIXED_TEST_SEEDS = (201,)         # smooth ground with rock, regolith and rubble regions
ORACLE_SEED = 7

ELEVATION_RMSE_MAX_M = 0.01       # issue 6: within 2 m of the camera
CLASS_ACCURACY_MIN = 0.90         # issue 6: on observed cells
ORACLE_HEIGHT_TOL_M = 1e-6        # vectorised vs per-pixel reference, per cell
RIM_RANGE_M = 0.02                # cells whose true height spans more than this (boulder rims)
BOUNDARY_BAND_M = 0.15            # cells this close to a region border (mixed scene)
STANCE_HEIGHT_M = 0.2146          # base_link above the ground in the nominal stance


@pytest.fixture(scope='module')
def robot():
    return load_robot_config()


@pytest.fixture(scope='module')
def params():
    return load_terrain_params()


def base_pose(x: float, y: float, yaw: float, hf: Heightfield) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = euler.euler2mat(0.0, 0.0, yaw, 'sxyz')
    pose[:3, 3] = [x, y, float(hf.height(x, y)) + STANCE_HEIGHT_M]
    return pose


def drive(hf: Heightfield, robot, params, seed: int, frames: int = 4,
          size: tuple = (320, 240), step_x_m: float = 0.1):
    """Fuse ``frames`` rendered frames while the robot moves forward and yaws a little.

    The robot's own legs (nominal stance) are rendered too, as the simulator's camera sees
    them.
    """
    intrinsics = CameraIntrinsics.from_fov(size[0], size[1], robot.camera.hfov_deg)
    perception = TerrainPerception(params, robot)
    kinematics = RobotKinematics(robot)
    base = optical = None
    for i in range(frames):
        base = base_pose(step_x_m * i, 0.0, 0.2 * math.sin(1.3 * i), hf)
        optical = camera_optical_pose(base, robot.camera)
        depth = render_depth(hf, intrinsics, optical, noise_std_m=robot.camera.depth_noise_std_m,
                             seed=seed * 100 + i, step_m=0.01,
                             capsules=robot_capsules(kinematics, base))
        result = perception.process_frame(depth, '32FC1', intrinsics, 0.1 * i, base)
        assert result.status == FrameStatus.OK, result
    return perception, base, optical


def truth_span(hf: Heightfield, xs: np.ndarray, ys: np.ndarray, half_m: float) -> tuple:
    """Lowest and highest true height [m] within each cell."""
    lo = np.full(xs.shape, np.inf)
    hi = np.full(xs.shape, -np.inf)
    for dx in np.linspace(-half_m, half_m, 6):
        for dy in np.linspace(-half_m, half_m, 6):
            h = hf.height(xs + dx, ys + dy)
            lo = np.minimum(lo, h)
            hi = np.maximum(hi, h)
    return lo, hi


def confusion(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    classes = [int(c) for c in KNOWN_CLASSES] + [int(TerrainClass.UNKNOWN)]
    matrix = np.zeros((4, 5), dtype=int)
    for i, t in enumerate(KNOWN_CLASSES):
        for j, p in enumerate(classes):
            matrix[i, j] = np.count_nonzero((truth == t) & (predicted == p))
    return matrix


def print_confusion(title: str, matrix: np.ndarray) -> None:
    names = [c.name.lower() for c in KNOWN_CLASSES] + ['unknown']
    print(f'\n{title}: rows truth, columns predicted')
    print(' ' * 10 + ''.join(f'{n:>10s}' for n in names))
    for i, c in enumerate(KNOWN_CLASSES):
        print(f'{c.name.lower():>10s}' + ''.join(f'{v:10d}' for v in matrix[i]))


# --- (a) the vectorised pipeline against a plain per-pixel reference -------------------------

def near_robot(cx: float, cy: float, capsules: list, res: float, margin: float) -> bool:
    """Whether a cell centre lies within the self-filter distance of a capsule, in xy."""
    for a, b, r in capsules:
        ax, ay, bx, by = float(a[0]), float(a[1]), float(b[0]), float(b[1])
        vx, vy = bx - ax, by - ay
        length2 = vx * vx + vy * vy
        s = 0.0
        if length2 > 1e-12:
            s = min(1.0, max(0.0, ((cx - ax) * vx + (cy - ay) * vy) / length2))
        if math.hypot(cx - ax - s * vx, cy - ay - s * vy) <= r + res / math.sqrt(2) + margin:
            return True
    return False


def oracle_update(state: dict, depth, encoding: str, intr: CameraIntrinsics, optical, base,
                  params, dt: float, capsules: list) -> None:
    """Per-pixel reference of one frame: plain Python loops over pixels and cells.

    ``state`` maps an absolute cell (ix, iy) to [height, variance].
    """
    res = params.local_resolution_m
    n = params.local_cells
    ox = math.floor(base[0, 3] / res) - n // 2
    oy = math.floor(base[1, 3] / res) - n // 2
    cells = {}
    rot, t = optical[:3, :3], optical[:3, 3]
    for v in range(intr.height):
        for u in range(intr.width):
            raw = depth[v, u]
            d = float(raw) * 0.001 if encoding == '16UC1' else float(raw)
            if not (math.isfinite(d) and d > 0 and params.min_depth_m <= d <= params.max_depth_m):
                continue
            p_opt = np.array([(u - intr.cx) / intr.fx * d, (v - intr.cy) / intr.fy * d, d])
            x, y, z = rot @ p_opt + t
            ix = math.floor(x / res) - ox
            iy = math.floor(y / res) - oy
            if 0 <= ix < n and 0 <= iy < n:
                frac = (x / res - (ix + ox), y / res - (iy + oy), z)
                cells.setdefault((ix, iy), []).append(frac)
    for ix, iy in list(cells):
        if near_robot((ix + ox + 0.5) * res, (iy + oy + 0.5) * res, capsules, res,
                      params.self_filter_margin_m):
            del cells[(ix, iy)]
    means = {c: sum(p[2] for p in pts) / len(pts) for c, pts in cells.items()}
    for key in state:          # process noise on every seen cell
        state[key][1] += params.process_noise_m2_per_s * dt
    for (ix, iy), pts in cells.items():
        count = len(pts)
        mean_z = means[(ix, iy)]
        spread = max(sum(p[2] ** 2 for p in pts) / count - mean_z ** 2, 0.0)
        frac_x = sum(p[0] for p in pts) / count
        frac_y = sum(p[1] for p in pts) / count
        gx = gy = 0.0
        if 0 < ix < n - 1 and (ix - 1, iy) in means and (ix + 1, iy) in means:
            gx = (means[(ix + 1, iy)] - means[(ix - 1, iy)]) / (2 * res)
        if 0 < iy < n - 1 and (ix, iy - 1) in means and (ix, iy + 1) in means:
            gy = (means[(ix, iy + 1)] - means[(ix, iy - 1)]) / (2 * res)
        height = mean_z - gx * (frac_x - 0.5) * res - gy * (frac_y - 0.5) * res
        cx = (ix + ox + 0.5) * res
        cy = (iy + oy + 0.5) * res
        rng2 = (cx - t[0]) ** 2 + (cy - t[1]) ** 2 + (mean_z - t[2]) ** 2
        sigma = params.depth_noise_std_m + params.depth_noise_quadratic_per_m * rng2
        r = (sigma ** 2 + spread) / count + params.measurement_floor_std_m ** 2
        key = (ix + ox, iy + oy)
        if key not in state:
            state[key] = [height, r]
            continue
        h, p = state[key]
        if abs(height - h) > params.gate_sigma * math.sqrt(p + r):
            state[key] = [height, r]
        else:
            gain = p / (p + r)
            state[key] = [h + gain * (height - h), (1 - gain) * p]


@pytest.mark.parametrize('encoding', ['32FC1', '16UC1'])
def test_vectorised_pipeline_matches_per_pixel_oracle(robot, params, encoding):
    """Heights and variances of every cell after two frames (the second moved and yawed, so
    the grid scrolls) agree with the per-pixel reference within 1e-6 m and 1e-9 m^2 (the
    float32 ray table and float32 depth); at most 2 cells may differ in seen-ness (a point
    within float rounding of a cell border).
    """
    p = dataclasses.replace(params, max_pixel_stride=1)
    hf = make_terrain(TerrainClass.ROCK, ORACLE_SEED)
    intr = CameraIntrinsics.from_fov(160, 120, robot.camera.hfov_deg)
    perception = TerrainPerception(p, robot)
    state = {}
    for i, (x, yaw) in enumerate(((0.0, 0.0), (0.17, 0.25))):
        base = base_pose(x, 0.03, yaw, hf)
        optical = camera_optical_pose(base, robot.camera)
        capsules = robot_capsules(RobotKinematics(robot), base)
        depth = render_depth(hf, intr, optical, noise_std_m=0.002, seed=ORACLE_SEED + i,
                             capsules=capsules)
        if encoding == '16UC1':
            depth = np.where(np.isfinite(depth), np.round(depth * 1000.0), 0).astype(np.uint16)
        result = perception.process_frame(depth, encoding, intr, 0.5 * i, base)
        assert result.status == FrameStatus.OK
        assert result.self_cells > 0
        oracle_update(state, depth, encoding, intr, optical, base, p, 0.5 if i else 0.0,
                      capsules)
    grid = perception.grid
    origin = grid.origin_index
    ref_h = np.full((grid.cells, grid.cells), np.nan)
    ref_v = np.full((grid.cells, grid.cells), np.inf)
    for (ax, ay), (h, v) in state.items():
        ix, iy = ax - origin[0], ay - origin[1]
        if 0 <= ix < grid.cells and 0 <= iy < grid.cells:
            ref_h[iy, ix] = h
            ref_v[iy, ix] = v
    seen_ref = np.isfinite(ref_h)
    assert np.count_nonzero(seen_ref) > 500
    assert np.count_nonzero(seen_ref != grid.seen) <= 2
    both = seen_ref & grid.seen
    dh = np.abs(grid.height_m[both] - ref_h[both])
    dv = np.abs(grid.variance_m2[both] - ref_v[both])
    assert np.quantile(dh, 0.99) <= ORACLE_HEIGHT_TOL_M, np.max(dh)
    assert np.max(dh) <= 1e-3
    assert np.quantile(dv, 0.99) <= 1e-9


def test_points_match_per_pixel_back_projection(robot, params):
    from space_miner.core.terrain_grid import depth_to_points, RayTable
    intr = CameraIntrinsics.from_fov(40, 30, 86.0)
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.2, 3.0, (30, 40)).astype(np.float32)
    depth[0, :5] = np.nan
    depth[1, :5] = np.inf
    depth[2, :5] = 0.0
    base = np.eye(4)
    base[:3, :3] = euler.euler2mat(0.05, -0.1, 0.4, 'sxyz')
    base[:3, 3] = [0.3, -0.2, 0.25]
    pose = camera_optical_pose(base, robot.camera)
    pts = depth_to_points(depth, '32FC1', RayTable(intr), pose, 0.1, 3.5)
    expected = []
    for v in range(30):
        for u in range(40):
            d = float(depth[v, u])
            if math.isfinite(d) and 0.1 <= d <= 3.5:
                ray = np.array([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, 1.0])
                expected.append(pose[:3, :3] @ (ray * d) + pose[:3, 3])
    assert pts.shape == (len(expected), 3)
    assert np.max(np.abs(pts - np.array(expected))) < 1e-5   # float32 points


def test_pixel_bands_read_near_rows_sparsely_and_keep_the_heights(robot, params):
    """Banding covers every row once, reads far rows fully and near rows every 2^k pixels,
    and changes no cell height by more than 2 mm (RMSE < 0.5 mm) against the full image.
    """
    from space_miner.core.terrain_grid import pixel_bands, RayTable
    hf = make_terrain(TerrainClass.ROCK, ORACLE_SEED)
    intr = CameraIntrinsics.from_fov(320, 240, robot.camera.hfov_deg)
    base = base_pose(0.0, 0.0, 0.0, hf)
    optical = camera_optical_pose(base, robot.camera)
    bands = pixel_bands(RayTable(intr), optical, 0.0, params.local_resolution_m,
                        params.samples_per_cell, params.max_pixel_stride)
    rows = [v for v0, v1, _, _ in bands for v in range(v0, v1)]
    assert rows == list(range(240))
    assert bands[0][2:] == (1, 1) and bands[-1][2] > 1
    assert all(s in (1, 2, 4, 8) for _, _, sv, su in bands for s in (sv, su))
    assert pixel_bands(RayTable(intr), optical, None, 0.05, 6.0, 8) == [(0, 240, 1, 1)]
    depth = render_depth(hf, intr, optical, noise_std_m=0.002, seed=3)
    heights = []
    for stride in (1, params.max_pixel_stride):
        perception = TerrainPerception(dataclasses.replace(params, max_pixel_stride=stride),
                                       robot)
        perception.process_frame(depth, '32FC1', intr, 0.0, base)   # seeds the ground estimate
        perception.process_frame(depth, '32FC1', intr, 0.1, base)
        heights.append(perception.grid.height_m)
    both = np.isfinite(heights[0]) & np.isfinite(heights[1])
    assert np.count_nonzero(both) >= 0.97 * np.count_nonzero(np.isfinite(heights[0]))
    diff = heights[0][both] - heights[1][both]
    assert np.sqrt(np.mean(diff ** 2)) < 5e-4 and np.max(np.abs(diff)) < 2e-3


def test_self_filter_keeps_the_legs_out_of_the_map(robot, params):
    """The c1 leg and claw stand in front of the camera: unfiltered they would be mapped as
    a boulder 0.1-0.25 m tall; filtered, no cell is more than 1 cm off the ground truth.
    """
    hf = make_terrain(TerrainClass.ROCK, ORACLE_SEED)
    intr = CameraIntrinsics.from_fov(160, 120, robot.camera.hfov_deg)
    q = {'c1': (0.2, 0.1, 1.2)}       # c1 reaching forward and to the left
    base = base_pose(0.0, 0.0, 0.0, hf)
    capsules = robot_capsules(RobotKinematics(robot), base, q)
    optical = camera_optical_pose(base, robot.camera)
    depth = render_depth(hf, intr, optical, capsules=capsules)
    assert np.count_nonzero(depth < render_depth(hf, intr, optical) - 1e-6) > 500
    errors = {}
    for margin in (params.self_filter_margin_m, -1.0):    # -1 m: no cell is filtered
        perception = TerrainPerception(dataclasses.replace(params, self_filter_margin_m=margin),
                                       robot)
        result = perception.process_frame(depth, '32FC1', intr, 0.0, base, joint_positions=q)
        assert result.status == FrameStatus.OK
        layers = perception.layers
        xs, ys = layers.geometry.cell_centres()
        errors[margin] = np.nanmax(layers.elevation_m - hf.height(xs, ys))
    assert errors[params.self_filter_margin_m] < 0.01
    assert errors[-1.0] > 0.1


@pytest.mark.parametrize('gx, gy', [(0.0, 0.0), (0.2, -0.1), (-0.05, 0.3), (1.0, 0.0)])
def test_plane_layers(params, gx, gy):
    """A tilted plane: exact slope and normal, no roughness, smooth; roll only when gentle."""
    from space_miner.core.terrain_layers import compute_layers
    from space_miner.core.terrain_types import GridGeometry
    geometry = GridGeometry((-2.0, -2.0), params.local_resolution_m, params.local_cells)
    xs, ys = geometry.cell_centres()
    heights = 0.3 + gx * xs + gy * ys
    heights[:10] = np.nan             # a strip never seen
    variances = np.where(np.isnan(heights), np.inf, 1e-6)
    layers = compute_layers(heights, variances, geometry, params, 0.0)
    inner = (slice(20, 60), slice(20, 60))
    slope = math.atan(math.hypot(gx, gy))
    np.testing.assert_allclose(layers.slope_rad[inner], slope, atol=1e-5)
    normal = np.array([-gx, -gy, 1.0]) / math.sqrt(1.0 + gx * gx + gy * gy)
    np.testing.assert_allclose(layers.normal[inner], np.broadcast_to(normal, (40, 40, 3)),
                               atol=1e-5)
    assert np.all(layers.roughness_m[inner] < 1e-5)
    assert np.all(layers.terrain_class[inner] == TerrainClass.SMOOTH)
    assert np.all(layers.terrain_class[:10] == TerrainClass.UNKNOWN)
    assert np.all(np.isnan(layers.traversability[TraverseMode.ROLL][:10]))
    roll = layers.traversability[TraverseMode.ROLL][inner]
    if slope < math.radians(params.roll_max_slope_deg) * 0.5 and \
            layers.step_m[inner].max() < 0.5 * params.roll_max_step_m:
        assert np.all(roll > 0.4)
    if slope > math.radians(params.walk_max_slope_deg):
        assert np.all(roll == 0.0)
        assert np.all(layers.traversability[TraverseMode.WALK][inner] == 0.0)


def test_occupancy_data():
    data = occupancy_data(np.array([[0.0, 1.0], [np.nan, 0.25]]))
    assert data.dtype == np.int8
    assert data.tolist() == [100, 0, -1, 75]
    assert occupancy_data(np.array([0.25, np.nan]), invert=False).tolist() == [25, -1]


# --- (b) accuracy on synthetic terrain of each kind -----------------------------------------

def scene_metrics(perception, optical, hf: Heightfield) -> dict:
    layers = perception.layers
    xs, ys = layers.geometry.cell_centres()
    seen = layers.seen
    near = seen & (np.hypot(xs - optical[0, 3], ys - optical[1, 3]) <= 2.0)
    lo, hi = truth_span(hf, xs, ys, layers.geometry.resolution_m / 2.0)
    truth = hf.height(xs, ys)
    rim = (hi - lo) > RIM_RANGE_M
    err = layers.elevation_m - truth
    outside = np.maximum(lo - layers.elevation_m, 0.0) + np.maximum(layers.elevation_m - hi, 0.0)
    return {
        'rmse_m': float(np.sqrt(np.mean(err[near & ~rim] ** 2))),
        'rim_share': float(np.mean(rim[near])),
        'rmse_all_m': float(np.sqrt(np.mean(err[near] ** 2))),
        'rmse_span_m': float(np.sqrt(np.mean(outside[near] ** 2))),
        'near_cells': int(np.count_nonzero(near)),
        'truth': hf.kind_at(xs, ys)[seen],
        'predicted': layers.terrain_class[seen],
    }


@pytest.fixture(scope='module')
def kind_scenes(robot, params):
    scenes = {}
    for kind in KINDS:
        for seed in TEST_SEEDS:
            hf = make_terrain(kind, seed)
            perception, base, optical = drive(hf, robot, params, seed)
            scenes[(kind, seed)] = (hf, perception, base, optical)
    return scenes


def test_elevation_and_class_accuracy_per_kind(kind_scenes):
    """Elevation RMSE within 2 m of the camera <= 1 cm for every kind and seed, on observed
    cells except boulder rims (cells whose true height spans > 2 cm: one 5 cm cell cannot
    hold one height there; for those the error beyond the cell's true span is reported and
    bounded instead); class accuracy on observed cells >= 90 % over all, and per kind.
    """
    truth_all, pred_all = [], []
    print()
    for (kind, seed), (hf, perception, _, optical) in kind_scenes.items():
        m = scene_metrics(perception, optical, hf)
        acc = float(np.mean(m['truth'] == m['predicted']))
        print(f'{kind.name.lower():9s} seed {seed}: elevation RMSE {m["rmse_m"] * 1e3:5.2f} mm '
              f'({m["near_cells"]} cells within 2 m, rims {m["rim_share"]:.1%}: all cells '
              f'{m["rmse_all_m"] * 1e3:.1f} mm, beyond true span {m["rmse_span_m"] * 1e3:.2f} '
              f'mm); class accuracy {acc:.3f}')
        assert m['near_cells'] > 300
        assert m['rmse_m'] <= ELEVATION_RMSE_MAX_M
        assert m['rmse_span_m'] <= ELEVATION_RMSE_MAX_M
        assert acc >= CLASS_ACCURACY_MIN - 0.05, (kind, seed, acc)
        truth_all.append(m['truth'])
        pred_all.append(m['predicted'])
    truth = np.concatenate(truth_all)
    pred = np.concatenate(pred_all)
    matrix = confusion(truth, pred)
    print_confusion(f'single-kind patches, test seeds {TEST_SEEDS}', matrix)
    per_kind = matrix[np.arange(4), np.arange(4)] / matrix.sum(axis=1)
    names = [c.name.lower() for c in KNOWN_CLASSES]
    print('per-kind accuracy', dict(zip(names, per_kind.round(3).tolist())))
    assert float(np.mean(truth == pred)) >= CLASS_ACCURACY_MIN
    assert np.all(per_kind >= CLASS_ACCURACY_MIN)


@pytest.fixture(scope='module')
def mixed_scenes(robot, params):
    scenes = {}
    for seed in MIXED_TEST_SEEDS:
        hf = make_mixed(seed, [(TerrainClass.ROCK, (1.5, 1.0), 0.8),
                               (TerrainClass.REGOLITH, (1.4, -1.1), 0.8),
                               (TerrainClass.RUBBLE, (2.6, 0.0), 0.7)])
        scenes[seed] = (hf,) + drive(hf, robot, params, seed, frames=5)
    return scenes


def test_class_accuracy_on_mixed_terrain(mixed_scenes):
    """Regions of every kind on smooth ground: accuracy >= 90 % on observed cells farther
    than 0.15 m from a region border (class windows blur borders); all cells reported.
    """
    for seed, (hf, perception, _, _) in mixed_scenes.items():
        layers = perception.layers
        xs, ys = layers.geometry.cell_centres()
        seen = layers.seen
        truth = hf.kind_at(xs, ys)
        border = np.zeros_like(seen)
        for ang in np.linspace(0, 2 * math.pi, 12, endpoint=False):
            border |= hf.kind_at(xs + BOUNDARY_BAND_M * math.cos(ang),
                                 ys + BOUNDARY_BAND_M * math.sin(ang)) != truth
        pred = layers.terrain_class
        interior = seen & ~border
        acc_interior = float(np.mean(truth[interior] == pred[interior]))
        acc_all = float(np.mean(truth[seen] == pred[seen]))
        print_confusion(f'mixed seed {seed}, interior cells',
                        confusion(truth[interior], pred[interior]))
        print_confusion(f'mixed seed {seed}, all observed cells',
                        confusion(truth[seen], pred[seen]))
        print(f'mixed seed {seed}: accuracy interior {acc_interior:.3f} '
              f'({np.count_nonzero(interior)} cells), all {acc_all:.3f} '
              f'({np.count_nonzero(seen)} cells)')
        assert np.count_nonzero(interior) > 500
        assert acc_interior >= CLASS_ACCURACY_MIN


def test_global_map_accumulates_the_patch(mixed_scenes, params):
    hf, perception, _, _ = mixed_scenes[MIXED_TEST_SEEDS[0]]
    gmap = perception.global_map
    assert gmap.geometry.resolution_m == params.global_resolution_m
    assert np.count_nonzero(gmap.seen) > 50
    xs, ys = gmap.geometry.cell_centres()
    seen = gmap.seen & (gmap.weight >= 10)
    truth = hf.height(xs, ys)
    ok = seen & np.isfinite(truth)
    # A coarse cell holds the mean of its fine cells: compare with the true mean.
    fine = np.zeros_like(xs)
    for dx in np.linspace(-0.075, 0.075, 4):
        for dy in np.linspace(-0.075, 0.075, 4):
            fine += hf.height(xs + dx, ys + dy) / 16.0
    assert np.median(np.abs(gmap.elevation_m[ok] - fine[ok])) < 0.01
    assert gmap.class_at(1.5, 1.0) == TerrainClass.ROCK
    assert gmap.class_at(1.4, -1.1) == TerrainClass.REGOLITH
    assert gmap.class_at(-7.9, 7.9) == TerrainClass.UNKNOWN
    assert gmap.class_at(100.0, 0.0) == TerrainClass.UNKNOWN


def test_summary_ahead_and_under(kind_scenes):
    _, smooth, base, _ = kind_scenes[(TerrainClass.SMOOTH, TEST_SEEDS[0])]
    s = smooth.summary(base, 0.0, 0.35)
    assert s.status == MapStatus.OK
    assert s.class_ahead == TerrainClass.SMOOTH
    assert s.traversability_ahead[TraverseMode.ROLL] > 0.5
    assert s.traversability_ahead[TraverseMode.WALK] > 0.5
    assert s.known_fraction_ahead > 0.8
    _, rubble, base, _ = kind_scenes[(TerrainClass.RUBBLE, TEST_SEEDS[0])]
    s = rubble.summary(base, None, 0.35)
    assert s.class_ahead == TerrainClass.RUBBLE
    assert s.traversability_ahead[TraverseMode.ROLL] == 0.0
    assert s.max_step_ahead_m > 0.05
    # Looking backwards: the camera never saw behind the robot.
    s = rubble.summary(base, math.pi, 0.35)
    assert s.class_ahead == TerrainClass.UNKNOWN
    assert math.isnan(s.traversability_ahead[TraverseMode.CRAWL])
    assert rubble.summary(base, 0.0, 5.0).status == MapStatus.STALE


def test_site_sampleable(kind_scenes, params):
    _, rock, base, _ = kind_scenes[(TerrainClass.ROCK, TEST_SEEDS[0])]
    check = rock.site_sampleable((1.2, 0.0))
    assert check.ok and check.reason == SiteReason.OK, check
    assert check.terrain_class == TerrainClass.ROCK
    assert check.anchor_claws >= params.sample_min_anchor_claws
    _, regolith, _, _ = kind_scenes[(TerrainClass.REGOLITH, TEST_SEEDS[0])]
    check = regolith.site_sampleable((1.2, 0.0))
    assert not check.ok and check.reason == SiteReason.NO_ANCHOR, check
    _, rubble, _, _ = kind_scenes[(TerrainClass.RUBBLE, TEST_SEEDS[0])]
    layers = rubble.layers
    iy, ix = np.nonzero(layers.seen & (layers.step_m > params.sample_max_step_m + 0.01)
                        & (layers.slope_rad < math.radians(params.sample_max_slope_deg)))
    xs, ys = layers.geometry.cell_centres()
    check = rubble.site_sampleable((xs[iy[0], ix[0]], ys[iy[0], ix[0]]))
    assert not check.ok and check.reason in (SiteReason.TOO_ROUGH, SiteReason.TOO_STEEP)
    assert rock.site_sampleable((-1.0, 0.0)).reason == SiteReason.UNKNOWN
    assert rock.site_sampleable((50.0, 0.0)).reason == SiteReason.OUTSIDE_MAP
    assert rock.site_sampleable((math.nan, 0.0)).reason == SiteReason.OUTSIDE_MAP
    assert rock.site_sampleable('x').reason == SiteReason.OUTSIDE_MAP


# --- (c) edge cases: clear results, never exceptions -----------------------------------------

@pytest.fixture()
def fresh(robot, params):
    return TerrainPerception(params, robot)


def flat_pose() -> np.ndarray:
    pose = np.eye(4)
    pose[2, 3] = STANCE_HEIGHT_M
    return pose


INTR = CameraIntrinsics.from_fov(160, 120, 86.0)


@pytest.mark.parametrize('depth, encoding, status', [
    (np.full((120, 160), np.nan, np.float32), '32FC1', FrameStatus.NO_VALID_DEPTH),
    (np.full((120, 160), np.inf, np.float32), '32FC1', FrameStatus.NO_VALID_DEPTH),
    (np.zeros((120, 160), np.float32), '32FC1', FrameStatus.NO_VALID_DEPTH),
    (np.zeros((120, 160), np.uint16), '16UC1', FrameStatus.NO_VALID_DEPTH),
    (np.zeros((0, 0), np.float32), '32FC1', FrameStatus.EMPTY_FRAME),
    (None, '32FC1', FrameStatus.EMPTY_FRAME),
    (np.ones((60, 80), np.float32), '32FC1', FrameStatus.BAD_INPUT),
    (np.ones((120, 160), np.float32), 'mono8', FrameStatus.BAD_INPUT),
    (np.ones((120, 160), np.float32), '16UC1', FrameStatus.BAD_INPUT),
    (np.ones((120, 160, 3), np.float32), '32FC1', FrameStatus.BAD_INPUT),
], ids=['all_nan', 'all_inf', 'all_zero', 'uint16_zero', 'empty', 'none', 'size_mismatch',
        'bad_encoding', 'dtype_mismatch', 'three_channels'])
def test_bad_frames_give_a_status_and_unknown_cells(fresh, depth, encoding, status):
    result = fresh.process_frame(depth, encoding, INTR, 1.0, flat_pose())
    assert result.status == status
    layers = fresh.layers
    assert not np.any(layers.seen)
    assert np.all(layers.terrain_class == TerrainClass.UNKNOWN)
    assert np.all(np.isnan(layers.elevation_m))
    assert fresh.summary(flat_pose(), 0.0, 1.0).status == MapStatus.NO_DATA
    assert fresh.summary(flat_pose(), 0.0, 1.0).class_ahead == TerrainClass.UNKNOWN
    assert fresh.grasp_candidates(flat_pose()) == {leg: [] for leg in CLAW_LEGS}


def test_camera_looking_at_the_sky(fresh, robot):
    hf = make_terrain(TerrainClass.SMOOTH, 5, size_m=4.0)
    base = flat_pose()
    up = base @ np.block([[euler.euler2mat(0.0, -math.radians(80.0), 0.0, 'sxyz'),
                           np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]])
    optical = camera_optical_pose(up, robot.camera)
    depth = render_depth(hf, INTR, optical)
    assert np.all(np.isnan(depth))
    result = fresh.process_frame(depth, '32FC1', INTR, 0.0, base, optical)
    assert result.status == FrameStatus.NO_VALID_DEPTH
    assert not np.any(fresh.layers.seen)


def test_missing_pose_keeps_the_map_and_goes_stale(fresh, robot, params):
    hf = make_terrain(TerrainClass.SMOOTH, 5, size_m=4.0)
    base = flat_pose()
    optical = camera_optical_pose(base, robot.camera)
    depth = render_depth(hf, INTR, optical)
    assert fresh.process_frame(depth, '32FC1', INTR, 0.0, base).status == FrameStatus.OK
    before = fresh.layers.elevation_m.copy()
    for pose in (None, np.full((4, 4), np.nan), np.eye(3)):
        result = fresh.process_frame(depth, '32FC1', INTR, 0.1, pose)
        assert result.status == FrameStatus.NO_POSE
    result = fresh.process_frame(depth, '32FC1', INTR, 0.1, base, np.full((4, 4), np.nan))
    assert result.status == FrameStatus.NO_POSE
    np.testing.assert_array_equal(fresh.layers.elevation_m, before)
    assert fresh.map_status(0.5) == MapStatus.OK
    assert fresh.map_status(params.stale_after_s + 0.01) == MapStatus.STALE
    summary = fresh.summary(None, 0.0, 0.5)
    assert summary.class_ahead == TerrainClass.UNKNOWN
    assert fresh.grasp_candidates(None) == {leg: [] for leg in CLAW_LEGS}


def test_frame_out_of_grid(fresh, robot):
    depth = np.full((120, 160), 3.4, np.float32)
    base = flat_pose()
    # Looking level: points 3.4 m ahead of the camera fall outside a 4 m robot-centred grid.
    level = base @ np.block([[euler.euler2mat(0.0, -math.radians(40.0), 0.0, 'sxyz'),
                              np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]])
    optical = camera_optical_pose(level, robot.camera)
    result = fresh.process_frame(depth, '32FC1', INTR, 0.0, base, optical)
    assert result.status == FrameStatus.OUT_OF_GRID


def test_grid_scrolls_without_losing_data(fresh, robot, params):
    hf = make_terrain(TerrainClass.ROCK, 9, size_m=6.0)
    base = base_pose(0.0, 0.0, 0.0, hf)
    depth = render_depth(hf, INTR, camera_optical_pose(base, robot.camera))
    fresh.process_frame(depth, '32FC1', INTR, 0.0, base)
    xs, ys = fresh.layers.geometry.cell_centres()
    seen = fresh.layers.seen
    before = dict(zip(zip(np.round(xs[seen], 3), np.round(ys[seen], 3)),
                      fresh.layers.elevation_m[seen]))
    moved = base_pose(0.83, -0.41, 0.0, hf)
    shift = fresh.grid.recentre(moved[0, 3], moved[1, 3])
    assert shift == (16, -9)   # floor(0.83 / 0.05), floor(-0.41 / 0.05)
    geo = fresh.grid.geometry
    xs2, ys2 = geo.cell_centres()
    kept = 0
    for x, y, h in zip(xs2.ravel(), ys2.ravel(), fresh.grid.height_m.ravel()):
        key = (round(x, 3), round(y, 3))
        if key in before:
            assert h == before[key]
            kept += 1
        else:
            assert math.isnan(h)
    assert kept > 0.5 * len(before)


# --- (d) grasp candidates --------------------------------------------------------------------

def check_candidates(perception, base, robot, params, hf: Heightfield, good_kinds) -> int:
    cands = perception.grasp_candidates(base)
    assert set(cands) == set(CLAW_LEGS)
    layers = perception.layers
    total = 0
    for leg, items in cands.items():
        kin = LegKinematics(robot, leg)
        scores = [c.score for c in items]
        assert scores == sorted(scores, reverse=True)
        for i, c in enumerate(items):
            target_body = (np.linalg.inv(base) @ np.append(c.position_m, 1.0))[:3]
            ik = kin.ik(target_body)
            assert ik.ok, (leg, ik.reason)
            np.testing.assert_allclose(kin.fk(c.q_rad), target_body, atol=1e-6)
            cell = layers.geometry.cell_of(c.position_m[0], c.position_m[1])
            assert layers.seen[cell[1], cell[0]]
            assert layers.graspability[cell[1], cell[0]] >= params.grasp_min_score
            assert c.graspability >= params.grasp_min_score
            assert int(hf.kind_at(c.position_m[0], c.position_m[1])) in good_kinds
            assert abs(c.position_m[2] - float(hf.height(c.position_m[0], c.position_m[1]))) \
                < 0.02
            assert abs(np.linalg.norm(c.orientation_wxyz) - 1.0) < 1e-9
            assert c.normal[2] > 0.2
            for other in items[:i]:
                assert math.dist(c.position_m[:2], other.position_m[:2]) \
                    >= params.grasp_min_separation_m - 1e-9
            total += 1
    return total


def test_grasp_candidates_within_reach_on_graspable_cells(kind_scenes, mixed_scenes, robot,
                                                          params):
    hf, rock, base, _ = kind_scenes[(TerrainClass.ROCK, TEST_SEEDS[0])]
    assert check_candidates(rock, base, robot, params, hf, {int(TerrainClass.ROCK)}) >= 5
    assert len(rock.grasp_candidates(base)['c1']) == params.grasp_candidates_per_leg
    hf, rubble, base, _ = kind_scenes[(TerrainClass.RUBBLE, TEST_SEEDS[0])]
    cands = rubble.grasp_candidates(base)
    assert check_candidates(rubble, base, robot, params, hf, {int(TerrainClass.RUBBLE)}) >= 3
    # On rubble boulder faces (grip 0.8) rank before the ground between boulders (0.2).
    firsts = [items[0] for items in cands.values() if items]
    boulder_grip = grip_fraction_table()[TerrainClass.RUBBLE]
    assert firsts and all(c.graspability >= 0.5 * boulder_grip for c in firsts)
    for items in cands.values():
        on_boulder = [c.graspability >= 0.5 for c in items]
        assert on_boulder == sorted(on_boulder, reverse=True)
    hf, regolith, base, _ = kind_scenes[(TerrainClass.REGOLITH, TEST_SEEDS[0])]
    assert all(not v for v in regolith.grasp_candidates(base).values())
    hf, mixed, base, _ = mixed_scenes[MIXED_TEST_SEEDS[0]]
    check_candidates(mixed, base, robot, params, hf,
                     {int(TerrainClass.ROCK), int(TerrainClass.RUBBLE),
                      int(TerrainClass.SMOOTH)})


# --- parameters ------------------------------------------------------------------------------

def test_default_params_load_and_round_trip(params):
    assert params.local_cells == 80
    assert params.global_cells == 80
    assert parse_terrain_params(terrain_params_to_dict(params)) == params
    grip = grip_fraction_table()  # config/terrain.yaml's figures, DESIGN.md section 6
    assert [grip[c] for c in (TerrainClass.SMOOTH, TerrainClass.REGOLITH, TerrainClass.RUBBLE,
                              TerrainClass.ROCK)] == pytest.approx([0.2, 0.1, 0.8, 1.0])


@pytest.mark.parametrize('key, value', [
    ('local_resolution_m', 0.0),
    ('local_resolution_m', 'fine'),
    ('max_depth_m', math.nan),
    ('gate_sigma', -1.0),
    ('grasp_candidates_per_leg', 2.5),
    ('regolith_min_coherence', 1.5),
    ('global_origin_xy_m', [1.0]),
    ('max_depth_m', 0.05),               # below min_depth_m
    ('grasp_max_slope_deg', 10.0),       # below grasp_full_slope_deg
    ('global_resolution_m', 0.05 - 1e-3),
    ('use_gpu', True),                   # unknown key
])
def test_bad_params_are_refused_naming_the_key(params, key, value):
    data = terrain_params_to_dict(params)
    data[key] = value
    with pytest.raises(ConfigError) as err:
        parse_terrain_params({'terrain_perception': {'ros__parameters': data}})
    assert key in str(err.value) or err.value.key in (key, 'min_depth_m', 'max_depth_m')


def test_missing_param_is_refused(params, tmp_path):
    data = terrain_params_to_dict(params)
    del data['plane_window_m']
    with pytest.raises(ConfigError, match='plane_window_m'):
        parse_terrain_params(data)
    bad = tmp_path / 'bad.yaml'
    bad.write_text('terrain_perception: [\n')
    with pytest.raises(ConfigError):
        load_terrain_params(bad)


def test_the_core_decides_which_frames_are_fused(robot, params):
    # At most one frame per frame_period_s: the node asks before decoding an image, the
    # harness before rendering one, so both fuse the same frames of a camera stream.
    hf = make_terrain(TerrainClass.ROCK, 11)
    intr = CameraIntrinsics.from_fov(160, 120, robot.camera.hfov_deg)
    base = base_pose(0.0, 0.0, 0.0, hf)
    depth = render_depth(hf, intr, camera_optical_pose(base, robot.camera), step_m=0.01)
    perception = TerrainPerception(params, robot)
    period = params.frame_period_s
    assert perception.wants_frame(0.0)
    assert perception.process_frame(depth, '32FC1', intr, 0.0, None).status \
        == FrameStatus.NO_POSE
    assert perception.wants_frame(0.1)                # a frame that did not fuse: not counted
    assert perception.process_frame(depth, '32FC1', intr, 0.1, base).status == FrameStatus.OK
    stream = [0.1 + 0.1 * k for k in range(1, 21)]    # a 10 Hz camera
    fused = [t for t in stream if perception.wants_frame(t)
             and perception.process_frame(depth, '32FC1', intr, t, base).status
             == FrameStatus.OK]
    assert np.allclose(np.diff([0.1] + fused), period)
    assert perception.wants_frame(fused[-1] - 5.0)    # an earlier stamp: a clock reset
