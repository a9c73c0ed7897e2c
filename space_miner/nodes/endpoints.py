# SPDX-License-Identifier: Apache-2.0
"""Publishers of the contract's topics, made the same way in every node.

A publisher is created with the name nodes use (``ros_name``: relative, so the node's
namespace moves it), the type and the publisher QoS of its
:class:`space_miner.interfaces.TopicSpec`, and without rclpy's two default QoS event
handlers (incompatible QoS, incompatible type). rclpy gives every publisher and
subscription those two handlers, and its executors add each of them to the wait set they
rebuild in Python on every turn — at the stack's rates, thousands of turns a second, for a
gait controller with seven publishers fourteen handlers each turn. A publisher's handlers
only report that some subscriber asked for a profile it does not offer; that subscriber's
own handlers report it where the data goes missing, and the stack's subscriptions keep
theirs (so do rviz, ``ros2 topic echo`` and ``ros2 bag``).
"""

from typing import Any

from space_miner.interfaces import TopicSpec


def make_publisher(node: Any, spec: TopicSpec, msg_type: type, name: str | None = None):
    """Create ``node``'s publisher of ``spec`` (topic ``name`` if given) with its QoS."""
    from rclpy.event_handler import PublisherEventCallbacks
    return node.create_publisher(
        msg_type, name or spec.ros_name, spec.pub_qos.to_rclpy(),
        event_callbacks=PublisherEventCallbacks(use_default_callbacks=False))
