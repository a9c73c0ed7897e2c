# SPDX-License-Identifier: Apache-2.0
"""Shared test set-up: headless rendering, an isolated DDS domain per test session."""

import os
import random

import pytest

os.environ.setdefault('MUJOCO_GL', 'egl')
# Keep DDS traffic on this machine and away from other runs on it.
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.SystemRandom().randint(1, 100)))


@pytest.fixture
def graph():
    """A fresh rclpy context with an executor: yields (context, executor, add).

    ``add(node)`` puts a node on the executor; every added node is destroyed and the
    context shut down after the test.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []

    def add(node):
        nodes.append(node)
        executor.add_node(node)
        return node

    yield context, executor, add
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)
