# SPDX-License-Identifier: Apache-2.0
"""Declaring a node's parameters: descriptors with ranges here, defaults from config/*.yaml.

Each node lists its parameters once as :class:`ParamSpec` (type, range, unit, meaning);
the default values live in the node's section of a ``config/<file>.yaml`` in ROS
parameter-file form and nowhere else. :func:`declare_parameters` declares them with
descriptors (so ``ros2 param describe`` shows the range), refuses out-of-range values at
start (rclpy raises) and at run time (an on-set callback), and returns a frozen snapshot.
"""

from dataclasses import dataclass
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import yaml

from space_miner.core.robot import ConfigError
from space_miner.paths import config_path


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, Python type, inclusive range (numbers), unit and meaning."""

    name: str
    kind: type  # float, int, str or bool
    description: str
    unit: str = ''
    lo: float | None = None
    hi: float | None = None
    read_only: bool = False

    def check(self, value: Any) -> str:
        """Empty when ``value`` is acceptable, else why not."""
        if self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f'{self.name} = {value!r}: must be a number'
            if not math.isfinite(float(value)):
                return f'{self.name} = {value!r}: must be finite'
        elif self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return f'{self.name} = {value!r}: must be an integer'
        elif not isinstance(value, self.kind):
            return f'{self.name} = {value!r}: must be a {self.kind.__name__}'
        if self.lo is not None and value < self.lo or self.hi is not None and value > self.hi:
            return f'{self.name} = {value!r}: outside [{self.lo:g}, {self.hi:g}] {self.unit}'
        return ''


def load_defaults(file_name: str, node_name: str, specs: Sequence[ParamSpec],
                  path: str | Path | None = None) -> dict:
    """Read the node's defaults from ``config/<file_name>`` and check them against specs."""
    path = Path(path) if path is not None else config_path(file_name)
    with open(path, encoding='utf-8') as handle:
        data = yaml.safe_load(handle) or {}
    try:
        values = data[node_name]['ros__parameters']
    except (KeyError, TypeError):
        raise ConfigError(f'{node_name}.ros__parameters', None, 'missing key',
                          str(path)) from None
    known = {spec.name for spec in specs}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f'{node_name}.ros__parameters.{unknown[0]}', values[unknown[0]],
                          'unknown parameter', str(path))
    out = {}
    for spec in specs:
        if spec.name not in values:
            raise ConfigError(f'{node_name}.ros__parameters.{spec.name}', None, 'missing key',
                              str(path))
        value = values[spec.name]
        if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        why = spec.check(value)
        if why:
            raise ConfigError(f'{node_name}.ros__parameters.{spec.name}', value, why, str(path))
        out[spec.name] = value
    return out


def declare_parameters(node: Any, specs: Sequence[ParamSpec],
                       defaults: Mapping[str, Any]) -> Mapping[str, Any]:
    """Declare ``specs`` on an rclpy node with descriptors; return a read-only snapshot.

    Values given at start (command line, launch, ``parameter_overrides``) outside their
    range make rclpy raise, so the node does not start half-configured; later changes out
    of range are rejected by the on-set callback with the reason.
    """
    from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                    SetParametersResult)

    for spec in specs:
        unit = f' [{spec.unit}]' if spec.unit else ''
        descriptor = ParameterDescriptor(description=f'{spec.description}{unit}',
                                         read_only=spec.read_only)
        if spec.kind is float and spec.lo is not None:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(spec.lo), to_value=float(spec.hi), step=0.0)]
        elif spec.kind is int and spec.lo is not None:
            descriptor.integer_range = [IntegerRange(
                from_value=int(spec.lo), to_value=int(spec.hi), step=1)]
        node.declare_parameter(spec.name, defaults[spec.name], descriptor)

    by_name = {spec.name: spec for spec in specs}

    def _on_set(parameters):
        for parameter in parameters:
            spec = by_name.get(parameter.name)
            if spec is None:
                continue
            why = spec.check(parameter.value)
            if why:
                return SetParametersResult(successful=False, reason=why)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(_on_set)
    values = {spec.name: node.get_parameter(spec.name).value for spec in specs}
    for spec in specs:  # a type rclpy lets through (int for float) still gets checked
        why = spec.check(values[spec.name])
        if why:
            raise ValueError(why)
    return MappingProxyType(values)
