# SPDX-License-Identifier: Apache-2.0
"""Node parameters: defaults only from config/*.yaml, checked against their ranges."""

import pytest

from space_miner.core.robot import ConfigError
from space_miner.nodes.params import load_defaults, ParamSpec

SPECS = (ParamSpec('rate_hz', float, 'a rate', 'Hz', 1.0, 100.0),
         ParamSpec('count', int, 'a count', '', 0, 5),
         ParamSpec('name', str, 'a name'))


def _write(tmp_path, body):
    path = tmp_path / 'node.yaml'
    path.write_text('# SPDX-License-Identifier: Apache-2.0\nmy_node:\n  ros__parameters:\n'
                    + body)
    return path


def test_defaults_load_and_ints_widen_to_floats(tmp_path):
    path = _write(tmp_path, '    rate_hz: 50\n    count: 2\n    name: x\n')
    values = load_defaults('node.yaml', 'my_node', SPECS, path)
    assert values == {'rate_hz': 50.0, 'count': 2, 'name': 'x'}
    assert isinstance(values['rate_hz'], float)


@pytest.mark.parametrize('body, key, words', [
    ('    rate_hz: 500.0\n    count: 2\n    name: x\n', 'rate_hz', 'outside [1, 100] Hz'),
    ('    rate_hz: .nan\n    count: 2\n    name: x\n', 'rate_hz', 'must be finite'),
    ('    rate_hz: 5.0\n    count: 2.5\n    name: x\n', 'count', 'must be an integer'),
    ('    rate_hz: 5.0\n    name: x\n', 'count', 'missing key'),
    ('    rate_hz: 5.0\n    count: 1\n    name: x\n    typo_hz: 3\n', 'typo_hz',
     'unknown parameter'),
])
def test_bad_defaults_are_refused_naming_the_key(tmp_path, body, key, words):
    with pytest.raises(ConfigError) as err:
        load_defaults('node.yaml', 'my_node', SPECS, _write(tmp_path, body))
    assert err.value.key == f'my_node.ros__parameters.{key}'
    assert words in str(err.value)


def test_a_file_without_the_node_section_is_refused(tmp_path):
    path = tmp_path / 'node.yaml'
    path.write_text('other_node:\n  ros__parameters: {}\n')
    with pytest.raises(ConfigError, match='my_node.ros__parameters'):
        load_defaults('node.yaml', 'my_node', SPECS, path)


def test_core_parameter_parsing_checks_types_choices_vectors_and_files(tmp_path):
    """core/params.py, shared by the cores' loaders: every check names the key."""
    from dataclasses import dataclass

    from space_miner.core.params import parse_params, read_yaml

    @dataclass(frozen=True)
    class P:
        rate_hz: float
        count: int
        enabled: bool
        pattern: str
        origin_m: tuple

    ranges = {'rate_hz': (1.0, 10.0), 'count': (0, 3), 'origin_m': (-5.0, 5.0)}
    good = {'rate_hz': 2, 'count': 1, 'enabled': True, 'pattern': 'a', 'origin_m': [0, 1]}

    def parse(**over):
        return parse_params(P, {'n': {'ros__parameters': {**good, **over}}}, 'n', ranges,
                            'test', choices={'pattern': ('a', 'b')}, vectors={'origin_m': 2})

    params = parse()
    assert params.rate_hz == 2.0 and isinstance(params.rate_hz, float)
    assert params.origin_m == (0.0, 1.0)
    for over, key, words in [({'enabled': 1}, 'enabled', 'true or false'),
                             ({'pattern': 'c'}, 'pattern', 'must be one of'),
                             ({'origin_m': [0, 9]}, 'origin_m[1]', 'within [-5, 5]'),
                             ({'origin_m': [0]}, 'origin_m', 'list of 2'),
                             ({'count': 1.5}, 'count', 'integer')]:
        with pytest.raises(ConfigError) as err:
            parse(**over)
        assert err.value.key == key and words in str(err.value)
    with pytest.raises(ConfigError, match='cannot be read'):
        read_yaml(tmp_path / 'absent.yaml')
