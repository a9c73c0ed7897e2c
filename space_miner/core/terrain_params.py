# SPDX-License-Identifier: Apache-2.0
"""Parameters of terrain perception, loaded and checked from ``config/terrain_perception.yaml``.

The file is in ROS parameter-file form (``terrain_perception: ros__parameters: {...}``) so
the node can load the same file; the defaults live there and nowhere else. Every value is
range-checked here, and a refused value raises :class:`ConfigError` naming the key.
"""

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping


from space_miner.core.params import parse_params, read_yaml
from space_miner.core.robot import ConfigError

NODE_NAME = 'terrain_perception'


@dataclass(frozen=True)
class TerrainParams:
    """A frozen snapshot of the terrain perception parameters (units in the names).

    Meanings are documented beside each key in ``config/terrain_perception.yaml``;
    :data:`PARAM_RANGES` gives the accepted range of each.
    """

    local_size_m: float
    local_resolution_m: float
    global_size_m: float
    global_origin_xy_m: tuple
    global_resolution_m: float
    global_vote_cap: float
    min_depth_m: float
    max_depth_m: float
    samples_per_cell: float
    max_pixel_stride: int
    self_filter_margin_m: float
    depth_noise_std_m: float
    depth_noise_quadratic_per_m: float
    measurement_floor_std_m: float
    process_noise_m2_per_s: float
    gate_sigma: float
    max_frame_dt_s: float
    frame_period_s: float
    inpaint_radius_cells: int
    plane_window_m: float
    step_window_m: float
    smooth_max_roughness_m: float
    smooth_max_relief_m: float
    regolith_max_relief_m: float
    regolith_min_coherence: float
    rubble_min_relief_m: float
    boulder_min_height_m: float
    rubble_dilate_m: float
    rubble_density_window_m: float
    rubble_min_boulder_fraction: float
    class_filter_window_m: float
    grasp_full_slope_deg: float
    grasp_max_slope_deg: float
    grasp_max_std_m: float
    grasp_min_support: float
    grasp_min_score: float
    grasp_candidates_per_leg: int
    grasp_min_separation_m: float
    grasp_prefilter_per_leg: int
    grasp_reach_margin_m: float
    roll_max_slope_deg: float
    roll_max_step_m: float
    walk_max_slope_deg: float
    walk_max_step_m: float
    crawl_max_slope_deg: float
    crawl_window_m: float
    robot_radius_m: float
    corridor_length_m: float
    corridor_width_m: float
    summary_percentile: float
    min_known_fraction: float
    stale_after_s: float
    sample_max_slope_deg: float
    sample_max_step_m: float
    sample_anchor_radius_m: float
    sample_anchor_tolerance_m: float
    sample_min_anchor_claws: int

    @property
    def local_cells(self) -> int:
        """Cells along one side of the local grid."""
        return int(round(self.local_size_m / self.local_resolution_m))

    @property
    def global_cells(self) -> int:
        """Cells along one side of the global map."""
        return int(round(self.global_size_m / self.global_resolution_m))

    def window_cells(self, window_m: float) -> int:
        """Return the odd window size [cells] covering about ``window_m`` [m] of the grid."""
        half = max(1, int(round(window_m / (2.0 * self.local_resolution_m))))
        return 2 * half + 1


#: Accepted range [low, high] of every parameter (inclusive). Integers are marked by int.
PARAM_RANGES: Mapping[str, tuple] = {
    'local_size_m': (0.5, 20.0),
    'local_resolution_m': (0.01, 0.5),
    'global_size_m': (1.0, 1000.0),
    'global_origin_xy_m': (-1.0e4, 1.0e4),
    'global_resolution_m': (0.05, 5.0),
    'global_vote_cap': (1.0, 1.0e6),
    'min_depth_m': (0.0, 10.0),
    'max_depth_m': (0.1, 100.0),
    'samples_per_cell': (1.0, 100.0),
    'max_pixel_stride': (1, 64),
    'self_filter_margin_m': (0.0, 0.5),
    'depth_noise_std_m': (0.0, 0.1),
    'depth_noise_quadratic_per_m': (0.0, 0.1),
    'measurement_floor_std_m': (1.0e-5, 0.1),
    'process_noise_m2_per_s': (0.0, 1.0),
    'gate_sigma': (1.0, 100.0),
    'max_frame_dt_s': (0.0, 60.0),
    'frame_period_s': (0.0, 60.0),
    'inpaint_radius_cells': (1, 20),
    'plane_window_m': (0.05, 2.0),
    'step_window_m': (0.05, 2.0),
    'smooth_max_roughness_m': (0.0, 0.1),
    'smooth_max_relief_m': (0.0, 0.2),
    'regolith_max_relief_m': (0.0, 0.5),
    'regolith_min_coherence': (0.0, 1.0),
    'rubble_min_relief_m': (0.0, 1.0),
    'boulder_min_height_m': (0.0, 1.0),
    'rubble_dilate_m': (0.0, 2.0),
    'rubble_density_window_m': (0.05, 4.0),
    'rubble_min_boulder_fraction': (0.0, 1.0),
    'class_filter_window_m': (0.0, 2.0),
    'grasp_full_slope_deg': (0.0, 90.0),
    'grasp_max_slope_deg': (0.0, 90.0),
    'grasp_max_std_m': (1.0e-4, 1.0),
    'grasp_min_support': (0.0, 1.0),
    'grasp_min_score': (0.0, 1.0),
    'grasp_candidates_per_leg': (1, 100),
    'grasp_min_separation_m': (0.0, 1.0),
    'grasp_prefilter_per_leg': (1, 10000),
    'grasp_reach_margin_m': (0.0, 0.2),
    'roll_max_slope_deg': (0.0, 90.0),
    'roll_max_step_m': (0.0, 1.0),
    'walk_max_slope_deg': (0.0, 90.0),
    'walk_max_step_m': (0.0, 1.0),
    'crawl_max_slope_deg': (0.0, 180.0),
    'crawl_window_m': (0.05, 2.0),
    'robot_radius_m': (0.05, 2.0),
    'corridor_length_m': (0.1, 20.0),
    'corridor_width_m': (0.05, 5.0),
    'summary_percentile': (0.0, 100.0),
    'min_known_fraction': (0.0, 1.0),
    'stale_after_s': (0.0, 3600.0),
    'sample_max_slope_deg': (0.0, 90.0),
    'sample_max_step_m': (0.0, 1.0),
    'sample_anchor_radius_m': (0.05, 2.0),
    'sample_anchor_tolerance_m': (0.0, 1.0),
    'sample_min_anchor_claws': (0, 3),
}


def parse_terrain_params(data: Any, source: str = 'terrain_perception.yaml') -> TerrainParams:
    """Check a parsed parameter file (or a flat mapping of values) and build the params.

    ``data`` is either the whole file (``{terrain_perception: {ros__parameters: {...}}}``)
    or the flat ``ros__parameters`` mapping itself. Unknown and missing keys are refused.
    """
    params = parse_params(TerrainParams, data, NODE_NAME, PARAM_RANGES, source,
                          vectors={'global_origin_xy_m': 2})
    _cross_check(params, source)
    return params


def _cross_check(p: TerrainParams, source: str) -> None:
    if p.max_depth_m <= p.min_depth_m:
        raise ConfigError('max_depth_m', p.max_depth_m,
                          f'must be above min_depth_m {p.min_depth_m:g}', source)
    if p.local_size_m < 4.0 * p.local_resolution_m:
        raise ConfigError('local_size_m', p.local_size_m,
                          'must span at least 4 cells of local_resolution_m', source)
    if p.global_resolution_m < p.local_resolution_m:
        raise ConfigError('global_resolution_m', p.global_resolution_m,
                          f'must not be finer than local_resolution_m {p.local_resolution_m:g}',
                          source)
    if p.global_size_m < p.global_resolution_m:
        raise ConfigError('global_size_m', p.global_size_m,
                          'must hold at least one cell of global_resolution_m', source)
    if p.grasp_max_slope_deg <= p.grasp_full_slope_deg:
        raise ConfigError('grasp_max_slope_deg', p.grasp_max_slope_deg,
                          f'must be above grasp_full_slope_deg {p.grasp_full_slope_deg:g}',
                          source)
    if p.regolith_max_relief_m < p.smooth_max_relief_m:
        raise ConfigError('regolith_max_relief_m', p.regolith_max_relief_m,
                          'must not be below smooth_max_relief_m', source)


def terrain_params_to_dict(params: TerrainParams) -> dict:
    """Return the flat ``ros__parameters`` mapping of ``params`` (tuples as lists)."""
    out = {}
    for f in fields(TerrainParams):
        value = getattr(params, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def load_terrain_params(path: str | Path | None = None) -> TerrainParams:
    """Load and check ``config/terrain_perception.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('terrain_perception.yaml')
    return parse_terrain_params(read_yaml(path), str(path))
