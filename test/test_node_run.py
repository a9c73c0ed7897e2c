# SPDX-License-Identifier: Apache-2.0
"""``nodes.run.run_node``, the ``main()`` of every node, in a real process on real DDS.

Ctrl-C that lands while rclpy converts a message being taken reaches the node as a
``RuntimeError`` from pybind11, not as ``KeyboardInterrupt`` (the CI run of the
``sim.launch.py`` Ctrl-C test saw the gait controller exit 1 that way). The child below
makes that happen every time: the message class's constructor, which the conversion
calls, sends the process its own SIGINT. A ``RuntimeError`` with no signal behind it must
still end the process with an error. A node whose wait nothing wakes (rclpy's own signal
handlers removed, no timer, no message) still ends on SIGINT, and one whose shutdown hangs
prints where. Also ``live._activate_remote``, which brings the
lifecycle nodes of other processes up as launch does.
"""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

NODE = textwrap.dedent('''
    import os, signal, sys
    from rclpy.node import Node
    from std_msgs.msg import String
    from space_miner.nodes.run import run_node

    MODE = sys.argv[1]
    armed = [False]
    plain_init = String.__init__

    def init(self, *args, **kwargs):
        # Only the conversion of a taken message calls the constructor with no argument.
        if armed[0] and not args and not kwargs:
            armed[0] = False
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))  # bytecodes for the pending Python handler to run in
        plain_init(self, *args, **kwargs)

    String.__init__ = init


    class Talker(Node):
        def __init__(self):
            super().__init__('run_node_probe')
            self.create_subscription(String, 'run_node_probe', self._on_message, 10)
            self.pub = self.create_publisher(String, 'run_node_probe', 10)
            self.create_timer(0.1, self._tick)

        def _tick(self):
            self.pub.publish(String(data='x'))
            armed[0] = MODE == 'interrupt'

        def _on_message(self, msg):
            if MODE == 'fault':
                raise RuntimeError('a fault of the node')


    run_node(Talker)
    print('run_node returned')
''')


QUIET_NODE = textwrap.dedent('''
    import sys, time
    from rclpy.node import Node
    from rclpy.signals import uninstall_signal_handlers
    from space_miner.nodes.run import run_node

    MODE = sys.argv[1]


    class Quiet(Node):
        """No timer, no subscription: its executor waits until something wakes it."""

        def __init__(self):
            super().__init__('run_node_quiet')
            if MODE == 'unwoken':
                uninstall_signal_handlers()  # SIGINT reaches Python's handler alone
            print('ready', flush=True)

        def destroy_node(self):
            if MODE == 'slow_shutdown':
                time.sleep(6.0)  # longer than SHUTDOWN_DUMP_S
            super().destroy_node()


    run_node(Quiet)
    print('run_node returned', flush=True)
''')


def _interrupted(mode: str) -> tuple[subprocess.CompletedProcess, float]:
    """Start QUIET_NODE in ``mode``, send SIGINT once it is up; its result, stop time [s]."""
    process = subprocess.Popen([sys.executable, '-c', QUIET_NODE, mode],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == 'ready', process.stderr.read()
        time.sleep(1.0)  # inside executor.spin()
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err), \
            time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_ctrl_c_ends_a_node_whose_wait_nothing_wakes():
    from space_miner.nodes.run import SIGNAL_POLL_S
    result, stop_s = _interrupted('unwoken')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'run_node returned' in result.stdout
    assert stop_s < SIGNAL_POLL_S + 3.0, stop_s


def test_a_shutdown_that_hangs_prints_where():
    result, stop_s = _interrupted('slow_shutdown')
    assert result.returncode == 0, result.stderr[-3000:]
    assert stop_s >= 6.0
    stack = result.stderr[result.stderr.index('Thread'):]
    assert 'in destroy_node' in stack and 'run_node' in stack, result.stderr[-3000:]


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', NODE, mode], capture_output=True,
                          text=True, timeout=60)


def test_ctrl_c_during_a_take_ends_the_node_cleanly():
    result = _run('interrupt')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'run_node returned' in result.stdout
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]


def test_a_runtime_error_without_a_signal_still_ends_the_node_with_an_error():
    result = _run('fault')
    assert result.returncode != 0
    assert 'a fault of the node' in result.stderr
    assert 'run_node returned' not in result.stdout


def _lifecycle_graph():
    """A lifecycle node and a caller node on one context, spun in a background thread."""
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import LifecycleNode

    context = rclpy.Context()
    rclpy.init(context=context)
    target = LifecycleNode('activate_probe', context=context)
    caller = rclpy.create_node('activate_caller', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(target)
    executor.add_node(caller)
    threading.Thread(target=executor.spin, daemon=True).start()
    return context, executor, target, caller


def _end(context, executor, *nodes):
    import rclpy
    executor.shutdown(timeout_sec=5.0)
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown(context=context)


@pytest.mark.parametrize('configured_before', [False, True])
def test_activate_remote_brings_a_lifecycle_node_to_active(configured_before):
    """A configure that fails because the node is already configured still counts."""
    from lifecycle_msgs.srv import GetState

    from space_miner.live import _activate_remote, _call

    context, executor, target, caller = _lifecycle_graph()
    try:
        if configured_before:
            target.trigger_configure()
        _activate_remote(caller, ['activate_probe'], timeout_s=30.0)
        client = caller.create_client(GetState, '/activate_probe/get_state')
        state = _call(client, GetState.Request(), 10.0)
        assert state is not None and state.current_state.label == 'active', state
    finally:
        _end(context, executor, target, caller)
