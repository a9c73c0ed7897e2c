# SPDX-License-Identifier: Apache-2.0
"""Namespaces move the whole robot (issue 29): names, and every node's endpoints.

- interfaces.py's name helpers: a robot's names are relative and resolve under its
  namespace, ``/clock`` stays global, a namespace is recovered from recorded names;
- every node of the robot (the six stack nodes and the sim node), built with
  ``namespace='/r1'``, has every topic and service it publishes, subscribes, serves or calls
  under ``/r1`` (``/clock`` and rclpy's own ``/parameter_events`` aside): the names it uses
  in the root namespace, which are the declared ones as before, moved there.

``test_ros2_launch_two_robots.py`` runs two whole stacks under ``ros2 launch`` on one graph.
"""

import pytest

from space_miner import interfaces as itf

#: rclpy's own endpoints, global in every node.
RCLPY_GLOBAL = {'/parameter_events', '/rosout'}


@pytest.mark.parametrize('text, expected', [
    ('', ''), ('/', ''), (None, ''), ('r1', '/r1'), ('/r1', '/r1'), ('/r1/', '/r1'),
    ('fleet/r_2', '/fleet/r_2'),
])
def test_namespaces_are_normalised_to_absolute_without_a_trailing_slash(text, expected):
    assert itf.normalize_namespace(text) == expected


@pytest.mark.parametrize('text', ['1robot', 'r-1', 'r 1', '/r1//x', 'r1/~'])
def test_a_namespace_ros_would_refuse_is_refused_naming_it(text):
    with pytest.raises(ValueError, match='namespace'):
        itf.normalize_namespace(text)


def test_robot_names_are_relative_and_resolve_under_the_namespace_clock_stays_global():
    for spec in itf.TOPICS:
        if spec is itf.CLOCK:
            assert spec.ros_name == '/clock' and spec.resolved('/r1') == '/clock'
            continue
        assert spec.scope == 'robot', spec.name
        assert not spec.ros_name.startswith('/'), spec.name
        assert spec.resolved('') == spec.name          # a single robot: as before
        assert spec.resolved('r1') == '/r1' + spec.name
        assert itf.root_name(spec.resolved('/r1'), '/r1') == spec.name
    for srv in itf.SERVICES:
        assert srv.resolved('/r2') == '/r2' + srv.name and srv.resolved() == srv.name
    assert itf.root_name('/clock', '/r1') == '/clock'
    assert itf.root_name('/r2/odom', '/r1') is None    # another robot's
    assert dict(itf.TF_REMAPPINGS) == {'/tf': 'tf', '/tf_static': 'tf_static'}


def test_the_namespace_is_recovered_from_recorded_topic_names():
    one = [itf.JOINT_STATES.resolved('/r1'), itf.GROUND_TRUTH_ODOM.resolved('/r1'),
           '/r1/tf', '/clock', '/unrelated']
    # /r1/ground_truth/odom is /ground_truth/odom under /r1, not /odom under a namespace
    # /r1/ground_truth; /clock and undeclared names count for no robot.
    assert itf.namespaces_in(one) == {'/r1': 3}
    assert itf.namespaces_in([s.name for s in itf.TOPICS]) == {'': len(itf.TOPICS) - 1}
    two = [itf.ODOM.resolved('/r1'), itf.ODOM.resolved('/fleet/r2'), itf.ESTOP.resolved('/r1')]
    assert itf.namespaces_in(two) == {'/r1': 2, '/fleet/r2': 1}


# --- every node's endpoints ---------------------------------------------------------------

def _nodes(context, namespace, tmp_path):
    """The robot's seven nodes in ``namespace`` (lifecycle ones configured)."""
    from rclpy.parameter import Parameter

    from space_miner.nodes.claw_controller import ClawControllerNode
    from space_miner.nodes.gait_controller import GaitControllerNode
    from space_miner.nodes.mission import MissionNode
    from space_miner.nodes.sampler import SamplerNode
    from space_miner.nodes.state_estimator import StateEstimatorNode
    from space_miner.nodes.terrain_perception import TerrainPerceptionNode
    from space_miner.sim.sim_node import SimNode

    common = dict(context=context, namespace=namespace)
    nodes = [GaitControllerNode(**common), StateEstimatorNode(**common),
             TerrainPerceptionNode(**common), MissionNode(**common),
             SimNode(**common, parameter_overrides=[
                 Parameter('real_time_factor', value=0.0),
                 Parameter('camera_rate_hz', value=0.0),
                 Parameter('summary_path', value=str(tmp_path / 'summary.json'))])]
    sampler = SamplerNode(**common, parameter_overrides=[
        Parameter('sample_log_path', value=str(tmp_path / 'samples.jsonl'))])
    for lifecycle in (ClawControllerNode(**common), sampler):
        lifecycle.trigger_configure()
        nodes.append(lifecycle)
    return nodes


def _endpoints(node) -> dict:
    """``{kind: names}`` of what a node publishes, subscribes, serves and calls (ours only).

    Services under the node's own name (parameters, lifecycle, the sim's ``~/pause``) are
    rclpy's or private and move with the node's name: left out.
    """
    own = node.get_fully_qualified_name() + '/'
    return {
        'pub': {p.topic_name for p in node.publishers} - RCLPY_GLOBAL,
        'sub': {s.topic_name for s in node.subscriptions} - RCLPY_GLOBAL,
        'srv': {s.service_name for s in node.services if not s.service_name.startswith(own)},
        'cli': {c.service_name for c in node.clients if not c.service_name.startswith(own)},
    }


def _moved(names: set, namespace: str) -> set:
    """Root-namespace ``names`` as they are under ``namespace`` (global ones stay)."""
    return {n if n in itf.global_topic_names() else namespace + n for n in names}


def test_every_node_of_the_robot_has_every_endpoint_under_its_namespace(tmp_path):
    rclpy = pytest.importorskip('rclpy')

    context = rclpy.Context()
    rclpy.init(context=context)
    nodes = []
    try:
        for sub in ('a', 'b'):
            (tmp_path / sub).mkdir()
        nodes = _nodes(context, '', tmp_path / 'a')
        root = {n.get_name(): _endpoints(n) for n in nodes}
        nodes += _nodes(context, '/r1', tmp_path / 'b')
        moved = {n.get_name(): _endpoints(n) for n in nodes[len(root):]}
        assert set(moved) == set(root) and len(root) == 7
        declared = {s.name for s in itf.TOPICS} | {s.name for s in itf.SERVICES}
        seen = set()
        for name, got in moved.items():
            for kind, names in got.items():
                outside = {n for n in names if not n.startswith('/r1/')
                           and n not in itf.global_topic_names()}
                assert not outside, (name, kind, sorted(outside))
                # In the root namespace a node uses exactly the declared names, as before;
                # under /r1 the same names, moved.
                assert root[name][kind] <= declared, (name, kind, root[name][kind] - declared)
                assert names == _moved(root[name][kind], '/r1'), (name, kind)
                seen |= root[name][kind]
        # Between them the robot's nodes use every declared topic and service.
        assert seen == declared, sorted(declared - seen)
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
