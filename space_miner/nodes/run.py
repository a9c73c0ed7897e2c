# SPDX-License-Identifier: Apache-2.0
"""The one ``main()`` body every node shares: init, spin, clean shutdown.

Written for Jazzy's rclpy, where ``rclpy.init()`` is not yet a context manager.
"""

from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(factory: Callable[[], Node], args: list | None = None) -> None:
    """Create the node with ``factory`` and spin it until Ctrl-C or shutdown."""
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # SIGINT shuts the context down under a take in progress, which rclpy reports
        # as a RuntimeError; that is a clean stop. Anything else is not.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
