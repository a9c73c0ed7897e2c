# SPDX-License-Identifier: Apache-2.0
"""Checking a node's parameter file into a frozen dataclass: one piece of code for all.

A core component's parameters are a frozen dataclass whose defaults live only in
``config/<node>.yaml`` (ROS parameter-file form, ``<node>: {ros__parameters: {...}}``).
:func:`parse_params` refuses unknown and missing keys and values of the wrong type or
outside their range, with a :class:`~space_miner.core.robot.ConfigError` naming the key;
a field's type (int, bool, float, tuple) says how it is checked.
"""

from dataclasses import fields
import math
from typing import Any, Mapping


from space_miner.core.robot import ConfigError, read_yaml  # noqa: F401 (re-exported)


def node_section(data: Any, node_name: str, source: str) -> Mapping:
    """Return the ``ros__parameters`` mapping of a whole file, or ``data`` if already flat."""
    if isinstance(data, Mapping) and node_name in data:
        node = data[node_name]
        if not isinstance(node, Mapping) or 'ros__parameters' not in node:
            raise ConfigError(f'{node_name}.ros__parameters', None, 'missing key', source)
        data = node['ros__parameters']
    if not isinstance(data, Mapping):
        raise ConfigError('<file>', data, 'must be a mapping of parameters', source)
    return data


def check_number(key: str, value: Any, low: float, high: float, integer: bool,
                 source: str) -> float | int:
    """Return ``value`` as a float (or int) within [low, high], or raise naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, value, 'must be a number', source)
    if integer and not isinstance(value, int):
        raise ConfigError(key, value, 'must be an integer', source)
    if not math.isfinite(value):
        raise ConfigError(key, value, 'must be finite', source)
    if not low <= value <= high:
        raise ConfigError(key, value, f'must be within [{low:g}, {high:g}]', source)
    return int(value) if integer else float(value)


def _kind(field_type: Any) -> str:
    text = field_type if isinstance(field_type, str) else getattr(field_type, '__name__', '')
    return text.split('[')[0]


def parse_params(cls: type, data: Any, node_name: str, ranges: Mapping[str, tuple],
                 source: str, *, choices: Mapping[str, tuple] | None = None,
                 vectors: Mapping[str, int] | None = None) -> Any:
    """Check a parameter file (or its flat mapping) and build the dataclass ``cls``.

    ``ranges`` maps each numeric key to (low, high); an ``int`` field must be an integer,
    a ``bool`` field true or false; ``choices`` maps a key to its allowed values;
    ``vectors`` maps a key to its length (each element checked against the key's range).
    """
    data = node_section(data, node_name, source)
    names = [f.name for f in fields(cls)]
    for key in data:
        if key not in names:
            raise ConfigError(str(key), data[key], 'unknown parameter', source)
    choices = choices or {}
    vectors = vectors or {}
    values = {}
    for f in fields(cls):
        key = f.name
        if key not in data:
            raise ConfigError(key, None, 'missing key', source)
        value = data[key]
        kind = _kind(f.type)
        if kind == 'bool':
            if not isinstance(value, bool):
                raise ConfigError(key, value, 'must be true or false', source)
        elif key in choices:
            if value not in choices[key]:
                raise ConfigError(key, value, f'must be one of {list(choices[key])}', source)
        elif key in vectors:
            length = vectors[key]
            if not isinstance(value, (list, tuple)) or len(value) != length:
                raise ConfigError(key, value, f'must be a list of {length} numbers', source)
            low, high = ranges[key]
            value = tuple(check_number(f'{key}[{i}]', v, low, high, False, source)
                          for i, v in enumerate(value))
        else:
            low, high = ranges[key]
            value = check_number(key, value, low, high, kind == 'int', source)
        values[key] = value
    return cls(**values)
