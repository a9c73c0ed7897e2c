# SPDX-License-Identifier: Apache-2.0
"""robot.yaml: the shipped file loads; bad files are refused naming the key and value."""

import copy

import pytest
import yaml

from space_miner.core.robot import ConfigError, load_robot_config, parse_robot_config
from space_miner.paths import config_path


@pytest.fixture(scope='module')
def raw():
    with open(config_path('robot.yaml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def _set(data, path, value):
    node = data
    parts = path.split('.')
    for part in parts[:-1]:
        node = node[part]
    if value is _DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


_DELETE = object()


def test_shipped_robot_matches_design():
    robot = load_robot_config()
    assert robot.claw.grip_force_max_n == 200.0
    assert robot.claw.grip_force_total_max_n == 600.0
    assert 29.0 <= robot.total_mass_kg <= 31.0  # DESIGN: about 30 kg
    across = 2 * robot.hip_radius_m
    assert 0.3 <= across <= 0.45  # DESIGN: about 0.4 m across
    assert robot.sampler.feed_force_max_n == 250.0
    assert robot.sampler.drill_velocity_max_rad_s == 20.0


@pytest.mark.parametrize('path, value, key, words', [
    ('claw.grip_force_max_n', _DELETE, 'claw.grip_force_max_n', 'missing key'),
    ('legs.femur_length_m', _DELETE, 'legs.femur_length_m', 'missing key'),
    ('camera', _DELETE, 'camera', 'missing key'),
    ('legs.femur_length_m', -0.16, 'legs.femur_length_m', 'must be positive'),
    ('legs.tibia_length_m', 0.0, 'legs.tibia_length_m', 'must be positive'),
    ('claw.grip_force_max_n', 250.0, 'claw.grip_force_max_n', 'hardware limit 200'),
    ('claw.grip_force_total_max_n', 700.0, 'claw.grip_force_total_max_n', 'hardware limit 600'),
    ('sampler.feed_force_max_n', 300.0, 'sampler.feed_force_max_n', 'hardware limit 250'),
    ('claw.grip_force_max_n', 'strong', 'claw.grip_force_max_n', 'must be a number'),
    ('claw.grip_force_max_n', float('nan'), 'claw.grip_force_max_n', 'must be finite'),
    ('joints.coxa.upper_rad', -2.0, 'joints.coxa.upper_rad', 'above lower_rad'),
    ('legs.order', ['w1', 'c1', 'c2', 'w2', 'c3', 'w3'], 'legs.order', 'contract order'),
    ('legs.mount_yaw_deg.c2', 100, 'legs.mount_yaw_deg.c2', 'DESIGN.md'),
    ('legs.stance_deg.tibia', 170.0, 'legs.stance_deg.tibia', 'joint limits'),
    ('camera.width_px', 0, 'camera.width_px', 'positive integer'),
    ('sampler.mount_xyz_m', [0, 0], 'sampler.mount_xyz_m', 'list of 3'),
])
def test_bad_robot_yaml_is_refused_naming_key_and_value(raw, path, value, key, words):
    data = copy.deepcopy(raw)
    _set(data, path, value)
    with pytest.raises(ConfigError) as err:
        parse_robot_config(data, 'robot.yaml')
    message = str(err.value)
    assert err.value.key == key
    assert key in message and words in message
    if value is not _DELETE:
        assert repr(value) in message or repr(float(value)) in message


def test_bad_yaml_file_is_a_config_error(tmp_path):
    bad = tmp_path / 'robot.yaml'
    bad.write_text('body: [unclosed\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_robot_config(bad)
