# SPDX-License-Identifier: Apache-2.0
"""Real rclpy nodes on real Fast DDS exchange contract messages with the declared QoS."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from space_miner import interfaces  # noqa: E402

PUBLISHER = textwrap.dedent('''
    import sys, time
    import rclpy
    from sensor_msgs.msg import JointState
    from space_miner import interfaces
    rclpy.init()
    node = rclpy.create_node('contract_test_hardware')
    pub = node.create_publisher(JointState, interfaces.JOINT_STATES.name,
                                interfaces.JOINT_STATES.pub_qos.to_rclpy())
    deadline = time.monotonic() + float(sys.argv[1])
    count = 0
    while time.monotonic() < deadline:
        msg = JointState()
        msg.name = list(interfaces.ALL_JOINTS)
        msg.position = [float(count)] * len(msg.name)
        pub.publish(msg)
        count += 1
        rclpy.spin_once(node, timeout_sec=0.02)
    node.destroy_node()
    rclpy.shutdown()
''')


def _spin_until(executor, predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():
        executor.spin_once(timeout_sec=0.05)
    return predicate()


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def test_joint_states_cross_processes_with_contract_qos(context):
    """A hardware-side process publishes /joint_states; the stack's QoS receives it."""
    proc = subprocess.Popen([sys.executable, '-c', PUBLISHER, '20'], env=dict(os.environ))
    try:
        node = rclpy.create_node('contract_test_stack', context=context)
        received = []
        node.create_subscription(JointState, interfaces.JOINT_STATES.name, received.append,
                                 interfaces.JOINT_STATES.qos.to_rclpy())
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        assert _spin_until(executor, lambda: len(received) >= 5, 20.0), 'nothing arrived'
        msg = received[-1]
        assert tuple(msg.name) == interfaces.ALL_JOINTS
        positions = [m.position[0] for m in received]
        assert positions == sorted(positions)  # in order
        node.destroy_node()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_latched_topic_reaches_a_late_subscriber(context):
    """Transient-local state (gait mode, maps) is delivered to a node that joins later."""
    publisher_node = rclpy.create_node('latched_publisher', context=context)
    qos = interfaces.LATCHED_QOS.to_rclpy()
    pub = publisher_node.create_publisher(String, '/contract_test/latched', qos)
    pub.publish(String(data='first'))
    pub.publish(String(data='latest'))
    late = rclpy.create_node('late_subscriber', context=context)
    received = []
    late.create_subscription(String, '/contract_test/latched', received.append, qos)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(publisher_node)
    executor.add_node(late)
    assert _spin_until(executor, lambda: received, 10.0)
    assert [m.data for m in received] == ['latest']  # depth 1: only the last state
    late.destroy_node()
    publisher_node.destroy_node()
