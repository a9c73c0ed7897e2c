# SPDX-License-Identifier: Apache-2.0
"""``space-miner sim``: one scenario on the live ROS graph, recorded, summarised.

The sim node and every stack node run on real rclpy and Fast DDS: the sim node in this
process, the six stack nodes composed in one process of their own with one executor
(:mod:`space_miner.nodes.stack`, as on a robot's computer, the hardware apart), or each in
its own process with ``processes=True``. Every process spins one single-threaded executor
(rclpy's multi-threaded one polls its wait set while its workers run, which cost the sim's
process ~6 s of CPU per simulated second). The sim node keeps its world from running
ahead of the stack (``max_stack_lag_s`` in ``config/sim.yaml``): on a machine too slow for
real time the run slows down instead of starving the stack.
A monitor node follows ``/clock``, ``/ground_truth/odom``, ``/gait/mode``,
``/mission/status`` and ``/sampler/mass`` for the progress bar and the summary; a
recorder writes the contract topics to an MCAP rosbag2 bag (plus ``/tf``, ``/tf_static``
and ``/robot_description``). The run ends when the mission reports done, at the
scenario's time limit, when the robot detaches, or on SIGINT/SIGTERM — always closing the
bag and writing the summary (JSON, atomically, plus a short Markdown file) with the
reason. The never-detach rule is judged by the sim node from the world's truth.

A bag cut short by SIGKILL keeps every chunk flushed before the kill (the recorder
flushes every second); ``space-miner analyze`` reads it up to its last whole record.

``namespace`` (``space-miner sim --namespace r1``) puts the whole robot under it — the sim
node, the stack, the monitor's subscriptions and the recording (``/r1/odom``, ...; ``/clock``
stays global) — with ``/tf`` and ``/tf_static`` remapped into it, as the launch files do.
"""

from dataclasses import dataclass
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

import numpy as np

from space_miner import interfaces as itf
from space_miner.core.scenario import load_scenario
from space_miner.sim.run_record import Progress, RunRecord, write_markdown
from space_miner.sim.summary import write_json

__all__ = ['LiveGraph', 'LiveOptions', 'Progress', 'run_live', 'stack_overrides',
           'write_markdown']

#: The stack's nodes: (module, class, lifecycle?) — one node per concern.
STACK = (
    ('space_miner.nodes.state_estimator', 'StateEstimatorNode', False),
    ('space_miner.nodes.terrain_perception', 'TerrainPerceptionNode', False),
    ('space_miner.nodes.claw_controller', 'ClawControllerNode', True),
    ('space_miner.nodes.gait_controller', 'GaitControllerNode', False),
    ('space_miner.nodes.sampler', 'SamplerNode', True),
    ('space_miner.nodes.mission', 'MissionNode', False),
)


@dataclass
class LiveOptions:
    """How to run: scenario file, outputs, real-time factor, composition."""

    scenario: str | None = None
    summary: Path = Path('space_miner_summary.json')
    bag: Path | None = Path('space_miner_bag')
    processes: bool = False
    real_time_factor: float = 1.0
    time_limit_s: float | None = None
    camera_size: tuple = (320, 240)
    seed: int | None = None
    namespace: str = ''               # the robot's namespace ('' : the root)


class _Monitor:
    """Follows the graph for the progress bar and the summary (an rclpy node).

    Feeds a :class:`space_miner.sim.run_record.RunRecord` from ``/clock``,
    ``/ground_truth/odom``, ``/gait/mode``, ``/mission/status``, ``/sampler/mass``, and keeps
    the last ``/diagnostics`` status of every node.
    """

    def __init__(self, context, namespace: str = '') -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import Odometry
        from rosgraph_msgs.msg import Clock
        from std_msgs.msg import Float64, String

        self.node = rclpy.create_node('space_miner_monitor', context=context,
                                      namespace=namespace)
        self.record = RunRecord()
        self.progress = self.record.progress
        self.diagnostics: dict = {}
        record = self.record
        sub = self.node.create_subscription
        sub(Clock, itf.CLOCK.ros_name,
            lambda m: record.on_time(m.clock.sec + 1e-9 * m.clock.nanosec),
            itf.CLOCK.qos.to_rclpy())
        sub(Odometry, itf.GROUND_TRUTH_ODOM.ros_name,
            lambda m: record.on_position(m.pose.pose.position.x, m.pose.pose.position.y),
            itf.GROUND_TRUTH_ODOM.qos.to_rclpy())
        sub(String, itf.GAIT_MODE.ros_name, lambda m: record.on_mode(m.data),
            itf.GAIT_MODE.qos.to_rclpy())
        sub(String, itf.MISSION_STATUS.ros_name, lambda m: record.on_mission(m.data),
            itf.MISSION_STATUS.qos.to_rclpy())
        sub(Float64, itf.SAMPLER_MASS.ros_name, lambda m: record.on_mass(m.data),
            itf.SAMPLER_MASS.qos.to_rclpy())
        sub(DiagnosticArray, itf.DIAGNOSTICS.ros_name, self._on_diagnostics,
            itf.DIAGNOSTICS.qos.to_rclpy())

    def close_mode_time(self) -> dict:
        return self.record.gait_time_s()

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = (status.level, status.message,
                                             {kv.key: kv.value for kv in status.values})


def node_arguments(namespace: str) -> list:
    """``--ros-args`` a node of the robot gets: its namespace, and tf remapped into it."""
    args = ['-r', f'__ns:={namespace}'] if namespace else []
    for name, relative in itf.TF_REMAPPINGS:
        args += ['-r', f'{name}:={relative}']
    return args


#: An empty string on a ``--ros-args -p`` command line.
EMPTY = '""'


def stack_overrides(module_name: str, scenario: object, scenario_path: str,
                    run_dir: Path | None) -> dict:
    """Parameters the run sets on a stack node, as the harness sets its components.

    Every node runs on sim time; the gait controller and the mission read the scenario
    (the body, its waypoints); the estimator starts at the scenario's start pose (odom is
    the patch frame, as in the harness), knows the body's gravity, and does not fuse the
    simulated IMU's orientation, which is exact (a real IMU's is not). The sampler keeps
    its sample log in the run's directory (``run_dir``; None: where its config says).
    ``module_name`` is the node's module (``space_miner.nodes.<node name>``);
    ``stack.launch.py`` sets the same parameters from its ``scenario`` argument.
    """
    values = {'use_sim_time': True}
    name = module_name.rsplit('.', 1)[1]
    if name in ('mission', 'gait_controller'):
        values['scenario'] = scenario_path
    if name == 'sampler' and run_dir is not None:
        values['sample_log_path'] = str(run_dir / 'samples.jsonl')
    if name == 'state_estimator':
        x, y, yaw = scenario.mission.start
        values.update(initial_x_m=float(x), initial_y_m=float(y), initial_yaw_rad=float(yaw),
                      gravity_m_s2=float(np.linalg.norm(
                          scenario.effective_acceleration_m_s2())),
                      use_imu_orientation=False)
    return values


def _stack_processes(scenario, scenario_path: str, run_dir: Path, env: dict,
                     namespace: str = '') -> list:
    procs = []
    for module_name, _, _ in STACK:
        args = [sys.executable, '-m', module_name, '--ros-args', *node_arguments(namespace)]
        for key, value in stack_overrides(module_name, scenario, scenario_path,
                                          run_dir).items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ['-p', f'{key}:={text or EMPTY}']
        procs.append(subprocess.Popen(args, env=env))
    return procs


def _composed_stack_process(scenario_path: str, run_dir: Path, env: dict,
                            namespace: str = '') -> subprocess.Popen:
    """Start the six stack nodes in one process with one executor (``nodes.stack``)."""
    return subprocess.Popen(
        [sys.executable, '-m', 'space_miner.nodes.stack', '--scenario', scenario_path,
         '--run-dir', str(run_dir), '--ros-args', *node_arguments(namespace)], env=env)


#: How long a lifecycle transition's answer is awaited before the node's state is asked [s].
TRANSITION_ANSWER_S = 5.0


def _call(client, request, wait_s: float):
    """Call a service; its response, or None when none came within ``wait_s`` [s]."""
    future = client.call_async(request)
    deadline = time.monotonic() + wait_s
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    if future.done():
        return future.result()
    client.remove_pending_request(future)
    return None


def _activate_remote(node, names: list, timeout_s: float = 120.0,
                     namespace: str = '') -> None:
    """Configure then activate lifecycle nodes in other processes, as launch does.

    A service answer can be lost while the two sides are still discovering each other (the
    server may answer before it has matched the client's reader), and a lost answer once
    failed a bring-up. So each transition is driven by the node's state (``get_state``):
    already in the goal state, it is skipped; in the transition's start state, it is asked
    for (an unanswered or failed request is judged by the state asked again); in any other
    state the node is left to finish. A transition is never asked twice from a state that
    does not take it: rclpy's lifecycle server raises on an unregistered transition, which
    would end the node. Gives up after ``timeout_s`` [s] per transition. ``namespace``: the
    nodes' namespace.
    """
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    steps = ((Transition.TRANSITION_CONFIGURE, State.PRIMARY_STATE_UNCONFIGURED,
              State.PRIMARY_STATE_INACTIVE),
             (Transition.TRANSITION_ACTIVATE, State.PRIMARY_STATE_INACTIVE,
              State.PRIMARY_STATE_ACTIVE))
    for name in names:
        change = node.create_client(ChangeState, f'{namespace}/{name}/change_state')
        get = node.create_client(GetState, f'{namespace}/{name}/get_state')
        try:
            if not (change.wait_for_service(timeout_sec=timeout_s)
                    and get.wait_for_service(timeout_sec=timeout_s)):
                raise RuntimeError(f'lifecycle node {name} did not come up')
            for transition, start, goal in steps:
                deadline = time.monotonic() + timeout_s
                state = answer = None
                while True:
                    reply = _call(get, GetState.Request(), TRANSITION_ANSWER_S)
                    state = None if reply is None else reply.current_state.id
                    if state == goal:
                        break
                    if time.monotonic() >= deadline:
                        raise RuntimeError(f'lifecycle node {name}: transition {transition} '
                                           f'failed (answer {answer}, state {state})')
                    if state == start:
                        answer = _call(change, ChangeState.Request(
                            transition=Transition(id=transition)), TRANSITION_ANSWER_S)
                        if answer is not None and answer.success:
                            break
                    elif state is not None:
                        time.sleep(0.05)   # transitioning: let it finish
        finally:
            node.destroy_client(change)
            node.destroy_client(get)


class _Spinner:
    """Spin an executor in a thread of its own until :meth:`stop`.

    ``Executor.spin`` in a thread, shut down from another, can be cut between taking a
    message and running its callback (Python then warns, at exit, of a coroutine never
    awaited); here the thread finishes the callback at hand before the executor is shut down.
    """

    #: Longest wait for work before the thread looks at its stop flag [s].
    POLL_S = 0.1

    def __init__(self, executor) -> None:
        self.executor = executor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.executor.context.ok():
            self.executor.spin_once(timeout_sec=self.POLL_S)

    def stop(self) -> None:
        """Let the callback at hand finish, then shut the executor down."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.executor.shutdown(timeout_sec=5.0)


class LiveGraph:
    """The sim node and the stack on live rclpy and Fast DDS: a context manager.

    Entering it creates its own rclpy context, the sim node (in this process), the stack
    (its six nodes composed in one other process, or one process per node with
    ``options.processes``), a monitor node, and a single-threaded executor spinning the
    sim and the monitor in a background thread; the stack's lifecycle nodes are configured
    and activated through their ``change_state`` services, as launch does
    (``bringup_error`` says why that failed).
    Leaving it stops the executor, SIGINTs the stack's processes (killing any that do not
    end within 10 s), destroys the nodes and shuts the context down. ``space-miner sim``
    runs a scenario on it; tests add their own nodes with :meth:`add_node`.
    """

    def stack_modules(self) -> list:
        """Return the module each of the stack's processes runs (``python -m MODULE``)."""
        return [str(proc.args[2]) for proc in self._procs]

    def __init__(self, options: LiveOptions, scenario, scenario_path: str,
                 run_dir: Path) -> None:
        self.options, self.scenario = options, scenario
        self.scenario_path, self.run_dir = scenario_path, run_dir
        self.context = None
        self.sim = None
        self.monitor = None
        self.executor = None
        self._spinner = None
        self.bringup_error = ''
        self._nodes, self._procs = [], []

    def __enter__(self) -> 'LiveGraph':
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter

        options = self.options
        namespace = itf.normalize_namespace(options.namespace)
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        try:
            from space_miner.sim.sim_node import SimNode
            width, height = options.camera_size
            sim_overrides = [Parameter('scenario', value=self.scenario_path),
                             Parameter('real_time_factor',
                                       value=float(options.real_time_factor)),
                             Parameter('camera_width_px', value=int(width)),
                             Parameter('camera_height_px', value=int(height))]
            if options.seed is not None:
                sim_overrides.append(Parameter('seed', value=int(options.seed)))
            self.sim = SimNode(context=self.context, parameter_overrides=sim_overrides,
                               cli_args=['--ros-args', *node_arguments(namespace)])
            self._nodes.append(self.sim)
            if options.processes:
                self._procs = _stack_processes(self.scenario, self.scenario_path,
                                               self.run_dir, dict(os.environ), namespace)
            else:
                self._procs = [_composed_stack_process(self.scenario_path, self.run_dir,
                                                       dict(os.environ), namespace)]
            self.monitor = _Monitor(self.context, namespace)
            self._nodes.append(self.monitor.node)
            self.executor = SingleThreadedExecutor(context=self.context)
            for node in self._nodes:
                self.executor.add_node(node)
            self._spinner = _Spinner(self.executor)
            if self._procs:
                try:
                    _activate_remote(self.monitor.node,
                                     [m.rsplit('.', 1)[1] for m, _, lc in STACK if lc],
                                     namespace=namespace)
                except RuntimeError as err:  # the caller ends cleanly, saying why
                    self.bringup_error = str(err)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def add_node(self, node) -> None:
        """Spin another node of this context with the graph (destroyed on exit)."""
        self._nodes.append(node)
        self.executor.add_node(node)

    def __exit__(self, *exc) -> None:
        import rclpy

        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        self.executor = None
        for proc in self._procs:
            proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs = []
        for node in reversed(self._nodes):
            try:
                node.destroy_node()
            except Exception:  # shutting down: keep closing the rest
                pass
        self._nodes = []
        if self.context is not None:
            rclpy.try_shutdown(context=self.context)


def run_live(options: LiveOptions,
             on_progress: Callable[[Progress], None] | None = None) -> dict:
    """Run the scenario on the live graph; return the summary (also written to disk)."""
    from rclpy.executors import SingleThreadedExecutor

    scenario_path = str(Path(options.scenario).resolve()) if options.scenario else ''
    scenario = load_scenario(scenario_path or None)
    limit_s = options.time_limit_s or scenario.mission.time_limit_s
    run_dir = Path(options.summary).resolve().parent
    run_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    reason = {'text': ''}

    def _on_signal(signum, _frame):
        reason['text'] = f'stopped by {signal.Signals(signum).name}'
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    recorder = record_spinner = None
    wall0 = time.monotonic()
    try:
        with LiveGraph(options, scenario, scenario_path, run_dir) as graph:
            sim, monitor = graph.sim, graph.monitor
            if options.bag is not None:
                # Its own executor and thread: sharing the stack's, it dropped messages.
                from space_miner.bag.recorder import BagRecorder
                from space_miner.core.scenario import escape_velocity_m_s
                run_info = {
                    'scenario': scenario.name, 'scenario_file': scenario_path or 'default',
                    'body': scenario.body,
                    'escape_velocity_m_s': escape_velocity_m_s(scenario.body_config)}
                recorder = BagRecorder(options.bag, context=graph.context, run_info=run_info,
                                       namespace=options.namespace)
                record_executor = SingleThreadedExecutor(context=graph.context)
                record_executor.add_node(recorder)
                record_spinner = _Spinner(record_executor)
            if graph.bringup_error:  # end cleanly: summary and bag still written
                reason['text'] = f'bring-up failed: {graph.bringup_error}'
                stop.set()
            detached = False
            while not stop.is_set():
                time.sleep(0.1)
                progress = monitor.progress
                progress.rtf = progress.sim_time_s / max(1e-9, time.monotonic() - wall0)
                if on_progress is not None:
                    on_progress(progress)
                status = sim._status.get('detached', (False, ''))
                detached = bool(status[0])
                why = monitor.record.end_reason(limit_s, status, sim._error)
                if why:
                    reason['text'] = why
                    break
            summary = monitor.record.summary(
                scenario, sim.judge.verdict, reason['text'], detached,
                time.monotonic() - wall0, extra={
                    'graph': 'processes' if options.processes else 'composed',
                    'stack_processes': graph.stack_modules(),
                    'bag': str(options.bag) if options.bag is not None else None})
            if record_spinner is not None:
                record_spinner.stop()
                record_spinner = None
            if recorder is not None:
                recorder.destroy_node()  # closes the bag
                recorder = None
    finally:
        if recorder is not None:
            recorder.destroy_node()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    write_json(options.summary, summary)
    write_markdown(Path(options.summary).with_suffix('.md'), summary)
    return summary
