# SPDX-License-Identifier: Apache-2.0
"""What a live run keeps for its progress bar and its summary, and when it ends.

``space-miner sim`` (its monitor node, :mod:`space_miner.live`) and the sim node under
``ros2 launch`` (``summary_path``, ``exit_at_end``) follow a mission the same way: the
simulated time, the true distance travelled, the gait mode and how long each was in force,
the mission's status and the sampler's mass. :class:`RunRecord` holds that, decides when a
run is over (:meth:`RunRecord.end_reason`) and builds DESIGN.md section 7's summary from
it, so both routes judge success alike. Pure Python: no rclpy; callers feed it.
"""

from dataclasses import dataclass, field
import json
import math
from pathlib import Path
import threading

from space_miner.sim.summary import build_summary, write_text


@dataclass
class Progress:
    """What the progress bar shows: sim time [s], distance [m], sample [g], phase, mode."""

    sim_time_s: float = 0.0
    distance_m: float = 0.0
    sample_g: float = 0.0
    phase: str = 'starting'
    mode: str = 'hold'
    rtf: float = 0.0
    mission: dict = field(default_factory=dict)


class RunRecord:
    """A live run's record, fed from messages or from the world; thread-safe."""

    def __init__(self) -> None:
        self.progress = Progress()
        self._gait_time: dict = {}
        self._mode_since = 0.0
        self._last_xy = None
        self._lock = threading.Lock()

    def on_time(self, sim_time_s: float) -> None:
        """Take the simulated time [s] (``/clock``)."""
        self.progress.sim_time_s = float(sim_time_s)

    def on_position(self, x_m: float, y_m: float) -> None:
        """Take the true position [m] (``/ground_truth/odom``); adds to the distance."""
        with self._lock:
            if self._last_xy is not None:
                self.progress.distance_m += math.hypot(x_m - self._last_xy[0],
                                                       y_m - self._last_xy[1])
            self._last_xy = (x_m, y_m)

    def on_mode(self, mode: str) -> None:
        """Take a gait mode change (``/gait/mode``); the old mode's time is counted."""
        with self._lock:
            now = self.progress.sim_time_s
            old = self.progress.mode
            self._gait_time[old] = self._gait_time.get(old, 0.0) + max(
                0.0, now - self._mode_since)
            self._mode_since = now
            self.progress.mode = mode

    def on_mission(self, text: str) -> None:
        """Take the mission status JSON (``/mission/status``); malformed text is ignored."""
        try:
            status = json.loads(text)
        except ValueError:
            return
        if isinstance(status, dict):
            self.progress.mission = status
            self.progress.phase = str(status.get('phase', self.progress.phase))

    def on_mass(self, mass_kg: float) -> None:
        """Take the sample container's mass [kg] (``/sampler/mass``)."""
        if math.isfinite(mass_kg):
            self.progress.sample_g = 1000.0 * mass_kg

    def gait_time_s(self) -> dict:
        """Seconds spent in each gait mode up to now (the current mode included)."""
        with self._lock:
            now = self.progress.sim_time_s
            out = dict(self._gait_time)
            mode = self.progress.mode
            out[mode] = out.get(mode, 0.0) + max(0.0, now - self._mode_since)
            return out

    def end_reason(self, limit_s: float, detached: tuple = (False, ''),
                   error: BaseException | None = None) -> str:
        """Why the run is over, or ``''`` while it goes on.

        Over when the robot detached (``detached`` is the world's ``(flag, why)``), the
        mission reports done, the simulated time reaches ``limit_s`` [s], or the simulator
        stopped with ``error``.
        """
        if detached[0]:
            return f'detached: {detached[1]}'
        mission = self.progress.mission
        if mission.get('done'):
            return mission.get('reason') or 'mission done'
        if self.progress.sim_time_s >= limit_s:
            return f'time limit {limit_s:g} s reached'
        if error is not None:
            return f'simulator stopped: {error!r}'
        return ''

    def summary(self, scenario, verdict, reason: str, detached: bool, wall_time_s: float,
                extra: dict | None = None) -> dict:
        """Build DESIGN.md section 7's summary of the run.

        Success is the mission's, with no detachment and no rule violation in ``verdict``
        (the sim node's judge, from the world's truth).
        """
        mission = self.progress.mission
        samples = [s for s in mission.get('samples', []) if isinstance(s, dict)]
        success = bool(mission.get('success')) and not detached and verdict.violations == 0
        started = [f for f in scenario.faults if f.at_s <= self.progress.sim_time_s]
        return build_summary(
            scenario=scenario, success=success, reason=reason,
            end_mode=self.progress.mode, sim_time_s=self.progress.sim_time_s,
            wall_time_s=wall_time_s, distance_m=self.progress.distance_m,
            samples=samples, detached=detached, rule_violations=verdict.violations,
            min_holding_margin=verdict.min_margin_true, gait_time_s=self.gait_time_s(),
            faults_survived=0 if detached else len(started),
            extra={**(extra or {}),
                   'rule_violation_time_s': round(verdict.violation_time_s, 6)})


def write_markdown(path: Path, summary: dict) -> Path:
    """Write a short Markdown summary of a run next to its JSON."""
    lines = [f"# {summary['scenario']} ({summary.get('body', '')})", '',
             f"- outcome: {'success' if summary['success'] else 'no success'} "
             f"({summary['reason']}); expected outcome met: "
             f"{summary['expected_outcome_met']}",
             f"- end mode: {summary['end_mode']}; detached: {summary['detached']}; "
             f"never-detach rule violations: {summary['rule_violations']}",
             f"- simulated {summary['sim_time_s']:.1f} s in {summary['wall_time_s']:.1f} s; "
             f"distance {summary['distance_m']:.2f} m",
             f"- samples: {summary['total_sample_g']:.1f} g in {len(summary['samples'])} "
             'attempt(s)', '', '| gait | time (s) |', '|---|---|']
    lines += [f'| {mode} | {t:.1f} |' for mode, t in summary['gait_time_s'].items()]
    return write_text(path, '\n'.join(lines) + '\n')
