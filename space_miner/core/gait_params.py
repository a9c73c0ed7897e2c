# SPDX-License-Identifier: Apache-2.0
"""Gait parameters, loaded and checked from ``config/gait_controller.yaml``.

The file is in ROS parameter-file form (``gait_controller: ros__parameters: {...}``) so the
node loads the same file; the defaults live there and nowhere else. Every value is
range-checked here; a refused value raises :class:`ConfigError` naming the key.
"""

from dataclasses import dataclass, fields
import math
from pathlib import Path
from typing import Any, Mapping


from space_miner.core.gait_types import WalkPattern
from space_miner.core.params import parse_params, read_yaml
from space_miner.core.robot import ConfigError

NODE_NAME = 'gait_controller'


@dataclass(frozen=True)
class GaitParams:
    """A frozen snapshot of the gait controller's parameters (units in the names).

    Meanings are documented beside each key in ``config/gait_controller.yaml``;
    :data:`PARAM_RANGES` gives the accepted range of each.
    """

    joint_states_timeout_s: float
    wrench_timeout_s: float
    odom_timeout_s: float
    terrain_timeout_s: float
    cmd_vel_timeout_s: float
    operator_goal_timeout_s: float
    goal_tolerance_m: float
    goal_yaw_tolerance_rad: float
    goal_gain_per_s: float
    goal_yaw_gain_per_s: float
    accel_max_m_s2: float
    yaw_accel_max_rad_s2: float
    switch_dwell_s: float
    switch_min_decisions: int
    roll_max_slope_deg: float
    walk_max_slope_deg: float
    roll_min_gravity_m_s2: float
    walk_min_gravity_m_s2: float
    escape_speed_fraction: float
    crawl_escape_speed_fraction: float
    min_useful_speed_m_s: float
    degraded_hold_after_anchor: bool
    body_height_m: float
    foot_radius_m: float
    claw_stow_lift_m: float
    claw_stow_radius_m: float
    posture_transition_s: float
    roll_speed_max_m_s: float
    roll_yaw_rate_max_rad_s: float
    walk_pattern: str
    walk_cycle_s: float
    tripod_duty_factor: float
    ripple_duty_factor: float
    wave_duty_factor: float
    step_height_m: float
    step_length_max_m: float
    walk_yaw_rate_max_rad_s: float
    crawl_speed_max_m_s: float
    crawl_yaw_rate_max_rad_s: float
    crawl_step_length_m: float
    crawl_foot_offset_max_m: float
    crawl_swing_s: float
    crawl_swing_height_m: float
    grasp_search_radius_m: float
    grip_force_n: float
    grip_press_depth_m: float
    probe_speed_m_s: float
    probe_depth_max_m: float
    probe_contact_force_n: float
    claw_action_timeout_s: float
    verify_timeout_s: float
    grip_retries_max: int
    reseat_offset_m: float
    stuck_retry_s: float
    pull_test_load_n: float
    pull_ramp_rate_n_per_s: float
    unverified_load_limit_n: float
    min_verified_grips: int
    load_fraction: float
    compliance_target_fraction: float
    compliance_gain: float
    compliance_offset_max_m: float

    def duty_factor(self, pattern: WalkPattern) -> float:
        """Share of a cycle each leg spends in stance for ``pattern``."""
        return {WalkPattern.TRIPOD: self.tripod_duty_factor,
                WalkPattern.RIPPLE: self.ripple_duty_factor,
                WalkPattern.WAVE: self.wave_duty_factor}[pattern]


#: Accepted range [low, high] of every numeric parameter (inclusive).
PARAM_RANGES: Mapping[str, tuple] = {
    'joint_states_timeout_s': (0.001, 10.0),
    'wrench_timeout_s': (0.001, 10.0),
    'odom_timeout_s': (0.001, 10.0),
    'terrain_timeout_s': (0.01, 3600.0),
    'cmd_vel_timeout_s': (0.01, 60.0),
    'operator_goal_timeout_s': (0.1, 86400.0),
    'goal_tolerance_m': (0.001, 5.0),
    'goal_yaw_tolerance_rad': (0.001, math.pi),
    'goal_gain_per_s': (0.001, 10.0),
    'goal_yaw_gain_per_s': (0.001, 10.0),
    'accel_max_m_s2': (0.001, 10.0),
    'yaw_accel_max_rad_s2': (0.001, 10.0),
    'switch_dwell_s': (0.0, 60.0),
    'switch_min_decisions': (1, 1000),
    'roll_max_slope_deg': (0.0, 45.0),
    'walk_max_slope_deg': (0.0, 60.0),
    'roll_min_gravity_m_s2': (0.0, 20.0),
    'walk_min_gravity_m_s2': (0.0, 20.0),
    'escape_speed_fraction': (0.0, 0.5),
    'crawl_escape_speed_fraction': (0.0, 0.9),
    'min_useful_speed_m_s': (0.0, 1.0),
    'body_height_m': (0.12, 0.30),
    'foot_radius_m': (0.30, 0.55),
    'claw_stow_lift_m': (0.0, 0.15),
    'claw_stow_radius_m': (0.25, 0.50),
    'posture_transition_s': (0.05, 30.0),
    'roll_speed_max_m_s': (0.0, 1.0),
    'roll_yaw_rate_max_rad_s': (0.0, 3.0),
    'walk_cycle_s': (0.2, 20.0),
    'tripod_duty_factor': (0.5, 0.95),
    'ripple_duty_factor': (0.5, 0.95),
    'wave_duty_factor': (0.5, 0.95),
    'step_height_m': (0.0, 0.10),
    'step_length_max_m': (0.0, 0.20),
    'walk_yaw_rate_max_rad_s': (0.0, 2.0),
    'crawl_speed_max_m_s': (0.0, 0.1),
    'crawl_yaw_rate_max_rad_s': (0.0, 0.5),
    'crawl_step_length_m': (0.0, 0.15),
    'crawl_foot_offset_max_m': (0.005, 0.15),
    'crawl_swing_s': (0.1, 30.0),
    'crawl_swing_height_m': (0.0, 0.10),
    'grasp_search_radius_m': (0.0, 0.3),
    'grip_force_n': (1.0, 200.0),
    'grip_press_depth_m': (0.0, 0.02),
    'probe_speed_m_s': (0.001, 0.2),
    'probe_depth_max_m': (0.0, 0.2),
    'probe_contact_force_n': (0.1, 50.0),
    'claw_action_timeout_s': (0.05, 60.0),
    'verify_timeout_s': (0.05, 60.0),
    'grip_retries_max': (0, 20),
    'reseat_offset_m': (0.0, 0.1),
    'stuck_retry_s': (0.1, 3600.0),
    'pull_test_load_n': (0.0, 100.0),
    'pull_ramp_rate_n_per_s': (1.0, 10000.0),
    'unverified_load_limit_n': (0.0, 100.0),
    'min_verified_grips': (2, 3),
    'load_fraction': (0.05, 0.5),
    'compliance_target_fraction': (0.1, 1.0),
    'compliance_gain': (0.01, 1.0),
    'compliance_offset_max_m': (0.0, 0.1),
}


def parse_gait_params(data: Any, source: str = 'gait_controller.yaml') -> GaitParams:
    """Check a parsed parameter file (or the flat ``ros__parameters`` mapping) and build it.

    Unknown and missing keys are refused, as are values outside :data:`PARAM_RANGES`.
    """
    params = parse_params(GaitParams, data, NODE_NAME, PARAM_RANGES, source,
                          choices={'walk_pattern': tuple(p.value for p in WalkPattern)})
    _cross_check(params, source)
    return params


def _cross_check(p: GaitParams, source: str) -> None:
    if p.walk_max_slope_deg < p.roll_max_slope_deg:
        raise ConfigError('walk_max_slope_deg', p.walk_max_slope_deg,
                          f'must not be below roll_max_slope_deg {p.roll_max_slope_deg:g}',
                          source)
    if p.claw_stow_radius_m > p.foot_radius_m:
        raise ConfigError('claw_stow_radius_m', p.claw_stow_radius_m,
                          f'must not exceed foot_radius_m {p.foot_radius_m:g}', source)
    if p.crawl_foot_offset_max_m < 0.5 * p.crawl_step_length_m:
        raise ConfigError('crawl_foot_offset_max_m', p.crawl_foot_offset_max_m,
                          'must be at least half of crawl_step_length_m', source)


def gait_params_to_dict(params: GaitParams) -> dict:
    """Return the flat ``ros__parameters`` mapping of ``params``."""
    return {f.name: getattr(params, f.name) for f in fields(GaitParams)}


def load_gait_params(path: str | Path | None = None) -> GaitParams:
    """Load and check ``config/gait_controller.yaml`` (or the file at ``path``)."""
    if path is None:
        from space_miner.paths import config_path
        path = config_path('gait_controller.yaml')
    return parse_gait_params(read_yaml(path), str(path))
