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

A stop that does not come. Python runs a signal's handler only when the main thread
executes bytecode, and an executor waiting with nothing due (a node on simulated time
after the simulator has gone: no message, no timer) sits in ``rcl_wait`` until rclpy's own
handler wakes it. A steady-clock timer of ``SIGNAL_POLL_S`` ends every wait within that
time, so the handler runs whether or not that wake-up arrives. Should the process still not
end, it says where it is stuck: SIGTERM (launch's next step after SIGINT) and a shutdown
longer than ``SHUTDOWN_DUMP_S`` print every thread's Python stack to stderr (faulthandler,
which needs neither the GIL nor the interpreter's cooperation).
"""

import faulthandler
import signal
from typing import Callable, Sequence

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

SIGNAL_POLL_S = 0.5
"""Longest wait of the executor [s] before a pending signal's Python handler runs."""

SHUTDOWN_DUMP_S = 4.0
"""Shutdown time [s] after which the stacks are printed: before launch's SIGTERM at 5 s."""


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
    if hasattr(faulthandler, 'register'):   # not on Windows
        faulthandler.register(signal.SIGTERM, all_threads=True, chain=True)
    nodes = []
    try:
        executor = SingleThreadedExecutor()
        for factory in factories:
            nodes.append(factory())
            executor.add_node(nodes[-1])
        nodes[0].create_timer(SIGNAL_POLL_S, _wake,
                              clock=Clock(clock_type=ClockType.STEADY_TIME))
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # A take interrupted by Ctrl-C (see the module docstring) or cut by a shutdown
        # from elsewhere is a clean stop; any other RuntimeError is a fault.
        if rclpy.ok() and not interrupt.received:
            raise
    finally:
        faulthandler.dump_traceback_later(SHUTDOWN_DUMP_S, exit=False)
        try:
            for node in reversed(nodes):
                node.destroy_node()
            rclpy.try_shutdown()
        finally:
            faulthandler.cancel_dump_traceback_later()


def _wake() -> None:
    """Do nothing: the timer's expiry alone returns the executor to Python."""
