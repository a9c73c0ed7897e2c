# SPDX-License-Identifier: Apache-2.0
"""Terrain perception against the MuJoCo simulator's ground truth (issue 6 must-show).

Scenes: an 8 m x 8 m Bennu patch at the shipped scenarios' 0.05 m resolution, one per kind
(a region of radius 2 m centred 1.5 m ahead of the start; smooth: the base alone). The robot
stands at its start; three 320x240 frames, 50 ms apart, are fused with the true base and
camera poses (world.ground_truth(), world.camera_pose()).

Seeds: the class thresholds in config/terrain_perception.yaml were re-tuned on the
simulator's SIM_TUNING_SEEDS (and the synthetic TUNING_SEEDS of test_terrain_core.py);
this file asserts on SIM_TEST_SEEDS only, which tuning never saw.

Boulder rims: as in test_terrain_core.py, cells whose true surface spans more than 2 cm
(one 5 cm cell cannot hold one height there) are left out of the RMSE; for them the error
beyond the cell's true span is reported and bounded instead.
"""

import numpy as np
import pytest

from space_miner.core.kinematics import pose_matrix
from space_miner.core.scenario import parse_scenario
from space_miner.core.terrain import TerrainPerception
from space_miner.core.terrain_params import load_terrain_params
from space_miner.core.terrain_types import CameraIntrinsics, KNOWN_CLASSES, TerrainClass
from space_miner.interfaces import CLAW_LEGS, LEG_JOINTS
from space_miner.sim.world import HOLD_MIN_N, World

SIM_TUNING_SEEDS = (1, 2, 3)      # thresholds re-tuned on these; never asserted on here
SIM_TEST_SEEDS = (41, 42)
KINDS = ('smooth', 'regolith', 'rubble', 'rock')
KIND_CLASS = {'smooth': TerrainClass.SMOOTH, 'regolith': TerrainClass.REGOLITH,
              'rubble': TerrainClass.RUBBLE, 'rock': TerrainClass.ROCK}
CAMERA = (320, 240)
FRAMES = 3
STEPS_PER_FRAME = 25              # 50 ms at the 2 ms step
ELEVATION_RMSE_MAX_M = 0.01       # issue 6: within 2 m of the camera
CLASS_ACCURACY_MIN = 0.90         # issue 6: on observed cells
GRASP_SUCCESS_MIN = 0.90          # issue 6
GRIP_N = 150.0                    # squeeze of the claw placed on a candidate [N]
GRASPS_PER_SCENE = 4              # c1's best candidates tried per scene
PRESS_M = 0.01                    # the pad is aimed this far into the surface [m]
RIM_RANGE_M = 0.02


def scenario(kind: str, seed: int):
    regions = [] if kind == 'smooth' else [{'kind': kind, 'center': [1.5, 0.0], 'radius': 2.0}]
    return parse_scenario({
        'name': f'terrain_{kind}', 'body': 'bennu', 'seed': seed,
        'terrain': {'size_m': [8, 8], 'resolution_m': 0.05, 'regions': regions},
        'mission': {'start': [0, 0, 0], 'time_limit_s': 100}}, 'test_terrain_sim')


def observe(world: World, perception: TerrainPerception) -> tuple:
    """Fuse FRAMES frames with the true poses; return the last (base, optical) 4x4 poses."""
    base = optical = None
    for _ in range(FRAMES):
        world.step(STEPS_PER_FRAME)
        depth, k = world.render_depth()
        gt = world.ground_truth()
        base = pose_matrix(gt.position_m, gt.quat_wxyz)
        pos, rot = world.camera_pose()
        optical = np.eye(4)
        optical[:3, :3], optical[:3, 3] = rot, pos
        intr = CameraIntrinsics(CAMERA[0], CAMERA[1], tuple(float(v) for v in k.reshape(9)))
        result = perception.process_frame(depth, '32FC1', intr, world.time_s, base, optical)
        assert result.status.value == 'ok', result
    return base, optical


@pytest.fixture(scope='module')
def scenes():
    params = load_terrain_params()
    out = {}
    for kind in KINDS:
        for seed in SIM_TEST_SEEDS:
            world = World(scenario(kind, seed), camera=CAMERA, seed=seed)
            perception = TerrainPerception(params, world.robot, world.kinds)
            base, optical = observe(world, perception)
            out[(kind, seed)] = (world, perception, base, optical)
    return out


def truth_of(world: World, layers) -> dict:
    """True surface height at each seen cell's centre, its span within the cell, its kind."""
    xs, ys = layers.geometry.cell_centres()
    half = layers.geometry.resolution_m / 2.0
    terrain = world.terrain
    height = np.full(xs.shape, np.nan)
    lo = np.full(xs.shape, np.nan)
    hi = np.full(xs.shape, np.nan)
    kind = np.zeros(xs.shape, dtype=np.int8)
    offsets = np.linspace(-half, half, 5)
    for iy, ix in zip(*np.nonzero(layers.seen)):
        x, y = float(xs[iy, ix]), float(ys[iy, ix])
        height[iy, ix] = terrain.surface_height_at(x, y)
        span = [terrain.surface_height_at(x + dx, y + dy) for dx in offsets for dy in offsets]
        lo[iy, ix], hi[iy, ix] = min(span), max(span)
        kind[iy, ix] = KIND_CLASS[terrain.kind_at(x, y)]
    return {'height': height, 'lo': lo, 'hi': hi, 'kind': kind, 'xs': xs, 'ys': ys}


def test_elevation_rmse_and_class_accuracy(scenes):
    """Elevation RMSE within 2 m of the camera <= 1 cm on every scene (rims apart, bounded
    by their true span); class accuracy on observed cells >= 90 % over all scenes and per
    kind, with the confusion matrix and the per-kind accuracy printed.
    """
    names = [c.name.lower() for c in KNOWN_CLASSES] + ['unknown']
    columns = [int(c) for c in KNOWN_CLASSES] + [int(TerrainClass.UNKNOWN)]
    matrix = np.zeros((4, 5), dtype=int)
    print()
    for (kind, seed), (world, perception, _, optical) in scenes.items():
        layers = perception.layers
        t = truth_of(world, layers)
        seen = layers.seen
        near = seen & (np.hypot(t['xs'] - optical[0, 3], t['ys'] - optical[1, 3]) <= 2.0)
        rim = near & ((t['hi'] - t['lo']) > RIM_RANGE_M)
        err = layers.elevation_m - t['height']
        rmse = float(np.sqrt(np.mean(err[near & ~rim] ** 2)))
        beyond = (np.maximum(t['lo'] - layers.elevation_m, 0.0)
                  + np.maximum(layers.elevation_m - t['hi'], 0.0))
        rmse_span = float(np.sqrt(np.mean(beyond[near] ** 2)))
        pred, truth = layers.terrain_class[seen], t['kind'][seen]
        acc = float(np.mean(pred == truth))
        print(f'{kind:9s} seed {seed}: elevation RMSE {rmse * 1e3:5.2f} mm '
              f'({np.count_nonzero(near)} cells within 2 m, rims {np.mean(rim[near]):.1%}; '
              f'all cells {np.sqrt(np.mean(err[near] ** 2)) * 1e3:.1f} mm, beyond true span '
              f'{rmse_span * 1e3:.2f} mm); class accuracy {acc:.3f}')
        assert np.count_nonzero(near) > 500
        assert rmse <= ELEVATION_RMSE_MAX_M, (kind, seed, rmse)
        assert rmse_span <= ELEVATION_RMSE_MAX_M, (kind, seed, rmse_span)
        for i, c in enumerate(KNOWN_CLASSES):
            for j, p in enumerate(columns):
                matrix[i, j] += np.count_nonzero((truth == c) & (pred == p))
    print(f'simulator, test seeds {SIM_TEST_SEEDS}: rows truth, columns predicted')
    print(' ' * 10 + ''.join(f'{n:>10s}' for n in names))
    for i, c in enumerate(KNOWN_CLASSES):
        print(f'{c.name.lower():>10s}' + ''.join(f'{v:10d}' for v in matrix[i]))
    per_kind = matrix[np.arange(4), np.arange(4)] / np.maximum(matrix[:, :4].sum(axis=1), 1)
    overall = float(np.trace(matrix[:, :4]) / matrix.sum())
    print('per-kind accuracy', dict(zip(names, per_kind.round(3).tolist())),
          f'overall {overall:.3f}')
    assert overall >= CLASS_ACCURACY_MIN
    assert np.all(per_kind >= CLASS_ACCURACY_MIN)


def place_claw(world: World, leg: str, target_m: np.ndarray, normal: np.ndarray) -> str:
    """Open ``leg``'s claw, lift it, rest its pad on ``target_m`` (odom = the patch frame)
    and squeeze GRIP_N while the other two claws hold; returns '' or why it could not.

    The leg follows joint-space ramps to inverse-kinematics solutions planned from the true
    body pose once the claw is open: first above the target, then to the pad's centre aimed
    PRESS_M into the surface (the position servo presses the pad on), or onto the surface
    where that is beyond reach.
    """
    index = CLAW_LEGS.index(leg)
    kin = world.kin.legs[leg]
    pad_r = world.robot.claw.pad_radius_m
    cols = [LEG_JOINTS.index(f'{leg}_{seg}_joint') for seg in ('coxa', 'femur', 'tibia')]
    forces = world.commands['claws_n'].copy()
    forces[index] = 0.0
    world.command_claws(forces)
    world.step(50)

    def joint_targets(point: np.ndarray):
        gt = world.ground_truth()
        base_inv = np.linalg.inv(pose_matrix(gt.position_m, gt.quat_wxyz))
        return kin.ik((base_inv @ np.append(point, 1.0))[:3])

    contacts = [target_m + normal * (pad_r - press) for press in (PRESS_M, 0.0)]
    contact = next((c for c in contacts if joint_targets(c).ok), None)
    if contact is None:
        return joint_targets(contacts[-1]).reason
    lifts = [contact + np.array([0.0, 0.0, h]) for h in (0.06, 0.03, 0.015)]
    plan = [ik.q for ik in (joint_targets(p) for p in lifts) if ik.ok][:1]
    plan.append(joint_targets(contact).q)
    q_from = world.commands['legs_rad'][cols].copy()
    for q_to in plan:
        for s in np.linspace(0.0, 1.0, 20)[1:]:
            q18 = world.commands['legs_rad']
            q18[cols] = (1.0 - s) * q_from + s * q_to
            world.command_legs(q18)
            world.step(10)
        q_from = q_to
    world.step(100)
    forces[index] = GRIP_N
    world.command_claws(forces)
    world.step(250)
    return ''


def test_grasp_candidates_become_verified_grips(scenes):
    """Each of c1's best candidates becomes a grip in the simulator, >= 90 % of them.

    c1 is the claw in the camera's view (c2 and c3 stand behind it and keep holding). From
    the start pose (world.reset()), the claw is opened, moved onto the candidate with the
    leg's inverse kinematics (:func:`place_claw`) and closed at 150 N. Success, from the
    simulator's grip truth: the pad touches the terrain and the true holding force is at
    least the candidate's graspability x the squeeze (what perception promised) and at
    least HOLD_MIN_N.
    """
    tried = succeeded = 0
    print()
    for (kind, seed), (world, perception, base, _) in scenes.items():
        for cand in perception.grasp_candidates(base)['c1'][:GRASPS_PER_SCENE]:
            world.reset()
            why = place_claw(world, 'c1', np.asarray(cand.position_m),
                             np.asarray(cand.normal))
            truth = world.grip_truth()['c1']
            good = not why and truth.touching is not None and truth.holding_force_n >= max(
                HOLD_MIN_N, cand.graspability * truth.grip_force_n - 1e-6)
            print(f'{kind:9s} seed {seed}: candidate {cand.terrain_class.name.lower():8s} '
                  f'graspability {cand.graspability:.2f} at ({cand.position_m[0]:.2f}, '
                  f'{cand.position_m[1]:.2f}) -> touching {truth.touching}, squeeze '
                  f'{truth.grip_force_n:.0f} N, holding {truth.holding_force_n:.0f} N: '
                  f'{"ok" if good else "FAILED " + why}')
            grips = world.grip_truth()
            assert all(grips[c].gripping for c in CLAW_LEGS if c != 'c1'), \
                'the other two claws keep holding'
            tried += 1
            succeeded += bool(good)
    rate = succeeded / max(tried, 1)
    print(f'grasp success {succeeded}/{tried} = {rate:.3f}')
    assert tried >= 15
    assert rate >= GRASP_SUCCESS_MIN
