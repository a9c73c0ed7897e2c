# SPDX-License-Identifier: Apache-2.0
"""The shipped scenarios: they load, cover every body and fault kind, and are achievable.

Achievable here means consistent with DESIGN.md sections 6 and 7 and the stack's own
figures: patches within the body's radius and the terrain's global map; targets that follow
the missions' anchors and fit the container; time limits that allow a claw crawl at the
order of 1 cm/s along the route the autopilot would plan on the scenario's own terrain,
plus the predicted collection time (core/sampling.py's model); expectations stated where a
fault must end the mission safely.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from space_miner.core.gait_params import load_gait_params
from space_miner.core.mission import grip_fractions, load_mission_params, route_cost_model
from space_miner.core.robot import load_robot_config
from space_miner.core.route import plan_route, RouteMap
from space_miner.core.sampling import (load_drill_rates, load_sampling_params,
                                       predict_collection_rate_g_s)
from space_miner.core.scenario import (FAULT_KEYS, load_bodies, load_scenario,
                                       points_away_from_ground)
from space_miner.core.terrain_params import load_terrain_params
from space_miner.core.terrain_types import GridGeometry, TerrainClass
from space_miner.paths import config_path

SCENARIO_DIR = config_path('scenarios')
FILES = sorted(Path(SCENARIO_DIR).glob('*.yaml'))
SCENARIOS = {path.name: load_scenario(path) for path in FILES}
MISSION = load_mission_params()
GAIT = load_gait_params()
SAMPLING = load_sampling_params()
RATES = load_drill_rates()
ROBOT = load_robot_config()
TERRAIN = load_terrain_params()
#: DESIGN.md section 6: a claw crawl moves at the order of 1 cm/s.
CRAWL_M_S = 0.01
#: Anchoring, deploying, closing, stowing and verifying one attempt, besides drilling [s].
ATTEMPT_OVERHEAD_S = 60.0
#: Escape of collected mass while the container is open, where gravity points away [1/s].
ESCAPE_PER_S = 0.01


def site_kind(scenario, xy) -> str:
    """The kind painted at ``xy``: the last region containing it, else the base (smooth)."""
    kind = 'smooth'
    for region in scenario.terrain.regions:
        if math.dist(xy, region.center_m) <= region.radius_m:
            kind = region.kind
    return kind


def truth_map(scenario) -> RouteMap:
    """The scenario's painted classes on the terrain's global map grid (all seen)."""
    geom = GridGeometry(tuple(TERRAIN.global_origin_xy_m), TERRAIN.global_resolution_m,
                        TERRAIN.global_cells)
    xs, ys = geom.cell_centres()
    classes = np.full(xs.shape, int(TerrainClass.SMOOTH), dtype=np.int8)
    for region in scenario.terrain.regions:
        inside = np.hypot(xs - region.center_m[0], ys - region.center_m[1]) <= region.radius_m
        classes[inside] = int(TerrainClass[region.kind.upper()])
    off = ~np.vectorize(lambda x, y: scenario.terrain.contains(x, y))(xs, ys)
    classes[off] = int(TerrainClass.UNKNOWN)
    return RouteMap.from_classes(geom, classes, grip_fractions(scenario.terrain_table))


def targets(scenario) -> list:
    """Waypoints then sites, in mission order."""
    return list(scenario.mission.waypoints) + list(scenario.mission.sample_sites)


def route_length_m(scenario) -> float:
    """Length of the routes the planner finds on the scenario's terrain, target to target."""
    model = route_cost_model(MISSION, scenario, GAIT, ROBOT)
    rmap = truth_map(scenario)
    raw = model.cost_grid(rmap)
    inflation = int(math.ceil(MISSION.inflation_radius_m / rmap.geometry.resolution_m))
    here = scenario.mission.start[:2]
    total = 0.0
    for target in targets(scenario):
        result = plan_route(rmap, raw, here, target, model.min_s_per_m(), inflation)
        assert result.route is not None, f'{scenario.name}: {target}: {result.reason}'
        total += result.route.length_m
        here = target
    return total


def collection_time_s(scenario, kind: str, mass_g: float) -> float:
    """Drilling time [s] for ``mass_g`` on ``kind`` at the feed budget of three claws there."""
    grip = scenario.terrain_table[kind].grip_fraction
    budget_n = 3 * grip * GAIT.grip_force_n / SAMPLING.safety_factor
    feed_n = min(SAMPLING.feed_force_n, ROBOT.sampler.feed_force_max_n, budget_n)
    rate = predict_collection_rate_g_s(RATES, kind, feed_n, SAMPLING.drill_speed_rad_s)
    if points_away_from_ground(scenario.body_config, scenario.latitude_deg):
        ceiling = rate / ESCAPE_PER_S
        if ceiling <= mass_g:
            return math.inf
        return -math.log(1.0 - mass_g / ceiling) / ESCAPE_PER_S
    return mass_g / rate if rate > 0 else math.inf


def test_there_are_scenarios_and_default_is_kept():
    assert 'default.yaml' in SCENARIOS
    assert 'short_live.yaml' in SCENARIOS
    assert len(SCENARIOS) >= 14
    names = [s.name for s in SCENARIOS.values()]
    assert len(set(names)) == len(names), 'scenario names must be unique'


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_every_scenario_loads_and_starts_with_the_licence(name):
    text = (Path(SCENARIO_DIR) / name).read_text(encoding='utf-8')
    assert text.startswith('# SPDX-License-Identifier: Apache-2.0')
    assert SCENARIOS[name].name


def test_every_body_has_its_own_scenario():
    bodies = set(load_bodies())
    covered = {s.body for n, s in SCENARIOS.items() if n != 'default.yaml' and not s.faults}
    assert bodies <= covered, f'bodies without a scenario: {sorted(bodies - covered)}'


def test_every_fault_kind_has_a_scenario():
    kinds = {f.kind for s in SCENARIOS.values() for f in s.faults}
    assert set(FAULT_KEYS) <= kinds, f'fault kinds without one: {sorted(set(FAULT_KEYS) - kinds)}'


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_patch_within_the_body_radius_and_the_global_map(name):
    s = SCENARIOS[name]
    width, height = s.terrain.size_m
    assert max(width, height) <= s.body_config.radius_m
    assert math.hypot(width, height) / 2.0 <= s.body_config.radius_m
    # the whole patch lies on the terrain's global map, so routes can be planned on it
    ox, oy = TERRAIN.global_origin_xy_m
    assert ox <= -width / 2 and ox + TERRAIN.global_size_m >= width / 2
    assert oy <= -height / 2 and oy + TERRAIN.global_size_m >= height / 2


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_expectations_are_consistent(name):
    s = SCENARIOS[name]
    assert s.expect.detached is False, 'no shipped scenario may expect a detachment'
    if not s.expect.success:
        assert s.faults, 'only a fault may make a scenario expect failure'
        assert s.expect.end_mode is not None, 'a failure must say how the mission ends'
    for fault in s.faults:
        assert fault.at_s < s.mission.time_limit_s - MISSION.time_margin_s, \
            f'{fault.kind} at {fault.at_s} s comes after the mission has ended'
    failing = [f for f in s.faults if f.kind == 'claw_failure']
    if failing and s.body_config.requires_grip:
        # one claw lost on a grip body: anchor, never crawl again: end safely in hold
        assert (s.expect.success, s.expect.detached, s.expect.end_mode) == (False, False,
                                                                            'hold')


def test_claw_failure_comes_mid_crawl():
    s = SCENARIOS['fault_claw_failure.yaml']
    assert s.body_config.requires_grip
    fault = next(f for f in s.faults if f.kind == 'claw_failure')
    first = math.dist(s.mission.start[:2], targets(s)[0])
    assert 0.0 < fault.at_s < first / GAIT.crawl_speed_max_m_s, 'before the first target'


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_targets_follow_the_anchors_and_fit_the_container(name):
    s = SCENARIOS[name]
    m = s.mission
    assert m.sample_sites, 'every scenario samples'
    assert m.sample_target_g > 0.0
    total = m.sample_target_g * len(m.sample_sites) + SAMPLING.collect_margin_g
    assert total <= ROBOT.sampler.container_capacity_g
    if s.body == 'kamooalewa' and s.expect.success:
        assert m.sample_target_g >= 100.0          # Tianwen-2
    if s.body == 'ryugu':
        assert m.sample_target_g <= 10.0           # Hayabusa2: 5.4 g
    if name == 'body_bennu.yaml':
        assert m.sample_target_g == pytest.approx(121.6)   # OSIRIS-REx


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_each_attempt_can_reach_the_target(name):
    s = SCENARIOS[name]
    for site in s.mission.sample_sites:
        kind = site_kind(s, site)
        need = s.mission.sample_target_g + SAMPLING.collect_margin_g
        t = collection_time_s(s, kind, need)
        assert t <= SAMPLING.collect_max_s, f'{site} on {kind}: {t:.0f} s of drilling'


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_time_limit_follows_from_the_crawl_and_the_drill(name):
    s = SCENARIOS[name]
    length = route_length_m(s)
    speed = CRAWL_M_S if s.body_config.requires_grip else 0.1
    need = length / speed
    for site in s.mission.sample_sites:
        drill = collection_time_s(s, site_kind(s, site),
                                  s.mission.sample_target_g + SAMPLING.collect_margin_g)
        need += drill + ATTEMPT_OVERHEAD_S
    usable = s.mission.time_limit_s - MISSION.time_margin_s
    assert usable >= need, f'{usable:.0f} s usable, {need:.0f} s needed'
    # and not wildly more (evaluation time): at most three times the travel plus every
    # attempt the sampler may make at each site, and an hour at most
    budget = length / speed + len(s.mission.sample_sites) * SAMPLING.max_attempts * (
        ATTEMPT_OVERHEAD_S + SAMPLING.collect_max_s)
    assert s.mission.time_limit_s <= min(3.0 * budget, 3600.0)


def test_short_live_is_short_and_achievable():
    s = SCENARIOS['short_live.yaml']
    assert s.mission.time_limit_s <= 120.0
    assert not s.body_config.requires_grip
    assert len(s.mission.waypoints) == 1 and len(s.mission.sample_sites) == 1
    assert math.dist(s.mission.start[:2], s.mission.waypoints[0]) <= 1.0
    assert math.dist(s.mission.start[:2], s.mission.sample_sites[0]) <= 1.5
    assert s.mission.sample_target_g <= 5.0
    assert not s.faults and s.expect.success
    drill = collection_time_s(s, site_kind(s, s.mission.sample_sites[0]),
                              s.mission.sample_target_g + SAMPLING.collect_margin_g)
    assert drill <= 10.0
    assert s.mission.time_limit_s - MISSION.time_margin_s >= 60.0


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_sites_are_sampleable_ground(name):
    s = SCENARIOS[name]
    for site in s.mission.sample_sites:
        kind = site_kind(s, site)
        assert kind in RATES.rate_g_s and RATES.rate_g_s[kind] > 0.0
        # the claws (about foot_radius_m around the site) stand on the same kind
        for k in range(6):
            a = k * math.pi / 3.0
            foot = (site[0] + GAIT.foot_radius_m * math.cos(a),
                    site[1] + GAIT.foot_radius_m * math.sin(a))
            assert site_kind(s, foot) == kind, f'{name}: foot {foot} not on {kind}'


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_the_autopilot_completes_it_on_a_kinematic_plant(name):
    """Closed loop on the scenario's own terrain: a point at ~1 cm/s (grip) or 0.1 m/s.

    Sampling takes the predicted drilling time plus the attempt overhead; a claw failure
    makes the gait refuse to crawl from its time on. The mission must end as ``expect``
    says (done, or hold with a reason), within the time limit.
    """
    from space_miner.core.gait_types import Pose2D
    from space_miner.core.mission import (MissionAutopilot, MissionInputs, MissionPhase,
                                          SamplingView)
    s = SCENARIOS[name]
    ap = MissionAutopilot.from_scenario(MISSION, s, GAIT, ROBOT)
    rmap = truth_map(s)
    speed = CRAWL_M_S if s.body_config.requires_grip else 0.1
    claw_fail_s = min((f.at_s for f in s.faults if f.kind == 'claw_failure'), default=math.inf)
    x, y = s.mission.start[:2]
    dt = 1.0
    view = None
    job = None          # (t_end, site, target)
    t = 0.0
    mode = 'crawl' if s.body_config.requires_grip else 'roll'
    while t <= s.mission.time_limit_s:
        if job is not None and t >= job[0]:
            view = SamplingView('done', job[2], 'collected', job[1])
            job = None
        cannot = s.body_config.requires_grip and t >= claw_fail_s
        out = ap.step(t, MissionInputs(pose=Pose2D(x, y), pose_stamp_s=t, route_map=rmap,
                                       gait_mode=mode, cannot_crawl=cannot, sampling=view))
        if out.sampling_start is not None:
            site = out.sampling_start.site_xy_m
            drill = collection_time_s(s, site_kind(s, site), s.mission.sample_target_g
                                      + SAMPLING.collect_margin_g)
            job = (t + drill + ATTEMPT_OVERHEAD_S, site, out.sampling_start.target_g)
            view = SamplingView('drill', view.mass_g if view else 0.0, '', site)
        if out.gait_request == 'hold':
            mode = 'hold'
        if out.status.done:
            break
        if out.goal is not None:
            d = math.hypot(out.goal.x_m - x, out.goal.y_m - y)
            f = min(1.0, speed * dt / d) if d > 0 else 0.0
            x, y = x + f * (out.goal.x_m - x), y + f * (out.goal.y_m - y)
            assert s.terrain.contains(x, y), 'the route left the patch'
        t += dt
    status = out.status
    assert status.done, f'not ended by the time limit: {status.phase.value} {status.note}'
    assert status.success is s.expect.success, status.reason
    if s.expect.success:
        assert status.phase is MissionPhase.DONE
        assert len(status.samples) == len(s.mission.sample_sites)
        assert all(sample.mass_g >= s.mission.sample_target_g for sample in status.samples)
    else:
        assert status.phase is MissionPhase.HOLD and status.reason
        assert s.expect.end_mode == 'hold' and out.gait_request == 'hold'
