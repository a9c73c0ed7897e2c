# SPDX-License-Identifier: Apache-2.0
"""The MuJoCo world, its scenario files and its terrain (no ROS).

World tests of issue 3: grips hold on rock and slip on regolith, open claws detach, the
depth image matches ray casting, every fault kind does what it should, bad scenarios are
refused naming the key, and the same seed gives bit-identical trajectories.
"""

import math
import os
from pathlib import Path
import time

os.environ.setdefault('MUJOCO_GL', 'egl')

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage  # noqa: E402
import yaml  # noqa: E402

from space_miner.core.robot import ConfigError  # noqa: E402
from space_miner.core.scenario import (effective_acceleration, load_bodies,  # noqa: E402
                                       load_scenario, load_terrain_table, parse_bodies,
                                       parse_scenario, parse_terrain_table)
from space_miner.interfaces import ALL_JOINTS, CLAW_LEGS  # noqa: E402
from space_miner.sim.terrain_gen import generate_terrain, kind_index  # noqa: E402
from space_miner.sim.world import World  # noqa: E402

SCENARIOS = Path(__file__).resolve().parent.parent / 'config' / 'scenarios'


def scenario(body: str = 'kamooalewa', kind: str = 'rock', extra: str = '', **top) -> object:
    """A small patch whose centre (the start) is painted with ``kind``."""
    data = yaml.safe_load(f"""
name: test_{body}_{kind}
body: {body}
seed: 1
terrain:
  size_m: [6, 6]
  resolution_m: 0.05
  regions: [{{kind: {kind}, center: [0, 0], radius: 2}}]
mission: {{start: [0, 0, 0], time_limit_s: 600}}
{extra}""")
    data.update(top)
    return parse_scenario(data, 'test')


# --- configuration files ------------------------------------------------------------------

def test_bodies_yaml_holds_the_design_table():
    bodies = load_bodies()
    table = {  # radius, g, period [h], escape, requires_grip (DESIGN.md section 6)
        'kamooalewa': (36, 2.5e-5, 0.467, 0.04, True),
        'bennu': (245, 8.1e-5, 4.296, 0.20, True),
        'itokawa': (164, 8.7e-5, 12.1, 0.17, True),
        'ryugu': (448, 1.5e-4, 7.63, 0.37, True),
        'psyche': (111000, 0.13, 4.196, 170, False),
        'moon': (1737400, 1.62, 27.3 * 24, 2380, False),
    }
    assert set(bodies) == set(table)
    for name, (radius, g, period_h, escape, grip) in table.items():
        body = bodies[name]
        assert body.radius_m == pytest.approx(radius)
        assert body.g_m_s2 == pytest.approx(g)
        assert body.rotation_period_s == pytest.approx(period_h * 3600.0)
        assert body.escape_velocity_m_s == pytest.approx(escape)
        assert body.requires_grip is grip


def test_terrain_yaml_holds_the_design_table():
    table = load_terrain_table()
    expected = {'smooth': (0.6, 0.2, 1.0), 'regolith': (0.5, 0.1, 2.0),
                'rubble': (0.7, 0.8, 0.5), 'rock': (0.9, 1.0, 0.3)}
    for name, (friction, grip, rate) in expected.items():
        kind = table[name]
        assert (kind.friction, kind.grip_fraction, kind.drill_rate_g_s) == (friction, grip, rate)
        assert kind.reaction == 'feed_force'
    assert (table.drill_ref_feed_n, table.drill_ref_speed_rad_s) == (50.0, 10.0)
    assert table['smooth'].geometry['height_std_max_m'] == 0.003
    assert table['regolith'].geometry['ripple_height_m'] == (0.01, 0.02)
    assert table['regolith'].geometry['ripple_length_m'] == (0.10, 0.30)
    assert table['rubble'].geometry['boulder_size_m'] == (0.1, 0.4)
    assert table['rock'].geometry['relief_m'] == (0.02, 0.05)


def test_effective_gravity_points_away_on_kamooalewa_and_down_on_bennu():
    bodies = load_bodies()
    kam = effective_acceleration(bodies['kamooalewa'], 0.0)
    omega = 2 * math.pi / (0.467 * 3600)
    assert kam[2] == pytest.approx(omega ** 2 * 36 - 2.5e-5)
    assert kam[2] > 0
    assert effective_acceleration(bodies['kamooalewa'], 85.0)[2] < 0  # near the pole
    assert effective_acceleration(bodies['bennu'], 0.0)[2] < 0
    tilted = effective_acceleration(bodies['kamooalewa'], 30.0)
    assert tilted[1] == pytest.approx(-omega ** 2 * 36 * math.cos(math.radians(30))
                                      * math.sin(math.radians(30)))


def test_default_scenario_loads():
    sc = load_scenario()
    assert sc.body == 'bennu' and sc.body_config.requires_grip
    assert [r.kind for r in sc.terrain.regions] == ['rubble', 'rock', 'regolith']
    assert sc.expect.success and not sc.expect.detached and sc.expect.end_mode is None
    for path in sorted(SCENARIOS.glob('*.yaml')):
        load_scenario(path)


@pytest.mark.parametrize('change, key', [
    ({'body': 'vesta'}, 'body'),
    ({'colour': 'red'}, 'colour'),
    ({'latitude_deg': 95}, 'latitude_deg'),
    ({'latitude_deg': math.nan}, 'latitude_deg'),
    ({'seed': -1}, 'seed'),
    ({'terrain': {'size_m': [40, 6], 'resolution_m': 0.05}}, 'terrain.size_m[0]'),
    ({'terrain': {'size_m': [6, 6], 'resolution_m': 0.0}}, 'terrain.resolution_m'),
    ({'terrain': {'size_m': [6, 6], 'resolution_m': 0.05, 'bumpy': 1}}, 'terrain.bumpy'),
    ({'terrain': {'size_m': [6, 6], 'resolution_m': 0.05,
                  'regions': [{'kind': 'rock', 'center': [4, 0], 'radius': 1}]}},
     'terrain.regions[0].center'),
    ({'terrain': {'size_m': [6, 6], 'resolution_m': 0.05,
                  'regions': [{'kind': 'ice', 'center': [0, 0], 'radius': 1}]}},
     'terrain.regions[0].kind'),
    ({'terrain': {'size_m': [6, 6], 'resolution_m': 0.05,
                  'regions': [{'kind': 'rock', 'center': [0, 0], 'radius': 1,
                               'density': 0.2}]}},
     'terrain.regions[0].density'),
    ({'mission': {'start': [9, 0, 0], 'time_limit_s': 10}}, 'mission.start'),
    ({'mission': {'start': [0, 0, 0], 'time_limit_s': 10, 'waypoints': [[0, 5]]}},
     'mission.waypoints[0]'),
    ({'mission': {'start': [0, 0, 0], 'time_limit_s': -1}}, 'mission.time_limit_s'),
    ({'mission': {'start': [0, 0, 0], 'time_limit_s': 10, 'speed': 1}}, 'mission.speed'),
    ({'faults': [{'at_s': 1, 'kind': 'meteor'}]}, 'faults[0].kind'),
    ({'faults': [{'at_s': 1, 'kind': 'ft_dropout', 'claw': 'c9', 'duration_s': 1}]},
     'faults[0].claw'),
    ({'faults': [{'at_s': 1, 'kind': 'claw_failure', 'claw': 'c1', 'duration_s': 1}]},
     'faults[0].duration_s'),
    ({'faults': [{'at_s': 1, 'kind': 'wheel_stall', 'wheel': 'w1'}]},
     'faults[0].duration_s'),
    ({'faults': [{'at_s': 1, 'kind': 'push', 'force_n': [1, 2], 'duration_s': 1}]},
     'faults[0].force_n'),
    ({'expect': {'success': 'yes'}}, 'expect.success'),
    ({'expect': {'end_mode': 'sleep'}}, 'expect.end_mode'),
])
def test_bad_scenarios_are_refused_naming_the_key(change, key):
    data = {'name': 'bad', 'body': 'kamooalewa', 'seed': 1,
            'terrain': {'size_m': [6, 6], 'resolution_m': 0.05},
            'mission': {'start': [0, 0, 0], 'time_limit_s': 10}}
    data.update(change)
    with pytest.raises(ConfigError) as err:
        parse_scenario(data, 'bad.yaml')
    assert err.value.key == key
    assert key in str(err.value)


def test_bad_body_and_terrain_tables_are_refused_naming_the_key():
    with open(SCENARIOS.parent / 'terrain.yaml', encoding='utf-8') as handle:
        terrain = yaml.safe_load(handle)
    terrain['kinds']['rock']['friction'] = 'high'
    with pytest.raises(ConfigError) as err:
        parse_terrain_table(terrain)
    assert err.value.key == 'kinds.rock.friction'
    del terrain['kinds']['smooth']
    with pytest.raises(ConfigError) as err:
        parse_terrain_table(terrain)
    assert err.value.key == 'kinds.smooth'
    with open(SCENARIOS.parent / 'bodies.yaml', encoding='utf-8') as handle:
        bodies = yaml.safe_load(handle)
    bodies['bennu']['spin'] = 1.0
    with pytest.raises(ConfigError) as err:
        parse_bodies(bodies)
    assert err.value.key == 'bennu.spin'


def test_a_patch_larger_than_the_body_radius_is_refused():
    with pytest.raises(ConfigError, match='radius') as err:
        scenario(terrain={'size_m': [37, 10], 'resolution_m': 0.1})
    assert err.value.key == 'terrain.size_m[0]'
    scenario(terrain={'size_m': [36, 10], 'resolution_m': 0.1})  # exactly the radius


# --- terrain ------------------------------------------------------------------------------

def test_terrain_kinds_and_geometry_follow_the_table():
    sc = load_scenario()
    terrain = generate_terrain(sc.terrain, sc.terrain_table, sc.seed)
    assert terrain.kind_at(0.0, 0.0) == 'smooth'
    assert terrain.kind_at(3.0, 0.0) == 'rubble'
    assert terrain.kind_at(6.0, 1.0) == 'rock'
    assert terrain.kind_at(2.0, -3.0) == 'regolith'
    heights, kinds = terrain.heights_m, terrain.kinds
    assert heights[kinds == kind_index('smooth')].std() < 0.003
    rock = heights[kinds == kind_index('rock')]
    assert 0.02 <= np.ptp(rock) <= 0.05 + 0.006  # bedrock relief (+ the smooth base)
    regolith = heights[kinds == kind_index('regolith')]
    assert 0.01 <= np.ptp(regolith) <= 0.02 + 0.006
    sizes = [b.size_m for b in terrain.boulders]
    assert len(sizes) > 20 and 0.1 <= min(sizes) and max(sizes) <= 0.4
    assert all(terrain.kind_at(b.center_m[0], b.center_m[1]) == 'rubble'
               for b in terrain.boulders)
    b = terrain.boulders[0]
    assert terrain.surface_height_at(b.center_m[0], b.center_m[1]) == pytest.approx(b.top_z_m)
    again = generate_terrain(sc.terrain, sc.terrain_table, sc.seed)
    assert np.array_equal(again.heights_m, heights) and again.boulders == terrain.boulders


# --- the world ----------------------------------------------------------------------------

def test_the_simulated_ground_is_the_generated_terrain():
    world = World(load_scenario())
    terrain = world.terrain
    terrain_only = np.array([0, 0, 1, 0, 0, 0], dtype=np.uint8)  # terrain geoms: group 2
    points = np.random.default_rng(0).uniform(-7.5, 7.5, (300, 2))
    on_boulders = 0
    for x, y in points:
        geom = np.zeros(1, np.int32)
        dist = mujoco.mj_ray(world.model, world.data, np.array([x, y, 5.0]),
                             np.array([0.0, 0.0, -1.0]), terrain_only, 1, -1, geom)
        assert geom[0] >= 0
        if terrain.boulder_top_at(x, y) > terrain.height_at(x, y):
            on_boulders += 1
        assert 5.0 - dist == pytest.approx(terrain.surface_height_at(x, y), abs=0.002)
    assert on_boulders > 0


def test_world_builds_with_every_joint_actuator_and_sensor():
    world = World(scenario('bennu'))
    readings = world.read_sensors()
    assert readings.joint_names == ALL_JOINTS
    assert readings.position.shape == readings.velocity.shape == readings.effort.shape == (26,)
    assert set(readings.wrenches) == set(CLAW_LEGS)
    assert readings.imu.quat_wxyz.shape == (3 + 1,)
    assert readings.sampler_mass_kg == 0.0
    np.testing.assert_allclose(world.model.opt.gravity,
                               world.scenario.effective_acceleration_m_s2())
    # Started gripped on a body that requires grip, squeezing the start grip.
    for truth in world.grip_truth().values():
        assert truth.gripping and truth.touching == 'rock'
        assert truth.holding_force_n == pytest.approx(150.0)
    _, _, effort = readings.joint('c1_claw_joint')
    assert effort == pytest.approx(150.0, abs=6.0)  # measured squeeze: bias and noise
    assert world.is_detached() == (False, '')


def test_commands_are_refused_and_the_last_safe_ones_kept():
    world = World(scenario('bennu'))
    world.apply_commands(claw_n3=[120.0, 120.0, 120.0], drill_rad_s=5.0)
    before = world.commands
    bad = [
        dict(leg_q18=[0.0] * 17),
        dict(leg_q18=[math.nan] * 18),
        dict(leg_q18=[0.0, 0.0, 3.0] * 6),
        dict(wheel_v3=[0.0, 99.0, 0.0]),
        dict(claw_n3=[250.0, 0.0, 0.0]),
        dict(claw_n3=[-1.0, 0.0, 0.0]),
        dict(claw_n3=[100.0, 100.0], drill_rad_s=1.0),
        dict(feed_m=0.5),
        dict(drill_rad_s=[1.0, 2.0]),
        dict(drill_rad_s=21.0),
        dict(drill_rad_s=2.0, feed_m=math.inf),
    ]
    for command in bad:
        with pytest.raises(ValueError):
            world.apply_commands(**command)
        after = world.commands
        for key, value in before.items():
            assert np.array_equal(after[key], value), (command, key)


def test_three_claws_on_rock_hold_for_600_s_on_kamooalewa():
    world = World(scenario('kamooalewa', 'rock'))
    assert world.gravity_m_s2[2] > 0  # effective gravity pulls away from the ground
    world.apply_commands(claw_n3=[150.0, 150.0, 150.0])
    start = world.ground_truth().position_m
    wall = time.perf_counter()
    for _ in range(60):
        world.step(5000)  # 10 s
        assert all(t.gripping and t.touching == 'rock' for t in world.grip_truth().values())
        assert world.is_detached() == (False, '')
    rtf = world.time_s / (time.perf_counter() - wall)
    moved_m = np.linalg.norm(world.ground_truth().position_m - start)
    print(f'600 s held; moved {moved_m * 1000:.2f} mm; real-time factor {rtf:.1f}')
    assert world.time_s == pytest.approx(600.0)
    assert moved_m < 0.005


def test_open_claws_drift_off_kamooalewa_and_are_reported_detached():
    world = World(scenario('kamooalewa', 'rock'), start_grip_n=0.0)
    assert not any(t.gripping for t in world.grip_truth().values())
    start = world.ground_truth().position_m
    world.step(2000)  # 4 s: not yet
    assert world.is_detached() == (False, '')
    world.step(1000)
    detached, reason = world.is_detached()
    assert detached and 'no claw has held' in reason
    world.step(10000)  # 26 s in all: drifting away from the ground
    assert world.ground_truth().position_m[2] - start[2] > 0.02
    assert world.ground_truth().linear_velocity_m_s[2] > 0


@pytest.mark.parametrize('gripped', [True, False])
def test_escape_velocity_detaches_only_a_robot_that_nothing_holds(gripped):
    # Kamo'oalewa's escape velocity is 4 cm/s: a kick of twice it (as a pad torn off by a
    # pull test gives) is a swing about the grips while they hold, an escape when none does.
    world = World(scenario('kamooalewa', 'rock'), start_grip_n=150.0 if gripped else 0.0)
    escape = world.body.escape_velocity_m_s
    world.data.qvel[world._base_vadr + 2] = 2.0 * escape
    world.step(1)
    assert world.ground_truth().linear_velocity_m_s[2] > escape
    world.step(1000)   # 2 s
    detached, reason = world.is_detached()
    if gripped:
        assert (detached, reason) == (False, '')
        assert all(t.gripping for t in world.grip_truth().values())
        assert abs(world.ground_truth().linear_velocity_m_s[2]) < 0.25 * escape
    else:
        assert detached and 'faster than the escape velocity' in reason


@pytest.mark.parametrize('kind, holds', [('rock', True), ('regolith', False)])
def test_a_claw_on_regolith_slips_under_a_pull_a_claw_on_rock_holds(kind, holds):
    world = World(scenario('kamooalewa', kind))
    pad = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_BODY, 'c1_claw_link')
    before = world.data.xpos[pad].copy()
    grip = world.grip_truth()['c1']
    assert grip.touching == kind
    assert grip.holding_force_n == pytest.approx(150.0 * (1.0 if holds else 0.1))
    world.data.xfrc_applied[pad, 2] = 60.0  # pull the claw off the ground [N]
    world.step(500)
    moved_m = np.linalg.norm(world.data.xpos[pad] - before)
    after = world.grip_truth()['c1']
    if holds:
        assert after.gripping and moved_m < 0.002
    else:
        assert not after.gripping and after.touching is None and moved_m > 0.01


def test_depth_image_matches_ray_casting():
    sc = scenario('bennu', 'rubble',
                  terrain={'size_m': [8, 8], 'resolution_m': 0.05,
                           'regions': [{'kind': 'rubble', 'center': [1.2, 0], 'radius': 0.8},
                                       {'kind': 'rock', 'center': [1.5, 1.0], 'radius': 0.7}]})
    world = World(sc, camera=(80, 60))
    image, k = world.render_depth()
    assert image.dtype == np.float32 and image.shape == (60, 80)
    assert k[0, 0] == pytest.approx(40.0 / math.tan(math.radians(43.0)))
    pos, rot = world.camera_pose()
    us, vs = np.meshgrid(np.arange(80), np.arange(60))
    rays = np.stack([(us - k[0, 2]) / k[0, 0], (vs - k[1, 2]) / k[1, 1],
                     np.ones(us.shape)], axis=-1).reshape(-1, 3)
    directions = rays @ rot.T  # unit z in the optical frame: ray length = depth
    n = len(directions)
    geom = np.zeros(n, np.int32)
    dist = np.zeros(n)
    mujoco.mj_multiRay(world.model, world.data, pos, directions.reshape(-1), None, 1, -1,
                       geom, dist, None, n, 50.0)
    truth = np.where(geom >= 0, dist, np.inf).reshape(60, 80)
    cam = world.robot.camera
    visible = (truth > cam.range_min_m + 0.01) & (truth < cam.range_max_m - 0.01)
    assert visible.mean() > 0.5
    # Silhouette edges (dilated: the renderer draws curved geoms as polygons): a pixel's
    # footprint straddles two surfaces, its centre ray one.
    padded = np.pad(np.where(np.isfinite(truth), truth, 1e3), 1, mode='edge')
    centre = padded[1:-1, 1:-1]
    rows, cols = centre.shape
    jump = np.max([np.abs(centre - padded[1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols])
                   for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))], axis=0)
    inner = ~ndimage.binary_dilation(jump > 0.02, iterations=2)
    visible &= inner
    assert np.all(np.isfinite(image[visible]))
    error = image[visible] - truth[visible]
    noise = cam.depth_noise_std_m
    assert abs(error.mean()) < noise
    assert error.std() < 1.5 * noise
    assert np.mean(np.abs(error) < 4 * noise) > 0.995  # a few silhouette pixels may differ
    # Too close (the robot's own body and its front leg are in view): -inf (REP-117).
    assert np.all(np.isneginf(image[(truth < cam.range_min_m - 0.01) & inner]))


def test_sampler_collects_by_kind_with_the_feed_reaction_and_escape():
    world = World(scenario('kamooalewa', 'rock'))
    base_z = world.ground_truth().position_m[2]
    world.apply_commands(feed_m=0.115, drill_rad_s=10.0)
    world.step(2500)
    state = world.sampler_state()
    assert state.bit_touching == 'rock' and state.lid_open
    assert state.feed_force_n > 20.0
    table = world.scenario.terrain_table
    drill_rad_s = world.read_sensors().joint('sampler_drill_joint')[1]
    assert 5.0 < drill_rad_s <= 10.0  # the rock's friction loads the drill
    assert state.rate_g_s == pytest.approx(
        table['rock'].drill_rate_g_s * state.feed_force_n / 50.0 * drill_rad_s / 10.0, rel=1e-6)
    assert world.ground_truth().position_m[2] > base_z + 0.001  # the reaction lifts the body
    collected = world.sampler_state().mass_g
    assert world.read_sensors().sampler_mass_kg == pytest.approx(collected / 1000.0)
    world.apply_commands(feed_m=0.0, drill_rad_s=0.0)
    world.step(2500)
    closed = world.sampler_state()
    assert not closed.lid_open and closed.bit_touching is None
    world.step(500)
    assert world.sampler_state().mass_g == closed.mass_g  # lid closed: nothing escapes
    world.set_lid(True)
    world.step(5000)  # 10 s open where gravity points away: 1 %/s escapes
    assert world.sampler_state().mass_g == pytest.approx(closed.mass_g * math.exp(-0.1),
                                                         rel=1e-3)


def test_every_fault_kind_changes_what_it_should():
    faults = """
faults:
  - {at_s: 0.2, kind: ft_dropout, claw: c2, duration_s: 0.2}
  - {at_s: 0.2, kind: camera_dropout, duration_s: 0.2}
  - {at_s: 0.2, kind: comm_loss, duration_s: 0.2}
  - {at_s: 0.2, kind: wheel_stall, wheel: w1, duration_s: 0.4}
  - {at_s: 0.2, kind: push, force_n: [0, 0, 60], duration_s: 0.2}
  - {at_s: 0.5, kind: claw_failure, claw: c3}
"""
    world = World(scenario('bennu', 'rock', faults), camera=(32, 24))
    calm = World(scenario('bennu', 'rock'))
    for w in (world, calm):
        w.apply_commands(wheel_v3=[5.0, 5.0, 5.0])
        w.step(150)  # 0.3 s
    readings = world.read_sensors()
    assert readings.wrenches['c2'] is None and readings.wrenches['c1'] is not None
    assert world.render_depth()[0] is None
    assert world.comm_lost and not calm.comm_lost
    w1 = ALL_JOINTS.index('w1_wheel_joint')
    w2 = ALL_JOINTS.index('w2_wheel_joint')
    assert abs(readings.velocity[w1]) < 0.5 and readings.velocity[w2] > 2.0
    assert abs(calm.read_sensors().velocity[w1]) > 2.0
    lift = world.ground_truth().position_m[2] - calm.ground_truth().position_m[2]
    assert lift > 1e-4  # the push lifts the body against the grips
    for w in (world, calm):
        w.step(200)  # 0.7 s
    readings = world.read_sensors()
    assert readings.wrenches['c2'] is not None and world.render_depth()[0] is not None
    assert not world.comm_lost
    assert readings.velocity[w1] > 2.0  # the stall is over
    truth = world.grip_truth()['c3']
    assert truth.failed and not truth.gripping and truth.grip_force_n == 0.0
    assert world.grip_truth()['c1'].gripping and calm.grip_truth()['c3'].gripping
    assert abs(readings.joint('c3_claw_joint')[2]) < 5.0  # the squeeze is gone
    assert world.is_detached() == (False, '')
    assert [f.kind for f in world.active_faults()] == ['claw_failure']  # permanent


def test_same_seed_gives_bit_identical_trajectories():
    def run(seed):
        world = World(load_scenario(), seed=seed)
        world.apply_commands(claw_n3=[160.0, 150.0, 140.0], feed_m=0.05, drill_rad_s=8.0)
        trace = []
        for _ in range(20):
            world.step(25)
            r = world.read_sensors()
            trace.append(np.concatenate([world.data.qpos, world.data.qvel, r.effort,
                                         r.wrenches['c1'].force_n, r.imu.accel_m_s2]))
        return np.array(trace)

    first, second = run(7), run(7)
    assert first.tobytes() == second.tobytes()
    assert run(8).tobytes() != first.tobytes()


def test_reset_returns_to_the_start():
    world = World(scenario('bennu'))
    start = world.data.qpos.copy()
    world.apply_commands(feed_m=0.05)
    world.step(300)
    world.reset()
    assert world.time_s == 0.0
    assert np.array_equal(world.data.qpos, start)


def test_a_claw_on_a_boulder_holds_at_the_rubble_fraction():
    sc = scenario('bennu', 'rubble')
    for seed in range(20):
        world = World(sc, seed=seed)
        on_boulders = [t for t in world.grip_truth().values() if t.touching == 'rubble']
        if on_boulders:
            break
    else:
        pytest.fail('no start pose in 20 seeds put a claw on a boulder')
    fraction = world.scenario.terrain_table['rubble'].grip_fraction
    assert on_boulders[0].holding_force_n == pytest.approx(fraction * 150.0)
    others = [t for t in world.grip_truth().values() if t.touching == 'smooth']
    assert all(t.holding_force_n == pytest.approx(0.2 * 150.0) for t in others)


def test_the_imu_reports_the_mean_specific_force_since_its_previous_sample():
    """The accelerometer averages over the physics steps between its samples (a MEMS IMU's
    decimation filter): the contacts' chatter at the physics rate does not alias into its
    200 Hz samples. A reading without an IMU sample has none and does not end the mean."""
    world = World(scenario('moon', 'smooth'))
    world.apply_commands(wheel_v3=[3.0, -2.0, 1.0])   # the body rocks on its wheels
    world.step(50)
    world.read_sensors()                                  # the mean starts here
    raw = []
    for _ in range(5):
        world.step(1)
        raw.append(world.data.sensor('imu_accel').data.copy())
        assert world.read_sensors(imu=False).imu is None
    sample = world.read_sensors(imu=True).imu
    noise = 5.0 * world.robot.imu.accel_noise_std_m_s2
    np.testing.assert_allclose(sample.accel_m_s2, np.mean(raw, axis=0), atol=noise)
    assert np.max(np.abs(np.asarray(raw) - np.mean(raw, axis=0))) > 10.0 * noise
