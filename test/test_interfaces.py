# SPDX-License-Identifier: Apache-2.0
"""interfaces.py: every type importable, QoS as declared, budget kept, README table true."""

from pathlib import Path

import pytest

from space_miner import interfaces

ROOT = Path(__file__).resolve().parent.parent
STACK_NODES = ('state_estimator', 'terrain_perception', 'gait_controller', 'claw_controller',
               'mission', 'sampler')


@pytest.mark.parametrize('spec', interfaces.TOPICS, ids=lambda s: s.name)
def test_every_topic_type_is_importable_and_rate_is_sane(spec):
    cls = interfaces.msg_class(spec.msg_type)
    assert cls.__name__ == spec.msg_type.split('/')[-1]
    assert spec.rate_hz >= 0.0
    assert spec.name.startswith('/')


@pytest.mark.parametrize('srv', interfaces.SERVICES, ids=lambda s: s.name)
def test_every_service_type_is_importable(srv):
    cls = interfaces.msg_class(srv.srv_type)
    assert hasattr(cls, 'Request') and hasattr(cls, 'Response')


def test_topic_names_are_unique_and_lookup_refuses_undeclared_names():
    names = [t.name for t in interfaces.TOPICS]
    assert len(names) == len(set(names))
    with pytest.raises(KeyError, match='not declared'):
        interfaces.topic('/no_such_topic')


def test_qos_profiles_map_to_rclpy_as_declared():
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
    latched = interfaces.LATCHED_QOS.to_rclpy()
    assert latched.durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert latched.reliability == ReliabilityPolicy.RELIABLE
    assert latched.depth == 1
    sensor = interfaces.SENSOR_QOS.to_rclpy()
    assert sensor.reliability == ReliabilityPolicy.BEST_EFFORT
    assert sensor.durability == DurabilityPolicy.VOLATILE


def test_design_qos_rules():
    for spec in interfaces.TOPICS:
        if spec.side == 'hardware' and spec.publisher == 'hardware':
            assert spec.qos is interfaces.SENSOR_QOS, spec.name  # sensor streams
        if spec.side == 'operator' and spec.name != '/diagnostics':
            assert spec.qos is interfaces.OPERATOR_QOS, spec.name  # as rviz/teleop publish
        if spec.publisher == 'hardware' or spec.side == 'operator':
            continue
        if spec.name.endswith('/commands'):
            assert spec.qos is interfaces.COMMAND_QOS, spec.name


def test_message_budget_per_process_under_70_percent():
    """All stack nodes composed in one process must stay under 70 % of the executor budget."""
    budget = interfaces.EXECUTOR_BUDGET_MSGS_PER_S * interfaces.EXECUTOR_BUDGET_FRACTION
    composed = interfaces.subscriber_load(STACK_NODES)
    assert composed < budget, f'{composed:.0f} msg/s planned, budget {budget:.0f}'
    for node in STACK_NODES:  # and so, each node in its own process
        assert interfaces.subscriber_load((node,)) < budget
    # The check can fail: a made-up 10 kHz stream to every node breaks it.
    assert interfaces.subscriber_load(STACK_NODES) + 10000.0 > budget


def test_command_joint_orders_cover_every_actuated_joint_once():
    flat = [j for joints in interfaces.COMMAND_JOINTS.values() for j in joints]
    assert sorted(flat) == sorted(interfaces.ALL_JOINTS)
    assert len(interfaces.LEG_JOINTS) == 18


def test_readme_interface_table_is_generated_from_interfaces():
    readme = (ROOT / 'README.md').read_text()
    begin = '<!-- interfaces:begin (python -m space_miner.interfaces) -->'
    end = '<!-- interfaces:end -->'
    assert begin in readme and end in readme
    table = readme.split(begin)[1].split(end)[0].strip()
    assert table == interfaces.markdown_table().strip(), \
        'README interface table is stale: paste `python -m space_miner.interfaces`'
