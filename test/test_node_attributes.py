# SPDX-License-Identifier: Apache-2.0
"""No node assigns an attribute rclpy's Node or LifecycleNode keeps for itself.

The sampler once kept its own lists in ``self._services`` and ``self._timers``: rclpy's
lists, so its lifecycle services fell out of the executor and nothing could configure it.
"""

import inspect
from pathlib import Path
import re

import pytest

rclpy = pytest.importorskip('rclpy')

import rclpy.lifecycle.node  # noqa: E402
import rclpy.node  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ASSIGNED = re.compile(r'self\.(_[A-Za-z]\w*)\s*(?::[^=\n]*)?=(?!=)')
NODE_FILES = sorted(ROOT.glob('space_miner/nodes/*.py')) + [
    ROOT / 'space_miner' / 'sim' / 'sim_node.py', ROOT / 'space_miner' / 'bag' / 'recorder.py']


def _rclpy_attributes():
    source = inspect.getsource(rclpy.node) + inspect.getsource(rclpy.lifecycle.node)
    return set(ASSIGNED.findall(source))


def test_rclpy_keeps_the_attributes_this_test_guards():
    assert {'_services', '_timers', '_publishers', '_subscriptions'} <= _rclpy_attributes()


@pytest.mark.parametrize('path', NODE_FILES, ids=lambda p: p.name)
def test_node_does_not_shadow_rclpy_attributes(path):
    clash = sorted(set(ASSIGNED.findall(path.read_text())) & _rclpy_attributes())
    assert not clash, f'{path.name} assigns rclpy-owned attributes {clash}'
