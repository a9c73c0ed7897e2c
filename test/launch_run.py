# SPDX-License-Identifier: Apache-2.0
"""Running ``ros2 launch space_miner ...`` and the ``ros2`` verbs from tests.

The launch system (launch, launch_ros, ros2cli) is not on PyPI: ``make test`` installs it
into ``.venv`` from ``ROS2_PYTHON`` (``../shared/ros2-python-jazzy``) and makes ``.venv``
an ament prefix for this checkout; a sourced ROS 2 with a ``colcon build`` of this package
does as well. :func:`launch_env` finds it, or skips the test saying what to install — and
fails it where ``CI`` is set, so CI can never pass these tests vacuously.

:class:`Launch` starts ``ros2 launch`` in its own session with the default SIGINT
disposition (a background job of a non-interactive shell would ignore SIGINT, and
``ros2 launch`` forwards SIGINT to its nodes), logs to a file, tells which processes of
its session are alive, and kills the whole session when a test is done, however it ended.
"""

import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = Path(__file__).resolve().parent.parent
MISSING = ('needs ROS 2 launch and the ros2 command line: `make test` installs them into '
           '.venv from ROS2_PYTHON (default ../shared/ros2-python-jazzy, its install.sh) '
           'and makes .venv an ament prefix for this checkout; or source ROS 2 Jazzy and a '
           '`colcon build` of this package')


def ci() -> bool:
    """Whether this runs in CI (``CI`` set to anything but empty, 0, false or no)."""
    return os.environ.get('CI', '').strip().lower() not in ('', '0', 'false', 'no')


def _missing(why: str):
    if ci():
        pytest.fail(f'CI is set and the launch system is missing: {why}', pytrace=False)
    pytest.skip(f'{why}; {MISSING}')


def ros2_executable() -> str:
    """Return the ``ros2`` command line: .venv's, else the PATH's (skip or fail)."""
    venv_ros2 = Path(sys.prefix) / 'bin' / 'ros2'
    ros2 = str(venv_ros2) if venv_ros2.exists() else shutil.which('ros2')
    if not ros2:
        _missing(f'no ros2 executable (not in {venv_ros2.parent}, not on PATH)')
    return ros2


def launch_env(domain_id: int, log_dir: Path) -> dict:
    """Return the environment for ``ros2`` subprocesses on ``domain_id`` (skip or fail)."""
    ros2 = ros2_executable()
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    if (Path(sys.prefix) / 'share' / 'space_miner' / 'launch').is_dir():
        prefixes.insert(0, sys.prefix)
    if not any((Path(p) / 'share' / 'space_miner' / 'launch' / 'sim.launch.py').exists()
               for p in prefixes):
        _missing(f'package space_miner is not in any ament prefix ({prefixes or "none"})')
    env = dict(os.environ)
    env.update(AMENT_PREFIX_PATH=os.pathsep.join(prefixes), ROS_DOMAIN_ID=str(domain_id),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', ROS_LOG_DIR=str(log_dir),
               PYTHONUNBUFFERED='1', RCUTILS_COLORIZED_OUTPUT='0',
               PATH=os.pathsep.join([str(Path(ros2).parent), env.get('PATH', '')]))
    env['ROS2_EXECUTABLE'] = ros2
    return env


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def session_pids(sid: int) -> list:
    """Pids of the live (not zombie) processes of session ``sid``, from /proc."""
    pids = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        if int(fields[3]) == sid and fields[0] != 'Z':  # state, ppid, pgrp, session
            pids.append(int(entry.name))
    return sorted(pids)


class Launch:
    """``ros2 launch space_miner FILE ARGS`` in its own session, logged to a file."""

    def __init__(self, env: dict, launch_file: str, args: list, cwd: Path) -> None:
        self.log_path = Path(cwd) / f'{launch_file}.log'
        self._log = open(self.log_path, 'w', encoding='utf-8')
        self.command = [env['ROS2_EXECUTABLE'], 'launch', 'space_miner', launch_file, *args]
        self.proc = subprocess.Popen(self.command, env=env, cwd=cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_default_sigint)
        self.started_s = time.monotonic()

    def output(self) -> str:
        """Return everything the launch printed so far."""
        self._log.flush()
        return self.log_path.read_text(encoding='utf-8', errors='replace')

    def alive(self) -> list:
        """Return the pids left in the launch's session: the launch and its nodes."""
        return session_pids(self.proc.pid)

    def wait(self, timeout_s: float) -> int | None:
        """Wait for the launch to end by itself; its return code, None on timeout."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def interrupt(self, timeout_s: float = 60.0) -> int | None:
        """SIGINT the launch process only (it forwards SIGINT to its nodes); wait."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL whatever is left of the session; close the log."""
        for pid in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()

    def processes(self) -> dict:
        """Return, per process the launch started, ``{pid: (name, outcome)}``, from its log.

        ``outcome``: ``'clean'`` (exit code 0), ``'died: <details>'``, or ``'running'``.
        """
        text = self.output()
        out = {int(pid): (name, 'running') for name, pid in
               re.findall(r'\[INFO\] \[([^\]]+)\]: process started with pid \[(\d+)\]', text)}
        for name, pid in re.findall(r'\[([^\]]+)\]: process has finished cleanly \[pid (\d+)\]',
                                    text):
            out[int(pid)] = (name, 'clean')
        for name, pid, details in re.findall(
                r'\[([^\]]+)\]: process has died \[pid (\d+), ([^\]]*)\]', text):
            out[int(pid)] = (name, f'died: {details}')
        return out


def ros2(env: dict, *args: str, timeout_s: float = 90.0) -> subprocess.CompletedProcess:
    """Run one ``ros2`` verb to its end (bounded) and return its result."""
    return subprocess.run([env['ROS2_EXECUTABLE'], *args], env=env, capture_output=True,
                          text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


def ros2_for(env: dict, seconds: float, *args: str) -> str:
    """Run a ``ros2`` verb that runs until interrupted (``topic hz``) for ``seconds``.

    It gets SIGINT then, SIGKILL if it does not end within 10 s; returns what it printed.
    """
    proc = subprocess.Popen([env['ROS2_EXECUTABLE'], *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_default_sigint)
    try:
        try:
            out, _ = proc.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
        return out
    finally:
        if proc.poll() is None:
            proc.kill()


class Probe:
    """An rclpy node on the launch's domain that looks at its graph (real DDS, no mocks)."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node('launch_probe', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, predicate, timeout_s: float) -> bool:
        """Spin until ``predicate()`` holds or ``timeout_s`` [s] passes; return it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not predicate():
            self.executor.spin_once(timeout_sec=0.05)
        return bool(predicate())

    def node_names(self) -> set:
        """Return the fully qualified names of the graph's nodes (the probe left out)."""
        return {f"{ns.rstrip('/')}/{name}" for name, ns in
                self.node.get_node_names_and_namespaces() if name != 'launch_probe'}

    def call(self, srv_type, service: str, request, timeout_s: float = 30.0):
        """Call ``service``; return its response, None when it is absent or silent."""
        client = self.node.create_client(srv_type, service)
        try:
            if not self.spin_until(client.service_is_ready, timeout_s):
                return None
            future = client.call_async(request)
            self.spin_until(future.done, timeout_s)
            return future.result() if future.done() else None
        finally:
            self.node.destroy_client(client)

    def lifecycle_state(self, node_name: str) -> str | None:
        """Return the lifecycle state label of ``node_name`` (``'active'``...), via get_state."""
        from lifecycle_msgs.srv import GetState

        response = self.call(GetState, f'{node_name}/get_state', GetState.Request())
        return None if response is None else response.current_state.label

    def parameters(self, node_name: str, names: list) -> dict | None:
        """Return the values of ``names`` on ``node_name``, via its get_parameters."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        response = self.call(GetParameters, f'{node_name}/get_parameters',
                             GetParameters.Request(names=list(names)))
        if response is None:
            return None
        return {name: parameter_value_to_python(value)
                for name, value in zip(names, response.values)}

    def receive(self, specs: list, timeout_s: float, until=None, first_only=False) -> dict:
        """Subscribe to ``specs`` (interfaces.TopicSpec) as the contract says; collect.

        Each subscription has the contract's type and subscriber QoS. Spins until
        ``until(got)`` holds (default: every topic carried a message) or ``timeout_s`` [s]
        passes, and returns ``got``: ``{topic: [messages]}`` (the last 50 of each). With
        ``first_only`` a topic's subscription goes as soon as it has carried a message, so
        the probe does not load a busy graph with the 250 Hz streams it has already seen.
        """
        from space_miner import interfaces as itf

        got = {spec.name: [] for spec in specs}
        live = {}
        for spec in specs:
            def on_message(msg, name=spec.name):
                got[name] = got[name][-49:] + [msg]
            live[spec.name] = self.node.create_subscription(
                itf.msg_class(spec.msg_type), spec.name, on_message, spec.qos.to_rclpy())
        until = until or (lambda seen: all(seen.values()))

        def done():
            if first_only:
                for name in [n for n in live if got[n]]:
                    self.node.destroy_subscription(live.pop(name))
            return until(got)

        try:
            self.spin_until(done, timeout_s)
        finally:
            for subscription in live.values():
                self.node.destroy_subscription(subscription)
        return got

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        import rclpy

        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
