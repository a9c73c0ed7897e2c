# SPDX-License-Identifier: Apache-2.0
"""Scenarios, bodies and terrain kinds, loaded and checked (DESIGN.md sections 6 and 7).

A scenario YAML names a body of ``config/bodies.yaml``, a terrain patch painted with the
kinds of ``config/terrain.yaml``, a mission, faults and the expected outcome. Loading
refuses unknown keys, unknown values, out-of-range numbers, regions or mission points off
the patch and a patch larger than the body's radius, with a :class:`ConfigError` naming
the key; nothing is returned half-configured. Everything is a frozen dataclass.

Local frame of a patch: x east, y north, z the local outward surface normal (the patch is
treated as flat). The body spins about its north pole axis.
"""

from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from space_miner.core.robot import ConfigError
from space_miner.interfaces import CLAW_LEGS, WHEEL_LEGS

#: Terrain kinds, in the order of DESIGN.md section 6; ``smooth`` is the base of a patch.
TERRAIN_KINDS = ('smooth', 'regolith', 'rubble', 'rock')
BASE_KIND = 'smooth'
#: Fault kinds and the keys each takes besides ``at_s`` and ``kind`` (DESIGN.md section 7).
FAULT_KEYS = {
    'ft_dropout': ('claw', 'duration_s'),
    'claw_failure': ('claw',),
    'camera_dropout': ('duration_s',),
    'wheel_stall': ('wheel', 'duration_s'),
    'comm_loss': ('duration_s',),
    'push': ('force_n', 'duration_s'),
}
#: Gait modes an ``expect.end_mode`` may name (DESIGN.md section 5).
GAIT_MODES = ('roll', 'walk', 'crawl', 'anchor', 'hold')
#: Limits that keep a scenario buildable: heightfield cells per side, boulders, push force.
MAX_CELLS_PER_SIDE = 2001
MIN_RESOLUTION_M = 0.005
MAX_RESOLUTION_M = 1.0
MAX_PUSH_FORCE_N = 1000.0
MAX_RUBBLE_DENSITY = 0.6


@dataclass(frozen=True)
class BodyConfig:
    """One body of ``config/bodies.yaml`` [m, m/s^2, s, m/s]."""

    name: str
    radius_m: float
    g_m_s2: float
    rotation_period_s: float
    escape_velocity_m_s: float
    requires_grip: bool

    @property
    def spin_rad_s(self) -> float:
        """Rotation rate [rad/s]."""
        return 2.0 * math.pi / self.rotation_period_s


@dataclass(frozen=True)
class TerrainKind:
    """One kind of ``config/terrain.yaml``: friction, grip, drill rate [g/s], geometry."""

    name: str
    friction: float
    grip_fraction: float
    drill_rate_g_s: float
    reaction: str
    geometry: Mapping[str, Any]


@dataclass(frozen=True)
class TerrainTable:
    """All terrain kinds and the drill reference point the rates are given at [N, rad/s]."""

    kinds: Mapping[str, TerrainKind]
    drill_ref_feed_n: float
    drill_ref_speed_rad_s: float

    def __getitem__(self, kind: str) -> TerrainKind:
        """Return the kind called ``kind``."""
        return self.kinds[kind]


@dataclass(frozen=True)
class Region:
    """A disc of the patch painted with one kind [m]; ``density`` for rubble only."""

    kind: str
    center_m: tuple
    radius_m: float
    density: float | None = None


@dataclass(frozen=True)
class TerrainSpec:
    """The patch: size [m] (centred on the origin), heightfield resolution [m], regions."""

    size_m: tuple
    resolution_m: float
    regions: tuple

    def contains(self, x_m: float, y_m: float, margin_m: float = 0.0) -> bool:
        """Whether (x, y) lies on the patch, at least ``margin_m`` inside its edge."""
        hx, hy = self.size_m[0] / 2.0 - margin_m, self.size_m[1] / 2.0 - margin_m
        return -hx <= x_m <= hx and -hy <= y_m <= hy


@dataclass(frozen=True)
class Mission:
    """Start (x, y [m], yaw [rad]), waypoints and sample sites [m], target [g], limit [s]."""

    start: tuple
    waypoints: tuple
    sample_sites: tuple
    sample_target_g: float
    time_limit_s: float


@dataclass(frozen=True)
class Fault:
    """A fault injected at ``at_s`` [s]; the keys its kind does not take are None."""

    at_s: float
    kind: str
    claw: str | None = None
    wheel: str | None = None
    duration_s: float | None = None
    force_n: tuple | None = None

    @property
    def end_s(self) -> float:
        """When the fault ends [s] (infinity for a permanent one)."""
        return math.inf if self.duration_s is None else self.at_s + self.duration_s

    def active(self, time_s: float) -> bool:
        """Whether the fault is in effect at ``time_s`` [s]."""
        return self.at_s <= time_s < self.end_s


@dataclass(frozen=True)
class Expect:
    """The expected outcome a run is graded against."""

    success: bool = True
    detached: bool = False
    end_mode: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A checked scenario, with its body and the terrain table it was checked against."""

    name: str
    body: str
    seed: int
    latitude_deg: float
    terrain: TerrainSpec
    mission: Mission
    faults: tuple
    expect: Expect
    body_config: BodyConfig
    terrain_table: TerrainTable
    source: str = field(default='', compare=False)

    def effective_acceleration_m_s2(self) -> np.ndarray:
        """Local effective acceleration at the scenario's latitude (east, north, up) [m/s^2]."""
        return effective_acceleration(self.body_config, self.latitude_deg)


# --- physics of the site ---------------------------------------------------------------

def effective_acceleration(body: BodyConfig, latitude_deg: float) -> np.ndarray:
    """Effective acceleration at the surface, in the local (east, north, up) frame [m/s^2].

    Gravity ``g`` points down the local normal; the centrifugal acceleration of the spin,
    ``omega^2 R cos(lat)`` away from the spin axis, has ``omega^2 R cos^2(lat)`` along the
    outward normal and ``omega^2 R cos(lat) sin(lat)`` towards the equator. A positive up
    component means effective gravity points away from the ground.
    """
    if not math.isfinite(latitude_deg) or abs(latitude_deg) > 90.0:
        raise ConfigError('latitude_deg', latitude_deg, 'must be within [-90, 90]')
    lat = math.radians(latitude_deg)
    centrifugal = body.spin_rad_s ** 2 * body.radius_m * math.cos(lat)
    up = -body.g_m_s2 + centrifugal * math.cos(lat)
    north = -centrifugal * math.sin(lat)
    return np.array([0.0, north, up])


def points_away_from_ground(body: BodyConfig, latitude_deg: float) -> bool:
    """Whether effective gravity pushes away from the ground at this latitude."""
    return bool(effective_acceleration(body, latitude_deg)[2] > 0.0)


def escape_velocity_m_s(body: BodyConfig) -> float:
    """Return the body's escape velocity [m/s] (from bodies.yaml)."""
    return body.escape_velocity_m_s


# --- reading helpers ---------------------------------------------------------------------

def _mapping(value: Any, key: str, source: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, 'must be a mapping', source)
    return value


def _only_keys(data: Mapping, key: str, allowed: Sequence[str], required: Sequence[str],
               source: str) -> None:
    for name in data:
        if name not in allowed:
            where = f'{key}.{name}' if key else str(name)
            raise ConfigError(where, data[name],
                              f'unknown key (allowed: {", ".join(allowed)})', source)
    for name in required:
        if name not in data:
            raise ConfigError(f'{key}.{name}' if key else name, None, 'missing key', source)


def _number(value: Any, key: str, source: str, *, lo: float | None = None,
            hi: float | None = None, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, value, 'must be a number', source)
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(key, value, 'must be finite', source)
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise ConfigError(key, value, f'must be {">" if lo_open else ">="} {lo:g}', source)
    if hi is not None and value > hi:
        raise ConfigError(key, value, f'must be <= {hi:g}', source)
    return value


def _vector(value: Any, key: str, length: int, source: str) -> tuple:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != length:
        raise ConfigError(key, value, f'must be a list of {length} numbers', source)
    return tuple(_number(v, f'{key}[{i}]', source) for i, v in enumerate(value))


def _bool(value: Any, key: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, 'must be true or false', source)
    return value


def _load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        with open(path, encoding='utf-8') as handle:
            return yaml.safe_load(handle)
    except OSError as err:
        raise ConfigError('<file>', str(path), f'cannot be read: {err}', str(path)) from err
    except yaml.YAMLError as err:
        raise ConfigError('<file>', str(path), f'not valid YAML: {err}', str(path)) from err


# --- bodies.yaml ------------------------------------------------------------------------

_BODY_KEYS = ('radius_m', 'g_m_s2', 'rotation_period_s', 'escape_velocity_m_s',
              'requires_grip')


def parse_bodies(data: Any, source: str = 'bodies.yaml') -> Mapping[str, BodyConfig]:
    """Check a parsed bodies.yaml mapping and build a {name: BodyConfig} mapping."""
    data = _mapping(data, '<root>', source)
    if not data:
        raise ConfigError('<root>', data, 'no body defined', source)
    bodies = {}
    for name, entry in data.items():
        entry = _mapping(entry, str(name), source)
        _only_keys(entry, str(name), _BODY_KEYS, _BODY_KEYS, source)
        bodies[str(name)] = BodyConfig(
            name=str(name),
            radius_m=_number(entry['radius_m'], f'{name}.radius_m', source, lo=0.0,
                             lo_open=True),
            g_m_s2=_number(entry['g_m_s2'], f'{name}.g_m_s2', source, lo=0.0, lo_open=True),
            rotation_period_s=_number(entry['rotation_period_s'], f'{name}.rotation_period_s',
                                      source, lo=0.0, lo_open=True),
            escape_velocity_m_s=_number(entry['escape_velocity_m_s'],
                                        f'{name}.escape_velocity_m_s', source, lo=0.0,
                                        lo_open=True),
            requires_grip=_bool(entry['requires_grip'], f'{name}.requires_grip', source),
        )
    return bodies


def load_bodies(path: str | Path | None = None) -> Mapping[str, BodyConfig]:
    """Load and check ``config/bodies.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('bodies.yaml')
    return parse_bodies(_load_yaml(path), str(path))


# --- terrain.yaml -----------------------------------------------------------------------

_KIND_KEYS = ('friction', 'grip_fraction', 'drill_rate_g_s', 'reaction', 'geometry')
_GEOMETRY_KEYS = {
    'smooth': {'height_std_max_m': 1},
    'regolith': {'ripple_height_m': 2, 'ripple_length_m': 2},
    'rubble': {'boulder_size_m': 2, 'default_density': 1},
    'rock': {'relief_m': 2},
}


def parse_terrain_table(data: Any, source: str = 'terrain.yaml') -> TerrainTable:
    """Check a parsed terrain.yaml mapping and build the :class:`TerrainTable`."""
    data = _mapping(data, '<root>', source)
    _only_keys(data, '', ('drill_ref_feed_n', 'drill_ref_speed_rad_s', 'kinds'),
               ('drill_ref_feed_n', 'drill_ref_speed_rad_s', 'kinds'), source)
    kinds_data = _mapping(data['kinds'], 'kinds', source)
    _only_keys(kinds_data, 'kinds', TERRAIN_KINDS, TERRAIN_KINDS, source)
    kinds = {}
    for name in TERRAIN_KINDS:
        key = f'kinds.{name}'
        entry = _mapping(kinds_data[name], key, source)
        _only_keys(entry, key, _KIND_KEYS, _KIND_KEYS, source)
        if entry['reaction'] != 'feed_force':
            raise ConfigError(f'{key}.reaction', entry['reaction'], 'must be feed_force',
                              source)
        geo_data = _mapping(entry['geometry'], f'{key}.geometry', source)
        spec = _GEOMETRY_KEYS[name]
        _only_keys(geo_data, f'{key}.geometry', tuple(spec), tuple(spec), source)
        geometry = {}
        for gkey, length in spec.items():
            full = f'{key}.geometry.{gkey}'
            if length == 1:
                geometry[gkey] = _number(geo_data[gkey], full, source, lo=0.0, lo_open=True)
            else:
                lo_hi = _vector(geo_data[gkey], full, 2, source)
                if not 0.0 < lo_hi[0] <= lo_hi[1]:
                    raise ConfigError(full, list(lo_hi), 'must be 0 < low <= high', source)
                geometry[gkey] = lo_hi
        kinds[name] = TerrainKind(
            name=name,
            friction=_number(entry['friction'], f'{key}.friction', source, lo=0.0,
                             lo_open=True, hi=2.0),
            grip_fraction=_number(entry['grip_fraction'], f'{key}.grip_fraction', source,
                                  lo=0.0, hi=1.0),
            drill_rate_g_s=_number(entry['drill_rate_g_s'], f'{key}.drill_rate_g_s', source,
                                   lo=0.0),
            reaction='feed_force',
            geometry=geometry,
        )
    return TerrainTable(
        kinds=kinds,
        drill_ref_feed_n=_number(data['drill_ref_feed_n'], 'drill_ref_feed_n', source, lo=0.0,
                                 lo_open=True),
        drill_ref_speed_rad_s=_number(data['drill_ref_speed_rad_s'], 'drill_ref_speed_rad_s',
                                      source, lo=0.0, lo_open=True),
    )


def load_terrain_table(path: str | Path | None = None) -> TerrainTable:
    """Load and check ``config/terrain.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('terrain.yaml')
    return parse_terrain_table(_load_yaml(path), str(path))


# --- scenario ---------------------------------------------------------------------------

_TOP_KEYS = ('name', 'body', 'seed', 'latitude_deg', 'terrain', 'mission', 'faults',
             'expect')
_TOP_REQUIRED = ('name', 'body', 'terrain', 'mission')
_TERRAIN_KEYS = ('size_m', 'resolution_m', 'regions')
_REGION_KEYS = ('kind', 'center', 'radius', 'density')
_MISSION_KEYS = ('start', 'waypoints', 'sample_sites', 'sample_target_g', 'time_limit_s')
_EXPECT_KEYS = ('success', 'detached', 'end_mode')


def _points(value: Any, key: str, terrain: TerrainSpec, source: str) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError(key, value, 'must be a list of [x, y] points', source)
    out = []
    for i, item in enumerate(value):
        point = _vector(item, f'{key}[{i}]', 2, source)
        if not terrain.contains(*point):
            raise ConfigError(f'{key}[{i}]', list(point),
                              f'off the {terrain.size_m[0]:g} x {terrain.size_m[1]:g} m patch',
                              source)
        out.append(point)
    return tuple(out)


def _parse_terrain(data: Any, body: BodyConfig, table: TerrainTable, source: str
                   ) -> TerrainSpec:
    data = _mapping(data, 'terrain', source)
    _only_keys(data, 'terrain', _TERRAIN_KEYS, ('size_m', 'resolution_m'), source)
    size = _vector(data['size_m'], 'terrain.size_m', 2, source)
    for i, side in enumerate(size):
        if side <= 0.0:
            raise ConfigError(f'terrain.size_m[{i}]', side, 'must be positive', source)
        if side > body.radius_m:
            raise ConfigError(f'terrain.size_m[{i}]', side,
                              f'the patch may not be larger than {body.name}\'s radius '
                              f'{body.radius_m:g} m (it is treated as flat)', source)
    resolution = _number(data['resolution_m'], 'terrain.resolution_m', source,
                         lo=MIN_RESOLUTION_M, hi=MAX_RESOLUTION_M)
    cells = max(size) / resolution + 1
    if cells > MAX_CELLS_PER_SIDE:
        raise ConfigError('terrain.resolution_m', resolution,
                          f'gives {cells:.0f} cells per side, more than {MAX_CELLS_PER_SIDE}',
                          source)
    if min(size) / resolution < 4:
        raise ConfigError('terrain.resolution_m', resolution,
                          'the patch must be at least 4 cells across', source)
    probe = TerrainSpec(size, resolution, ())
    regions_data = data.get('regions') or []
    if not isinstance(regions_data, Sequence) or isinstance(regions_data, str):
        raise ConfigError('terrain.regions', regions_data, 'must be a list', source)
    regions = []
    for i, entry in enumerate(regions_data):
        key = f'terrain.regions[{i}]'
        entry = _mapping(entry, key, source)
        _only_keys(entry, key, _REGION_KEYS, ('kind', 'center', 'radius'), source)
        kind = entry['kind']
        if kind not in TERRAIN_KINDS:
            raise ConfigError(f'{key}.kind', kind,
                              f'unknown terrain kind (kinds: {", ".join(TERRAIN_KINDS)})',
                              source)
        center = _vector(entry['center'], f'{key}.center', 2, source)
        if not probe.contains(*center):
            raise ConfigError(f'{key}.center', list(center),
                              f'off the {size[0]:g} x {size[1]:g} m patch (centred on 0, 0)',
                              source)
        radius = _number(entry['radius'], f'{key}.radius', source, lo=resolution)
        density = None
        if 'density' in entry:
            if kind != 'rubble':
                raise ConfigError(f'{key}.density', entry['density'],
                                  'only rubble regions take a density', source)
            density = _number(entry['density'], f'{key}.density', source, lo=0.0,
                              hi=MAX_RUBBLE_DENSITY)
        elif kind == 'rubble':
            density = float(table['rubble'].geometry['default_density'])
        regions.append(Region(kind, center, radius, density))
    return TerrainSpec(size, resolution, tuple(regions))


def _parse_mission(data: Any, terrain: TerrainSpec, source: str) -> Mission:
    data = _mapping(data, 'mission', source)
    _only_keys(data, 'mission', _MISSION_KEYS, ('start', 'time_limit_s'), source)
    start = _vector(data['start'], 'mission.start', 3, source)
    if not terrain.contains(start[0], start[1]):
        raise ConfigError('mission.start', list(start), 'off the patch', source)
    return Mission(
        start=start,
        waypoints=_points(data.get('waypoints'), 'mission.waypoints', terrain, source),
        sample_sites=_points(data.get('sample_sites'), 'mission.sample_sites', terrain, source),
        sample_target_g=_number(data.get('sample_target_g', 0.0), 'mission.sample_target_g',
                                source, lo=0.0),
        time_limit_s=_number(data['time_limit_s'], 'mission.time_limit_s', source, lo=0.0,
                             lo_open=True),
    )


def _parse_faults(data: Any, source: str) -> tuple:
    if data is None:
        return ()
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise ConfigError('faults', data, 'must be a list', source)
    faults = []
    for i, entry in enumerate(data):
        key = f'faults[{i}]'
        entry = _mapping(entry, key, source)
        if 'kind' not in entry:
            raise ConfigError(f'{key}.kind', None, 'missing key', source)
        kind = entry['kind']
        if kind not in FAULT_KEYS:
            raise ConfigError(f'{key}.kind', kind,
                              f'unknown fault kind (kinds: {", ".join(FAULT_KEYS)})', source)
        keys = FAULT_KEYS[kind]
        _only_keys(entry, key, ('at_s', 'kind') + keys, ('at_s', 'kind') + keys, source)
        values: dict = {'at_s': _number(entry['at_s'], f'{key}.at_s', source, lo=0.0),
                        'kind': kind}
        if 'claw' in keys:
            if entry['claw'] not in CLAW_LEGS:
                raise ConfigError(f'{key}.claw', entry['claw'],
                                  f'unknown claw (claws: {", ".join(CLAW_LEGS)})', source)
            values['claw'] = entry['claw']
        if 'wheel' in keys:
            if entry['wheel'] not in WHEEL_LEGS:
                raise ConfigError(f'{key}.wheel', entry['wheel'],
                                  f'unknown wheel (wheels: {", ".join(WHEEL_LEGS)})', source)
            values['wheel'] = entry['wheel']
        if 'duration_s' in keys:
            values['duration_s'] = _number(entry['duration_s'], f'{key}.duration_s', source,
                                           lo=0.0, lo_open=True)
        if 'force_n' in keys:
            force = _vector(entry['force_n'], f'{key}.force_n', 3, source)
            if math.hypot(*force) > MAX_PUSH_FORCE_N:
                raise ConfigError(f'{key}.force_n', list(force),
                                  f'magnitude above {MAX_PUSH_FORCE_N:g} N', source)
            values['force_n'] = force
        faults.append(Fault(**values))
    return tuple(faults)


def _parse_expect(data: Any, source: str) -> Expect:
    if data is None:
        return Expect()
    data = _mapping(data, 'expect', source)
    _only_keys(data, 'expect', _EXPECT_KEYS, (), source)
    end_mode = data.get('end_mode')
    if end_mode is not None and end_mode not in GAIT_MODES:
        raise ConfigError('expect.end_mode', end_mode,
                          f'unknown mode (modes: {", ".join(GAIT_MODES)} or null)', source)
    return Expect(
        success=_bool(data.get('success', True), 'expect.success', source),
        detached=_bool(data.get('detached', False), 'expect.detached', source),
        end_mode=end_mode,
    )


def parse_scenario(data: Any, source: str = '<scenario>', *,
                   bodies: Mapping[str, BodyConfig] | None = None,
                   terrain_table: TerrainTable | None = None) -> Scenario:
    """Check a parsed scenario mapping and build the :class:`Scenario`.

    ``bodies`` and ``terrain_table`` default to the package's bodies.yaml and terrain.yaml.
    """
    bodies = load_bodies() if bodies is None else bodies
    table = load_terrain_table() if terrain_table is None else terrain_table
    data = _mapping(data, '<root>', source)
    _only_keys(data, '', _TOP_KEYS, _TOP_REQUIRED, source)
    name = data['name']
    if not isinstance(name, str) or not name.strip():
        raise ConfigError('name', name, 'must be a non-empty string', source)
    body_name = data['body']
    if body_name not in bodies:
        raise ConfigError('body', body_name,
                          f'unknown body (bodies.yaml has: {", ".join(bodies)})', source)
    body = bodies[body_name]
    seed = data.get('seed', 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError('seed', seed, 'must be a non-negative integer', source)
    latitude = _number(data.get('latitude_deg', 0.0), 'latitude_deg', source, lo=-90.0,
                       hi=90.0)
    terrain = _parse_terrain(data['terrain'], body, table, source)
    mission = _parse_mission(data['mission'], terrain, source)
    return Scenario(
        name=name,
        body=body_name,
        seed=seed,
        latitude_deg=latitude,
        terrain=terrain,
        mission=mission,
        faults=_parse_faults(data.get('faults'), source),
        expect=_parse_expect(data.get('expect'), source),
        body_config=body,
        terrain_table=table,
        source=source,
    )


def load_scenario(path: str | Path | None = None, *,
                  bodies: Mapping[str, BodyConfig] | None = None,
                  terrain_table: TerrainTable | None = None) -> Scenario:
    """Load and check a scenario file (default: ``config/scenarios/default.yaml``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('scenarios/default.yaml')
    return parse_scenario(_load_yaml(path), str(path), bodies=bodies,
                          terrain_table=terrain_table)
