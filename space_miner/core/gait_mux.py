# SPDX-License-Identifier: Apache-2.0
"""The command mux: the one place where command priority is decided (DESIGN.md section 4).

``/estop`` > operator (``/cmd_vel``, then ``/goal_pose``, each with a deadman timeout:
silence stops operator-driven motion, as twist_mux locks fail safe) > the mission
autopilot's goal. A ``comm_loss`` fault cuts the operator link only: the autopilot's goal
goes on. A fresh operator twist, even a zero one, overrides a goal.
"""

from dataclasses import dataclass
import math

from space_miner.core.gait_types import BodyTwist, CommandSource, OperatorInput, Pose2D


@dataclass(frozen=True)
class MuxResult:
    """The winning command: its source, a body twist or a goal in odom, and why."""

    source: CommandSource
    twist: BodyTwist | None = None
    goal: Pose2D | None = None
    note: str = ''

    @property
    def estop(self) -> bool:
        """Whether the e-stop holds the robot."""
        return self.source is CommandSource.ESTOP


class CommandMux:
    """Chooses the command source each step; deadman timeouts are in seconds."""

    def __init__(self, cmd_vel_timeout_s: float, operator_goal_timeout_s: float) -> None:
        self.cmd_vel_timeout_s = float(cmd_vel_timeout_s)
        self.operator_goal_timeout_s = float(operator_goal_timeout_s)
        self._done_goal_stamp_s = -math.inf
        self._done_autopilot: Pose2D | None = None

    def goal_reached(self, source: CommandSource, goal: Pose2D, stamp_s: float) -> None:
        """Mark a goal as reached so that it is not driven to again (until a new one)."""
        if source is CommandSource.OPERATOR_GOAL:
            self._done_goal_stamp_s = stamp_s
        elif source is CommandSource.AUTOPILOT:
            self._done_autopilot = goal

    def select(self, t_s: float, operator: OperatorInput, autopilot_goal: Pose2D | None
               ) -> MuxResult:
        """Pick the command that drives the robot at time ``t_s`` [s]."""
        if operator.estop:
            return MuxResult(CommandSource.ESTOP, note='estop')
        notes = []
        if operator.comm_loss:
            notes.append('operator link lost')
        else:
            last_operator_s = max(operator.cmd_vel_stamp_s, operator.goal_stamp_s,
                                  operator.gait_request_stamp_s)
            twist = operator.cmd_vel
            if twist is not None:
                age_s = t_s - operator.cmd_vel_stamp_s
                if age_s <= self.cmd_vel_timeout_s and twist.is_finite():
                    return MuxResult(CommandSource.OPERATOR_TWIST, twist=twist)
                if not twist.is_finite():
                    notes.append('cmd_vel not finite: ignored')
            goal = operator.goal
            if goal is not None and operator.goal_stamp_s > self._done_goal_stamp_s \
                    and all(math.isfinite(v) for v in (goal.x_m, goal.y_m)) \
                    and (goal.yaw_rad is None or math.isfinite(goal.yaw_rad)):
                if t_s - last_operator_s <= self.operator_goal_timeout_s:
                    return MuxResult(CommandSource.OPERATOR_GOAL, goal=goal)
                notes.append('operator goal dropped: deadman')
        if autopilot_goal is not None and autopilot_goal != self._done_autopilot:
            return MuxResult(CommandSource.AUTOPILOT, goal=autopilot_goal,
                             note='; '.join(notes))
        return MuxResult(CommandSource.NONE, note='; '.join(notes))
