# SPDX-License-Identifier: Apache-2.0
"""The one ``main()`` body every node process shares: init, spin, clean shutdown.

Written for Jazzy's rclpy, where ``rclpy.init()`` is not yet a context manager.

Ctrl-C. rclpy's own SIGINT handler wakes the executor and then calls the Python handler
that was in place at ``rclpy.init()``, which raises ``KeyboardInterrupt`` in the main
thread at its next bytecode. When that bytecode belongs to the conversion of a message
being taken, pybind11 reports the interrupted conversion as a ``RuntimeError`` ("Unable
to convert call argument '0' to Python object") and the ``KeyboardInterrupt`` is lost; the
context is not shut down yet either, so ``rclpy.ok()`` cannot tell that case from a real
fault. The handler installed here therefore records the signal before raising, and a
``RuntimeError`` after it counts as the clean stop it is.
"""

import signal
from typing import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


class _Interrupt:
    """SIGINT handler that remembers it ran, then raises ``KeyboardInterrupt`` as usual."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum: int, frame: object) -> None:
        self.received = True
        raise KeyboardInterrupt


def run_node(factory: Callable[[], Node], args: list | None = None) -> None:
    """Create the node with ``factory`` and spin it until Ctrl-C or shutdown."""
    run_nodes([factory], args)


def run_nodes(factories: Sequence[Callable[[], Node]], args: list | None = None) -> None:
    """Create a node with each factory, in order, and spin them all with one executor.

    One process, one single-threaded executor: the nodes' callbacks never run at the same
    time, as for a node of its own. Until Ctrl-C or shutdown; every node created is
    destroyed, the last first.
    """
    interrupt = _Interrupt()
    signal.signal(signal.SIGINT, interrupt)  # before rclpy.init(), which chains to it
    rclpy.init(args=args)
    nodes = []
    try:
        executor = SingleThreadedExecutor()
        for factory in factories:
            nodes.append(factory())
            executor.add_node(nodes[-1])
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # A take interrupted by Ctrl-C (see the module docstring) or cut by a shutdown
        # from elsewhere is a clean stop; any other RuntimeError is a fault.
        if rclpy.ok() and not interrupt.received:
            raise
    finally:
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()
