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


def _stack_nodes(context, tmp_path):
    """The stack's nodes (lifecycle ones configured), built with their default parameters."""
    from rclpy.parameter import Parameter

    from space_miner.nodes.claw_controller import ClawControllerNode
    from space_miner.nodes.gait_controller import GaitControllerNode
    from space_miner.nodes.mission import MissionNode
    from space_miner.nodes.sampler import SamplerNode
    from space_miner.nodes.state_estimator import StateEstimatorNode
    from space_miner.nodes.terrain_perception import TerrainPerceptionNode

    nodes = [GaitControllerNode(context=context), StateEstimatorNode(context=context),
             TerrainPerceptionNode(context=context), MissionNode(context=context)]
    sampler = SamplerNode(context=context, parameter_overrides=[
        Parameter('sample_log_path', value=str(tmp_path / 'samples.jsonl'))])
    for lifecycle in (ClawControllerNode(context=context), sampler):
        lifecycle.trigger_configure()
        nodes.append(lifecycle)
    return nodes


def test_publishers_carry_no_qos_event_handlers_and_subscriptions_keep_theirs(tmp_path):
    """Every executor turn adds each handler to its wait set (``nodes/endpoints.py``)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    nodes = []
    try:
        nodes = _stack_nodes(context, tmp_path)
        for node in nodes:
            name = node.get_name()
            ours = [p for p in node.publishers if p.topic_name != '/parameter_events']  # rclpy's
            assert ours and node.subscriptions, name
            assert all(not p.event_handlers for p in ours), (name, [
                p.topic_name for p in ours if p.event_handlers])
            assert all(s.event_handlers for s in node.subscriptions), name
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
