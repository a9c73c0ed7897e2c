# SPDX-License-Identifier: Apache-2.0
"""space_miner/core stays pure: no rclpy, no message package, imported or reachable."""

import ast
from pathlib import Path
import subprocess
import sys

import pytest

CORE = Path(__file__).resolve().parent.parent / 'space_miner' / 'core'
FORBIDDEN = ('rclpy', 'std_msgs', 'geometry_msgs', 'sensor_msgs', 'nav_msgs',
             'trajectory_msgs', 'visualization_msgs', 'diagnostic_msgs', 'std_srvs',
             'rosgraph_msgs', 'builtin_interfaces', 'lifecycle_msgs', 'tf2_ros', 'tf2_msgs',
             'rcl_interfaces', 'launch', 'launch_ros')
CORE_MODULES = sorted(CORE.glob('*.py'))


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize('path', CORE_MODULES, ids=lambda p: p.name)
def test_core_module_has_no_ros_import(path):
    bad = [name for name in _imports(path) if name.split('.')[0] in FORBIDDEN]
    assert not bad, f'{path.name} imports {bad}'


def test_importing_all_of_core_loads_no_ros_module():
    names = [f'space_miner.core.{p.stem}' for p in CORE_MODULES if p.stem != '__init__']
    code = ('import sys\n' + ''.join(f'import {n}\n' for n in names)
            + f'bad = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})\n'
            + 'print(",".join(bad))\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '', f'core pulled in: {result.stdout.strip()}'


def test_the_purity_check_would_catch_a_violation(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('from rclpy.node import Node\nimport numpy\n')
    assert [n for n in _imports(bad) if n.split('.')[0] in FORBIDDEN] == ['rclpy.node']
