# SPDX-License-Identifier: Apache-2.0
"""The claw_controller node's loop on the live graph: rate, period error, latency.

The node runs in a dedicated process (this file with ``--serve``: the real
:class:`~space_miner.nodes.claw_controller.ClawControllerNode`, configured and activated,
with a timestamp taken on each ``/joint_states`` arrival). This process plays the hardware
over real DDS, in a DDS domain of its own: every 2 ms (500 Hz) it publishes the three wrist
wrenches and a ``/joint_states`` whose claw efforts echo the last squeeze commands (a
perfect actuator, so the force loop is closed), after a grip request at 120 N.

Figures:

* ``claw_loop_rate_hz``: steps per second the node made while fed at 500 Hz;
* ``claw_loop_period_error_p99_ms``: p99 of | step period - 2 ms |, from the node's own
  timestamps;
* ``claw_latency_p50_ms``, ``claw_latency_p99_ms``: ``/joint_states`` published ->
  ``/claw_effort_controller/commands`` received here (across processes, through both
  executors; the DDS floor here is about 0.18 ms one way);
* ``claw_loop_missed_pct``: inputs with no command back within 20 ms;
* ``claw_input_rate_hz``, ``claw_input_period_error_p99_ms``: the same figures of the input
  as this process sent it. On a loaded machine the feeder itself falls behind; the node's
  figures are to be read against these.

Run: ``.venv/bin/python bench/run_all.py claw_loop`` (about 15 s).
"""

import os
from pathlib import Path
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

PERIOD_S = 0.002
STEPS = 2500            # 5 s at 500 Hz
WARMUP_STEPS = 500
REPLY_TIMEOUT_S = 0.02
ROUND_TRIP_CAP_S = 30.0


def _serve(out_path: str) -> None:
    """Run the claw controller node, timing each step, until SIGTERM; save the timings."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from space_miner.nodes import conversions as cv
    from space_miner.nodes.claw_controller import ClawControllerNode

    class TimedNode(ClawControllerNode):
        """The node as shipped, with the arrival time and stamp of each step recorded."""

        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.arrivals: list = []

        def _on_joint_states(self, msg) -> None:
            self.arrivals.append((cv.from_stamp(msg.header.stamp), time.perf_counter()))
            super()._on_joint_states(msg)

    from rclpy.signals import SignalHandlerOptions

    stop = []
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    node = TimedNode()
    node.trigger_configure()
    node.trigger_activate()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    print('ready', flush=True)
    while not stop:
        executor.spin_once(timeout_sec=0.05)
    np.save(out_path, np.asarray(node.arrivals, dtype=float).reshape(-1, 2))
    node.destroy_node()
    rclpy.try_shutdown()


def run() -> dict:
    """Start the node in its own process, feed it at 500 Hz, return the loop figures."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from geometry_msgs.msg import WrenchStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray, String

    from space_miner import interfaces as itf
    from space_miner.core.gait_types import ClawAction, ClawRequest, encode_claw_requests
    from space_miner.nodes import conversions as cv

    domain = random.SystemRandom().randint(120, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    tmp = tempfile.mkdtemp(prefix='bench_claw_loop_')
    out_path = str(Path(tmp) / 'arrivals.npy')
    server = subprocess.Popen([sys.executable, __file__, '--serve', out_path], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        assert server.stdout.readline().strip() == 'ready', 'claw controller did not start'
        node = rclpy.create_node('bench_claw_hardware', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        received = []
        last = {'efforts': [0.0, 0.0, 0.0]}

        def on_command(msg):
            received.append(time.perf_counter())
            last['efforts'] = list(msg.data)

        node.create_subscription(Float64MultiArray, itf.CLAW_COMMANDS.name, on_command,
                                 itf.CLAW_COMMANDS.qos.to_rclpy())
        joints = node.create_publisher(JointState, itf.JOINT_STATES.name,
                                       itf.JOINT_STATES.pub_qos.to_rclpy())
        wrenches = [node.create_publisher(WrenchStamped, s.name, s.pub_qos.to_rclpy())
                    for s in itf.FT_WRENCHES]
        requests = node.create_publisher(String, itf.CLAW_REQUESTS.name,
                                         itf.CLAW_REQUESTS.qos.to_rclpy())
        names = list(itf.CLAW_JOINTS)
        grip = String(data=encode_claw_requests(tuple(
            ClawRequest(c, ClawAction.GRIP, 120.0) for c in itf.CLAW_LEGS)))

        def send(t_s: float) -> float:
            for pub, claw in zip(wrenches, itf.CLAW_LEGS):
                pub.publish(cv.wrench_msg(t_s, f'{claw}_ft_link', (5.0, 0.0, 0.0),
                                          (0.0, 0.0, 0.0)))
            msg = cv.joint_state_msg(t_s, names, [0.015] * 3, [0.0] * 3, last['efforts'])
            sent = time.perf_counter()
            joints.publish(msg)
            return sent

        # Discovery and warm-up: the loop runs (and grips) before anything is measured.
        deadline = time.monotonic() + ROUND_TRIP_CAP_S
        t_s = 1.0
        while len(received) < WARMUP_STEPS and time.monotonic() < deadline:
            t_s += PERIOD_S
            requests.publish(grip)
            send(t_s)
            executor.spin_once(timeout_sec=PERIOD_S)
        assert len(received) >= WARMUP_STEPS, 'no commands from the claw controller'
        measure_from_s = t_s + PERIOD_S / 2
        latencies, missed, sent_at = [], 0, []
        start = time.perf_counter() + 0.01
        for k in range(STEPS):
            due = start + k * PERIOD_S
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            t_s += PERIOD_S
            count = len(received)
            sent = send(t_s)
            sent_at.append(sent)
            give_up = sent + REPLY_TIMEOUT_S
            while len(received) == count and time.perf_counter() < give_up:
                executor.spin_once(timeout_sec=REPLY_TIMEOUT_S)
            if len(received) > count:
                latencies.append(received[count] - sent)
            else:
                missed += 1
        node.destroy_node()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20.0)
        except subprocess.TimeoutExpired:
            server.kill()
        rclpy.shutdown(context=context)
    arrivals = np.load(out_path)
    shutil.rmtree(tmp, ignore_errors=True)
    steps = arrivals[arrivals[:, 0] >= measure_from_s, 1]
    periods = np.diff(steps)
    latency_ms = np.asarray(latencies) * 1000.0
    input_periods = np.diff(np.asarray(sent_at))
    return {
        'claw_loop_rate_hz': float((len(steps) - 1) / (steps[-1] - steps[0])),
        'claw_loop_period_error_p99_ms': float(
            np.percentile(np.abs(periods - PERIOD_S), 99) * 1000.0),
        'claw_input_rate_hz': float((len(sent_at) - 1) / (sent_at[-1] - sent_at[0])),
        'claw_input_period_error_p99_ms': float(
            np.percentile(np.abs(input_periods - PERIOD_S), 99) * 1000.0),
        'claw_latency_p50_ms': float(np.percentile(latency_ms, 50)),
        'claw_latency_p99_ms': float(np.percentile(latency_ms, 99)),
        'claw_loop_missed_pct': 100.0 * missed / STEPS,
    }


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--serve':
        _serve(sys.argv[2])
    else:
        for key, value in run().items():
            print(f'{key:36s} {value:10.4g}')
