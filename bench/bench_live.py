# SPDX-License-Identifier: Apache-2.0
"""Live-graph benchmark: the short mission on rclpy and Fast DDS, its real-time factor and
where the CPU goes (issue 25's "measure first").

Runs ``config/scenarios/short_live.yaml`` through :func:`space_miner.live.run_live` for
:data:`SIM_S` simulated seconds with the camera as ``config/robot.yaml`` has it (640x480;
the rate is the robot's), the simulator asked for real time (``real_time_factor`` 1), no
bag, once with one process per stack node and once with the six composed in one process
(``space_miner.nodes.stack``); the simulator and a monitor run in this process:

- ``live_rtf_processes_x`` / ``live_rtf_composed_x``: simulated over wall seconds, counted
  from the first simulated second (bring-up excluded); 1.0 means the graph keeps real time.
- ``live_cpu_<process>_ms_per_sim_s`` (processes mode) and
  ``live_cpu_composed_<process>_ms_per_sim_s`` (``stack``): CPU time (user + system, from
  ``/proc``; Linux) of each stack process per simulated second, and of this process (the
  sim node and the monitor) as ``..._sim_and_monitor_...``. Over 1000 ms per simulated
  second means that process alone needs more than one core.
- ``live_hold_share_processes`` / ``live_hold_share_composed``: the share of simulated
  time the gait spent in ``hold`` (the run's summary). Nothing in these first seconds of
  the mission asks for ``hold`` after the bring-up: it is the stack not keeping up (its
  stale-input watchdog). The simulator waits for the stack's estimate (``max_stack_lag_s``),
  so a stack that cannot keep up shows as a lower real-time factor instead.
- ``live_sub_msgs_per_s_<node>``: the messages each stack node subscribes to per second
  of simulated time at the contract's nominal rates (``interfaces.TOPICS``): what its
  executor must take and convert in Python.

Run it alone with ``python bench/run_all.py live`` (about four minutes on two cores).
"""

import os
from pathlib import Path
import tempfile
import time

os.environ.setdefault('MUJOCO_GL', 'egl')

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / 'config' / 'scenarios' / 'short_live.yaml'
#: Simulated seconds per mode: the walk to the site and the start of anchoring.
SIM_S = 30.0
#: Progress samples closer than this [s, wall] are not used to read /proc again.
SAMPLE_PERIOD_S = 1.0
_TICK_S = 1.0 / os.sysconf('SC_CLK_TCK')
_STACK_NODES = ('claw_controller', 'state_estimator', 'terrain_perception',
                'gait_controller', 'sampler', 'mission')
#: The process that runs the six composed (``python -m space_miner.nodes.stack``).
_COMPOSED = 'stack'


def _cpu_s(pid: int) -> float:
    """CPU time [s] (user + system) process ``pid`` has used, 0 if it is gone."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S   # utime, stime


def _children() -> dict:
    """``{pid: node name}`` of this process's stack node processes (``python -m MODULE``)."""
    me, found = os.getpid(), {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
            argv = (entry / 'cmdline').read_bytes().split(b'\0')
        except OSError:
            continue
        if int(stat[stat.rindex(')') + 2:].split()[1]) != me or len(argv) < 3:
            continue
        name = argv[2].decode(errors='replace').rsplit('.', 1)[-1]
        if argv[1] == b'-m' and (name in _STACK_NODES or name == _COMPOSED):
            found[int(entry.name)] = name
    return found


class _Sampler:
    """Progress callback: the steady-state window and each process's CPU time."""

    def __init__(self) -> None:
        self.first = None    # (wall s, sim s) at the first simulated second
        self.last = None
        self.cpu0: dict = {}
        self.cpu: dict = {}
        self._next_s = 0.0

    def __call__(self, progress) -> None:
        now = time.monotonic()
        if progress.sim_time_s < 1.0 or now < self._next_s:
            return
        self._next_s = now + SAMPLE_PERIOD_S
        cpu = {name: _cpu_s(pid) for pid, name in _children().items()}
        cpu['sim_and_monitor'] = time.process_time()
        if self.first is None:
            self.first, self.cpu0 = (now, progress.sim_time_s), cpu
        self.last, self.cpu = (now, progress.sim_time_s), cpu


def _run(processes: bool, work: Path) -> tuple:
    from space_miner.core.robot import load_robot_config
    from space_miner.live import LiveOptions, run_live

    camera = load_robot_config().camera
    sampler = _Sampler()
    options = LiveOptions(scenario=str(SCENARIO), summary=work / 'summary.json', bag=None,
                          processes=processes, real_time_factor=1.0,
                          time_limit_s=SIM_S, camera_size=(camera.width_px, camera.height_px))
    summary = run_live(options, on_progress=sampler)
    if sampler.first is None or sampler.last is None or sampler.last[1] <= sampler.first[1]:
        raise RuntimeError(f'the live graph ({"processes" if processes else "composed"}) '
                           f'did not run: no simulated time after bring-up')
    sim_s = sampler.last[1] - sampler.first[1]
    rtf = sim_s / (sampler.last[0] - sampler.first[0])
    cpu = {name: 1000.0 * (sampler.cpu.get(name, 0.0) - sampler.cpu0.get(name, 0.0)) / sim_s
           for name in sampler.cpu}
    hold_share = summary['gait_time_s'].get('hold', 0.0) / max(1e-9, summary['sim_time_s'])
    return rtf, cpu, hold_share


def _subscribed_rates() -> dict:
    from space_miner import interfaces as itf
    rates: dict = {}
    for topic in itf.TOPICS:
        for node in topic.subscribers:
            if node in _STACK_NODES:
                rates[node] = rates.get(node, 0.0) + topic.rate_hz
    return rates


def run() -> dict:
    """Measure both modes; return the figures."""
    figures = {}
    with tempfile.TemporaryDirectory(prefix='bench_live_') as tmp:
        rtf, cpu, hold = _run(True, Path(tmp))
        figures['live_rtf_processes_x'], figures['live_hold_share_processes'] = rtf, hold
        for name, ms in sorted(cpu.items()):
            figures[f'live_cpu_{name}_ms_per_sim_s'] = ms
        rtf, cpu, hold = _run(False, Path(tmp))
        figures['live_rtf_composed_x'], figures['live_hold_share_composed'] = rtf, hold
        for name, ms in sorted(cpu.items()):
            figures[f'live_cpu_composed_{name}_ms_per_sim_s'] = ms
    for node, rate in sorted(_subscribed_rates().items()):
        figures[f'live_sub_msgs_per_s_{node}'] = rate
    return figures
